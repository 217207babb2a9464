/*
 * obfs2.h - the obfuscated2 header: key derivation, secret matching and
 * header building (docs/protocol.md sections 2 and 3).  Pure functions over
 * byte arrays; no I/O.
 *
 * Naming: the "initiator" sends the 64-byte header (the client towards
 * the proxy, or the proxy towards a DC); "up" is initiator -> responder,
 * "down" is responder -> initiator.
 */
#ifndef TELEMT_OBFS2_H
#define TELEMT_OBFS2_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "proto.h"

struct obfs2_keys {
    uint8_t up_key[32], up_iv[16];
    uint8_t down_key[32], down_iv[16];
};

/* Both directions' keys from a header; secret NULL = raw (proxy -> DC). */
void obfs2_derive(const uint8_t hdr[OBFS2_HEADER_LEN],
    const uint8_t *secret, struct obfs2_keys *k);
/* 1 if tag is abridged, intermediate or padded. */
int obfs2_tag_valid(uint32_t tag);
/*
 * Test one secret against a received header, cheaply (one SHA-256 and one
 * AES block).  Returns 1 and fills tag, dc and keys if the decrypted tag is
 * valid; 0 otherwise.
 */
int obfs2_match(const uint8_t hdr[OBFS2_HEADER_LEN], const uint8_t *secret,
    uint32_t *tag, int16_t *dc, struct obfs2_keys *k);
/*
 * 1 if the first len bytes (any len) already rule out an obfuscated2
 * header from a real client: they start like HTTP, TLS (16 03 01 02),
 * plain (intermediate/padded) or abridged transports, or bytes 4..7 are
 * zero.  0 while they still could be one.
 */
int obfs2_prefix_impossible(const uint8_t *buf, size_t len);
/* 1 if a plain (non-TLS) header may start with these bytes (rules of 2.1). */
int obfs2_header_allowed(const uint8_t hdr[OBFS2_HEADER_LEN]);
/*
 * Build a header as an initiator: random bytes drawn until allowed, then
 * tag and dc.  If fast_key/fast_iv are given (proxy -> DC fast mode),
 * hdr[8:56] = rev(fast_key || fast_iv), so that the responder's down stream
 * is exactly that key and iv.  Writes the 64 wire bytes and the up and down
 * streams (down NULL: not wanted, as in fast mode); *up is positioned at
 * keystream offset 64.  Returns 0, or -1 on RNG or allocation failure
 * (nothing to free then).
 */
int obfs2_build(uint8_t wire[OBFS2_HEADER_LEN], uint32_t tag, int16_t dc,
    const uint8_t *secret, const uint8_t *fast_key, const uint8_t *fast_iv,
    struct ctr **up, struct ctr **down);
/*
 * Responder side: given the matched keys of a received header, create the
 * up stream (advanced past the 64 header bytes) and the down stream (down
 * NULL: not wanted, as in fast mode).
 * Returns 0, or -1 on allocation failure (nothing to free then).
 */
int obfs2_streams(const uint8_t hdr[OBFS2_HEADER_LEN],
    const struct obfs2_keys *k, struct ctr **up, struct ctr **down);

#endif
