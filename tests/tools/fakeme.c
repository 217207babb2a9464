/*
 * fakeme.c - a fake Telegram middle-end proxy (ME) for the integration
 * tests of telemt's ME mode (docs/protocol.md 8).
 *
 * It is the server side of the ME RPC protocol: nonce exchange, the
 * AES-256-CBC keys, RPC_HANDSHAKE (with or without CRC32C), then the
 * RPC_PROXY_REQ packets of the proxy's clients, demultiplexed by
 * ext_conn_id into "sessions".  A session whose first packet is an
 * unencrypted MTProto req_pq(_multi) gets a valid resPQ; one whose first
 * packet is a "TMT1" command of pattern.h is served like fakedc serves it
 * (ECHO, SOURCE, SINK), one RPC_PROXY_ANS per answer packet.  Sessions
 * live in one table for the whole process, so a client the proxy moves to
 * another ME connection goes on where it was ("moved" in the log); one
 * whose first packet here is neither (moved from another fake ME that
 * died) is adopted as ECHO.  Options make it misbehave
 * the ways Telegram does (a skewed clock, no CRC32C, rotating
 * connections, closing clients).  Every event is one key=value line in
 * the log.  One thread per ME connection and per SOURCE session.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "me_proto.h"
#include "net.h"
#include "pattern.h"
#include "util.h"

#define MAX_LISTEN          16
#define MAX_FPRINTS         8
#define READ_BUF            65536
#define NONCE_FRAME_LEN     (ME_FRAME_OVERHEAD + ME_NONCE_LEN)
#define HANDSHAKE_MS        10000       /* nonce + RPC_HANDSHAKE */
#define WRITE_MS            30000       /* one frame to the proxy */
#define PING_MS             5000        /* our RPC_PING interval */
#define MIGRATE_WAIT_MS     30000       /* SOURCE: wait for a live conn */
#define SOURCE_CHUNK        16384       /* data bytes per RPC_PROXY_ANS */
#define SEND_ROOM           (ME_FRAME_OVERHEAD + ME_CBC_BLOCK)

/* TL constructors of the unencrypted MTProto handshake. */
#define TL_REQ_PQ_MULTI     0xbe7e8ef1u
#define TL_REQ_PQ           0x60469778u
#define TL_RES_PQ           0x05162463u
#define TL_VECTOR           0x1cb5c415u

/* The confirm bytes of every RPC_SIMPLE_ACK: 0x80000001 as LE. */
static const uint8_t ack_confirm[4] = { 0x01, 0x00, 0x00, 0x80 };
/* resPQ's pq: a product of two primes, as tdlib's tests use. */
static const uint8_t res_pq[8] = {
    0x17, 0xed, 0x48, 0x94, 0x1a, 0x08, 0xf9, 0x81
};

struct listener {
    int fd;
    char name[80];
};

static struct {
    uint8_t secret[ME_SECRET_MAX];
    size_t secret_len;
    long clock_offset;
    int no_crc32c;
    int64_t fprints[MAX_FPRINTS];
    int nfprints;
    uint64_t close_after_frames;        /* 0 = never */
    uint64_t close_ext_after;           /* 0 = never */
    int nat_set, nat_v6;
    uint8_t nat_ip[16];
} opt;

static FILE *log_out;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

/* One ME TCP connection.  Freed when its last reference goes. */
struct mconn {
    int id;
    int fd;
    int refs;                           /* table_mu */
    int dead;                           /* table_mu: no more writes */
    pthread_mutex_t wmu;                /* serialises writes */
    struct me_cbc *enc;
    int32_t wseq;
    int crc32c;
    uint8_t *wbuf;
    size_t wcap;
    uint64_t frames_in, frames_out;     /* after the handshake */
    char peer[64];
};

enum kind { K_NONE, K_MTPROTO, K_ECHO, K_SOURCE, K_SINK };

/* One client of the proxy, by ext_conn_id. */
struct session {
    struct session *next;
    uint64_t conn_id;
    int refs;                           /* table_mu: the table, users */
    pthread_mutex_t mu;                 /* one packet at a time */
    int closed;                         /* gone from the table */
    enum kind kind;
    struct test_cmd cmd;
    struct mconn *mc;                   /* where its latest packet came */
    uint64_t packets, in, out;
    struct pattern pat;                 /* SINK */
    uint64_t bad_at;
    int verdict_sent;
    const char *result;                 /* SOURCE: set by its thread */
    int close_sent;
    int adopted;                        /* came without its command */
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_cv = PTHREAD_COND_INITIALIZER;
static struct session *sessions;
static int next_conn_id = 1;

static void usage(void) __attribute__((noreturn));

static void
usage(void)
{
    fprintf(stderr, "usage: fakeme -l HOST:PORT [-l HOST:PORT ...] "
        "--secret-file FILE\n"
        "        [--log FILE | -o FILE] [--clock-offset SECONDS] "
        "[--no-crc32c]\n"
        "        [--rsa-fingerprint N ...] [--close-after-frames N]\n"
        "        [--send-close-ext-after N] [--nat-clt-ip IP]\n");
    exit(2);
}

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

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
        (uint32_t)p[3] << 24;
}

static const char *
kind_name(enum kind k)
{
    switch (k) {
    case K_ECHO:
        return "ECHO";
    case K_SOURCE:
        return "SOURCE";
    case K_SINK:
        return "SINK";
    case K_MTPROTO:
        return "mtproto";
    default:
        return "none";
    }
}

/* ---- ME connections --------------------------------------------------- */

static void
mc_unref(struct mconn *mc)
{
    int last;

    if (mc == NULL)
        return;
    pthread_mutex_lock(&table_mu);
    last = --mc->refs == 0;
    pthread_mutex_unlock(&table_mu);
    if (!last)
        return;
    close(mc->fd);
    me_cbc_free(mc->enc);
    pthread_mutex_destroy(&mc->wmu);
    free(mc->wbuf);
    free(mc);
}

/*
 * Frame, pad with fillers, encrypt and send one payload of n bytes (a
 * multiple of 4).  A failed write marks the connection dead and shuts it
 * down, so its reader sees the end.
 */
static int
mc_send(struct mconn *mc, const uint8_t *payload, size_t n)
{
    size_t len = ME_FRAME_OVERHEAD + n, pad = me_pad_len(len);
    int rc = 0;

    pthread_mutex_lock(&mc->wmu);
    if (len + pad > mc->wcap) {
        uint8_t *nb = realloc(mc->wbuf, len + pad);

        if (nb == NULL) {
            pthread_mutex_unlock(&mc->wmu);
            return -1;
        }
        mc->wbuf = nb;
        mc->wcap = len + pad;
    }
    me_frame_build(mc->wbuf, mc->wseq, payload, n, mc->crc32c);
    me_pad_fill(mc->wbuf + len, pad);
    if (me_cbc_apply(mc->enc, mc->wbuf, mc->wbuf, len + pad) != 0 ||
        net_write_all(mc->fd, mc->wbuf, len + pad, mono_ms() + WRITE_MS) !=
        0) {
        rc = -1;
        (void)shutdown(mc->fd, SHUT_RDWR);
    } else {
        mc->wseq++;
        if (mc->wseq > 0)
            mc->frames_out++;
    }
    pthread_mutex_unlock(&mc->wmu);
    if (rc != 0) {
        pthread_mutex_lock(&table_mu);
        mc->dead = 1;
        pthread_cond_broadcast(&table_cv);
        pthread_mutex_unlock(&table_mu);
    }
    return rc;
}

/* RPC_PROXY_ANS with data for a client. */
static int
send_ans(struct mconn *mc, uint64_t conn_id, const uint8_t *data, size_t n)
{
    uint8_t *p = malloc(16 + n);
    int rc;

    if (p == NULL)
        return -1;
    put32(p, ME_RPC_PROXY_ANS);
    put32(p + 4, ME_ANS_FLUSH);
    for (int i = 0; i < 8; i++)
        p[8 + i] = (uint8_t)(conn_id >> (8 * i));
    memcpy(p + 16, data, n);
    rc = mc_send(mc, p, 16 + n);
    free(p);
    return rc;
}

static int
send_ctl(struct mconn *mc, uint32_t type, uint64_t id)
{
    uint8_t p[12];

    me_ctl_build(p, type, id);
    return mc_send(mc, p, sizeof(p));
}

/* ---- sessions --------------------------------------------------------- */

/*
 * The session of conn_id, made if new; a reference for the caller.  A
 * known session arriving on another ME connection than its last packet
 * did has moved: the proxy migrated it.
 */
static struct session *
session_get(uint64_t conn_id, struct mconn *mc, int *fresh)
{
    struct mconn *old = NULL;
    struct session *s;
    int moved = 0;

    pthread_mutex_lock(&table_mu);
    for (s = sessions; s != NULL; s = s->next)
        if (s->conn_id == conn_id)
            break;
    *fresh = s == NULL;
    if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL) {
        s->conn_id = conn_id;
        s->refs = 1;
        s->bad_at = UINT64_MAX;
        pthread_mutex_init(&s->mu, NULL);
        s->next = sessions;
        sessions = s;
    }
    if (s != NULL) {
        s->refs++;
        if (s->mc != mc) {
            mc->refs++;
            old = s->mc;
            s->mc = mc;
            moved = old != NULL;
            pthread_cond_broadcast(&table_cv);
        }
    }
    pthread_mutex_unlock(&table_mu);
    if (moved)
        logline("moved conn=%016llx me=%d from=%d",
            (unsigned long long)conn_id, mc->id, old->id);
    mc_unref(old);
    return s;
}

static void
session_unref(struct session *s)
{
    struct mconn *mc = NULL;
    int last;

    pthread_mutex_lock(&table_mu);
    last = --s->refs == 0;
    if (last) {
        mc = s->mc;
        s->mc = NULL;
    }
    pthread_mutex_unlock(&table_mu);
    if (!last)
        return;
    mc_unref(mc);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The result of a session that ends now. */
static const char *
session_result(struct session *s)
{
    switch (s->kind) {
    case K_ECHO:
        return "ok";
    case K_SOURCE:
        return s->result != NULL ? s->result : "unfinished";
    case K_SINK:
        if (!s->verdict_sent)
            return "short";
        return s->bad_at == UINT64_MAX ? "ok" : "mismatch";
    default:
        return "ok";
    }
}

/*
 * Take s out of the table (once) and log its end; the caller still holds
 * its reference.
 */
static void
session_end(struct session *s, const char *how)
{
    struct session **pp;
    unsigned long long in, out;
    const char *res;
    int was_in = 0;

    pthread_mutex_lock(&table_mu);
    for (pp = &sessions; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            was_in = 1;
            break;
        }
    if (was_in) {
        s->closed = 1;
        pthread_cond_broadcast(&table_cv);
    }
    in = s->in;
    out = s->out;
    res = session_result(s);
    pthread_mutex_unlock(&table_mu);
    if (!was_in)
        return;
    if (s->kind == K_ECHO || s->kind == K_SOURCE || s->kind == K_SINK) {
        if (s->kind == K_SINK && s->bad_at != UINT64_MAX)
            logline("end conn=%016llx cmd=%s in=%llu out=%llu result=%s "
                "at=%llu by=%s", (unsigned long long)s->conn_id,
                kind_name(s->kind), in, out, res,
                (unsigned long long)s->bad_at, how);
        else
            logline("end conn=%016llx cmd=%s in=%llu out=%llu result=%s "
                "by=%s", (unsigned long long)s->conn_id, kind_name(s->kind),
                in, out, res, how);
    } else {
        logline("end conn=%016llx kind=%s packets=%llu by=%s",
            (unsigned long long)s->conn_id, kind_name(s->kind),
            (unsigned long long)s->packets, how);
    }
    session_unref(s);                   /* the table's */
}

/*
 * A finished SOURCE or SINK: RPC_CLOSE_EXT, so that the proxy closes the
 * client as fakedc closes its connection then.
 */
static void
session_done(struct mconn *mc, struct session *s)
{
    if (send_ctl(mc, ME_RPC_CLOSE_EXT, s->conn_id) == 0)
        logline("send-close-ext conn=%016llx after=done",
            (unsigned long long)s->conn_id);
    session_end(s, "fakeme-done");
}

/*
 * SOURCE: cmd.bytes of pattern in RPC_PROXY_ANS packets of up to 16 KiB,
 * each on the ME connection the session's latest packet came from.  A
 * packet whose write fails is sent again once the session has moved.
 */
static void *
source_thread(void *arg)
{
    struct session *s = arg;
    uint8_t *buf = malloc(SOURCE_CHUNK);
    struct mconn *last = NULL;
    uint64_t left = s->cmd.bytes;
    size_t chunk = 0;
    const char *res = "ok";

    if (buf == NULL)
        res = "oom";
    while (buf != NULL && left > 0) {
        struct mconn *mc = NULL;

        if (chunk == 0) {
            chunk = left < SOURCE_CHUNK ? (size_t)left : SOURCE_CHUNK;
            pattern_fill(&s->pat, buf, chunk);
        }
        pthread_mutex_lock(&table_mu);
        if (!s->closed && (s->mc == NULL || s->mc->dead)) {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += MIGRATE_WAIT_MS / 1000;
            while (!s->closed && (s->mc == NULL || s->mc->dead))
                if (pthread_cond_timedwait(&table_cv, &table_mu, &ts) != 0)
                    break;
        }
        if (!s->closed && s->mc != NULL && !s->mc->dead) {
            mc = s->mc;
            mc->refs++;
        }
        pthread_mutex_unlock(&table_mu);
        if (mc == NULL) {
            res = s->closed ? "closed" : "no-me-conn";
            break;
        }
        if (send_ans(mc, s->conn_id, buf, chunk) == 0) {
            pthread_mutex_lock(&table_mu);
            s->out += chunk;
            pthread_mutex_unlock(&table_mu);
            left -= chunk;
            chunk = 0;
        }
        if (left > 0)
            mc_unref(mc);
        else
            last = mc;
    }
    free(buf);
    pthread_mutex_lock(&table_mu);
    s->result = res;
    pthread_mutex_unlock(&table_mu);
    if (last != NULL) {
        pthread_mutex_lock(&s->mu);
        session_done(last, s);
        pthread_mutex_unlock(&s->mu);
        mc_unref(last);
    }
    session_unref(s);
    return NULL;
}

/* ---- what a client's packet asks for ---------------------------------- */

static void
format_addr(const uint8_t ip[16], uint32_t port, char *out, size_t outlen)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff };
    char a[INET6_ADDRSTRLEN];

    if (memcmp(ip, mapped, 12) == 0) {
        inet_ntop(AF_INET, ip + 12, a, sizeof(a));
        snprintf(out, outlen, "%s:%u", a, (unsigned)port);
    } else {
        inet_ntop(AF_INET6, ip, a, sizeof(a));
        snprintf(out, outlen, "[%s]:%u", a, (unsigned)port);
    }
}

/* An unencrypted req_pq(_multi): answer a resPQ for its nonce. */
static void
answer_req_pq(struct mconn *mc, struct session *s, const uint8_t *pkt,
    size_t n)
{
    static uint32_t msg_seq;
    uint8_t ans[20 + 4 + 16 + 16 + 12 + 8 + 8 * MAX_FPRINTS];
    size_t off = 20;
    uint64_t msg_id;

    if (n < 40)
        return;
    memset(ans, 0, sizeof(ans));
    msg_id = (uint64_t)time(NULL) << 32 |
        (uint64_t)(__atomic_add_fetch(&msg_seq, 1, __ATOMIC_RELAXED) << 2) |
        1;
    for (int i = 0; i < 8; i++)
        ans[8 + i] = (uint8_t)(msg_id >> (8 * i));
    put32(ans + off, TL_RES_PQ);
    memcpy(ans + off + 4, pkt + 24, 16);        /* the client's nonce */
    if (random_bytes(ans + off + 20, 16) != 0)
        return;
    off += 36;
    ans[off] = sizeof(res_pq);
    memcpy(ans + off + 1, res_pq, sizeof(res_pq));
    off += 12;
    put32(ans + off, TL_VECTOR);
    put32(ans + off + 4, (uint32_t)opt.nfprints);
    off += 8;
    for (int i = 0; i < opt.nfprints; i++, off += 8)
        for (int j = 0; j < 8; j++)
            ans[off + j] = (uint8_t)((uint64_t)opt.fprints[i] >> (8 * j));
    put32(ans + 16, (uint32_t)(off - 20));
    if (send_ans(mc, s->conn_id, ans, off) == 0) {
        s->out += off;
        logline("res-pq conn=%016llx len=%zu", (unsigned long long)s->conn_id,
            off);
    }
}

/*
 * The first packet of a session: what it is.  Neither MTProto nor a
 * command: the proxy moved the client here from an ME that died, in the
 * middle of its stream; it is served as ECHO (the tests that kill an ME
 * use echo clients).
 */
static void
session_start(struct mconn *mc, struct session *s, const uint8_t *pkt,
    size_t n)
{
    static const uint8_t zero[8];

    if (n >= 24 && memcmp(pkt, zero, 8) == 0) {
        s->kind = K_MTPROTO;
        return;
    }
    if (!cmd_is_cmd(pkt, n) || cmd_decode(pkt, n, &s->cmd) != 0) {
        s->kind = K_ECHO;
        s->adopted = 1;
        snprintf(s->cmd.name, sizeof(s->cmd.name), "ECHO");
        return;
    }
    if (strcmp(s->cmd.name, "ECHO") == 0) {
        s->kind = K_ECHO;
    } else if (strcmp(s->cmd.name, "SINK") == 0) {
        s->kind = K_SINK;
        pattern_init(&s->pat, s->cmd.seed);
    } else if (strcmp(s->cmd.name, "SOURCE") == 0) {
        s->kind = K_SOURCE;
        pattern_init(&s->pat, s->cmd.seed);
    } else {
        s->kind = K_ECHO;
        s->adopted = 1;
        snprintf(s->cmd.name, sizeof(s->cmd.name), "ECHO");
    }
    (void)mc;
}

/* SOURCE: its sender, once the session's first packet is logged. */
static void
source_start(struct session *s)
{
    pthread_attr_t attr;
    pthread_t t;

    pthread_mutex_lock(&table_mu);
    s->refs++;
    pthread_mutex_unlock(&table_mu);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, source_thread, s) != 0) {
        s->result = "no-thread";
        session_unref(s);
    }
    pthread_attr_destroy(&attr);
}

/* A later packet of a command session. */
static void
session_data(struct mconn *mc, struct session *s, const uint8_t *pkt,
    size_t n)
{
    s->in += n;
    if (s->kind == K_ECHO) {
        if (send_ans(mc, s->conn_id, pkt, n) == 0)
            s->out += n;
    } else if (s->kind == K_SINK && !s->verdict_sent) {
        uint64_t off = s->in - n, left = s->cmd.bytes - off;
        size_t take = n;
        size_t at;

        if (off >= s->cmd.bytes)
            return;
        if (take > left)
            take = (size_t)left;
        at = pattern_check(&s->pat, pkt, take);
        if (at != take && s->bad_at == UINT64_MAX)
            s->bad_at = off + at;
        if (off + take == s->cmd.bytes) {
            const char *v = s->bad_at == UINT64_MAX ? "SINK-OK!" :
                "SINK-BAD";

            if (send_ans(mc, s->conn_id, (const uint8_t *)v, 8) == 0)
                s->out += 8;
            s->verdict_sent = 1;
            session_done(mc, s);
        }
    }
}

/* One RPC_PROXY_REQ. */
static void
on_proxy_req(struct mconn *mc, const uint8_t *p, size_t n)
{
    uint32_t flags;
    uint64_t conn_id = 0;
    size_t off = ME_PROXY_REQ_HDR;
    struct session *s;
    const uint8_t *pkt;
    size_t plen;
    int fresh;
    char tag[2 * ME_AD_TAG_LEN + 1] = "none";

    if (n < ME_PROXY_REQ_HDR) {
        logline("bad-req id=%d reason=short len=%zu", mc->id, n);
        return;
    }
    flags = get32(p + 4);
    for (int i = 7; i >= 0; i--)
        conn_id = conn_id << 8 | p[8 + i];
    if (flags & ME_FLAG_HAS_AD_TAG) {
        uint32_t extra = n >= 60 ? get32(p + 56) : 0;

        if (n < 60 + (size_t)extra || extra < 24 || extra % 4 != 0 ||
            get32(p + 60) != ME_TL_PROXY_TAG || p[64] != ME_AD_TAG_LEN) {
            logline("bad-req id=%d conn=%016llx reason=bad-tag len=%zu",
                mc->id, (unsigned long long)conn_id, n);
            return;
        }
        hex_encode(p + 65, ME_AD_TAG_LEN, tag);
        off = 60 + extra;
    }
    pkt = p + off;
    plen = n - off;
    if (flags & ME_FLAG_QUICKACK) {
        uint8_t ack[16];

        put32(ack, ME_RPC_SIMPLE_ACK);
        for (int i = 0; i < 8; i++)
            ack[4 + i] = (uint8_t)(conn_id >> (8 * i));
        memcpy(ack + 12, ack_confirm, 4);
        if (mc_send(mc, ack, sizeof(ack)) == 0)
            logline("ack conn=%016llx confirm=%08x",
                (unsigned long long)conn_id, get32(ack_confirm));
    }
    s = session_get(conn_id, mc, &fresh);
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->packets++;
    if (plen >= 24 && memcmp(pkt, (const uint8_t[8]){ 0 }, 8) == 0)
        logline("req-mtproto conn=%016llx constructor=%08x",
            (unsigned long long)conn_id, get32(pkt + 20));
    if (fresh) {
        char client[64], proxy[64];

        format_addr(p + 16, get32(p + 32), client, sizeof(client));
        format_addr(p + 36, get32(p + 52), proxy, sizeof(proxy));
        session_start(mc, s, pkt, plen);
        if (s->adopted) {
            logline("req conn=%016llx flags=%08x tag=%s client=%s proxy=%s "
                "len=%zu first=data me=%d", (unsigned long long)conn_id,
                flags, tag, client, proxy, plen, mc->id);
            logline("adopt conn=%016llx me=%d", (unsigned long long)conn_id,
                mc->id);
            session_data(mc, s, pkt, plen);
        } else if (s->kind == K_ECHO || s->kind == K_SOURCE ||
            s->kind == K_SINK)
            logline("req conn=%016llx flags=%08x tag=%s client=%s proxy=%s "
                "len=%zu first=cmd cmd=%s bytes=%llu me=%d",
                (unsigned long long)conn_id, flags, tag, client, proxy, plen,
                s->cmd.name, (unsigned long long)s->cmd.bytes, mc->id);
        else
            logline("req conn=%016llx flags=%08x tag=%s client=%s proxy=%s "
                "len=%zu first=mtproto me=%d", (unsigned long long)conn_id,
                flags, tag, client, proxy, plen, mc->id);
        if (s->kind == K_SOURCE)
            source_start(s);
    } else if (s->kind == K_ECHO || s->kind == K_SINK) {
        session_data(mc, s, pkt, plen);
    } else {
        s->in += plen;
    }
    if (s->kind == K_MTPROTO && plen >= 40 &&
        memcmp(pkt, (const uint8_t[8]){ 0 }, 8) == 0 &&
        (get32(pkt + 20) == TL_REQ_PQ_MULTI || get32(pkt + 20) == TL_REQ_PQ))
        answer_req_pq(mc, s, pkt, plen);
    if (opt.close_ext_after > 0 && s->packets >= opt.close_ext_after &&
        !s->close_sent && !s->closed) {
        s->close_sent = 1;
        if (send_ctl(mc, ME_RPC_CLOSE_EXT, conn_id) == 0)
            logline("send-close-ext conn=%016llx after=%llu",
                (unsigned long long)conn_id,
                (unsigned long long)s->packets);
        session_end(s, "fakeme");
    }
    pthread_mutex_unlock(&s->mu);
    session_unref(s);
}

/* One frame after the handshake; -1 ends the connection. */
static int
on_frame(struct mconn *mc, const uint8_t *p, size_t n)
{
    uint32_t type = n >= 4 ? get32(p) : 0;
    uint64_t id = 0;
    struct session *s;

    if (n >= 12)
        for (int i = 7; i >= 0; i--)
            id = id << 8 | p[4 + i];
    switch (type) {
    case ME_RPC_PROXY_REQ:
        on_proxy_req(mc, p, n);
        return 0;
    case ME_RPC_PING:
        if (n < 12)
            break;
        logline("ping id=%d ping_id=%016llx", mc->id,
            (unsigned long long)id);
        return send_ctl(mc, ME_RPC_PONG, id);
    case ME_RPC_PONG:
        if (n < 12)
            break;
        logline("pong id=%d ping_id=%016llx", mc->id,
            (unsigned long long)id);
        return 0;
    case ME_RPC_CLOSE_EXT:
    case ME_RPC_CLOSE_CONN:
        if (n < 12)
            break;
        logline("close conn=%016llx type=%s me=%d", (unsigned long long)id,
            type == ME_RPC_CLOSE_EXT ? "close_ext" : "close_conn", mc->id);
        pthread_mutex_lock(&table_mu);
        for (s = sessions; s != NULL; s = s->next)
            if (s->conn_id == id)
                break;
        if (s != NULL)
            s->refs++;
        pthread_mutex_unlock(&table_mu);
        if (s != NULL) {
            pthread_mutex_lock(&s->mu);
            session_end(s, "proxy");
            pthread_mutex_unlock(&s->mu);
            session_unref(s);
        }
        return 0;
    default:
        break;
    }
    logline("bad-frame id=%d type=%08x len=%zu", mc->id, type, n);
    return 0;
}

/* ---- one ME connection ------------------------------------------------- */

/* Our process id in RPC_HANDSHAKE: the ME side's address. */
static void
our_pid(const struct me_addrs *a, uint8_t out[ME_PID_LEN])
{
    memset(out, 0, ME_PID_LEN);
    if (!a->v6)
        for (int i = 0; i < 4; i++)
            out[i] = a->srv_ip4[3 - i];
    out[4] = (uint8_t)a->srv_port;
    out[5] = (uint8_t)(a->srv_port >> 8);
    out[6] = (uint8_t)getpid();
    out[7] = (uint8_t)(getpid() >> 8);
    put32(out + 8, (uint32_t)time(NULL));
}

struct hs_state {
    struct me_reader rd;
    struct me_cbc *dec;
    size_t part;                        /* bytes of a block not decrypted */
    uint8_t raw[READ_BUF];
};

/*
 * Read until the reader has a frame (decrypting whole blocks); 1 frame,
 * 0 deadline passed with nothing, -1 with *why.
 */
static int
read_frame(struct mconn *mc, struct hs_state *h, int64_t deadline,
    const uint8_t **pl, size_t *n, const char **why)
{
    for (;;) {
        enum me_read_status st = me_reader_next(&h->rd, pl, n);
        size_t whole, got = 0;
        int r;

        if (st == ME_READ_FRAME)
            return 1;
        if (st != ME_READ_MORE) {
            *why = me_read_status_name(st);
            return -1;
        }
        r = net_read_atleast(mc->fd, h->raw + h->part, 1,
            sizeof(h->raw) - h->part, deadline, NULL, &got);
        if (r == NET_TIMEOUT)
            return 0;
        if (r <= 0) {
            *why = r == NET_EOF ? "eof" : "read-error";
            return -1;
        }
        h->part += (size_t)r;
        whole = h->part - h->part % ME_CBC_BLOCK;
        if (me_cbc_apply(h->dec, h->raw, h->raw, whole) != 0 ||
            me_reader_feed(&h->rd, h->raw, whole) != 0) {
            *why = "cipher-or-oom";
            return -1;
        }
        memmove(h->raw, h->raw + whole, h->part - whole);
        h->part -= whole;
    }
}

/* Nonce and RPC_HANDSHAKE; 0, or -1 with *why. */
static int
handshake(struct mconn *mc, struct hs_state *h, const char **why)
{
    struct sockaddr_storage local, peer;
    socklen_t ll = sizeof(local), pl_len = sizeof(peer);
    struct me_addrs a;
    uint8_t frame[NONCE_FRAME_LEN + 4], ks[4], clt_nonce[16], srv_nonce[16];
    uint8_t key[32], iv[16], nonce[ME_NONCE_LEN], hs[ME_HANDSHAKE_LEN];
    uint8_t their_pid[ME_PID_LEN], peer_pid[ME_PID_LEN], pid[ME_PID_LEN];
    int64_t deadline = mono_ms() + HANDSHAKE_MS;
    uint32_t clt_ts, flags;
    const uint8_t *pl;
    size_t n, got = 0;
    int32_t err;
    int r;

    if (getsockname(mc->fd, (struct sockaddr *)&local, &ll) != 0 ||
        getpeername(mc->fd, (struct sockaddr *)&peer, &pl_len) != 0 ||
        me_addrs_from(&a, (struct sockaddr *)&peer,
        (struct sockaddr *)&local) != 0) {
        *why = "addresses";
        return -1;
    }
    if (opt.nat_set && opt.nat_v6 == a.v6) {
        if (a.v6)
            memcpy(a.clt_ip6, opt.nat_ip, 16);
        else
            memcpy(a.clt_ip4, opt.nat_ip, 4);
    }
    r = net_read_atleast(mc->fd, frame, NONCE_FRAME_LEN, NONCE_FRAME_LEN,
        deadline, NULL, &got);
    if (r != NONCE_FRAME_LEN) {
        *why = r == NET_TIMEOUT ? "nonce-timeout" : "nonce-short";
        return -1;
    }
    if (get32(frame) != NONCE_FRAME_LEN) {
        *why = "nonce-bad-length";
        return -1;
    }
    me_reader_init(&h->rd, ME_SEQ_NONCE);
    if (me_reader_feed(&h->rd, frame, NONCE_FRAME_LEN) != 0 ||
        me_reader_next(&h->rd, &pl, &n) != ME_READ_FRAME) {
        *why = "nonce-bad-seq-or-crc";
        return -1;
    }
    if (me_nonce_parse(pl, n, ks, &clt_ts, clt_nonce) != 0) {
        *why = "nonce-not-rpc-nonce-aes";
        return -1;
    }
    if (memcmp(ks, opt.secret, 4) != 0) {
        *why = "key-select";
        return -1;
    }
    /* A peer that pads its nonce frame sends one filler word with it. */
    if (recv(mc->fd, frame, 4, MSG_PEEK | MSG_DONTWAIT) == 4 &&
        get32(frame) == ME_FILLER)
        (void)recv(mc->fd, frame, 4, MSG_DONTWAIT);
    if (random_bytes(srv_nonce, sizeof(srv_nonce)) != 0) {
        *why = "random";
        return -1;
    }
    me_nonce_build(nonce, opt.secret,
        (uint32_t)((long)time(NULL) + opt.clock_offset), srv_nonce);
    n = me_frame_build(frame, ME_SEQ_NONCE, nonce, sizeof(nonce), 0);
    if (net_write_all(mc->fd, frame, n, deadline) != 0) {
        *why = "nonce-send";
        return -1;
    }
    me_kdf(srv_nonce, clt_nonce, clt_ts, &a, 1, opt.secret, opt.secret_len,
        key, iv);
    h->dec = me_cbc_new(key, iv, 0);
    me_kdf(srv_nonce, clt_nonce, clt_ts, &a, 0, opt.secret, opt.secret_len,
        key, iv);
    mc->enc = me_cbc_new(key, iv, 1);
    if (h->dec == NULL || mc->enc == NULL) {
        *why = "oom";
        return -1;
    }
    r = read_frame(mc, h, deadline, &pl, &n, why);
    if (r == 0)
        *why = "handshake-timeout";
    if (r != 1)
        return -1;
    if (me_handshake_parse(pl, n, &flags, their_pid, peer_pid, &err) != 0) {
        *why = "not-rpc-handshake";
        return -1;
    }
    mc->crc32c = (flags & ME_HS_FLAG_CRC32C) != 0 && !opt.no_crc32c;
    our_pid(&a, pid);
    me_handshake_build(hs, mc->crc32c ? ME_HS_FLAG_CRC32C : 0, pid,
        their_pid);
    mc->wseq = ME_SEQ_HANDSHAKE;
    {
        int c = mc->crc32c;

        mc->crc32c = 0;         /* the handshake frames still use CRC32 */
        r = mc_send(mc, hs, sizeof(hs));
        mc->crc32c = c;
    }
    if (r != 0) {
        *why = "handshake-send";
        return -1;
    }
    h->rd.crc32c = mc->crc32c;
    return 0;
}

/* After the handshake: frames until the end; returns the reason. */
static const char *
serve(struct mconn *mc, struct hs_state *h)
{
    int64_t next_ping = mono_ms() + PING_MS;
    uint64_t ping_id = (uint64_t)mc->id << 32;

    for (;;) {
        const uint8_t *pl;
        size_t n;
        const char *why = "";
        int r = read_frame(mc, h, next_ping, &pl, &n, &why);

        if (r < 0)
            return why;
        /* Every PING_MS, busy or not: a proxy must answer in traffic. */
        if (mono_ms() >= next_ping) {
            if (send_ctl(mc, ME_RPC_PING, ++ping_id) != 0)
                return "ping-send";
            next_ping = mono_ms() + PING_MS;
        }
        if (r == 0)
            continue;
        mc->frames_in++;
        if (on_frame(mc, pl, n) != 0)
            return "send-failed";
        if (opt.close_after_frames > 0 &&
            mc->frames_in >= opt.close_after_frames)
            return "close-after-frames";
    }
}

static void *
conn_thread(void *arg)
{
    struct mconn *mc = arg;
    struct hs_state *h = calloc(1, sizeof(*h));
    const char *why = "oom";

    if (h != NULL && handshake(mc, h, &why) == 0) {
        logline("me-conn id=%d peer=%s crc32c=%d", mc->id, mc->peer,
            mc->crc32c);
        why = serve(mc, h);
        logline("me-end id=%d frames_in=%llu frames_out=%llu reason=%s",
            mc->id, (unsigned long long)mc->frames_in,
            (unsigned long long)mc->frames_out, why);
    } else {
        logline("me-handshake-fail id=%d peer=%s reason=%s", mc->id,
            mc->peer, why);
    }
    pthread_mutex_lock(&table_mu);
    mc->dead = 1;
    pthread_cond_broadcast(&table_cv);
    pthread_mutex_unlock(&table_mu);
    /* Sessions may still point here: the fd closes with the last ref. */
    (void)shutdown(mc->fd, SHUT_RDWR);
    if (h != NULL) {
        me_reader_free(&h->rd);
        me_cbc_free(h->dec);
        free(h);
    }
    mc_unref(mc);
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
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
            SOCK_CLOEXEC | SOCK_NONBLOCK);
        struct mconn *mc;
        pthread_t t;
        int one = 1;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
                errno == ENOBUFS)
                usleep(10000);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        mc = calloc(1, sizeof(*mc));
        if (mc == NULL) {
            close(fd);
            continue;
        }
        mc->fd = fd;
        mc->refs = 1;
        pthread_mutex_init(&mc->wmu, NULL);
        net_format((struct sockaddr *)&ss, mc->peer, sizeof(mc->peer));
        pthread_mutex_lock(&table_mu);
        mc->id = next_conn_id++;
        pthread_mutex_unlock(&table_mu);
        if (pthread_create(&t, &attr, conn_thread, mc) != 0) {
            logline("me-handshake-fail id=%d peer=%s reason=no-thread",
                mc->id, mc->peer);
            mc_unref(mc);
        }
    }
    return NULL;
}

static int
open_listener(const char *spec, struct listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl;

    if (net_parse_addr(spec, &ss, &sl) != 0) {
        fprintf(stderr, "fakeme: bad address '%s'\n", spec);
        return -1;
    }
    l->fd = net_listen_one((struct sockaddr *)&ss, sl, 1024);
    if (l->fd < 0) {
        fprintf(stderr, "fakeme: %s: %s\n", spec, strerror(errno));
        return -1;
    }
    /* accept() in a thread of its own: blocking is simplest. */
    {
        int fl = fcntl(l->fd, F_GETFL);

        (void)fcntl(l->fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    snprintf(l->name, sizeof(l->name), "%s", spec);
    return 0;
}

static int
read_secret(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t extra;

    if (f == NULL) {
        fprintf(stderr, "fakeme: %s: %s\n", path, strerror(errno));
        return -1;
    }
    opt.secret_len = fread(opt.secret, 1, sizeof(opt.secret), f);
    if (fread(&extra, 1, 1, f) != 0 || opt.secret_len < ME_SECRET_MIN) {
        fprintf(stderr, "fakeme: %s: the proxy secret must be %d..%d "
            "bytes\n", path, ME_SECRET_MIN, ME_SECRET_MAX);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

enum {
    O_SECRET = 256, O_LOG, O_CLOCK, O_NOCRC, O_FPRINT, O_CLOSE_FRAMES,
    O_CLOSE_EXT, O_NAT
};

int
main(int argc, char **argv)
{
    static const struct option longs[] = {
        { "secret-file", required_argument, NULL, O_SECRET },
        { "log", required_argument, NULL, O_LOG },
        { "clock-offset", required_argument, NULL, O_CLOCK },
        { "no-crc32c", no_argument, NULL, O_NOCRC },
        { "rsa-fingerprint", required_argument, NULL, O_FPRINT },
        { "close-after-frames", required_argument, NULL, O_CLOSE_FRAMES },
        { "send-close-ext-after", required_argument, NULL, O_CLOSE_EXT },
        { "nat-clt-ip", required_argument, NULL, O_NAT },
        { NULL, 0, NULL, 0 }
    };
    static struct listener ls[MAX_LISTEN];
    const char *specs[MAX_LISTEN];
    const char *logpath = NULL, *secret_path = NULL;
    int nspecs = 0, o, sig;
    sigset_t set;
    char *end;

    while ((o = getopt_long(argc, argv, "l:o:h", longs, NULL)) != -1) {
        switch (o) {
        case 'l':
            if (nspecs == MAX_LISTEN)
                usage();
            specs[nspecs++] = optarg;
            break;
        case 'o':
        case O_LOG:
            logpath = optarg;
            break;
        case O_SECRET:
            secret_path = optarg;
            break;
        case O_CLOCK:
            errno = 0;
            opt.clock_offset = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0')
                usage();
            break;
        case O_NOCRC:
            opt.no_crc32c = 1;
            break;
        case O_FPRINT:
            if (opt.nfprints == MAX_FPRINTS)
                usage();
            errno = 0;
            opt.fprints[opt.nfprints++] = strtoll(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0')
                usage();
            break;
        case O_CLOSE_FRAMES:
            if (parse_u64(optarg, &opt.close_after_frames) != 0)
                usage();
            break;
        case O_CLOSE_EXT:
            if (parse_u64(optarg, &opt.close_ext_after) != 0)
                usage();
            break;
        case O_NAT:
            opt.nat_set = 1;
            if (inet_pton(AF_INET, optarg, opt.nat_ip) == 1)
                opt.nat_v6 = 0;
            else if (inet_pton(AF_INET6, optarg, opt.nat_ip) == 1)
                opt.nat_v6 = 1;
            else
                usage();
            break;
        default:
            usage();
        }
    }
    if (nspecs == 0 || secret_path == NULL || optind != argc)
        usage();
    if (read_secret(secret_path) != 0)
        return 1;
    log_out = stdout;
    if (logpath != NULL) {
        log_out = fopen(logpath, "a");
        if (log_out == NULL) {
            fprintf(stderr, "fakeme: %s: %s\n", logpath, strerror(errno));
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
            fprintf(stderr, "fakeme: cannot start a thread\n");
            return 1;
        }
        pthread_detach(t);
        printf("fakeme: listening on %s\n", ls[i].name);
    }
    fflush(stdout);
    sigwait(&set, &sig);
    printf("fakeme: signal %d, exiting\n", sig);
    fflush(stdout);
    pthread_mutex_lock(&log_mu);
    fflush(log_out);
    /* Connection threads may still run; leave without unwinding them. */
    _exit(0);
}
