/*
 * mask.c - relays refused clients to the mask host, byte for byte.
 *
 * Nothing of telemt may show: the mask host gets exactly the bytes the
 * client sent (replayed from the handshake buffer), the client gets
 * exactly the mask host's bytes, and half-closes pass through both ways
 * as the relay does for DCs.
 */
#include "mask.h"

#include <sys/socket.h>

#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "relay.h"

int
mask_relay(struct conn *c, struct relay *r)
{
    int rc;

    conn_handoff_setup(c, r);
    rc = relay_run(r);
    /* The mask host reset us (or we failed): the client must see a reset
     * too, not the clean close a prober could tell apart. */
    if (rc < 0)
        net_reset_on_close(c->cfd);
    return rc;
}

void
mask_run(struct conn *c, int client_eof)
{
    const struct config *cfg = c->cfg;
    struct relay r = { 0 };
    char desc[300];
    int rc;

    c->dfd = net_dial(cfg->mask_host, cfg->mask_port,
        cfg->prefer_ipv6 ? AF_INET6 : AF_INET, cfg->mask_connect_timeout,
        desc, sizeof(desc));
    if (c->dfd < 0) {
        STATS_ADD(c->w->stats, mask_connect_fail, 1);
        log_warnx("%s: mask host %s unreachable; resetting the client",
            c->peer, desc);
        /* An RST is what a client of a dead server gets. */
        net_reset_on_close(c->cfd);
        return;
    }
    STATS_ADD(c->w->stats, mask_relayed, 1);
    r.cfd = c->cfd;
    r.dfd = c->dfd;
    r.first = c->hs;
    r.first_len = c->hslen;
    r.release = c->hs;
    c->hs = NULL;
    r.client_eof = client_eof;
    rc = mask_relay(c, &r);
    log_debug("%s: masked to %s, %zu bytes replayed, %llu up, %llu down%s",
        c->peer, desc, c->hslen, (unsigned long long)r.c2d_bytes,
        (unsigned long long)r.d2c_bytes, rc == RELAY_HANDED ?
        " (handed over)" : rc == 0 ? "" : " (reset)");
}
