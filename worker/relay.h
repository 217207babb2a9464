/*
 * relay.h - the two-way relay between a client and its DC, run by the
 * connection thread after a successful handshake.
 */
#ifndef TELEMT_RELAY_H
#define TELEMT_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "tlsrec.h"

#define RELAY_BUF       TLSREC_MAX_OUT

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
 * fails (a TLS record error is a failure).  Returns 0 on a clean end, -1 on a
 * socket error or reset.  Never closes the fds; always frees r->release.
 * Needs about 33 KiB of stack for its buffers.
 */
int relay_run(struct relay *r);

#endif
