/*
 * tlshello.h - builds a browser-like TLS 1.3 ClientHello record: for the
 * proxy's probe of the mask host (unsigned) and for the test client
 * (signed with a secret, as Telegram clients sign theirs; docs/protocol.md
 * 5.1-5.2).  Pure apart from drawing random bytes.
 */
#ifndef TELEMT_TLSHELLO_H
#define TELEMT_TLSHELLO_H

#include <stddef.h>
#include <stdint.h>

#define TLSHELLO_DEFAULT_SIZE   517     /* the classic size: L = 512 */
#define TLSHELLO_MAX_SIZE       (5 + 16384)
#define TLSHELLO_RANDOM_OFF     11
#define TLSHELLO_SID_OFF        44

/*
 * Build a ClientHello record of exactly size bytes into out: GREASE,
 * TLS 1.3 suites, x25519 key share (a real public key; an X25519MLKEM768
 * share too when the size leaves room, as current clients send), ALPN h2
 * and http/1.1, padding up to size.  sni NULL leaves server_name out.
 * With a secret the random is the fake-TLS authenticator for unix time
 * ts; without one it is random.  Returns size, or 0 if size does not fit
 * a hello or the RNG failed.
 */
size_t tlshello_build(uint8_t *out, size_t size, const char *sni,
    const uint8_t *secret, uint32_t ts);

#endif
