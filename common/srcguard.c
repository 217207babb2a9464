/*
 * srcguard.c - the per-address table of srcguard.h: find or claim an
 * address's entry, count its handshakes and searches, score its failures.
 */
#include "srcguard.h"

#include <netinet/in.h>

#include <string.h>

#define SCORE_UNIT      16              /* one failure, fixed point */
#define SCORE_MS_BITS   44
#define SCORE_MS_MASK   ((UINT64_C(1) << SCORE_MS_BITS) - 1)
#define SCORE_MAX       ((UINT64_C(1) << (64 - SCORE_MS_BITS)) - 1)
/* An entry nobody used for this long may go to another address. */
#define IDLE_MS         (4 * SRCGUARD_HALF_LIFE_MS)

uint64_t
srcguard_key(const struct sockaddr *sa)
{
    uint64_t k = 0;

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *p = s6->sin6_addr.s6_addr;

        /* A v4-mapped address is that IPv4 host, not a /64. */
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            memcpy(&k, p + 12, 4);
            return k | UINT64_C(1) << 63;
        }
        memcpy(&k, p, 8);
    } else if (sa->sa_family == AF_INET) {
        memcpy(&k, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        k |= UINT64_C(1) << 63;
    }
    return k == 0 ? 1 : k;
}

static uint64_t
score_decayed(uint64_t packed, int64_t now_ms)
{
    uint64_t s = packed >> SCORE_MS_BITS;
    int64_t dt = now_ms - (int64_t)(packed & SCORE_MS_MASK);

    if (dt <= 0 || s == 0)
        return s;
    if (dt / SRCGUARD_HALF_LIFE_MS >= 20)
        return 0;
    s >>= dt / SRCGUARD_HALF_LIFE_MS;
    /* Between halvings, linear: 1 - x/2 for the fraction x. */
    return s - s * (uint64_t)(dt % SRCGUARD_HALF_LIFE_MS) /
        (2 * SRCGUARD_HALF_LIFE_MS);
}

double
srcguard_score(const struct srcguard_entry *e, int64_t now_ms)
{
    return (double)score_decayed(atomic_load(&e->score), now_ms) /
        SCORE_UNIT;
}

int64_t
srcguard_delay_ms(double score, int max_delay_ms)
{
    int64_t d;
    int n;

    if (score < SRCGUARD_FREE_FAILS + 1 || max_delay_ms <= 0)
        return 0;
    n = (int)(score - SRCGUARD_FREE_FAILS - 1);
    d = n >= 30 ? max_delay_ms : (int64_t)SRCGUARD_BASE_DELAY_MS << n;
    return d < max_delay_ms ? d : max_delay_ms;
}

static int
entry_idle(struct srcguard_entry *e, int64_t now_ms)
{
    return atomic_load(&e->hs) <= 0 && atomic_load(&e->searching) <= 0 &&
        now_ms - atomic_load(&e->seen_ms) >= IDLE_MS;
}

static void
entry_reset(struct srcguard_entry *e, int64_t now_ms)
{
    atomic_store(&e->hs, 0);
    atomic_store(&e->searching, 0);
    atomic_store(&e->score, 0);
    atomic_store(&e->wait_until_ms, 0);
    atomic_store(&e->seen_ms, now_ms);
}

struct srcguard_entry *
srcguard_get(struct srcguard_table *t, uint64_t key, int64_t now_ms)
{
    uint64_t h = key * UINT64_C(0x9e3779b97f4a7c15);
    size_t start = (size_t)(h >> 40) & (SRCGUARD_SLOTS - 1);

    for (int i = 0; i < SRCGUARD_PROBE; i++) {
        struct srcguard_entry *e =
            &t->e[(start + (size_t)i) & (SRCGUARD_SLOTS - 1)];

        if (atomic_load(&e->key) == key) {
            atomic_store(&e->seen_ms, now_ms);
            return e;
        }
    }
    for (int i = 0; i < SRCGUARD_PROBE; i++) {
        struct srcguard_entry *e =
            &t->e[(start + (size_t)i) & (SRCGUARD_SLOTS - 1)];
        uint64_t old = atomic_load(&e->key);

        if (old != 0 && !entry_idle(e, now_ms))
            continue;
        if (atomic_compare_exchange_strong(&e->key, &old, key)) {
            entry_reset(e, now_ms);
            return e;
        }
        if (old == key)                 /* claimed by another worker */
            return e;
    }
    return NULL;
}

/* Add d to *v, but only while the entry still belongs to key. */
static int
count_add(struct srcguard_entry *e, _Atomic int32_t *v, uint64_t key,
    int32_t d)
{
    int32_t n = atomic_fetch_add(v, d) + d;

    if (atomic_load(&e->key) != key) {
        atomic_fetch_sub(v, d);         /* recycled meanwhile */
        return 0;
    }
    if (n < 0) {                        /* a recycle's reset raced us */
        atomic_fetch_sub(v, d);
        return 0;
    }
    return n;
}

int
srcguard_hs_enter(struct srcguard_entry *e, uint64_t key)
{
    return count_add(e, &e->hs, key, 1);
}

void
srcguard_hs_leave(struct srcguard_entry *e, uint64_t key)
{
    (void)count_add(e, &e->hs, key, -1);
}

int
srcguard_search_begin(struct srcguard_entry *e, uint64_t key, int cap,
    int64_t now_ms, int64_t *retry_ms)
{
    int64_t wait = atomic_load(&e->wait_until_ms) - now_ms;
    int32_t n;

    if (atomic_load(&e->key) != key)
        return 1;                       /* recycled: not guarded now */
    if (wait > 0) {
        *retry_ms = wait;
        return 0;
    }
    /* An address that has not failed lately searches freely: thousands
     * of real users behind one NAT address may start at once. */
    if (score_decayed(atomic_load(&e->score), now_ms) <=
        SRCGUARD_FREE_FAILS * SCORE_UNIT) {
        atomic_fetch_add(&e->searching, 1);
        return 1;
    }
    n = atomic_load(&e->searching);
    while (n < cap) {
        if (atomic_compare_exchange_weak(&e->searching, &n, n + 1))
            return 1;
    }
    *retry_ms = 1;
    return 0;
}

void
srcguard_search_end(struct srcguard_entry *e, uint64_t key, int failed,
    int64_t now_ms, int max_delay_ms)
{
    uint64_t old, s;
    int64_t until, cur;

    if (atomic_load(&e->key) != key)
        return;
    (void)count_add(e, &e->searching, key, -1);
    if (!failed)
        return;
    old = atomic_load(&e->score);
    do {
        s = score_decayed(old, now_ms) + SCORE_UNIT;
        if (s > SCORE_MAX)
            s = SCORE_MAX;
    } while (!atomic_compare_exchange_weak(&e->score, &old,
        s << SCORE_MS_BITS | ((uint64_t)now_ms & SCORE_MS_MASK)));
    until = now_ms + srcguard_delay_ms((double)s / SCORE_UNIT,
        max_delay_ms);
    cur = atomic_load(&e->wait_until_ms);
    while (cur < until &&
        !atomic_compare_exchange_weak(&e->wait_until_ms, &cur, until))
        ;
}
