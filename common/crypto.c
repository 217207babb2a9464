/*
 * crypto.c - thin wrappers over libcrypto's EVP interface.
 *
 * Everything else in telemt calls these instead of OpenSSL directly, so the
 * cipher plumbing (contexts, error checks) lives in one room.
 */
/* Low-level SHA-256 avoids a heap EVP_MD_CTX per hash on the handshake path. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <sys/random.h>

#include <errno.h>
#include <string.h>

/* key, iv and pos are kept so a live stream can move to another process
 * (binary upgrade); EVP holds the key anyway. */
struct ctr {
    EVP_CIPHER_CTX *ctx;
    uint8_t key[32], iv[16];
    uint64_t pos;                       /* keystream bytes used */
};

struct ctr *
ctr_new(const uint8_t key[32], const uint8_t iv[16])
{
    return ctr_new_at(key, iv, 0);
}

struct ctr *
ctr_new_at(const uint8_t key[32], const uint8_t iv[16], uint64_t pos)
{
    struct ctr *c = OPENSSL_malloc(sizeof(*c));
    uint8_t at[16], skip[16];
    uint64_t blocks = pos / 16;
    unsigned carry = 0;
    int outl;

    if (c == NULL)
        return NULL;
    /* The counter block for byte pos: iv + pos / 16, big-endian. */
    for (int i = 15; i >= 0; i--) {
        unsigned v = iv[i] + (unsigned)(blocks & 0xff) + carry;

        at[i] = (uint8_t)v;
        carry = v >> 8;
        blocks >>= 8;
    }
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL ||
        EVP_EncryptInit_ex(c->ctx, EVP_aes_256_ctr(), NULL, key, at) != 1) {
        EVP_CIPHER_CTX_free(c->ctx);
        OPENSSL_free(c);
        return NULL;
    }
    memset(skip, 0, sizeof(skip));
    if (pos % 16 != 0)
        (void)EVP_EncryptUpdate(c->ctx, skip, &outl, skip, (int)(pos % 16));
    memcpy(c->key, key, 32);
    memcpy(c->iv, iv, 16);
    c->pos = pos;
    return c;
}

void
ctr_export(const struct ctr *c, uint8_t key[32], uint8_t iv[16],
    uint64_t *pos)
{
    memcpy(key, c->key, 32);
    memcpy(iv, c->iv, 16);
    *pos = c->pos;
}

void
ctr_apply(struct ctr *c, const uint8_t *in, uint8_t *out, size_t len)
{
    int outl;

    c->pos += len;
    /* CTR never fails for an initialised context; EVP takes int lengths. */
    while (len > 0) {
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;

        (void)EVP_EncryptUpdate(c->ctx, out, &outl, in, chunk);
        in += chunk;
        out += chunk;
        len -= (size_t)chunk;
    }
}

void
ctr_free(struct ctr *c)
{
    if (c == NULL)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    OPENSSL_cleanse(c, sizeof(*c));
    OPENSSL_free(c);
}

int
aes256_block(const uint8_t key[32], const uint8_t in[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl, ok;

    if (ctx == NULL)
        return -1;
    ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), NULL, key, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_EncryptUpdate(ctx, out, &outl, in, 16) == 1 && outl == 16;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

void
sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    uint8_t out[32])
{
    SHA256_CTX s;

    SHA256_Init(&s);
    SHA256_Update(&s, a, alen);
    if (blen > 0)
        SHA256_Update(&s, b, blen);
    SHA256_Final(out, &s);
}

void
hmac_sha256_2(const uint8_t *key, size_t keylen, const uint8_t *a,
    size_t alen, const uint8_t *b, size_t blen, uint8_t out[32])
{
    /* HMAC by hand over SHA-256: avoids a heap context per call. */
    uint8_t k[64] = { 0 }, pad[64], inner[32];
    SHA256_CTX s;

    if (keylen > 64)
        sha256_2(key, keylen, NULL, 0, k);
    else
        for (size_t i = 0; i < keylen; i++)
            k[i] = key[i];
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&s);
    SHA256_Update(&s, pad, 64);
    SHA256_Update(&s, a, alen);
    if (blen > 0)
        SHA256_Update(&s, b, blen);
    SHA256_Final(inner, &s);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&s);
    SHA256_Update(&s, pad, 64);
    SHA256_Update(&s, inner, 32);
    SHA256_Final(out, &s);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}

/*
 * Straight from the kernel: libcrypto's RAND_bytes() would set up a DRBG
 * in every thread that calls it, and each connection is a thread of its
 * own, so that is time and memory on every connection.
 */
int
random_bytes(uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(buf, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int
ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
