/*
 * handoff_rec.h - the record a live connection's relay travels in from an
 * old worker to a new one at a binary upgrade (worker/handoff.c), and its
 * check.  The check is pure so that it can be tested on hostile bytes: a
 * compromised old worker could send anything.
 *
 * The record is an in-memory struct between two builds of telemt on the
 * same machine, not a wire format: any change to it or to what it means
 * bumps HANDOFF_VERSION (worker/handoff.h).
 */
#ifndef TELEMT_HANDOFF_REC_H
#define TELEMT_HANDOFF_REC_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "tlsrec.h"

/* Bytes a direction may have read but not yet written: one full record. */
#define HANDOFF_PENDING         (TLSREC_MAX_OUT + TLSREC_HEADER)
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
    /* The client's address: with proxy_protocol the one its balancer's
     * PROXY header named (worker/proxy_in.c), never re-derived from the
     * socket, so the new worker counts and logs the same client. */
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

#define HANDOFF_MAX     (sizeof(struct handoff_rec) + 2 * HANDOFF_PENDING)

/*
 * 1 if rec, n bytes as received, is a record of the given version whose
 * every field is within what the relay can hold; else 0 with *why set.
 */
int handoff_rec_check(const struct handoff_rec *rec, size_t n,
    uint32_t version, const char **why);

#endif
