/*
 * me_pool.c - a worker's ME connections and the clients multiplexed over
 * them (see me_pool.h; the wire format is common/me_proto.c's).
 *
 * Locking: the pool's lock guards the clusters, every connection's
 * state and client list, and the client table.  A connection's wlock
 * serialises its writers (its CBC chain and sequence numbers); a writer
 * holds a count (writers) under the pool lock so the connection is not
 * freed under it.  A client's qlock guards its queue; the reader thread
 * finds the client under the pool lock and takes qlock before letting
 * the pool lock go, so me_client_close() (which unlists under the pool
 * lock, then takes qlock once) knows no reader is still pushing.
 */
#include "me_pool.h"

#include <sys/eventfd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "me_proto.h"
#include "net.h"
#include "snapshot.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

#define ME_HASH             4096            /* client table buckets */
#define ME_CLIENTS_PER_CONN 256             /* one more connection per */
#define ME_TICK_MS          250             /* the manager's beat */
#define ME_WRITE_MS         10000           /* a write that takes longer
                                             * kills the connection */
#define ME_RETIRE_GRACE_MS  10000           /* a retired connection keeps
                                             * reading answers this long */
#define ME_BACKOFF_MIN_MS   500
#define ME_BACKOFF_MAX_MS   30000
#define ME_READ_BUF         65536
#define ME_THREAD_STACK     (256 * 1024)
#define ME_KEEPALIVE_S      60              /* TCP keepalive on ME sockets */
/* A client's queue past this many times me_client_queue_bytes is closed
 * at once: answers to what it asked before back-pressure began. */
#define ME_QUEUE_HARD       16

enum me_state { ME_DIALING, ME_UP, ME_DEAD };

/* Where an ME connection failed: each its me_fail_* counter. */
enum me_fail {
    ME_FAIL_CONNECT, ME_FAIL_NONCE, ME_FAIL_CLOCK_SKEW, ME_FAIL_HANDSHAKE,
    ME_FAIL_FRAME, ME_FAIL_SILENT, ME_FAIL_CLOSED, ME_FAIL_NONE
};

struct me_cluster;

struct me_conn {
    struct me_pool *p;
    struct me_cluster *cl;
    LIST_ENTRY(me_conn) link;           /* cl->conns */
    LIST_HEAD(me_conn_clients, me_client) clients;  /* bound to it */
    uint32_t id;                        /* for logs */
    int fd;
    int state;                          /* enum me_state */
    int retiring;
    int64_t retire_at_ms;               /* close once past it */
    int nclients;
    int writers;                        /* in a send */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct outbound_via via;            /* how it was dialled */
    char name[64];
    pthread_mutex_t wlock;              /* guards the five below */
    struct me_cbc *enc;
    int32_t wseq;
    uint8_t *wbuf;                      /* ciphertext of one frame */
    size_t wcap;
    int crc32c;                         /* set before it is up */
    _Atomic int64_t last_tx_ms;
};

struct me_cluster {
    int dc;
    struct me_entry *addrs;             /* naddrs, of its dc */
    int naddrs;
    int next;                           /* the address the next dial tries */
    LIST_HEAD(me_cluster_conns, me_conn) conns;
    int nup, ndialing;
    int nclients;
    int wanted;                         /* has had a client: keep it up */
    int fail_streak;                    /* dials failed in a row */
    int backoff_ms;
    int64_t retry_ms;                   /* no dial before (monotonic) */
    pthread_cond_t changed;             /* up, or a dial failed */
    struct log_rl rl;                   /* its failures' log lines */
};

struct me_client {
    uint64_t id;
    struct me_pool *p;
    struct me_cluster *cl;
    struct me_conn *mc;                 /* NULL: none bound yet */
    LIST_ENTRY(me_client) hlink;        /* the pool's table */
    LIST_ENTRY(me_client) clink;        /* mc->clients */
    int efd;
    pthread_mutex_t qlock;
    struct me_items q;
    size_t qbytes;
    int closed, overflow, me_closed;
};

struct me_pool {
    struct worker *w;
    pthread_mutex_t lock;
    pthread_cond_t tick;                /* wakes the manager */
    pthread_cond_t idle;                /* a connection's writers ended */
    /* The config's values (me_pool_set_config()). */
    int enabled;                        /* use_middle_proxy */
    int min_conns, max_conns, connect_ms, ping_ms;
    size_t queue_cap;
    int prefer_v6;
    int nat4_set, nat6_set;
    uint8_t nat4[4], nat6[16];
    /* The master's inputs. */
    uint8_t secret[ME_SECRET_MAX];
    size_t secret_len;
    int default_dc;
    int have_list;
    struct me_cluster **cl;
    int ncl;
    uint32_t next_id;
    LIST_HEAD(me_bucket, me_client) hash[ME_HASH];
};

static void *me_conn_thread(void *arg);

/* Same family, address and port. */
static int
me_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;

        return x->sin_port == y->sin_port &&
            x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

        return x->sin6_port == y->sin6_port &&
            memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
}

static struct stats_dc *
me_dc_stats(struct me_pool *p, int dc)
{
    return &p->w->stats->dcs[stats_dc_slot(dc)];
}

static int64_t
me_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Start fn on a detached thread with every signal blocked. */
static int
me_thread(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int err;

    if ((err = pthread_attr_init(&attr)) != 0)
        return err;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_attr_setstacksize(&attr, ME_THREAD_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err;
}

/* ---- sending --------------------------------------------------------- */

/*
 * Frame, pad, encrypt and write the n-byte payload at buf + ME_SEND_HEAD
 * (room for ME_SEND_TAIL after it); wlock held.  The payload itself is
 * left as it was (the ciphertext goes to wbuf), so a caller can send it
 * again on another connection.  A write that fails or stalls kills the
 * connection (its reader then sees the end).
 */
static int
mc_write_frame(struct me_conn *mc, uint8_t *buf, size_t n)
{
    size_t len = ME_FRAME_OVERHEAD + n, pad = me_pad_len(len);
    uint32_t crc, seq = (uint32_t)mc->wseq;

    if (len + pad > mc->wcap) {
        uint8_t *nb = realloc(mc->wbuf, len + pad);

        if (nb == NULL)
            return -1;
        mc->wbuf = nb;
        mc->wcap = len + pad;
    }
    me_put32(buf, (uint32_t)len);
    me_put32(buf + 4, seq);
    crc = mc->crc32c ? me_crc32c(buf, 8 + n) : me_crc32(buf, 8 + n);
    me_put32(buf + 8 + n, crc);
    me_pad_fill(buf + len, pad);
    if (me_cbc_apply(mc->enc, buf, mc->wbuf, len + pad) != 0 ||
        net_write_all(mc->fd, mc->wbuf, len + pad,
        mono_ms() + ME_WRITE_MS) != 0) {
        (void)shutdown(mc->fd, SHUT_RDWR);
        return -1;
    }
    mc->wseq++;
    mc->last_tx_ms = mono_ms();
    return 0;
}

/* A 12-byte control payload (ping, pong, close) on mc. */
static int
mc_send_ctl(struct me_conn *mc, uint32_t type, uint64_t id)
{
    uint8_t buf[ME_SEND_HEAD + 12 + ME_SEND_TAIL];
    int rc;

    me_ctl_build(buf + ME_SEND_HEAD, type, id);
    pthread_mutex_lock(&mc->wlock);
    rc = mc_write_frame(mc, buf, 12);
    pthread_mutex_unlock(&mc->wlock);
    return rc;
}

/* ---- clusters and binding --------------------------------------------- */

static struct me_cluster *
me_cluster_of(struct me_pool *p, int dc)
{
    for (int i = 0; i < p->ncl; i++)
        if (p->cl[i]->dc == dc)
            return p->cl[i];
    return NULL;
}

/* The cluster serving dc: its own, else the list's default. */
static struct me_cluster *
me_cluster_for(struct me_pool *p, int dc)
{
    struct me_cluster *cl = me_cluster_of(p, dc);

    if (cl == NULL || cl->naddrs == 0)
        cl = me_cluster_of(p, p->default_dc);
    return cl != NULL && cl->naddrs > 0 ? cl : NULL;
}

/* The live connection of cl with the fewest clients; a retiring one only
 * if nothing else is up. */
static struct me_conn *
me_pick(struct me_cluster *cl)
{
    struct me_conn *mc, *best = NULL, *old = NULL;

    LIST_FOREACH(mc, &cl->conns, link) {
        /* cppcheck-suppress uninitvar ; LIST_FOREACH (sys/queue.h) set it */
        if (mc->state != ME_UP)
            continue;
        if (mc->retiring) {
            if (old == NULL)
                old = mc;
            continue;
        }
        if (best == NULL || mc->nclients < best->nclients)
            best = mc;
    }
    return best != NULL ? best : old;
}

static void
me_bind(struct me_client *c, struct me_conn *mc)
{
    if (c->mc == mc)
        return;
    if (c->mc != NULL) {
        LIST_REMOVE(c, clink);
        c->mc->nclients--;
        STATS_ADD(c->p->w->stats, me_migrated, 1);
    }
    c->mc = mc;
    if (mc != NULL) {
        LIST_INSERT_HEAD(&mc->clients, c, clink);
        mc->nclients++;
    }
}

/* 1 if c's connection is fine to send on (bound, up, not retiring). */
static int
me_bound_ok(const struct me_client *c)
{
    return c->mc != NULL && c->mc->state == ME_UP && !c->mc->retiring;
}

/* 1 while every address of cl failed in a row and nothing is dialling:
 * a client should not wait for it. */
static int
me_cluster_down(const struct me_cluster *cl)
{
    return cl->nup == 0 && cl->fail_streak >= cl->naddrs &&
        cl->ndialing == 0;
}

/*
 * Bind c to a live connection of its cluster, waiting until deadline for
 * one; pool lock held.  0, or -1 if none came up.
 */
static int
me_bind_wait(struct me_client *c, int64_t deadline)
{
    struct me_pool *p = c->p;

    for (;;) {
        struct me_conn *mc;
        struct timespec ts;
        int64_t left;

        if (me_bound_ok(c))
            return 0;
        mc = me_pick(c->cl);
        if (mc != NULL && !mc->retiring) {
            me_bind(c, mc);
            return 0;
        }
        if (c->mc != NULL && c->mc->state == ME_UP)
            return 0;                   /* retiring, but still the best */
        if (mc != NULL) {
            me_bind(c, mc);             /* retiring: better than none */
            return 0;
        }
        left = deadline - mono_ms();
        if (left <= 0 || me_cluster_down(c->cl))
            return -1;
        pthread_cond_signal(&p->tick);
        ts = mono_deadline(me_min64(left, ME_TICK_MS));
        (void)pthread_cond_timedwait(&c->cl->changed, &p->lock, &ts);
    }
}

/* ---- clients ----------------------------------------------------------- */

static struct me_client *
me_lookup(struct me_pool *p, uint64_t id)
{
    struct me_client *c;

    LIST_FOREACH(c, &p->hash[id % ME_HASH], hlink)
        if (c->id == id)
            return c;
    return NULL;
}

struct me_client *
me_client_open(struct me_pool *p, int dc, int efd, int wait_ms,
    const char **why)
{
    struct me_client *c;
    struct me_cluster *cl;

    pthread_mutex_lock(&p->lock);
    if (!p->have_list || p->secret_len == 0) {
        pthread_mutex_unlock(&p->lock);
        *why = p->secret_len == 0 ? "no ME proxy secret yet" :
            "no ME list yet";
        return NULL;
    }
    if ((cl = me_cluster_for(p, dc)) == NULL) {
        pthread_mutex_unlock(&p->lock);
        *why = "the ME list has no cluster for it and no default";
        return NULL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        pthread_mutex_unlock(&p->lock);
        *why = "out of memory";
        return NULL;
    }
    do {
        if (random_bytes((uint8_t *)&c->id, sizeof(c->id)) != 0)
            c->id = ((uint64_t)mono_ns() << 16) ^ (uint64_t)(uintptr_t)c;
    } while (c->id == 0 || me_lookup(p, c->id) != NULL);
    c->p = p;
    c->cl = cl;
    c->efd = efd;
    pthread_mutex_init(&c->qlock, NULL);
    STAILQ_INIT(&c->q);
    LIST_INSERT_HEAD(&p->hash[c->id % ME_HASH], c, hlink);
    cl->nclients++;
    cl->wanted = 1;
    pthread_cond_signal(&p->tick);
    if (me_bind_wait(c, mono_ms() + wait_ms) != 0) {
        pthread_mutex_unlock(&p->lock);
        *why = "no ME of its cluster is reachable";
        c->me_closed = 1;               /* nothing to tell an ME */
        me_client_close(c);
        return NULL;
    }
    pthread_mutex_unlock(&p->lock);
    return c;
}

uint64_t
me_client_id(const struct me_client *c)
{
    return c->id;
}

int
me_client_cluster(const struct me_client *c)
{
    return c->cl->dc;
}

/* Take a writer's count on c's bound connection (pool lock held). */
static struct me_conn *
me_writer_take(struct me_client *c)
{
    struct me_conn *mc = c->mc;

    if (mc != NULL)
        mc->writers++;
    return mc;
}

static void
me_writer_drop(struct me_pool *p, struct me_conn *mc)
{
    pthread_mutex_lock(&p->lock);
    if (--mc->writers == 0)
        pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
}

int
me_client_send(struct me_client *c, uint8_t *buf, size_t n, int wait_ms)
{
    struct me_pool *p = c->p;

    /* A second try on the connection we are moved to if the first one
     * dies under the write (mc_write_frame() leaves buf as it was). */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct me_conn *mc;
        int rc;

        pthread_mutex_lock(&p->lock);
        if (me_bind_wait(c, mono_ms() + wait_ms) != 0) {
            pthread_mutex_unlock(&p->lock);
            return -1;
        }
        mc = me_writer_take(c);
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_lock(&mc->wlock);
        rc = mc_write_frame(mc, buf, n);
        pthread_mutex_unlock(&mc->wlock);
        if (rc != 0) {
            /* Still a writer: mc cannot be freed under us yet. */
            pthread_mutex_lock(&p->lock);
            mc->retiring = 1;               /* dying: nobody picks it */
            mc->retire_at_ms = 0;
            if (c->mc == mc)
                me_bind(c, NULL);
            pthread_mutex_unlock(&p->lock);
        }
        me_writer_drop(p, mc);
        if (rc == 0) {
            STATS_ADD(p->w->stats, me_packets_up, 1);
            return 0;
        }
    }
    return -1;
}

size_t
me_client_take(struct me_client *c, struct me_items *out, int *closed,
    int *overflow)
{
    size_t n;

    pthread_mutex_lock(&c->qlock);
    n = c->qbytes;
    STAILQ_CONCAT(out, &c->q);
    c->qbytes = 0;
    *closed = c->closed;
    *overflow = c->overflow;
    pthread_mutex_unlock(&c->qlock);
    return n;
}

size_t
me_client_queued(struct me_client *c)
{
    size_t n;

    pthread_mutex_lock(&c->qlock);
    n = c->qbytes;
    pthread_mutex_unlock(&c->qlock);
    return n;
}

void
me_items_free(struct me_items *items)
{
    struct me_item *it;

    while ((it = STAILQ_FIRST(items)) != NULL) {
        STAILQ_REMOVE_HEAD(items, link);
        free(it);
    }
}

void
me_client_close(struct me_client *c)
{
    struct me_pool *p = c->p;
    struct me_conn *mc = NULL;

    pthread_mutex_lock(&p->lock);
    LIST_REMOVE(c, hlink);
    c->cl->nclients--;
    if (c->mc != NULL && c->mc->state == ME_UP && !c->me_closed)
        mc = me_writer_take(c);
    if (c->mc != NULL) {
        LIST_REMOVE(c, clink);
        c->mc->nclients--;
    }
    pthread_mutex_unlock(&p->lock);
    if (mc != NULL) {
        (void)mc_send_ctl(mc, ME_RPC_CLOSE_CONN, c->id);
        me_writer_drop(p, mc);
    }
    pthread_mutex_lock(&c->qlock);      /* a reader still pushing ends */
    pthread_mutex_unlock(&c->qlock);
    me_items_free(&c->q);
    pthread_mutex_destroy(&c->qlock);
    free(c);
}

/* ---- what the ME sends ------------------------------------------------- */

static void
me_wake(int efd)
{
    uint64_t one = 1;

    (void)!write(efd, &one, sizeof(one));
}

/* Queue an item for the client the ME named, or tell the ME it is gone. */
static void
me_deliver(struct me_conn *mc, const struct me_msg *m)
{
    struct me_pool *p = mc->p;
    struct me_client *c;
    struct me_item *it = NULL;
    size_t len = m->type == ME_RPC_PROXY_ANS ? m->len :
        m->type == ME_RPC_SIMPLE_ACK ? 4 : 0;

    pthread_mutex_lock(&p->lock);
    if ((c = me_lookup(p, m->conn_id)) == NULL) {
        pthread_mutex_unlock(&p->lock);
        if (m->type != ME_RPC_CLOSE_EXT && m->type != ME_RPC_CLOSE_CONN) {
            STATS_ADD(p->w->stats, me_unknown_conn, 1);
            (void)mc_send_ctl(mc, ME_RPC_CLOSE_CONN, m->conn_id);
        }
        return;
    }
    pthread_mutex_lock(&c->qlock);
    pthread_mutex_unlock(&p->lock);
    if (c->closed) {
        pthread_mutex_unlock(&c->qlock);
        return;
    }
    if (m->type == ME_RPC_CLOSE_EXT || m->type == ME_RPC_CLOSE_CONN) {
        c->closed = c->me_closed = 1;
    } else if (c->qbytes + len > ME_QUEUE_HARD * p->queue_cap) {
        c->closed = c->overflow = 1;    /* the client thread counts it */
    } else if ((it = malloc(sizeof(*it) + len)) != NULL) {
        it->kind = m->type == ME_RPC_PROXY_ANS ? ME_ITEM_DATA : ME_ITEM_ACK;
        it->len = len;
        memcpy(it->data, m->type == ME_RPC_PROXY_ANS ? m->data : m->confirm,
            len);
        STAILQ_INSERT_TAIL(&c->q, it, link);
        c->qbytes += len;
    } else {
        c->closed = 1;
    }
    me_wake(c->efd);
    pthread_mutex_unlock(&c->qlock);
}

/* One frame from the ME, after the handshake; -1 ends the connection. */
static int
me_dispatch(struct me_conn *mc, const uint8_t *payload, size_t n)
{
    struct me_msg m;

    if (me_msg_parse(payload, n, &m) != 0) {
        log_debug("ME %s: ignored a frame of %zu bytes, type %08x",
            mc->name, n, n >= 4 ? me_get32(payload) : 0);
        return 0;
    }
    switch (m.type) {
    case ME_RPC_PROXY_ANS:
    case ME_RPC_SIMPLE_ACK:
    case ME_RPC_CLOSE_EXT:
    case ME_RPC_CLOSE_CONN:
        me_deliver(mc, &m);
        return 0;
    case ME_RPC_PING:
        return mc_send_ctl(mc, ME_RPC_PONG, m.ping_id);
    default:
        return 0;                       /* PONG: liveness only */
    }
}

/* ---- one ME connection: dial, handshake, read ------------------------- */

/* Our process id in RPC_HANDSHAKE (docs/protocol.md 8.3). */
static void
me_pid(const struct me_addrs *a, uint8_t out[ME_PID_LEN])
{
    /* The IPv4 address as a host-order value written LE: reversed. */
    for (int i = 0; i < 4; i++)
        out[i] = a->v6 ? 0 : a->clt_ip4[3 - i];
    out[4] = (uint8_t)a->clt_port;
    out[5] = (uint8_t)(a->clt_port >> 8);
    out[6] = (uint8_t)getpid();
    out[7] = (uint8_t)(getpid() >> 8);
    me_put32(out + 8, (uint32_t)time(NULL));
}

/* Read until the reader has one frame, decrypting with dec if set. */
static int
me_read_frame(int fd, struct me_reader *rd, struct me_cbc *dec,
    int64_t deadline, const uint8_t **payload, size_t *len,
    const char **why)
{
    uint8_t buf[512];
    size_t got;

    for (;;) {
        enum me_read_status st = me_reader_next(rd, payload, len);
        size_t want = dec != NULL ? ME_CBC_BLOCK : 1;
        int r;

        if (st == ME_READ_FRAME)
            return 0;
        if (st != ME_READ_MORE) {
            *why = me_read_status_name(st);
            return -1;
        }
        r = net_read_atleast(fd, buf, want, dec != NULL ? ME_CBC_BLOCK :
            ME_FRAME_OVERHEAD + ME_NONCE_LEN, deadline, NULL, &got);
        if (r < 0) {
            *why = r == NET_TIMEOUT ? "timeout" : r == NET_EOF ?
                "closed by the ME" : "read error";
            return -1;
        }
        if (dec != NULL && me_cbc_apply(dec, buf, buf, (size_t)r) != 0) {
            *why = "cipher";
            return -1;
        }
        if (me_reader_feed(rd, buf, (size_t)r) != 0) {
            *why = "out of memory";
            return -1;
        }
    }
}

struct me_session {
    struct me_reader rd;
    struct me_cbc *dec;
};

/*
 * Nonce exchange, keys, RPC_HANDSHAKE.  0 with s ready and mc->enc set,
 * or -1 with *why and *stage (where it failed) set.
 */
static int
me_handshake(struct me_conn *mc, struct me_session *s, const char **why,
    enum me_fail *stage)
{
    struct me_pool *p = mc->p;
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    struct me_addrs a;
    uint8_t nonce[ME_NONCE_LEN], frame[ME_SEND_HEAD + 64 + ME_SEND_TAIL];
    uint8_t ks[4], srv_nonce[16], clt_nonce[16], key[32], iv[16];
    uint8_t pid[ME_PID_LEN], their_pid[ME_PID_LEN], peer_pid[ME_PID_LEN];
    const uint8_t *pl;
    uint32_t ts = (uint32_t)time(NULL), srv_ts, flags;
    int64_t deadline = mono_ms() + p->connect_ms;
    size_t n;
    int32_t err;
    long skew;

    *stage = ME_FAIL_CONNECT;
    /* The key binds the addresses the ME sees: through an upstream, the
     * one its CONNECT reply named (docs/protocol.md 8). */
    if (mc->via.seenlen > 0) {
        memcpy(&local, &mc->via.seen, sizeof(local));
        llen = mc->via.seenlen;
    } else if (mc->via.upstream >= 0 ||
        getsockname(mc->fd, (struct sockaddr *)&local, &llen) != 0) {
        *why = mc->via.upstream >= 0 ? "the SOCKS5 upstream did not say "
            "which address it connects from (the ME key needs it)" :
            "cannot read the connection's addresses";
        return -1;
    }
    if (me_addrs_from(&a, (struct sockaddr *)&local,
        (struct sockaddr *)&mc->addr) != 0) {
        *why = "cannot read the connection's addresses";
        return -1;
    }
    if (!a.v6 && p->nat4_set)
        memcpy(a.clt_ip4, p->nat4, 4);
    if (a.v6 && p->nat6_set)
        memcpy(a.clt_ip6, p->nat6, 16);
    if (random_bytes(clt_nonce, sizeof(clt_nonce)) != 0) {
        *why = "no random bytes";
        return -1;
    }
    *stage = ME_FAIL_NONCE;
    me_nonce_build(nonce, p->secret, ts, clt_nonce);
    n = me_frame_build(frame, ME_SEQ_NONCE, nonce, sizeof(nonce), 0);
    if (net_write_all(mc->fd, frame, n, deadline) != 0) {
        *why = "cannot send the nonce";
        return -1;
    }
    me_reader_init(&s->rd, ME_SEQ_NONCE);
    if (me_read_frame(mc->fd, &s->rd, NULL, deadline, &pl, &n, why) != 0)
        return -1;
    if (me_nonce_parse(pl, n, ks, &srv_ts, srv_nonce) != 0 ||
        memcmp(ks, p->secret, 4) != 0) {
        *why = "its nonce answer is not one for our proxy secret";
        return -1;
    }
    skew = (long)(int32_t)(srv_ts - ts);
    if (skew > ME_CLOCK_SKEW_MAX || skew < -ME_CLOCK_SKEW_MAX) {
        *stage = ME_FAIL_CLOCK_SKEW;
        *why = "clock skew";
        log_warnx_limited(&mc->cl->rl, &p->w->log_lock, "ME %s: refused: "
            "its clock and ours differ by %ld s (at most %d s): fix this "
            "machine's time (NTP)", mc->name, skew, ME_CLOCK_SKEW_MAX);
        return -1;
    }
    me_kdf(srv_nonce, clt_nonce, ts, &a, 1, p->secret, p->secret_len, key,
        iv);
    mc->enc = me_cbc_new(key, iv, 1);
    me_kdf(srv_nonce, clt_nonce, ts, &a, 0, p->secret, p->secret_len, key,
        iv);
    s->dec = me_cbc_new(key, iv, 0);
    explicit_bzero(key, sizeof(key));
    if (mc->enc == NULL || s->dec == NULL) {
        *why = "out of memory";
        return -1;
    }
    *stage = ME_FAIL_HANDSHAKE;
    me_pid(&a, pid);
    me_handshake_build(frame + ME_SEND_HEAD, ME_HS_FLAG_CRC32C, pid,
        (const uint8_t[ME_PID_LEN]){ 0 });
    mc->wseq = ME_SEQ_HANDSHAKE;
    if (mc_write_frame(mc, frame, ME_HANDSHAKE_LEN) != 0) {
        *why = "cannot send RPC_HANDSHAKE";
        return -1;
    }
    if (me_read_frame(mc->fd, &s->rd, s->dec, deadline, &pl, &n, why) != 0)
        return -1;
    switch (me_handshake_parse(pl, n, &flags, their_pid, peer_pid, &err)) {
    case 0:
        break;
    case 1:
        *why = "RPC_HANDSHAKE_ERROR (the ME refused our secret or keys)";
        return -1;
    default:
        *why = "no RPC_HANDSHAKE in its answer";
        return -1;
    }
    if ((flags & 0xff) != 0 || (memcmp(peer_pid, pid, ME_PID_LEN) != 0 &&
        memcmp(peer_pid, (const uint8_t[ME_PID_LEN]){ 0 }, ME_PID_LEN) !=
        0)) {
        *why = "its RPC_HANDSHAKE does not answer ours";
        return -1;
    }
    mc->crc32c = (flags & ME_HS_FLAG_CRC32C) != 0;
    s->rd.crc32c = mc->crc32c;
    return 0;
}

/*
 * Decrypt the whole blocks of the part bytes read into buf (keeping the
 * rest for the next read) and dispatch every complete frame; NULL, or why
 * the connection must end with *stage set.
 */
static const char *
me_take_frames(struct me_conn *mc, struct me_session *s, uint8_t *buf,
    size_t *part, enum me_fail *stage)
{
    size_t whole = *part - *part % ME_CBC_BLOCK, n;
    const uint8_t *pl;
    enum me_read_status st;

    if (whole == 0)
        return NULL;
    if (me_cbc_apply(s->dec, buf, buf, whole) != 0 ||
        me_reader_feed(&s->rd, buf, whole) != 0) {
        *stage = ME_FAIL_FRAME;
        return "cipher or memory";
    }
    memmove(buf, buf + whole, *part - whole);
    *part -= whole;
    while ((st = me_reader_next(&s->rd, &pl, &n)) == ME_READ_FRAME)
        if (me_dispatch(mc, pl, n) != 0) {
            *stage = ME_FAIL_CLOSED;
            return "write failed";
        }
    if (st != ME_READ_MORE) {
        *stage = ME_FAIL_FRAME;
        return me_read_status_name(st);
    }
    return NULL;
}

/* Read and dispatch until the connection ends; why it ended. */
static const char *
me_read_loop(struct me_conn *mc, struct me_session *s, enum me_fail *stage)
{
    struct me_pool *p = mc->p;
    uint8_t *buf = malloc(ME_READ_BUF);
    size_t part = 0;                    /* bytes of a block not decrypted */
    int64_t last_rx = mono_ms();
    const char *why = NULL;

    if (buf == NULL)
        return "out of memory";
    while (why == NULL) {
        int ping_ms, retire, r;
        int64_t now;
        ssize_t got;
        struct pollfd pf = { .fd = mc->fd, .events = POLLIN };

        pthread_mutex_lock(&p->lock);
        ping_ms = p->ping_ms;
        retire = mc->retiring && mc->nclients == 0 &&
            mono_ms() >= mc->retire_at_ms;
        pthread_mutex_unlock(&p->lock);
        if (retire) {
            why = "retired";
            break;
        }
        r = poll(&pf, 1, ping_ms > 0 ? (ping_ms < 1000 ? ping_ms : 1000) :
            1000);
        now = mono_ms();
        if (r == 0) {
            if (ping_ms > 0 && now - last_rx >= 3 * (int64_t)ping_ms) {
                *stage = ME_FAIL_SILENT;
                why = "silent";
            } else if (ping_ms > 0 && now - mc->last_tx_ms >= ping_ms &&
                now - last_rx >= ping_ms) {
                uint64_t id;

                (void)random_bytes((uint8_t *)&id, sizeof(id));
                if (mc_send_ctl(mc, ME_RPC_PING, id) != 0) {
                    *stage = ME_FAIL_CLOSED;
                    why = "write failed";
                }
            }
            continue;
        }
        got = read(mc->fd, buf + part, ME_READ_BUF - part);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            *stage = ME_FAIL_CLOSED;
            why = got == 0 ? "closed by the ME" : "read error";
            break;
        }
        last_rx = now;
        part += (size_t)got;
        why = me_take_frames(mc, s, buf, &part, stage);
    }
    free(buf);
    return why;
}

/* Count a failure by its stage. */
static void
me_count_failure(struct stats_region *s, enum me_fail stage)
{
    switch (stage) {
    case ME_FAIL_CONNECT:
        STATS_ADD(s, me_fail_connect, 1);
        break;
    case ME_FAIL_NONCE:
        STATS_ADD(s, me_fail_nonce, 1);
        break;
    case ME_FAIL_CLOCK_SKEW:
        STATS_ADD(s, me_fail_clock_skew, 1);
        break;
    case ME_FAIL_HANDSHAKE:
        STATS_ADD(s, me_fail_handshake, 1);
        break;
    case ME_FAIL_FRAME:
        STATS_ADD(s, me_fail_frame, 1);
        break;
    case ME_FAIL_SILENT:
        STATS_ADD(s, me_fail_silent, 1);
        break;
    case ME_FAIL_CLOSED:
        STATS_ADD(s, me_fail_closed, 1);
        break;
    case ME_FAIL_NONE:
        break;
    }
}

/* mc is over: unlist it, move its clients, wait for its writers, free. */
static void
me_conn_end(struct me_conn *mc, int was_up)
{
    struct me_pool *p = mc->p;
    struct me_cluster *cl = mc->cl;
    struct me_client *c;

    pthread_mutex_lock(&p->lock);
    if (was_up)
        cl->nup--;
    else
        cl->ndialing--;
    mc->state = ME_DEAD;
    LIST_REMOVE(mc, link);
    while ((c = LIST_FIRST(&mc->clients)) != NULL) {
        struct me_conn *to = me_pick(cl);

        me_bind(c, to);                 /* NULL: it binds when it sends */
    }
    (void)shutdown(mc->fd, SHUT_RDWR);  /* writers fail fast */
    while (mc->writers > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_cond_broadcast(&cl->changed);
    pthread_cond_signal(&p->tick);
    pthread_mutex_unlock(&p->lock);
    if (mc->fd >= 0)
        close(mc->fd);
    me_cbc_free(mc->enc);
    free(mc->wbuf);
    pthread_mutex_destroy(&mc->wlock);
    free(mc);
}

static void *
me_conn_thread(void *arg)
{
    struct me_conn *mc = arg;
    struct me_pool *p = mc->p;
    struct me_cluster *cl = mc->cl;
    struct me_session s = { .dec = NULL };
    const char *why = NULL;
    enum me_fail stage = ME_FAIL_CONNECT;
    int up = 0;

    {
        /* The worker's current config, held: a reload may replace it. */
        struct snapshot *sn;
        char desc[160];

        pthread_mutex_lock(&p->w->all_lock);
        sn = p->w->snap;
        snapshot_hold(sn);
        pthread_mutex_unlock(&p->w->all_lock);
        mc->fd = outbound_connect(sn->cfg, (struct sockaddr *)&mc->addr,
            mc->addrlen, mono_ms() + p->connect_ms, desc, sizeof(desc),
            &mc->via);
        snapshot_release(sn);
    }
    if (mc->fd < 0) {
        why = errno == ETIMEDOUT ? "connect timeout" : strerror(errno);
        mc->fd = -1;
    } else {
        /* Small RPC frames must not wait for Nagle and a delayed ACK. */
        net_client_opts(mc->fd, ME_KEEPALIVE_S, 0);
        if (me_handshake(mc, &s, &why, &stage) == 0)
            up = 1;
    }
    if (!up) {
        me_count_failure(p->w->stats, stage);
        atomic_fetch_add(&me_dc_stats(p, cl->dc)->me_failed, 1);
        log_warnx_limited(&cl->rl, &p->w->log_lock, "ME %s (cluster %d): "
            "%s: %s", mc->name, cl->dc, stage == ME_FAIL_CONNECT ? "cannot connect" :
            "handshake failed", why);
        pthread_mutex_lock(&p->lock);
        cl->fail_streak++;
        cl->backoff_ms = cl->backoff_ms == 0 ? ME_BACKOFF_MIN_MS :
            (int)me_min64(2 * (int64_t)cl->backoff_ms, ME_BACKOFF_MAX_MS);
        cl->retry_ms = mono_ms() + cl->backoff_ms;
        pthread_mutex_unlock(&p->lock);
    } else {
        pthread_mutex_lock(&p->lock);
        mc->state = ME_UP;
        cl->ndialing--;
        cl->nup++;
        cl->fail_streak = 0;
        cl->backoff_ms = 0;
        mc->last_tx_ms = mono_ms();
        pthread_cond_broadcast(&cl->changed);
        pthread_mutex_unlock(&p->lock);
        atomic_fetch_add(&me_dc_stats(p, cl->dc)->me_opened, 1);
        log_info("ME %s (cluster %d): connection %u up (%s)", mc->name,
            cl->dc, mc->id, mc->crc32c ? "CRC32C" : "CRC32");
        stage = ME_FAIL_NONE;
        why = me_read_loop(mc, &s, &stage);
        atomic_fetch_add(&me_dc_stats(p, cl->dc)->me_closed, 1);
        me_count_failure(p->w->stats, stage);   /* retired: NONE */
        log_info("ME %s (cluster %d): connection %u closed: %s", mc->name,
            cl->dc, mc->id, why);
    }
    me_reader_free(&s.rd);
    me_cbc_free(s.dec);
    me_conn_end(mc, up);
    return NULL;
}

/* ---- the manager: dials, retirement ------------------------------------ */

/* Start one more dial for cl, to its next address; pool lock held. */
static void
me_dial(struct me_pool *p, struct me_cluster *cl)
{
    struct me_conn *mc = calloc(1, sizeof(*mc));
    int i = cl->next++ % cl->naddrs;

    if (mc == NULL)
        return;
    mc->p = p;
    mc->cl = cl;
    mc->id = ++p->next_id;
    mc->fd = -1;
    mc->state = ME_DIALING;
    LIST_INIT(&mc->clients);
    mc->addr = cl->addrs[i].addr;
    mc->addrlen = cl->addrs[i].addrlen;
    net_format((struct sockaddr *)&mc->addr, mc->name, sizeof(mc->name));
    pthread_mutex_init(&mc->wlock, NULL);
    LIST_INSERT_HEAD(&cl->conns, mc, link);
    cl->ndialing++;
    if (me_thread(me_conn_thread, mc) != 0) {
        LIST_REMOVE(mc, link);
        cl->ndialing--;
        pthread_mutex_destroy(&mc->wlock);
        free(mc);
        log_warnx("ME %s: cannot start a thread for a connection", mc->name);
    }
}

/* 1 if addr is one of cl's addresses. */
static int
me_cluster_has(const struct me_cluster *cl, const struct sockaddr_storage *a)
{
    for (int i = 0; i < cl->naddrs; i++)
        if (me_same_addr(&cl->addrs[i].addr, a))
            return 1;
    return 0;
}

static void
me_manage(struct me_pool *p, int64_t now)
{
    for (int i = 0; i < p->ncl; i++) {
        struct me_cluster *cl = p->cl[i];
        struct me_conn *mc;
        int live = 0, fresh_up = 0, target;

        LIST_FOREACH(mc, &cl->conns, link) {
            /* ME mode turned off by a reload: each connection closes
             * once the clients it still serves are gone. */
            /* cppcheck-suppress uninitvar ; LIST_FOREACH (sys/queue.h) set it */
            if (!p->enabled && !mc->retiring) {
                mc->retiring = 1;
                mc->retire_at_ms = now;
            }
            if (mc->retiring)
                continue;
            live++;
            fresh_up += mc->state == ME_UP;
        }
        /* Retired connections give their clients to fresh ones, then
         * read answers still on their way for a grace period. */
        LIST_FOREACH(mc, &cl->conns, link) {
            struct me_client *c, *next;

            if (!mc->retiring || !fresh_up)
                continue;
            for (c = LIST_FIRST(&mc->clients); c != NULL; c = next) {
                next = LIST_NEXT(c, clink);
                me_bind(c, me_pick(cl));
            }
        }
        if (!p->enabled) {
            cl->wanted = 0;
            continue;
        }
        if (!cl->wanted || cl->naddrs == 0)
            continue;
        target = p->min_conns + cl->nclients / ME_CLIENTS_PER_CONN;
        if (target > p->max_conns)
            target = p->max_conns;
        if (cl->fail_streak > 0 && now < cl->retry_ms)
            continue;
        /* After a failure one dial at a time, until one gets through. */
        if (cl->fail_streak > 0 && cl->ndialing > 0)
            continue;
        for (; live < target; live++) {
            me_dial(p, cl);
            if (cl->fail_streak > 0)
                break;
        }
    }
}

static void *
me_manager(void *arg)
{
    struct me_pool *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct timespec ts;

        me_manage(p, mono_ms());
        ts = mono_deadline(ME_TICK_MS);
        (void)pthread_cond_timedwait(&p->tick, &p->lock, &ts);
    }
    return NULL;
}

/* ---- inputs and config ------------------------------------------------- */

static struct me_cluster *
me_cluster_add(struct me_pool *p, int dc)
{
    struct me_cluster *cl = calloc(1, sizeof(*cl)), **v;

    v = cl != NULL ? realloc(p->cl, sizeof(*v) * (size_t)(p->ncl + 1)) :
        NULL;
    if (v == NULL) {
        free(cl);
        return NULL;
    }
    p->cl = v;
    cl->dc = dc;
    LIST_INIT(&cl->conns);
    if (mono_cond_init(&cl->changed) != 0) {
        free(cl);
        return NULL;
    }
    p->cl[p->ncl++] = cl;
    return cl;
}

/* Give cl the addresses of dc in the lists (preferred family first). */
static void
me_cluster_fill(struct me_cluster *cl, const struct me_list *first,
    const struct me_list *second)
{
    const struct me_list *ls[2] = { first, second };
    int n = 0;

    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ls[k]->n; i++)
            n += ls[k]->e[i].dc == cl->dc;
    free(cl->addrs);
    cl->addrs = n > 0 ? calloc((size_t)n, sizeof(*cl->addrs)) : NULL;
    cl->naddrs = 0;
    if (cl->addrs != NULL)
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < ls[k]->n; i++)
                if (ls[k]->e[i].dc == cl->dc)
                    cl->addrs[cl->naddrs++] = ls[k]->e[i];
    cl->fail_streak = 0;
    cl->retry_ms = 0;
}

void
me_pool_set_inputs(struct me_pool *p, struct me_inputs *in)
{
    struct me_list v4 = { 0 }, v6 = { 0 };
    char err[256];
    int64_t now = mono_ms();

    if (in->v4_len > 0 &&
        me_list_parse(in->v4, in->v4_len, 0, &v4, err, sizeof(err)) != 0) {
        log_warnx("ME IPv4 list from the master refused: %s", err);
        me_inputs_free(in);
        return;
    }
    if (in->v6_len > 0 &&
        me_list_parse(in->v6, in->v6_len, 1, &v6, err, sizeof(err)) != 0) {
        log_warnx("ME IPv6 list from the master refused: %s", err);
        me_list_free(&v4);
        me_inputs_free(in);
        return;
    }
    pthread_mutex_lock(&p->lock);
    memcpy(p->secret, in->secret, in->secret_len);
    p->secret_len = in->secret_len;
    p->have_list = v4.n + v6.n > 0;
    p->default_dc = v4.n > 0 ? v4.default_dc : v6.default_dc;
    for (int k = 0; k < 2; k++) {
        const struct me_list *l = k == 0 ? &v4 : &v6;

        for (int i = 0; i < l->n; i++)
            if (me_cluster_of(p, l->e[i].dc) == NULL)
                (void)me_cluster_add(p, l->e[i].dc);
    }
    for (int i = 0; i < p->ncl; i++) {
        struct me_cluster *cl = p->cl[i];
        struct me_conn *mc;

        me_cluster_fill(cl, p->prefer_v6 ? &v6 : &v4,
            p->prefer_v6 ? &v4 : &v6);
        LIST_FOREACH(mc, &cl->conns, link)
            if (!mc->retiring && !me_cluster_has(cl, &mc->addr)) {
                mc->retiring = 1;
                mc->retire_at_ms = now + ME_RETIRE_GRACE_MS;
                log_info("ME %s (cluster %d): no longer in the list: its "
                    "clients move to the new addresses", mc->name, cl->dc);
            }
    }
    pthread_cond_signal(&p->tick);
    pthread_mutex_unlock(&p->lock);
    log_debug("ME inputs: secret %zu bytes, %d IPv4 and %d IPv6 addresses",
        in->secret_len, v4.n, v6.n);
    me_list_free(&v4);
    me_list_free(&v6);
    me_inputs_free(in);
}

void
me_pool_set_config(struct me_pool *p, const struct config *cfg)
{
    struct in_addr a4;
    struct in6_addr a6;

    pthread_mutex_lock(&p->lock);
    p->enabled = cfg->use_middle_proxy;
    p->min_conns = cfg->me_min_connections;
    p->max_conns = cfg->me_max_connections < cfg->me_min_connections ?
        cfg->me_min_connections : cfg->me_max_connections;
    p->connect_ms = cfg->dc_connect_timeout * 1000;
    p->ping_ms = cfg->me_ping_interval * 1000;
    p->queue_cap = (size_t)cfg->me_client_queue_bytes;
    p->prefer_v6 = cfg->prefer_ipv6;
    p->nat4_set = cfg->me_nat_ipv4[0] != '\0' &&
        inet_pton(AF_INET, cfg->me_nat_ipv4, &a4) == 1;
    if (p->nat4_set)
        memcpy(p->nat4, &a4, 4);
    p->nat6_set = cfg->me_nat_ipv6[0] != '\0' &&
        inet_pton(AF_INET6, cfg->me_nat_ipv6, &a6) == 1;
    if (p->nat6_set)
        memcpy(p->nat6, &a6, 16);
    pthread_mutex_unlock(&p->lock);
}

struct me_pool *
me_pool_new(struct worker *w)
{
    struct me_pool *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->w = w;
    p->default_dc = 2;
    pthread_mutex_init(&p->lock, NULL);
    if (mono_cond_init(&p->tick) != 0) {
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->idle, NULL);
    for (int i = 0; i < ME_HASH; i++)
        LIST_INIT(&p->hash[i]);
    me_pool_set_config(p, w->snap->cfg);
    if (me_thread(me_manager, p) != 0) {
        log_warnx("cannot start the ME pool's thread");
        free(p);
        return NULL;
    }
    return p;
}
