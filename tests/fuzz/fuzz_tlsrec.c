/*
 * fuzz_tlsrec.c - libFuzzer target for tlsrec_unwrap(), the record reader
 * every fake-TLS client's bytes go through.  Input byte 0 sets how the
 * stream is cut into reads; the result must not depend on the cuts, no
 * output may exceed its input, and a payload framed with tlsrec_header()
 * must come back byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Unwrap in pieces of step bytes (in place, as the worker does). */
static enum tlsrec_status
unwrap_all(const uint8_t *in, size_t len, size_t step, uint8_t *out,
    size_t *outlen)
{
    struct tlsrec_reader r;
    enum tlsrec_status st = TLSREC_OK;
    size_t off = 0, total = 0;

    memset(&r, 0, sizeof(r));
    while (off < len && st == TLSREC_OK) {
        size_t n = len - off < step ? len - off : step, got = 0;
        uint8_t *piece = malloc(n);

        if (piece == NULL)
            abort();
        memcpy(piece, in + off, n);
        st = tlsrec_unwrap(&r, piece, n, piece, &got);
        if (got > n)
            abort();
        memcpy(out + total, piece, got);
        free(piece);
        total += got;
        off += n;
    }
    *outlen = total;
    return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *a, *b, *framed;
    size_t alen, blen, step, off, flen;
    enum tlsrec_status sa, sb;

    if (size < 1)
        return 0;
    step = data[0] % 32 + 1;
    data++, size--;
    a = malloc(size + 1);
    b = malloc(size + 1);
    framed = malloc(size + (size / TLSREC_MAX_OUT + 2) * TLSREC_HEADER + 8);
    if (a == NULL || b == NULL || framed == NULL)
        abort();
    sa = unwrap_all(data, size, size > 0 ? size : 1, a, &alen);
    sb = unwrap_all(data, size, step, b, &blen);
    /* Cut later, an error may not have been reached: the output up to
     * it must agree, and a clean run must agree entirely. */
    if (sa == TLSREC_OK && sb == TLSREC_OK &&
        (alen != blen || memcmp(a, b, alen) != 0))
        abort();
    if (sa != sb && sa == TLSREC_OK)
        abort();
    if (memcmp(a, b, alen < blen ? alen : blen) != 0)
        abort();
    /* Round trip: frame the input as ApplicationData, with a CCS first. */
    memcpy(framed, "\x14\x03\x03\x00\x01\x01", 6);
    flen = 6;
    for (off = 0; off < size; ) {
        size_t n = size - off < TLSREC_MAX_OUT ? size - off : TLSREC_MAX_OUT;

        tlsrec_header(framed + flen, n);
        memcpy(framed + flen + TLSREC_HEADER, data + off, n);
        flen += TLSREC_HEADER + n;
        off += n;
    }
    if (unwrap_all(framed, flen, step, a, &alen) != TLSREC_OK ||
        alen != size || memcmp(a, data, size) != 0)
        abort();
    free(a);
    free(b);
    free(framed);
    return 0;
}
