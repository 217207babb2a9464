/*
 * load.c - "bench load": the load client of the benchmark.
 *
 * One thread, one level-triggered epoll loop, a state machine per
 * connection: connect (non-blocking) -> [fake TLS: signed hello, the
 * answer read and its HMAC checked] -> obfuscated2 header + the 16-byte
 * command (bench.h) [+ 32 echo bytes] -> the test.  Modes: direct (raw
 * header, no secret: straight to the fake DC or through the no-crypto
 * relay), classic (abridged tag), secure (padded tag), tls (fake TLS,
 * padded tag inside).  Every received byte is verified.  A connection's
 * failure is counted, never fatal; the result is one line of key=value
 * pairs on stdout, messages go to stderr.
 *
 * Reads land in one shared buffer; a connection owns an output buffer
 * only while its socket does not take what it sends (bulk keeps it), so
 * 10,000 idle connections cost their structs and cipher contexts.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "crypto.h"
#include "net.h"
#include "obfs2.h"
#include "tlsclient.h"
#include "tlsrec.h"
#include "util.h"

#define LD_BUF          65536           /* reads; bulk payload per chunk */
#define LD_ROUNDS       4               /* sends or reads per event */
#define LD_RECORD       16384           /* fake TLS record payload */
#define LD_ECHO         32
#define LD_MAX_INFLIGHT 200             /* connections in set-up at once */
#define LD_IDLE_US      10000000LL      /* waiting without progress */
#define LD_SCAN_US      250000LL
#define LD_HS_GRACE_US  5000000LL       /* hs: in flight after the end */
#define LD_LAT_GRACE_US 2000000LL       /* latency: replies after the end */
#define LD_LOG_MAX      10
#define LD_TIMER        UINT64_MAX      /* epoll data of the timerfd */

enum mode { M_DIRECT, M_CLASSIC, M_SECURE, M_TLS };
enum test { T_BULK, T_HS, T_HOLD, T_LATENCY };
enum { DIR_UP = 1, DIR_DOWN = 2 };      /* bits of o.dir */

enum lstate {
    LS_IDLE,                            /* closed or not started */
    LS_CONNECT,
    LS_ANSWER,                          /* reading the fake TLS answer */
    LS_ECHO,                            /* waiting for the 32-byte echo */
    LS_READY,                           /* latency: set up, waiting */
    LS_RUN,
    LS_FINISH,                          /* bulk: after the window */
    LS_HELD
};

static const char *const state_name[] = {
    "idle", "connect", "tls-answer", "echo", "ready", "run", "finish",
    "held"
};

struct lconn {
    int fd;
    uint32_t gen;                       /* in epoll data: stale events */
    uint8_t state, setup, shut, keep;
    uint32_t events;
    struct ctr *up, *down;
    struct tlsrec_reader rd;
    uint8_t *ans;                       /* fake TLS answer, while read */
    size_t ans_have;
    uint8_t crand[32], sid[32];         /* of our hello */
    uint8_t *obuf;                      /* wire bytes the socket refused */
    size_t opos, olen, ocap;
    int64_t t_begin, t_act;             /* connect start, last progress */
    uint8_t echo[LD_ECHO];
    uint8_t echo_have, reply_have, reply[BENCH_REPLY_LEN];
    struct pattern sp, rp;              /* bulk: sent and received */
    uint64_t up_total, win_up;          /* bulk: sent, in the window */
    uint64_t chunk_p, chunk_w, chunk_sent;  /* the chunk on the wire */
    uint64_t lat_msgs, lat_rx;          /* messages sent, echo bytes */
};

static struct {
    struct sockaddr_storage ss;
    socklen_t sslen;
    int mode, test, dir;
    uint8_t secret[16];
    const char *sni;
    long conns;
    double seconds, rate;
    size_t size;
    size_t hello_len;                   /* tls: the ClientHello record */
} o;

static struct {
    int ep, tfd;
    struct lconn *c;
    long n;
    int64_t now;                        /* mono_us(), per event */
    long next_open, inflight, settled, active;
    int64_t open_t0, next_scan;
    long fail, logged;
    int running, finished, phase2;
    int64_t t_start, t_end;
    uint64_t up_bytes, down_bytes;      /* bulk, within the window */
    int64_t *samples;                   /* hs, latency: microseconds */
    size_t nsamples, capsamples;
    long *restart, nrestart;            /* hs: slots to start again */
    long held, alive;
    uint64_t lat_next, lat_total, lat_out;
    int64_t lat_armed;                  /* timerfd expiry set, 0 none */
    uint8_t hello[TLSCLIENT_HELLO_MAX];         /* tls: the template */
} g;

static uint8_t rxbuf[LD_BUF], txbuf[LD_BUF], msgbuf[LD_BUF];
static uint8_t hellobuf[TLSCLIENT_HELLO_MAX];
static uint8_t wrapbuf[TLSCLIENT_CCS_LEN + LD_BUF + 256];

static void conn_fail(struct lconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static long
conn_idx(const struct lconn *c)
{
    return (long)(c - g.c);
}

static void
conn_events(struct lconn *c)
{
    uint32_t ev = EPOLLIN;

    if (c->fd < 0)
        return;
    if (c->state == LS_CONNECT)
        ev = EPOLLOUT;
    else if (c->olen > c->opos || (o.test == T_BULK && o.dir & DIR_UP &&
        c->state == LS_RUN))
        ev |= EPOLLOUT;
    if (ev != c->events) {
        c->events = ev;
        (void)ep_ctl(g.ep, EPOLL_CTL_MOD, c->fd, ev,
            (uint64_t)conn_idx(c) | (uint64_t)c->gen << 32);
    }
}

static void
sample(int64_t us)
{
    if (g.nsamples == g.capsamples) {
        size_t cap = g.capsamples ? 2 * g.capsamples : 4096;
        int64_t *p = realloc(g.samples, cap * sizeof(*p));

        if (p == NULL) {
            fprintf(stderr, "bench load: out of memory for samples\n");
            return;
        }
        g.samples = p;
        g.capsamples = cap;
    }
    g.samples[g.nsamples++] = us;
}

static void
conn_ready(struct lconn *c)
{
    if (c->setup) {
        c->setup = 0;
        g.inflight--;
        g.settled++;
    }
}

/* Close and free; hs starts the slot again while in time. */
static void
conn_close(struct lconn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        g.active--;
    }
    conn_ready(c);
    if (o.test == T_LATENCY)
        g.lat_out -= c->lat_msgs - c->lat_rx / o.size;
    c->lat_msgs = c->lat_rx = 0;
    ctr_free(c->up);
    ctr_free(c->down);
    free(c->ans);
    free(c->obuf);
    c->up = c->down = NULL;
    c->ans = c->obuf = NULL;
    c->state = LS_IDLE;
    c->gen++;
    if (o.test == T_HS && g.running && g.now < g.t_end)
        g.restart[g.nrestart++] = conn_idx(c);
}

static void
conn_fail(struct lconn *c, const char *fmt, ...)
{
    va_list ap;

    g.fail++;
    if (g.logged++ < LD_LOG_MAX) {
        fprintf(stderr, "bench load: conn %ld (%s): ", conn_idx(c),
            state_name[c->state]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    conn_close(c);
}

static void
conn_ok(struct lconn *c)
{
    /* Bulk: what was sent counts once the connection ended well (for up,
     * once the DC's count confirmed it). */
    g.up_bytes += c->win_up;
    conn_close(c);
}

static int
in_window(void)
{
    return g.running && g.now >= g.t_start && g.now < g.t_end;
}

/*
 * w wire bytes went out.  A bulk chunk's payload is credited in
 * proportion to its wire bytes sent, so that the window counts what the
 * kernel took inside it, to the byte.
 */
static void
conn_sent(struct lconn *c, size_t w)
{
    uint64_t before, after;

    c->t_act = g.now;
    if (c->chunk_w == 0)
        return;
    before = c->chunk_p * c->chunk_sent / c->chunk_w;
    c->chunk_sent += w;
    after = c->chunk_p * c->chunk_sent / c->chunk_w;
    if (in_window())
        c->win_up += after - before;
    if (c->chunk_sent == c->chunk_w)
        c->chunk_w = 0;
}

/* Send wire bytes, keeping what the socket refuses; -1 if it failed. */
static int
conn_send(struct lconn *c, const uint8_t *p, size_t n)
{
    if (c->olen == c->opos) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            conn_fail(c, "send: %s", strerror(errno));
            return -1;
        }
        if (w > 0) {
            conn_sent(c, (size_t)w);
            p += w;
            n -= (size_t)w;
        }
        if (n == 0)
            return 0;
        c->opos = c->olen = 0;
    }
    if (c->olen + n > c->ocap || c->obuf == NULL) {
        size_t cap = 4096;
        uint8_t *b;

        while (cap < c->olen + n)
            cap *= 2;
        if ((b = realloc(c->obuf, cap)) == NULL) {
            conn_fail(c, "out of memory");
            return -1;
        }
        c->obuf = b;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, p, n);
    c->olen += n;
    conn_events(c);
    return 0;
}

/* 1 if nothing is left to send, 0 if some is, -1 if it failed. */
static int
conn_flush(struct lconn *c)
{
    while (c->olen > c->opos) {
        ssize_t w = send(c->fd, c->obuf + c->opos, c->olen - c->opos,
            MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w < 0) {
            conn_fail(c, "send: %s", strerror(errno));
            return -1;
        }
        conn_sent(c, (size_t)w);
        c->opos += (size_t)w;
    }
    c->opos = c->olen = 0;
    if (!c->keep) {
        free(c->obuf);
        c->obuf = NULL;
    }
    return 1;
}

/* Encrypt payload in place and send it (in records in fake TLS). */
static int
send_payload(struct lconn *c, uint8_t *p, size_t n)
{
    ctr_apply(c->up, p, p, n);
    if (o.mode != M_TLS)
        return conn_send(c, p, n);
    return conn_send(c, wrapbuf, tlsclient_wrap(p, n, LD_RECORD, wrapbuf));
}

/* The obfuscated2 header, the command and, for E, the 32 echo bytes. */
static void
send_start(struct lconn *c)
{
    uint8_t buf[OBFS2_HEADER_LEN + BENCH_CMD_LEN + LD_ECHO];
    uint8_t *cmd = buf + OBFS2_HEADER_LEN;
    uint64_t seed = (uint64_t)conn_idx(c) + 1;
    size_t len = OBFS2_HEADER_LEN + BENCH_CMD_LEN, n = 0;
    int echo = o.test == T_HS || o.test == T_HOLD;

    if (obfs2_build(buf, o.mode >= M_SECURE ? TAG_PADDED : TAG_ABRIDGED,
        BENCH_DC, o.mode == M_DIRECT ? NULL : o.secret, NULL, NULL, &c->up,
        &c->down) != 0 || (echo && random_bytes(c->echo, LD_ECHO) != 0)) {
        conn_fail(c, "obfs2_build or random_bytes failed");
        return;
    }
    memset(cmd, 0, BENCH_CMD_LEN);
    memcpy(cmd, BENCH_MAGIC, 4);
    cmd[4] = o.test != T_BULK ? 'E' : o.dir == DIR_UP ? 'U' :
        o.dir == DIR_DOWN ? 'D' : 'B';
    pattern_put64(cmd + 8, seed);
    if (echo) {
        memcpy(cmd + BENCH_CMD_LEN, c->echo, LD_ECHO);
        len += LD_ECHO;
    }
    ctr_apply(c->up, cmd, cmd, len - OBFS2_HEADER_LEN);
    if (o.mode == M_TLS) {
        /* ChangeCipherSpec once, then everything in ApplicationData. */
        memcpy(wrapbuf, TLSCLIENT_CCS, TLSCLIENT_CCS_LEN);
        n = TLSCLIENT_CCS_LEN + tlsclient_wrap(buf, len, LD_RECORD,
            wrapbuf + TLSCLIENT_CCS_LEN);
    }
    if (conn_send(c, n ? wrapbuf : buf, n ? n : len) != 0)
        return;
    if (echo) {
        c->state = LS_ECHO;
    } else if (o.test == T_BULK) {
        /* Bulk streams from now on and only the window counts: it sees a
         * path already in its steady state. */
        c->keep = 1;
        pattern_init(&c->sp, seed);
        pattern_init(&c->rp, o.dir == DIR_DOWN ? seed :
            seed ^ BENCH_BOTH_XOR);
        c->state = LS_RUN;
        conn_ready(c);
    } else {
        c->state = LS_READY;
        conn_ready(c);
    }
    conn_events(c);
}

static void
conn_connected(struct lconn *c)
{
    uint8_t *hello = hellobuf;
    socklen_t l = sizeof(int);
    int err = 0;

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
        err = errno;
    if (err != 0) {
        conn_fail(c, "connect: %s", strerror(err));
        return;
    }
    c->t_act = g.now;
    if (o.mode != M_TLS) {
        send_start(c);
        return;
    }
    /* The template (parse_load()), with a fresh session id and its own
     * signature, so the client randoms differ and the replay table
     * sees new handshakes. */
    memcpy(hello, g.hello, o.hello_len);
    if (random_bytes(hello + TLSCLIENT_SID_OFF, 32) != 0) {
        conn_fail(c, "no random bytes for the session id");
        return;
    }
    tlsclient_sign(hello, o.hello_len, o.secret, (uint32_t)time(NULL));
    memcpy(c->crand, hello + TLSCLIENT_RANDOM_OFF, 32);
    memcpy(c->sid, hello + TLSCLIENT_SID_OFF, 32);
    c->state = LS_ANSWER;
    if (conn_send(c, hello, o.hello_len) == 0)
        conn_events(c);
}

static void
conn_start(struct lconn *c)
{
    uint32_t gen = c->gen + 1;
    uint8_t setup = c->setup;

    memset(c, 0, sizeof(*c));
    c->gen = gen;
    c->setup = setup;
    c->t_begin = c->t_act = g.now;
    c->state = LS_CONNECT;
    c->fd = socket(o.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
        SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, "socket: %s", strerror(errno));
        return;
    }
    g.active++;
    set_nodelay(c->fd);
    c->events = EPOLLOUT;
    if (ep_ctl(g.ep, EPOLL_CTL_ADD, c->fd, EPOLLOUT,
        (uint64_t)conn_idx(c) | (uint64_t)c->gen << 32) != 0)
        conn_fail(c, "epoll_ctl failed");
    else if (connect(c->fd, (struct sockaddr *)&o.ss, o.sslen) == 0)
        conn_connected(c);
    else if (errno != EINPROGRESS)
        conn_fail(c, "connect: %s", strerror(errno));
}

/* Read the answer to our hello exactly, nothing beyond it, and check it. */
static void
read_answer(struct lconn *c)
{
    const char *why;
    size_t need;
    int done;

    for (;;) {
        uint8_t *p;
        ssize_t n;

        why = tlsclient_answer_need(c->ans, c->ans_have, &need, &done);
        if (why != NULL || done)
            break;
        if ((p = realloc(c->ans, need)) == NULL) {
            conn_fail(c, "out of memory");
            return;
        }
        c->ans = p;
        n = recv(c->fd, c->ans + c->ans_have, need - c->ans_have, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_fail(c, "%s after %zu bytes of the answer", n < 0 ?
                strerror(errno) : "closed", c->ans_have);
            return;
        }
        c->ans_have += (size_t)n;
        c->t_act = g.now;
    }
    if (why == NULL)
        why = tlsclient_check_answer(c->ans, c->ans_have, o.secret,
            c->crand, c->sid);
    if (why != NULL) {
        conn_fail(c, "bad answer to the hello: %s", why);
        return;
    }
    free(c->ans);
    c->ans = NULL;
    send_start(c);
}

/* Message k of the latency test: k, its schedule, then filler. */
static int64_t
lat_sched(uint64_t k)
{
    return g.t_start + (int64_t)((double)k * 1e6 / o.rate);
}

static void
lat_build(uint64_t k, uint8_t *buf)
{
    struct pattern p;

    pattern_put64(buf, k);
    pattern_put64(buf + 8, (uint64_t)(lat_sched(k) - g.t_start));
    pattern_init(&p, k + 1);
    pattern_fill(&p, buf + 16, o.size - 16);
}

/* Echoed bytes: connection i carries messages i, i + n, i + 2n, ... */
static void
lat_rx(struct lconn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        uint64_t j = c->lat_rx / o.size;
        uint64_t k = (uint64_t)conn_idx(c) + j * (uint64_t)g.n;
        size_t off = (size_t)(c->lat_rx % o.size), take = o.size - off;

        take = take < n ? take : n;
        if (j >= c->lat_msgs) {
            conn_fail(c, "echo of a message never sent");
            return;
        }
        lat_build(k, msgbuf);
        if (memcmp(msgbuf + off, p, take) != 0) {
            conn_fail(c, "echo of message %llu differs",
                (unsigned long long)k);
            return;
        }
        c->lat_rx += take;
        p += take;
        n -= take;
        if (off + take == o.size) {
            sample(g.now - lat_sched(k));
            g.lat_out--;
        }
    }
}

/* The 9-byte answer of U: the DC's count must be what was sent. */
static void
bulk_reply(struct lconn *c, const uint8_t *p, size_t n)
{
    if (n > (size_t)(BENCH_REPLY_LEN - c->reply_have)) {
        conn_fail(c, "more than the count reply");
        return;
    }
    memcpy(c->reply + c->reply_have, p, n);
    c->reply_have = (uint8_t)(c->reply_have + n);
    if (c->reply_have < BENCH_REPLY_LEN)
        return;
    if (c->reply[8] != 0)
        conn_fail(c, "the DC saw a pattern mismatch");
    else if (pattern_get64(c->reply) != c->up_total)
        conn_fail(c, "the DC counted %llu bytes, %llu were sent",
            (unsigned long long)pattern_get64(c->reply),
            (unsigned long long)c->up_total);
    else
        conn_ok(c);
}

static void
on_payload(struct lconn *c, const uint8_t *p, size_t n)
{
    if (c->state == LS_ECHO) {
        if (n > (size_t)(LD_ECHO - c->echo_have) ||
            memcmp(p, c->echo + c->echo_have, n) != 0) {
            conn_fail(c, "echo differs from what was sent");
            return;
        }
        c->echo_have = (uint8_t)(c->echo_have + n);
        if (c->echo_have < LD_ECHO)
            return;
        if (o.test == T_HS) {
            sample(g.now - c->t_begin);
            conn_ok(c);
        } else if (!g.phase2) {
            c->state = LS_HELD;
            g.held++;
            conn_ready(c);
        } else {
            g.alive++;
            conn_ok(c);
        }
    } else if (o.test == T_BULK && o.dir & DIR_DOWN &&
        (c->state == LS_RUN || c->state == LS_FINISH)) {
        if (pattern_check(&c->rp, p, n) != n)
            conn_fail(c, "pattern mismatch");
        else if (c->state == LS_RUN && in_window())
            g.down_bytes += n;
    } else if (o.test == T_BULK && c->state == LS_FINISH) {
        bulk_reply(c, p, n);
    } else if (o.test == T_LATENCY && c->state == LS_RUN) {
        lat_rx(c, p, n);
    } else {
        conn_fail(c, "%zu unexpected bytes", n);
    }
}

static void
conn_eof(struct lconn *c, int reset)
{
    /* Only down and both end on EOF, and only after our half-close. */
    if (!reset && c->state == LS_FINISH && o.dir & DIR_DOWN && c->shut)
        conn_ok(c);
    else
        conn_fail(c, "%s", reset ? "connection reset" : "unexpected EOF");
}

/* One read; 1 if more may come and the connection lives on. */
static int
conn_read(struct lconn *c)
{
    uint32_t gen = c->gen;
    ssize_t n = recv(c->fd, rxbuf, sizeof(rxbuf), 0);
    size_t len = n > 0 ? (size_t)n : 0;
    enum tlsrec_status st = TLSREC_OK;

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
        errno == EINTR))
        return 0;
    if (n <= 0) {
        if (n == 0 || errno == ECONNRESET)
            conn_eof(c, n < 0);
        else
            conn_fail(c, "recv: %s", strerror(errno));
        return 0;
    }
    c->t_act = g.now;
    if (o.mode == M_TLS) {
        st = tlsrec_unwrap(&c->rd, rxbuf, len, rxbuf, &len);
        if (st == TLSREC_ERROR) {
            conn_fail(c, "bad TLS record from the server");
            return 0;
        }
    }
    if (len > 0) {
        ctr_apply(c->down, rxbuf, rxbuf, len);
        on_payload(c, rxbuf, len);
    }
    if (st == TLSREC_ALERT && c->gen == gen)
        conn_eof(c, 0);
    return c->gen == gen;
}

static void
conn_shut(struct lconn *c)
{
    if (shutdown(c->fd, SHUT_WR) != 0)
        conn_fail(c, "shutdown: %s", strerror(errno));
    else
        c->shut = 1;
}

static void
conn_writable(struct lconn *c)
{
    for (int i = 0; i < LD_ROUNDS && conn_flush(c) > 0; i++) {
        if (c->state == LS_FINISH && !c->shut)
            conn_shut(c);
        if (o.test != T_BULK || !(o.dir & DIR_UP) || c->state != LS_RUN ||
            (g.running && g.now >= g.t_end))
            return;
        /* The next chunk: 64 KiB of pattern, in fake TLS four records. */
        pattern_fill(&c->sp, txbuf, LD_BUF);
        c->up_total += LD_BUF;
        c->chunk_p = LD_BUF;
        c->chunk_w = o.mode == M_TLS ?
            tlsclient_wrapped_len(LD_BUF, LD_RECORD) : LD_BUF;
        c->chunk_sent = 0;
        if (send_payload(c, txbuf, LD_BUF) != 0)
            return;
    }
}

static void
dispatch(const struct epoll_event *ev)
{
    uint64_t d = ev->data.u64, ticks;
    uint32_t gen = (uint32_t)(d >> 32);
    struct lconn *c;

    if (d == LD_TIMER) {
        /* Only wakes the loop: tick() sends what is due. */
        (void)!read(g.tfd, &ticks, sizeof(ticks));
        return;
    }
    c = &g.c[(uint32_t)d];
    if (c->gen != gen || c->fd < 0)
        return;                         /* an event of a closed socket */
    if (c->state == LS_CONNECT) {
        conn_connected(c);
    } else {
        if (ev->events & (EPOLLOUT | EPOLLERR) && c->events & EPOLLOUT)
            conn_writable(c);
        /* Up to as many reads as writes per event, until EAGAIN:
         * stopping at a short read made "both" favour sending. */
        for (int i = 0; i < LD_ROUNDS && c->gen == gen &&
            ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR); i++)
            if (c->state == LS_ANSWER) {
                read_answer(c);
                break;
            } else if (!conn_read(c)) {
                break;
            }
    }
    if (c->gen == gen)
        conn_events(c);
}

/* Connections waiting on the peer, to which the 10 s limit applies. */
static int
expecting(const struct lconn *c)
{
    if (c->state == LS_RUN)
        return o.test == T_BULK || c->olen > c->opos ||
            c->lat_rx < c->lat_msgs * o.size;
    return c->state != LS_READY && c->state != LS_HELD;
}

static void
lat_send_due(void)
{
    struct itimerspec its;
    int64_t t;

    while (g.lat_next < g.lat_total && lat_sched(g.lat_next) <= g.now) {
        uint64_t k = g.lat_next++;
        struct lconn *c = &g.c[k % (uint64_t)g.n];

        /* Late messages go out now but count from their schedule. */
        if (c->fd < 0)
            continue;
        lat_build(k, txbuf);
        if (c->lat_rx == c->lat_msgs * o.size)
            c->t_act = g.now;           /* it was idle until now */
        c->lat_msgs++;
        g.lat_out++;
        if (send_payload(c, txbuf, o.size) == 0)
            conn_events(c);
    }
    /* Arm the timer for the next message (0 disarms) if it changed:
     * this runs after every batch of events. */
    t = g.lat_next < g.lat_total ? lat_sched(g.lat_next) : 0;
    if (t == g.lat_armed)
        return;
    g.lat_armed = t;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = t / 1000000;
    its.it_value.tv_nsec = (long)(t % 1000000) * 1000;
    if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        perror("bench load: timerfd_settime");
}

/* hold: all set up; wait for the orchestrator, then one more round trip
 * on every connection. */
static void
hold_phase2(void)
{
    char ch;

    printf("HELD n=%ld fail=%ld\n", g.held, g.fail);
    fflush(stdout);
    /* Until a line or EOF on stdin: memory is measured meanwhile. */
    for (;;) {
        ssize_t r = read(0, &ch, 1);

        if (r != 1 && !(r < 0 && errno == EINTR))
            break;
        if (r == 1 && ch == '\n')
            break;
    }
    g.now = mono_us();
    g.phase2 = 1;
    for (long i = 0; i < g.n; i++) {
        struct lconn *c = &g.c[i];

        if (c->fd < 0)
            continue;
        c->state = LS_ECHO;
        c->echo_have = 0;
        c->t_act = g.now;
        if (random_bytes(c->echo, LD_ECHO) != 0) {
            conn_fail(c, "random_bytes failed");
            continue;
        }
        memcpy(txbuf, c->echo, LD_ECHO);
        if (send_payload(c, txbuf, LD_ECHO) == 0)
            conn_events(c);
    }
}

/* Phase changes after each batch of events; 1 when the test is over. */
static int
tick(void)
{
    int all_set = g.settled == g.n;

    while (g.nrestart > 0)
        conn_start(&g.c[g.restart[--g.nrestart]]);
    /* Open more: at most LD_MAX_INFLIGHT in set-up; hold: --rate too. */
    while (g.next_open < g.n && g.inflight < LD_MAX_INFLIGHT &&
        (o.test != T_HOLD || (double)g.next_open <
        (double)(g.now - g.open_t0) * o.rate / 1e6 + 1)) {
        g.c[g.next_open].setup = 1;
        g.inflight++;
        conn_start(&g.c[g.next_open++]);
    }
    if (g.now >= g.next_scan) {
        g.next_scan = g.now + LD_SCAN_US;
        for (long i = 0; i < g.n; i++)
            if (g.c[i].fd >= 0 && expecting(&g.c[i]) &&
                g.now - g.c[i].t_act > LD_IDLE_US)
                conn_fail(&g.c[i], "no progress for 10 s");
    }
    if (o.test == T_HOLD) {
        if (!g.phase2 && all_set)
            hold_phase2();
        return g.phase2 && g.active == 0;
    }
    if (o.test == T_HS) {
        if (g.now >= g.t_end + LD_HS_GRACE_US)
            for (long i = 0; i < g.n; i++)
                if (g.c[i].fd >= 0)
                    conn_fail(&g.c[i], "in flight 5 s after the end");
        return g.now >= g.t_end && g.active == 0 && g.nrestart == 0;
    }
    if (!g.running && all_set) {
        g.running = 1;
        g.t_start = g.now;
        g.t_end = g.now + (int64_t)(o.seconds * 1e6);
        if (o.test == T_LATENCY) {
            /* ceil(S * R) messages, scheduled in [t0, t0 + S). */
            g.lat_total = (uint64_t)(o.seconds * o.rate);
            g.lat_total += (double)g.lat_total < o.seconds * o.rate;
            g.t_end = lat_sched(g.lat_total) + LD_LAT_GRACE_US;
            for (long i = 0; i < g.n; i++)
                g.c[i].state = g.c[i].fd >= 0 ? LS_RUN : LS_IDLE;
        }
    }
    if (o.test == T_LATENCY) {
        if (!g.running)
            return 0;
        lat_send_due();
        if (g.lat_next < g.lat_total || (g.lat_out > 0 && g.now < g.t_end))
            return 0;
        for (long i = 0; i < g.n; i++)
            if (g.c[i].fd >= 0 && g.c[i].lat_rx < g.c[i].lat_msgs * o.size)
                conn_fail(&g.c[i], "%llu replies missing",
                    (unsigned long long)(g.c[i].lat_msgs -
                    g.c[i].lat_rx / o.size));
        return 1;
    }
    if (g.running && !g.finished && g.now >= g.t_end) {
        /* Bulk window over: up flushes its chunk, then half-closes. */
        g.finished = 1;
        for (long i = 0; i < g.n; i++) {
            struct lconn *c = &g.c[i];

            if (c->fd < 0)
                continue;
            c->state = LS_FINISH;
            c->t_act = g.now;
            if (c->olen == c->opos)
                conn_shut(c);
            conn_events(c);
        }
    }
    return g.finished && g.active == 0;
}

/* epoll_wait timeout: until the next thing tick() must do. */
static int
next_timeout(void)
{
    int64_t t = g.next_scan;

    if (g.nrestart > 0)
        return 0;
    if (o.test == T_HOLD && g.next_open < g.n &&
        g.inflight < LD_MAX_INFLIGHT)
        t = g.open_t0 + (int64_t)((double)g.next_open * 1e6 / o.rate);
    if (g.running && !g.finished)
        t = g.now < g.t_end ? g.t_end :
            o.test == T_HS ? g.t_end + LD_HS_GRACE_US : t;
    t = t < g.next_scan ? t : g.next_scan;
    return t <= g.now ? 0 : (int)((t - g.now + 999) / 1000);
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Quantile q of the sorted samples, in milliseconds. */
static double
quant_ms(double q)
{
    if (g.nsamples == 0)
        return 0;
    return (double)g.samples[(size_t)(q * (double)(g.nsamples - 1))] / 1e3;
}

static void
report(void)
{
    if (g.nsamples > 0)
        qsort(g.samples, g.nsamples, sizeof(*g.samples), cmp_i64);
    if (o.test == T_BULK)
        printf("up_bytes=%llu down_bytes=%llu seconds=%.3f up_mbps=%.3f "
            "down_mbps=%.3f", (unsigned long long)g.up_bytes,
            (unsigned long long)g.down_bytes, o.seconds,
            (double)g.up_bytes / 1e6 / o.seconds,
            (double)g.down_bytes / 1e6 / o.seconds);
    else if (o.test == T_HS)
        printf("handshakes=%zu rate=%.3f p50_ms=%.3f p99_ms=%.3f "
            "max_ms=%.3f", g.nsamples, (double)g.nsamples / o.seconds,
            quant_ms(0.5), quant_ms(0.99), quant_ms(1));
    else if (o.test == T_HOLD)
        printf("held=%ld alive=%ld", g.held, g.alive);
    else
        printf("msgs=%zu p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
            "max_ms=%.3f", g.nsamples, quant_ms(0.5), quant_ms(0.99),
            quant_ms(0.999), quant_ms(1));
    printf(" fail=%ld\n", g.fail);
    fflush(stdout);
    if (g.fail > LD_LOG_MAX)
        fprintf(stderr, "bench load: %ld failures (the first %d shown)\n",
            g.fail, LD_LOG_MAX);
}

/* A number in [min, max] (an integer if integral); -1 if not one. */
static int
parse_num(const char *s, double min, double max, int integral, double *out)
{
    char *end;

    if (s == NULL)
        return 0;
    *out = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(*out) || *out < min ||
        *out > max || (integral && *out != (double)(long)*out)) {
        fprintf(stderr, "bench load: bad number %s\n", s);
        return -1;
    }
    return 0;
}

/* Options into o; 0, or 2 (usage) after a message. */
static int
parse_load(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "target", required_argument, NULL, 't' },
        { "mode", required_argument, NULL, 'm' },
        { "secret", required_argument, NULL, 'k' },
        { "sni", required_argument, NULL, 'i' },
        { "conns", required_argument, NULL, 'n' },
        { "clients", required_argument, NULL, 'c' },
        { "dir", required_argument, NULL, 'd' },
        { "seconds", required_argument, NULL, 's' },
        { "rate", required_argument, NULL, 'r' },
        { "size", required_argument, NULL, 'b' },
        { "hello-len", required_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static const char *const tests[] = { "bulk", "hs", "hold", "latency" };
    static const char *const modes[] = { "direct", "classic", "secure",
        "tls" };
    /* The test options each test takes; upper case: required. */
    static const char *const takes[] = { "NDS", "CS", "Nr", "NSRb" };
    const char *v[128] = { NULL };
    double conns = 0, size = 64, hello_len = TLSCLIENT_HELLO_DEFAULT;
    int opt, bad = 0;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1)
        if (opt == '?')
            bad = 1;
        else
            v[opt] = optarg;
    o.test = o.mode = -1;
    for (int i = 0; i < 4 && optind == argc - 1; i++) {
        if (strcmp(argv[optind], tests[i]) == 0)
            o.test = i;
        if (v['m'] != NULL && strcmp(v['m'], modes[i]) == 0)
            o.mode = i;
    }
    for (const char *p = "ncdsrb"; o.test >= 0 && *p != '\0'; p++) {
        const char *t = takes[o.test];

        if (v[(int)*p] != NULL ? strchr(t, *p) == NULL &&
            strchr(t, *p - 32) == NULL : strchr(t, *p - 32) != NULL)
            bad = 1;
    }
    if (bad || o.test < 0 || o.mode < 0 || v['t'] == NULL) {
        fprintf(stderr, "usage: bench load --target HOST:PORT "
            "--mode direct|classic|secure|tls\n"
            "           [--secret HEX32] [--sni NAME] [--hello-len N] "
            "TEST [options]\n"
            "  bulk --conns N --dir up|down|both --seconds S\n"
            "  hs --clients N --seconds S\n"
            "  hold --conns N [--rate R]         (R default 2000/s)\n"
            "  latency --conns N --rate R --seconds S [--size 16..%d]\n",
            LD_BUF);
        return 2;
    }
    o.rate = 2000;
    if (parse_num(v['n'] ? v['n'] : v['c'], 1, 1e6, 1, &conns) != 0 ||
        parse_num(v['s'], 0.001, 86400, 0, &o.seconds) != 0 ||
        parse_num(v['r'], 0.001, 1e7, 0, &o.rate) != 0 ||
        parse_num(v['b'], 16, LD_BUF, 1, &size) != 0 ||
        parse_num(v['h'], 1, TLSCLIENT_HELLO_MAX, 1, &hello_len) != 0)
        return 2;
    o.conns = (long)conns;
    o.size = (size_t)size;
    o.hello_len = (size_t)hello_len;
    if (v['d'] != NULL && (o.dir = !strcmp(v['d'], "up") ? DIR_UP :
        !strcmp(v['d'], "down") ? DIR_DOWN : !strcmp(v['d'], "both") ?
        DIR_UP | DIR_DOWN : 0) == 0) {
        fprintf(stderr, "bench load: --dir is up, down or both\n");
        return 2;
    }
    if (net_parse_addr(v['t'], &o.ss, &o.sslen) != 0) {
        fprintf(stderr, "bench load: bad --target %s\n", v['t']);
        return 2;
    }
    if (o.mode != M_DIRECT && (v['k'] == NULL ||
        hex_decode(v['k'], o.secret, sizeof(o.secret)) != 0)) {
        fprintf(stderr, "bench load: --mode %s needs --secret HEX32\n",
            v['m']);
        return 2;
    }
    o.sni = v['i'];
    /*
     * One hello built once (an X25519 key share costs ~35 us, and the
     * proxy never uses the client's); a size no hello fits is refused
     * here, not once per connection.
     */
    if (o.mode == M_TLS && tlshello_build(g.hello, o.hello_len, o.sni,
        o.secret, (uint32_t)time(NULL)) != o.hello_len) {
        fprintf(stderr, "bench load: no ClientHello is %zu bytes long\n",
            o.hello_len);
        return 2;
    }
    return 0;
}

int
bench_load(int argc, char **argv)
{
    static struct epoll_event evs[1024];
    int rc = parse_load(argc, argv);

    if (rc != 0)
        return rc;
    if (nofile_raise_to_hard() != 0)
        perror("bench: setrlimit(RLIMIT_NOFILE)");
    g.tfd = -1;
    g.n = o.conns;
    g.c = calloc((size_t)g.n, sizeof(*g.c));
    g.restart = calloc((size_t)g.n, sizeof(*g.restart));
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.c == NULL || g.restart == NULL || g.ep < 0) {
        perror("bench load: set-up");
        return 1;
    }
    for (long i = 0; i < g.n; i++)
        g.c[i].fd = -1;
    g.now = g.open_t0 = mono_us();
    g.next_scan = g.now + LD_SCAN_US;
    if (o.test == T_HS) {
        /* Every client loops from now on: no set-up phase. */
        g.next_open = g.n;
        g.running = 1;
        g.t_start = g.now;
        g.t_end = g.now + (int64_t)(o.seconds * 1e6);
        for (long i = 0; i < g.n; i++)
            g.restart[g.nrestart++] = i;
    }
    if (o.test == T_LATENCY) {
        g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
            TFD_CLOEXEC);
        if (g.tfd < 0 || ep_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, EPOLLIN,
            LD_TIMER) != 0)
            return 1;
    }

    while (!tick()) {
        int n = epoll_wait(g.ep, evs, 1024, next_timeout());

        if (n < 0 && errno != EINTR) {
            perror("bench load: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            g.now = mono_us();
            dispatch(&evs[i]);
        }
        g.now = mono_us();
    }
    report();

    g.running = 0;                      /* no hs restarts from here on */
    for (long i = 0; i < g.n; i++)
        conn_close(&g.c[i]);
    free(g.c);
    free(g.restart);
    free(g.samples);
    if (g.tfd >= 0)
        close(g.tfd);
    close(g.ep);
    return 0;
}
