/*
 * listen.c - the listening sockets: one SO_REUSEPORT socket per worker
 * slot and per configured address.  The master keeps them for its whole
 * life, so a worker that dies leaves its queue to its successor, and hands
 * them to a new binary on upgrade, which matches them to its own config by
 * address (getsockname), never by position.  The admin endpoint's socket
 * lives here too: bound once by the master, without SO_REUSEPORT, and
 * handed to each admin process it starts, so that no one else can take
 * the port while the admin process restarts.
 *
 * client_mss is set here, on the listening sockets: Linux gives a
 * connection the MSS of the listener it came from (it clamps the MSS the
 * SYN-ACK advertises and the one we send with), and TCP_MAXSEG on a
 * connection that is already established changes neither.  The master
 * sets it again at every reload, so new connections follow at once.
 *
 * So are the options every client socket has from its first byte
 * (TCP_NODELAY, client_ack_timeout's TCP_USER_TIMEOUT) and the keepalive
 * timings a client gets once it proved a secret: an accepted socket
 * inherits them, which saves each connection its own setsockopt() calls.
 * Only SO_KEEPALIVE itself is set per connection, after the proof, so a
 * masked client never sees a probe no web server would send.
 */
#include "master.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

/* The configured addresses: addrs[a] for a in 0..1 ("" = off). */
static int
listen_addr(const struct master *m, int a, struct sockaddr_storage *ss,
    socklen_t *len)
{
    const char *host = a == 0 ? m->cfg->listen_ipv4 : m->cfg->listen_ipv6;

    if (host[0] == '\0')
        return 0;
    if (net_parse_literal(host, m->cfg->port, ss, len) != 0)
        fatalx("%s: listen address '%s' is not an IP literal",
            m->cfg->path, host);
    return 1;
}

static int
listen_one(const struct master *m, const struct sockaddr_storage *ss,
    socklen_t len)
{
    char desc[80];
    int fd;

    net_format((const struct sockaddr *)ss, desc, sizeof(desc));
    fd = net_listen((const struct sockaddr *)ss, len, m->cfg->backlog);
    if (fd == -1)
        fatal("listen on %s", desc);
    return fd;
}

void
listen_set_mss(const struct master *m, int say_off)
{
    int mss = m->cfg->client_mss, failed = 0, n = 0;

    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++) {
            n++;
            if (setsockopt(m->slots[i].fds[k], IPPROTO_TCP, TCP_MAXSEG,
                &mss, sizeof(mss)) == -1)
                failed++;
        }
    if (failed > 0)
        log_warn("client_mss %d: TCP_MAXSEG failed on %d of %d listening "
            "sockets", mss, failed, n);
    else if (mss > 0)
        log_info("client_mss %d on %d listening sockets", mss, n);
    else if (say_off)
        log_info("client_mss off on %d listening sockets", n);
}

void
listen_set_client_opts(const struct master *m)
{
    int one = 1, cnt = NET_KEEPALIVE_PROBES, failed = 0, n = 0;
    int idle = m->cfg->client_keepalive;
    unsigned ack = (unsigned)m->cfg->client_ack_timeout * 1000u;

    for (int i = 0; i < m->nslots; i++)
        for (int k = 0; k < m->slots[i].nfds; k++) {
            int fd = m->slots[i].fds[k];

            n++;
            if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                sizeof(one)) == -1 ||
                setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ack,
                sizeof(ack)) == -1 ||
                (idle > 0 && (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE,
                &idle, sizeof(idle)) == -1 ||
                setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle,
                sizeof(idle)) == -1 ||
                setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt,
                sizeof(cnt)) == -1)))
                failed++;
        }
    if (failed > 0)
        log_warn("TCP_NODELAY, client_ack_timeout or client_keepalive "
            "failed on %d of %d listening sockets", failed, n);
}

void
listen_open(struct master *m)
{
    for (int a = 0; a < MASTER_MAX_LISTEN; a++) {
        struct sockaddr_storage ss;
        socklen_t len;
        char desc[80];

        if (!listen_addr(m, a, &ss, &len))
            continue;
        for (int i = 0; i < m->nslots; i++) {
            struct slot *s = &m->slots[i];

            s->fds[s->nfds++] = listen_one(m, &ss, len);
        }
        net_format((struct sockaddr *)&ss, desc, sizeof(desc));
        log_info("listening on %s (%d workers)", desc, m->nslots);
    }
    listen_set_mss(m, 0);
    listen_set_client_opts(m);
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
            &((const struct sockaddr_in *)b)->sin_addr, 4) == 0 &&
            ((const struct sockaddr_in *)a)->sin_port ==
            ((const struct sockaddr_in *)b)->sin_port;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
        &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0 &&
        ((const struct sockaddr_in6 *)a)->sin6_port ==
        ((const struct sockaddr_in6 *)b)->sin6_port;
}

void
listen_adopt(struct master *m, const int *fds, int nfds)
{
    int used[MASTER_MAX_SLOTS * MASTER_MAX_LISTEN] = { 0 };

    for (int a = 0; a < MASTER_MAX_LISTEN; a++) {
        struct sockaddr_storage want;
        socklen_t wlen;
        int adopted = 0;

        if (!listen_addr(m, a, &want, &wlen))
            continue;
        for (int i = 0; i < m->nslots; i++) {
            struct slot *s = &m->slots[i];
            int fd = -1;

            for (int k = 0; k < nfds && fd < 0; k++) {
                struct sockaddr_storage got;
                socklen_t glen = sizeof(got);

                if (used[k] || getsockname(fds[k], (struct sockaddr *)&got,
                    &glen) == -1 || !same_addr(&got, &want))
                    continue;
                used[k] = 1;
                fd = fds[k];
                adopted++;
            }
            if (fd < 0)
                fd = listen_one(m, &want, wlen);
            s->fds[s->nfds++] = fd;
        }
        log_info("listening on %d socket(s) for address %d: %d inherited",
            m->nslots, a, adopted);
    }
    /* Inherited but no longer configured (fewer workers): close. */
    for (int k = 0; k < nfds; k++)
        if (!used[k])
            close(fds[k]);
    /* The old binary's value stays on inherited sockets until set. */
    listen_set_mss(m, 0);
    listen_set_client_opts(m);
}

int
listen_admin(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (net_parse_addr(addr, &ss, &len) != 0) {
        errno = EINVAL;
        return -1;
    }
    return net_listen_one((struct sockaddr *)&ss, len, SOMAXCONN);
}

int
listen_admin_adopt(const struct master *m, int fd)
{
    struct sockaddr_storage want, got;
    socklen_t wlen, glen = sizeof(got);

    if (fd < 0)
        return -1;
    if (m->cfg->admin_listen[0] != '\0' &&
        net_parse_addr(m->cfg->admin_listen, &want, &wlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&got, &glen) == 0 &&
        same_addr(&got, &want)) {
        log_info("admin endpoint: the socket on %s inherited",
            m->cfg->admin_listen);
        return fd;
    }
    log_info("admin endpoint: the inherited socket is not on admin_listen "
        "\"%s\"; closing it", m->cfg->admin_listen);
    close(fd);
    return -1;
}
