/*
 * tlsrec.c - the fake TLS record layer of the data phase (docs/protocol.md
 * 5.5): strips 5-byte record headers from a byte stream delivered in
 * arbitrary pieces, and writes ApplicationData headers.
 *
 * A zeroed struct tlsrec_reader is a reader at a record boundary.
 */
#include "tlsrec.h"

#include <string.h>

#include "proto.h"

/*
 * hdr_have beyond a whole header marks a reader that already returned
 * ALERT or ERROR: feeding it again is a caller bug, and resyncing in the
 * middle of a broken stream would hand garbage to obfuscated2.
 */
#define DEAD            (TLSREC_HEADER + 1)

/* Check a complete header and enter its record; -1 or TLSREC_ALERT. */
static int
start_record(struct tlsrec_reader *r)
{
    const uint8_t *h = r->hdr;
    size_t n = (size_t)h[3] << 8 | h[4];

    if (h[0] == TLS_REC_ALERT)
        return TLSREC_ALERT;
    if ((h[0] != TLS_REC_APPDATA && h[0] != TLS_REC_CCS) || h[1] != 0x03 ||
        h[2] != 0x03)
        return TLSREC_ERROR;
    if (h[0] == TLS_REC_CCS ? n != 1 : (n == 0 || n > TLSREC_MAX_IN))
        return TLSREC_ERROR;
    r->type = h[0];
    r->left = n;
    r->hdr_have = 0;
    return TLSREC_OK;
}

enum tlsrec_status
tlsrec_unwrap(struct tlsrec_reader *r, const uint8_t *in, size_t len,
    uint8_t *out, size_t *outlen)
{
    size_t i = 0, o = 0, k;
    int rc = TLSREC_OK;

    if (r->hdr_have > TLSREC_HEADER) {
        *outlen = 0;
        return TLSREC_ERROR;
    }
    while (i < len) {
        if (r->left == 0) {
            /* Between records: collect the header, maybe piecemeal. */
            k = TLSREC_HEADER - r->hdr_have;
            if (k > len - i)
                k = len - i;
            memcpy(r->hdr + r->hdr_have, in + i, k);
            r->hdr_have += k;
            i += k;
            if (r->hdr_have < TLSREC_HEADER)
                break;
            rc = start_record(r);
            if (rc != TLSREC_OK)
                break;
        } else if (r->type == TLS_REC_CCS) {
            if (in[i++] != 0x01) {
                rc = TLSREC_ERROR;
                break;
            }
            r->left = 0;
        } else {
            k = r->left < len - i ? r->left : len - i;
            /* o <= i always (every output byte consumed one input byte
             * and headers produce none), so memmove in place is safe. */
            memmove(out + o, in + i, k);
            o += k;
            i += k;
            r->left -= k;
        }
    }
    if (rc != TLSREC_OK)
        r->hdr_have = DEAD;
    *outlen = o;
    return (enum tlsrec_status)rc;
}

void
tlsrec_header(uint8_t out[TLSREC_HEADER], size_t n)
{
    /* Callers keep n <= TLSREC_MAX_OUT; the field is 16 bits on the
     * wire. */
    out[0] = TLS_REC_APPDATA;
    out[1] = 0x03;
    out[2] = 0x03;
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
}

size_t
tlsrec_out_len(size_t have, int may_wait)
{
    if (have == 0 || (have < TLSREC_MIN_OUT && may_wait))
        return 0;
    return have < TLSREC_MAX_OUT ? have : TLSREC_MAX_OUT;
}
