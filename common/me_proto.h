/*
 * me_proto.h - the middle-end proxy (ME) RPC protocol, docs/protocol.md 8:
 * frames, CRC32 and CRC32C, the nonce and RPC_HANDSHAKE payloads, the
 * AES-256-CBC key derivation and streams, RPC_PROXY_REQ and the ME's
 * answers, and the proxy-multi.conf list.  Pure: no I/O, no clock; the
 * worker's pool (worker/me_pool.c) and the tests' fake ME share it.
 */
#ifndef TELEMT_ME_PROTO_H
#define TELEMT_ME_PROTO_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/* RPC types, as uint32 (written LE on the wire). */
#define ME_RPC_NONCE            0x7acb87aau
#define ME_RPC_HANDSHAKE        0x7682eef5u
#define ME_RPC_HANDSHAKE_ERROR  0x6a27bedau
#define ME_RPC_PROXY_REQ        0x36cef1eeu
#define ME_RPC_PROXY_ANS        0x4403da0du
#define ME_RPC_SIMPLE_ACK       0x3bac409bu
#define ME_RPC_CLOSE_EXT        0x5eb634a2u
#define ME_RPC_CLOSE_CONN       0x1fcf425du
#define ME_RPC_PING             0x5730a2dfu
#define ME_RPC_PONG             0x8430eaa7u
#define ME_TL_PROXY_TAG         0xdb1e26aeu

#define ME_CRYPTO_AES           1       /* the nonce's crypto schema */
#define ME_HS_FLAG_CRC32C       0x800u  /* RPC_HANDSHAKE flags */

/* RPC_PROXY_REQ flags (docs/protocol.md 8.5). */
#define ME_FLAG_NOT_ENCRYPTED   0x2u
#define ME_FLAG_HAS_AD_TAG      0x8u
#define ME_FLAG_MAGIC           0x1000u
#define ME_FLAG_EXTMODE2        0x20000u
#define ME_FLAG_PAD             0x8000000u
#define ME_FLAG_INTERMEDIATE    0x20000000u
#define ME_FLAG_ABRIDGED        0x40000000u
#define ME_FLAG_QUICKACK        0x80000000u

/* RPC_PROXY_ANS flags. */
#define ME_ANS_FLUSH            0x8u

#define ME_SEQ_NONCE            (-2)    /* the first frame each way */
#define ME_SEQ_HANDSHAKE        (-1)    /* the second */
#define ME_FRAME_OVERHEAD       12      /* len + seq + crc */
#define ME_FRAME_MIN            16      /* a frame with a 4-byte type */
#define ME_FRAME_MAX            (1 << 24)
#define ME_FILLER               4u      /* a "len" of 4: skip 4 bytes */
#define ME_NONCE_LEN            32      /* the RPC_NONCE payload */
#define ME_HANDSHAKE_LEN        32      /* the RPC_HANDSHAKE payload */
#define ME_PID_LEN              12
#define ME_SECRET_MIN           32      /* proxy secret bounds */
#define ME_SECRET_MAX           256
#define ME_AD_TAG_LEN           16
#define ME_CBC_BLOCK            16
#define ME_CLOCK_SKEW_MAX       30      /* seconds, nonce ts vs ours */
/* RPC_PROXY_REQ payload bytes before the packet: 56 without a tag, 84
 * with one. */
#define ME_PROXY_REQ_HDR        56
#define ME_PROXY_REQ_TAG_HDR    84

/* Little-endian words, as every ME field is written. */
static inline void
me_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t
me_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
        (uint32_t)p[3] << 24;
}

/* CRC32 (IEEE, as zlib's crc32(0, p, n)) and CRC32C (Castagnoli). */
uint32_t me_crc32(const uint8_t *p, size_t n);
uint32_t me_crc32c(const uint8_t *p, size_t n);

/*
 * Write one frame [len][seq][payload][crc] to out (room for n + 12
 * bytes) with CRC32C if crc32c, else CRC32; returns its length, n + 12.
 * n must be a multiple of 4.
 */
size_t me_frame_build(uint8_t *out, int32_t seq, const uint8_t *payload,
    size_t n, int crc32c);
/* Bytes of filler (ME_FILLER words) that bring len to a multiple of 16. */
size_t me_pad_len(size_t len);
/* Write k bytes of filler words (k a multiple of 4). */
void me_pad_fill(uint8_t *out, size_t k);

/*
 * Frame reader over a decrypted byte stream: feed it what arrives; it
 * skips filler words, checks len, seq (counting from the seq it was
 * started at) and the CRC, and hands out one frame's payload at a time.
 */
struct me_reader {
    uint8_t *buf;                       /* owned, grows up to one frame */
    size_t cap, have;
    size_t used;                        /* the frame handed out last: */
                                        /* dropped at the next call */
    int32_t seq;                        /* the seq the next frame must have */
    int crc32c;                         /* set after the handshake */
};

enum me_read_status {
    ME_READ_MORE = 0,                   /* need more bytes */
    ME_READ_FRAME = 1,                  /* *payload, *len: one frame */
    ME_READ_BAD_LEN = -1,               /* len < 16, > ME_FRAME_MAX, %4 */
    ME_READ_BAD_SEQ = -2,
    ME_READ_BAD_CRC = -3,
    ME_READ_NOMEM = -4
};

void me_reader_init(struct me_reader *r, int32_t first_seq);
void me_reader_free(struct me_reader *r);
/* Append n bytes; 0, or ME_READ_NOMEM. */
int me_reader_feed(struct me_reader *r, const uint8_t *p, size_t n);
/*
 * The next complete frame: ME_READ_FRAME with *payload pointing into the
 * reader (valid until the next feed or next call) and *len its length;
 * ME_READ_MORE if none is complete; an error if the stream is broken (the
 * reader must not be used again then).
 */
enum me_read_status me_reader_next(struct me_reader *r,
    const uint8_t **payload, size_t *len);
/* Name of a status for logs ("bad_crc", ...). */
const char *me_read_status_name(enum me_read_status s);

/* RPC_NONCE payload (ME_NONCE_LEN bytes), both ways. */
void me_nonce_build(uint8_t out[ME_NONCE_LEN], const uint8_t key_select[4],
    uint32_t ts, const uint8_t nonce[16]);
/* 0 if p is an RPC_NONCE with schema AES; fills the other fields. */
int me_nonce_parse(const uint8_t *p, size_t n, uint8_t key_select[4],
    uint32_t *ts, uint8_t nonce[16]);

/* RPC_HANDSHAKE payload (ME_HANDSHAKE_LEN bytes). */
void me_handshake_build(uint8_t out[ME_HANDSHAKE_LEN], uint32_t flags,
    const uint8_t sender_pid[ME_PID_LEN], const uint8_t peer_pid[ME_PID_LEN]);
/*
 * The ME's answer: 0 for an RPC_HANDSHAKE (flags, its sender pid and the
 * peer pid it names filled), 1 for an RPC_HANDSHAKE_ERROR (*err its
 * code), -1 for anything else or a short payload.
 */
int me_handshake_parse(const uint8_t *p, size_t n, uint32_t *flags,
    uint8_t sender_pid[ME_PID_LEN], uint8_t peer_pid[ME_PID_LEN],
    int32_t *err);

/*
 * Both ends of one ME TCP connection, as the KDF takes them: v6 0 with
 * the IPv4 addresses in network order, or v6 1 with the IPv6 ones; ports
 * in host order.  clt is the proxy's side (behind a 1:1 NAT its public
 * address), srv the ME's.
 */
struct me_addrs {
    int v6;
    uint8_t clt_ip4[4], srv_ip4[4];
    uint8_t clt_ip6[16], srv_ip6[16];
    uint16_t clt_port, srv_port;
};

/*
 * The KDF of docs/protocol.md 8.4 for purpose "CLIENT" (client 1: what
 * the proxy writes) or "SERVER" (client 0: what it reads).  The string
 * is at most 16+16+4+4+2+6+4+2+256+16+32+16 bytes.
 */
void me_kdf(const uint8_t nonce_srv[16], const uint8_t nonce_clt[16],
    uint32_t clt_ts, const struct me_addrs *a, int client,
    const uint8_t *secret, size_t secret_len, uint8_t key[32],
    uint8_t iv[16]);
/* The KDF input string itself (for the vectors); returns its length. */
size_t me_kdf_string(uint8_t *out, const uint8_t nonce_srv[16],
    const uint8_t nonce_clt[16], uint32_t clt_ts, const struct me_addrs *a,
    int client, const uint8_t *secret, size_t secret_len);
/* Fill a from a connected socket's two addresses (same family). */
int me_addrs_from(struct me_addrs *a, const struct sockaddr *local,
    const struct sockaddr *remote);

/* One direction of AES-256-CBC, chained across calls. */
struct me_cbc;
struct me_cbc *me_cbc_new(const uint8_t key[32], const uint8_t iv[16],
    int encrypt);
/* n a multiple of 16; in may equal out.  0, or -1 (bad n or libcrypto). */
int me_cbc_apply(struct me_cbc *c, const uint8_t *in, uint8_t *out,
    size_t n);
void me_cbc_free(struct me_cbc *c);

/*
 * The flags of one RPC_PROXY_REQ for a client of transport tag (proto.h
 * TAG_*), for a packet whose first 8 bytes are all zero (unencrypted
 * MTProto) or not, with or without a quick-ack request and an ad tag.
 */
uint32_t me_proxy_flags(uint32_t tag, int quickack, int has_tag,
    const uint8_t *pkt, size_t n);
/*
 * RPC_PROXY_REQ payload into out (room for ME_PROXY_REQ_TAG_HDR + n):
 * client and proxy are the client's address and the proxy's address as
 * the client sees it (IPv4 or IPv6); ad_tag NULL for none (flags must
 * agree).  Returns the payload length (a multiple of 4 if n is).
 */
size_t me_proxy_req_build(uint8_t *out, uint32_t flags, uint64_t conn_id,
    const struct sockaddr *client, const struct sockaddr *proxy,
    const uint8_t *ad_tag, const uint8_t *pkt, size_t n);

/* A message from the ME, parsed (pointers into the payload). */
struct me_msg {
    uint32_t type;                      /* ME_RPC_* */
    uint64_t conn_id;                   /* PROXY_ANS, SIMPLE_ACK, CLOSE_* */
    uint32_t flags;                     /* PROXY_ANS */
    const uint8_t *data;                /* PROXY_ANS */
    size_t len;
    uint8_t confirm[4];                 /* SIMPLE_ACK, as on the wire */
    uint64_t ping_id;                   /* PING, PONG */
};
/* 0, or -1 for an unknown type or a payload too short for its type. */
int me_msg_parse(const uint8_t *p, size_t n, struct me_msg *m);
/* 12-byte payloads the proxy sends: type || 8-byte id (PONG, CLOSE_*,
 * PING).  Returns 12. */
size_t me_ctl_build(uint8_t out[12], uint32_t type, uint64_t id);

/*
 * proxy-multi.conf (docs/protocol.md 8.1): proxy_for lines grouped into
 * clusters by dc, the default cluster, and the statements the official
 * parser accepts besides (proxy, timeout, min/max_connections: read and
 * ignored).  Host names are refused: every address must be a literal.
 */
#define ME_LIST_MAX_ENTRIES     1024
#define ME_LIST_MAX_TEXT        (1 << 20)

struct me_entry {
    int dc;                             /* signed int16 range */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct me_list {
    int default_dc;                     /* "default N;", else 2 */
    int n;
    struct me_entry *e;                 /* n entries, file order */
};

/*
 * Parse len bytes of text into *out (which the caller frees with
 * me_list_free()).  0, or -1 with "line N: what is wrong" in err; a list
 * with no proxy_for entry is an error.  v6 says which family the
 * addresses must be.
 */
int me_list_parse(const char *text, size_t len, int v6, struct me_list *out,
    char *err, size_t errlen);
void me_list_free(struct me_list *l);
/* 1 if both lists have the same entries in the same order and default. */
int me_list_equal(const struct me_list *a, const struct me_list *b);

#endif
