/*
 * dc_health.c - per DC address health in the shared region, and the
 * order a dial tries a DC's addresses in (dc_health.h says which).
 *
 * Every worker reads and writes the same slots: a result one worker saw
 * steers the next dial of all of them.  Nothing here takes a lock; each
 * number is one atomic, and two results racing each other are both
 * recent truths about the address, so whichever lands last will do.
 * The one thing that must not be shared is the trial of an address whose
 * back-off ended: a compare-and-swap on its retry time gives it to one
 * dial, so a dead address costs one client a timeout per back-off, not
 * every client that arrives in that moment.
 */
#include "dc_health.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define LD(x)           atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v)        atomic_store_explicit(&(x), (v), memory_order_relaxed)
#define ADD(x, v)       atomic_fetch_add_explicit(&(x), (v), \
                            memory_order_relaxed)
/* How long, in all, a new slot's owner waits for lower slots being
 * keyed (CLAIMED) to be published before it checks them: long enough for
 * a filler preempted mid-fill to go on, short enough that a slot left
 * CLAIMED by a worker killed mid-fill costs a new address little. */
#define DH_CLAIMED_WAIT_MS      50

static struct stats_region *dh_region;

int64_t
dc_health_backoff_ms(int64_t base_ms, uint32_t fails)
{
    uint32_t shift;

    if (fails == 0)
        return 0;
    shift = fails - 1 < DC_HEALTH_BACKOFF_DOUBLINGS ? fails - 1 :
        DC_HEALTH_BACKOFF_DOUBLINGS;
    return base_ms << shift;
}

int
dc_health_state(uint32_t fails, int64_t retry_ms, int64_t now, int probing)
{
    if (fails == 0)
        return DC_HEALTH_UP;
    if (probing || now < retry_ms)
        return DC_HEALTH_DOWN;
    return DC_HEALTH_TRIAL;
}

int
dc_health_speed_class(int64_t avg_us)
{
    int64_t ms;
    int c = 0;

    if (avg_us <= 0)
        return DC_HEALTH_CLASS_UNKNOWN;
    for (ms = avg_us / 1000; ms > 0; ms >>= 1)
        c++;
    return c;
}

/* The sort key of dc_health.h's order, most significant first. */
static void
cand_key(const struct dc_health_cand *c, int first, int k[4])
{
    k[0] = c->state == DC_HEALTH_DOWN;
    k[1] = c->a->ss.ss_family != first;
    k[2] = c->state != DC_HEALTH_TRIAL;
    k[3] = dc_health_speed_class(c->avg_us);
}

static int
cand_before(const struct dc_health_cand *a, const struct dc_health_cand *b,
    int first)
{
    int ka[4], kb[4];

    cand_key(a, first, ka);
    cand_key(b, first, kb);
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i];
    return a->order < b->order;
}

void
dc_health_order(struct dc_health_cand *c, int n, int first)
{
    /* Insertion sort: a handful of candidates, and stable by order. */
    for (int i = 1; i < n; i++) {
        struct dc_health_cand x = c[i];
        int j = i;

        for (; j > 0 && cand_before(&x, &c[j - 1], first); j--)
            c[j] = c[j - 1];
        c[j] = x;
    }
}

void
dc_health_init(struct stats_region *s)
{
    dh_region = s;
}

struct stats_region *
dc_health_region(void)
{
    return dh_region;
}

int
dc_health_match(const struct stats_dc_addr *d, const struct sockaddr *sa)
{
    uint64_t key[STATS_DC_ADDR_KEY];

    if (atomic_load_explicit(&d->state, memory_order_acquire) !=
        STATS_DC_ADDR_USED)
        return 0;
    stats_dc_addr_key(sa, key);
    for (int i = 0; i < STATS_DC_ADDR_KEY; i++)
        if (LD(d->key[i]) != key[i])
            return 0;
    return 1;
}

static int
slot_find(struct stats_region *s, const struct sockaddr *sa, int below)
{
    for (int i = 0; i < below; i++)
        if (dc_health_match(&s->dc_addrs[i], sa))
            return i;
    return -1;
}

/* Key slot i (held CLAIMED by us) as sa for dc, reset, publish. */
static void
slot_fill(struct stats_dc_addr *d, const struct sockaddr *sa, int dc,
    int64_t now)
{
    uint64_t key[STATS_DC_ADDR_KEY];

    stats_dc_addr_key(sa, key);
    for (int i = 0; i < STATS_DC_ADDR_KEY; i++)
        ST(d->key[i], key[i]);
    ST(d->dc, dc < 0 ? -dc : dc);
#define X(name, help) ST(d->name, 0);
    /* cppcheck-suppress unknownMacro ; defined in stats_fields.h */
    STATS_DC_ADDR_FIELDS(X)
#undef X
    ST(d->fails_in_row, 0);
    ST(d->last_us, 0);
    ST(d->avg_us, 0);
    ST(d->last_ok_ms, 0);
    ST(d->last_fail_ms, 0);
    ST(d->retry_ms, 0);
    ST(d->used_ms, now);
    ST(d->probe_ms, 0);
    atomic_store_explicit(&d->state, STATS_DC_ADDR_USED,
        memory_order_release);
}

/* Take slot i from state from (FREE, or USED but idle) for sa; 0 or -1. */
static int
slot_take(struct stats_region *s, int i, uint32_t from,
    const struct sockaddr *sa, int dc, int64_t now)
{
    struct stats_dc_addr *d = &s->dc_addrs[i];
    uint32_t expect = from;
    int64_t end = 0;

    if (!atomic_compare_exchange_strong(&d->state, &expect,
        STATS_DC_ADDR_CLAIMED))
        return -1;
    slot_fill(d, sa, dc, now);
    /* Another worker may have keyed the same address meanwhile: the
     * lowest slot is the one everybody finds, so give ours back.  A lower
     * slot still being keyed may be that one: wait for it (bounded). */
    for (int j = 0; j < i; j++) {
        struct stats_dc_addr *o = &s->dc_addrs[j];

        while (atomic_load_explicit(&o->state, memory_order_acquire) ==
            STATS_DC_ADDR_CLAIMED) {
            if (end == 0)
                end = mono_ms() + DH_CLAIMED_WAIT_MS;
            else if (mono_ms() >= end)
                break;
            sched_yield();
        }
        if (dc_health_match(o, sa)) {
            atomic_store_explicit(&d->state, STATS_DC_ADDR_FREE,
                memory_order_release);
            return -1;
        }
    }
    return 0;
}

int
dc_health_slot(struct stats_region *s, const struct sockaddr *sa, int dc,
    int64_t now)
{
    int i = slot_find(s, sa, STATS_DC_ADDRS);

    if (i >= 0)
        return i;
    for (i = 0; i < STATS_DC_ADDRS; i++)
        if (LD(s->dc_addrs[i].state) == STATS_DC_ADDR_FREE &&
            slot_take(s, i, STATS_DC_ADDR_FREE, sa, dc, now) == 0)
            return i;
    for (i = 0; i < STATS_DC_ADDRS; i++) {
        struct stats_dc_addr *d = &s->dc_addrs[i];

        if (LD(d->state) == STATS_DC_ADDR_USED &&
            now - LD(d->used_ms) >= DC_HEALTH_IDLE_MS &&
            slot_take(s, i, STATS_DC_ADDR_USED, sa, dc, now) == 0)
            return i;
    }
    /* Lost a race for the slot to a worker keying the same address. */
    return slot_find(s, sa, STATS_DC_ADDRS);
}

int
dc_health_prepare(struct dc_health_cand *c, int n, int dc, int first,
    int64_t now, int64_t backoff_ms, int probing)
{
    struct stats_region *s = dh_region;
    int down = 0;

    for (int i = 0; i < n; i++) {
        struct stats_dc_addr *d;
        int64_t retry;
        uint32_t fails;

        c[i].order = i;
        c[i].state = DC_HEALTH_UP;
        c[i].avg_us = 0;
        c[i].slot = s == NULL ? -1 :
            dc_health_slot(s, (const struct sockaddr *)&c[i].a->ss, dc, now);
        if (c[i].slot < 0)
            continue;
        d = &s->dc_addrs[c[i].slot];
        /* In use from now: not idle, so no other worker re-keys the slot
         * under the dial that is about to record into it. */
        ST(d->used_ms, now);
        fails = LD(d->fails_in_row);
        retry = LD(d->retry_ms);
        c[i].avg_us = LD(d->avg_us);
        c[i].state = dc_health_state(fails, retry, now, probing);
        /* The trial is one dial's: push the retry time on for the rest
         * (the dial's result sets it properly). */
        if (c[i].state == DC_HEALTH_TRIAL &&
            !atomic_compare_exchange_strong(&d->retry_ms, &retry,
            now + dc_health_backoff_ms(backoff_ms, fails)))
            c[i].state = DC_HEALTH_DOWN;
        down += c[i].state == DC_HEALTH_DOWN;
    }
    dc_health_order(c, n, first);
    return down;
}

/* Failures that are ours, not the address's. */
static int
local_error(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS ||
        err == ENOMEM || err == EAFNOSUPPORT || err == EINTR ||
        /* dc_bind_ipv4/6, dc_bind_interface refused, or no local port */
        err == EADDRNOTAVAIL || err == ENODEV || err == EPERM ||
        err == EACCES;
}

/* The slot's address as text, for a log line. */
static void
slot_name(const struct stats_dc_addr *d, char *out, size_t outlen)
{
    uint64_t key[STATS_DC_ADDR_KEY];

    for (int i = 0; i < STATS_DC_ADDR_KEY; i++)
        key[i] = LD(d->key[i]);
    stats_dc_addr_format(key, out, outlen);
}

void
dc_health_record(int slot, const struct sockaddr *sa, int ok, int64_t us,
    int err, int64_t now, int64_t backoff_ms, int probe)
{
    struct stats_region *s = dh_region;
    struct stats_dc_addr *d;
    char name[64];
    uint32_t prev;

    if (s == NULL || slot < 0 || slot >= STATS_DC_ADDRS)
        return;
    d = &s->dc_addrs[slot];
    /* Re-keyed to another address since the dial began: not ours. */
    if (!dc_health_match(d, sa))
        return;
    ST(d->used_ms, now);
    if (probe)
        ADD(d->probes, 1);
    if (ok) {
        int64_t avg = LD(d->avg_us);

        if (us < 1)
            us = 1;
        ADD(d->connects, 1);
        ST(d->last_us, us);
        /* A moving average over about four connects: one slow SYN-ACK
         * does not reorder a DC's addresses, a lasting change does. */
        ST(d->avg_us, avg == 0 ? us : avg + (us - avg) / 4);
        ST(d->last_ok_ms, now);
        ST(d->retry_ms, 0);
        /* One line per change of state, in whichever worker saw it. */
        prev = atomic_exchange(&d->fails_in_row, 0);
        if (prev > 0) {
            slot_name(d, name, sizeof(name));
            log_info("DC %d address %s answers again%s (after %u "
                "failure(s))", (int)LD(d->dc), name, probe ? " to a probe" :
                "", prev);
        }
        if (probe)
            STATS_ADD(s, dc_probes_ok, 1);
        return;
    }
    if (local_error(err))
        return;
    ADD(d->failures, 1);
    ST(d->last_fail_ms, now);
    prev = ADD(d->fails_in_row, 1);
    ST(d->retry_ms, now + dc_health_backoff_ms(backoff_ms, prev + 1));
    if (prev == 0) {
        slot_name(d, name, sizeof(name));
        log_warnx("DC %d address %s down (%s): tried after the others "
            "until it answers again", (int)LD(d->dc), name, strerror(err));
    }
    if (probe)
        STATS_ADD(s, dc_probes_failed, 1);
    else
        STATS_ADD(s, dc_addr_failed, 1);
}
