/*
 * obfs2.c - obfuscated2 key derivation, secret matching and header
 * building (docs/protocol.md 2.2-2.4, 3.1-3.2).  Pure: no I/O, no globals.
 */
#include "obfs2.h"

#include <string.h>

#include <openssl/crypto.h>

#include "proto.h"

void
obfs2_derive(const uint8_t hdr[OBFS2_HEADER_LEN], const uint8_t *secret,
    struct obfs2_keys *k)
{
    uint8_t rev[48];

    for (int i = 0; i < 48; i++)
        rev[i] = hdr[55 - i];
    if (secret != NULL) {
        sha256_2(hdr + 8, 32, secret, SECRET_LEN, k->up_key);
        sha256_2(rev, 32, secret, SECRET_LEN, k->down_key);
    } else {
        memcpy(k->up_key, hdr + 8, 32);
        memcpy(k->down_key, rev, 32);
    }
    memcpy(k->up_iv, hdr + 40, 16);
    memcpy(k->down_iv, rev + 32, 16);
}

int
obfs2_tag_valid(uint32_t tag)
{
    return tag == TAG_ABRIDGED || tag == TAG_INTERMEDIATE ||
        tag == TAG_PADDED;
}

/* The counter block for keystream block n: iv + n as a 128-bit BE number. */
static void
ctr_block(const uint8_t iv[16], unsigned n, uint8_t out[16])
{
    unsigned carry = n;

    memcpy(out, iv, 16);
    for (int i = 15; i >= 0 && carry != 0; i--) {
        carry += out[i];
        out[i] = (uint8_t)carry;
        carry >>= 8;
    }
}

int
obfs2_match(const uint8_t hdr[OBFS2_HEADER_LEN], const uint8_t *secret,
    uint32_t *tag, int16_t *dc, struct obfs2_keys *k)
{
    uint8_t key[32], block[16], ks[16];
    uint32_t t;

    /* Bytes 56..63 are keystream block 3 (offsets 48..63). */
    sha256_2(hdr + 8, 32, secret, SECRET_LEN, key);
    ctr_block(hdr + 40, 3, block);
    if (aes256_block(key, block, ks) != 0)
        return 0;
    t = (uint32_t)(hdr[56] ^ ks[8]) | (uint32_t)(hdr[57] ^ ks[9]) << 8 |
        (uint32_t)(hdr[58] ^ ks[10]) << 16 |
        (uint32_t)(hdr[59] ^ ks[11]) << 24;
    OPENSSL_cleanse(key, sizeof(key));
    if (!obfs2_tag_valid(t))
        return 0;
    *tag = t;
    *dc = (int16_t)(uint16_t)((hdr[60] ^ ks[12]) | (hdr[61] ^ ks[13]) << 8);
    obfs2_derive(hdr, secret, k);
    return 1;
}

int
obfs2_prefix_impossible(const uint8_t *h, size_t len)
{
    static const uint8_t bad[][4] = {
        { 'H', 'E', 'A', 'D' }, { 'P', 'O', 'S', 'T' },
        { 'G', 'E', 'T', ' ' }, { 'O', 'P', 'T', 'I' },
        { 0xee, 0xee, 0xee, 0xee }, { 0xdd, 0xdd, 0xdd, 0xdd },
        { TLS_REC_HANDSHAKE, 0x03, 0x01, 0x02 },    /* a TLS hello */
    };
    static const uint8_t zero[4];

    if (len >= 1 && h[0] == 0xef)
        return 1;
    if (len >= 4)
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
            if (memcmp(h, bad[i], 4) == 0)
                return 1;
    return len >= 8 && memcmp(h + 4, zero, 4) == 0;
}

int
obfs2_header_allowed(const uint8_t h[OBFS2_HEADER_LEN])
{
    return !obfs2_prefix_impossible(h, OBFS2_HEADER_LEN);
}

/* Both streams of k, or only up when down is NULL; -1 leaves none. */
static int
obfs2_pair(const struct obfs2_keys *k, struct ctr **up, struct ctr **down)
{
    *up = ctr_new(k->up_key, k->up_iv);
    if (down != NULL)
        *down = ctr_new(k->down_key, k->down_iv);
    if (*up == NULL || (down != NULL && *down == NULL)) {
        ctr_free(*up);
        *up = NULL;
        if (down != NULL) {
            ctr_free(*down);
            *down = NULL;
        }
        return -1;
    }
    return 0;
}

int
obfs2_streams(const uint8_t hdr[OBFS2_HEADER_LEN], const struct obfs2_keys *k,
    struct ctr **up, struct ctr **down)
{
    uint8_t scratch[OBFS2_HEADER_LEN];

    if (obfs2_pair(k, up, down) != 0)
        return -1;
    ctr_apply(*up, hdr, scratch, OBFS2_HEADER_LEN);
    return 0;
}

int
obfs2_build(uint8_t wire[OBFS2_HEADER_LEN], uint32_t tag, int16_t dc,
    const uint8_t *secret, const uint8_t *fast_key, const uint8_t *fast_iv,
    struct ctr **up, struct ctr **down)
{
    uint8_t h[OBFS2_HEADER_LEN], enc[OBFS2_HEADER_LEN];
    struct obfs2_keys k;

    do {
        if (random_bytes(h, sizeof(h)) != 0)
            return -1;
        if (fast_key != NULL) {
            for (int i = 0; i < 32; i++)
                h[55 - i] = fast_key[i];
            for (int i = 0; i < 16; i++)
                h[23 - i] = fast_iv[i];
        }
        h[56] = (uint8_t)tag;
        h[57] = (uint8_t)(tag >> 8);
        h[58] = (uint8_t)(tag >> 16);
        h[59] = (uint8_t)(tag >> 24);
        h[60] = (uint8_t)((uint16_t)dc & 0xff);
        h[61] = (uint8_t)((uint16_t)dc >> 8);
    } while (!obfs2_header_allowed(h));
    obfs2_derive(h, secret, &k);
    if (obfs2_pair(&k, up, down) != 0) {
        OPENSSL_cleanse(&k, sizeof(k));
        return -1;
    }
    ctr_apply(*up, h, enc, OBFS2_HEADER_LEN);
    memcpy(wire, h, 56);
    memcpy(wire + 56, enc + 56, 8);
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}
