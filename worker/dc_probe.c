/*
 * dc_probe.c - the light probe of DC addresses (dc_probe_interval): a
 * TCP connect, closed at once, to each address of the config's DCs that
 * no dial used for an interval, so that a dead address is found back by
 * a probe rather than by a client paying dc_connect_timeout, and the
 * speeds of addresses clients do not use stay known.
 *
 * Only addresses a dial has already put in the health table are probed:
 * the proxy sends nothing to a DC no client asked for.  The main loop
 * starts one round per interval on a connection thread (it blocks in
 * DNS and connect); the per-address probe time in the region, taken by
 * compare-and-swap, gives each address one probe per interval in all
 * the workers together.
 */
#include "dc_probe.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "dc.h"
#include "dc_health.h"
#include "dc_table.h"
#include "log.h"
#include "proto.h"
#include "upstream.h"
#include "util.h"

#define DC_PROBE_MAX    32              /* addresses of one DC index */

/* The main thread's: when the next round may start, and whether the
 * last one still runs. */
static int64_t probe_next_ms;
static atomic_int probe_busy;

/* Claim and probe the slot of sa if nobody used or probed it lately. */
static void
probe_one(const struct config *cfg, const struct net_addr *a, int64_t iv)
{
    struct stats_region *s = dc_health_region();
    const struct sockaddr *sa = (const struct sockaddr *)&a->ss;
    struct outbound_via via;
    struct stats_dc_addr *d;
    int64_t now = mono_ms(), was, t0;
    int slot = -1, fd;
    char desc[160];

    for (int i = 0; i < STATS_DC_ADDRS && slot < 0; i++)
        if (dc_health_match(&s->dc_addrs[i], sa))
            slot = i;
    if (slot < 0)
        return;                         /* no dial used it: not ours */
    d = &s->dc_addrs[slot];
    was = atomic_load(&d->probe_ms);
    if (now - atomic_load(&d->used_ms) < iv || now - was < iv ||
        !atomic_compare_exchange_strong(&d->probe_ms, &was, now))
        return;
    t0 = mono_us();
    /* The way a dial would go (dc_bind_*, upstreams), never around it. */
    fd = outbound_connect(cfg, sa, a->len, now +
        (int64_t)cfg->dc_connect_timeout * 1000, desc, sizeof(desc), &via);
    /* As dc_dial(): only the address's own failures count against it. */
    if (fd >= 0 || via.target_fault)
        dc_health_record(slot, sa, fd >= 0, mono_us() - t0,
            fd == NET_TIMEOUT ? ETIMEDOUT : fd < 0 ? errno : 0,
            mono_ms(), (int64_t)cfg->dc_retry_after * 1000, 1);
    if (fd >= 0)
        close(fd);
}

/* One DC index's addresses, each probed if due. */
static void
probe_dc(const struct config *cfg, int dc, int64_t iv)
{
    struct net_addr a[DC_PROBE_MAX];
    int n = dc_candidates(cfg, dc, a, DC_PROBE_MAX);

    for (int i = 0; i < n; i++)
        probe_one(cfg, &a[i], iv);
}

/* A round: every DC index the config can dial (the media indexes share
 * the addresses of theirs unless overridden). */
static void
probe_round(void *arg)
{
    struct snapshot *sn = arg;
    const struct config *cfg = sn->cfg;
    int64_t iv = (int64_t)cfg->dc_probe_interval * 1000;

    const char *const *addrs;

    for (int k = 0; k < dc_nbuiltin; k++)
        probe_dc(cfg, dc_builtin_ids[k], iv);
    for (int i = 0; i < cfg->ndc_overrides; i++) {
        int dc = cfg->dc_overrides[i].dc;

        if (dc_builtin(dc, &addrs) == 0)
            probe_dc(cfg, dc, iv);
    }
    snapshot_release(sn);
    atomic_store(&probe_busy, 0);
}

void
dc_probe_tick(struct worker *w, int64_t now)
{
    const struct config *cfg = w->snap->cfg;
    int busy = 0;

    if (cfg->dc_probe_interval <= 0 || dc_health_region() == NULL ||
        w->draining || now < probe_next_ms)
        return;
    /* Rounds a few times an interval, so that an address is probed
     * soon after it became due, not up to an interval late. */
    probe_next_ms = now + (int64_t)cfg->dc_probe_interval * 1000 / 4 + 1;
    if (!atomic_compare_exchange_strong(&probe_busy, &busy, 1))
        return;
    snapshot_hold(w->snap);
    if (threads_run(&w->threads, probe_round, w->snap) != 0) {
        log_warnx("cannot start a DC probe round");
        snapshot_release(w->snap);
        atomic_store(&probe_busy, 0);
    }
}
