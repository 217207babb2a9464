/*
 * net.c - sockets with deadlines.  All sockets are non-blocking and every
 * wait is a poll() bounded by an absolute monotonic deadline, which is how
 * the handshake enforces its timeout on hostile, slow or silent peers.
 */
#include "net.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netdb.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int
net_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = s;
    size_t n;
    char *end;
    long p;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        n = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || strchr(s, ':') != colon)
            return -1;
        n = (size_t)(colon - s);
    }
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    if (colon[1] == '\0')
        return -1;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

int
net_parse_literal(const char *host, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -1;
}

int
net_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    int port;

    if (net_split_hostport(s, host, sizeof(host), &port) != 0)
        return -1;
    return net_parse_literal(host, port, ss, len);
}

int
net_resolve(const char *host, int port, struct net_addr *out, int n,
    int max)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    char portstr[8];

    if (n < max && net_parse_literal(host, port, &out[n].ss,
        &out[n].len) == 0)
        return n + 1;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0)
        return n;
    for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(out[n].ss))
            continue;
        memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
        out[n].len = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    return n;
}

void
net_order(struct net_addr *addrs, int n, int first)
{
    /* Insertion sort on one key: stable, and n is small. */
    for (int i = 1; i < n; i++) {
        struct net_addr a = addrs[i];
        int j = i;

        if (a.ss.ss_family != first)
            continue;
        while (j > 0 && addrs[j - 1].ss.ss_family != first) {
            addrs[j] = addrs[j - 1];
            j--;
        }
        addrs[j] = a;
    }
}

int
net_parse_cidr(const char *s, struct net_cidr *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    long prefix;
    char *end;

    if (n == 0 || n >= sizeof(addr))
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, addr, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    prefix = out->family == AF_INET ? 32 : 128;
    if (slash != NULL) {
        long max = prefix;

        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno != 0 || end == slash + 1 || *end != '\0' || prefix < 0 ||
            prefix > max)
            return -1;
    }
    out->prefix = (int)prefix;
    return 0;
}

static int
prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)bytes) != 0)
        return 0;
    return rest == 0 ||
        ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
net_cidr_match(const struct net_cidr *n, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff };

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        return n->family == AF_INET &&
            prefix_eq(n->addr, (const uint8_t *)&sin->sin_addr, n->prefix);
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

        if (n->family == AF_INET6)
            return prefix_eq(n->addr, a, n->prefix);
        return memcmp(a, mapped, 12) == 0 &&
            prefix_eq(n->addr, a + 12, n->prefix);
    }
    return 0;
}

int
net_is_loopback(const struct sockaddr *sa)
{
    static const struct net_cidr lo4 = { AF_INET, { 127 }, 8 };
    static const struct net_cidr lo6 = { AF_INET6,
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128 };

    return net_cidr_match(&lo4, sa) || net_cidr_match(&lo6, sa);
}

int
net_connect_any(struct net_addr *addrs, int n, int first, int timeout_s,
    char *desc, size_t desclen)
{
    net_order(addrs, n, first);
    for (int i = 0; i < n; i++) {
        int fd;

        net_format((struct sockaddr *)&addrs[i].ss, desc, desclen);
        fd = net_connect((struct sockaddr *)&addrs[i].ss, addrs[i].len,
            mono_ms() + (int64_t)timeout_s * 1000);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

int
net_dial(const char *host, int port, int first, int timeout_s, char *desc,
    size_t desclen)
{
    struct net_addr addrs[NET_DIAL_MAX];
    int64_t end = mono_ms() + (int64_t)timeout_s * 1000;
    int n = net_resolve(host, port, addrs, 0, NET_DIAL_MAX);

    snprintf(desc, desclen, "%s:%d (unresolved)", host, port);
    net_order(addrs, n, first);
    for (int i = 0; i < n; i++) {
        int64_t now = mono_ms();
        int fd;

        if (now >= end)
            break;
        net_format((struct sockaddr *)&addrs[i].ss, desc, desclen);
        /* An equal share of what is left: a black-holed address must
         * not use up the time of the ones after it. */
        fd = net_connect((struct sockaddr *)&addrs[i].ss, addrs[i].len,
            now + (end - now) / (n - i));
        if (fd >= 0)
            return fd;
    }
    return -1;
}

void
net_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
        snprintf(out, outlen, "%s:%u", a, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
        snprintf(out, outlen, "[%s]:%u", a, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, outlen, "(family %d)", sa->sa_family);
    }
}

static int
net_listen_opts(const struct sockaddr *sa, socklen_t len, int backlog,
    int reuseport)
{
    int fd, one = 1;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
        0);
    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
        sizeof(one)) == -1) ||
        (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
        IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
        bind(fd, sa, len) == -1 || listen(fd, backlog) == -1) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int
net_listen(const struct sockaddr *sa, socklen_t len, int backlog)
{
    return net_listen_opts(sa, len, backlog, 1);
}

int
net_listen_one(const struct sockaddr *sa, socklen_t len, int backlog)
{
    return net_listen_opts(sa, len, backlog, 0);
}

/*
 * Wait for events on fd; with wake, a signal it lets in ends the wait.
 * *revents (if not NULL) gets what poll() saw.
 */
static int
wait_fd_ev(int fd, short events, int64_t deadline_ms, const sigset_t *wake,
    short *revents)
{
    for (;;) {
        int64_t left = deadline_ms - mono_ms();
        struct pollfd p = { .fd = fd, .events = events };
        struct timespec ts;
        int r;

        if (left <= 0)
            return NET_TIMEOUT;
        if (left > 60000)
            left = 60000;
        ts.tv_sec = left / 1000;
        ts.tv_nsec = left % 1000 * 1000000L;
        r = ppoll(&p, 1, &ts, wake);
        if (r > 0) {
            if (revents != NULL)
                *revents = p.revents;
            return 0;
        }
        if (r == -1 && errno == EINTR && wake != NULL)
            return NET_INTR;
        if (r == -1 && errno != EINTR)
            return NET_ERR;
    }
}

static int
wait_fd(int fd, short events, int64_t deadline_ms, const sigset_t *wake)
{
    return wait_fd_ev(fd, events, deadline_ms, wake, NULL);
}

int
net_wait_readable(int fd, int64_t deadline_ms, const sigset_t *wake)
{
    return wait_fd(fd, POLLIN, deadline_ms, wake);
}

int
net_connect(const struct sockaddr *sa, socklen_t len, int64_t deadline_ms)
{
    int fd;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
        0);
    if (fd == -1)
        return NET_ERR;
    return net_connect_fd(fd, sa, len, deadline_ms);
}

int
net_socket_from(int family, const char *ifname, const char *src,
    const char **why)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, err;

    *why = "socket";
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return NET_ERR;
    if (ifname[0] != '\0' && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE,
        ifname, (socklen_t)strlen(ifname)) == -1) {
        *why = "SO_BINDTODEVICE";
        goto fail;
    }
    if (src[0] != '\0') {
        *why = "bind to the source address";
        if (net_parse_literal(src, 0, &ss, &len) != 0 ||
            ss.ss_family != family) {
            errno = EAFNOSUPPORT;
            goto fail;
        }
        /* The port is picked at connect, per destination: a bound
         * address must not use up one ephemeral port per connection. */
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
            sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) == -1)
            goto fail;
    }
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return NET_ERR;
}

int
net_connect_fd(int fd, const struct sockaddr *sa, socklen_t len,
    int64_t deadline_ms)
{
    int r, err = 0;
    socklen_t elen = sizeof(err);
    short revents = 0;

    if (connect(fd, sa, len) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        err = errno;
        goto fail;
    }
    r = wait_fd_ev(fd, POLLOUT, deadline_ms, NULL, &revents);
    if (r != 0) {
        err = errno;
        close(fd);
        errno = err;
        return r;
    }
    /* A failed connect always raises POLLERR; only then ask why. */
    if (!(revents & (POLLERR | POLLHUP)))
        return fd;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
        err = errno;
    if (err == 0)
        return fd;
fail:
    close(fd);
    errno = err;
    return NET_ERR;
}

int
net_read_atleast(int fd, uint8_t *buf, size_t min, size_t cap,
    int64_t deadline_ms, const sigset_t *wake, size_t *got)
{
    size_t have = 0;

    while (have < min) {
        ssize_t n = read(fd, buf + have, cap - have);

        if (n > 0) {
            have += (size_t)n;
            continue;
        }
        if (n == 0) {
            *got = have;
            return NET_EOF;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            *got = have;
            return NET_ERR;
        }
        n = wait_fd(fd, POLLIN, deadline_ms, wake);
        if (n != 0) {
            *got = have;
            return (int)n;
        }
    }
    *got = have;
    return (int)have;
}

int
net_write_all(int fd, const uint8_t *buf, size_t len, int64_t deadline_ms)
{
    return net_write2_all(fd, buf, len, NULL, 0, deadline_ms);
}

int
net_write2_all(int fd, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen, int64_t deadline_ms)
{
    struct iovec iov[2] = {
        { .iov_base = (void *)(uintptr_t)a, .iov_len = alen },
        { .iov_base = (void *)(uintptr_t)b, .iov_len = blen },
    };
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
    size_t left = alen + blen;

    while (left > 0) {
        ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

        if (n > 0) {
            size_t sent = (size_t)n;

            left -= sent;
            /* Past what went, empty parts included. */
            while (m.msg_iovlen > 0 && sent >= m.msg_iov->iov_len) {
                sent -= m.msg_iov->iov_len;
                m.msg_iov++;
                m.msg_iovlen--;
            }
            if (sent > 0) {
                m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + sent;
                m.msg_iov->iov_len -= sent;
            }
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && errno != EAGAIN)
            return NET_ERR;
        n = wait_fd(fd, POLLOUT, deadline_ms, NULL);
        if (n != 0)
            return (int)n;
    }
    return 0;
}

void
net_reset_on_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void
net_keepalive_on(int fd, int keepalive_s)
{
    int one = 1;

    if (keepalive_s > 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

void
net_keepalive(int fd, int keepalive_s)
{
    int one = 1, cnt = NET_KEEPALIVE_PROBES;

    if (keepalive_s <= 0)
        return;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &keepalive_s,
        sizeof(keepalive_s));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &keepalive_s,
        sizeof(keepalive_s));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void
net_client_opts(int fd, int keepalive_s, int ack_timeout_s)
{
    int one = 1;

    /* Failures here only lose an optimisation; the connection still works. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    net_keepalive(fd, keepalive_s);
    if (ack_timeout_s > 0) {
        unsigned ms = (unsigned)ack_timeout_s * 1000u;

        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
    }
}

/* The longest turn of wait_unsent(), in ms: it starts at 1 and doubles. */
#define UNSENT_TURN_MAX_MS  50

/*
 * Until every byte written to fd has left in a segment (SIOCOUTQNSD, the
 * bytes not sent yet, is 0).  With TCP_NOTSENT_LOWAT at 1, POLLOUT means
 * exactly that and the ACK that opens the window wakes us; a segment held
 * back only until the device sent the one before it (TCP small queues,
 * autocorking) wakes no one, hence the short turns.  They double while
 * nothing leaves (a client that stops ACKing, or a zero window, would
 * otherwise wake us every ms until the deadline) and start again at 1 ms
 * when some bytes did.
 */
static int
wait_unsent(int fd, int64_t deadline_ms)
{
    int turn = 1, last = -1;

    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int64_t left;
        int unsent;

        if (ioctl(fd, SIOCOUTQNSD, &unsent) == -1)
            return NET_ERR;
        if (unsent == 0)
            return 0;
        if ((left = deadline_ms - mono_ms()) <= 0)
            return NET_TIMEOUT;
        if (last >= 0 && unsent < last)
            turn = 1;
        last = unsent;
        if (poll(&p, 1, left < turn ? (int)left : turn) == 1) {
            /* POLLOUT without the lowat: sleep a tenth of a turn. */
            struct timespec ts = { 0, 100000L * turn };

            if (p.revents & (POLLERR | POLLHUP))
                return NET_ERR;             /* reset, or closed both ways */
            (void)nanosleep(&ts, NULL);
        }
        if (turn < UNSENT_TURN_MAX_MS)
            turn = turn * 2 < UNSENT_TURN_MAX_MS ? turn * 2 :
                UNSENT_TURN_MAX_MS;
    }
}

int
net_write_segments(int fd, const uint8_t *buf, size_t len, size_t seg,
    int64_t deadline_ms)
{
    int lowat = 0, one = 1, r = 0;
    socklen_t sl = sizeof(lowat);

    if (seg == 0 || seg >= len)
        return net_write_all(fd, buf, len, deadline_ms);
    /* 0 read back means the sysctl's value, and 0 set restores it. */
    if (getsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, &sl) == -1)
        lowat = 0;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &one, sizeof(one));
    while (len > 0 && r == 0) {
        size_t n = len < seg ? len : seg;

        /* A piece written while the last one is still queued would be
         * merged into its segment. */
        if ((r = wait_unsent(fd, deadline_ms)) == 0 &&
            (r = net_write_all(fd, buf, n, deadline_ms)) == 0) {
            buf += n;
            len -= n;
        }
    }
    /* The last piece too, before anything else can join it. */
    if (r == 0)
        r = wait_unsent(fd, deadline_ms);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat,
        sizeof(lowat));
    return r;
}
