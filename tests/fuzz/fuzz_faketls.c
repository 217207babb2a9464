/*
 * fuzz_faketls.c - libFuzzer target for the fake-TLS hello path a worker
 * runs on a client's first record: faketls_sniff(), faketls_classify(),
 * faketls_parse_hello(), faketls_verify() and the answer built from a
 * parsed hello.  Input byte 0 picks the mode: odd = the rest is a record
 * as a client sent it (first 16 bytes the secret tried); even = the rest
 * is a size, a secret and an SNI for tlshello_build(), whose signed hello
 * must sniff complete, parse and verify (the round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "faketls.h"
#include "tlshello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The certificate bytes are a buffer of their own: the builder copies
 * them after the header it writes, and the worker never overlaps them. */
static uint8_t answer[FAKETLS_ANSWER_FIXED + 16384], cert[16384], share[32];

static void
check_record(const uint8_t *rec, size_t len, const uint8_t secret[16],
    int must_verify)
{
    struct faketls_hello h;
    enum faketls_sniff s;
    size_t need = 0, i, n;
    uint32_t ts;

    s = faketls_sniff(rec, len, &need);
    if (s == FAKETLS_COMPLETE && (need > len ||
        need < 5 + FAKETLS_MIN_HELLO || need > 5 + FAKETLS_MAX_HELLO))
        abort();
    if (s == FAKETLS_NEED_MORE && need <= len)
        abort();
    for (i = 0; i < 4; i++)
        (void)faketls_classify(rec, len, i & 1, i >> 1, &need);
    if (s != FAKETLS_COMPLETE) {
        if (must_verify)
            abort();
        return;
    }
    if (faketls_parse_hello(rec, need, &h) != 0) {
        if (must_verify)
            abort();
        return;
    }
    if (h.record_len != need || h.session_id_len > 32 ||
        strlen(h.sni) > FAKETLS_MAX_SNI || (h.has_sni == 0 && h.sni[0]) ||
        h.cipher < 0x1301 || h.cipher > 0x1303)
        abort();
    if (faketls_verify(rec, need, secret, &ts) != must_verify && must_verify)
        abort();
    /* The answer to a parsed hello has the promised length: the fixed
     * part holds a 32-byte session id, and the answer echoes the
     * client's, which may be shorter. */
    n = (size_t)rec[need - 1] * 64;
    if (faketls_build_answer(&h, secret, share, cert, n, answer,
        sizeof(answer)) != FAKETLS_ANSWER_FIXED - 32 + h.session_id_len + n)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t secret[16] = { 0 }, *rec;
    char sni[FAKETLS_MAX_SNI + 1];
    size_t n, len;

    if (size < 1)
        return 0;
    if (data[0] & 1) {
        data++, size--;
        memcpy(secret, data, size < 16 ? size : 16);
        n = size < 16 ? 0 : size - 16;
        /* Exactly n bytes of its own, so ASan sees any overread. */
        if ((rec = malloc(n > 0 ? n : 1)) == NULL)
            return 0;
        memcpy(rec, data + (size - n), n);
        check_record(rec, n, secret, 0);
        free(rec);
        return 0;
    }
    if (size < 19)
        return 0;
    len = TLSHELLO_DEFAULT_SIZE - 256 + ((size_t)data[1] << 8 | data[2]) % 4096;
    memcpy(secret, data + 3, 16);
    n = size - 19 < FAKETLS_MAX_SNI ? size - 19 : FAKETLS_MAX_SNI;
    memcpy(sni, data + 19, n);
    sni[n] = '\0';
    if ((rec = malloc(len)) == NULL)
        return 0;
    /* An SNI with a NUL or a dot-free name still builds: the builder
     * takes what it is given; only a size that cannot hold it fails. */
    if (tlshello_build(rec, len, sni[0] ? sni : NULL, secret,
        (uint32_t)data[1] << 16 | data[2]) == len)
        check_record(rec, len, secret, 1);
    free(rec);
    return 0;
}
