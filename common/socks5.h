/*
 * socks5.h - the client side of SOCKS5 (RFC 1928) with username/password
 * authentication (RFC 1929), as pure functions over byte buffers: the
 * dialling (worker/upstream.c) does the I/O, the unit tests feed them
 * hostile replies.  Only CONNECT to an IPv4 or IPv6 address is built.
 */
#ifndef TELEMT_SOCKS5_H
#define TELEMT_SOCKS5_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define SOCKS5_VERSION          0x05
#define SOCKS5_AUTH_VERSION     0x01    /* RFC 1929's sub-negotiation */
#define SOCKS5_METHOD_NONE      0x00
#define SOCKS5_METHOD_USERPASS  0x02
#define SOCKS5_METHOD_REFUSED   0xff
#define SOCKS5_CMD_CONNECT      0x01
#define SOCKS5_ATYP_IPV4        0x01
#define SOCKS5_ATYP_NAME        0x03
#define SOCKS5_ATYP_IPV6        0x04
#define SOCKS5_REP_OK           0x00
#define SOCKS5_CRED_MAX         255     /* one length byte each */

/* Largest request we build: the auth one (1 + 1 + 255 + 1 + 255). */
#define SOCKS5_REQ_MAX          513
/* Largest reply: a name of 255 bytes (4 + 1 + 255 + 2). */
#define SOCKS5_REPLY_MAX        262
/* Enough of a CONNECT reply to know its length. */
#define SOCKS5_REPLY_HEAD       5

/* Outcomes of the parsers besides 0 (fine). */
#define SOCKS5_BAD              -1      /* not a SOCKS5 answer */
#define SOCKS5_REFUSED          -2      /* a valid "no" */

/* The greeting: version and the one method we offer.  Returns its size
 * (3); out needs 3 bytes. */
size_t socks5_greeting(uint8_t *out, int with_auth);
/*
 * The server's method choice (2 bytes).  0 if it chose want, SOCKS5_
 * REFUSED if it accepts none of ours (0xff), SOCKS5_BAD otherwise.
 */
int socks5_parse_method(const uint8_t in[2], int want);
/* RFC 1929's request into out (SOCKS5_REQ_MAX bytes); its size, or 0 if
 * user or pass is empty or longer than 255 bytes. */
size_t socks5_auth_request(uint8_t *out, const char *user, const char *pass);
/* RFC 1929's answer (2 bytes): 0, SOCKS5_REFUSED or SOCKS5_BAD. */
int socks5_parse_auth(const uint8_t in[2]);
/* CONNECT to sa (IPv4 or IPv6) into out (22 bytes); its size, or 0 for
 * another family. */
size_t socks5_connect_request(uint8_t *out, const struct sockaddr *sa);
/*
 * From the first SOCKS5_REPLY_HEAD bytes of a CONNECT reply: its whole
 * length (read exactly that much: what follows is the target's stream),
 * or SOCKS5_BAD for a bad version or address type.
 */
int socks5_reply_length(const uint8_t head[SOCKS5_REPLY_HEAD]);
/*
 * A whole CONNECT reply of len bytes.  0 with the address the server
 * connected from in *bound (family 0 if it named a host or said
 * 0.0.0.0:0, as some servers do); SOCKS5_REFUSED with its code in *rep;
 * SOCKS5_BAD if malformed.
 */
int socks5_parse_reply(const uint8_t *in, size_t len, int *rep,
    struct sockaddr_storage *bound, socklen_t *boundlen);
/* What a reply code means, for logs ("connection refused"). */
const char *socks5_reply_str(int rep);
/* 1 if rep says the server could not reach the target (its own network,
 * host or port), which is no fault of the server's. */
int socks5_rep_is_target(int rep);

#endif
