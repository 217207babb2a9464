/*
 * fakedc.c - a fake Telegram DC for the integration tests.
 *
 * Listens on one or more addresses, accepts obfuscated2 connections made
 * without a secret (as the proxy makes them towards a DC), logs the tag,
 * the dc index and what the first transport frame was, and then serves
 * the "TMT1" test commands of pattern.h (ECHO, SOURCE, SINK).  One thread
 * per connection; runs until SIGTERM or SIGINT.
 *
 * --respq-bytes N --respq-fp HEX (t_tdlib.sh): answer a req_pq_multi with
 * a valid resPQ of N bytes (the fingerprint list padded with made-up ones,
 * the given known ones last) and log the client's next request, which for
 * a real client is req_DH_params: it parsed the whole answer.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "net.h"
#include "obfs2.h"
#include "pattern.h"
#include "proto.h"
#include "util.h"

#define MAX_LISTEN          16
#define BUF_LEN             65536
#define MAX_FRAME           (1 << 20)
#define HEADER_DEADLINE_MS  10000       /* the 64-byte header */
#define FRAME_DEADLINE_MS   10000       /* the first frame after it */
#define IDLE_MS             120000      /* commands: wait without progress */
#define HOLD_MS             600000      /* mtproto: keep open at most this */
#define DRAIN_MS            5000        /* after SINK's verdict */

struct listener {
    int fd;
    char name[80];                      /* as given on the command line */
};

struct dconn {
    int fd;
    const char *via;                    /* the listener's name, then */
    char via_from[160];                 /* " from=PEER", last on the line */
    struct ctr *up, *down;              /* NULL until the header is read */
    uint8_t *buf;                       /* BUF_LEN bytes of scratch */
    char prefix[64];                    /* "tag=ee dc=2" for log lines */
    uint64_t in, out;                   /* payload bytes after the header */
    uint32_t tag;                       /* the transport of the header */
};

#define MAX_RESPQ_FP        8
#define RESPQ_FIXED         76          /* resPQ minus its fingerprints */

static FILE *log_out;
static size_t respq_bytes;              /* 0: never answer (the default) */
static uint64_t respq_fp[MAX_RESPQ_FP];
static int respq_nfp;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
    fprintf(stderr, "usage: fakedc -l HOST:PORT [-l HOST:PORT ...] "
        "[-o LOGFILE]\n"
        "    [--respq-bytes N --respq-fp HEX [--respq-fp HEX ...]]\n"
        "  HOST:PORT is 127.0.0.1:20001 or [::1]:20001\n");
    exit(2);
}

/* Append one whole line to the log file. */
static void logline(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
logline(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&log_mu);
    va_start(ap, fmt);
    vfprintf(log_out, fmt, ap);
    va_end(ap);
    fputc('\n', log_out);
    fflush(log_out);
    pthread_mutex_unlock(&log_mu);
}

static int
open_listener(const char *spec, struct listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1;

    if (net_parse_addr(spec, &ss, &sl) != 0) {
        fprintf(stderr, "fakedc: bad address '%s'\n", spec);
        return -1;
    }
    l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        fprintf(stderr, "fakedc: socket: %s\n", strerror(errno));
        return -1;
    }
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(l->fd, (struct sockaddr *)&ss, sl) != 0 ||
        listen(l->fd, 1024) != 0) {
        fprintf(stderr, "fakedc: %s: %s\n", spec, strerror(errno));
        close(l->fd);
        return -1;
    }
    snprintf(l->name, sizeof(l->name), "%s", spec);
    return 0;
}

/* Wait for events on fd until the absolute deadline; 1 ready, 0 timeout. */
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

/*
 * Read up to max bytes (decrypted with the up stream once it exists).
 * Returns the count, 0 at EOF, -1 on error or timeout (errno ETIMEDOUT).
 */
static ssize_t
rx_some(struct dconn *c, uint8_t *buf, size_t max, int64_t deadline)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, max, 0);
        int w;

        if (n > 0) {
            if (c->up != NULL) {
                ctr_apply(c->up, buf, buf, (size_t)n);
                c->in += (uint64_t)n;
            }
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        w = wait_fd(c->fd, POLLIN, deadline);
        if (w == 0)
            errno = ETIMEDOUT;
        if (w <= 0)
            return -1;
    }
}

/*
 * Read exactly n bytes.  Returns 0, or -1 with *got = what arrived and
 * *why = "eof", "timeout" or "error".
 */
static int
rx_exact(struct dconn *c, uint8_t *buf, size_t n, int64_t deadline,
    size_t *got, const char **why)
{
    size_t have = 0;

    while (have < n) {
        ssize_t r = rx_some(c, buf + have, n - have, deadline);

        if (r <= 0) {
            if (got != NULL)
                *got = have;
            *why = r == 0 ? "eof" : errno == ETIMEDOUT ? "timeout" : "error";
            return -1;
        }
        have += (size_t)r;
    }
    if (got != NULL)
        *got = have;
    return 0;
}

/* Encrypt buf in place with the down stream and send all of it. */
static int
tx_all(struct dconn *c, uint8_t *buf, size_t n)
{
    size_t done = 0;

    ctr_apply(c->down, buf, buf, n);
    while (done < n) {
        ssize_t w = send(c->fd, buf + done, n - done, MSG_NOSIGNAL);

        if (w > 0) {
            done += (size_t)w;
            c->out += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c->fd, POLLOUT, mono_ms() + IDLE_MS) <= 0)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* Read and discard until EOF or the deadline; 0 at EOF. */
static int
drain(struct dconn *c, int64_t deadline)
{
    for (;;) {
        ssize_t r = rx_some(c, c->buf, BUF_LEN, deadline);

        if (r == 0)
            return 0;
        if (r < 0)
            return -1;
    }
}

static const char *
errstr(void)
{
    return errno == ETIMEDOUT ? "timeout" : "error";
}

static void
cmd_echo(struct dconn *c)
{
    const char *res = "ok";

    for (;;) {
        ssize_t r = rx_some(c, c->buf, BUF_LEN, mono_ms() + IDLE_MS);

        if (r == 0)
            break;
        if (r < 0) {
            res = errstr();
            break;
        }
        if (tx_all(c, c->buf, (size_t)r) != 0) {
            res = "send-failed";
            break;
        }
    }
    shutdown(c->fd, SHUT_WR);
    logline("end %s cmd=ECHO in=%llu out=%llu result=%s", c->prefix,
        (unsigned long long)c->in, (unsigned long long)c->out, res);
}

static void
cmd_source(struct dconn *c, const struct test_cmd *cmd)
{
    struct pattern p;
    uint64_t left = cmd->bytes;
    const char *res = "ok";

    pattern_init(&p, cmd->seed);
    while (left > 0) {
        size_t chunk = left < BUF_LEN ? (size_t)left : BUF_LEN;

        pattern_fill(&p, c->buf, chunk);
        if (tx_all(c, c->buf, chunk) != 0) {
            res = "send-failed";
            break;
        }
        left -= chunk;
    }
    shutdown(c->fd, SHUT_WR);
    if (left == 0 && drain(c, mono_ms() + IDLE_MS) != 0)
        res = "no-eof";
    logline("end %s cmd=SOURCE in=%llu out=%llu result=%s", c->prefix,
        (unsigned long long)c->in, (unsigned long long)c->out, res);
}

static void
cmd_sink(struct dconn *c, const struct test_cmd *cmd)
{
    struct pattern p;
    uint64_t left = cmd->bytes, off = 0, bad_at = UINT64_MAX;
    uint8_t verdict[8];
    const char *res = "ok";

    pattern_init(&p, cmd->seed);
    while (left > 0) {
        size_t want = left < BUF_LEN ? (size_t)left : BUF_LEN, at;
        ssize_t r = rx_some(c, c->buf, want, mono_ms() + IDLE_MS);

        if (r <= 0) {
            res = r == 0 ? "eof" : errstr();
            break;
        }
        at = pattern_check(&p, c->buf, (size_t)r);
        if (at != (size_t)r && bad_at == UINT64_MAX)
            bad_at = off + at;
        off += (uint64_t)r;
        left -= (uint64_t)r;
    }
    if (left == 0) {
        memcpy(verdict, bad_at == UINT64_MAX ? "SINK-OK!" : "SINK-BAD", 8);
        if (bad_at != UINT64_MAX)
            res = "mismatch";
        if (tx_all(c, verdict, sizeof(verdict)) != 0)
            res = "send-failed";
        shutdown(c->fd, SHUT_WR);
        (void)drain(c, mono_ms() + DRAIN_MS);
    }
    if (bad_at != UINT64_MAX)
        logline("end %s cmd=SINK in=%llu out=%llu result=%s at=%llu",
            c->prefix, (unsigned long long)c->in,
            (unsigned long long)c->out, res, (unsigned long long)bad_at);
    else
        logline("end %s cmd=SINK in=%llu out=%llu result=%s", c->prefix,
            (unsigned long long)c->in, (unsigned long long)c->out, res);
}

/*
 * Read the first transport frame in the tag's framing (docs/protocol.md 4).
 * On success *payload (malloc'd, caller frees) holds *plen payload bytes,
 * quick-ack bit and padding removed, and 0 is returned.  On failure
 * returns -1 with *why set.
 */
static int
read_frame(struct dconn *c, uint32_t tag, uint8_t **payload, size_t *plen,
    const char **why)
{
    int64_t deadline = mono_ms() + FRAME_DEADLINE_MS;
    uint8_t h[4];
    size_t total, len;
    uint8_t *p;

    if (tag == TAG_ABRIDGED) {
        if (rx_exact(c, h, 1, deadline, NULL, why) != 0)
            return -1;
        total = h[0] & 0x7f;
        if (total == 0x7f) {
            if (rx_exact(c, h, 3, deadline, NULL, why) != 0)
                return -1;
            total = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16;
        }
        if (total > MAX_FRAME / 4) {
            *why = "too-long";
            return -1;
        }
        total *= 4;
        len = total;
    } else {
        uint32_t v;

        if (rx_exact(c, h, 4, deadline, NULL, why) != 0)
            return -1;
        v = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
            (uint32_t)h[3] << 24;
        total = v & 0x7fffffffu;
        if (total > MAX_FRAME) {
            *why = "too-long";
            return -1;
        }
        len = tag == TAG_PADDED ? total & ~(size_t)3 : total;
    }
    p = malloc(total > 0 ? total : 1);
    if (p == NULL) {
        *why = "oom";
        return -1;
    }
    if (rx_exact(c, p, total, deadline, NULL, why) != 0) {
        free(p);
        return -1;
    }
    *payload = p;
    *plen = len;
    return 0;
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
        (uint32_t)p[3] << 24;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Frame len bytes (a multiple of 4, at p + 4) in the connection's
 * transport, in place; returns where the frame starts and sets *flen.
 * The caller leaves 4 bytes of room before p + 4.
 */
static uint8_t *
frame_out(struct dconn *c, uint8_t *p, size_t len, size_t *flen)
{
    if (c->tag != TAG_ABRIDGED) {
        put_le32(p, (uint32_t)len);
        *flen = len + 4;
        return p;
    }
    if (len / 4 < 0x7f) {
        p[3] = (uint8_t)(len / 4);
        *flen = len + 1;
        return p + 3;
    }
    put_le32(p, (uint32_t)(len / 4) << 8 | 0x7f);
    *flen = len + 4;
    return p;
}

/*
 * Answer req_pq_multi (req, 40 bytes or more: the unencrypted envelope
 * and the nonce) with a resPQ of respq_bytes bytes, then read the next
 * frame and log its constructor.  The pq is the product of two primes
 * (1229739323 * 1402015859) that a client factors in microseconds; the
 * fingerprint list is mostly made up, so that the answer is as big as the
 * test wants, with the known fingerprints last: the client must read all
 * of it to find one it has a key for.
 */
static void
serve_respq(struct dconn *c, const uint8_t *req)
{
    static const uint8_t pq[8] = {
        0x17, 0xed, 0x48, 0x94, 0x1a, 0x08, 0xf9, 0x81
    };
    size_t count = (respq_bytes - RESPQ_FIXED) / 8;
    size_t len = RESPQ_FIXED + 8 * count, flen = 0, at;
    uint8_t *buf = calloc(1, len + 4), *m, *fr, *next = NULL;
    uint32_t rnd = 0;
    const char *why = "";
    size_t nlen = 0;

    if (buf == NULL) {
        logline("resp %s reason=oom via=%s", c->prefix, c->via);
        return;
    }
    m = buf + 4;
    /* auth_key_id 0; a server message id (now, low bits 01); length. */
    (void)random_bytes((uint8_t *)&rnd, sizeof(rnd));
    put_le64(m + 8, (uint64_t)time(NULL) << 32 | (rnd & ~3u) | 1u);
    put_le32(m + 16, (uint32_t)(len - 20));
    put_le32(m + 20, 0x05162463u);                  /* resPQ */
    memcpy(m + 24, req + 24, 16);                   /* the client's nonce */
    (void)random_bytes(m + 40, 16);                 /* server_nonce */
    m[56] = sizeof(pq);                             /* bytes: 1 + 8 + 3 */
    memcpy(m + 57, pq, sizeof(pq));
    put_le32(m + 68, 0x1cb5c415u);                  /* vector<long> */
    put_le32(m + 72, (uint32_t)count);
    at = RESPQ_FIXED;
    for (size_t i = 0; i + (size_t)respq_nfp < count; i++, at += 8)
        put_le64(m + at, 0x7e57000000000000ull + i);    /* nobody's key */
    for (int i = 0; i < respq_nfp; i++, at += 8)
        put_le64(m + at, respq_fp[i]);
    fr = frame_out(c, buf, len, &flen);
    if (tx_all(c, fr, flen) != 0) {
        logline("resp %s reason=send-failed via=%s", c->prefix, c->via);
        free(buf);
        return;
    }
    free(buf);
    logline("resp %s sent=resPQ bytes=%zu fingerprints=%zu via=%s",
        c->prefix, len, count, c->via);
    if (read_frame(c, c->tag, &next, &nlen, &why) != 0) {
        logline("next %s reason=no-frame end=%s via=%s", c->prefix, why,
            c->via);
        return;
    }
    if (nlen >= 24)
        logline("next %s constructor=%08x len=%zu via=%s", c->prefix,
            le32(next + 20), nlen, c->via);
    else
        logline("next %s reason=short len=%zu via=%s", c->prefix, nlen,
            c->via);
    free(next);
}

static void
serve_payload(struct dconn *c, const uint8_t *p, size_t len)
{
    static const uint8_t zero[8];
    struct test_cmd cmd;

    if (len >= 24 && memcmp(p, zero, 8) == 0) {
        uint32_t ctor = le32(p + 20);
        int ok = ctor == 0xbe7e8ef1u || ctor == 0x60469778u;

        logline("conn %s first=mtproto constructor=%08x ok=%d via=%s",
            c->prefix, ctor, ok, c->via);
        if (respq_bytes > 0 && ctor == 0xbe7e8ef1u && len >= 40)
            serve_respq(c, p);
        /* Never answer (again); hold the connection until the peer closes. */
        (void)drain(c, mono_ms() + HOLD_MS);
        return;
    }
    if (!cmd_is_cmd(p, len)) {
        logline("conn %s first=unknown len=%zu via=%s", c->prefix, len,
            c->via);
        return;
    }
    if (cmd_decode(p, len, &cmd) != 0 ||
        (strcmp(cmd.name, "ECHO") != 0 && strcmp(cmd.name, "SOURCE") != 0 &&
        strcmp(cmd.name, "SINK") != 0)) {
        logline("conn %s first=unknown reason=bad-cmd len=%zu via=%s",
            c->prefix, len, c->via);
        return;
    }
    logline("conn %s first=cmd cmd=%s bytes=%llu via=%s", c->prefix,
        cmd.name, (unsigned long long)cmd.bytes, c->via);
    if (strcmp(cmd.name, "ECHO") == 0)
        cmd_echo(c);
    else if (strcmp(cmd.name, "SOURCE") == 0)
        cmd_source(c, &cmd);
    else
        cmd_sink(c, &cmd);
}

static void
serve(struct dconn *c)
{
    uint8_t hdr[OBFS2_HEADER_LEN], plain[OBFS2_HEADER_LEN];
    struct obfs2_keys k;
    struct ctr *probe;
    uint8_t *payload = NULL;
    size_t got = 0, plen = 0;
    const char *why = "";
    uint32_t tag;
    int16_t dc;

    if (rx_exact(c, hdr, sizeof(hdr), mono_ms() + HEADER_DEADLINE_MS, &got,
        &why) != 0) {
        logline("drop reason=short-header got=%zu end=%s via=%s", got, why,
            c->via);
        return;
    }
    obfs2_derive(hdr, NULL, &k);
    probe = ctr_new(k.up_key, k.up_iv);
    if (probe == NULL || obfs2_streams(hdr, &k, &c->up, &c->down) != 0) {
        ctr_free(probe);
        logline("drop reason=oom via=%s", c->via);
        return;
    }
    ctr_apply(probe, hdr, plain, sizeof(plain));
    ctr_free(probe);
    tag = le32(plain + 56);
    dc = (int16_t)(uint16_t)(plain[60] | plain[61] << 8);
    c->tag = tag;
    if (tag == TAG_ABRIDGED || tag == TAG_INTERMEDIATE || tag == TAG_PADDED)
        snprintf(c->prefix, sizeof(c->prefix), "tag=%02x dc=%d",
            (unsigned)(tag & 0xff), dc);
    else
        snprintf(c->prefix, sizeof(c->prefix), "tag=%08x dc=%d",
            (unsigned)tag, dc);
    if (!obfs2_tag_valid(tag)) {
        logline("conn %s first=unknown reason=bad-tag via=%s", c->prefix,
            c->via);
        return;
    }
    if (read_frame(c, tag, &payload, &plen, &why) != 0) {
        logline("conn %s first=unknown reason=no-frame end=%s via=%s",
            c->prefix, why, c->via);
        return;
    }
    serve_payload(c, payload, plen);
    free(payload);
}

static void *
conn_thread(void *arg)
{
    struct dconn *c = arg;

    c->buf = malloc(BUF_LEN);
    if (c->buf != NULL)
        serve(c);
    close(c->fd);
    ctr_free(c->up);
    ctr_free(c->down);
    free(c->buf);
    free(c);
    return NULL;
}

static void *
accept_thread(void *arg)
{
    struct listener *l = arg;
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        struct dconn *c;
        pthread_t t;
        int one = 1;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
                errno == ENOBUFS)
                usleep(10000);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        {
            struct sockaddr_storage peer;
            socklen_t plen = sizeof(peer);
            char p[64] = "?";

            if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
                net_format((struct sockaddr *)&peer, p, sizeof(p));
            snprintf(c->via_from, sizeof(c->via_from), "%s from=%s",
                l->name, p);
            c->via = c->via_from;
        }
        if (pthread_create(&t, &attr, conn_thread, c) != 0) {
            logline("drop reason=no-thread via=%s", l->name);
            close(fd);
            free(c);
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    static struct listener ls[MAX_LISTEN];
    const char *specs[MAX_LISTEN];
    const char *logpath = NULL;
    int nspecs = 0, opt, sig;
    sigset_t set;

    static const struct option longopts[] = {
        { "respq-bytes", required_argument, NULL, 'R' },
        { "respq-fp", required_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 }
    };

    while ((opt = getopt_long(argc, argv, "l:o:h", longopts, NULL)) != -1) {
        char *end;

        switch (opt) {
        case 'R':
            errno = 0;
            respq_bytes = (size_t)strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' ||
                respq_bytes < RESPQ_FIXED + 8 * MAX_RESPQ_FP ||
                respq_bytes > MAX_FRAME)
                usage();
            break;
        case 'F':
            errno = 0;
            if (respq_nfp == MAX_RESPQ_FP)
                usage();
            respq_fp[respq_nfp++] = strtoull(optarg, &end, 16);
            if (errno != 0 || *end != '\0' || optarg[0] == '\0' ||
                optarg[0] == '-')
                usage();
            break;
        case 'l':
            if (nspecs == MAX_LISTEN)
                usage();
            specs[nspecs++] = optarg;
            break;
        case 'o':
            logpath = optarg;
            break;
        default:
            usage();
        }
    }
    if (nspecs == 0 || optind != argc || (respq_bytes > 0) != (respq_nfp > 0))
        usage();
    log_out = stdout;
    if (logpath != NULL) {
        log_out = fopen(logpath, "a");
        if (log_out == NULL) {
            fprintf(stderr, "fakedc: %s: %s\n", logpath, strerror(errno));
            return 1;
        }
    }
    (void)nofile_raise_to_hard();
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < nspecs; i++)
        if (open_listener(specs[i], &ls[i]) != 0)
            return 1;
    for (int i = 0; i < nspecs; i++) {
        pthread_t t;

        if (pthread_create(&t, NULL, accept_thread, &ls[i]) != 0) {
            fprintf(stderr, "fakedc: cannot start a thread\n");
            return 1;
        }
        pthread_detach(t);
        printf("fakedc: listening on %s\n", ls[i].name);
    }
    fflush(stdout);
    sigwait(&set, &sig);
    printf("fakedc: signal %d, exiting\n", sig);
    fflush(stdout);
    pthread_mutex_lock(&log_mu);
    fflush(log_out);
    /* Connection threads may still run; leave without unwinding them. */
    _exit(0);
}
