/*
 * tlsclient.h - the client side of fake TLS for the test tools, written
 * from docs/protocol.md 5.1-5.5 independently of the proxy's common/faketls.c:
 * sign a hello (built by common/tlshello.c, the client-side builder the
 * proxy's mask-host probe uses too), check the server's three-record
 * answer and its HMAC, and wrap stream bytes into ApplicationData
 * records.  Header-only (static inline), pure:
 * no I/O, no clock (the caller passes the timestamp).
 */
#ifndef TELEMT_TESTS_TLSCLIENT_H
#define TELEMT_TESTS_TLSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "faketls.h"
#include "tlshello.h"

#define TLSCLIENT_HELLO_DEFAULT 517     /* classic size: L = 512 */
#define TLSCLIENT_HELLO_MAX     (5 + 16384)
#define TLSCLIENT_RANDOM_OFF    11
#define TLSCLIENT_SID_OFF       44
#define TLSCLIENT_CCS_LEN       6
#define TLSCLIENT_MAX_SH        16384   /* ServerHello record we accept */

static const uint8_t TLSCLIENT_CCS[TLSCLIENT_CCS_LEN] = {
    0x14, 0x03, 0x03, 0x00, 0x01, 0x01
};

/*
 * Sign a hello record rec[0..len), len >= 43: mac = HMAC-SHA256(secret,
 * rec with the random zeroed), random = mac[0:28] || (mac[28:32] XOR
 * le32(ts)).
 */
static inline void
tlsclient_sign(uint8_t *rec, size_t len, const uint8_t secret[16],
    uint32_t ts)
{
    uint8_t mac[32];

    memset(rec + TLSCLIENT_RANDOM_OFF, 0, 32);
    hmac_sha256_2(secret, 16, rec, len, NULL, 0, mac);
    for (int i = 0; i < 4; i++)
        mac[28 + i] ^= (uint8_t)(ts >> (8 * i));
    memcpy(rec + TLSCLIENT_RANDOM_OFF, mac, 32);
}

/*
 * How much of the answer to read: given the have bytes received so far,
 * sets *need to the answer's length as far as the headers seen tell it
 * (ServerHello record, ChangeCipherSpec, ApplicationData header, then its
 * payload) and *done once have covers the whole answer.  Returns NULL, or
 * what is wrong with headers that cannot start a valid answer.
 */
static inline const char *
tlsclient_answer_need(const uint8_t *a, size_t have, size_t *need, int *done)
{
    size_t l1, n;

    *done = 0;
    *need = 5;
    if (have < 5)
        return NULL;
    if (a[0] != 0x16 || a[1] != 0x03 || a[2] != 0x03)
        return "first record is not a 16 03 03 handshake record";
    l1 = (size_t)a[3] << 8 | a[4];
    if (l1 < 4 || l1 > TLSCLIENT_MAX_SH)
        return "ServerHello record length out of range";
    *need = 5 + l1 + TLSCLIENT_CCS_LEN + 5;
    if (have < *need)
        return NULL;
    if (memcmp(a + 5 + l1, TLSCLIENT_CCS, TLSCLIENT_CCS_LEN) != 0)
        return "second record is not ChangeCipherSpec 14 03 03 00 01 01";
    a += 5 + l1 + TLSCLIENT_CCS_LEN;
    if (a[0] != 0x17 || a[1] != 0x03 || a[2] != 0x03)
        return "third record is not a 17 03 03 ApplicationData record";
    n = (size_t)a[3] << 8 | a[4];
    if (n == 0)
        return "empty ApplicationData record in the answer";
    *need += n;
    *done = have >= *need;
    return NULL;
}

/*
 * Check a complete answer ans[0..len) to our hello: the ServerHello's
 * fields (type, version, echoed session id, a TLS 1.3 suite, x25519 key
 * share, supported_versions 03 04), then the server random =
 * HMAC-SHA256(secret, client_random || answer with [11,43) zeroed).
 * Returns NULL if all is well, else what is wrong.
 */
static inline const char *
tlsclient_check_answer(const uint8_t *ans, size_t len,
    const uint8_t secret[16], const uint8_t client_random[32],
    const uint8_t session_id[32])
{
    const uint8_t *p, *end;
    uint8_t mac[32], *copy;
    size_t need, l1, hs, exts;
    int done, key_share = 0, versions = 0;
    const char *why = tlsclient_answer_need(ans, len, &need, &done);
    unsigned cipher;

    if (why != NULL)
        return why;
    if (!done || need != len)
        return "answer length does not match its records";
    l1 = (size_t)ans[3] << 8 | ans[4];
    p = ans + 5;
    end = p + l1;
    if (p[0] != 0x02)
        return "handshake type is not ServerHello (02)";
    hs = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    if (hs != l1 - 4)
        return "ServerHello length does not fill its record";
    p += 4;
    if (end - p < 2 + 32 + 1 + 32 + 2 + 1 + 2)
        return "ServerHello too short";
    if (p[0] != 0x03 || p[1] != 0x03)
        return "ServerHello legacy version is not 03 03";
    p += 2 + 32;
    if (p[0] != 32 || memcmp(p + 1, session_id, 32) != 0)
        return "ServerHello does not echo our 32-byte session id";
    p += 1 + 32;
    cipher = (unsigned)p[0] << 8 | p[1];
    if (cipher < 0x1301 || cipher > 0x1303)
        return "cipher suite is not 13 01..13 03";
    if (p[2] != 0x00)
        return "compression method is not 00";
    exts = (size_t)p[3] << 8 | p[4];
    p += 5;
    if ((size_t)(end - p) != exts)
        return "extensions length does not fill the ServerHello";
    while (p < end) {
        size_t type, elen;

        if (end - p < 4)
            return "truncated extension header";
        type = (size_t)p[0] << 8 | p[1];
        elen = (size_t)p[2] << 8 | p[3];
        p += 4;
        if ((size_t)(end - p) < elen)
            return "truncated extension";
        if (type == 0x0033 && elen == 36 && p[0] == 0x00 && p[1] == 0x1d &&
            p[2] == 0x00 && p[3] == 0x20)
            key_share++;
        else if (type == 0x002b && elen == 2 && p[0] == 0x03 &&
            p[1] == 0x04)
            versions++;
        else
            return "unexpected extension in the ServerHello";
        p += elen;
    }
    if (key_share != 1 || versions != 1)
        return "ServerHello lacks x25519 key_share or supported_versions";

    copy = malloc(len);
    if (copy == NULL)
        return "out of memory";
    memcpy(copy, ans, len);
    memset(copy + TLSCLIENT_RANDOM_OFF, 0, 32);
    hmac_sha256_2(secret, 16, client_random, 32, copy, len, mac);
    free(copy);
    if (!ct_equal(mac, ans + TLSCLIENT_RANDOM_OFF, 32))
        return "server random is not HMAC(secret, client random || answer)";
    return NULL;
}

/*
 * Wrap n stream bytes into ApplicationData records of at most rs payload
 * bytes each; out needs tlsclient_wrapped_len(n, rs) bytes.  Returns the
 * bytes written.
 */
static inline size_t
tlsclient_wrap(const uint8_t *in, size_t n, size_t rs, uint8_t *out)
{
    size_t o = 0;

    while (n > 0) {
        size_t k = n < rs ? n : rs;

        out[o++] = 0x17;
        out[o++] = 0x03;
        out[o++] = 0x03;
        out[o++] = (uint8_t)(k >> 8);
        out[o++] = (uint8_t)k;
        memcpy(out + o, in, k);
        o += k;
        in += k;
        n -= k;
    }
    return o;
}

static inline size_t
tlsclient_wrapped_len(size_t n, size_t rs)
{
    return n + 5 * ((n + rs - 1) / rs);
}

#endif
