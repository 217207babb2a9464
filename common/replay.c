/*
 * replay.c - the replay table: remembers handshake fingerprints in the
 * shared region so that a handshake replayed to any worker is caught.
 * The master lays it out once (replay_init) before forking; every
 * connection thread of every worker then calls replay_check_insert().
 * Nothing is allocated after init and the region holds no pointers, only
 * offsets and indexes, so it may be mapped at any address in any process.
 *
 * Layout of mem (all offsets from mem, which must be aligned for
 * max_align_t; 64-byte alignment keeps each stripe on its own cache lines):
 *
 *   0                  struct replay_table: magic, version, geometry
 *   stripes_off        stripe 0 \
 *   + stripe_stride    stripe 1  | nstripes stripes, stripe_stride bytes
 *   ...                          / each (a multiple of 64)
 *
 *   a stripe:          struct replay_stripe: robust mutex, ring head/used
 *                      int32_t bucket[nbuckets]: first entry of each chain
 *                      struct replay_entry entry[stripe_cap]: the ring
 *
 * A fingerprint's hash picks its stripe (top bits) and its bucket in that
 * stripe (the bits below).  Each stripe is a FIFO: entries live in a ring
 * in insertion order, ring slots head .. head+used-1 are live and each of
 * them is on exactly one bucket chain.  A full stripe evicts its oldest
 * entry; entries older than the window are reclaimed from the head.
 * Capacity is exact: stripe i holds capacity / nstripes entries, one more
 * for i < capacity % nstripes; each stripe has room for the larger
 * number, so replay_size() counts at most one idle slot per stripe.
 */
#include "replay.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "log.h"

#define REPLAY_MAGIC        0x54454c4d52504c31ull   /* "TELMRPL1" */
#define REPLAY_VERSION      1
#define REPLAY_LINE         64      /* cache line: stripes never share one */
#define REPLAY_MAX_STRIPES  1024
#define REPLAY_MIN_STRIPES  64
#define REPLAY_STRIPE_GOAL  256     /* preferred entries per stripe */
#define REPLAY_STRIPE_MIN   8       /* fewest entries per stripe */
#define REPLAY_NIL          (-1)    /* end of a bucket chain */

/*
 * The header.  Written once by replay_init() before any other process or
 * thread sees the region and read-only afterwards, so it is read without
 * locks.  mutex_size is recorded so that a binary built against another
 * libc layout refuses the region in replay_attach() instead of corrupting
 * it.
 */
struct replay_table {
    uint64_t magic;
    uint32_t version;
    uint32_t mutex_size;
    uint32_t capacity;      /* total entries, exactly as requested */
    uint32_t window_s;
    uint32_t nstripes;      /* a power of two */
    uint32_t stripe_bits;   /* log2(nstripes) */
    uint32_t stripe_cap;    /* room per stripe: ceil(capacity / nstripes) */
    uint32_t nbuckets;      /* per stripe, a power of two >= stripe_cap */
    uint32_t bucket_bits;   /* log2(nbuckets) */
    uint32_t entries_off;   /* from the start of a stripe */
    uint64_t stripes_off;   /* from mem */
    uint64_t stripe_stride;
    uint64_t size;          /* replay_size(capacity) */
};

/*
 * A stripe's head.  head and used are only written under lock; used is
 * atomic so that replay_count() can sum the stripes without taking them.
 */
struct replay_stripe {
    pthread_mutex_t lock;
    uint32_t head;              /* ring slot of the oldest live entry */
    _Atomic uint32_t used;      /* live entries */
};

struct replay_entry {
    uint8_t fp[REPLAY_FP_LEN];
    int64_t ts;                 /* now_s when it was inserted */
    int32_t next;               /* next entry on the chain, or REPLAY_NIL */
    uint32_t pad;
};

_Static_assert(sizeof(struct replay_entry) == 32, "entries pack 2 a line");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
    "atomics in shared memory must be lock-free (address-free)");

/* Geometry shared by replay_size(), replay_init() and replay_attach(). */
struct replay_geom {
    uint32_t nstripes, stripe_bits, stripe_cap, nbuckets, bucket_bits;
    uint32_t entries_off;
    uint64_t stripes_off, stripe_stride, size;
};

#ifdef TELEMT_TEST_HOOKS
/*
 * Test hooks, compiled only into the unit tests' copy of this file (the
 * Makefile's TELEMT_TEST_HOOKS): not part of replay.h;
 * tests/unit/test_replay.c declares them itself.
 */
uint32_t replay_debug_stripe(const struct replay_table *t,
    const uint8_t fp[REPLAY_FP_LEN], uint32_t *nstripes);
int replay_debug_lock_stripe(struct replay_table *t, uint32_t stripe);
void replay_debug_corrupt_stripe(struct replay_table *t, uint32_t stripe,
    int how);
#endif

static uint64_t
round_up(uint64_t n, uint64_t to)
{
    return (n + to - 1) / to * to;
}

static uint32_t
log2_floor(uint64_t n)
{
    uint32_t b = 0;

    while (n >>= 1)
        b++;
    return b;
}

/*
 * Stripe count: about REPLAY_STRIPE_GOAL entries a stripe, between 64 and
 * 1024 stripes, but never fewer than REPLAY_STRIPE_MIN entries a stripe (a
 * small table gets fewer stripes).  Bigger stripes make the per-stripe
 * FIFO closer to one global FIFO; more stripes only matter for contention,
 * and a lock held for a few hundred nanoseconds per handshake is far from
 * contended at 64 stripes.  Returns 0 if the size does not fit size_t.
 */
static int
replay_geometry(uint32_t capacity, struct replay_geom *g)
{
    uint64_t n, hdr, bytes;

    if (capacity == 0)
        return 0;
    n = capacity / REPLAY_STRIPE_GOAL;
    if (n < REPLAY_MIN_STRIPES) {
        n = capacity / REPLAY_STRIPE_MIN;
        if (n > REPLAY_MIN_STRIPES)
            n = REPLAY_MIN_STRIPES;
    }
    if (n > REPLAY_MAX_STRIPES)
        n = REPLAY_MAX_STRIPES;
    if (n == 0)
        n = 1;
    g->stripe_bits = log2_floor(n);
    g->nstripes = (uint32_t)1 << g->stripe_bits;
    g->stripe_cap = (uint32_t)((capacity + (uint64_t)g->nstripes - 1) /
        g->nstripes);
    g->bucket_bits = log2_floor(g->stripe_cap);
    if (((uint64_t)1 << g->bucket_bits) < g->stripe_cap)
        g->bucket_bits++;
    g->nbuckets = (uint32_t)1 << g->bucket_bits;

    hdr = round_up(sizeof(struct replay_stripe), alignof(struct replay_entry));
    hdr = round_up(hdr + (uint64_t)g->nbuckets * sizeof(int32_t),
        alignof(struct replay_entry));
    g->entries_off = (uint32_t)hdr;
    g->stripe_stride = round_up(hdr +
        (uint64_t)g->stripe_cap * sizeof(struct replay_entry), REPLAY_LINE);
    g->stripes_off = round_up(sizeof(struct replay_table), REPLAY_LINE);
    bytes = g->stripes_off + g->stripe_stride * g->nstripes;
    if (bytes > SIZE_MAX)
        return 0;
    g->size = bytes;
    return 1;
}

size_t
replay_size(uint32_t capacity)
{
    struct replay_geom g;

    if (!replay_geometry(capacity, &g))
        return 0;
    return (size_t)g.size;
}

static struct replay_stripe *
stripe_at(struct replay_table *t, uint32_t i)
{
    return (struct replay_stripe *)((char *)t + t->stripes_off +
        t->stripe_stride * i);
}

static const struct replay_stripe *
stripe_at_const(const struct replay_table *t, uint32_t i)
{
    return (const struct replay_stripe *)((const char *)t +
        t->stripes_off + t->stripe_stride * i);
}

static int32_t *
stripe_buckets(struct replay_stripe *s)
{
    return (int32_t *)((char *)s + round_up(sizeof(*s),
        alignof(struct replay_entry)));
}

static struct replay_entry *
stripe_entries(const struct replay_table *t, struct replay_stripe *s)
{
    return (struct replay_entry *)((char *)s + t->entries_off);
}

/*
 * Entries a stripe holds: capacity spread so that the total is exactly
 * capacity (the first capacity % nstripes stripes hold one more).
 * Computed from the read-only header, never stored in the stripe, so a
 * dead process cannot have corrupted it.
 */
static uint32_t
stripe_cap(const struct replay_table *t, uint32_t i)
{
    return t->capacity / t->nstripes + (i < t->capacity % t->nstripes);
}

/*
 * Fingerprints are already random, so one multiply spreads them enough;
 * it also keeps structured test input (counters) from landing in one
 * stripe.  Stripe and bucket come from disjoint bits of the product, its
 * top bits being the best mixed.
 */
static uint64_t
fp_hash(const uint8_t fp[REPLAY_FP_LEN])
{
    uint64_t a, b;

    memcpy(&a, fp, sizeof(a));
    memcpy(&b, fp + sizeof(a), sizeof(b));
    return (a ^ b) * 0x9e3779b97f4a7c15ull;
}

static uint32_t
top_bits(uint64_t h, uint32_t bits)
{
    return bits == 0 ? 0 : (uint32_t)(h >> (64 - bits));
}

static uint32_t
hash_stripe(const struct replay_table *t, uint64_t h)
{
    return top_bits(h, t->stripe_bits);
}

static uint32_t
hash_bucket(const struct replay_table *t, uint64_t h)
{
    return top_bits(h << t->stripe_bits, t->bucket_bits);
}

static void
stripe_reset(const struct replay_table *t, struct replay_stripe *s)
{
    int32_t *bucket = stripe_buckets(s);

    for (uint32_t b = 0; b < t->nbuckets; b++)
        bucket[b] = REPLAY_NIL;
    s->head = 0;
    atomic_store_explicit(&s->used, 0, memory_order_relaxed);
}

struct replay_table *
replay_init(void *mem, uint32_t capacity, uint32_t window_s)
{
    struct replay_table *t = mem;
    pthread_mutexattr_t attr;
    struct replay_geom g;
    uint32_t i;

    if (mem == NULL || (uintptr_t)mem % alignof(max_align_t) != 0 ||
        !replay_geometry(capacity, &g))
        return NULL;
    t->version = REPLAY_VERSION;
    t->mutex_size = sizeof(pthread_mutex_t);
    t->capacity = capacity;
    t->window_s = window_s;
    t->nstripes = g.nstripes;
    t->stripe_bits = g.stripe_bits;
    t->stripe_cap = g.stripe_cap;
    t->nbuckets = g.nbuckets;
    t->bucket_bits = g.bucket_bits;
    t->entries_off = g.entries_off;
    t->stripes_off = g.stripes_off;
    t->stripe_stride = g.stripe_stride;
    t->size = g.size;

    if (pthread_mutexattr_init(&attr) != 0)
        return NULL;
    if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0) {
        pthread_mutexattr_destroy(&attr);
        return NULL;
    }
    for (i = 0; i < t->nstripes; i++) {
        struct replay_stripe *s = stripe_at(t, i);

        if (pthread_mutex_init(&s->lock, &attr) != 0)
            break;
        stripe_reset(t, s);
    }
    pthread_mutexattr_destroy(&attr);
    if (i < t->nstripes) {
        while (i-- > 0)
            pthread_mutex_destroy(&stripe_at(t, i)->lock);
        return NULL;
    }
    /* Last, so a half-built table never passes replay_attach(). */
    t->magic = REPLAY_MAGIC;
    return t;
}

/*
 * Adopt a table laid out by replay_init() in a region inherited from
 * another process (a new binary after an exec upgrade), len bytes long.
 * Returns the table, or NULL if mem does not hold a table this build can
 * use.  Its prototype is here, not in replay.h, until the contract grows
 * it: the upgrade path needs it, since calling replay_init() again would
 * re-initialise mutexes the old workers are still using.
 */
struct replay_table *
replay_attach(void *mem, size_t len)
{
    struct replay_table *t = mem;
    struct replay_geom g;

    if (mem == NULL || (uintptr_t)mem % alignof(max_align_t) != 0 ||
        len < sizeof(*t))
        return NULL;
    if (t->magic != REPLAY_MAGIC || t->version != REPLAY_VERSION ||
        t->mutex_size != sizeof(pthread_mutex_t) ||
        !replay_geometry(t->capacity, &g) || g.size > len ||
        t->size != g.size || t->nstripes != g.nstripes ||
        t->stripe_bits != g.stripe_bits || t->stripe_cap != g.stripe_cap ||
        t->nbuckets != g.nbuckets || t->bucket_bits != g.bucket_bits ||
        t->entries_off != g.entries_off || t->stripes_off != g.stripes_off ||
        t->stripe_stride != g.stripe_stride)
        return NULL;
    return t;
}

/*
 * Full consistency check of a stripe, run after its previous owner died
 * holding the lock.  Every walk is bounded: each chain entry must be a
 * live ring slot that hashes to that chain's bucket, and the chains
 * together must hold exactly used entries, which rules out cycles,
 * entries on two chains and live entries on none.  O(cap + nbuckets).
 */
static int
stripe_valid(const struct replay_table *t, struct replay_stripe *s,
    uint32_t cap)
{
    struct replay_entry *e = stripe_entries(t, s);
    int32_t *bucket = stripe_buckets(s);
    uint32_t used = atomic_load_explicit(&s->used, memory_order_relaxed);
    uint32_t seen = 0;

    if (s->head >= cap || used > cap)
        return 0;
    for (uint32_t b = 0; b < t->nbuckets; b++) {
        for (int32_t i = bucket[b]; i != REPLAY_NIL; i = e[i].next) {
            if (i < 0 || (uint32_t)i >= cap || seen >= used ||
                ((uint32_t)i + cap - s->head) % cap >= used ||
                hash_bucket(t, fp_hash(e[i].fp)) != b)
                return 0;
            seen++;
        }
    }
    return seen == used;
}

/*
 * Lock stripe i.  If its last owner died holding it, keep its contents
 * when they check out (a worker killed mid-connection must not forget the
 * stripe's fingerprints) and reset it otherwise; *reset reports that.
 */
static int
stripe_lock(struct replay_table *t, uint32_t i, int *reset)
{
    struct replay_stripe *s = stripe_at(t, i);
    int r;

    r = pthread_mutex_lock(&s->lock);
    if (r == EOWNERDEAD) {
        if (!stripe_valid(t, s, stripe_cap(t, i))) {
            stripe_reset(t, s);
            *reset = 1;
        }
        if (pthread_mutex_consistent(&s->lock) != 0) {
            pthread_mutex_unlock(&s->lock);
            return -1;
        }
        r = 0;
    }
    return r == 0 ? 0 : -1;
}

/*
 * Take entry idx off its chain.  The walk is bounded by the live count: a
 * longer chain, an index out of range or idx not on its chain means the
 * stripe is corrupt; returns -1 and the caller resets it.
 */
static int
stripe_unlink(const struct replay_table *t, struct replay_stripe *s,
    uint32_t cap, uint32_t used, uint32_t idx)
{
    struct replay_entry *e = stripe_entries(t, s);
    int32_t *link = &stripe_buckets(s)[hash_bucket(t, fp_hash(e[idx].fp))];

    for (uint32_t n = 0; n < used; n++) {
        int32_t i = *link;

        if (i < 0 || (uint32_t)i >= cap)
            return -1;
        if ((uint32_t)i == idx) {
            *link = e[i].next;
            return 0;
        }
        link = &e[i].next;
    }
    return -1;
}

/*
 * The locked part of replay_check_insert().  Returns 1 (replay), 0
 * (inserted) or -1 (the stripe is corrupt: reset it and call again).
 */
static int
stripe_check_insert(const struct replay_table *t, struct replay_stripe *s,
    uint32_t cap, uint64_t h, const uint8_t fp[REPLAY_FP_LEN], int64_t now_s)
{
    struct replay_entry *e = stripe_entries(t, s);
    int32_t *bucket = stripe_buckets(s);
    uint32_t b = hash_bucket(t, h);
    uint32_t head = s->head;
    uint32_t used = atomic_load_explicit(&s->used, memory_order_relaxed);
    int64_t oldest;
    uint32_t idx, n;
    int32_t i;

    if (head >= cap || used > cap)
        return -1;
    /* Live means inserted at or after oldest; saturate instead of wrap. */
    oldest = now_s < INT64_MIN + (int64_t)t->window_s ? INT64_MIN :
        now_s - (int64_t)t->window_s;

    /*
     * Reclaim expired entries from the head.  Threads may insert slightly
     * out of time order, so a few expired entries can hide behind a live
     * one; they stay on their chains until the ring reaches them, and the
     * lookup below ignores them.
     */
    while (used > 0 && e[head].ts < oldest) {
        if (stripe_unlink(t, s, cap, used, head) != 0)
            return -1;
        head = head + 1 == cap ? 0 : head + 1;
        used--;
    }

    for (i = bucket[b], n = 0; i != REPLAY_NIL; i = e[i].next, n++) {
        if (i < 0 || (uint32_t)i >= cap || n >= used)
            return -1;
        if (e[i].ts >= oldest && memcmp(e[i].fp, fp, REPLAY_FP_LEN) == 0) {
            s->head = head;
            atomic_store_explicit(&s->used, used, memory_order_relaxed);
            return 1;
        }
    }

    if (used == cap) {
        if (stripe_unlink(t, s, cap, used, head) != 0)
            return -1;
        head = head + 1 == cap ? 0 : head + 1;
        used--;
    }
    /*
     * Fill the slot before linking it, and count it last: a process dying
     * in between leaves at worst a chain entry outside the live range,
     * which stripe_valid() catches.
     */
    idx = head + used < cap ? head + used : head + used - cap;
    memcpy(e[idx].fp, fp, REPLAY_FP_LEN);
    e[idx].ts = now_s;
    e[idx].next = bucket[b];
    bucket[b] = (int32_t)idx;
    s->head = head;
    atomic_store_explicit(&s->used, used + 1, memory_order_relaxed);
    return 0;
}

int
replay_check_insert(struct replay_table *t, const uint8_t fp[REPLAY_FP_LEN],
    int64_t now_s)
{
    uint64_t h = fp_hash(fp);
    uint32_t i = hash_stripe(t, h), cap = stripe_cap(t, i);
    struct replay_stripe *s = stripe_at(t, i);
    int r, reset = 0;

    if (stripe_lock(t, i, &reset) != 0)
        return -1;
    r = stripe_check_insert(t, s, cap, h, fp, now_s);
    if (r < 0) {
        /* Corrupt: forget the stripe; an empty stripe cannot fail. */
        stripe_reset(t, s);
        reset = 1;
        r = stripe_check_insert(t, s, cap, h, fp, now_s);
    }
    pthread_mutex_unlock(&s->lock);
    if (reset)
        log_warnx("replay: stripe %u was inconsistent and has been reset",
            (unsigned)i);
    return r;
}

uint64_t
replay_count(const struct replay_table *t)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < t->nstripes; i++)
        n += atomic_load_explicit(&stripe_at_const(t, i)->used,
            memory_order_relaxed);
    return n;
}

#ifdef TELEMT_TEST_HOOKS
/* Test hook: the stripe fp belongs to, and the stripe count if asked. */
uint32_t
replay_debug_stripe(const struct replay_table *t,
    const uint8_t fp[REPLAY_FP_LEN], uint32_t *nstripes)
{
    if (nstripes != NULL)
        *nstripes = t->nstripes;
    return hash_stripe(t, fp_hash(fp));
}

/*
 * Test hook: lock a stripe and return with it held (a child process then
 * exits, to play a worker dying mid-insert).  Returns 0 or -1.
 */
int
replay_debug_lock_stripe(struct replay_table *t, uint32_t stripe)
{
    int reset = 0;

    if (stripe >= t->nstripes)
        return -1;
    return stripe_lock(t, stripe, &reset);
}

/*
 * Test hook: damage a stripe the way a writer dying mid-update (or a
 * stray write) could.  how: 0 a chain that loops, 1 an index out of
 * range, 2 head and used out of range, 3 a chain entry outside the live
 * range (a slot linked but never counted).
 */
void
replay_debug_corrupt_stripe(struct replay_table *t, uint32_t stripe,
    int how)
{
    struct replay_stripe *s = stripe_at(t, stripe);
    struct replay_entry *e = stripe_entries(t, s);
    int32_t *bucket = stripe_buckets(s);
    uint32_t cap = stripe_cap(t, stripe);
    uint32_t used = atomic_load_explicit(&s->used, memory_order_relaxed);

    switch (how) {
    case 0:
        for (uint32_t b = 0; b < t->nbuckets; b++)
            bucket[b] = 0;
        e[0].next = 0;
        break;
    case 1:
        for (uint32_t b = 0; b < t->nbuckets; b++)
            bucket[b] = (int32_t)cap + 7;
        break;
    case 2:
        s->head = cap + 3;
        atomic_store_explicit(&s->used, cap + 9, memory_order_relaxed);
        break;
    default:
        if (used < cap) {
            uint32_t idx = (s->head + used) % cap;

            memset(e[idx].fp, 0xee, REPLAY_FP_LEN);
            e[idx].ts = 0;
            e[idx].next = bucket[0];
            bucket[0] = (int32_t)idx;
        }
        break;
    }
}
#endif
