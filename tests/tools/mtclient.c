/*
 * mtclient.c - an MTProxy test client for the integration tests.
 *
 * Opens N parallel obfuscated2 connections (to the proxy with a secret, or
 * with --direct straight to fakedc without one), sends a "TMT1" command
 * frame (pattern.h) in the chosen framing and verifies the echo / source /
 * sink traffic byte for byte; or checks that the peer closes silent, half
 * handshake, garbage and refused connections.  Prints one summary line and
 * exits 0 only if every connection succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto.h"
#include "obfs2.h"
#include "pattern.h"
#include "proto.h"
#include "util.h"

#define BUF_LEN         65536
#define MAX_CONNS       20000
#define HALF_HEADER     30

enum test {
    T_ECHO, T_SOURCE, T_SINK, T_SILENT, T_GARBAGE, T_HALF
};

static const char *const test_names[] = {
    "echo", "source", "sink", "silent", "garbage", "half"
};

static struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint8_t secret[SECRET_LEN];
    int direct;
    int expect_close;
    const char *mode;
    uint32_t tag;
    int16_t dc;
    int conns;
    enum test test;
    uint64_t bytes;
    int wait_s;
} opt;

struct cconn {
    int id;
    int fd;
    struct ctr *up, *down;
    uint8_t *sbuf, *rbuf;
    int ok;
    char why[256];
    uint64_t bytes;                     /* payload bytes sent + received */
    double closed_after;                /* s, for the close-type tests */
};

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
    fprintf(stderr,
        "usage: mtclient -c HOST:PORT (-s SECRET_HEX32 | --direct)\n"
        "           -m abridged|intermediate|padded [-d DC] [-n CONNS]\n"
        "           [-t echo|source|sink|silent|garbage|half] [-b BYTES]\n"
        "           [-w SECONDS] [--expect-close]\n");
    exit(2);
}

static void fail(struct cconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the first failure reason of a connection. */
static void
fail(struct cconn *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->ok)
        return;
    c->ok = 0;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
}

static int
parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon, *port;
    struct addrinfo hints, *res;
    size_t hl;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return -1;
        hl = (size_t)(close - s - 1);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hl);
        port = close + 2;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - s);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s, hl);
        port = colon + 1;
    }
    host[hl] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* "123", "64k", "4m" (binary units); -1 on bad input. */
static int
parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || s[0] == '-')
        return -1;
    if (*end == 'k' || *end == 'K') {
        v <<= 10;
        end++;
    } else if (*end == 'm' || *end == 'M') {
        v <<= 20;
        end++;
    }
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

static double
now_s(void)
{
    return (double)mono_ms() / 1000.0;
}

/* Wait for events until the absolute deadline (ms); 1 ready, 0 timeout. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };

    for (;;) {
        int64_t left = deadline - mono_ms();
        int r;

        if (left <= 0)
            return 0;
        r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int64_t
deadline_w(void)
{
    return mono_ms() + (int64_t)opt.wait_s * 1000;
}

static int
do_connect(struct cconn *c)
{
    int err = 0, one = 1;
    socklen_t el = sizeof(err);

    c->fd = socket(opt.addr.ss_family,
        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(c, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS) {
        fail(c, "connect: %s", strerror(errno));
        return -1;
    }
    if (wait_fd(c->fd, POLLOUT, deadline_w()) <= 0) {
        fail(c, "connect: timeout after %d s", opt.wait_s);
        return -1;
    }
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
        err != 0) {
        fail(c, "connect: %s", strerror(err != 0 ? err : errno));
        return -1;
    }
    return 0;
}

/*
 * Send all n bytes as they are (no encryption here).  Returns 0, or -1:
 * *closed is set if the peer reset or closed the connection.
 */
static int
send_raw(struct cconn *c, const uint8_t *buf, size_t n, int *closed)
{
    size_t done = 0;

    *closed = 0;
    while (done < n) {
        ssize_t w = send(c->fd, buf + done, n - done, MSG_NOSIGNAL);

        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c->fd, POLLOUT, deadline_w()) <= 0) {
                fail(c, "send: timeout after %d s with %zu of %zu bytes "
                    "sent", opt.wait_s, done, n);
                return -1;
            }
            continue;
        }
        if (errno == EPIPE || errno == ECONNRESET)
            *closed = 1;
        fail(c, "send: %s after %zu of %zu bytes", strerror(errno), done,
            n);
        return -1;
    }
    return 0;
}

/*
 * Receive up to max bytes (raw).  Returns the count, 0 at EOF (also for a
 * reset: *reset is set then), -1 on timeout or error (reason recorded).
 */
static ssize_t
recv_some(struct cconn *c, uint8_t *buf, size_t max, int64_t deadline,
    int *reset, const char *what)
{
    *reset = 0;
    for (;;) {
        ssize_t n = recv(c->fd, buf, max, 0);

        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET) {
            *reset = 1;
            return 0;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail(c, "%s: recv: %s", what, strerror(errno));
            return -1;
        }
        if (wait_fd(c->fd, POLLIN, deadline) <= 0) {
            fail(c, "%s: timeout after %d s", what, opt.wait_s);
            return -1;
        }
    }
}

/* Build the command frame in the chosen framing into out; its length. */
static size_t
build_cmd_frame(const struct test_cmd *cmd, uint8_t *out)
{
    uint8_t payload[CMD_LEN];
    size_t n = 0, total = CMD_LEN;

    cmd_encode(cmd, payload);
    if (opt.tag == TAG_ABRIDGED) {
        out[n++] = (uint8_t)(CMD_LEN / 4);
    } else {
        uint8_t pad = 0;

        if (opt.tag == TAG_PADDED) {
            (void)random_bytes(&pad, 1);
            pad &= 3;
            total += pad;
        }
        out[n++] = (uint8_t)total;
        out[n++] = (uint8_t)(total >> 8);
        out[n++] = (uint8_t)(total >> 16);
        out[n++] = (uint8_t)(total >> 24);
    }
    memcpy(out + n, payload, CMD_LEN);
    if (total > CMD_LEN)
        (void)random_bytes(out + n + CMD_LEN, total - CMD_LEN);
    return n + total;
}

static const char *
cmd_name(void)
{
    switch (opt.test) {
    case T_SOURCE:
        return "SOURCE";
    case T_SINK:
        return "SINK";
    default:
        return "ECHO";
    }
}

/* Send the obfuscated2 header and the command frame. */
static int
handshake(struct cconn *c, struct test_cmd *cmd)
{
    uint8_t wire[OBFS2_HEADER_LEN + 4 + CMD_LEN + 3];
    size_t flen;
    uint64_t seed;
    int closed;

    if (obfs2_build(wire, opt.tag, opt.dc, opt.direct ? NULL : opt.secret,
        NULL, NULL, &c->up, &c->down) != 0) {
        fail(c, "obfs2_build failed");
        return -1;
    }
    if (random_bytes((uint8_t *)&seed, sizeof(seed)) != 0) {
        fail(c, "random_bytes failed");
        return -1;
    }
    memset(cmd, 0, sizeof(*cmd));
    snprintf(cmd->name, sizeof(cmd->name), "%s", cmd_name());
    cmd->bytes = opt.bytes;
    cmd->seed = seed;
    flen = build_cmd_frame(cmd, wire + OBFS2_HEADER_LEN);
    ctr_apply(c->up, wire + OBFS2_HEADER_LEN, wire + OBFS2_HEADER_LEN, flen);
    return send_raw(c, wire, OBFS2_HEADER_LEN + flen, &closed);
}

/*
 * Wait until the peer closes, requiring that nothing arrives; t0 is when
 * the wait conceptually started (for the reported close time).
 */
static void
expect_close(struct cconn *c, double t0)
{
    int64_t deadline = deadline_w();
    uint64_t got = 0;
    int reset;

    for (;;) {
        ssize_t r = recv_some(c, c->rbuf, BUF_LEN, deadline, &reset,
            "waiting for the peer to close");

        if (r < 0)
            return;
        if (r == 0)
            break;
        got += (uint64_t)r;
    }
    c->closed_after = now_s() - t0;
    if (got > 0)
        fail(c, "peer sent %llu bytes before closing",
            (unsigned long long)got);
    printf("mtclient: conn %d closed by peer after %.3f s (%s)\n", c->id,
        c->closed_after, reset ? "reset" : "eof");
}

/* After the traffic: the peer must close without sending anything more. */
static void
expect_eof(struct cconn *c, const char *what)
{
    int reset;
    ssize_t r = recv_some(c, c->rbuf, BUF_LEN, deadline_w(), &reset, what);

    if (r > 0)
        fail(c, "%s: %zd unexpected bytes", what, r);
    else if (r == 0 && reset)
        fail(c, "%s: connection reset instead of EOF", what);
}

static void
run_echo(struct cconn *c, const struct test_cmd *cmd)
{
    struct pattern sp, rp;
    uint64_t sent = 0, rcvd = 0;
    size_t spos = 0, slen = 0;
    int64_t deadline = deadline_w();

    pattern_init(&sp, cmd->seed);
    pattern_init(&rp, cmd->seed);
    while (rcvd < opt.bytes) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int64_t left = deadline - mono_ms();
        int r;

        if (spos == slen && sent < opt.bytes) {
            uint64_t rest = opt.bytes - sent;

            slen = rest < BUF_LEN ? (size_t)rest : BUF_LEN;
            spos = 0;
            pattern_fill(&sp, c->sbuf, slen);
            ctr_apply(c->up, c->sbuf, c->sbuf, slen);
            sent += slen;
        }
        if (spos < slen)
            p.events |= POLLOUT;
        if (left <= 0) {
            fail(c, "echo: timeout after %d s without progress (sent %llu, "
                "received %llu of %llu)", opt.wait_s,
                (unsigned long long)(sent - (slen - spos)),
                (unsigned long long)rcvd, (unsigned long long)opt.bytes);
            return;
        }
        r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r < 0 && errno != EINTR) {
            fail(c, "echo: poll: %s", strerror(errno));
            return;
        }
        if (r <= 0)
            continue;
        if (p.revents & POLLOUT) {
            ssize_t w = send(c->fd, c->sbuf + spos, slen - spos,
                MSG_NOSIGNAL);

            if (w > 0) {
                spos += (size_t)w;
                deadline = deadline_w();
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                errno != EINTR) {
                fail(c, "echo: send: %s after %llu bytes", strerror(errno),
                    (unsigned long long)(sent - (slen - spos)));
                return;
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            uint64_t rest = opt.bytes - rcvd;
            size_t want = rest < BUF_LEN ? (size_t)rest : BUF_LEN, at;
            ssize_t n = recv(c->fd, c->rbuf, want, 0);

            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                fail(c, "echo: early %s after %llu of %llu bytes",
                    n == 0 ? "EOF" : "reset", (unsigned long long)rcvd,
                    (unsigned long long)opt.bytes);
                return;
            }
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK &&
                    errno != EINTR) {
                    fail(c, "echo: recv: %s", strerror(errno));
                    return;
                }
                continue;
            }
            ctr_apply(c->down, c->rbuf, c->rbuf, (size_t)n);
            at = pattern_check(&rp, c->rbuf, (size_t)n);
            if (at != (size_t)n) {
                fail(c, "echo: mismatch at offset %llu",
                    (unsigned long long)(rcvd + at));
                return;
            }
            rcvd += (uint64_t)n;
            deadline = deadline_w();
        }
    }
    c->bytes += 2 * opt.bytes;
    shutdown(c->fd, SHUT_WR);
    expect_eof(c, "echo: waiting for EOF");
}

static void
run_source(struct cconn *c, const struct test_cmd *cmd)
{
    struct pattern rp;
    uint64_t rcvd = 0;
    int reset;

    pattern_init(&rp, cmd->seed);
    while (rcvd < opt.bytes) {
        uint64_t rest = opt.bytes - rcvd;
        size_t want = rest < BUF_LEN ? (size_t)rest : BUF_LEN, at;
        ssize_t n = recv_some(c, c->rbuf, want, deadline_w(), &reset,
            "source: reading");

        if (n < 0)
            return;
        if (n == 0) {
            fail(c, "source: early %s after %llu of %llu bytes",
                reset ? "reset" : "EOF", (unsigned long long)rcvd,
                (unsigned long long)opt.bytes);
            return;
        }
        ctr_apply(c->down, c->rbuf, c->rbuf, (size_t)n);
        at = pattern_check(&rp, c->rbuf, (size_t)n);
        if (at != (size_t)n) {
            fail(c, "source: mismatch at offset %llu",
                (unsigned long long)(rcvd + at));
            return;
        }
        rcvd += (uint64_t)n;
    }
    c->bytes += opt.bytes;
    expect_eof(c, "source: waiting for EOF");
}

static void
run_sink(struct cconn *c, const struct test_cmd *cmd)
{
    struct pattern sp;
    uint64_t sent = 0;
    uint8_t verdict[8];
    size_t have = 0;
    int closed, reset;

    pattern_init(&sp, cmd->seed);
    while (sent < opt.bytes) {
        uint64_t rest = opt.bytes - sent;
        size_t n = rest < BUF_LEN ? (size_t)rest : BUF_LEN;

        pattern_fill(&sp, c->sbuf, n);
        ctr_apply(c->up, c->sbuf, c->sbuf, n);
        if (send_raw(c, c->sbuf, n, &closed) != 0)
            return;
        sent += n;
    }
    while (have < sizeof(verdict)) {
        ssize_t n = recv_some(c, c->rbuf, sizeof(verdict) - have,
            deadline_w(), &reset, "sink: reading the verdict");

        if (n < 0)
            return;
        if (n == 0) {
            fail(c, "sink: early %s after %zu verdict bytes",
                reset ? "reset" : "EOF", have);
            return;
        }
        memcpy(verdict + have, c->rbuf, (size_t)n);
        have += (size_t)n;
    }
    ctr_apply(c->down, verdict, verdict, sizeof(verdict));
    if (memcmp(verdict, "SINK-OK!", 8) != 0) {
        fail(c, "sink: verdict '%.8s' instead of SINK-OK!",
            memcmp(verdict, "SINK-BAD", 8) == 0 ? "SINK-BAD" : "garbled");
        return;
    }
    c->bytes += opt.bytes;
    expect_eof(c, "sink: waiting for EOF");
}

static void
run_conn(struct cconn *c)
{
    struct test_cmd cmd;
    double t0;
    int closed;

    if (do_connect(c) != 0)
        return;
    t0 = now_s();
    switch (opt.test) {
    case T_SILENT:
        expect_close(c, t0);
        return;
    case T_GARBAGE:
        if (random_bytes(c->sbuf, opt.bytes) != 0) {
            fail(c, "random_bytes failed");
            return;
        }
        if (send_raw(c, c->sbuf, opt.bytes, &closed) != 0) {
            if (closed) {
                c->ok = 1;              /* closed while we sent: fine */
                c->closed_after = now_s() - t0;
                printf("mtclient: conn %d closed by peer after %.3f s "
                    "(while sending)\n", c->id, c->closed_after);
            }
            return;
        }
        expect_close(c, t0);
        return;
    case T_HALF: {
        uint8_t wire[OBFS2_HEADER_LEN];

        if (obfs2_build(wire, opt.tag, opt.dc, opt.direct ? NULL :
            opt.secret, NULL, NULL, &c->up, &c->down) != 0) {
            fail(c, "obfs2_build failed");
            return;
        }
        if (send_raw(c, wire, HALF_HEADER, &closed) != 0)
            return;
        expect_close(c, t0);
        return;
    }
    default:
        break;
    }
    if (handshake(c, &cmd) != 0)
        return;
    if (opt.expect_close) {
        expect_close(c, t0);
        return;
    }
    switch (opt.test) {
    case T_ECHO:
        run_echo(c, &cmd);
        break;
    case T_SOURCE:
        run_source(c, &cmd);
        break;
    default:
        run_sink(c, &cmd);
        break;
    }
}

static void *
conn_thread(void *arg)
{
    struct cconn *c = arg;

    c->ok = 1;
    c->fd = -1;
    c->sbuf = malloc(BUF_LEN);
    c->rbuf = malloc(BUF_LEN);
    if (c->sbuf == NULL || c->rbuf == NULL)
        fail(c, "out of memory");
    else
        run_conn(c);
    if (c->fd >= 0)
        close(c->fd);
    ctr_free(c->up);
    ctr_free(c->down);
    free(c->sbuf);
    free(c->rbuf);
    c->sbuf = c->rbuf = NULL;
    return NULL;
}

static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void
parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "direct", no_argument, NULL, 'D' },
        { "expect-close", no_argument, NULL, 'E' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *target = NULL, *secret = NULL;
    char *end;
    long v;
    int o;
    size_t i;

    opt.dc = 2;
    opt.conns = 1;
    opt.test = T_ECHO;
    opt.bytes = 65536;
    opt.wait_s = 20;
    while ((o = getopt_long(argc, argv, "c:s:m:d:n:t:b:w:h", longopts,
        NULL)) != -1) {
        switch (o) {
        case 'c':
            target = optarg;
            break;
        case 's':
            secret = optarg;
            break;
        case 'm':
            opt.mode = optarg;
            break;
        case 'd':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < INT16_MIN ||
                v > INT16_MAX)
                usage();
            opt.dc = (int16_t)v;
            break;
        case 'n':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > MAX_CONNS)
                usage();
            opt.conns = (int)v;
            break;
        case 't':
            for (i = 0; i < sizeof(test_names) / sizeof(test_names[0]); i++)
                if (strcmp(optarg, test_names[i]) == 0)
                    break;
            if (i == sizeof(test_names) / sizeof(test_names[0]))
                usage();
            opt.test = (enum test)i;
            break;
        case 'b':
            if (parse_size(optarg, &opt.bytes) != 0)
                usage();
            break;
        case 'w':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 3600)
                usage();
            opt.wait_s = (int)v;
            break;
        case 'D':
            opt.direct = 1;
            break;
        case 'E':
            opt.expect_close = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || target == NULL || opt.mode == NULL)
        usage();
    if (parse_hostport(target, &opt.addr, &opt.addrlen) != 0) {
        fprintf(stderr, "mtclient: bad address '%s'\n", target);
        exit(2);
    }
    if (strcmp(opt.mode, "abridged") == 0)
        opt.tag = TAG_ABRIDGED;
    else if (strcmp(opt.mode, "intermediate") == 0)
        opt.tag = TAG_INTERMEDIATE;
    else if (strcmp(opt.mode, "padded") == 0)
        opt.tag = TAG_PADDED;
    else
        usage();
    if (!opt.direct && (secret == NULL ||
        hex_decode(secret, opt.secret, SECRET_LEN) != 0)) {
        fprintf(stderr, "mtclient: need -s with 32 hex digits, or "
            "--direct\n");
        exit(2);
    }
    if (opt.test == T_GARBAGE && opt.bytes > BUF_LEN) {
        fprintf(stderr, "mtclient: garbage is at most %d bytes\n", BUF_LEN);
        exit(2);
    }
}

int
main(int argc, char **argv)
{
    struct cconn *cs;
    pthread_t *ts;
    pthread_attr_t attr;
    uint64_t bytes = 0;
    int ok = 0, failed = 0;
    double t0;

    parse_args(argc, argv);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    cs = calloc((size_t)opt.conns, sizeof(*cs));
    ts = calloc((size_t)opt.conns, sizeof(*ts));
    if (cs == NULL || ts == NULL) {
        fprintf(stderr, "mtclient: out of memory\n");
        return 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    t0 = now_s();
    for (int i = 0; i < opt.conns; i++) {
        cs[i].id = i;
        if (pthread_create(&ts[i], &attr, conn_thread, &cs[i]) != 0) {
            fprintf(stderr, "mtclient: cannot start thread %d\n", i);
            return 1;
        }
    }
    for (int i = 0; i < opt.conns; i++) {
        pthread_join(ts[i], NULL);
        bytes += cs[i].bytes;
        if (cs[i].ok) {
            ok++;
        } else {
            failed++;
            if (failed <= 10)
                printf("mtclient: conn %d failed: %s\n", i, cs[i].why);
        }
    }
    if (failed > 10)
        printf("mtclient: (%d more failures not shown)\n", failed - 10);
    printf("mtclient: mode=%s test=%s%s conns=%d ok=%d failed=%d "
        "bytes=%llu seconds=%.3f\n", opt.mode, test_names[opt.test],
        opt.expect_close ? "+expect-close" : "", opt.conns, ok, failed,
        (unsigned long long)bytes, now_s() - t0);
    pthread_attr_destroy(&attr);
    free(cs);
    free(ts);
    return failed == 0 ? 0 : 1;
}
