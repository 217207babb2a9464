/*
 * dc.c - picks the addresses for a client's DC index and dials them.
 *
 * Lookup order: an override for the exact signed index; for a media
 * index (negative), the override of the positive one; the built-in table
 * for 1..5 (IPv4 and IPv6) and 203; anything else goes to default_dc.
 * Host names in overrides are resolved here, in the connection thread.
 */
#include "dc.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "upstream.h"
#include "util.h"

#define DC_MAX_CANDIDATES       32

/* docs/protocol.md 3.3: Telegram's production DCs, port 443. */
static const char *const dc_builtin[DC_MAX_BUILTIN + 1][2] = {
    { NULL, NULL },
    { "149.154.175.50:443", "[2001:b28:f23d:f001::a]:443" },
    { "149.154.167.51:443", "[2001:67c:04e8:f002::a]:443" },
    { "149.154.175.100:443", "[2001:b28:f23d:f003::a]:443" },
    { "149.154.167.91:443", "[2001:67c:04e8:f004::a]:443" },
    { "149.154.171.5:443", "[2001:b28:f23f:f005::a]:443" },
};
static const char *const dc_203[] = { "91.105.192.100:443" };

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
    if (a >= 1 && a <= DC_MAX_BUILTIN) {
        *addrs = dc_builtin[a];
        return 2;
    }
    if (a == DC_SPECIAL_203) {
        *addrs = dc_203;
        return 1;
    }
    return 0;
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
dc_dial(const struct config *cfg, int dc, char *desc, size_t desclen)
{
    struct net_addr cand[DC_MAX_CANDIDATES];
    const char *const *addrs;
    int naddrs, n = 0;

    naddrs = dc_lookup(cfg, dc, &addrs);
    if (naddrs == 0) {
        log_debug("unknown DC %d, using default_dc %d", dc, cfg->default_dc);
        naddrs = dc_lookup(cfg, cfg->default_dc, &addrs);
    }
    for (int i = 0; i < naddrs; i++)
        n = dc_expand(addrs[i], cand, n, DC_MAX_CANDIDATES);
    snprintf(desc, desclen, "DC %d (no address)", dc);
    net_order(cand, n, cfg->prefer_ipv6 ? AF_INET6 : AF_INET);
    for (int i = 0; i < n; i++) {
        int fd = outbound_connect(cfg, (struct sockaddr *)&cand[i].ss,
            cand[i].len, mono_ms() + (int64_t)cfg->dc_connect_timeout * 1000,
            desc, desclen, NULL);

        if (fd >= 0)
            return fd;
    }
    return -1;
}
