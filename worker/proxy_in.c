/*
 * proxy_in.c - reads the PROXY protocol header a load balancer sends
 * before its client's bytes (see proxy_in.h), and makes the client it
 * names the connection's peer for everything after: the per-address
 * guard, the users' address limits, the logs.
 *
 * The header is read without reading past it: each turn peeks at what
 * has arrived, and takes from the socket only the bytes the parser says
 * are header (all of them while it is incomplete, exactly its length
 * once it is whole).  The client's first bytes are then still the
 * socket's, for the handshake to read as if no balancer were there.
 */
#include "proxy_in.h"

#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "log.h"
#include "net.h"
#include "proxyproto.h"
#include "util.h"

/* 1 if c's socket peer lies in proxy_protocol_trusted. */
static int
proxy_in_trusted(const struct conn *c)
{
    const struct config *cfg = c->cfg;

    /* Parsed again for each connection: at most 64 short strings, which
     * the loader already checked; cheaper than the thread c runs on. */
    for (int i = 0; i < cfg->nproxy_protocol_trusted; i++) {
        struct net_cidr net;

        if (net_parse_cidr(cfg->proxy_protocol_trusted[i], &net) == 0 &&
            net_cidr_match(&net, (const struct sockaddr *)&c->peer_addr))
            return 1;
    }
    return 0;
}

/*
 * Wait for c's socket to be readable before the deadline: 0, or the
 * reason it will not be.
 */
static const char *
proxy_in_wait(const struct conn *c, int64_t deadline)
{
    struct pollfd pfd = { .fd = c->cfd, .events = POLLIN };

    for (;;) {
        int64_t left = deadline - mono_ms();
        int r;

        if (left <= 0)
            return "handshake_timeout passed";
        /* handshake_timeout bounds left well below INT_MAX ms. */
        r = poll(&pfd, 1, (int)left);
        if (r > 0)
            return NULL;
        if (r == -1 && errno != EINTR)
            return "poll failed";
    }
}

/* Take exactly n bytes the last peek saw from the socket. */
static int
proxy_in_take(int fd, uint8_t *buf, size_t n)
{
    ssize_t got;

    do
        got = recv(fd, buf, n, 0);
    while (got == -1 && errno == EINTR);
    return got == (ssize_t)n ? 0 : -1;
}

/*
 * Read the header into *h: NULL, or why there is none (the balancer
 * closed, a malformed or too long header, the deadline).
 */
static const char *
proxy_in_read(struct conn *c, struct proxyproto_hdr *h)
{
    uint8_t buf[PROXYPROTO_MAX];
    int64_t deadline = c->started_ms +
        (int64_t)c->cfg->handshake_timeout * 1000;
    size_t have = 0;
    const char *why;

    for (;;) {
        ssize_t n;
        int r;

        if ((why = proxy_in_wait(c, deadline)) != NULL)
            return why;
        do
            n = recv(c->cfd, buf + have, sizeof(buf) - have, MSG_PEEK);
        while (n == -1 && errno == EINTR);
        if (n == 0)
            return "closed before the end of the header";
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return "read failed";
        }
        r = proxyproto_parse(buf, have + (size_t)n, h, &why);
        if (r < 0)
            return why;
        if (r > 0) {
            /* Only the header's bytes: the client's follow it. */
            return proxy_in_take(c->cfd, buf + have, (size_t)r - have) == 0 ?
                NULL : "read failed";
        }
        /* Incomplete: every byte seen so far is header. */
        if (proxy_in_take(c->cfd, buf + have, (size_t)n) != 0)
            return "read failed";
        have += (size_t)n;
        if (have == sizeof(buf))
            return "header too long";
    }
}

int
proxy_in(struct conn *c)
{
    struct worker *w = c->w;
    struct proxyproto_hdr h;
    const char *why;
    char lb[sizeof(c->peer)];

    if (!c->cfg->proxy_protocol)
        return 0;
    if (!proxy_in_trusted(c)) {
        STATS_ADD(w->stats, proxy_untrusted, 1);
        conn_log_limited(w, &w->log_proxy, "%s: closed: proxy_protocol is "
            "on and the address is not in proxy_protocol_trusted", c->peer);
        return -1;
    }
    if ((why = proxy_in_read(c, &h)) != NULL) {
        STATS_ADD(w->stats, proxy_bad_header, 1);
        conn_log_limited(w, &w->log_proxy, "%s: closed: no valid PROXY "
            "header: %s", c->peer, why);
        return -1;
    }
    if (h.local) {
        STATS_ADD(w->stats, proxy_local, 1);
        log_debug("%s: PROXY v%d header without a client address: the "
            "balancer's own is used", c->peer, h.version);
        return 0;
    }
    STATS_ADD(w->stats, proxy_ok, 1);
    memcpy(lb, c->peer, sizeof(lb));
    /* peer_addr is what the connection's other users copy from (the
     * handshake's guard, userlim, a hand-over's record): from here it is
     * the client's, so all of them follow. */
    memcpy(&c->peer_addr, &h.src, sizeof(c->peer_addr));
    memcpy(&c->pp_dst, &h.dst, sizeof(c->pp_dst));
    net_format((const struct sockaddr *)&c->peer_addr, c->peer,
        sizeof(c->peer));
    log_debug("%s: by PROXY v%d header from %s", c->peer, h.version, lb);
    return 0;
}
