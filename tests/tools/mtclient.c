/*
 * mtclient.c - an MTProxy test client for the integration tests.
 *
 * Opens N parallel obfuscated2 connections (to the proxy with a secret, or
 * with --direct straight to fakedc without one), sends a "TMT1" command
 * frame (pattern.h) in the chosen framing and verifies the echo / source /
 * sink traffic byte for byte; or checks that the peer closes silent, half
 * handshake, garbage and refused connections.  With --tls the same runs
 * inside fake TLS as tdlib does it (tlsclient.h): a signed ClientHello,
 * the answer's HMAC checked, then the stream in ApplicationData records.
 * Prints one summary line and exits 0 only if every connection succeeded.
 * --self-test checks the fake TLS client code against vectors.txt B.
 * --header-prefix HEX forces the first (random, unkeyed) bytes of the
 * plain obfuscated2 header, e.g. 16 03 03 01 00 to look like a TLS record.
 * --dump-flight FILE saves connection 0's first flight (the bytes it sent
 * before the server's first byte) for replay tests; --print-answer prints
 * the size of the fake certificate record of each fake TLS answer.
 * --framed (for ME mode, where the proxy re-frames every packet): all the
 * stream after the command goes in transport frames of -m's framing, and
 * what comes back is un-framed (quick acks counted and skipped) before it
 * is checked; --quickack asks for a quick ack on every frame sent; --rpc
 * (echo) goes request by request, resending a packet whose echo is late.
 * For the lifecycle tests (reload, upgrade, stop): --loop SECONDS makes
 * every connection repeat its test (connect, handshake, test, close) until
 * SECONDS have passed, printing each failure at once with a timestamp;
 * --rate BYTES_PER_SECOND paces what echo and sink send, so that a -b
 * BYTES stream lasts BYTES/RATE seconds.
 */
#include <arpa/inet.h>
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
#include "faketls.h"
#include "net.h"
#include "obfs2.h"
#include "pattern.h"
#include "proto.h"
#include "tlsclient.h"
#include "tlsrec.h"
#include "util.h"

#define BUF_LEN         65536
#define MAX_CONNS       20000
#define HALF_HEADER     30
#define RECORD_DEFAULT  2878            /* tdlib's ApplicationData size */
#define TIME_OFFSET_MAX (10L * 365 * 86400)

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
    const char *tls;                    /* --tls DOMAIN, else NULL */
    int no_sni;
    size_t hello_size;                  /* whole ClientHello record */
    size_t record_size;                 /* payload per record we send */
    long time_offset;                   /* s added to the hello's time */
    int check_records;
    int expect_inner;                   /* TLS: refused after the answer */
    const char *dump_flight;            /* --dump-flight FILE, else NULL */
    int print_answer;                   /* TLS: print the cert record size */
    int loop_s;                         /* --loop SECONDS, 0 = run once */
    uint64_t rate;                      /* --rate B/s for echo/sink, 0 = off */
    int idle_ms;                        /* --idle: echo pauses half-way */
    uint8_t prefix[8];                  /* --header-prefix: header[0..n) */
    size_t prefix_len;
    struct sockaddr_storage bind;       /* --bind ADDR, family 0 = none */
    socklen_t bindlen;
    int framed;                         /* --framed: stream in frames */
    int quickack;                       /* --quickack: ask on each frame */
    int rpc;                            /* --rpc: request, echo, next */
} opt;

/* --framed: the data packets we send, at most this many bytes each. */
#define FRAMED_CHUNK    16384
/* Framing bytes a chunk_cap() worth of data needs at most. */
#define FRAMED_SLACK(n) (((n) / FRAMED_CHUNK + 1) * 7 + 4)

/* --framed: where the reader of the proxy's frames is. */
struct unframe {
    uint8_t hdr[4];
    size_t have, need;                  /* header bytes */
    size_t left;                        /* payload bytes of this frame */
    size_t skip;                        /* padding bytes after it */
};

/* --rpc: one request per chunk of this many bytes, sent again when its
 * echo is this late; echoes of the chunks before it are late copies. */
#define RPC_CHUNK       4096
#define RPC_RESEND_MS   3000
#define RPC_HISTORY     4
#define RPC_BUF         65536

/* --loop: pause after a failed iteration, so a dead port is not hammered. */
#define LOOP_FAIL_PAUSE_MS  100
/* --rate: send in chunks of this many ms worth of bytes. */
#define PACE_SLICE_MS       20
#define PACE_MIN_CHUNK      1024    /* bytes, unless --rate is lower */

struct cconn {
    int id;
    int fd;
    struct ctr *up, *down;
    uint8_t *sbuf, *rbuf;
    int ok;
    char why[256];
    uint64_t bytes;                     /* payload bytes sent + received */
    double closed_after;                /* s, for the close-type tests */
    uint8_t *tbuf;                      /* TLS: a chunk before wrapping */
    struct tlsrec_reader rd;            /* TLS: the server's records */
    int tls_eof;                        /* TLS: the server sent an alert */
    uint64_t rec_n, rec_bytes;          /* TLS: records in, their payload */
    size_t rec_max;                     /* TLS: largest record payload */
    int64_t iter_ms;                    /* mono_ms() at the iteration start */
    int64_t fail_ms;                    /* mono_ms() at the first failure */
    struct timespec fail_wall;          /* CLOCK_REALTIME at that failure */
    uint64_t iterations, failures;      /* --loop (1 and 0/1 without it) */
    char first_why[256];                /* --loop: the first failure */
    int64_t max_stall_ms;               /* echo: longest wait for bytes */
    struct unframe uf;                  /* --framed */
    uint64_t quickacks;                 /* --framed: quick acks received */
    uint64_t retransmits;               /* --rpc: chunks sent again */
    uint64_t duplicates;                /* --rpc: late echoes ignored */
};

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
    fprintf(stderr,
        "usage: mtclient -c HOST:PORT (-s SECRET_HEX32 | --direct)\n"
        "           -m abridged|intermediate|padded [-d DC] [-n CONNS]\n"
        "           [-t echo|source|sink|silent|garbage|half] [-b BYTES]\n"
        "           [-w SECONDS] [--expect-close[=inner]]\n"
        "           [--tls DOMAIN [--no-sni] [--hello-size N]\n"
        "            [--record-size N] [--time-offset SECONDS]\n"
        "            [--check-record-sizes] [--print-answer]]\n"
        "           [--dump-flight FILE] [--loop SECONDS]\n"
        "           [--rate BYTES_PER_SECOND] [--idle MS]\n"
        "           [--header-prefix HEX] [--bind ADDR]\n"
        "           [--framed [--quickack] [--rpc]]\n"
        "       mtclient --self-test\n"
        "  --tls: fake TLS with SNI DOMAIN; hello of N bytes (default 517;\n"
        "  big ones carry an X25519MLKEM768 share), records of N payload\n"
        "  bytes (default 2878), hello time = now + SECONDS.  With --tls,\n"
        "  --expect-close wants the hello refused (no byte back) and\n"
        "  --expect-close=inner the answer, then a close after the header.\n"
        "  --print-answer prints answer_cert_len=N, the payload size of the\n"
        "  answer's ApplicationData (fake certificate) record.\n"
        "  --dump-flight FILE writes the bytes connection 0 sent before the\n"
        "  server's first byte: the ClientHello record (--tls), else the\n"
        "  64-byte header and the command frame (or what -t silent, garbage\n"
        "  or half sent).\n"
        "  --loop SECONDS: each of the -n connections repeats its test\n"
        "  (connect, handshake, test, close) until SECONDS have passed;\n"
        "  every failure is printed at once with a timestamp and its\n"
        "  reason, the summary adds iterations=N failures=F, and the exit\n"
        "  status is 1 if any iteration failed.\n"
        "  --rate BYTES_PER_SECOND (k/m suffixes): pace the sending side of\n"
        "  echo and sink so that -b BYTES take BYTES/RATE seconds.\n"
        "  --idle MS: echo stops for MS once half of -b BYTES came back\n"
        "  (the proxy's relay sees an idle connection), then goes on.\n"
        "  --header-prefix HEX: the plain obfuscated2 header starts with\n"
        "  these 1..8 bytes (the rest still follows PROTOCOL.md 2.1).\n"
        "  --bind ADDR: connect from this local address (127.0.0.2, say:\n"
        "  one more client address on loopback).\n"
        "  --framed: after the command, send the stream in frames of -m's\n"
        "  framing (at most 16 KiB, -b a multiple of 4; padded adds 0..3\n"
        "  bytes) and un-frame what comes back, counting and skipping\n"
        "  quick acks (quickacks=N in the summary), as ME mode needs.\n"
        "  --quickack: with --framed, every frame asks for a quick ack.\n"
        "  --rpc: with -t echo and --framed, request by request as an\n"
        "  MTProto client: one 4 KiB packet, wait for its echo, the next;\n"
        "  a packet not echoed within 3 s is sent again (retransmits=N and\n"
        "  duplicates=N, late echoes ignored, in the summary).\n");
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
    c->fail_ms = mono_ms();
    clock_gettime(CLOCK_REALTIME, &c->fail_wall);
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
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

/*
 * --rate: how many ms from now until `total` bytes may have been sent by a
 * stream that started at t0 (mono ms); 0 when they may go now, or without
 * --rate.
 */
static int64_t
pace_wait_ms(int64_t t0, uint64_t total)
{
    int64_t due, left;

    if (opt.rate == 0)
        return 0;
    due = t0 + (int64_t)(total * 1000 / opt.rate);
    left = due - mono_ms();
    return left > 0 ? left : 0;
}

/* --rate: the chunk size (plaintext bytes), at most cap. */
static size_t
pace_chunk(size_t cap)
{
    uint64_t k;

    if (opt.rate == 0)
        return cap;
    k = opt.rate * PACE_SLICE_MS / 1000;
    /* Slow streams (hundreds of idle-ish clients) send a few larger
     * chunks rather than a tiny one every slice: what a chatty client
     * costs is the packets, and the test would measure itself. */
    if (k < PACE_MIN_CHUNK)
        k = opt.rate < PACE_MIN_CHUNK ? opt.rate : PACE_MIN_CHUNK;
    if (k < 1)
        k = 1;
    return k < cap ? (size_t)k : cap;
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
    if (opt.bindlen != 0 &&
        bind(c->fd, (struct sockaddr *)&opt.bind, opt.bindlen) != 0) {
        fail(c, "bind: %s", strerror(errno));
        return -1;
    }
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
 * --dump-flight: connection 0 writes its first flight (n bytes, sent
 * before anything came back) to the file, replacing it at once (written
 * aside and renamed, so a reader never sees half of it).  A failure to
 * write fails the connection.
 */
static void
dump_flight(struct cconn *c, const uint8_t *buf, size_t n)
{
    char tmp[4096];
    FILE *f;
    int bad;

    if (opt.dump_flight == NULL || c->id != 0)
        return;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", opt.dump_flight) >=
        (int)sizeof(tmp)) {
        fail(c, "--dump-flight: file name too long");
        return;
    }
    f = fopen(tmp, "wb");
    if (f == NULL) {
        fail(c, "--dump-flight %s: %s", tmp, strerror(errno));
        return;
    }
    bad = n > 0 && fwrite(buf, 1, n, f) != n;
    if (fclose(f) != 0)
        bad = 1;
    if (bad || rename(tmp, opt.dump_flight) != 0) {
        fail(c, "--dump-flight %s: cannot write it", opt.dump_flight);
        (void)unlink(tmp);
    }
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

/*
 * Fake TLS: strip the server's records from the n raw bytes in buf, in
 * place, feeding tlsrec_unwrap() one header or one record body at a time
 * so that every record is seen: it must be ApplicationData (no
 * ChangeCipherSpec in the data phase: Android breaks on it) of at most
 * TLSREC_MAX_OUT bytes.  Returns the payload length, or -1 (reason
 * recorded); an alert sets tls_eof.
 */
static ssize_t
tls_unwrap(struct cconn *c, uint8_t *buf, size_t n)
{
    size_t i = 0, o = 0;

    while (i < n && !c->tls_eof) {
        int boundary = c->rd.left == 0;
        size_t k = boundary ? TLSREC_HEADER - c->rd.hdr_have : c->rd.left;
        size_t out;
        enum tlsrec_status st;

        if (k > n - i)
            k = n - i;
        /* Output never overtakes input (o <= i), so in place is safe. */
        st = tlsrec_unwrap(&c->rd, buf + i, k, buf + o, &out);
        i += k;
        o += out;
        if (st == TLSREC_ALERT) {
            c->tls_eof = 1;
            break;
        }
        if (st == TLSREC_ERROR) {
            fail(c, "bad TLS record from the server: header %02x %02x %02x "
                "%02x %02x", c->rd.hdr[0], c->rd.hdr[1], c->rd.hdr[2],
                c->rd.hdr[3], c->rd.hdr[4]);
            return -1;
        }
        if (boundary && c->rd.left > 0) {
            /* A header just completed: the record's type and length. */
            if (c->rd.type != 0x17) {
                fail(c, "server sent a record of type %02x in the data "
                    "phase", c->rd.type);
                return -1;
            }
            if (c->rd.left > TLSREC_MAX_OUT) {
                fail(c, "server sent a %zu-byte record (more than %d)",
                    c->rd.left, TLSREC_MAX_OUT);
                return -1;
            }
            c->rec_n++;
            c->rec_bytes += c->rd.left;
            if (c->rd.left > c->rec_max)
                c->rec_max = c->rd.left;
        }
    }
    return (ssize_t)o;
}

/*
 * recv_some() for stream bytes: in fake TLS, raw bytes are read (never
 * more than max, so never more stream bytes than asked for) and unwrapped
 * until some payload came.  Same returns as recv_some(); an alert is EOF.
 */
static ssize_t
recv_payload(struct cconn *c, uint8_t *buf, size_t max, int64_t deadline,
    int *reset, const char *what)
{
    for (;;) {
        ssize_t n, m;

        if (c->tls_eof) {
            *reset = 0;
            return 0;
        }
        n = recv_some(c, buf, max, deadline, reset, what);
        if (n <= 0 || opt.tls == NULL)
            return n;
        m = tls_unwrap(c, buf, (size_t)n);
        if (m != 0)
            return m;
    }
}

/* Plaintext bytes per chunk, so that a wrapped chunk fits in BUF_LEN. */
static size_t
chunk_cap(void)
{
    size_t cap = opt.tls == NULL ? BUF_LEN :
        BUF_LEN / (opt.record_size + TLSREC_HEADER) * opt.record_size;

    /* --framed: cap is data bytes, and their frames must fit too. */
    if (opt.framed)
        cap = (cap - FRAMED_SLACK(cap)) & ~(size_t)3;
    return cap;
}

/* pace_chunk(chunk_cap()), in whole words when --framed. */
static size_t
send_cap(void)
{
    size_t cap = pace_chunk(chunk_cap());

    if (opt.framed) {
        cap &= ~(size_t)3;
        if (cap < 4)
            cap = 4;
    }
    return cap;
}

/*
 * A frame header in -m's framing for an n-byte packet with pad bytes of
 * padding (padded only), the quick-ack bit set with --quickack; its
 * length.
 */
static size_t
frame_header(size_t n, size_t pad, uint8_t *out)
{
    if (opt.tag == TAG_ABRIDGED) {
        size_t w = n / 4;
        uint8_t qa = opt.quickack ? 0x80 : 0;

        if (w < 0x7f) {
            out[0] = (uint8_t)w | qa;
            return 1;
        }
        out[0] = 0x7f | qa;
        out[1] = (uint8_t)w;
        out[2] = (uint8_t)(w >> 8);
        out[3] = (uint8_t)(w >> 16);
        return 4;
    } else {
        uint32_t v = (uint32_t)(n + pad);

        if (opt.quickack)
            v |= 0x80000000u;
        out[0] = (uint8_t)v;
        out[1] = (uint8_t)(v >> 8);
        out[2] = (uint8_t)(v >> 16);
        out[3] = (uint8_t)(v >> 24);
        return 4;
    }
}

/* --framed: n pattern bytes (a multiple of 4) as frames into out. */
static size_t
frame_pattern(struct pattern *sp, size_t n, uint8_t *out)
{
    size_t o = 0;

    while (n > 0) {
        size_t k = n < FRAMED_CHUNK ? n : FRAMED_CHUNK;
        uint8_t pad = 0;

        if (opt.tag == TAG_PADDED) {
            (void)random_bytes(&pad, 1);
            pad &= 3;
        }
        o += frame_header(k, pad, out + o);
        pattern_fill(sp, out + o, k);
        o += k;
        if (pad > 0)
            (void)random_bytes(out + o, pad);
        o += pad;
        n -= k;
    }
    return o;
}

/*
 * --framed: strip the proxy's framing from n decrypted bytes in place:
 * headers, padding and quick acks (counted) go, payload stays.  Returns
 * the payload bytes left at the start of buf.
 */
static size_t
unframe(struct cconn *c, uint8_t *buf, size_t n)
{
    struct unframe *u = &c->uf;
    size_t i = 0, o = 0;

    while (i < n) {
        size_t k;

        if (u->left > 0) {              /* the payload, then padding */
            k = u->left < n - i ? u->left : n - i;
            memmove(buf + o, buf + i, k);
            o += k;
            i += k;
            u->left -= k;
            continue;
        }
        if (u->skip > 0) {
            k = u->skip < n - i ? u->skip : n - i;
            i += k;
            u->skip -= k;
            continue;
        }
        if (u->have == 0)
            u->need = opt.tag == TAG_ABRIDGED ? 1 : 4;
        u->hdr[u->have++] = buf[i++];
        if (opt.tag == TAG_ABRIDGED && u->have == 1) {
            if (u->hdr[0] >= 0x7f) {
                u->need = 4;            /* a long length or a quick ack */
                continue;
            }
            u->left = (size_t)u->hdr[0] * 4;
            u->have = 0;
            continue;
        }
        if (u->have < u->need)
            continue;
        u->have = 0;
        if (opt.tag == TAG_ABRIDGED) {
            if (u->hdr[0] >= 0x80)
                c->quickacks++;
            else
                u->left = ((size_t)u->hdr[1] | (size_t)u->hdr[2] << 8 |
                    (size_t)u->hdr[3] << 16) * 4;
        } else {
            uint32_t v = (uint32_t)u->hdr[0] | (uint32_t)u->hdr[1] << 8 |
                (uint32_t)u->hdr[2] << 16 | (uint32_t)u->hdr[3] << 24;

            if (v & 0x80000000u) {
                c->quickacks++;
            } else if (opt.tag == TAG_PADDED) {
                u->left = v & ~3u;
                u->skip = v & 3u;
            } else {
                u->left = v;
            }
        }
    }
    return o;
}

/*
 * The next n (<= chunk_cap()) pattern bytes, encrypted and in fake TLS
 * wrapped into records, in c->sbuf.  Returns the bytes to send.
 */
static size_t
next_chunk(struct cconn *c, struct pattern *sp, size_t n)
{
    uint8_t *p = opt.tls != NULL ? c->tbuf : c->sbuf;

    if (opt.framed) {
        n = frame_pattern(sp, n, p);
    } else {
        pattern_fill(sp, p, n);
    }
    ctr_apply(c->up, p, p, n);
    if (opt.tls == NULL)
        return n;
    return tlsclient_wrap(p, n, opt.record_size, c->sbuf);
}

/* A signed ClientHello of opt.hello_size bytes for now + time_offset. */
static size_t
build_hello(uint8_t *hello)
{
    uint32_t ts = (uint32_t)((int64_t)time(NULL) + opt.time_offset);

    return tlshello_build(hello, opt.hello_size,
        opt.no_sni ? NULL : opt.tls, opt.secret, ts);
}

/*
 * Fake TLS: send the ClientHello; unless want_answer is 0, read the
 * answer exactly (three records, nothing beyond) and check it.  Returns 0
 * when done, 1 if the proxy closed without sending a byte, -1 on failure
 * (reason recorded).
 */
static int
tls_hello(struct cconn *c, int want_answer)
{
    uint8_t hello[TLSCLIENT_HELLO_MAX], *ans = NULL;
    size_t have = 0, need, cap = 0;
    int64_t deadline;
    const char *why;
    int closed, reset, done, rc = -1;

    if (build_hello(hello) != opt.hello_size) {
        fail(c, "cannot build a %zu-byte ClientHello", opt.hello_size);
        return -1;
    }
    if (send_raw(c, hello, opt.hello_size, &closed) != 0)
        return -1;
    dump_flight(c, hello, opt.hello_size);
    if (!want_answer)
        return 0;
    deadline = deadline_w();
    for (;;) {
        ssize_t n;

        why = tlsclient_answer_need(ans, have, &need, &done);
        if (why != NULL) {
            fail(c, "bad answer to the hello: %s", why);
            goto out;
        }
        if (done)
            break;
        if (need > cap) {
            uint8_t *p = realloc(ans, need);

            if (p == NULL) {
                fail(c, "out of memory");
                goto out;
            }
            ans = p;
            cap = need;
        }
        n = recv_some(c, ans + have, need - have, deadline, &reset,
            "reading the answer to the hello");
        if (n < 0)
            goto out;
        if (n == 0) {
            if (have == 0) {
                rc = 1;
                goto out;
            }
            fail(c, "%s after %zu bytes of the answer to the hello",
                reset ? "reset" : "EOF", have);
            goto out;
        }
        have += (size_t)n;
    }
    why = tlsclient_check_answer(ans, have, opt.secret,
        hello + TLSCLIENT_RANDOM_OFF, hello + TLSCLIENT_SID_OFF);
    if (why != NULL) {
        fail(c, "bad answer to the hello (%zu bytes): %s", have, why);
        goto out;
    }
    if (opt.print_answer) {
        /* ServerHello record, ChangeCipherSpec, then 17 03 03 <N>. */
        const uint8_t *ad = ans + 5 + ((size_t)ans[3] << 8 | ans[4]) +
            TLSCLIENT_CCS_LEN;

        printf("mtclient: conn %d answer_len=%zu answer_cert_len=%u\n",
            c->id, have, (unsigned)ad[3] << 8 | ad[4]);
    }
    rc = 0;
out:
    free(ans);
    return rc;
}

/* Build the command frame in the chosen framing into out; its length. */
static size_t
build_cmd_frame(const struct test_cmd *cmd, uint8_t *out)
{
    uint8_t payload[CMD_LEN];
    size_t n = 0, total = CMD_LEN;

    cmd_encode(cmd, payload);
    if (opt.tag == TAG_ABRIDGED) {
        out[n++] = (uint8_t)(CMD_LEN / 4) |
            (opt.framed && opt.quickack ? 0x80 : 0);
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
        out[n++] = (uint8_t)(total >> 24) |
            (opt.framed && opt.quickack ? 0x80 : 0);
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

/*
 * A header as a client draws it, starting with --header-prefix if given.
 * Bytes 0..7 are sent in clear and feed no key, so the prefix simply
 * replaces them; the header is drawn again until the whole of it obeys
 * the first-bytes rules.
 */
static int
build_header(struct cconn *c, uint8_t wire[OBFS2_HEADER_LEN])
{
    for (;;) {
        if (obfs2_build(wire, opt.tag, opt.dc, opt.direct ? NULL :
            opt.secret, NULL, NULL, &c->up, &c->down) != 0) {
            fail(c, "obfs2_build failed");
            return -1;
        }
        memcpy(wire, opt.prefix, opt.prefix_len);
        if (obfs2_header_allowed(wire))
            return 0;
        ctr_free(c->up);
        ctr_free(c->down);
        c->up = c->down = NULL;
    }
}

/*
 * Send the obfuscated2 header and the command frame; in fake TLS after a
 * ChangeCipherSpec, in ApplicationData records (as many as record_size
 * makes it).
 */
static int
handshake(struct cconn *c, struct test_cmd *cmd)
{
    uint8_t wire[OBFS2_HEADER_LEN + 4 + CMD_LEN + 3];
    size_t flen, n;
    uint64_t seed;
    int closed;

    if (build_header(c, wire) != 0)
        return -1;
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
    if (opt.tls == NULL) {
        if (send_raw(c, wire, OBFS2_HEADER_LEN + flen, &closed) != 0)
            return -1;
        dump_flight(c, wire, OBFS2_HEADER_LEN + flen);
        return 0;
    }
    memcpy(c->sbuf, TLSCLIENT_CCS, TLSCLIENT_CCS_LEN);
    n = TLSCLIENT_CCS_LEN + tlsclient_wrap(wire, OBFS2_HEADER_LEN + flen,
        opt.record_size, c->sbuf + TLSCLIENT_CCS_LEN);
    return send_raw(c, c->sbuf, n, &closed);
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
    ssize_t r = recv_payload(c, c->rbuf, BUF_LEN, deadline_w(), &reset,
        what);

    /* Framed: quick acks and padding may still come before the end. */
    while (opt.framed && r > 0) {
        ctr_apply(c->down, c->rbuf, c->rbuf, (size_t)r);
        if (unframe(c, c->rbuf, (size_t)r) > 0)
            break;
        r = recv_payload(c, c->rbuf, BUF_LEN, deadline_w(), &reset, what);
    }
    if (r > 0)
        fail(c, "%s: %zd unexpected bytes", what, r);
    else if (r == 0 && reset)
        fail(c, "%s: connection reset instead of EOF", what);
}

static void
run_echo(struct cconn *c, const struct test_cmd *cmd)
{
    struct pattern sp, rp;
    uint64_t sent = 0, rcvd = 0;        /* sent: handed to the buffer */
    size_t spos = 0, slen = 0, cap = send_cap();
    int64_t t0 = mono_ms(), deadline = deadline_w(), waiting = 0;
    int idled = opt.idle_ms == 0;

    pattern_init(&sp, cmd->seed);
    pattern_init(&rp, cmd->seed);
    /* waiting: since when bytes we sent are due back (0: none are); the
     * longest such wait is the pause a user would notice. */
    while (rcvd < opt.bytes) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int64_t left, pace = 0;
        int r;

        /* Nothing in flight either way: the relay's buffers are empty. */
        if (!idled && sent >= opt.bytes / 2 && rcvd == sent) {
            struct timespec ts = {
                .tv_sec = opt.idle_ms / 1000,
                .tv_nsec = (long)(opt.idle_ms % 1000) * 1000000L,
            };

            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                continue;
            idled = 1;
            t0 += opt.idle_ms;
            deadline = deadline_w();
        }

        if (spos == slen && sent < opt.bytes &&
            (idled || sent < opt.bytes / 2)) {
            uint64_t rest = opt.bytes - sent;
            size_t k = rest < cap ? (size_t)rest : cap;

            pace = pace_wait_ms(t0, sent + k);
            if (pace == 0) {
                slen = next_chunk(c, &sp, k);
                spos = 0;
                sent += k;
            } else if (deadline < mono_ms() + pace + 1000LL * opt.wait_s) {
                /* Waiting for our own pacer is not the peer's delay. */
                deadline = mono_ms() + pace + 1000LL * opt.wait_s;
            }
        }
        if (spos < slen)
            p.events |= POLLOUT;
        left = deadline - mono_ms();
        if (left <= 0) {
            fail(c, "echo: timeout after %d s without progress (queued "
                "%llu of %llu bytes, %zu wire bytes unsent, received %llu)",
                opt.wait_s, (unsigned long long)sent,
                (unsigned long long)opt.bytes, slen - spos,
                (unsigned long long)rcvd);
            return;
        }
        if (pace > 0 && pace < left)
            left = pace;                /* wake up for the next chunk */
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
                if (waiting == 0)
                    waiting = mono_ms();
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                errno != EINTR) {
                fail(c, "echo: send: %s (queued %llu bytes, %zu wire bytes "
                    "unsent)", strerror(errno), (unsigned long long)sent,
                    slen - spos);
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
            if (opt.tls != NULL) {
                n = tls_unwrap(c, c->rbuf, (size_t)n);
                if (n < 0)
                    return;
                if (c->tls_eof) {
                    fail(c, "echo: TLS alert after %llu of %llu bytes",
                        (unsigned long long)rcvd,
                        (unsigned long long)opt.bytes);
                    return;
                }
                deadline = deadline_w();
                if (n == 0)
                    continue;
            }
            ctr_apply(c->down, c->rbuf, c->rbuf, (size_t)n);
            if (opt.framed) {
                n = (ssize_t)unframe(c, c->rbuf, (size_t)n);
                deadline = deadline_w();
                if (n == 0)
                    continue;
            }
            at = pattern_check(&rp, c->rbuf, (size_t)n);
            if (at != (size_t)n) {
                fail(c, "echo: mismatch at offset %llu",
                    (unsigned long long)(rcvd + at));
                return;
            }
            rcvd += (uint64_t)n;
            deadline = deadline_w();
            if (waiting != 0) {
                int64_t now = mono_ms();

                if (now - waiting > c->max_stall_ms)
                    c->max_stall_ms = now - waiting;
                waiting = rcvd < sent ? now : 0;
            }
        }
    }
    c->bytes += 2 * opt.bytes;
    shutdown(c->fd, SHUT_WR);
    expect_eof(c, "echo: waiting for EOF");
}

/*
 * --rpc: the next packet of the proxy's framing in buf[0..have), quick
 * acks (counted) skipped: 1 with the packet at buf[*off], *len bytes
 * (padding dropped); 0 if it is not complete; -1 for a length no echo
 * can have.  *used is what the caller may drop from buf either way.
 */
static int
rpc_packet(struct cconn *c, const uint8_t *buf, size_t have, size_t *used,
    size_t *off, size_t *len)
{
    size_t pos = 0;

    for (;;) {
        size_t hdr, total, n;

        *used = pos;
        if (have - pos < (opt.tag == TAG_ABRIDGED ? 1u : 4u))
            return 0;
        if (opt.tag == TAG_ABRIDGED && buf[pos] < 0x7f) {
            hdr = 1;
            total = n = (size_t)buf[pos] * 4;
        } else {
            const uint8_t *h = buf + pos;
            uint32_t v;

            if (have - pos < 4)
                return 0;
            v = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                (uint32_t)h[3] << 24;
            /* A quick ack: abridged byte-swapped (first byte >= 0x80),
             * the others with bit 31 of the word set. */
            if ((opt.tag == TAG_ABRIDGED && h[0] >= 0x80) ||
                (opt.tag != TAG_ABRIDGED && (v & 0x80000000u))) {
                c->quickacks++;
                pos += 4;
                continue;
            }
            hdr = 4;
            if (opt.tag == TAG_ABRIDGED)
                total = n = (size_t)(v >> 8) * 4;
            else
                total = v, n = opt.tag == TAG_PADDED ? v & ~3u : v;
        }
        if (n == 0 || hdr + total > RPC_BUF)
            return -1;
        if (have - pos < hdr + total)
            return 0;
        *off = pos + hdr;
        *len = n;
        *used = pos + hdr + total;
        return 1;
    }
}

/* --rpc: send one n-byte packet in a frame of -m's framing. */
static int
rpc_send(struct cconn *c, const uint8_t *pkt, size_t n)
{
    uint8_t *p = opt.tls != NULL ? c->tbuf : c->sbuf;
    uint8_t pad = 0;
    size_t k;
    int closed;

    if (opt.tag == TAG_PADDED) {
        (void)random_bytes(&pad, 1);
        pad &= 3;
    }
    k = frame_header(n, pad, p);
    memcpy(p + k, pkt, n);
    k += n;
    if (pad > 0)
        (void)random_bytes(p + k, pad);
    k += pad;
    ctr_apply(c->up, p, p, k);
    if (opt.tls != NULL)
        k = tlsclient_wrap(p, k, opt.record_size, c->sbuf);
    return send_raw(c, c->sbuf, k, &closed);
}

/*
 * --rpc: read until a packet arrives that is not a late copy of one of
 * the last RPC_HISTORY chunks (hist[i] of hlen[i] bytes, i < nhist;
 * those are counted and dropped), or until resend_at (then 0: send
 * again) or give_up (a failure).  1 with the packet in rb[0..*plen), the
 * caller dropping *pused bytes after looking; 2 at EOF; -1 failed.
 */
static int
rpc_wait(struct cconn *c, uint8_t *rb, size_t *have,
    uint8_t hist[][RPC_CHUNK], const size_t *hlen, int nhist,
    int64_t resend_at, int64_t give_up, size_t *poff, size_t *plen,
    size_t *pused, const char *what)
{
    for (;;) {
        size_t used, off, len;
        int r = rpc_packet(c, rb, *have, &used, &off, &len), late = 0;
        int64_t until;
        ssize_t n;

        if (r < 0) {
            fail(c, "rpc: %s: a frame of a bad length", what);
            return -1;
        }
        if (r == 1) {
            for (int i = 0; i < nhist && !late; i++)
                late = len == hlen[i] && memcmp(rb + off, hist[i], len) == 0;
            if (!late) {
                *poff = off;
                *plen = len;
                *pused = used;
                return 1;
            }
            c->duplicates++;
        }
        memmove(rb, rb + used, *have - used);
        *have -= used;
        if (r == 1)
            continue;
        if (*have == RPC_BUF) {
            fail(c, "rpc: %s: no frame in %d bytes", what, RPC_BUF);
            return -1;
        }
        until = resend_at < give_up ? resend_at : give_up;
        if (mono_ms() >= give_up) {
            fail(c, "rpc: %s: nothing within %d s (%llu retransmits)", what,
                opt.wait_s, (unsigned long long)c->retransmits);
            return -1;
        }
        if (mono_ms() >= resend_at)
            return 0;
        if (wait_fd(c->fd, POLLIN, until) <= 0)
            continue;
        n = recv(c->fd, c->rbuf, RPC_BUF - *have, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
            errno == EINTR))
            continue;
        if (n < 0 && errno != ECONNRESET) {
            fail(c, "rpc: %s: recv: %s", what, strerror(errno));
            return -1;
        }
        if (n <= 0)
            return 2;
        if (opt.tls != NULL) {
            n = tls_unwrap(c, c->rbuf, (size_t)n);
            if (n < 0)
                return -1;
            if (c->tls_eof)
                return 2;
        }
        ctr_apply(c->down, c->rbuf, c->rbuf, (size_t)n);
        memcpy(rb + *have, c->rbuf, (size_t)n);
        *have += (size_t)n;
    }
}

/*
 * --rpc echo: chunk k of the pattern as one packet, its echo awaited and
 * checked before chunk k + 1 goes; a chunk whose echo is RPC_RESEND_MS
 * late is sent again, as an MTProto client resends a request (that is
 * how it survives its proxy losing an ME connection).
 */
static void
run_rpc(struct cconn *c, const struct test_cmd *cmd)
{
    static const int64_t never = INT64_MAX;
    uint8_t (*hist)[RPC_CHUNK] = calloc(RPC_HISTORY, RPC_CHUNK);
    uint8_t *rb = malloc(RPC_BUF);
    size_t hlen[RPC_HISTORY] = { 0 }, have = 0, off, len, used;
    uint64_t sent = 0, k = 0;
    struct pattern sp;
    char what[64];
    int r;

    if (hist == NULL || rb == NULL) {
        fail(c, "out of memory");
        goto out;
    }
    pattern_init(&sp, cmd->seed);
    for (; sent < opt.bytes; k++) {
        uint64_t rest = opt.bytes - sent;
        size_t n = rest < RPC_CHUNK ? (size_t)rest : RPC_CHUNK;
        int slot = (int)(k % RPC_HISTORY);
        int64_t give_up = deadline_w();

        pattern_fill(&sp, hist[slot], n);
        hlen[slot] = n;
        snprintf(what, sizeof(what), "chunk %llu", (unsigned long long)k);
        if (rpc_send(c, hist[slot], n) != 0)
            goto out;
        for (;;) {
            /* Late copies: of the chunks before, not of this one. */
            size_t mine = hlen[slot];

            hlen[slot] = 0;
            r = rpc_wait(c, rb, &have, hist, hlen, RPC_HISTORY,
                mono_ms() + RPC_RESEND_MS, give_up, &off, &len, &used, what);
            hlen[slot] = mine;
            if (r < 0)
                goto out;
            if (r == 2) {
                fail(c, "rpc: early EOF waiting for the echo of %s "
                    "(%llu of %llu bytes echoed)", what,
                    (unsigned long long)sent, (unsigned long long)opt.bytes);
                goto out;
            }
            if (r == 1)
                break;
            c->retransmits++;
            if (rpc_send(c, hist[slot], n) != 0)
                goto out;
        }
        if (len != n || memcmp(rb + off, hist[slot], n) != 0) {
            fail(c, "rpc: %s: a %zu-byte packet that is not its %zu-byte "
                "echo", what, len, n);
            goto out;
        }
        memmove(rb, rb + used, have - used);
        have -= used;
        sent += n;
    }
    c->bytes += 2 * opt.bytes;
    shutdown(c->fd, SHUT_WR);
    /* Only late copies may come before the end. */
    snprintf(what, sizeof(what), "waiting for EOF");
    r = rpc_wait(c, rb, &have, hist, hlen, RPC_HISTORY, never, deadline_w(),
        &off, &len, &used, what);
    if (r == 1)
        fail(c, "rpc: %s: a %zu-byte packet that echoes no chunk", what,
            len);
out:
    free(hist);
    free(rb);
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
        ssize_t n = recv_payload(c, c->rbuf, want, deadline_w(), &reset,
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
        if (opt.framed && (n = (ssize_t)unframe(c, c->rbuf, (size_t)n)) == 0)
            continue;
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
    int closed, reset, peer_spoke = 0;
    int64_t t0 = mono_ms();

    pattern_init(&sp, cmd->seed);
    while (sent < opt.bytes) {
        uint64_t rest = opt.bytes - sent;
        size_t cap = send_cap(), n = rest < cap ? (size_t)rest : cap;
        int64_t pace;

        /* Paced: wait, but notice at once if the peer closes meanwhile. */
        while ((pace = pace_wait_ms(t0, sent + n)) > 0) {
            struct pollfd p = { .fd = c->fd, .events = POLLIN };
            uint8_t b;
            ssize_t r;

            if (peer_spoke) {
                usleep((useconds_t)pace * 1000);
                continue;
            }
            if (poll(&p, 1, (int)pace) <= 0)
                continue;
            r = recv(c->fd, &b, 1, MSG_PEEK);
            if (r == 0 || (r < 0 && errno == ECONNRESET)) {
                fail(c, "sink: early %s after %llu of %llu bytes sent",
                    r == 0 ? "EOF" : "reset", (unsigned long long)sent,
                    (unsigned long long)opt.bytes);
                return;
            }
            if (r > 0)
                peer_spoke = 1;         /* an early verdict: read later */
            else if (errno != EAGAIN && errno != EINTR)
                peer_spoke = 1;
        }
        if (send_raw(c, c->sbuf, next_chunk(c, &sp, n), &closed) != 0)
            return;
        sent += n;
    }
    while (have < sizeof(verdict)) {
        ssize_t n = recv_payload(c, c->rbuf, sizeof(verdict) - have,
            deadline_w(), &reset, "sink: reading the verdict");

        if (n < 0)
            return;
        if (n == 0) {
            fail(c, "sink: early %s after %zu verdict bytes",
                reset ? "reset" : "EOF", have);
            return;
        }
        if (opt.framed) {
            /* Decrypted piece by piece: the framing is in between. */
            ctr_apply(c->down, c->rbuf, c->rbuf, (size_t)n);
            n = (ssize_t)unframe(c, c->rbuf, (size_t)n);
        }
        memcpy(verdict + have, c->rbuf, (size_t)n);
        have += (size_t)n;
    }
    if (!opt.framed)
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
        dump_flight(c, NULL, 0);
        expect_close(c, t0);
        return;
    case T_GARBAGE:
        if (random_bytes(c->sbuf, opt.bytes) != 0) {
            fail(c, "random_bytes failed");
            return;
        }
        dump_flight(c, c->sbuf, opt.bytes);
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

        if (opt.tls != NULL) {
            /* Half a valid hello: the proxy must wait for the rest. */
            if (build_hello(c->sbuf) != opt.hello_size) {
                fail(c, "cannot build a %zu-byte ClientHello",
                    opt.hello_size);
                return;
            }
            if (send_raw(c, c->sbuf, opt.hello_size / 2, &closed) != 0)
                return;
            dump_flight(c, c->sbuf, opt.hello_size / 2);
            expect_close(c, t0);
            return;
        }
        if (build_header(c, wire) != 0)
            return;
        if (send_raw(c, wire, HALF_HEADER, &closed) != 0)
            return;
        dump_flight(c, wire, HALF_HEADER);
        expect_close(c, t0);
        return;
    }
    default:
        break;
    }
    if (opt.tls != NULL) {
        int hello_refusal = opt.expect_close && !opt.expect_inner;
        int r = tls_hello(c, !hello_refusal);

        if (r < 0)
            return;
        if (hello_refusal) {
            expect_close(c, t0);
            return;
        }
        if (r == 1) {
            fail(c, "hello refused: the proxy closed without answering");
            return;
        }
    }
    if (handshake(c, &cmd) != 0)
        return;
    if (opt.expect_close) {
        expect_close(c, t0);
        return;
    }
    switch (opt.test) {
    case T_ECHO:
        if (opt.rpc)
            run_rpc(c, &cmd);
        else
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

/* "HH:MM:SS.mmm" (local time) of ts. */
static void
format_stamp(const struct timespec *ts, char *out, size_t len)
{
    struct tm tm;
    time_t t = ts->tv_sec;

    localtime_r(&t, &tm);
    snprintf(out, len, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min,
        tm.tm_sec, ts->tv_nsec / 1000000);
}

/* --loop: one failed iteration, printed (and flushed) as it happens. */
static void
print_failure(const struct cconn *c)
{
    char stamp[32];

    format_stamp(&c->fail_wall, stamp, sizeof(stamp));
    flockfile(stdout);
    printf("mtclient: %s conn %d iteration %llu failed after %.3f s: %s\n",
        stamp, c->id, (unsigned long long)c->iterations,
        (double)(c->fail_ms - c->iter_ms) / 1000.0, c->why);
    fflush(stdout);
    funlockfile(stdout);
}

static void *
conn_thread(void *arg)
{
    struct cconn *c = arg;
    int64_t end = mono_ms() + (int64_t)opt.loop_s * 1000;

    c->ok = 1;
    c->fd = -1;
    c->sbuf = malloc(BUF_LEN);
    c->rbuf = malloc(BUF_LEN);
    c->tbuf = opt.tls != NULL ? malloc(BUF_LEN) : NULL;
    if (c->sbuf == NULL || c->rbuf == NULL ||
        (opt.tls != NULL && c->tbuf == NULL)) {
        fail(c, "out of memory");
        c->iterations = 1;
        c->failures = 1;
    } else {
        do {
            c->ok = 1;
            c->fd = -1;
            c->why[0] = '\0';
            c->up = c->down = NULL;
            memset(&c->rd, 0, sizeof(c->rd));
            c->tls_eof = 0;
            memset(&c->uf, 0, sizeof(c->uf));
            c->iter_ms = mono_ms();
            run_conn(c);
            if (c->fd >= 0)
                close(c->fd);
            c->fd = -1;
            ctr_free(c->up);
            ctr_free(c->down);
            c->up = c->down = NULL;
            c->iterations++;
            if (!c->ok) {
                c->failures++;
                if (c->failures == 1)
                    memcpy(c->first_why, c->why, sizeof(c->why));
                if (opt.loop_s > 0) {
                    print_failure(c);
                    if (mono_ms() < end)
                        usleep(LOOP_FAIL_PAUSE_MS * 1000);
                }
            }
        } while (opt.loop_s > 0 && mono_ms() < end);
        if (opt.loop_s > 0 && c->failures > 0) {
            c->ok = 0;
            memcpy(c->why, c->first_why, sizeof(c->why));
        }
    }
    free(c->sbuf);
    free(c->rbuf);
    free(c->tbuf);
    c->sbuf = c->rbuf = c->tbuf = NULL;
    return NULL;
}

/*
 * vectors.txt section B, for --self-test: secret, the 517-byte hello with
 * its random zeroed (the rest of it is zeros), its timestamp and the
 * client random it must get, the first 138 answer bytes (the certificate
 * record's 2048 bytes are DET('B/fake_cert')), and the client's first
 * flight (CCS + one ApplicationData record).
 */
static const char VEC_SECRET[] = "00112233445566778899aabbccddeeff";
static const char *const VEC_HELLO[] = {
    "1603010200010001fc0303000000000000000000000000000000000000000000",
    "00000000000000000000002089310298776464f87e20a45ce73534989dc18af7",
    "05b9526b5211c79d6060faf400083a3a130113021303010001ab000000140012",
    "00000f7777772e6578616d706c652e636f6d000a000600043a3a001d000d0006",
    "000404030804001000050003026832002b0005043a3a0304003300260024001d",
    "0020a3dc77faeefb5c30c05570fc9e8803e9323d013276f59ef6468c415688db",
    "3fdd0015013f",
};
static const uint32_t VEC_TS = 1700000000u;
static const char VEC_MAC[] =
    "19ced3608fc69eea78c2f47f2f6e7518e809d51fb32718aae73fd6054bdfc2d9";
static const char VEC_RANDOM[] =
    "19ced3608fc69eea78c2f47f2f6e7518e809d51fb32718aae73fd6054b2e91bc";
static const char *const VEC_ANSWER[] = {
    "160303007a020000760303adb681dd87f54f8887718f62ea9e167c44e846c414",
    "627c0c61884dc3fca636472089310298776464f87e20a45ce73534989dc18af7",
    "05b9526b5211c79d6060faf4130100002e00330024001d002048457fe5966ae3",
    "d69a56baf66e467cd2d07562076f62fbe7c67fc7e03402ea37002b0002030414",
    "03030001011703030800",
};
static const char VEC_ANSWER_SHA[] =
    "c6baa4d3e3bcef48dbf4d7b244e7c7dce855f70b12b94f43a958c78923bfb721";
static const char *const VEC_FLIGHT[] = {
    "140303000101170303006f989d31489a02ca3d7851da96a35e898d41c42b8136",
    "cacd995cf81e09514abc9a9c2eec45c4f0ffea1adb39645599c27e5b25bc21dd",
    "b7be5b6a6a3e396d5d6a823c1b822a9c16029184b7306a0548c9f101ba4ca5f8",
    "166ebbe9904953ce6a727a009f5ec366fe3c372e08332b0f757a",
};

/* Decode hex lines into out; the byte count. */
static size_t
hex_lines(const char *const *lines, size_t nlines, uint8_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < nlines; i++) {
        size_t k = strlen(lines[i]) / 2;

        if (hex_decode(lines[i], out + n, k) != 0) {
            fprintf(stderr, "mtclient: bad vector hex\n");
            exit(1);
        }
        n += k;
    }
    return n;
}

static int
self_check(int ok, const char *what)
{
    printf("mtclient: self-test %s: %s\n", ok ? "ok  " : "FAIL", what);
    return ok ? 0 : 1;
}

/*
 * Check tlsclient.h against vectors.txt B and against the proxy's own
 * parser, so that the two sides of the integration tests are not merely
 * consistent with each other.  Returns the number of failed checks.
 */
static int
self_test(void)
{
    static const size_t sizes[] = { 517, 1800, TLSCLIENT_HELLO_MAX };
    static uint8_t hello[TLSCLIENT_HELLO_MAX], ans[4096], flight[256];
    static uint8_t rec[TLSCLIENT_HELLO_MAX];
    uint8_t secret[16], want[32], mac[32], be[4];
    size_t hlen, alen, flen, n;
    struct faketls_hello h;
    uint32_t ts;
    int bad = 0;

    hex_decode(VEC_SECRET, secret, sizeof(secret));
    memset(hello, 0, sizeof(hello));
    (void)hex_lines(VEC_HELLO, sizeof(VEC_HELLO) / sizeof(VEC_HELLO[0]),
        hello);
    hlen = TLSCLIENT_HELLO_DEFAULT;     /* the rest is zero padding */
    hmac_sha256_2(secret, 16, hello, hlen, NULL, 0, mac);
    hex_decode(VEC_MAC, want, 32);
    bad += self_check(memcmp(mac, want, 32) == 0, "B hello HMAC");
    tlsclient_sign(hello, hlen, secret, VEC_TS);
    hex_decode(VEC_RANDOM, want, 32);
    bad += self_check(memcmp(hello + TLSCLIENT_RANDOM_OFF, want, 32) == 0,
        "B client random = mac[0:28] || mac[28:32] ^ le32(ts)");

    alen = hex_lines(VEC_ANSWER, sizeof(VEC_ANSWER) / sizeof(VEC_ANSWER[0]),
        ans);
    for (uint32_t i = 0; alen < FAKETLS_ANSWER_FIXED + 2048; i++) {
        static const char label[] = "B/fake_cert";

        be[0] = (uint8_t)(i >> 24);
        be[1] = (uint8_t)(i >> 16);
        be[2] = (uint8_t)(i >> 8);
        be[3] = (uint8_t)i;
        sha256_2((const uint8_t *)label, strlen(label), be, 4, ans + alen);
        alen += 32;
    }
    sha256_2(ans, alen, NULL, 0, mac);
    hex_decode(VEC_ANSWER_SHA, want, 32);
    bad += self_check(alen == 2186 && memcmp(mac, want, 32) == 0,
        "B answer rebuilt (2186 bytes, SHA-256)");
    bad += self_check(tlsclient_check_answer(ans, alen, secret,
        hello + TLSCLIENT_RANDOM_OFF, hello + TLSCLIENT_SID_OFF) == NULL,
        "B answer accepted");
    ans[alen - 1] ^= 1;
    bad += self_check(tlsclient_check_answer(ans, alen, secret,
        hello + TLSCLIENT_RANDOM_OFF, hello + TLSCLIENT_SID_OFF) != NULL,
        "B answer with one certificate bit flipped refused");
    ans[alen - 1] ^= 1;
    bad += self_check(tlsclient_check_answer(ans, alen - 1, secret,
        hello + TLSCLIENT_RANDOM_OFF, hello + TLSCLIENT_SID_OFF) != NULL,
        "B answer one byte short refused");

    flen = hex_lines(VEC_FLIGHT, sizeof(VEC_FLIGHT) / sizeof(VEC_FLIGHT[0]),
        flight);
    memcpy(rec, TLSCLIENT_CCS, TLSCLIENT_CCS_LEN);
    n = TLSCLIENT_CCS_LEN + tlsclient_wrap(flight + 11, flen - 11,
        RECORD_DEFAULT, rec + TLSCLIENT_CCS_LEN);
    bad += self_check(n == flen && memcmp(rec, flight, flen) == 0,
        "B client flight wrapping");

    for (size_t i = 0; i < 2 * sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i / 2];
        const char *sni = i % 2 ? NULL : "www.example.com";
        char what[128];
        int ok;

        ok = tlshello_build(rec, size, sni, secret, VEC_TS) == size &&
            faketls_parse_hello(rec, size, &h) == 0 &&
            h.has_sni == (sni != NULL) &&
            (sni == NULL || strcmp(h.sni, sni) == 0) &&
            h.session_id_len == 32 &&
            faketls_verify(rec, size, secret, &ts) && ts == VEC_TS &&
            rec[3] == (uint8_t)((size - 5) >> 8) &&
            rec[4] == (uint8_t)(size - 5);
        snprintf(what, sizeof(what), "%zu-byte hello%s parsed and verified "
            "by common/faketls.c", size, sni == NULL ? " without SNI" : "");
        bad += self_check(ok, what);
    }
    bad += self_check(tlshello_build(rec, 200, "www.example.com", secret,
        VEC_TS) == 0, "a 200-byte hello is refused as too small");
    return bad;
}

/* --bind ADDR: an IPv4 or IPv6 literal the client sockets start from. */
static int
parse_bind(const char *a)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)&opt.bind;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&opt.bind;

    memset(&opt.bind, 0, sizeof(opt.bind));
    if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        opt.bindlen = sizeof(*s4);
    } else if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        opt.bindlen = sizeof(*s6);
    } else {
        return -1;
    }
    return 0;
}

static void
parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "direct", no_argument, NULL, 'D' },
        { "expect-close", optional_argument, NULL, 'E' },
        { "tls", required_argument, NULL, 'T' },
        { "no-sni", no_argument, NULL, 'N' },
        { "hello-size", required_argument, NULL, 'H' },
        { "record-size", required_argument, NULL, 'R' },
        { "time-offset", required_argument, NULL, 'O' },
        { "check-record-sizes", no_argument, NULL, 'C' },
        { "print-answer", no_argument, NULL, 'P' },
        { "dump-flight", required_argument, NULL, 'F' },
        { "self-test", no_argument, NULL, 'S' },
        { "loop", required_argument, NULL, 'L' },
        { "rate", required_argument, NULL, 'r' },
        { "idle", required_argument, NULL, 'I' },
        { "header-prefix", required_argument, NULL, 'X' },
        { "bind", required_argument, NULL, 'B' },
        { "framed", no_argument, NULL, 'M' },
        { "quickack", no_argument, NULL, 'Q' },
        { "rpc", no_argument, NULL, 'J' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *target = NULL, *secret = NULL;
    char *end;
    long v;
    int o, tls_only = 0;
    size_t i;

    opt.dc = 2;
    opt.conns = 1;
    opt.test = T_ECHO;
    opt.bytes = 65536;
    opt.wait_s = 20;
    opt.hello_size = TLSCLIENT_HELLO_DEFAULT;
    opt.record_size = RECORD_DEFAULT;
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
            if (optarg != NULL) {
                if (strcmp(optarg, "inner") != 0)
                    usage();
                opt.expect_inner = 1;
                tls_only = 1;
            }
            break;
        case 'T':
            opt.tls = optarg;
            break;
        case 'N':
            opt.no_sni = 1;
            tls_only = 1;
            break;
        case 'H':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 ||
                v > TLSCLIENT_HELLO_MAX)
                usage();
            opt.hello_size = (size_t)v;
            tls_only = 1;
            break;
        case 'R':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 ||
                v > TLSREC_MAX_IN)
                usage();
            opt.record_size = (size_t)v;
            tls_only = 1;
            break;
        case 'O':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < -TIME_OFFSET_MAX ||
                v > TIME_OFFSET_MAX)
                usage();
            opt.time_offset = v;
            tls_only = 1;
            break;
        case 'C':
            opt.check_records = 1;
            tls_only = 1;
            break;
        case 'P':
            opt.print_answer = 1;
            tls_only = 1;
            break;
        case 'F':
            if (*optarg == '\0')
                usage();
            opt.dump_flight = optarg;
            break;
        case 'B':
            if (parse_bind(optarg) != 0)
                usage();
            break;
        case 'S':
            exit(self_test() == 0 ? 0 : 1);
        case 'L':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 86400)
                usage();
            opt.loop_s = (int)v;
            break;
        case 'I':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 600000)
                usage();
            opt.idle_ms = (int)v;
            break;
        case 'M':
            opt.framed = 1;
            break;
        case 'Q':
            opt.quickack = 1;
            break;
        case 'J':
            opt.rpc = 1;
            break;
        case 'X':
            opt.prefix_len = strlen(optarg) / 2;
            if (opt.prefix_len < 1 || opt.prefix_len > sizeof(opt.prefix) ||
                hex_decode(optarg, opt.prefix, opt.prefix_len) != 0)
                usage();
            break;
        case 'r':
            if (parse_size(optarg, &opt.rate) != 0 || opt.rate == 0 ||
                opt.rate > UINT64_MAX / 1000 / PACE_SLICE_MS)
                usage();
            break;
        default:
            usage();
        }
    }
    if (optind != argc || target == NULL || opt.mode == NULL)
        usage();
    if (net_parse_addr(target, &opt.addr, &opt.addrlen) != 0) {
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
    if (opt.rate != 0 && opt.test != T_ECHO && opt.test != T_SINK) {
        fprintf(stderr, "mtclient: --rate paces echo and sink only\n");
        exit(2);
    }
    if (opt.prefix_len > 0 && opt.tls != NULL) {
        fprintf(stderr, "mtclient: --header-prefix is for plain "
            "obfuscated2, not --tls\n");
        exit(2);
    }
    if (opt.prefix_len > 0 && obfs2_prefix_impossible(opt.prefix,
        opt.prefix_len)) {
        fprintf(stderr, "mtclient: no client starts a header with that "
            "prefix (PROTOCOL.md 2.1)\n");
        exit(2);
    }
    if (opt.quickack && !opt.framed) {
        fprintf(stderr, "mtclient: --quickack needs --framed\n");
        exit(2);
    }
    if (opt.framed && (opt.bytes % 4 != 0 || (opt.test != T_ECHO &&
        opt.test != T_SOURCE && opt.test != T_SINK))) {
        fprintf(stderr, "mtclient: --framed is for echo, source and sink "
            "with -b a multiple of 4\n");
        exit(2);
    }
    if (opt.rpc && (!opt.framed || opt.test != T_ECHO || opt.rate != 0 ||
        opt.idle_ms != 0)) {
        fprintf(stderr, "mtclient: --rpc is for -t echo with --framed "
            "(no --rate, --idle)\n");
        exit(2);
    }
    if (tls_only && opt.tls == NULL) {
        fprintf(stderr, "mtclient: that option needs --tls\n");
        exit(2);
    }
    if (opt.tls != NULL) {
        static uint8_t trial[TLSCLIENT_HELLO_MAX];

        if (opt.direct) {
            fprintf(stderr, "mtclient: --tls needs a secret, not "
                "--direct\n");
            exit(2);
        }
        if (build_hello(trial) != opt.hello_size) {
            fprintf(stderr, "mtclient: cannot build a %zu-byte hello for "
                "SNI '%s' (too small?)\n", opt.hello_size, opt.tls);
            exit(2);
        }
    }
}

int
main(int argc, char **argv)
{
    struct cconn *cs;
    pthread_t *ts;
    pthread_attr_t attr;
    uint64_t bytes = 0, iterations = 0, failures = 0, quickacks = 0;
    uint64_t retransmits = 0, duplicates = 0;
    int ok = 0, failed = 0;
    int64_t max_stall = 0;
    double t0;

    parse_args(argc, argv);
    (void)nofile_raise_to_hard();
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
        iterations += cs[i].iterations;
        failures += cs[i].failures;
        quickacks += cs[i].quickacks;
        retransmits += cs[i].retransmits;
        duplicates += cs[i].duplicates;
        if (cs[i].ok) {
            ok++;
        } else {
            failed++;
            /* --loop printed every failure already. */
            if (failed <= 10 && opt.loop_s == 0) {
                char stamp[32];

                format_stamp(&cs[i].fail_wall, stamp, sizeof(stamp));
                printf("mtclient: conn %d failed: %s (at %s, %.3f s after "
                    "the start)\n", i, cs[i].why, stamp,
                    (double)(cs[i].fail_ms - cs[i].iter_ms) / 1000.0);
            }
        }
    }
    if (failed > 10 && opt.loop_s == 0)
        printf("mtclient: (%d more failures not shown)\n", failed - 10);
    if (opt.check_records) {
        uint64_t n = 0, b = 0;
        size_t max = 0;

        for (int i = 0; i < opt.conns; i++) {
            n += cs[i].rec_n;
            b += cs[i].rec_bytes;
            if (cs[i].rec_max > max)
                max = cs[i].rec_max;
        }
        printf("mtclient: records from the proxy: count=%llu payload=%llu "
            "max=%zu avg=%.0f\n", (unsigned long long)n,
            (unsigned long long)b, max, n > 0 ? (double)b / (double)n : 0.0);
    }
    for (int i = 0; i < opt.conns; i++)
        if (cs[i].max_stall_ms > max_stall)
            max_stall = cs[i].max_stall_ms;
    printf("mtclient: mode=%s%s%s test=%s%s conns=%d ok=%d failed=%d "
        "bytes=%llu seconds=%.3f iterations=%llu failures=%llu "
        "max_stall_ms=%lld", opt.mode,
        opt.tls != NULL ? " tls=" : "", opt.tls != NULL ? opt.tls : "",
        test_names[opt.test],
        opt.expect_close ? (opt.expect_inner ? "+expect-close=inner" :
        "+expect-close") : "", opt.conns, ok, failed,
        (unsigned long long)bytes, now_s() - t0,
        (unsigned long long)iterations, (unsigned long long)failures,
        (long long)max_stall);
    if (opt.framed)
        printf(" quickacks=%llu", (unsigned long long)quickacks);
    if (opt.rpc)
        printf(" retransmits=%llu duplicates=%llu",
            (unsigned long long)retransmits, (unsigned long long)duplicates);
    printf("\n");
    pthread_attr_destroy(&attr);
    free(cs);
    free(ts);
    return failed == 0 ? 0 : 1;
}
