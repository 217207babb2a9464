/*
 * crypto.h - the only door to libcrypto: AES-256-CTR streams, AES-256 block
 * encryption, SHA-256, HMAC-SHA256, random bytes, constant-time compare.
 *
 * A struct ctr is one continuous keystream (OpenSSL's 128-bit big-endian
 * counter); it is created once per connection direction and never per
 * packet.  Functions return 0 on success, -1 on failure (out of memory).
 */
#ifndef TELEMT_CRYPTO_H
#define TELEMT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

struct ctr;

/* New AES-256-CTR stream at keystream offset 0; NULL on failure. */
struct ctr *ctr_new(const uint8_t key[32], const uint8_t iv[16]);
/* The same stream, pos bytes in (a stream resumed after a hand-over). */
struct ctr *ctr_new_at(const uint8_t key[32], const uint8_t iv[16],
    uint64_t pos);
/* What ctr_new_at() needs to continue c exactly where it is. */
void ctr_export(const struct ctr *c, uint8_t key[32], uint8_t iv[16],
    uint64_t *pos);
/* XOR len bytes with the next keystream bytes; in may equal out. */
void ctr_apply(struct ctr *c, const uint8_t *in, uint8_t *out, size_t len);
/* Free a stream; NULL is fine. */
void ctr_free(struct ctr *c);
/*
 * An idle stream gives back libcrypto's context (most of its memory) and
 * keeps only key, iv and position; ctr_unpark() sets it up again (0, or
 * -1 if it cannot: the stream is unusable) before the next ctr_apply().
 * Both take NULL and are no-ops when there is nothing to do.
 */
void ctr_park(struct ctr *c);
int ctr_unpark(struct ctr *c);

/* One AES-256 block encryption (ECB), for cheap keystream probes. */
int aes256_block(const uint8_t key[32], const uint8_t in[16],
    uint8_t out[16]);
/* SHA-256 of the concatenation a || b (b may be NULL with blen 0). */
void sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    uint8_t out[32]);
/* HMAC-SHA256 over the concatenation a || b. */
void hmac_sha256_2(const uint8_t *key, size_t keylen, const uint8_t *a,
    size_t alen, const uint8_t *b, size_t blen, uint8_t out[32]);
/* Fill buf with cryptographically random bytes; -1 if the RNG failed. */
int random_bytes(uint8_t *buf, size_t len);
/*
 * len bytes that look random to anyone without the key: an AES-256-CTR
 * keystream under a fresh random key (cheaper than the kernel's for the
 * kilobytes of a fake certificate).  Not for keys.  0, or -1.
 */
int random_fill(uint8_t *buf, size_t len);
/* 1 if the len bytes at a and b are equal, in time independent of content. */
int ct_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif
