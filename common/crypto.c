/*
 * crypto.c - thin wrappers over libcrypto's EVP interface.
 *
 * Everything else in telemt calls these instead of OpenSSL directly, so the
 * cipher plumbing (contexts, error checks) lives in one room.
 */
/* Low-level SHA-256 avoids a heap EVP_MD_CTX per hash on the handshake path. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "crypto.h"
#include "log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
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

/*
 * The ciphers fetched from the provider once: EVP_aes_256_ctr() is a
 * legacy object that OpenSSL 3 resolves again at every init (an
 * implicit fetch, which its migration guide says to avoid where speed
 * matters), and a handshake inits several.  NULL if the fetch failed:
 * the legacy objects then.
 */
static EVP_CIPHER *aes_ctr, *aes_ecb;
static pthread_once_t cipher_once = PTHREAD_ONCE_INIT;

static void
cipher_fetch(void)
{
    aes_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
    aes_ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
}

static const EVP_CIPHER *
cipher_ctr(void)
{
    (void)pthread_once(&cipher_once, cipher_fetch);
    return aes_ctr != NULL ? aes_ctr : EVP_aes_256_ctr();
}

static const EVP_CIPHER *
cipher_ecb(void)
{
    (void)pthread_once(&cipher_once, cipher_fetch);
    return aes_ecb != NULL ? aes_ecb : EVP_aes_256_ecb();
}

/* Set c->ctx up at keystream byte c->pos; -1 if libcrypto cannot. */
static int
ctr_start(struct ctr *c)
{
    uint8_t at[16], skip[16];
    uint64_t blocks = c->pos / 16;
    unsigned carry = 0;
    int outl;

    /* The counter block for byte pos: iv + pos / 16, big-endian. */
    for (int i = 15; i >= 0; i--) {
        unsigned v = c->iv[i] + (unsigned)(blocks & 0xff) + carry;

        at[i] = (uint8_t)v;
        carry = v >> 8;
        blocks >>= 8;
    }
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL ||
        EVP_EncryptInit_ex2(c->ctx, cipher_ctr(), c->key, at, NULL) != 1) {
        EVP_CIPHER_CTX_free(c->ctx);
        c->ctx = NULL;
        return -1;
    }
    memset(skip, 0, sizeof(skip));
    if (c->pos % 16 != 0)
        (void)EVP_EncryptUpdate(c->ctx, skip, &outl, skip,
            (int)(c->pos % 16));
    return 0;
}

struct ctr *
ctr_new_at(const uint8_t key[32], const uint8_t iv[16], uint64_t pos)
{
    struct ctr *c = OPENSSL_malloc(sizeof(*c));

    if (c == NULL)
        return NULL;
    memcpy(c->key, key, 32);
    memcpy(c->iv, iv, 16);
    c->pos = pos;
    if (ctr_start(c) != 0) {
        OPENSSL_cleanse(c, sizeof(*c));
        OPENSSL_free(c);
        return NULL;
    }
    return c;
}

void
ctr_park(struct ctr *c)
{
    if (c == NULL || c->ctx == NULL)
        return;
    EVP_CIPHER_CTX_free(c->ctx);
    c->ctx = NULL;
}

int
ctr_unpark(struct ctr *c)
{
    if (c == NULL || c->ctx != NULL)
        return 0;
    return ctr_start(c);
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

    if (c->ctx == NULL)
        panic("ctr_apply() on a parked stream (ctr_unpark() first)");
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
    ok = EVP_EncryptInit_ex2(ctx, cipher_ecb(), key, NULL, NULL) == 1 &&
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
static int
random_kernel(uint8_t *buf, size_t len)
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

/*
 * Small requests come from a per-thread pool filled RANDOM_POOL bytes at
 * a time: a handshake asks for a few dozen bytes three or four times,
 * and one getrandom() serves them all.  A byte handed out is wiped from
 * the pool; a fork's child starts with an empty one, so two processes
 * never hand out the same bytes.
 */
#define RANDOM_POOL         512
#define RANDOM_POOLED_MAX   64      /* larger requests go to the kernel */

struct random_pool {
    /* cppcheck-suppress unusedStructMember ; used via rpool (_Thread_local) */
    uint8_t b[RANDOM_POOL];
    /* cppcheck-suppress unusedStructMember ; used via rpool (_Thread_local) */
    size_t left;                    /* unused bytes: b[0..left) */
};
static _Thread_local struct random_pool rpool;
static pthread_once_t rpool_once = PTHREAD_ONCE_INIT;

static void
rpool_forget(void)
{
    OPENSSL_cleanse(&rpool, sizeof(rpool));
}

static void
rpool_setup(void)
{
    (void)pthread_atfork(NULL, NULL, rpool_forget);
}

int
random_bytes(uint8_t *buf, size_t len)
{
    if (len > RANDOM_POOLED_MAX)
        return random_kernel(buf, len);
    if (rpool.left < len) {
        (void)pthread_once(&rpool_once, rpool_setup);
        if (random_kernel(rpool.b, RANDOM_POOL) != 0)
            return -1;
        rpool.left = RANDOM_POOL;
    }
    rpool.left -= len;
    memcpy(buf, rpool.b + rpool.left, len);
    OPENSSL_cleanse(rpool.b + rpool.left, len);
    return 0;
}

int
random_fill(uint8_t *buf, size_t len)
{
    uint8_t seed[48];
    struct ctr *c;

    if (len <= RANDOM_POOLED_MAX)
        return random_bytes(buf, len);
    if (random_bytes(seed, sizeof(seed)) != 0)
        return -1;
    c = ctr_new(seed, seed + 32);
    OPENSSL_cleanse(seed, sizeof(seed));
    if (c == NULL)
        return random_kernel(buf, len);
    memset(buf, 0, len);
    ctr_apply(c, buf, buf, len);
    ctr_free(c);
    return 0;
}

int
ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
