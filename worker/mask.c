/*
 * mask.c - relays refused clients to the mask host, byte for byte.
 *
 * Nothing of telemt may show: the mask host gets exactly the bytes the
 * client sent (replayed from the handshake buffer), the client gets
 * exactly the mask host's bytes.  A client's half-close passes through;
 * the mask host's close or reset is mirrored at once (a real server
 * closes, it does not keep reading).  Masked connections have their own
 * limits (mask_*: idle, lifetime, bytes each way, a cap per worker apart
 * from max_connections), so probers can never hold real clients' slots.
 * With mask_proxy_protocol a PROXY header naming the client goes first:
 * the only bytes of ours the mask host sees, and no prober's to see.
 */
#include "mask.h"

#include <sys/socket.h>

#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "proxyproto.h"
#include "relay.h"
#include "util.h"

int
mask_take_slot(struct conn *c)
{
    struct worker *w = c->w;

    if (atomic_fetch_add(&w->masked, 1) >= c->cfg->mask_max_connections) {
        atomic_fetch_sub(&w->masked, 1);
        return 0;
    }
    c->masked = 1;
    return 1;
}

int
mask_relay(struct conn *c, struct relay *r)
{
    const struct config *cfg = c->cfg;
    struct stats_region *s = c->w->stats;
    int rc;

    conn_handoff_setup(c, r);
    r->idle_ms = cfg->mask_idle_timeout * 1000;
    r->end_ms = mono_ms() + (int64_t)cfg->mask_max_lifetime * 1000;
    r->max_up = (uint64_t)cfg->mask_max_bytes_up;
    r->max_down = (uint64_t)cfg->mask_max_bytes_down;
    r->end_on_dst_eof = 1;
    rc = relay_run(r);
    switch (rc) {
    case RELAY_IDLE:    STATS_ADD(s, mask_idle_closed, 1); break;
    case RELAY_EXPIRED: STATS_ADD(s, mask_expired, 1); break;
    case RELAY_CAPPED:  STATS_ADD(s, mask_capped, 1); break;
    case -1:
        /* The mask host reset us (or we failed): the client must see a
         * reset too, not the clean close a prober could tell apart. */
        net_reset_on_close(c->cfd);
        break;
    }
    return rc;
}

static const char *
mask_end_name(int rc)
{
    switch (rc) {
    case 0:             return "";
    case RELAY_HANDED:  return " (handed over)";
    case RELAY_IDLE:    return " (mask_idle_timeout)";
    case RELAY_EXPIRED: return " (mask_max_lifetime)";
    case RELAY_CAPPED:  return " (mask_max_bytes)";
    default:            return " (reset)";
    }
}

/*
 * mask_proxy_protocol: tell the mask host who the client is, before any
 * of its bytes, so that its logs and limits see the client and not us.
 * The client is c->peer_addr (the one a PROXY header in named, if any);
 * the address it connected to is the header's, else our socket's.
 */
static int
mask_send_proxy(struct conn *c)
{
    struct sockaddr_storage dst;
    socklen_t len = sizeof(dst);
    uint8_t hdr[PROXYPROTO_BUILD_MAX];
    size_t n;

    if (c->pp_dst.ss_family != 0)
        memcpy(&dst, &c->pp_dst, sizeof(dst));
    else if (getsockname(c->cfd, (struct sockaddr *)&dst, &len) != 0)
        memset(&dst, 0, sizeof(dst));   /* then v1 UNKNOWN / v2 LOCAL */
    n = proxyproto_build(c->cfg->mask_proxy_protocol,
        (const struct sockaddr *)&c->peer_addr,
        (const struct sockaddr *)&dst, hdr, sizeof(hdr));
    if (n == 0)
        return -1;
    return net_write_all(c->dfd, hdr, n,
        mono_ms() + (int64_t)c->cfg->mask_connect_timeout * 1000);
}

void
mask_run(struct conn *c, int client_eof)
{
    const struct config *cfg = c->cfg;
    struct relay r = { 0 };
    char desc[300];
    int rc;

    if (!mask_take_slot(c)) {
        STATS_ADD(c->w->stats, mask_refused_cap, 1);
        log_debug("%s: mask_max_connections (%d) in use; resetting the "
            "client", c->peer, cfg->mask_max_connections);
        net_reset_on_close(c->cfd);
        return;
    }
    c->dfd = net_dial(cfg->mask_host, cfg->mask_port,
        cfg->prefer_ipv6 ? AF_INET6 : AF_INET, cfg->mask_connect_timeout,
        desc, sizeof(desc));
    if (c->dfd < 0) {
        STATS_ADD(c->w->stats, mask_connect_fail, 1);
        conn_log_limited(c->w, &c->w->log_mask, "%s: mask host %s "
            "unreachable; resetting the client", c->peer, desc);
        /* An RST is what a client of a dead server gets. */
        net_reset_on_close(c->cfd);
        return;
    }
    if (cfg->mask_proxy_protocol != 0 && mask_send_proxy(c) != 0) {
        STATS_ADD(c->w->stats, mask_proxy_failed, 1);
        conn_log_limited(c->w, &c->w->log_mask, "%s: cannot send the PROXY "
            "header to mask host %s; resetting the client", c->peer, desc);
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
        (unsigned long long)r.d2c_bytes, mask_end_name(rc));
}
