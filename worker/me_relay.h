/*
 * me_relay.h - a client relayed through the ME pool (docs/protocol.md
 * 8.5, 8.6), run by the connection thread after the handshake in place
 * of relay_run(): the client's packets go out as RPC_PROXY_REQ, what the
 * ME answers comes back re-framed for the client's transport.
 */
#ifndef TELEMT_ME_RELAY_H
#define TELEMT_ME_RELAY_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "me_pool.h"
#include "stats.h"
#include "tlsrec.h"

/* me_relay_run()'s results besides relay.h's RELAY_* and 0 / -1. */
#define ME_RELAY_CLOSED     10          /* the ME closed the client */
#define ME_RELAY_OVERFLOW   11          /* its queue stayed full */
#define ME_RELAY_LOST       12          /* no ME connection to send on */
#define ME_RELAY_BAD_FRAME  13          /* the client's framing broke */

struct me_relay {
    int cfd;                            /* non-blocking */
    struct ctr *c_dec, *c_enc;          /* both set: no fast mode here */
    struct tlsrec_reader *tls;          /* fake TLS, or NULL */
    uint32_t tag;                       /* the client's transport */
    uint8_t *early;                     /* client bytes read during the */
    size_t early_len;                   /* handshake, still encrypted */
    int client_eof;
    struct me_client *mc;
    int efd;                            /* mc's eventfd */
    const struct sockaddr *client;      /* its address */
    const struct sockaddr *proxy;       /* ours as it sees it */
    const uint8_t *ad_tag;              /* 16 bytes, or NULL */
    int send_wait_ms;                   /* for a live ME connection */
    int idle_ms;                        /* 0: none */
    size_t queue_cap;                   /* me_client_queue_bytes */
    int slow_ms;                        /* me_slow_client_timeout */
    struct stats_region *stats;
    int lim_slot;                       /* the user's slot */
    uint64_t c2d_bytes, d2c_bytes;      /* out: packet bytes each way */
};

/*
 * Relay until the client or the ME closes, a limit ends it, or it fails.
 * Returns 0 (client EOF), -1 (socket error), RELAY_IDLE, RELAY_QUOTA or
 * one of ME_RELAY_*.  Never closes cfd or efd.
 */
int me_relay_run(struct me_relay *r);

#endif
