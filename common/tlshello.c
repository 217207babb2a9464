/*
 * tlshello.c - a browser-like TLS 1.3 ClientHello: Chrome's extension
 * order (before it began shuffling), GREASE values, TLS 1.3 suites first,
 * a real x25519 key share and, when the size leaves room, an
 * X25519MLKEM768 share as current clients send.  Used by the mask-host
 * probe (tls_emulation) and by the test client.
 */
#include "tlshello.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "faketls.h"
#include "proto.h"

#define TH_HELLO_MAX            TLSHELLO_MAX_SIZE
#define TH_RANDOM_OFF           TLSHELLO_RANDOM_OFF
#define TH_MLKEM_SHARE          1216    /* X25519MLKEM768 client share */

/* A GREASE value (RFC 8701): 0x?a?a, both bytes equal. */
static uint16_t
th_grease(uint8_t r)
{
    uint16_t b = (uint16_t)((r & 0xf0) | 0x0a);

    return (uint16_t)(b << 8 | b);
}

/* Appends to a fixed buffer; a write past the end only sets over. */
struct th_buf {
    uint8_t *p;
    size_t len, cap;
    int over;
};

static void
th_put(struct th_buf *b, const void *src, size_t n)
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

static void
th_be(struct th_buf *b, size_t v, size_t width)
{
    uint8_t t[4];

    for (size_t i = 0; i < width; i++)
        t[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    th_put(b, t, width);
}

/* Write a big-endian length at b->p[at] once the block after it is done. */
static void
th_patch(struct th_buf *b, size_t at, size_t width)
{
    size_t v = b->len - at - width;

    if (b->over)
        return;
    for (size_t i = 0; i < width; i++)
        b->p[at + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

/* Everything a hello needs that is random: drawn once by the caller. */
struct th_rand {
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
static void
th_extensions(struct th_buf *b, const char *sni, int pq,
    long pad, const struct th_rand *r)
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
    uint16_t g0 = th_grease(r->grease[0]);
    uint16_t g1 = th_grease(r->grease[1]);
    uint16_t g2 = th_grease(r->grease[2]);
    uint16_t g3 = th_grease(r->grease[3]);
    size_t at, at2;

    if (g3 == g0)
        g3 ^= 0x1010;                   /* two equal GREASE types: no */
    th_be(b, g0, 2);
    th_be(b, 0, 2);
    if (sni != NULL) {
        size_t n = strlen(sni);

        th_be(b, 0x0000, 2);
        th_be(b, n + 5, 2);
        th_be(b, n + 3, 2);
        th_be(b, 0, 1);
        th_be(b, n, 2);
        th_put(b, sni, n);
    }
    th_put(b, fixed1, sizeof(fixed1));
    th_be(b, 0x000a, 2);                         /* groups */
    at = b->len;
    th_be(b, 0, 2);
    at2 = b->len;
    th_be(b, 0, 2);
    th_be(b, g1, 2);
    if (pq)
        th_be(b, 0x11ec, 2);
    th_be(b, 0x001d, 2);
    th_be(b, 0x0017, 2);
    th_be(b, 0x0018, 2);
    th_patch(b, at2, 2);
    th_patch(b, at, 2);
    th_put(b, fixed2, sizeof(fixed2));
    th_be(b, 0x0033, 2);                         /* key_share */
    at = b->len;
    th_be(b, 0, 2);
    at2 = b->len;
    th_be(b, 0, 2);
    th_be(b, g1, 2);
    th_be(b, 1, 2);
    th_be(b, 0, 1);
    if (pq) {
        uint8_t *share;

        th_be(b, 0x11ec, 2);
        th_be(b, TH_MLKEM_SHARE, 2);
        share = b->p + b->len;
        th_put(b, NULL, TH_MLKEM_SHARE);
        if (!b->over)
            (void)random_bytes(share, TH_MLKEM_SHARE);
    }
    th_be(b, 0x001d, 2);
    th_be(b, 32, 2);
    th_put(b, r->x25519, 32);
    th_patch(b, at2, 2);
    th_patch(b, at, 2);
    th_put(b, fixed3, sizeof(fixed3));
    th_be(b, 0x002b, 2);                         /* versions */
    th_be(b, 7, 2);
    th_be(b, 6, 1);
    th_be(b, g2, 2);
    th_be(b, 0x0304, 2);
    th_be(b, 0x0303, 2);
    th_put(b, compress_cert, sizeof(compress_cert));
    th_be(b, g3, 2);
    th_be(b, 1, 2);
    th_be(b, 0, 1);
    if (pad >= 0) {
        th_be(b, 0x0015, 2);
        th_be(b, (size_t)pad, 2);
        th_put(b, NULL, (size_t)pad);
    }
}

/*
 * The whole record with the random zeroed and padding pad (see above).
 * Returns its length, or 0 if it does not fit in cap.
 */
static size_t
th_layout(uint8_t *out, size_t cap, const char *sni, int pq,
    long pad, const struct th_rand *r)
{
    static const uint8_t suites[] = {
        0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f,
        0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13,
        0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35,
    };
    struct th_buf b = { .p = out, .cap = cap };
    size_t at_rec, at_hs, at_ext;

    th_be(&b, TLS_REC_HANDSHAKE, 1);
    th_be(&b, 0x0301, 2);
    at_rec = b.len;
    th_be(&b, 0, 2);
    th_be(&b, 0x01, 1);                          /* ClientHello */
    at_hs = b.len;
    th_be(&b, 0, 3);
    th_be(&b, 0x0303, 2);
    th_put(&b, NULL, 32);                        /* random */
    th_be(&b, 32, 1);
    th_put(&b, r->session_id, 32);
    th_be(&b, 2 + sizeof(suites), 2);
    th_be(&b, th_grease(r->grease[0]), 2);
    th_put(&b, suites, sizeof(suites));
    th_be(&b, 0x0100, 2);                        /* null compr. */
    at_ext = b.len;
    th_be(&b, 0, 2);
    th_extensions(&b, sni, pq, pad, r);
    th_patch(&b, at_ext, 2);
    th_patch(&b, at_hs, 3);
    th_patch(&b, at_rec, 2);
    return b.over ? 0 : b.len;
}

/*
 * Sign a hello record rec[0..len), len >= 43: mac = HMAC-SHA256(secret,
 * rec with the random zeroed), random = mac[0:28] || (mac[28:32] XOR
 * le32(ts)).
 */
static void
th_sign(uint8_t *rec, size_t len, const uint8_t secret[16],
    uint32_t ts)
{
    uint8_t mac[32];

    memset(rec + TH_RANDOM_OFF, 0, 32);
    hmac_sha256_2(secret, 16, rec, len, NULL, 0, mac);
    for (int i = 0; i < 4; i++)
        mac[28 + i] ^= (uint8_t)(ts >> (8 * i));
    memcpy(rec + TH_RANDOM_OFF, mac, 32);
}

size_t
tlshello_build(uint8_t *out, size_t size, const char *sni,
    const uint8_t *secret, uint32_t ts)
{
    struct th_rand r;
    size_t base;
    int pq;

    if (size > TH_HELLO_MAX || random_bytes(r.session_id, 32) != 0 ||
        random_bytes(r.grease, sizeof(r.grease)) != 0 ||
        faketls_x25519_public(r.x25519) != 0)
        return 0;
    /* Measure without padding, then pad up to size. */
    pq = 1;
    base = th_layout(out, size, sni, pq, -1, &r);
    if (base == 0 || base + 4 > size) {
        pq = 0;
        base = th_layout(out, size, sni, pq, -1, &r);
    }
    if (base == 0 || base + 4 > size)
        return 0;
    if (th_layout(out, size, sni, pq, (long)(size - base - 4),
        &r) != size)
        return 0;
    if (secret != NULL)
        th_sign(out, size, secret, ts);
    else if (random_bytes(out + TH_RANDOM_OFF, 32) != 0)
        return 0;
    return size;
}
