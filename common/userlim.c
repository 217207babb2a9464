/*
 * userlim.c - per-user limits in the shared region (see userlim.h).
 * Called by the connection threads of every worker (admission, quota,
 * rate) and by the master (publishing limits, quota periods).
 */
#include "userlim.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define RELAXED         memory_order_relaxed
/* A bucket keeps at most this much unused credit: a connection that was
 * quiet may send this much at once, no more. */
#define RATE_BURST_NS   (100 * 1000000LL)
/* Reads under a rate limit take about this much of it each. */
#define RATE_SLICE_MS   20
#define RATE_SLICE_MIN  1024

_Static_assert(2 * CONFIG_MAX_UNIQUE_IPS <= STATS_IP_SLOTS,
    "max_unique_ips takes at most half of a user's address slots");

const char *
userlim_name(enum user_verdict v)
{
    static const char *const names[] = {
        "ok",
#define X(name, reason, help) #name,
        STATS_USER_REFUSALS(X)
#undef X
    };

    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/*
 * The user's admit_lock: a spin lock holding the holder's pid, for the
 * few hundred ns of an admission.  A holder killed inside it is seen
 * dead and the lock taken from it.
 */
/* getpid() once per process, not once per admission; a fork's child
 * asks again. */
static _Atomic int32_t admit_pid;
static pthread_once_t admit_once = PTHREAD_ONCE_INIT;

static void
admit_pid_forget(void)
{
    atomic_store(&admit_pid, 0);
}

static void
admit_pid_setup(void)
{
    (void)pthread_atfork(NULL, NULL, admit_pid_forget);
}

static void
admit_lock(_Atomic int32_t *l)
{
    int32_t me = atomic_load_explicit(&admit_pid, memory_order_relaxed);

    if (me == 0) {
        (void)pthread_once(&admit_once, admit_pid_setup);
        me = (int32_t)getpid();
        atomic_store_explicit(&admit_pid, me, memory_order_relaxed);
    }

    for (unsigned i = 1;; i++) {
        int32_t cur = 0;

        if (atomic_compare_exchange_weak(l, &cur, me))
            return;
        if (cur != 0 && cur != me && i % 256 == 0 &&
            kill((pid_t)cur, 0) == -1 && errno == ESRCH)
            (void)atomic_compare_exchange_strong(l, &cur, 0);
        sched_yield();
    }
}

static void
admit_unlock(_Atomic int32_t *l)
{
    atomic_store(l, 0);
}

enum user_verdict
userlim_state(const struct stats_region *r, int u,
    const struct config_user *cu, int64_t now)
{
    if (!cu->enabled)
        return USER_DISABLED;
    if (cu->expiration > 0 && now >= cu->expiration)
        return USER_EXPIRED;
    if (userlim_quota_left(r, u) == 0)
        return USER_QUOTA;
    return USER_OK;
}

enum user_verdict
userlim_admit(struct stats_region *r, int row, int u,
    const struct config_user *cu, uint32_t h, int64_t now, int64_t mono_s,
    int64_t window)
{
    struct stats_user *su = &r->users[u];
    enum user_verdict v = userlim_state(r, u, cu, now);

    if (v == USER_OK) {
        admit_lock(&su->admit_lock);
        if (cu->max_tcp_conns > 0 &&
            stats_user_active(r, u) >= (uint64_t)cu->max_tcp_conns)
            v = USER_CONNS;
        else if (cu->max_unique_ips > 0 &&
            !stats_ip_recent(r, u, h, mono_s, window) &&
            stats_ips_recent(r, u, mono_s, window) >=
            (unsigned)cu->max_unique_ips)
            v = USER_IPS;
        if (v == USER_OK) {
            atomic_fetch_add_explicit(&r->user_active[row][u], 1, RELAXED);
            stats_ip_seen(r, u, h, mono_s, window);
        }
        admit_unlock(&su->admit_lock);
    }
    if (v != USER_OK) {
        atomic_fetch_add_explicit(&su->refused[v - 1], 1, RELAXED);
        atomic_fetch_add_explicit(&r->user_refused[v - 1], 1, RELAXED);
    }
    return v;
}

void
userlim_enter(struct stats_region *r, int row, int u)
{
    atomic_fetch_add_explicit(&r->user_active[row][u], 1, RELAXED);
}

void
userlim_leave(struct stats_region *r, int row, int u)
{
    atomic_fetch_sub_explicit(&r->user_active[row][u], 1, RELAXED);
}

uint64_t
userlim_quota_left(const struct stats_region *r, int u)
{
    uint64_t limit = atomic_load_explicit(&r->users[u].quota_limit, RELAXED);
    uint64_t used;

    if (limit == 0)
        return UINT64_MAX;
    used = atomic_load_explicit(&r->users[u].quota_used, RELAXED);
    return used >= limit ? 0 : limit - used;
}

void
userlim_charge(struct stats_region *r, int u, uint64_t n)
{
    if (n > 0)
        atomic_fetch_add_explicit(&r->users[u].quota_used, n, RELAXED);
}

size_t
userlim_rate_slice(const struct stats_region *r, int u, int dir, size_t max)
{
    int64_t bps = atomic_load_explicit(&r->users[u].rate_bps[dir], RELAXED);
    int64_t slice;

    if (bps <= 0)
        return max;
    slice = bps / (1000 / RATE_SLICE_MS);
    if (slice < RATE_SLICE_MIN)
        slice = RATE_SLICE_MIN;
    return (uint64_t)slice < max ? (size_t)slice : max;
}

int
userlim_rate_on(const struct stats_region *r, int u, int dir)
{
    return atomic_load_explicit(&r->users[u].rate_bps[dir], RELAXED) > 0;
}

int64_t
userlim_rate_charge(struct stats_region *r, int u, int dir, uint64_t n,
    int64_t now_ns)
{
    _Atomic int64_t *tat = &r->users[u].rate_tat_ns[dir];
    int64_t bps = atomic_load_explicit(&r->users[u].rate_bps[dir], RELAXED);
    int64_t cost, old, paid;

    if (bps <= 0 || n == 0)
        return 0;
    /* n <= a relay buffer: n * 1e9 stays far inside int64_t. */
    cost = (int64_t)(n * 1000000000ULL / (uint64_t)bps);
    old = atomic_load_explicit(tat, RELAXED);
    do {
        paid = (old > now_ns - RATE_BURST_NS ? old : now_ns - RATE_BURST_NS)
            + cost;
    } while (!atomic_compare_exchange_weak_explicit(tat, &old, paid,
        RELAXED, RELAXED));
    return paid > now_ns ? paid - now_ns : 0;
}

int64_t
userlim_period_start(int day, int64_t now)
{
    time_t t = (time_t)now;
    struct tm tm;

    if (day <= 0)
        return 0;
    gmtime_r(&t, &tm);
    if (tm.tm_mday < day) {
        if (--tm.tm_mon < 0) {
            tm.tm_mon = 11;
            tm.tm_year--;
        }
    }
    tm.tm_mday = day;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = 0;
    return (int64_t)timegm(&tm);
}

int64_t
userlim_publish(struct stats_region *r, int u, const struct config_user *cu,
    int64_t now)
{
    struct stats_user *su = &r->users[u];
    int64_t start = userlim_period_start((int)cu->quota_reset_day, now);
    int64_t had = atomic_load_explicit(&su->quota_period, RELAXED);
    int64_t was = -1;

    atomic_store_explicit(&su->quota_limit, (uint64_t)cu->data_quota_bytes,
        RELAXED);
    atomic_store_explicit(&su->rate_bps[USERLIM_UP], cu->rate_limit_up_bps,
        RELAXED);
    atomic_store_explicit(&su->rate_bps[USERLIM_DOWN],
        cu->rate_limit_down_bps, RELAXED);
    /* A period the region has never held (a fresh user, or the reset day
     * just set) begins without wiping what was used. */
    if (start != had) {
        if (had != 0 && start > had)
            was = (int64_t)atomic_exchange_explicit(&su->quota_used, 0,
                RELAXED);
        atomic_store_explicit(&su->quota_period, start, RELAXED);
    }
    return was;
}
