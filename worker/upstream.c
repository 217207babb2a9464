/*
 * upstream.c - a worker's outgoing connections: the source address and
 * interface (dc_bind_*), and the SOCKS5 upstreams with their weights and
 * back-off (see upstream.h; the wire format is common/socks5.c's).
 *
 * The back-off state is this worker process's own, one entry per
 * upstream address (kept across reloads by that address), guarded by one
 * lock that no I/O is done under.  An upstream fails by its own fault
 * (refused, silent, a reply that is not SOCKS5, credentials refused, a
 * general failure): it is left out for a back-off that doubles from
 * UP_BACKOFF_MIN_MS to UP_BACKOFF_MAX_MS, then one dial probes it, and
 * one success makes it live.  A reply saying it could not reach the
 * target (refused, unreachable) is the target's fault and shows the
 * upstream works; no reply in time tells nothing either way.
 */
#include "upstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "net.h"
#include "socks5.h"
#include "util.h"

#define UP_BACKOFF_MIN_MS   1000
#define UP_BACKOFF_MAX_MS   60000
#define UP_RESOLVE_MAX      4       /* addresses of one upstream tried */
#define UP_SLOT_PENDING     (-2)    /* counter slot not claimed yet */

/* One upstream as this worker knows it. */
struct up_state {
    char addr[STATS_UPSTREAM_NAME]; /* "" = unused entry */
    int64_t retry_ms;               /* 0: live; else left out until then */
    int64_t down_ms;                /* when the back-off was last set */
    int backoff_ms;                 /* the last back-off; 0 after success */
    int slot;                       /* stats upstreams[] slot; -1 none,
                                     * UP_SLOT_PENDING not claimed yet */
};

/*
 * How a dial through an upstream ended: it worked (or the upstream
 * answered that the target would not: it works), it failed by the
 * upstream's fault, or no one can tell (no CONNECT reply in time).
 */
enum up_fault { UP_FAULT_NONE, UP_FAULT_UPSTREAM, UP_FAULT_TARGET,
    UP_FAULT_UNKNOWN };

static struct {
    pthread_mutex_t lock;           /* guards up[] */
    pthread_mutex_t log_lock;       /* serialises the rate limits */
    struct stats_region *stats;
    int row;
    struct up_state up[CONFIG_MAX_UPSTREAMS];
    struct log_rl rl_down;          /* "upstream X failed" */
    struct log_rl rl_all;           /* "every upstream is backed off" */
    struct log_rl rl_bind;          /* a bind or interface refused */
} up_ctx = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .log_lock = PTHREAD_MUTEX_INITIALIZER,
    .row = -1,
};

void
upstream_attach(struct stats_region *stats, int row)
{
    pthread_mutex_lock(&up_ctx.lock);
    memset(up_ctx.up, 0, sizeof(up_ctx.up));    /* slots of another region */
    up_ctx.stats = stats;
    up_ctx.row = row;
    pthread_mutex_unlock(&up_ctx.lock);
}

/* The counters of state st, or NULL (no region, or no slot left). */
static struct stats_upstream *
up_stats(const struct up_state *st)
{
    if (up_ctx.stats == NULL || st->slot < 0)
        return NULL;
    return &up_ctx.stats->upstreams[st->slot];
}

static int
up_configured(const struct config *cfg, const char *addr)
{
    for (int i = 0; i < cfg->nupstreams; i++)
        if (strcmp(cfg->upstreams[i].address, addr) == 0)
            return 1;
    return 0;
}

/*
 * The state of address addr (under the lock): its entry, or an unused one
 * or one whose address cfg no longer has, made fresh (its counter slot
 * pending: up_claim_slots() claims it outside the lock).  Never NULL: cfg
 * has at most CONFIG_MAX_UPSTREAMS addresses and so many entries.
 */
static struct up_state *
up_find(const struct config *cfg, const char *addr)
{
    struct up_state *spare = NULL;

    for (int i = 0; i < CONFIG_MAX_UPSTREAMS; i++) {
        struct up_state *st = &up_ctx.up[i];

        if (strcmp(st->addr, addr) == 0)
            return st;
        if (spare == NULL && (st->addr[0] == '\0' ||
            !up_configured(cfg, st->addr)))
            spare = st;
    }
    /* cppcheck-suppress nullPointer ; never NULL, as said above */
    if (spare->addr[0] != '\0' && up_stats(spare) != NULL)
        atomic_store(&up_stats(spare)->down[up_ctx.row], 0);
    memset(spare, 0, sizeof(*spare));
    snprintf(spare->addr, sizeof(spare->addr), "%s", addr);
    spare->slot = up_ctx.stats == NULL || up_ctx.row < 0 ? -1 :
        UP_SLOT_PENDING;
    return spare;
}

/*
 * Claim the counter slots of cfg's upstreams that have none yet.  The
 * claim may wait for another process naming a slot, so it is done
 * outside the lock (the dials of this worker's other threads go on,
 * uncounted meanwhile), and attached under it.
 */
static void
up_claim_slots(const struct config *cfg)
{
    char want[CONFIG_MAX_UPSTREAMS][STATS_UPSTREAM_NAME];
    struct stats_region *stats;
    int n = 0;

    pthread_mutex_lock(&up_ctx.lock);
    stats = up_ctx.stats;
    for (int i = 0; i < cfg->nupstreams && n < CONFIG_MAX_UPSTREAMS; i++)
        if (up_find(cfg, cfg->upstreams[i].address)->slot ==
            UP_SLOT_PENDING)
            snprintf(want[n++], STATS_UPSTREAM_NAME, "%s",
                cfg->upstreams[i].address);
    pthread_mutex_unlock(&up_ctx.lock);
    for (int k = 0; k < n; k++) {
        int slot = stats_upstream_slot(stats, want[k]), took = 0;
        struct up_state *st;

        pthread_mutex_lock(&up_ctx.lock);
        st = up_find(cfg, want[k]);
        /* Another thread may have attached it meanwhile, or the region
         * changed under us (upstream_attach): then ours is not used. */
        if (st->slot == UP_SLOT_PENDING && up_ctx.stats == stats) {
            st->slot = slot;
            took = 1;
        }
        pthread_mutex_unlock(&up_ctx.lock);
        if (took && slot < 0)
            log_warnx("upstream %s: no counter slot left (%d in all, or "
                "one stuck); it is not counted", want[k],
                STATS_MAX_UPSTREAMS);
    }
}

/* A number below n (n > 0), uniform enough for weights. */
static uint32_t
up_random(uint32_t n)
{
    uint32_t r;

    if (random_bytes((uint8_t *)&r, sizeof(r)) != 0)
        r = (uint32_t)mono_ms();
    return r % n;
}

/*
 * Pick by weight among the upstreams neither backed off nor in tried (a
 * bit per index); -1 if none.  *eligible counts the ones it chose from,
 * *wait_ms is the soonest retry of those backed off.  A backed-off one
 * whose retry is due goes in too; picked, it is held off once more while
 * this one dial probes it, so that a dead upstream costs one dial per
 * back-off, not one per client waiting.
 */
static int
up_pick(const struct config *cfg, uint32_t tried, int *eligible,
    int64_t *wait_ms)
{
    int64_t now = mono_ms();
    uint32_t total = 0;
    int cand[CONFIG_MAX_UPSTREAMS], n = 0, u;
    struct up_state *st[CONFIG_MAX_UPSTREAMS];

    *wait_ms = INT64_MAX;
    pthread_mutex_lock(&up_ctx.lock);
    for (int i = 0; i < cfg->nupstreams; i++) {
        struct up_state *s = up_find(cfg, cfg->upstreams[i].address);

        if (tried & (1u << i))
            continue;
        if (s->retry_ms != 0 && s->retry_ms > now) {
            if (s->retry_ms - now < *wait_ms)
                *wait_ms = s->retry_ms - now;
            continue;
        }
        st[n] = s;
        cand[n++] = i;
        total += (uint32_t)cfg->upstreams[i].weight;
    }
    *eligible = n;
    u = n - 1;
    if (n > 0) {
        uint32_t r = up_random(total);

        for (int k = 0; k < n; k++) {
            uint32_t w = (uint32_t)cfg->upstreams[cand[k]].weight;

            if (r < w) {
                u = k;
                break;
            }
            r -= w;
        }
        if (st[u]->retry_ms != 0)
            st[u]->retry_ms = now + st[u]->backoff_ms;
    }
    pthread_mutex_unlock(&up_ctx.lock);
    return n == 0 ? -1 : cand[u];
}

/*
 * Count how a dial through upstream u that began at picked_ms ended, and
 * back the upstream off or bring it back.  Dials that were under way
 * when another one backed it off do not double the back-off again: a
 * burst of clients must not take it from 1 s to 60 s at once.
 */
static void
up_outcome(const struct config *cfg, int u, enum up_fault fault,
    int64_t picked_ms, const char *why)
{
    const char *addr = cfg->upstreams[u].address;
    struct stats_upstream *ss;
    struct up_state *st;
    int64_t now = mono_ms();
    int was_down, backoff = -1;

    pthread_mutex_lock(&up_ctx.lock);
    st = up_find(cfg, addr);
    ss = up_stats(st);
    was_down = st->retry_ms != 0;
    if (ss != NULL)
        atomic_fetch_add_explicit(&ss->attempts, 1, memory_order_relaxed);
    if (fault == UP_FAULT_TARGET && ss != NULL)
        atomic_fetch_add_explicit(&ss->target_failures, 1,
            memory_order_relaxed);
    if (fault == UP_FAULT_NONE || fault == UP_FAULT_TARGET) {
        st->retry_ms = 0;
        st->backoff_ms = 0;
    } else if (fault == UP_FAULT_UPSTREAM) {
        if (ss != NULL)
            atomic_fetch_add_explicit(&ss->failures, 1,
                memory_order_relaxed);
        if (!was_down || picked_ms >= st->down_ms) {
            st->backoff_ms = st->backoff_ms == 0 ? UP_BACKOFF_MIN_MS :
                2 * st->backoff_ms > UP_BACKOFF_MAX_MS ? UP_BACKOFF_MAX_MS :
                2 * st->backoff_ms;
            st->retry_ms = now + st->backoff_ms;
            st->down_ms = now;
        }
        backoff = (int)(st->retry_ms - now);
    }
    if (ss != NULL && up_ctx.row >= 0)
        atomic_store(&ss->down[up_ctx.row], st->retry_ms != 0);
    pthread_mutex_unlock(&up_ctx.lock);
    if (was_down && (fault == UP_FAULT_NONE || fault == UP_FAULT_TARGET))
        log_info("upstream %s: up again", addr);
    else if (backoff >= 0)
        log_warnx_limited(&up_ctx.rl_down, &up_ctx.log_lock, "upstream %s: "
            "%s; left out for %d ms", addr, why, backoff);
}

/*
 * Connect a socket from the configured source to sa; fd or -1.  A failure
 * of the connect itself (not of the socket or its bind) sets *target if
 * target is not NULL.
 */
static int
up_dial(const struct config *cfg, const struct sockaddr *sa, socklen_t len,
    int64_t deadline_ms, const char **why, int *target)
{
    const char *src = sa->sa_family == AF_INET6 ? cfg->dc_bind_ipv6 :
        cfg->dc_bind_ipv4;
    const char *what;
    int fd;

    fd = net_socket_from(sa->sa_family, cfg->dc_bind_interface, src, &what);
    if (fd < 0) {
        char a[64];

        net_format(sa, a, sizeof(a));
        log_warnx_limited(&up_ctx.rl_bind, &up_ctx.log_lock, "outgoing "
            "connection to %s: %s (dc_bind_interface '%s', source '%s'): "
            "%s", a, what, cfg->dc_bind_interface, src, strerror(errno));
        *why = "cannot bind the outgoing socket";
        return -1;
    }
    fd = net_connect_fd(fd, sa, len, deadline_ms);
    if (fd == NET_TIMEOUT)
        errno = ETIMEDOUT;
    if (fd < 0) {
        *why = fd == NET_TIMEOUT ? "connect timeout" : strerror(errno);
        if (target != NULL)
            *target = 1;
    }
    return fd < 0 ? -1 : fd;
}

/* Read exactly n bytes of the server's answer; 0 or -1 with *why. */
static int
up_read(int fd, uint8_t *buf, size_t n, int64_t deadline_ms,
    const char **why)
{
    size_t got = 0;
    int r = net_read_atleast(fd, buf, n, n, deadline_ms, NULL, &got);

    if (r >= 0 && (size_t)r == n)
        return 0;
    *why = r == NET_TIMEOUT ? "no SOCKS5 answer in time" : r == NET_EOF ?
        "closed during the SOCKS5 handshake" : "read error in the SOCKS5 "
        "handshake";
    return -1;
}

/* Greeting and RFC 1929 auth on fd before deadline_ms. */
static int
up_hello(int fd, const struct config_upstream *u, int64_t deadline_ms,
    const char **why)
{
    uint8_t req[SOCKS5_REQ_MAX], ans[2];
    int auth = u->username[0] != '\0';
    size_t n = socks5_greeting(req, auth);
    int r;

    if (net_write_all(fd, req, n, deadline_ms) != 0) {
        *why = "cannot send the SOCKS5 greeting";
        return -1;
    }
    if (up_read(fd, ans, 2, deadline_ms, why) != 0)
        return -1;
    if ((r = socks5_parse_method(ans, auth ? SOCKS5_METHOD_USERPASS :
        SOCKS5_METHOD_NONE)) != 0) {
        *why = r == SOCKS5_REFUSED ? (auth ? "it refuses username/password"
            " auth" : "it wants authentication: set username and "
            "password") : "not a SOCKS5 server (bad method answer)";
        return -1;
    }
    if (!auth)
        return 0;
    n = socks5_auth_request(req, u->username, u->password);
    if (n == 0 || net_write_all(fd, req, n, deadline_ms) != 0) {
        *why = "cannot send the SOCKS5 credentials";
        return -1;
    }
    if (up_read(fd, ans, 2, deadline_ms, why) != 0)
        return -1;
    if ((r = socks5_parse_auth(ans)) != 0) {
        *why = r == SOCKS5_REFUSED ? "it refused our username and password"
            : "bad RFC 1929 answer";
        return -1;
    }
    return 0;
}

/* CONNECT to sa over fd; 0 with via->seen set, or -1 with *why, *fault. */
static int
up_request(int fd, const struct sockaddr *sa, int64_t deadline_ms,
    struct outbound_via *via, const char **why, enum up_fault *fault)
{
    uint8_t req[SOCKS5_REQ_MAX], rep[SOCKS5_REPLY_MAX];
    size_t n = socks5_connect_request(req, sa);
    int want, code = 0, r;

    *fault = UP_FAULT_UPSTREAM;
    if (n == 0) {
        *why = "target is not an IPv4 or IPv6 address";
        return -1;
    }
    if (net_write_all(fd, req, n, deadline_ms) != 0) {
        *why = "cannot send the SOCKS5 CONNECT";
        return -1;
    }
    /* The wait for this answer is the target's connect time: a silent
     * one says more about the target than about the upstream. */
    if (up_read(fd, rep, SOCKS5_REPLY_HEAD, deadline_ms, why) != 0) {
        if (mono_ms() >= deadline_ms)
            *fault = UP_FAULT_UNKNOWN;
        return -1;
    }
    want = socks5_reply_length(rep);
    if (want < 0) {
        *why = "bad SOCKS5 CONNECT reply";
        return -1;
    }
    if (up_read(fd, rep + SOCKS5_REPLY_HEAD, (size_t)want -
        SOCKS5_REPLY_HEAD, deadline_ms, why) != 0)
        return -1;
    r = socks5_parse_reply(rep, (size_t)want, &code, &via->seen,
        &via->seenlen);
    if (r == SOCKS5_REFUSED) {
        *why = socks5_reply_str(code);
        if (socks5_rep_is_target(code))
            *fault = UP_FAULT_TARGET;
        return -1;
    }
    if (r != 0) {
        *why = "bad SOCKS5 CONNECT reply";
        return -1;
    }
    *fault = UP_FAULT_NONE;
    return 0;
}

/*
 * Through upstream u: connect to it (by attempt_ms), say hello, CONNECT
 * to sa (by deadline_ms).  The fd, or -1 with *why and *fault.
 */
static int
up_through(const struct config *cfg, const struct config_upstream *u,
    const struct sockaddr *sa, int64_t attempt_ms, int64_t deadline_ms,
    struct outbound_via *via, const char **why, enum up_fault *fault)
{
    struct net_addr addrs[UP_RESOLVE_MAX];
    char host[256];
    int port, n, fd = -1;

    *fault = UP_FAULT_UPSTREAM;
    if (net_split_hostport(u->address, host, sizeof(host), &port) != 0 ||
        (n = net_resolve(host, port, addrs, 0, UP_RESOLVE_MAX)) == 0) {
        *why = "cannot resolve its address";
        return -1;
    }
    for (int i = 0; i < n && fd < 0; i++)
        fd = up_dial(cfg, (struct sockaddr *)&addrs[i].ss, addrs[i].len,
            attempt_ms, why, NULL);
    if (fd < 0)
        return -1;
    if (up_hello(fd, u, attempt_ms, why) != 0 ||
        up_request(fd, sa, deadline_ms, via, why, fault) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Straight to sa; the socket's own address is what the target sees (its
 * user asks the socket: most dials never need it). */
static int
up_direct(const struct config *cfg, const struct sockaddr *sa,
    socklen_t len, int64_t deadline_ms, struct outbound_via *via)
{
    const char *why;
    int fd = up_dial(cfg, sa, len, deadline_ms, &why, &via->target_fault);

    if (fd < 0)
        return -1;
    via->upstream = -1;
    via->seenlen = 0;
    return fd;
}

int
outbound_connect(const struct config *cfg, const struct sockaddr *sa,
    socklen_t len, int64_t deadline_ms, char *desc, size_t desclen,
    struct outbound_via *via)
{
    struct outbound_via scratch;
    char target[64];
    uint32_t tried = 0;
    int eligible = 0;
    int64_t wait_ms = 0;

    if (via == NULL)
        via = &scratch;
    memset(via, 0, sizeof(*via));
    net_format(sa, target, sizeof(target));
    snprintf(desc, desclen, "%s", target);
    if (cfg->nupstreams == 0)
        return up_direct(cfg, sa, len, deadline_ms, via);
    up_claim_slots(cfg);
    for (;;) {
        int64_t now = mono_ms(), attempt_ms;
        const char *why = NULL;
        enum up_fault fault;
        int u, fd;

        if (now >= deadline_ms) {
            errno = ETIMEDOUT;
            return -1;
        }
        if ((u = up_pick(cfg, tried, &eligible, &wait_ms)) < 0) {
            log_warnx_limited(&up_ctx.rl_all, &up_ctx.log_lock, "all %d "
                "upstreams are down; cannot reach %s (next retry in %lld "
                "ms)", cfg->nupstreams, target, (long long)(wait_ms ==
                INT64_MAX ? 0 : wait_ms));
            errno = ENETUNREACH;
            return -1;
        }
        tried |= 1u << u;
        snprintf(desc, desclen, "%s via socks5 %s", target,
            cfg->upstreams[u].address);
        /* An equal share of the time left for reaching this upstream,
         * so a black-holed one leaves time for the next. */
        attempt_ms = now + (deadline_ms - now) / eligible;
        fd = up_through(cfg, &cfg->upstreams[u], sa, attempt_ms,
            deadline_ms, via, &why, &fault);
        up_outcome(cfg, u, fd >= 0 ? UP_FAULT_NONE : fault, now, why);
        if (fd >= 0) {
            via->upstream = u;
            return fd;
        }
        if (fault == UP_FAULT_TARGET || fault == UP_FAULT_UNKNOWN) {
            log_debug("%s: %s", desc, why);
            via->target_fault = fault == UP_FAULT_TARGET;
            errno = ECONNREFUSED;
            return -1;
        }
    }
}
