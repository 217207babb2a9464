/*
 * proxyproto.h - the PROXY protocol (HAProxy's, versions 1 and 2): the
 * header a load balancer in front of telemt puts before the client's
 * bytes to say who the client is (proxyproto_parse()), and the one telemt
 * puts before a masked client's bytes to the mask host
 * (proxyproto_build()).  Pure functions: no I/O, no allocation, so every
 * byte a hostile sender can put in is testable and fuzzable.
 *
 * The format is HAProxy's public specification (proxy-protocol.txt):
 *   v1  "PROXY TCP4 1.2.3.4 5.6.7.8 1111 443\r\n", at most 107 bytes;
 *       "PROXY UNKNOWN ...\r\n" carries no address.
 *   v2  a 12-byte signature, version/command, family/transport, a 16-bit
 *       length, then the addresses and TLVs (type, 16-bit length, value).
 */
#ifndef TELEMT_PROXYPROTO_H
#define TELEMT_PROXYPROTO_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PROXYPROTO_V1_MAX       107     /* the whole line, CRLF included */
#define PROXYPROTO_V2_SIG_LEN   12
#define PROXYPROTO_V2_FIXED     16      /* signature + 4 bytes */
/*
 * The longest v2 header we take (addresses and TLVs): the spec's largest
 * address block is 216 bytes (AF_UNIX); load balancers add a few small
 * TLVs.  A longer one is refused rather than buffered.
 */
#define PROXYPROTO_V2_MAX_LEN   2048
#define PROXYPROTO_MAX          (PROXYPROTO_V2_FIXED + PROXYPROTO_V2_MAX_LEN)
/* What proxyproto_build() writes at most. */
#define PROXYPROTO_BUILD_MAX    (PROXYPROTO_V2_FIXED + 36)

/* v2's fixed fields (the version/command and family/transport bytes). */
#define PROXYPROTO_V2_VERSION   0x20
#define PROXYPROTO_V2_LOCAL     0x00
#define PROXYPROTO_V2_PROXY     0x01
#define PROXYPROTO_AF_UNSPEC    0x00
#define PROXYPROTO_AF_INET      0x10
#define PROXYPROTO_AF_INET6     0x20
#define PROXYPROTO_AF_UNIX      0x30
#define PROXYPROTO_T_UNSPEC     0x00
#define PROXYPROTO_T_STREAM     0x01
#define PROXYPROTO_T_DGRAM      0x02
#define PROXYPROTO_V2_INET_LEN  12      /* two IPv4 addresses, two ports */
#define PROXYPROTO_V2_INET6_LEN 36
#define PROXYPROTO_V2_UNIX_LEN  216

extern const uint8_t proxyproto_v2_sig[PROXYPROTO_V2_SIG_LEN];

struct proxyproto_hdr {
    int version;                        /* 1 or 2 */
    /* No address to use: v2 LOCAL (the balancer's own health check), v1
     * UNKNOWN, or a v2 family that is not IP; the socket's is the one. */
    int local;
    struct sockaddr_storage src, dst;   /* when !local: AF_INET or AF_INET6 */
};

/*
 * Parse a header at the start of buf[0..len).  Returns its length (> 0;
 * the bytes after it are the client's), 0 if buf is a valid start of a
 * header that is not complete yet (every byte of buf is then part of the
 * header), or -1 with *why set if it is no header or a malformed or too
 * long one.
 */
int proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto_hdr *out, const char **why);

/*
 * Write a version (1 or 2) header saying that src connected to dst into
 * out[0..cap).  Mixed families go as IPv6 (the IPv4 one mapped); a src
 * that is not IP gives v1 UNKNOWN or v2 LOCAL.  Returns the length, or 0
 * if cap is too small or the version unknown.
 */
size_t proxyproto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *out, size_t cap);

#endif
