/*
 * admin_snap.c - one read of the shared region per admin request: every
 * number a response shows is copied into an admin_snap first, so all the
 * numbers in one body agree with each other, and the renderers never
 * touch the region.  Only reads it (it is mapped read-only in the admin
 * process: a write would crash it).
 */
#include "admin_snap.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#define LD(x)   atomic_load_explicit(&(x), memory_order_relaxed)

/* 1 if a process with this pid exists (ours or not). */
static int
pid_alive(int32_t pid)
{
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Note worker row rw (pid) in s->stale if its heartbeat is stale. */
static void
snap_stale(struct admin_snap *s, const struct stats_worker *rw, int32_t pid,
    int64_t mono_ms)
{
    int64_t hb = LD(rw->heartbeat_ms);

    if (hb == 0 || mono_ms - hb < STATS_HEARTBEAT_STALE_MS)
        return;                         /* not started its loop yet, or fine */
    s->stale[s->nstale].slot = (int)LD(rw->slot);
    s->stale[s->nstale].pid = pid;
    s->stale[s->nstale].age_ms = mono_ms - hb;
    s->nstale++;
}

/* Copy the DC address slots in use into s. */
static void
snap_dc_addrs(struct admin_snap *s, const struct stats_region *r,
    int64_t mono_ms)
{
    for (int i = 0; i < STATS_DC_ADDRS; i++) {
        const struct stats_dc_addr *d = &r->dc_addrs[i];
        struct admin_snap_dc_addr *x = &s->dc_addrs[s->ndc_addrs];
        uint64_t key[STATS_DC_ADDR_KEY];
        int64_t ok, fail, retry;

        if (atomic_load_explicit(&d->state, memory_order_acquire) !=
            STATS_DC_ADDR_USED)
            continue;
        for (int k = 0; k < STATS_DC_ADDR_KEY; k++)
            key[k] = LD(d->key[k]);
        stats_dc_addr_format(key, x->addr, sizeof(x->addr));
        x->dc = LD(d->dc);
#define X(field, help) x->field = LD(d->field);
        STATS_DC_ADDR_FIELDS(X)
#undef X
        x->fails_in_row = LD(d->fails_in_row);
        x->last_us = LD(d->last_us);
        x->avg_us = LD(d->avg_us);
        ok = LD(d->last_ok_ms);
        fail = LD(d->last_fail_ms);
        retry = LD(d->retry_ms);
        x->ok_age_ms = ok == 0 ? -1 : mono_ms > ok ? mono_ms - ok : 0;
        x->fail_age_ms = fail == 0 ? -1 : mono_ms > fail ? mono_ms - fail : 0;
        x->state = x->fails_in_row > 0 ? ADMIN_DC_ADDR_DOWN :
            ok != 0 ? ADMIN_DC_ADDR_UP : ADMIN_DC_ADDR_UNKNOWN;
        x->retry_in_ms = x->state == ADMIN_DC_ADDR_DOWN && retry > mono_ms ?
            retry - mono_ms : 0;
        s->ndc_addrs++;
    }
}

struct admin_snap *
admin_snap_take(const struct admin_ctx *a, int64_t now, int64_t mono_ms)
{
    int64_t mono_s = mono_ms / 1000;
    static const int64_t bounds[] = STATS_HIST_BOUNDS_US;
    const struct stats_region *r = a->stats;
    const struct config *cfg = a->cfg;
    struct admin_snap *s = calloc(1, sizeof(*s));
    uint32_t nw;

    _Static_assert(sizeof(bounds) / sizeof(bounds[0]) == STATS_HIST_NBOUNDS,
        "STATS_HIST_BOUNDS_US has STATS_HIST_NBOUNDS entries");
    if (s == NULL)
        return NULL;
    s->users = calloc(cfg->nusers > 0 ? (size_t)cfg->nusers : 1,
        sizeof(*s->users));
    if (s->users == NULL) {
        free(s);
        return NULL;
    }
    s->cfg = cfg;
    s->now = now;
    s->start_time = LD(r->start_time);
    s->uptime = mono_s - LD(r->start_mono_ms) / 1000;
    if (s->uptime < 0)
        s->uptime = 0;
    s->generation = LD(r->generation);
#define X(field, help) s->c.field = LD(r->c.field);
    STATS_COUNTERS(X)
#undef X
    for (int i = 0; i < STATS_HS_COUNT; i++)
        s->hs[i] = LD(r->hs[i]);
    for (int i = 0; i < STATS_UR_COUNT; i++)
        s->user_refused[i] = LD(r->user_refused[i]);

    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        uint64_t cum = 0;

        /* Cumulative from one read of each bucket: +Inf is the count. */
        for (int k = 0; k <= STATS_HIST_NBOUNDS; k++) {
            cum += LD(r->hist[h].bucket[k]);
            s->hist[h].cum[k] = cum;
        }
        s->hist[h].sum_us = LD(r->hist[h].sum_us);
    }

    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        s->active += LD(r->workers[w].active);
    nw = LD(r->nworkers);
    s->nworkers = nw > STATS_MAX_WORKERS ? STATS_MAX_WORKERS : (int)nw;
    for (int i = 0; i < s->nworkers; i++) {
        s->workers[i].slot = i;
        s->workers[i].restarts = LD(r->slot_restarts[i]);
    }
    for (int row = 0; row < STATS_MAX_WORKERS; row++) {
        const struct stats_worker *rw = &r->workers[row];
        uint32_t state = LD(rw->state);
        struct admin_snap_worker x, *cur;

        if (state != STATS_WORKER_RUNNING && state != STATS_WORKER_DRAINING)
            continue;                   /* free, or being forked */
        x = (struct admin_snap_worker){
            .slot = LD(rw->slot), .pid = LD(rw->pid),
            .generation = LD(rw->generation),
            .started_at = LD(rw->started_at), .active = LD(rw->active),
            .total = LD(rw->total),
        };
        x.up = pid_alive(x.pid);
        if (x.pid == 0)
            continue;                   /* freed while we read it */
        if (state == STATS_WORKER_RUNNING)
            snap_stale(s, rw, x.pid, mono_ms);
        if (state == STATS_WORKER_DRAINING || x.slot < 0 ||
            x.slot >= s->nworkers) {
            s->draining[s->ndraining++] = x;
            continue;
        }
        /* The newest generation's worker is the slot's. */
        cur = &s->workers[x.slot];
        if (cur->pid == 0 || x.generation > cur->generation) {
            x.restarts = cur->restarts;
            *cur = x;
        }
    }
    for (int i = 0; i < s->nworkers; i++)
        s->workers_up += s->workers[i].up;

    s->nusers = cfg->nusers;
    for (int i = 0; i < cfg->nusers; i++) {
        struct admin_snap_user *su = &s->users[i];
        int u = a->user_slot != NULL ? a->user_slot[i] : -1;

        su->name = cfg->users[i].name;
        su->limits = &cfg->users[i];
        if (u < 0 || u >= STATS_MAX_USERS)
            continue;                   /* no slot: all zero */
#define X(field, help) su->field = LD(r->users[u].field);
        STATS_USER_FIELDS(X)
#undef X
        su->active = stats_user_active(r, u);
        su->last_seen = LD(r->users[u].last_seen);
        su->ips_recent = stats_ips_recent(r, u, mono_s,
            cfg->unique_ips_window);
        for (int k = 0; k < STATS_UR_COUNT; k++)
            su->refused[k] = LD(r->users[u].refused[k]);
        su->quota_used = LD(r->users[u].quota_used);
        su->quota_period = LD(r->users[u].quota_period);
    }

    for (int d = 0; d < STATS_NDCS; d++) {
        s->dcs[d].index = stats_dc_index(d);
#define X(field, help) s->dcs[d].field = LD(r->dcs[d].field);
        STATS_DC_FIELDS(X)
#undef X
    }

    snap_dc_addrs(s, r, mono_ms);

    for (int u = 0; u < STATS_MAX_UPSTREAMS; u++) {
        struct admin_snap_upstream *su = &s->upstreams[s->nupstreams];

        /* A slot's name is written once, before its state says 2. */
        if (atomic_load(&r->upstreams[u].state) != 2)
            continue;
        snprintf(su->name, sizeof(su->name), "%s", r->upstreams[u].name);
#define X(field, help) su->field = LD(r->upstreams[u].field);
        STATS_UPSTREAM_FIELDS(X)
#undef X
        su->backed_off = stats_upstream_down(r, u);
        s->nupstreams++;
    }

    s->tls_cert_len = LD(r->tls_cert_len);
    s->tls_profile_at = LD(r->tls_profile_at);
    s->replay_entries = replay_count((const struct replay_table *)
        ((const char *)r + r->replay_off));
    return s;
}

void
admin_snap_free(struct admin_snap *s)
{
    if (s == NULL)
        return;
    free(s->users);
    free(s);
}

int
admin_snap_healthy(const struct admin_snap *s)
{
    return s->workers_up == s->nworkers && s->nstale == 0;
}

void
admin_sample_take(const struct stats_region *r, int64_t now,
    struct admin_sample *out)
{
    out->t = now;
    out->active = 0;
    for (int w = 0; w < STATS_MAX_WORKERS; w++)
        out->active += LD(r->workers[w].active);
    out->accepted = LD(r->c.conn_accepted);
    out->client_to_dc = LD(r->c.bytes_client_to_dc);
    out->dc_to_client = LD(r->c.bytes_dc_to_client);
}
