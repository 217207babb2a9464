/*
 * conn.c - the life of one client connection, in its own thread:
 * handshake, DC dial, relay, and the single exit path conn_close().
 *
 * A connection thread never exits the process and treats out-of-memory
 * as "close this connection".  Everything it allocates is freed in
 * conn_close(), which also settles the shared counters.
 */
#include "conn.h"

#include <sys/eventfd.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dc.h"
#include "handoff.h"
#include "handshake.h"
#include "log.h"
#include "mask.h"
#include "me_relay.h"
#include "net.h"
#include "proxy_in.h"
#include "relay.h"
#include "srcguard.h"
#include "userlim.h"
#include "util.h"

static void
conn_close(struct conn *c)
{
    struct worker *w = c->w;

    pthread_mutex_lock(&w->all_lock);
    LIST_REMOVE(c, all_link);
    pthread_mutex_unlock(&w->all_lock);
    if (c->dfd >= 0)
        close(c->dfd);
    if (c->cfd >= 0)
        close(c->cfd);
    free(c->hs);
    free(c->resume);
    snapshot_release(c->snap);
    if (c->masked)
        atomic_fetch_sub(&w->masked, 1);
    atomic_fetch_sub_explicit(&w->me->active, 1, memory_order_relaxed);
    atomic_fetch_sub(&w->active, 1);
    if (!c->in_room)
        free(c);
}

static void
conn_count_refusal(struct stats_region *s, enum hs_verdict v)
{
    switch (v) {
#define X(name, verdict, help) case HS_##verdict: STATS_HS(s, name); break;
    STATS_HS_REFUSALS(X)
#undef X
    case HS_OK:
        panic("a handshake that passed counted as refused");
    }
}

static void
conn_count_ok(struct stats_region *s, enum hs_mode m)
{
    if (m == HS_MODE_CLASSIC)
        STATS_HS(s, ok_classic);
    else if (m == HS_MODE_SECURE)
        STATS_HS(s, ok_secure);
    else
        STATS_HS(s, ok_tls);
}

/*
 * 1 if a reload to now must close c: its user was removed (and now says
 * to close such connections), or the secret it proved has changed.
 */
static int
conn_user_gone(const struct conn *c, const struct snapshot *now)
{
    const struct config_user *was = &c->cfg->users[c->user];
    int u = snapshot_user(now, was->name);

    if (u < 0)
        return now->cfg->reload_drop_removed_users;
    return memcmp(now->cfg->users[u].secret, was->secret, SECRET_LEN) != 0;
}

/* Let r be handed over at an upgrade (worker/handoff.c). */
void
conn_handoff_setup(struct conn *c, struct relay *r)
{
    r->handoff = &c->handoff;
    r->handoff_fn = handoff_send;
    r->handoff_arg = c;
}

/*
 * Count a connection of c's user refused or cut for v (refusals are
 * counted by userlim_admit()), and say so at most once per
 * CONN_USER_LOG_MS per user across workers, with how many went unsaid.
 */
#define CONN_USER_LOG_MS        60000

static void
conn_user_log(struct conn *c, int slot, const struct config_user *cu,
    enum user_verdict v, const char *what)
{
    struct stats_user *su = &c->w->stats->users[slot];
    int64_t now = mono_ms();
    int64_t last = atomic_load(&su->refuse_log_ms);
    char why[96];
    uint32_t quiet;

    if ((last != 0 && now - last < CONN_USER_LOG_MS) ||
        !atomic_compare_exchange_strong(&su->refuse_log_ms, &last, now)) {
        atomic_fetch_add(&su->refuse_quiet, 1);
        return;
    }
    quiet = atomic_exchange(&su->refuse_quiet, 0);
    switch (v) {
    case USER_CONNS:
        snprintf(why, sizeof(why), "max_tcp_conns (%lld) reached",
            (long long)cu->max_tcp_conns);
        break;
    case USER_IPS:
        snprintf(why, sizeof(why), "a new address past max_unique_ips "
            "(%lld)", (long long)cu->max_unique_ips);
        break;
    case USER_QUOTA:
        snprintf(why, sizeof(why), "data_quota_bytes (%lld) used up",
            (long long)cu->data_quota_bytes);
        break;
    case USER_EXPIRED:
        snprintf(why, sizeof(why), "expired (expiration %lld)",
            (long long)cu->expiration);
        break;
    default:
        snprintf(why, sizeof(why), "disabled");
        break;
    }
    if (quiet > 0)
        log_warnx("%s: user %s %s: %s (and %u more refusals or cuts of "
            "the user since the last such line)", c->peer, cu->name, what,
            why, quiet);
    else
        log_warnx("%s: user %s %s: %s", c->peer, cu->name, what, why);
}

static void
conn_cut_count(struct conn *c, enum user_verdict v)
{
    struct stats_region *s = c->w->stats;

    atomic_fetch_add(&s->users[c->user_slot].refused[v - 1], 1);
    atomic_fetch_add(&s->user_refused[v - 1], 1);
    conn_user_log(c, c->user_slot, &c->cfg->users[c->user], v, "cut");
}

/*
 * What every relay of a user's client counts at its end, direct or ME:
 * the cut or quota that ended it, the bytes each way (totals and the
 * user's), an idle close.
 */
static void
conn_relay_ended(struct conn *c, int rc, int cut, uint64_t up, uint64_t down)
{
    struct stats_region *s = c->w->stats;
    struct stats_user *us = &s->users[c->user_slot];

    if (rc == RELAY_QUOTA)
        conn_cut_count(c, USER_QUOTA);
    else if (cut != 0)
        conn_cut_count(c, (enum user_verdict)cut);
    STATS_ADD(s, bytes_client_to_dc, up);
    STATS_ADD(s, bytes_dc_to_client, down);
    atomic_fetch_add_explicit(&us->bytes_client_to_dc, up,
        memory_order_relaxed);
    atomic_fetch_add_explicit(&us->bytes_dc_to_client, down,
        memory_order_relaxed);
    if (rc == RELAY_IDLE)
        STATS_ADD(s, relay_idle_closed, 1);
}

/*
 * Relay an authenticated client (c->user set) to its DC, counting the
 * bytes for the user and the totals; the relay may be handed over to a
 * new binary on the way.
 */
static void
conn_relay(struct conn *c, struct relay *r)
{
    struct stats_region *s = c->w->stats;
    int rc, cut;

    conn_handoff_setup(c, r);
    r->idle_ms = c->cfg->relay_idle_timeout * 1000;
    r->lim = s;
    r->lim_slot = c->user_slot;
    rc = relay_run(r);
    cut = atomic_load(&c->cut);
    conn_relay_ended(c, rc, cut, r->c2d_bytes, r->d2c_bytes);
    log_debug("%s: %s%s%s, %llu bytes up, %llu bytes down", c->peer,
        rc == RELAY_HANDED ? "handed over to the new binary" :
        rc == RELAY_IDLE ? "closed (relay_idle_timeout)" :
        rc == RELAY_QUOTA ? "closed (data_quota_bytes used up)" :
        cut != 0 ? "cut: user " : rc == 0 ? "closed (eof)" : "closed (reset)",
        cut != 0 ? userlim_name((enum user_verdict)cut) : "",
        cut != 0 && rc == 0 ? " (eof)" : "",
        (unsigned long long)r->c2d_bytes, (unsigned long long)r->d2c_bytes);
}

static void conn_serve_admitted(struct conn *c, struct hs_result *hs);

/*
 * From here a reload sees the user; one that came while we shook hands
 * on the older config may already have ruled them out (then 1, logged).
 */
static int
conn_claim(struct conn *c, const struct hs_result *hs, int uslot)
{
    int gone;

    pthread_mutex_lock(&c->w->all_lock);
    c->user = hs->user;
    c->user_slot = uslot;
    c->dc = hs->dc;
    gone = c->snap != c->w->snap && conn_user_gone(c, c->w->snap);
    pthread_mutex_unlock(&c->w->all_lock);
    if (gone)
        log_info("%s: user %s: closed, a reload removed the user or "
            "changed the secret during the handshake", c->peer,
            c->cfg->users[hs->user].name);
    return gone;
}

/* Count and log how an ME relay ended. */
static void
conn_me_ended(struct conn *c, const struct me_relay *r, int rc)
{
    struct stats_region *s = c->w->stats;
    int cut = atomic_load(&c->cut);

    conn_relay_ended(c, rc, cut, r->c2d_bytes, r->d2c_bytes);
    if (rc == ME_RELAY_CLOSED)
        STATS_ADD(s, me_closed_by_me, 1);
    else if (rc == ME_RELAY_OVERFLOW) {
        STATS_ADD(s, me_queue_overflow, 1);
        conn_log_limited(c->w, &c->w->log_me, "%s: user %s: closed: more "
            "than me_client_queue_bytes (%d) from the ME waited for it "
            "too long (a client that does not read)", c->peer,
            c->cfg->users[c->user].name, c->cfg->me_client_queue_bytes);
    } else if (rc == ME_RELAY_LOST)
        conn_log_limited(c->w, &c->w->log_me, "%s: user %s: closed: its "
            "ME connection died and no other of cluster %d came up within "
            "dc_connect_timeout", c->peer, c->cfg->users[c->user].name,
            c->dc);
    log_debug("%s: ME relay %s, %llu bytes up, %llu bytes down", c->peer,
        rc == 0 ? "closed (eof)" : rc == RELAY_IDLE ?
        "closed (relay_idle_timeout)" : rc == RELAY_QUOTA ?
        "closed (data_quota_bytes used up)" : rc == ME_RELAY_CLOSED ?
        "closed by the ME" : rc == ME_RELAY_OVERFLOW ?
        "closed (queue overflow)" : rc == ME_RELAY_LOST ?
        "closed (no ME connection)" : rc == ME_RELAY_BAD_FRAME ?
        "closed (bad transport frame)" : cut != 0 ? "cut" :
        "closed (reset)", (unsigned long long)r->c2d_bytes,
        (unsigned long long)r->d2c_bytes);
}

/* The ad tag the user's traffic carries in ME mode, or NULL. */
static const uint8_t *
conn_ad_tag(const struct config *cfg, const struct config_user *cu,
    uint8_t buf[CONFIG_AD_TAG_LEN])
{
    if (cu->ad_tag.kind == CONFIG_TAG_OWN)
        return cu->ad_tag.tag;
    if (cfg->ad_tag[0] != '\0' &&
        hex_decode(cfg->ad_tag, buf, CONFIG_AD_TAG_LEN) == 0)
        return buf;
    return NULL;
}

/*
 * ME mode (docs/protocol.md 8): the client's packets through the
 * worker's ME pool.  0 when it was served (or closed), 1 when no ME is
 * reachable and the client should go straight to its DC.
 */
/* Not inlined into conn_thread(): a direct relay's idle frames would
 * carry the ME path's locals too. */
static __attribute__((noinline)) int
conn_serve_me(struct conn *c, struct hs_result *hs, int uslot)
{
    const struct config *cfg = c->cfg;
    const struct config_user *cu = &cfg->users[hs->user];
    struct stats_region *s = c->w->stats;
    struct sockaddr_storage local;
    socklen_t llen = sizeof(local);
    uint8_t tagbuf[CONFIG_AD_TAG_LEN];
    struct me_relay r = { 0 };
    const char *why = "";
    int efd, rc;

    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0 || getsockname(c->cfd, (struct sockaddr *)&local,
        &llen) != 0) {
        log_warn("%s: cannot set up an ME client", c->peer);
        if (efd >= 0)
            close(efd);
        return 0;
    }
    r.mc = me_client_open(c->w->me_pool, hs->dc, efd,
        cfg->dc_connect_timeout * 1000, &why);
    if (r.mc == NULL) {
        close(efd);
        conn_log_limited(c->w, &c->w->log_me, "%s: user %s dc %d: no ME: "
            "%s; %s", c->peer, cu->name, hs->dc, why,
            cfg->me_fallback_direct ? "straight to the DC, without ad tag "
            "(me_fallback_direct)" : "closed (me_fallback_direct is off)");
        if (cfg->me_fallback_direct) {
            STATS_ADD(s, me_fallback_direct, 1);
            return 1;
        }
        STATS_ADD(s, me_no_route, 1);
        return 0;
    }
    STATS_ADD(s, me_clients, 1);
    net_keepalive_on(c->cfd, cfg->client_keepalive);
    r.cfd = c->cfd;
    r.c_dec = hs->c_dec;
    r.c_enc = hs->c_enc;
    r.tls = hs->tls ? &hs->rec : NULL;
    r.tag = hs->tag;
    r.early = hs->early;
    r.early_len = hs->early_len;
    r.client_eof = c->client_eof;
    r.efd = efd;
    r.client = (const struct sockaddr *)&c->peer_addr;
    r.proxy = (const struct sockaddr *)&local;
    r.ad_tag = conn_ad_tag(cfg, cu, tagbuf);
    r.send_wait_ms = cfg->dc_connect_timeout * 1000;
    r.idle_ms = cfg->relay_idle_timeout * 1000;
    r.queue_cap = (size_t)cfg->me_client_queue_bytes;
    r.slow_ms = cfg->me_slow_client_timeout * 1000;
    r.stats = s;
    r.lim_slot = uslot;
    log_debug("%s: user %s tag %08x dc %d -> ME cluster %d, ext_conn_id "
        "%016llx, %s", c->peer, cu->name, hs->tag, hs->dc,
        me_client_cluster(r.mc), (unsigned long long)me_client_id(r.mc),
        r.ad_tag != NULL ? "with ad tag" : "no ad tag");
    if (conn_claim(c, hs, uslot) == 0) {
        rc = me_relay_run(&r);
        conn_me_ended(c, &r, rc);
    }
    me_client_close(r.mc);
    close(efd);
    return 0;
}

/*
 * After a good handshake: the user's limits say whether it may connect
 * (a refused client is closed: it proved its secret, nothing to hide),
 * then dial the DC, send it our header, relay.
 */
static void
conn_serve(struct conn *c, struct hs_result *hs)
{
    const struct config *cfg = c->cfg;
    const struct config_user *cu = &cfg->users[hs->user];
    struct stats_region *s = c->w->stats;
    int uslot = c->snap->user_slot[hs->user];
    enum user_verdict v;

    v = userlim_admit(s, c->w->row, uslot, cu,
        stats_ip_hash((const struct sockaddr *)&c->peer_addr),
        (int64_t)time(NULL), mono_ms() / 1000, cfg->unique_ips_window);
    if (v != USER_OK) {
        conn_user_log(c, uslot, cu, v, "refused");
        return;
    }
    conn_serve_admitted(c, hs);
    userlim_leave(s, c->w->row, uslot);
}

static void
conn_serve_admitted(struct conn *c, struct hs_result *hs)
{
    const struct config *cfg = c->cfg;
    struct stats_region *s = c->w->stats;
    uint8_t dchdr[OBFS2_HEADER_LEN];
    struct relay r = { 0 };
    struct ctr *d_enc = NULL, *d_dec = NULL;
    int uslot = c->snap->user_slot[hs->user];
    int64_t t0 = mono_us();
    char dcaddr[80];
    int fast;

    stats_user_connected(s, uslot);
    if (cfg->use_middle_proxy &&
        cfg->users[hs->user].ad_tag.kind != CONFIG_TAG_DIRECT &&
        conn_serve_me(c, hs, uslot) == 0)
        return;
    /* Fast mode needs a handshake that made no c_enc (ME mode makes one). */
    fast = cfg->fast_mode && hs->c_enc == NULL;
    c->dfd = dc_dial(cfg, hs->dc, dcaddr, sizeof(dcaddr));
    if (c->dfd < 0) {
        stats_dc_failed(s, hs->dc);
        conn_log_limited(c->w, &c->w->log_dc[stats_dc_slot(hs->dc)],
            "%s: user %s: cannot reach DC %d (last tried %s)", c->peer,
            cfg->users[hs->user].name, hs->dc, dcaddr);
        return;
    }
    stats_dc_connected(s, hs->dc, mono_us() - t0);
    /* Only now: a masked client must not get probes no web server sends. */
    net_keepalive_on(c->cfd, cfg->client_keepalive);
    net_client_opts(c->dfd, cfg->client_keepalive, 0);
    if (obfs2_build(dchdr, hs->tag, hs->dc, NULL,
        fast ? hs->keys.down_key : NULL, fast ? hs->keys.down_iv : NULL,
        &d_enc, fast ? NULL : &d_dec) != 0) {
        log_warnx("%s: out of memory building the DC header", c->peer);
        return;
    }
    log_debug("%s: user %s tag %08x dc %d -> %s%s", c->peer,
        cfg->users[hs->user].name, hs->tag, hs->dc, dcaddr,
        fast ? " (fast)" : "");

    r.cfd = c->cfd;
    r.dfd = c->dfd;
    r.c_dec = hs->c_dec;
    r.d_enc = d_enc;
    r.c_enc = hs->c_enc;
    r.d_dec = d_dec;
    r.first = dchdr;
    r.first_len = sizeof(dchdr);
    r.early = hs->early;
    r.early_len = hs->early_len;
    r.tls = hs->tls ? &hs->rec : NULL;
    r.release = c->hs;              /* hs->early lives in it */
    c->hs = NULL;
    if (conn_claim(c, hs, uslot)) {
        free(r.release);
        ctr_free(d_enc);
        ctr_free(d_dec);
        return;
    }
    conn_relay(c, &r);
    ctr_free(d_enc);
    ctr_free(d_dec);
}

/* Take c off the handshake list; hs_lock held. */
static void
conn_hs_unlist(struct worker *w, struct conn *c)
{
    TAILQ_REMOVE(&w->hs_list, c, hs_link);
    c->hs_listed = 0;
    w->hs_count--;
    if (c->src != NULL)
        srcguard_hs_leave(c->src, c->src_key);
}

/*
 * Its thread wakes from its read (or its wait for a secret search) and
 * masks what it has read: a bare close would tell a prober of the flood.
 * Its thread is alive while listed (conn_hs_leave() takes hs_lock).
 */
static void
conn_evict(struct worker *w, struct conn *old, int why)
{
    atomic_store(&old->evicted, why);
    (void)pthread_kill(old->tid, RELAY_WAKE_SIG);
    conn_hs_unlist(w, old);
}

/*
 * A handshake younger than this is never evicted for its address: real
 * clients behind one carrier NAT come in bursts (a cell reconnecting),
 * and a client slow to send its first bytes is still one RTT away from
 * proving itself.  A flood from one address holds at most
 * max_handshakes_per_addr plus what it opens in this time.
 */
#define HS_ADDR_GRACE_MS 1000

/* The oldest listed connection from key's address if it is past the
 * grace; hs_lock held. */
static struct conn *
conn_hs_oldest_of(struct worker *w, uint64_t key, int64_t now)
{
    struct conn *o;

    TAILQ_FOREACH(o, &w->hs_list, hs_link)
        if (o->src_key == key)
            return now - o->started_ms >= HS_ADDR_GRACE_MS ? o : NULL;
    return NULL;
}

/*
 * Add c to the worker's handshake list.  Over max_handshakes_per_addr
 * the oldest from c's own address makes room if it is past the grace
 * (counted over all workers, so there may be none here); over
 * max_handshakes the oldest of all.
 */
static void
conn_hs_enter(struct conn *c)
{
    struct worker *w = c->w;
    int cap = c->cfg->max_handshakes_per_addr, n = 0;
    int64_t now = mono_ms();

    c->src_key = srcguard_key((const struct sockaddr *)&c->peer_addr);
    c->src = srcguard_get(&w->stats->guard, c->src_key, now);
    if (c->src == NULL)
        STATS_ADD(w->stats, addr_unguarded, 1);
    pthread_mutex_lock(&w->hs_lock);
    if (c->src != NULL)
        n = srcguard_hs_enter(c->src, c->src_key);
    if (cap > 0 && n > cap) {
        struct conn *old = conn_hs_oldest_of(w, c->src_key, now);

        if (old != NULL)
            conn_evict(w, old, CONN_EVICTED_ADDR);
    }
    if (w->hs_count >= c->cfg->max_handshakes && !TAILQ_EMPTY(&w->hs_list))
        conn_evict(w, TAILQ_FIRST(&w->hs_list), 1);
    TAILQ_INSERT_TAIL(&w->hs_list, c, hs_link);
    c->hs_listed = 1;
    w->hs_count++;
    pthread_mutex_unlock(&w->hs_lock);
}

void
conn_hs_leave(struct conn *c)
{
    struct worker *w = c->w;

    pthread_mutex_lock(&w->hs_lock);
    if (c->hs_listed)
        conn_hs_unlist(w, c);
    pthread_mutex_unlock(&w->hs_lock);
}

/* Name this thread as c's, so a hand-over can wake it. */
static void
conn_own_thread(struct conn *c)
{
    pthread_mutex_lock(&c->w->all_lock);
    c->tid = pthread_self();
    c->tid_set = 1;
    pthread_mutex_unlock(&c->w->all_lock);
}

static void
conn_thread(void *arg)
{
    struct conn *c = arg;
    const struct config *cfg = c->cfg;
    struct hs_result hs;
    enum hs_verdict v;

    /* TCP_NODELAY and client_ack_timeout came from the listener. */
    conn_own_thread(c);
    /* The real client first: the guard below counts by its address. */
    if (proxy_in(c) != 0) {
        conn_close(c);
        return;
    }
    conn_hs_enter(c);
    v = handshake_run(c, &hs);
    conn_hs_leave(c);
    stats_observe(c->w->stats, STATS_HIST_handshake_seconds,
        mono_us() - c->started_us);
    /* An evicted client that proved itself meanwhile is served. */
    if (atomic_load(&c->evicted) && v != HS_OK) {
        if (atomic_load(&c->evicted) == CONN_EVICTED_ADDR)
            STATS_HS(c->w->stats, evicted_addr);
        else
            STATS_HS(c->w->stats, evicted);
        log_debug("%s: evicted from the handshake after %zu bytes%s",
            c->peer, c->hslen, c->answered ? "" : ": masking");
        if (cfg->mask && !c->answered)
            mask_run(c, 0);
    } else if (v != HS_OK) {
        conn_count_refusal(c->w->stats, v);
        log_debug("%s: handshake refused: %s after %zu bytes%s", c->peer,
            handshake_verdict_name(v), c->hslen,
            v == HS_SNI_REJECT || v == HS_SNI_DROP ? " (unknown_sni_action)" :
            c->answered ? " (after our ServerHello: closing)" : "");
        /* Mask whatever a real server would have had to answer. */
        if (cfg->mask && !c->answered && v != HS_ERROR &&
            !(c->client_eof && c->hslen == 0))
            mask_run(c, c->client_eof);
    } else {
        conn_count_ok(c->w->stats, hs.mode);
        conn_serve(c, &hs);
        ctr_free(hs.c_dec);
        ctr_free(hs.c_enc);
    }
    conn_close(c);
}

/*
 * conn_user_gone() remembered per (older snapshot, user): a busy worker
 * has thousands of connections of a few users on one or two snapshots,
 * and each answer is a walk over the new config's users.
 */
#define CONN_GONE_MEMO  4
#define CONN_GONE_UNKNOWN 0xff

struct conn_gone_memo {
    const struct snapshot *snap;
    uint8_t *gone;                      /* per user; NULL: no memory */
};

static int
conn_gone_memo(struct conn_gone_memo *m, const struct conn *c,
    const struct snapshot *now)
{
    int i;

    for (i = 0; i < CONN_GONE_MEMO && m[i].snap != NULL; i++)
        if (m[i].snap == c->snap)
            break;
    if (i == CONN_GONE_MEMO)
        return conn_user_gone(c, now);
    if (m[i].snap == NULL) {
        m[i].snap = c->snap;
        m[i].gone = malloc((size_t)c->cfg->nusers);
        if (m[i].gone != NULL)
            memset(m[i].gone, CONN_GONE_UNKNOWN, (size_t)c->cfg->nusers);
    }
    if (m[i].gone == NULL)
        return conn_user_gone(c, now);
    if (m[i].gone[c->user] == CONN_GONE_UNKNOWN)
        m[i].gone[c->user] = (uint8_t)conn_user_gone(c, now);
    return m[i].gone[c->user];
}

int
conn_drop_gone(struct worker *w)
{
    struct conn_gone_memo memo[CONN_GONE_MEMO] = { { 0 } };
    struct conn *c;
    int n = 0;

    LIST_FOREACH(c, &w->all_list, all_link) {
        /* cppcheck-suppress uninitvar ; LIST_FOREACH (sys/queue.h) set it */
        if (c->user < 0 || c->snap == w->snap ||
            !conn_gone_memo(memo, c, w->snap))
            continue;
        /* Both ends, so the relay wakes whichever way it waits. */
        (void)shutdown(c->cfd, SHUT_RDWR);
        if (c->dfd >= 0)
            (void)shutdown(c->dfd, SHUT_RDWR);
        n++;
    }
    for (int i = 0; i < CONN_GONE_MEMO; i++)
        free(memo[i].gone);
    return n;
}

int
conn_cut_limited(struct worker *w)
{
    static uint8_t verdict[STATS_MAX_USERS];   /* the worker's main thread */
    const struct snapshot *sn = w->snap;
    int64_t now = (int64_t)time(NULL);
    struct conn *c;
    int any = 0, n = 0;

    memset(verdict, 0, sizeof(verdict));
    for (int i = 0; i < sn->cfg->nusers; i++) {
        int slot = sn->user_slot[i];

        if (slot < 0 || slot >= STATS_MAX_USERS)
            continue;
        verdict[slot] = (uint8_t)userlim_state(w->stats, slot,
            &sn->cfg->users[i], now);
        any |= verdict[slot];
    }
    if (!any)
        return 0;
    pthread_mutex_lock(&w->all_lock);
    LIST_FOREACH(c, &w->all_list, all_link) {
        int expected = 0;

        if (c->user < 0 || c->user_slot < 0 || verdict[c->user_slot] == 0 ||
            !atomic_compare_exchange_strong(&c->cut, &expected,
            verdict[c->user_slot]))
            continue;
        (void)shutdown(c->cfd, SHUT_RDWR);
        if (c->dfd >= 0)
            (void)shutdown(c->dfd, SHUT_RDWR);
        n++;
    }
    pthread_mutex_unlock(&w->all_lock);
    return n;
}

/* A connection thread's room holds its connection, off the heap, where
 * an idle client's would sit among the holes of others (threads.h). */
_Static_assert(sizeof(struct conn) <= THREADS_ROOM,
    "struct conn outgrew THREADS_ROOM");

/* A new connection of w's: counted, listed, holding the current config. */
static struct conn *
conn_new(struct worker *w, int fd, const struct sockaddr *peer, void *room,
    size_t roomlen)
{
    struct conn *c = room != NULL && roomlen >= sizeof(*c) ? room :
        calloc(1, sizeof(*c));

    if (c == NULL) {
        log_warnx("out of memory for a connection");
        return NULL;
    }
    if (c == room) {
        memset(c, 0, sizeof(*c));
        c->in_room = 1;
    }
    c->w = w;
    c->cfd = fd;
    c->dfd = -1;
    c->user = -1;
    c->user_slot = -1;
    c->started_us = mono_us();
    c->started_ms = c->started_us / 1000;
    net_format(peer, c->peer, sizeof(c->peer));
    memcpy(&c->peer_addr, peer, peer->sa_family == AF_INET6 ?
        sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    atomic_fetch_add(&w->active, 1);
    atomic_fetch_add_explicit(&w->me->active, 1, memory_order_relaxed);
    /* Accepting threads come here too: a reload swaps w->snap under it. */
    pthread_mutex_lock(&w->all_lock);
    c->snap = w->snap;
    snapshot_hold(c->snap);
    c->cfg = c->snap->cfg;
    LIST_INSERT_HEAD(&w->all_list, c, all_link);
    pthread_mutex_unlock(&w->all_lock);
    return c;
}

/* Undo conn_new() (not the fds). */
static void
conn_unnew(struct conn *c)
{
    c->cfd = c->dfd = -1;
    conn_close(c);
}

/* Start fn on a thread for c; on failure undo conn_new() (not the fds). */
static int
conn_start(struct conn *c, void (*fn)(void *))
{
    int err = threads_run(&c->w->threads, fn, c);

    if (err == 0)
        return 0;
    errno = err;
    /* A new client's is said once a minute by worker.c, not per client;
     * a handed-over one is rare and was somebody's live connection. */
    if (c->resume != NULL)
        log_warn("cannot start a thread for %s", c->peer);
    else
        log_debug("cannot start a thread for %s: %s", c->peer,
            strerror(err));
    conn_unnew(c);
    return -1;
}

static void conn_overflow_thread(void *arg);

int
conn_admit(struct worker *w, int fd, const struct sockaddr *peer,
    struct threads_job *job, void *room, size_t roomlen)
{
    struct conn *c;
    int full;

    STATS_ADD(w->stats, conn_accepted, 1);
    atomic_fetch_add_explicit(&w->me->total, 1, memory_order_relaxed);
    if ((c = conn_new(w, fd, peer, room, roomlen)) == NULL)
        return -1;
    /* Masked connections have their own cap (mask_run()); c counts. */
    full = atomic_load(&w->active) - 1 - atomic_load(&w->masked) >=
        c->cfg->max_connections;
    if (full) {
        STATS_ADD(w->stats, conn_refused_limit, 1);
        log_debug("max_connections (%d) reached, %s the client",
            c->cfg->max_connections, c->cfg->mask ? "masking" : "closing");
        if (!c->cfg->mask) {
            conn_unnew(c);
            close(fd);
            return 1;
        }
    }
    *job = (struct threads_job){
        .fn = full ? conn_overflow_thread : conn_thread, .arg = c,
    };
    return 0;
}

int
conn_spawn(struct worker *w, int fd, const struct sockaddr *peer)
{
    struct threads_job job;
    int r = conn_admit(w, fd, peer, &job, NULL, 0);

    if (r != 0)
        return r;
    return conn_start(job.arg, job.fn);
}

/* Over max_connections: straight to the mask host, whatever it sends. */
static void
conn_overflow_thread(void *arg)
{
    struct conn *c = arg;

    conn_own_thread(c);
    /* A balancer's header is no byte of its client's to replay. */
    if (proxy_in(c) == 0)
        mask_run(c, 0);
    conn_close(c);
}

/* A connection handed to us: rebuild its relay from the record, go on. */
static void
conn_resumed_thread(void *arg)
{
    struct conn *c = arg;
    struct handoff_rec *rec = c->resume;
    struct tlsrec_reader tls;
    struct relay_pending p = {
        .up = rec->pending, .up_len = rec->up_len,
        .down = rec->pending + rec->up_len, .down_len = rec->down_len,
        .up_eof = rec->up_eof, .up_done = rec->up_done,
        .down_eof = rec->down_eof, .down_done = rec->down_done,
    };
    struct relay r = { .cfd = c->cfd, .dfd = c->dfd, .resume = &p };
    int ok = 1;

    conn_own_thread(c);
#define PART(bit, field)                                                    \
    if ((rec->parts & (bit)) && ok) {                                       \
        r.field = ctr_new_at(rec->field.key, rec->field.iv, rec->field.pos); \
        ok = r.field != NULL;                                               \
    }
    PART(HANDOFF_C_DEC, c_dec)
    PART(HANDOFF_C_ENC, c_enc)
    PART(HANDOFF_D_ENC, d_enc)
    PART(HANDOFF_D_DEC, d_dec)
#undef PART
    if (rec->parts & HANDOFF_TLS) {
        memcpy(tls.hdr, rec->tls_hdr, sizeof(tls.hdr));
        tls.hdr_have = rec->tls_hdr_have;
        tls.left = rec->tls_left;
        tls.type = rec->tls_type;
        r.tls = &tls;
    }
    if (!ok) {
        log_warnx("%s: out of memory resuming a handed-over connection",
            c->peer);
    } else if (rec->kind == HANDOFF_DC) {
        log_debug("%s: user %s dc %d: resumed after %llu bytes up, %llu "
            "down", c->peer, c->cfg->users[c->user].name, c->dc,
            (unsigned long long)rec->c2d_bytes,
            (unsigned long long)rec->d2c_bytes);
        userlim_enter(c->w->stats, c->w->row, c->user_slot);
        conn_relay(c, &r);
        userlim_leave(c->w->stats, c->w->row, c->user_slot);
    } else {
        (void)mask_relay(c, &r);
    }
    ctr_free(r.c_dec);
    ctr_free(r.c_enc);
    ctr_free(r.d_enc);
    ctr_free(r.d_dec);
    conn_close(c);
}

int
conn_resume(struct worker *w, struct handoff_rec *rec, int cfd, int dfd)
{
    struct conn *c = conn_new(w, cfd, (const struct sockaddr *)&rec->peer,
        NULL, 0);
    int u = -1;

    if (c == NULL) {
        free(rec);
        return -1;
    }
    c->dfd = dfd;
    c->resume = rec;
    if (rec->kind != HANDOFF_DC && !mask_take_slot(c)) {
        log_info("%s: masked, handed over, but mask_max_connections (%d) "
            "are in use here", c->peer, c->cfg->mask_max_connections);
        c->cfd = c->dfd = -1;       /* the caller closes them */
        conn_close(c);
        return -1;
    }
    if (rec->kind == HANDOFF_DC) {
        u = snapshot_user(c->snap, rec->user);
        if (u < 0 || memcmp(c->cfg->users[u].secret, rec->secret,
            SECRET_LEN) != 0) {
            log_info("%s: user %s: handed over, but this config %s", c->peer,
                rec->user, u < 0 ? "has no such user" :
                "has another secret for the user");
            c->cfd = c->dfd = -1;   /* the caller closes them */
            conn_close(c);
            return -1;
        }
        pthread_mutex_lock(&w->all_lock);
        c->user = u;
        c->user_slot = c->snap->user_slot[u];
        c->dc = rec->dc;
        pthread_mutex_unlock(&w->all_lock);
    }
    return conn_start(c, conn_resumed_thread);
}
