/*
 * tlsclient.h - the client side of fake TLS for the test tools, written
 * from PROTOCOL.md 5.1-5.5 independently of the proxy's common/faketls.c:
 * build a tdlib/Chrome-like ClientHello carrying the HMAC authenticator,
 * check the server's three-record answer and its HMAC, and wrap stream
 * bytes into ApplicationData records.  Header-only (static inline), pure:
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

#define TLSCLIENT_HELLO_DEFAULT 517     /* classic size: L = 512 */
#define TLSCLIENT_HELLO_MAX     (5 + 16384)
#define TLSCLIENT_RANDOM_OFF    11
#define TLSCLIENT_SID_OFF       44
#define TLSCLIENT_MLKEM_SHARE   1216    /* X25519MLKEM768 client share */
#define TLSCLIENT_CCS_LEN       6
#define TLSCLIENT_MAX_SH        16384   /* ServerHello record we accept */

static const uint8_t TLSCLIENT_CCS[TLSCLIENT_CCS_LEN] = {
    0x14, 0x03, 0x03, 0x00, 0x01, 0x01
};

/* A GREASE value (RFC 8701): 0x?a?a, both bytes equal. */
static inline uint16_t
tlsclient_grease(uint8_t r)
{
    uint16_t b = (uint16_t)((r & 0xf0) | 0x0a);

    return (uint16_t)(b << 8 | b);
}

/* Appends to a fixed buffer; a write past the end only sets over. */
struct tlsclient_buf {
    uint8_t *p;
    size_t len, cap;
    int over;
};

static inline void
tlsclient_put(struct tlsclient_buf *b, const void *src, size_t n)
{
    if (b->over || n > b->cap - b->len) {
        b->over = 1;
        return;
    }
    if (src != NULL)
        memcpy(b->p + b->len, src, n);
    else
        memset(b->p + b->len, 0, n);
    b->len += n;
}

static inline void
tlsclient_be(struct tlsclient_buf *b, size_t v, size_t width)
{
    uint8_t t[4];

    for (size_t i = 0; i < width; i++)
        t[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    tlsclient_put(b, t, width);
}

/* Write a big-endian length at b->p[at] once the block after it is done. */
static inline void
tlsclient_patch(struct tlsclient_buf *b, size_t at, size_t width)
{
    size_t v = b->len - at - width;

    if (b->over)
        return;
    for (size_t i = 0; i < width; i++)
        b->p[at + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

/* Everything a hello needs that is random: drawn once by the caller. */
struct tlsclient_rand {
    uint8_t session_id[32];
    uint8_t x25519[32];                 /* key share */
    uint8_t grease[4];
};

/*
 * The extensions, in Chrome's order (before it shuffled them), GREASE
 * first and last, then padding.  sni NULL leaves server_name out; pq adds
 * an X25519MLKEM768 key share (random bytes) like 2025 clients.  Padding
 * is pad bytes; pad < 0 leaves the padding extension out.
 */
static inline void
tlsclient_extensions(struct tlsclient_buf *b, const char *sni, int pq,
    long pad, const struct tlsclient_rand *r)
{
    static const uint8_t fixed1[] = {
        0x00, 0x17, 0x00, 0x00,                         /* ext. master s. */
        0xff, 0x01, 0x00, 0x01, 0x00,                   /* renegotiation */
    };
    static const uint8_t fixed2[] = {
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,             /* point formats */
        0x00, 0x23, 0x00, 0x00,                         /* session ticket */
        0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c,             /* ALPN */
        0x02, 'h', '2', 0x08, 'h', 't', 't', 'p', '/', '1', '.', '1',
        0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00, /* OCSP */
        0x00, 0x0d, 0x00, 0x12, 0x00, 0x10,             /* sig. algs */
        0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03,
        0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01,
        0x00, 0x12, 0x00, 0x00,                         /* SCT */
    };
    static const uint8_t fixed3[] = {
        0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,             /* psk modes */
    };
    static const uint8_t compress_cert[] = {
        0x00, 0x1b, 0x00, 0x03, 0x02, 0x00, 0x02,
    };
    uint16_t g0 = tlsclient_grease(r->grease[0]);
    uint16_t g1 = tlsclient_grease(r->grease[1]);
    uint16_t g2 = tlsclient_grease(r->grease[2]);
    uint16_t g3 = tlsclient_grease(r->grease[3]);
    size_t at, at2;

    if (g3 == g0)
        g3 ^= 0x1010;                   /* two equal GREASE types: no */
    tlsclient_be(b, g0, 2);
    tlsclient_be(b, 0, 2);
    if (sni != NULL) {
        size_t n = strlen(sni);

        tlsclient_be(b, 0x0000, 2);
        tlsclient_be(b, n + 5, 2);
        tlsclient_be(b, n + 3, 2);
        tlsclient_be(b, 0, 1);
        tlsclient_be(b, n, 2);
        tlsclient_put(b, sni, n);
    }
    tlsclient_put(b, fixed1, sizeof(fixed1));
    tlsclient_be(b, 0x000a, 2);                         /* groups */
    at = b->len;
    tlsclient_be(b, 0, 2);
    at2 = b->len;
    tlsclient_be(b, 0, 2);
    tlsclient_be(b, g1, 2);
    if (pq)
        tlsclient_be(b, 0x11ec, 2);
    tlsclient_be(b, 0x001d, 2);
    tlsclient_be(b, 0x0017, 2);
    tlsclient_be(b, 0x0018, 2);
    tlsclient_patch(b, at2, 2);
    tlsclient_patch(b, at, 2);
    tlsclient_put(b, fixed2, sizeof(fixed2));
    tlsclient_be(b, 0x0033, 2);                         /* key_share */
    at = b->len;
    tlsclient_be(b, 0, 2);
    at2 = b->len;
    tlsclient_be(b, 0, 2);
    tlsclient_be(b, g1, 2);
    tlsclient_be(b, 1, 2);
    tlsclient_be(b, 0, 1);
    if (pq) {
        uint8_t *share;

        tlsclient_be(b, 0x11ec, 2);
        tlsclient_be(b, TLSCLIENT_MLKEM_SHARE, 2);
        share = b->p + b->len;
        tlsclient_put(b, NULL, TLSCLIENT_MLKEM_SHARE);
        if (!b->over)
            (void)random_bytes(share, TLSCLIENT_MLKEM_SHARE);
    }
    tlsclient_be(b, 0x001d, 2);
    tlsclient_be(b, 32, 2);
    tlsclient_put(b, r->x25519, 32);
    tlsclient_patch(b, at2, 2);
    tlsclient_patch(b, at, 2);
    tlsclient_put(b, fixed3, sizeof(fixed3));
    tlsclient_be(b, 0x002b, 2);                         /* versions */
    tlsclient_be(b, 7, 2);
    tlsclient_be(b, 6, 1);
    tlsclient_be(b, g2, 2);
    tlsclient_be(b, 0x0304, 2);
    tlsclient_be(b, 0x0303, 2);
    tlsclient_put(b, compress_cert, sizeof(compress_cert));
    tlsclient_be(b, g3, 2);
    tlsclient_be(b, 1, 2);
    tlsclient_be(b, 0, 1);
    if (pad >= 0) {
        tlsclient_be(b, 0x0015, 2);
        tlsclient_be(b, (size_t)pad, 2);
        tlsclient_put(b, NULL, (size_t)pad);
    }
}

/*
 * The whole record with the random zeroed and padding pad (see above).
 * Returns its length, or 0 if it does not fit in cap.
 */
static inline size_t
tlsclient_layout(uint8_t *out, size_t cap, const char *sni, int pq,
    long pad, const struct tlsclient_rand *r)
{
    static const uint8_t suites[] = {
        0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f,
        0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13,
        0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35,
    };
    struct tlsclient_buf b = { .p = out, .cap = cap };
    size_t at_rec, at_hs, at_ext;

    tlsclient_be(&b, 0x16, 1);
    tlsclient_be(&b, 0x0301, 2);
    at_rec = b.len;
    tlsclient_be(&b, 0, 2);
    tlsclient_be(&b, 0x01, 1);                          /* ClientHello */
    at_hs = b.len;
    tlsclient_be(&b, 0, 3);
    tlsclient_be(&b, 0x0303, 2);
    tlsclient_put(&b, NULL, 32);                        /* random */
    tlsclient_be(&b, 32, 1);
    tlsclient_put(&b, r->session_id, 32);
    tlsclient_be(&b, 2 + sizeof(suites), 2);
    tlsclient_be(&b, tlsclient_grease(r->grease[0]), 2);
    tlsclient_put(&b, suites, sizeof(suites));
    tlsclient_be(&b, 0x0100, 2);                        /* null compr. */
    at_ext = b.len;
    tlsclient_be(&b, 0, 2);
    tlsclient_extensions(&b, sni, pq, pad, r);
    tlsclient_patch(&b, at_ext, 2);
    tlsclient_patch(&b, at_hs, 3);
    tlsclient_patch(&b, at_rec, 2);
    return b.over ? 0 : b.len;
}

/*
 * Build a ClientHello record of exactly size bytes into out (size bytes
 * of room) for the 16-byte secret at unix time ts: mac = HMAC-SHA256(
 * secret, record with the random zeroed), random = mac[0:28] ||
 * (mac[28:32] XOR le32(ts)).  sni NULL sends no server_name.  Sizes that
 * leave room for it carry an X25519MLKEM768 share as modern clients do.
 * Returns size, or 0 if size is below the hello's minimum or above
 * TLSCLIENT_HELLO_MAX, or the RNG failed.  The session id is at
 * out[TLSCLIENT_SID_OFF], the random at out[TLSCLIENT_RANDOM_OFF].
 */
static inline size_t
tlsclient_hello(uint8_t *out, size_t size, const char *sni,
    const uint8_t secret[16], uint32_t ts)
{
    struct tlsclient_rand r;
    uint8_t mac[32];
    size_t base;
    int pq;

    if (size > TLSCLIENT_HELLO_MAX || random_bytes(r.session_id, 32) != 0 ||
        random_bytes(r.grease, sizeof(r.grease)) != 0 ||
        faketls_x25519_public(r.x25519) != 0)
        return 0;
    /* Measure without padding, then pad up to size. */
    pq = 1;
    base = tlsclient_layout(out, size, sni, pq, -1, &r);
    if (base == 0 || base + 4 > size) {
        pq = 0;
        base = tlsclient_layout(out, size, sni, pq, -1, &r);
    }
    if (base == 0 || base + 4 > size)
        return 0;
    if (tlsclient_layout(out, size, sni, pq, (long)(size - base - 4),
        &r) != size)
        return 0;
    hmac_sha256_2(secret, 16, out, size, NULL, 0, mac);
    for (int i = 0; i < 4; i++)
        mac[28 + i] ^= (uint8_t)(ts >> (8 * i));
    memcpy(out + TLSCLIENT_RANDOM_OFF, mac, 32);
    return size;
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
