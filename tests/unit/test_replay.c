/*
 * test_replay.c - the replay table: the window, FIFO eviction at
 * capacity, no false replays, two processes x 50 threads sharing one
 * table (nothing lost, each duplicate new exactly once), and a worker
 * dying with a stripe locked, with or without leaving it damaged.
 * Works with CK_FORK=no: forked children never touch Check and _exit().
 */
#include <check.h>

#include <sys/mman.h>
#include <sys/wait.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replay.h"

/* Test hooks and the pending attach call, defined in replay.c. */
struct replay_table *replay_attach(void *mem, size_t len);
uint32_t replay_debug_stripe(const struct replay_table *t,
    const uint8_t fp[REPLAY_FP_LEN], uint32_t *nstripes);
int replay_debug_lock_stripe(struct replay_table *t, uint32_t stripe);
void replay_debug_corrupt_stripe(struct replay_table *t, uint32_t stripe,
    int how);

#define NPROC           2
#define NTHREAD         50
#define PER_THREAD      300     /* 2 x 50 x 300 = 30000 of 65536 */
#define NDUP            1000

/* A shared mapping holding a fresh table; unmap with table_free(). */
struct table_map {
    void *mem;
    size_t len;
    struct replay_table *t;
};

static void
table_new(struct table_map *m, uint32_t capacity, uint32_t window_s)
{
    m->len = replay_size(capacity);
    ck_assert_uint_gt(m->len, 0);
    m->mem = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m->mem, MAP_FAILED);
    m->t = replay_init(m->mem, capacity, window_s);
    ck_assert_ptr_nonnull(m->t);
}

static void
table_free(struct table_map *m)
{
    munmap(m->mem, m->len);
}

/* splitmix64's finaliser: a bijection, so distinct ids never collide. */
static uint64_t
mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The random-looking fingerprint number id; distinct ids, distinct fps. */
static void
fp_make(uint64_t id, uint8_t fp[REPLAY_FP_LEN])
{
    uint64_t a = mix64(id), b = mix64(id ^ 0x5bd1e9955bd1e995ull);

    memcpy(fp, &a, sizeof(a));
    memcpy(fp + sizeof(a), &b, sizeof(b));
}

static uint32_t
nstripes_of(const struct replay_table *t)
{
    uint8_t fp[REPLAY_FP_LEN];
    uint32_t n;

    fp_make(0, fp);
    replay_debug_stripe(t, fp, &n);
    return n;
}

/*
 * k fingerprints for each stripe, ordered round-robin (entry j falls in
 * stripe j % nstripes), so that every stripe sees the same traffic and
 * the table behaves as one exact FIFO.  Ids start at first; returns a
 * malloc'ed array of nstripes * k fingerprints.
 */
static uint8_t *
fps_round_robin(const struct replay_table *t, uint32_t k, uint64_t first)
{
    uint32_t n = nstripes_of(t), full = 0;
    uint32_t *have = calloc(n, sizeof(*have));
    uint8_t *out = malloc((size_t)n * k * REPLAY_FP_LEN);
    uint8_t fp[REPLAY_FP_LEN];

    ck_assert_ptr_nonnull(have);
    ck_assert_ptr_nonnull(out);
    for (uint64_t id = first; full < n; id++) {
        uint32_t s;

        fp_make(id, fp);
        s = replay_debug_stripe(t, fp, NULL);
        ck_assert_uint_lt(s, n);
        if (have[s] == k)
            continue;
        memcpy(out + ((size_t)have[s] * n + s) * REPLAY_FP_LEN, fp,
            REPLAY_FP_LEN);
        if (++have[s] == k)
            full++;
    }
    free(have);
    return out;
}

START_TEST(test_size_init_attach)
{
    static const uint32_t caps[] = { 1, 7, 100, 1024, 5000, 65536 };
    struct table_map m;
    uint8_t fp[REPLAY_FP_LEN];
    uint8_t *bytes;
    size_t prev = 0;

    ck_assert_uint_eq(replay_size(0), 0);
    ck_assert_ptr_null(replay_init(&m, 0, 60));
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        size_t sz = replay_size(caps[i]);

        ck_assert_uint_gt(sz, prev);
        ck_assert_uint_ge(sz, (size_t)caps[i] * REPLAY_FP_LEN);
        prev = sz;
        table_new(&m, caps[i], 60);
        ck_assert_uint_eq(replay_count(m.t), 0);
        fp_make(i, fp);
        ck_assert_int_eq(replay_check_insert(m.t, fp, 1), 0);
        ck_assert_int_eq(replay_check_insert(m.t, fp, 1), 1);
        ck_assert_uint_eq(replay_count(m.t), 1);
        ck_assert_ptr_eq(replay_attach(m.mem, m.len), m.t);
        ck_assert_ptr_null(replay_attach(m.mem, m.len - 1));
        table_free(&m);
    }
    /* The configured maximum still has a sane size. */
    ck_assert_uint_lt(replay_size(16777216), (size_t)1 << 30);

    /* A region that is not a table, or a damaged header, is refused. */
    table_new(&m, 1024, 60);
    bytes = m.mem;
    bytes[0] ^= 1;
    ck_assert_ptr_null(replay_attach(m.mem, m.len));
    bytes[0] ^= 1;
    ck_assert_ptr_eq(replay_attach(m.mem, m.len), m.t);
    bytes[16] ^= 1;                     /* capacity */
    ck_assert_ptr_null(replay_attach(m.mem, m.len));
    table_free(&m);
}
END_TEST

START_TEST(test_replay_within_window)
{
    struct table_map m;
    uint8_t a[REPLAY_FP_LEN], b[REPLAY_FP_LEN];

    table_new(&m, 1024, 120);
    fp_make(1, a);
    fp_make(2, b);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1000), 0);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1000), 1);
    ck_assert_int_eq(replay_check_insert(m.t, b, 1001), 0);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1060), 1);
    /* The window is inclusive: window seconds later is still a replay. */
    ck_assert_int_eq(replay_check_insert(m.t, a, 1120), 1);
    ck_assert_int_eq(replay_check_insert(m.t, b, 1121), 1);
    /* A replay changes nothing: its time is not refreshed. */
    ck_assert_uint_eq(replay_count(m.t), 2);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1121), 0);
    table_free(&m);
}
END_TEST

START_TEST(test_accepted_again_after_window)
{
    struct table_map m;
    uint8_t a[REPLAY_FP_LEN];

    table_new(&m, 1024, 120);
    fp_make(7, a);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1000), 0);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1121), 0);
    /* Remembered again from 1121 on. */
    ck_assert_int_eq(replay_check_insert(m.t, a, 1122), 1);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1241), 1);
    ck_assert_int_eq(replay_check_insert(m.t, a, 1242), 0);
    ck_assert_uint_le(replay_count(m.t), 2);
    table_free(&m);
}
END_TEST

/* Expired entries are reclaimed as soon as their stripe is written. */
START_TEST(test_expired_reclaimed)
{
    const uint32_t cap = 4096;
    struct table_map m;
    uint32_t n;
    uint8_t *fps;

    table_new(&m, cap, 30);
    n = nstripes_of(m.t);
    ck_assert_uint_eq(cap % n, 0);
    fps = fps_round_robin(m.t, cap / n + 1, 100);
    for (uint32_t i = 0; i < cap; i++)
        ck_assert_int_eq(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            50), 0);
    ck_assert_uint_eq(replay_count(m.t), cap);
    /* One new entry per stripe, after the window: only those remain. */
    for (uint32_t i = cap; i < cap + n; i++)
        ck_assert_int_eq(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            81), 0);
    ck_assert_uint_eq(replay_count(m.t), n);
    for (uint32_t i = 0; i < cap; i += 97)
        ck_assert_int_eq(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            81), 0);
    free(fps);
    table_free(&m);
}
END_TEST

/*
 * 10 x capacity inserts, spread evenly over the stripes: the table is an
 * exact FIFO.  The last capacity - (one stripe) entries are all still
 * there (in fact all of the last capacity), the capacity before them are
 * all gone, and the count never exceeds capacity.
 */
START_TEST(test_capacity_fifo)
{
    const uint32_t cap = 4096;
    struct table_map m;
    uint32_t n, total = 10 * cap;
    uint8_t *fps;

    table_new(&m, cap, 3600);
    n = nstripes_of(m.t);
    fps = fps_round_robin(m.t, total / n, 1000000);
    for (uint32_t i = 0; i < total; i++) {
        ck_assert_int_eq(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            10 + i / 1000), 0);
        ck_assert_uint_le(replay_count(m.t), cap);
    }
    ck_assert_uint_eq(replay_count(m.t), cap);
    for (uint32_t i = total - (cap - cap / n); i < total; i++)
        ck_assert_msg(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            60) == 1, "entry %u of %u forgotten", i, total);
    for (uint32_t i = total - cap; i < total; i++)
        ck_assert_int_eq(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            60), 1);
    /* Checking these re-inserts them, so they come after the others. */
    for (uint32_t i = total - 2 * cap; i < total - cap; i++)
        ck_assert_int_eq(replay_check_insert(m.t, fps + i * REPLAY_FP_LEN,
            60), 0);
    ck_assert_uint_eq(replay_count(m.t), cap);
    free(fps);
    table_free(&m);
}
END_TEST

/*
 * The same with random arrival order and a capacity that is not a
 * multiple of the stripe count: each stripe is its own FIFO, so a burst
 * into one stripe evicts early, but the count is exactly capacity once
 * full and the recent past is kept.
 */
START_TEST(test_capacity_random_order)
{
    const uint32_t cap = 5000, total = 10 * cap;
    struct table_map m;
    uint8_t fp[REPLAY_FP_LEN];
    uint32_t kept = 0;

    table_new(&m, cap, 3600);
    for (uint32_t i = 0; i < total; i++) {
        fp_make(2000000 + i, fp);
        ck_assert_int_eq(replay_check_insert(m.t, fp, 10), 0);
        ck_assert_uint_le(replay_count(m.t), cap);
    }
    ck_assert_uint_eq(replay_count(m.t), cap);
    /*
     * Newest first: re-inserting a forgotten entry evicts only entries
     * newer than it in its stripe, which were checked already.
     */
    for (uint32_t i = total; i-- > total - cap;) {
        int r;

        fp_make(2000000 + i, fp);
        r = replay_check_insert(m.t, fp, 10);
        if (i >= total - cap / 4)
            ck_assert_msg(r == 1, "entry %u of %u forgotten", i, total);
        kept += r == 1;
    }
    ck_assert_uint_ge(kept, cap * 85 / 100);
    table_free(&m);
}
END_TEST

/* 1,000,000 distinct fingerprints, time passing: not one replay. */
START_TEST(test_no_false_replays)
{
    struct table_map m;
    uint8_t fp[REPLAY_FP_LEN];
    uint32_t replays = 0, errors = 0;

    table_new(&m, 65536, 10);
    for (uint32_t i = 0; i < 1000000; i++) {
        int r;

        fp_make(3000000 + (uint64_t)i, fp);
        r = replay_check_insert(m.t, fp, 100 + i / 20000);
        replays += r == 1;
        errors += r < 0;
    }
    ck_assert_uint_eq(replays, 0);
    ck_assert_uint_eq(errors, 0);
    ck_assert_uint_le(replay_count(m.t), 65536);
    table_free(&m);
}
END_TEST

/* What the threads of both processes share (lives in a MAP_SHARED page). */
struct shared {
    _Atomic uint32_t ready;
    _Atomic uint32_t false_replays;
    _Atomic uint32_t errors;
    _Atomic uint32_t replays;
    _Atomic uint32_t fresh[NDUP];       /* times each duplicate was new */
};

struct worker_arg {
    struct replay_table *t;
    struct shared *sh;
    uint32_t g;                         /* 0 .. NPROC * NTHREAD - 1 */
};

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Start together across both processes, so the inserts overlap; give up
 * waiting after 10 s (a thread that failed to start must not hang us).
 */
static void
start_line(struct shared *sh)
{
    uint64_t deadline = now_ns() + 10000000000ull;

    atomic_fetch_add(&sh->ready, 1);
    while (atomic_load(&sh->ready) < NPROC * NTHREAD && now_ns() < deadline)
        sched_yield();
}

static void *
insert_distinct(void *p)
{
    struct worker_arg *a = p;
    uint8_t fp[REPLAY_FP_LEN];

    start_line(a->sh);
    for (uint32_t k = 0; k < PER_THREAD; k++) {
        int r;

        fp_make((uint64_t)a->g * 1000000 + k, fp);
        r = replay_check_insert(a->t, fp, 500);
        if (r == 1)
            atomic_fetch_add(&a->sh->false_replays, 1);
        else if (r < 0)
            atomic_fetch_add(&a->sh->errors, 1);
    }
    return NULL;
}

static void *
insert_same(void *p)
{
    struct worker_arg *a = p;
    uint8_t fp[REPLAY_FP_LEN];

    start_line(a->sh);
    /* Each thread starts elsewhere in the set; all of them race. */
    for (uint32_t k = 0; k < NDUP; k++) {
        uint32_t j = (k + a->g * 37) % NDUP;
        int r;

        fp_make(7000000 + j, fp);
        r = replay_check_insert(a->t, fp, 500);
        if (r == 0)
            atomic_fetch_add(&a->sh->fresh[j], 1);
        else if (r == 1)
            atomic_fetch_add(&a->sh->replays, 1);
        else
            atomic_fetch_add(&a->sh->errors, 1);
    }
    return NULL;
}

/* Run NTHREAD threads of fn in this process as process number proc. */
static int
run_threads(struct replay_table *t, struct shared *sh, uint32_t proc,
    void *(*fn)(void *))
{
    pthread_t tid[NTHREAD];
    struct worker_arg arg[NTHREAD];
    int started = 0, rc = 0;

    for (int i = 0; i < NTHREAD; i++) {
        arg[i] = (struct worker_arg){ t, sh, proc * NTHREAD + (uint32_t)i };
        if (pthread_create(&tid[i], NULL, fn, &arg[i]) != 0) {
            rc = -1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    return rc;
}

/*
 * Fork one child; both processes run NTHREAD threads of fn on the shared
 * table.  The child reports only through sh and its exit status.
 */
static void
run_two_processes(struct replay_table *t, struct shared *sh,
    void *(*fn)(void *))
{
    pid_t pid;
    int status, rc;

    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0)
        _exit(run_threads(t, sh, 1, fn) == 0 ? 0 : 1);
    rc = run_threads(t, sh, 0, fn);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(rc, 0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_eq(atomic_load(&sh->ready), NPROC * NTHREAD);
}

static struct shared *
shared_new(void)
{
    struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
        MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    ck_assert_ptr_ne(sh, MAP_FAILED);
    return sh;
}

START_TEST(test_concurrent_distinct)
{
    const uint32_t total = NPROC * NTHREAD * PER_THREAD;
    struct table_map m;
    struct shared *sh = shared_new();
    uint8_t fp[REPLAY_FP_LEN];

    table_new(&m, 65536, 600);
    run_two_processes(m.t, sh, insert_distinct);
    ck_assert_uint_eq(atomic_load(&sh->false_replays), 0);
    ck_assert_uint_eq(atomic_load(&sh->errors), 0);
    ck_assert_uint_eq(replay_count(m.t), total);
    /* Nothing lost: every fingerprint of every thread is remembered. */
    for (uint32_t g = 0; g < NPROC * NTHREAD; g++) {
        for (uint32_t k = 0; k < PER_THREAD; k++) {
            fp_make((uint64_t)g * 1000000 + k, fp);
            ck_assert_msg(replay_check_insert(m.t, fp, 501) == 1,
                "thread %u fingerprint %u lost", g, k);
        }
    }
    ck_assert_uint_eq(replay_count(m.t), total);
    munmap(sh, sizeof(*sh));
    table_free(&m);
}
END_TEST

START_TEST(test_concurrent_duplicates)
{
    struct table_map m;
    struct shared *sh = shared_new();

    table_new(&m, 65536, 600);
    run_two_processes(m.t, sh, insert_same);
    ck_assert_uint_eq(atomic_load(&sh->errors), 0);
    for (uint32_t j = 0; j < NDUP; j++)
        ck_assert_msg(atomic_load(&sh->fresh[j]) == 1,
            "fingerprint %u new %u times", j, atomic_load(&sh->fresh[j]));
    ck_assert_uint_eq(atomic_load(&sh->replays),
        (NPROC * NTHREAD - 1) * NDUP);
    ck_assert_uint_eq(replay_count(m.t), NDUP);
    munmap(sh, sizeof(*sh));
    table_free(&m);
}
END_TEST

/* A fingerprint id >= from that lands in stripe s. */
static uint64_t
id_in_stripe(const struct replay_table *t, uint32_t s, uint64_t from)
{
    uint8_t fp[REPLAY_FP_LEN];

    for (;; from++) {
        fp_make(from, fp);
        if (replay_debug_stripe(t, fp, NULL) == s)
            return from;
    }
}

/*
 * A child locks a stripe and, if how >= 0, damages it; then it exits
 * holding the lock, like a worker killed mid-insert.
 */
static void
die_holding(struct replay_table *t, uint32_t s, int how)
{
    pid_t pid;
    int status;

    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if (replay_debug_lock_stripe(t, s) != 0)
            _exit(1);
        if (how >= 0)
            replay_debug_corrupt_stripe(t, s, how);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}

/* The stripe's owner died but left it whole: its entries are kept. */
START_TEST(test_robust_owner_died)
{
    struct table_map m;
    uint8_t fp[REPLAY_FP_LEN];
    uint64_t a, b;
    uint32_t s;

    table_new(&m, 4096, 600);
    fp_make(1, fp);
    s = replay_debug_stripe(m.t, fp, NULL);
    a = id_in_stripe(m.t, s, 10);
    b = id_in_stripe(m.t, s, a + 1);
    fp_make(a, fp);
    ck_assert_int_eq(replay_check_insert(m.t, fp, 100), 0);

    die_holding(m.t, s, -1);
    ck_assert_int_eq(replay_check_insert(m.t, fp, 101), 1);
    fp_make(b, fp);
    ck_assert_int_eq(replay_check_insert(m.t, fp, 101), 0);
    ck_assert_int_eq(replay_check_insert(m.t, fp, 101), 1);

    /* And again: the lock stays usable after each recovery. */
    die_holding(m.t, s, -1);
    ck_assert_int_eq(replay_check_insert(m.t, fp, 102), 1);
    ck_assert_uint_eq(replay_count(m.t), 2);
    table_free(&m);
}
END_TEST

/*
 * The owner died leaving the stripe damaged (each way the hook knows),
 * or the stripe was damaged under a live lock: no hang, no stray index,
 * the stripe is reset and works; other stripes keep their entries.
 */
START_TEST(test_robust_damaged_stripe)
{
    for (int dead = 1; dead >= 0; dead--) {
        for (int how = 0; how < (dead ? 4 : 3); how++) {
            struct table_map m;
            uint8_t fp[REPLAY_FP_LEN], other[REPLAY_FP_LEN];
            uint64_t id = 100;
            uint32_t s;

            table_new(&m, 4096, 600);
            fp_make(1, fp);
            s = replay_debug_stripe(m.t, fp, NULL);
            for (int i = 0; i < 5; i++) {
                id = id_in_stripe(m.t, s, id + 1);
                fp_make(id, fp);
                ck_assert_int_eq(replay_check_insert(m.t, fp, 100), 0);
            }
            fp_make(id_in_stripe(m.t, (s + 1) % nstripes_of(m.t), 1),
                other);
            ck_assert_int_eq(replay_check_insert(m.t, other, 100), 0);

            if (dead)
                die_holding(m.t, s, how);
            else
                replay_debug_corrupt_stripe(m.t, s, how);
            fp_make(id_in_stripe(m.t, s, id + 1), fp);
            ck_assert_msg(replay_check_insert(m.t, fp, 101) == 0,
                "dead %d how %d", dead, how);
            ck_assert_int_eq(replay_check_insert(m.t, fp, 101), 1);
            /* The damaged stripe was forgotten, the other one was not. */
            ck_assert_uint_eq(replay_count(m.t), 2);
            ck_assert_int_eq(replay_check_insert(m.t, other, 101), 1);
            table_free(&m);
        }
    }
}
END_TEST

Suite *replay_suite(void);

Suite *
replay_suite(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("table");
    TCase *tp = tcase_create("processes");

    tcase_add_test(tc, test_size_init_attach);
    tcase_add_test(tc, test_replay_within_window);
    tcase_add_test(tc, test_accepted_again_after_window);
    tcase_add_test(tc, test_expired_reclaimed);
    tcase_add_test(tc, test_capacity_fifo);
    tcase_add_test(tc, test_capacity_random_order);
    tcase_add_test(tc, test_no_false_replays);
    suite_add_tcase(s, tc);
    /* Sanitizers and 100 threads: generous, a hang still fails. */
    tcase_set_timeout(tc, 60);
    tcase_set_timeout(tp, 60);
    tcase_add_test(tp, test_concurrent_distinct);
    tcase_add_test(tp, test_concurrent_duplicates);
    tcase_add_test(tp, test_robust_owner_died);
    tcase_add_test(tp, test_robust_damaged_stripe);
    suite_add_tcase(s, tp);
    return s;
}
