/*
 * relay.h - the two-way relay between a client and its DC, run by the
 * connection thread after a successful handshake.
 */
#ifndef TELEMT_RELAY_H
#define TELEMT_RELAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>

#include "crypto.h"
#include "stats.h"
#include "tlsrec.h"

#define RELAY_BUF       TLSREC_MAX_OUT
#define RELAY_PENDING   (RELAY_BUF + TLSREC_HEADER) /* max per direction */
/* relay_run()'s results besides 0 (clean end) and -1 (failure). */
#define RELAY_HANDED    1               /* handed over */
#define RELAY_IDLE      2               /* silent both ways for idle_ms */
#define RELAY_EXPIRED   3               /* end_ms passed */
#define RELAY_CAPPED    4               /* a direction reached its cap */
#define RELAY_QUOTA     5               /* the user's quota is used up */
/* Sent to a relaying thread to make it look at *handoff now. */
#define RELAY_WAKE_SIG  SIGURG

/*
 * A relay between two steps of its loop: the bytes each direction has
 * read and transformed (decrypted, re-encrypted, framed) but not yet
 * written, and where each stands with EOF.  What a hand-over carries
 * besides the ciphers, the TLS reader and the sockets.
 */
struct relay_pending {
    const uint8_t *up, *down;           /* client -> DC, DC -> client */
    size_t up_len, down_len;            /* each <= RELAY_PENDING */
    int up_eof, up_done, down_eof, down_done;
};

struct relay {
    int cfd, dfd;                   /* both non-blocking */
    struct ctr *c_dec;              /* client -> proxy */
    struct ctr *c_enc;              /* proxy -> client; NULL = fast mode */
    struct ctr *d_enc;              /* proxy -> DC; NULL = raw (masking) */
    struct ctr *d_dec;              /* DC -> proxy; NULL = fast mode */
    const uint8_t *first;           /* sent to the DC first, as is */
    size_t first_len;               /* (the DC header) */
    uint8_t *early;                 /* client stream bytes read during */
    size_t early_len;               /* the handshake; decrypted in place */
    void *release;                  /* free()d once first and early are */
                                    /* sent (the handshake buffer) */
    int client_eof;                 /* the client half-closed already */
    struct tlsrec_reader *tls;      /* fake TLS: unwrap client records */
                                    /* (state from the handshake) and */
                                    /* wrap DC bytes; NULL = plain */
    uint64_t c2d_bytes, d2c_bytes;  /* out: payload relayed each way */
    /*
     * Hand-over (binary upgrade): when *handoff is set, the loop stops
     * between two steps and calls handoff_fn with its pending state; if
     * that returns 0 the relay returns RELAY_HANDED without touching
     * either socket again, else it goes on (and handoff_fn clears the
     * flag).  RELAY_WAKE_SIG interrupts the wait.  handoff NULL: never.
     */
    atomic_int *handoff;
    int (*handoff_fn)(struct relay *r, const struct relay_pending *p);
    void *handoff_arg;
    const struct relay_pending *resume;     /* in: continue from here */
    /* Limits, 0 for none: nothing read either way for idle_ms; the
     * monotonic time end_ms; payload bytes each way. */
    int idle_ms;
    int64_t end_ms;
    uint64_t max_up, max_down;
    /*
     * The user's limits in the region (lim NULL: none): each read is
     * charged to the quota of slot lim_slot and paid for in its rate
     * bucket (a direction over its rate waits before reading again);
     * with the quota used up the relay ends, RELAY_QUOTA, once what it
     * read is out (so a user goes over by at most one buffer a
     * connection).
     */
    struct stats_region *lim;
    int lim_slot;
    /* Masking: the mask host's EOF ends the relay at once (its caller
     * then closes the client as the mask host closed us), where a DC's
     * is passed on as a half-close. */
    int end_on_dst_eof;
};

/*
 * A connection with nothing in flight for this long gives its buffers and
 * the unused part of its thread stack back to the kernel (idle clients
 * are the common case; see relay_idle()).
 */
#define RELAY_IDLE_MS   1000

/*
 * Relay until both directions reach EOF (each EOF is passed on as a
 * half-close; a TLS alert from the client counts as EOF) or either side
 * fails (a TLS record error is a failure).  Returns 0 on a clean end, -1
 * on a socket error or reset, RELAY_HANDED after a hand-over, or the
 * limit that ended it (RELAY_IDLE, RELAY_EXPIRED, RELAY_CAPPED,
 * RELAY_QUOTA; a capped direction relays exactly its cap).  With
 * r->resume (a relay handed over to us) first and early must be empty
 * and the pending bytes are sent first.  Never closes the fds; always
 * frees r->release.  Needs about 33 KiB of stack for its buffers.
 */
int relay_run(struct relay *r);

#endif
