/*
 * upstream.h - how a worker's outgoing connections (to DCs and MEs) leave
 * the machine: from dc_bind_ipv4 / dc_bind_ipv6 and dc_bind_interface,
 * straight to the target or through one of the SOCKS5 upstreams, picked
 * by weight among those not backed off.
 */
#ifndef TELEMT_UPSTREAM_H
#define TELEMT_UPSTREAM_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

/* What outbound_connect() went by, for the callers that need more. */
struct outbound_via {
    int upstream;                       /* cfg->upstreams index; -1 direct */
    /* Our address as the target sees it through an upstream: the SOCKS5
     * reply's BND address (len 0 if the server did not tell; some send
     * 0.0.0.0:0).  Direct: len 0, it is the socket's own (getsockname). */
    struct sockaddr_storage seen;
    socklen_t seenlen;
    /* On failure, 1 if it was the target's own (it refused, was
     * unreachable, or did not answer a direct connect in time), 0 if it
     * was ours or an upstream's (bind, every upstream backed off, no
     * CONNECT reply in time): only the former says the address is bad. */
    int target_fault;
};

/*
 * Once per worker, before connections: the region the per-upstream
 * counters go to and this worker's row in it (the back-off state starts
 * afresh).  Without it nothing is counted.
 */
void upstream_attach(struct stats_region *stats, int row);
/*
 * Connect to sa (IPv4 or IPv6) before deadline_ms, the way cfg says:
 * directly from the bind address and interface, or through an upstream
 * (another one if the first fails by its own fault, which backs it off).
 * Returns the connected non-blocking fd, or -1; desc receives the target
 * and the upstream used, for logs.  via, if not NULL, is filled on
 * success, and its target_fault on failure.
 */
int outbound_connect(const struct config *cfg, const struct sockaddr *sa,
    socklen_t len, int64_t deadline_ms, char *desc, size_t desclen,
    struct outbound_via *via);
#endif
