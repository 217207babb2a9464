/*
 * dc.c - picks the addresses for a client's DC index and dials them.
 *
 * Lookup order: an override for the exact signed index; for a media
 * index (negative), the override of the positive one; the built-in table
 * for 1..5 (IPv4 and IPv6) and 203; anything else goes to default_dc.
 * Host names in overrides are resolved here, in the connection thread.
 * The addresses are tried one by one in the order dc_health.c gives them
 * (recently failed ones last, then family, then speed), and each
 * connect's result goes back into the health table, unless it failed
 * by no fault of the address (an upstream, a bind).
 */
#include "dc.h"

#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc_health.h"
#include "dc_table.h"
#include "log.h"
#include "net.h"
#include "upstream.h"
#include "util.h"

#define DC_MAX_CANDIDATES       32

static const struct config_dc_override *
dc_override(const struct config *cfg, int dc)
{
    for (int i = 0; i < cfg->ndc_overrides; i++)
        if (cfg->dc_overrides[i].dc == dc)
            return &cfg->dc_overrides[i];
    return NULL;
}

/* The address strings for dc; 0 if the index is unknown. */
static int
dc_lookup(const struct config *cfg, int dc, const char *const **addrs)
{
    const struct config_dc_override *o = dc_override(cfg, dc);
    int a = dc < 0 ? -dc : dc;

    if (o == NULL && dc < 0)
        o = dc_override(cfg, a);
    if (o != NULL) {
        *addrs = (const char *const *)o->addrs;
        return o->naddrs;
    }
    return dc_builtin(a, addrs);
}

/* Append the socket addresses of "host:port" to out[n..max). */
static int
dc_expand(const char *spec, struct net_addr *out, int n, int max)
{
    char host[256];
    int port, m;

    if (net_split_hostport(spec, host, sizeof(host), &port) != 0) {
        log_warnx("bad DC address '%s'", spec);
        return n;
    }
    m = net_resolve(host, port, out, n, max);
    if (m == n)
        log_warnx("cannot resolve DC host '%s'", host);
    return m;
}

int
dc_candidates(const struct config *cfg, int dc, struct net_addr *out,
    int max)
{
    const char *const *addrs;
    int naddrs, n = 0;

    naddrs = dc_lookup(cfg, dc, &addrs);
    if (naddrs == 0) {
        log_debug("unknown DC %d, using default_dc %d", dc, cfg->default_dc);
        naddrs = dc_lookup(cfg, cfg->default_dc, &addrs);
    }
    for (int i = 0; i < naddrs; i++)
        n = dc_expand(addrs[i], out, n, max);
    return n;
}

int
dc_dial(const struct config *cfg, int dc, char *desc, size_t desclen)
{
    struct dc_health_cand cand[DC_MAX_CANDIDATES];
    struct net_addr addrs[DC_MAX_CANDIDATES];
    struct stats_region *s = dc_health_region();
    int64_t backoff = (int64_t)cfg->dc_retry_after * 1000;
    int n, down;

    n = dc_candidates(cfg, dc, addrs, DC_MAX_CANDIDATES);
    for (int i = 0; i < n; i++)
        cand[i].a = &addrs[i];
    down = dc_health_prepare(cand, n, dc, cfg->prefer_ipv6 ? AF_INET6 :
        AF_INET, mono_ms(), backoff, cfg->dc_probe_interval > 0);
    if (s != NULL && down > 0 && down < n)
        STATS_ADD(s, dc_addr_demoted, 1);
    snprintf(desc, desclen, "DC %d (no address)", dc);
    for (int i = 0; i < n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&cand[i].a->ss;
        struct outbound_via via;
        int64_t t0 = mono_us();
        int fd, err;

        fd = outbound_connect(cfg, sa, cand[i].a->len,
            mono_ms() + (int64_t)cfg->dc_connect_timeout * 1000, desc,
            desclen, &via);
        err = fd == NET_TIMEOUT ? ETIMEDOUT : fd < 0 ? errno : 0;
        /* An upstream down, a bind refused: the address is not to blame
         * (else one upstream outage would mark every DC address down). */
        if (fd >= 0 || via.target_fault)
            dc_health_record(cand[i].slot, sa, fd >= 0, mono_us() - t0,
                err, mono_ms(), backoff, 0);
        if (fd >= 0)
            return fd;
        log_debug("DC %d address %s: %s", dc, desc, strerror(err));
    }
    return -1;
}
