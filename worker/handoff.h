/*
 * handoff.h - live connections move from an old worker to a new one at a
 * binary upgrade (SIGUSR2): both sockets over SCM_RIGHTS and the relay's
 * whole state in one versioned record, so the client and the DC see only
 * a pause.
 *
 * The record is an in-memory struct between two builds of telemt on the
 * same machine, not a wire format: any change to it or to what it means
 * bumps HANDOFF_VERSION, and masters whose versions differ do not hand
 * over at all (the old one drains instead).
 */
#ifndef TELEMT_HANDOFF_H
#define TELEMT_HANDOFF_H

#include <sys/socket.h>

#include <stdint.h>

#include "proto.h"
#include "relay.h"
#include "worker.h"

#ifndef HANDOFF_VERSION
#define HANDOFF_VERSION         1
#endif
#define HANDOFF_MAGIC           0x314d4854u     /* "THM1" */
#define HANDOFF_NAME_LEN        64

enum handoff_kind {
    HANDOFF_DC = 1,                     /* an authenticated client */
    HANDOFF_MASK = 2,                   /* a refused one, masked */
};

/* Which of a relay's parts a record carries. */
#define HANDOFF_C_DEC           0x01    /* client -> proxy cipher */
#define HANDOFF_C_ENC           0x02    /* proxy -> client (not fast mode) */
#define HANDOFF_D_ENC           0x04    /* proxy -> DC */
#define HANDOFF_D_DEC           0x08    /* DC -> proxy (not fast mode) */
#define HANDOFF_TLS             0x10    /* fake TLS record reader */

struct handoff_ctr {
    uint8_t key[32], iv[16];
    uint64_t pos;
};

struct handoff_rec {
    uint32_t magic, version;
    uint32_t size;                      /* with the pending bytes after it */
    uint32_t kind;                      /* enum handoff_kind */
    uint32_t parts;                     /* HANDOFF_* bits */
    int32_t dc;
    char user[HANDOFF_NAME_LEN];        /* NUL-terminated; "" for MASK */
    uint8_t secret[SECRET_LEN];         /* the one the client proved */
    struct sockaddr_storage peer;
    struct handoff_ctr c_dec, c_enc, d_enc, d_dec;
    uint8_t tls_hdr[5];
    uint8_t tls_type;
    uint32_t tls_hdr_have, tls_left;
    uint32_t up_len, down_len;          /* pending bytes, up first */
    uint8_t up_eof, up_done, down_eof, down_done;
    uint64_t c2d_bytes, d2c_bytes;      /* relayed before, for the log */
    uint8_t pending[];
};

#define HANDOFF_MAX     (sizeof(struct handoff_rec) + 2 * RELAY_PENDING)

/*
 * Old worker, main thread, on the master's CTL_HANDOFF: from now on every
 * relaying connection stops between two steps and moves to the new
 * worker behind fd (taken over; -1: none, the connections drain here).
 * Returns how many connections were asked.
 */
int handoff_begin(struct worker *w, int fd);
/*
 * The relay's hand-over callback (r->handoff_arg is the struct conn):
 * send the record and both sockets.  0 once sent; -1 (flag cleared,
 * counted, the relay goes on here) if the new worker cannot take it.
 */
int handoff_send(struct relay *r, const struct relay_pending *p);
/*
 * New worker, main thread: take every record waiting on w->recv_fd and
 * resume each connection on a thread of its own.  A record that does not
 * check out closes both its sockets, with a log line.
 */
void handoff_receive(struct worker *w);

#endif
