/*
 * test_srcguard.c - the per-address table: keys (IPv4 host, IPv6 /64,
 * v4-mapped), entries found, claimed, recycled when idle and refused when
 * every one is busy, the search cap, the failure wait (free failures,
 * doubling, the cap, the decay) and 8 threads sharing one address.
 */
#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "srcguard.h"

static uint64_t
key_of(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return srcguard_key((struct sockaddr *)&ss);
}

START_TEST(test_keys)
{
    ck_assert_uint_eq(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:2:ff::9"));
    ck_assert_uint_ne(key_of("2001:db8:1:2::1"), key_of("2001:db8:1:3::1"));
    ck_assert_uint_eq(key_of("::ffff:10.1.2.3"), key_of("10.1.2.3"));
    ck_assert_uint_ne(key_of("10.1.2.3"), key_of("10.1.2.4"));
    ck_assert_uint_ne(key_of("::"), 0);
    ck_assert_uint_ne(key_of("0.0.0.0"), key_of("::"));
}
END_TEST

START_TEST(test_entries)
{
    struct srcguard_table *t = calloc(1, sizeof(*t));
    uint64_t a = key_of("10.0.0.1"), b = key_of("10.0.0.2");
    struct srcguard_entry *ea, *eb;
    int64_t now = 1000000;

    ck_assert_ptr_nonnull(t);
    ea = srcguard_get(t, a, now);
    eb = srcguard_get(t, b, now);
    ck_assert_ptr_nonnull(ea);
    ck_assert_ptr_nonnull(eb);
    ck_assert_ptr_ne(ea, eb);
    ck_assert_ptr_eq(srcguard_get(t, a, now + 1), ea);
    ck_assert_int_eq(srcguard_hs_enter(ea, a), 1);
    ck_assert_int_eq(srcguard_hs_enter(ea, a), 2);
    srcguard_hs_leave(ea, a);
    srcguard_hs_leave(ea, a);
    srcguard_hs_leave(ea, a);               /* one too many: clamped */
    ck_assert_int_eq(srcguard_hs_enter(ea, a), 1);
    /* A count for another key does not touch this entry. */
    ck_assert_int_eq(srcguard_hs_enter(ea, b), 0);
    srcguard_hs_leave(ea, a);

    /* Every entry busy: a new address goes unguarded. */
    for (uint32_t i = 0; i < SRCGUARD_SLOTS; i++) {
        uint64_t k = UINT64_C(0x100000000) + i;

        if (atomic_load(&t->e[i].key) == 0)
            atomic_store(&t->e[i].key, k);
        atomic_store(&t->e[i].hs, 1);
        atomic_store(&t->e[i].seen_ms, now);
    }
    ck_assert_ptr_null(srcguard_get(t, key_of("10.9.9.9"), now));
    /* Busy but old is still busy; idle and old may be recycled. */
    ck_assert_ptr_null(srcguard_get(t, key_of("10.9.9.9"), now + 3600000));
    for (uint32_t i = 0; i < SRCGUARD_SLOTS; i++)
        atomic_store(&t->e[i].hs, 0);
    ck_assert_ptr_null(srcguard_get(t, key_of("10.9.9.9"), now + 1000));
    eb = srcguard_get(t, key_of("10.9.9.9"), now + 3600000);
    ck_assert_ptr_nonnull(eb);
    ck_assert_int_eq(atomic_load(&eb->hs), 0);
    ck_assert_uint_eq(atomic_load(&eb->score), 0);
    free(t);
}
END_TEST

START_TEST(test_search_cap)
{
    struct srcguard_table *t = calloc(1, sizeof(*t));
    uint64_t a = key_of("10.0.0.1");
    struct srcguard_entry *e;
    int64_t retry = -1;

    ck_assert_ptr_nonnull(t);
    e = srcguard_get(t, a, 5000);
    /* No failures lately: no cap (a NAT address of many users). */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(srcguard_search_begin(e, a, 2, 5000, &retry), 1);
    for (int i = 0; i < 10; i++)
        srcguard_search_end(e, a, 0, 5000, 0);
    ck_assert_int_eq(atomic_load(&e->searching), 0);
    /* Past the free failures (no wait here), the cap holds. */
    for (int i = 0; i <= SRCGUARD_FREE_FAILS; i++) {
        ck_assert_int_eq(srcguard_search_begin(e, a, 2, 5000, &retry), 1);
        srcguard_search_end(e, a, 1, 5000, 0);
    }
    ck_assert_int_eq(srcguard_search_begin(e, a, 2, 5000, &retry), 1);
    ck_assert_int_eq(srcguard_search_begin(e, a, 2, 5000, &retry), 1);
    ck_assert_int_eq(srcguard_search_begin(e, a, 2, 5000, &retry), 0);
    ck_assert_int_gt(retry, 0);
    srcguard_search_end(e, a, 0, 5000, 0);
    ck_assert_int_eq(srcguard_search_begin(e, a, 2, 5000, &retry), 1);
    srcguard_search_end(e, a, 0, 5000, 0);
    srcguard_search_end(e, a, 0, 5000, 0);
    ck_assert_int_eq(atomic_load(&e->searching), 0);
    free(t);
}
END_TEST

/* Fail n searches at time now; the wait that follows, in ms. */
static int64_t
fail_n(struct srcguard_entry *e, uint64_t k, int n, int64_t now, int max)
{
    int64_t retry = 0;

    for (int i = 0; i < n; i++) {
        atomic_store(&e->wait_until_ms, 0);
        ck_assert_int_eq(srcguard_search_begin(e, k, 1, now, &retry), 1);
        srcguard_search_end(e, k, 1, now, max);
    }
    if (srcguard_search_begin(e, k, 1, now, &retry)) {
        srcguard_search_end(e, k, 0, now, max);
        return 0;
    }
    return retry;
}

START_TEST(test_fail_wait)
{
    struct srcguard_table *t = calloc(1, sizeof(*t));
    uint64_t a = key_of("10.0.0.1");
    struct srcguard_entry *e;
    int64_t now = 10000000;

    ck_assert_ptr_nonnull(t);
    e = srcguard_get(t, a, now);
    /* The first failures are free: a user mistyping a secret. */
    ck_assert_int_eq(fail_n(e, a, SRCGUARD_FREE_FAILS, now, 1000), 0);
    ck_assert_int_eq(fail_n(e, a, 1, now, 1000), SRCGUARD_BASE_DELAY_MS);
    ck_assert_int_eq(fail_n(e, a, 1, now, 1000),
        2 * SRCGUARD_BASE_DELAY_MS);
    ck_assert_int_eq(fail_n(e, a, 1, now, 1000),
        4 * SRCGUARD_BASE_DELAY_MS);
    ck_assert_int_eq(fail_n(e, a, 20, now, 1000), 1000);    /* capped */
    ck_assert_double_eq_tol(srcguard_score(e, now),
        SRCGUARD_FREE_FAILS + 23, 0.01);
    /* The wait runs out; a success leaves the score alone. */
    ck_assert_int_eq(fail_n(e, a, 0, now + 1000, 1000), 0);
    /* A half-life later the score is half. */
    ck_assert_double_eq_tol(srcguard_score(e, now + SRCGUARD_HALF_LIFE_MS),
        (SRCGUARD_FREE_FAILS + 23) / 2.0, 0.1);
    ck_assert_double_eq_tol(srcguard_score(e,
        now + 20 * SRCGUARD_HALF_LIFE_MS), 0, 0.001);
    /* An hour later the address is as good as new. */
    ck_assert_int_eq(fail_n(e, a, 1, now + 3600000, 1000), 0);
    /* No wait at all with fail_delay_max = 0. */
    ck_assert_int_eq(fail_n(e, a, 30, now + 3600001, 0), 0);
    ck_assert_int_eq(srcguard_delay_ms(1e9, 700), 700);
    ck_assert_int_eq(srcguard_delay_ms(SRCGUARD_FREE_FAILS, 700), 0);
    free(t);
}
END_TEST

#define NTHREADS    8
#define ROUNDS      20000

struct share {
    struct srcguard_entry *e;
    uint64_t key;
    atomic_int inside, most;
    atomic_long taken;
};

static void *
searcher(void *arg)
{
    struct share *s = arg;
    int64_t retry;

    for (int i = 0; i < ROUNDS; i++) {
        int n;

        srcguard_hs_enter(s->e, s->key);
        if (srcguard_search_begin(s->e, s->key, 2, 1, &retry)) {
            n = atomic_fetch_add(&s->inside, 1) + 1;
            for (int m = atomic_load(&s->most); n > m &&
                !atomic_compare_exchange_weak(&s->most, &m, n);)
                ;
            atomic_fetch_add(&s->taken, 1);
            atomic_fetch_sub(&s->inside, 1);
            srcguard_search_end(s->e, s->key, 0, 1, 0);
        }
        srcguard_hs_leave(s->e, s->key);
    }
    return NULL;
}

START_TEST(test_threads)
{
    struct srcguard_table *t = calloc(1, sizeof(*t));
    struct share s;
    pthread_t th[NTHREADS];

    ck_assert_ptr_nonnull(t);
    memset(&s, 0, sizeof(s));
    s.key = key_of("2001:db8::1");
    s.e = srcguard_get(t, s.key, 1);
    /* A failing address, so that the cap applies (and no wait). */
    for (int i = 0; i <= SRCGUARD_FREE_FAILS; i++) {
        int64_t retry;

        ck_assert_int_eq(srcguard_search_begin(s.e, s.key, 2, 1, &retry), 1);
        srcguard_search_end(s.e, s.key, 1, 1, 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, searcher, &s), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_le(atomic_load(&s.most), 2);
    ck_assert_int_gt(atomic_load(&s.taken), 0);
    ck_assert_int_eq(atomic_load(&s.e->searching), 0);
    ck_assert_int_eq(atomic_load(&s.e->hs), 0);
    free(t);
}
END_TEST

Suite *srcguard_suite(void);

Suite *
srcguard_suite(void)
{
    Suite *s = suite_create("srcguard");
    TCase *tc = tcase_create("srcguard");

    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_entries);
    tcase_add_test(tc, test_search_cap);
    tcase_add_test(tc, test_fail_wait);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return s;
}
