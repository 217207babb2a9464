/*
 * test_stats.c - the shared region: its layout and accessors, and the
 * promise that counters updated from several processes and threads at
 * once add up exactly and never tear.
 */
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"

#define PROCS           3
#define THREADS         8
#define ROUNDS          20000

static struct stats_region *
region(void)
{
    struct stats_region *s = stats_create(1024, 60, NULL);

    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(test_layout)
{
    struct stats_region *s = region();

    ck_assert_uint_eq(s->magic, STATS_MAGIC);
    ck_assert_uint_eq(s->version, STATS_VERSION);
    ck_assert_uint_eq(s->header_size, sizeof(*s));
    ck_assert_uint_ge(s->replay_off, sizeof(*s));
    ck_assert_uint_eq(s->replay_off % 64, 0);
    ck_assert_uint_ge(s->size, s->replay_off + replay_size(1024));
    ck_assert_int_gt(atomic_load(&s->start_time), 1700000000);
    /* The replay table lives inside and works. */
    {
        uint8_t fp[REPLAY_FP_LEN] = { 1, 2, 3 };

        ck_assert_int_eq(replay_check_insert(stats_replay(s), fp, 100), 0);
        ck_assert_int_eq(replay_check_insert(stats_replay(s), fp, 101), 1);
    }
    stats_destroy(s);
}
END_TEST

START_TEST(test_user_slots)
{
    struct stats_region *s = region();
    int a = stats_user_slot(s, "alice"), b = stats_user_slot(s, "bob");

    ck_assert_int_ge(a, 0);
    ck_assert_int_ne(a, b);
    /* Kept by name: the same name gets the same slot and counters. */
    atomic_store(&s->users[a].connections, 7);
    ck_assert_int_eq(stats_user_slot(s, "alice"), a);
    ck_assert_uint_eq(atomic_load(&s->users[a].connections), 7);
    /* Full region: a slot whose user left the config is reused. */
    for (int i = 0; i < STATS_MAX_USERS; i++) {
        char name[32];

        snprintf(name, sizeof(name), "u%d", i);
        if (stats_user_slot(s, name) < 0)
            break;
    }
    ck_assert_int_eq(stats_user_slot(s, "newcomer"), 0);
    ck_assert_uint_eq(atomic_load(&s->users[0].connections), 0);
    stats_destroy(s);
}
END_TEST

START_TEST(test_dc_slots)
{
    static const int dcs[] = { 1, 2, 3, 4, 5, -1, -2, -3, -4, -5, 203 };

    for (size_t i = 0; i < sizeof(dcs) / sizeof(dcs[0]); i++) {
        int slot = stats_dc_slot(dcs[i]);

        ck_assert_int_lt(slot, STATS_NDCS);
        ck_assert_int_eq(stats_dc_index(slot), dcs[i]);
    }
    ck_assert_int_eq(stats_dc_slot(0), STATS_DC_OTHER);
    ck_assert_int_eq(stats_dc_slot(10002), STATS_DC_OTHER);
    ck_assert_int_eq(stats_dc_index(STATS_DC_OTHER), 0);
}
END_TEST

START_TEST(test_histogram)
{
    struct stats_region *s = region();
    struct stats_hist *h = &s->hist[STATS_HIST_handshake_seconds];

    stats_observe(s, STATS_HIST_handshake_seconds, 0);          /* <= 1 ms */
    stats_observe(s, STATS_HIST_handshake_seconds, 1000);       /* <= 1 ms */
    stats_observe(s, STATS_HIST_handshake_seconds, 1001);       /* 2.5 ms */
    stats_observe(s, STATS_HIST_handshake_seconds, 99000000);   /* +Inf */
    ck_assert_uint_eq(atomic_load(&h->bucket[0]), 2);
    ck_assert_uint_eq(atomic_load(&h->bucket[1]), 1);
    ck_assert_uint_eq(atomic_load(&h->bucket[STATS_HIST_NBOUNDS]), 1);
    ck_assert_uint_eq(atomic_load(&h->count), 4);
    ck_assert_uint_eq(atomic_load(&h->sum_us), 99002001);
    stats_destroy(s);
}
END_TEST

START_TEST(test_unique_ips)
{
    struct stats_region *s = region();
    struct sockaddr_in a = { .sin_family = AF_INET };
    struct sockaddr_in6 b6 = { .sin6_family = AF_INET6 };
    int u = stats_user_slot(s, "alice");
    uint32_t h1, h2;

    for (int i = 0; i < 10; i++) {
        a.sin_addr.s_addr = htonl(0xc0000200u + (uint32_t)i);
        stats_ip_seen(s, u, stats_ip_hash((struct sockaddr *)&a), 1000, 300);
        a.sin_port = htons((uint16_t)(1000 + i));   /* ports do not count */
        stats_ip_seen(s, u, stats_ip_hash((struct sockaddr *)&a), 1000, 300);
    }
    /* Open addressing: exactly ten, whatever their hashes. */
    ck_assert_uint_eq(stats_ips_recent(s, u, 1010, 300), 10);
    ck_assert_uint_eq(stats_ips_recent(s, u, 1299, 300), 10);
    ck_assert_uint_eq(stats_ips_recent(s, u, 1300, 300), 0);
    ck_assert_int_eq(stats_ip_recent(s, u, stats_ip_hash(
        (struct sockaddr *)&a), 1010, 300), 1);
    ck_assert_int_eq(stats_ip_recent(s, u, stats_ip_hash(
        (struct sockaddr *)&a), 1300, 300), 0);

    /* IPv6 by /64: two addresses of one prefix are one; a v4-mapped
     * address is the IPv4 one. */
    inet_pton(AF_INET6, "2001:db8:1:2::1", &b6.sin6_addr);
    h1 = stats_ip_hash((struct sockaddr *)&b6);
    inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &b6.sin6_addr);
    ck_assert_uint_eq(stats_ip_hash((struct sockaddr *)&b6), h1);
    inet_pton(AF_INET6, "2001:db8:1:3::1", &b6.sin6_addr);
    ck_assert_uint_ne(stats_ip_hash((struct sockaddr *)&b6), h1);
    inet_pton(AF_INET6, "::ffff:192.0.2.0", &b6.sin6_addr);
    a.sin_addr.s_addr = htonl(0xc0000200u);
    h2 = stats_ip_hash((struct sockaddr *)&a);
    ck_assert_uint_eq(stats_ip_hash((struct sockaddr *)&b6), h2);

    /* Expired entries are reused: 64 slots take any number over time. */
    for (int i = 0; i < 500; i++) {
        a.sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i);
        stats_ip_seen(s, u, stats_ip_hash((struct sockaddr *)&a),
            2000 + i * 10, 300);
    }
    ck_assert_uint_eq(stats_ips_recent(s, u, 2000 + 499 * 10, 300), 30);
    stats_destroy(s);
}
END_TEST

START_TEST(test_worker_gone_clears_gauges)
{
    struct stats_region *s = region();
    int u = stats_user_slot(s, "alice");

    atomic_store(&s->workers[1].active, 5);
    atomic_store(&s->workers[1].total, 9);
    atomic_store(&s->user_active[0][u], 2);
    atomic_store(&s->user_active[1][u], 3);
    ck_assert_uint_eq(stats_user_active(s, u), 5);
    stats_worker_gone(s, 1);
    ck_assert_uint_eq(atomic_load(&s->workers[1].active), 0);
    ck_assert_uint_eq(atomic_load(&s->workers[1].total), 9);
    ck_assert_uint_eq(atomic_load(&s->workers[1].state), STATS_WORKER_EMPTY);
    ck_assert_int_eq(atomic_load(&s->workers[1].pid), 0);
    ck_assert_uint_eq(stats_user_active(s, u), 2);
    stats_destroy(s);
}
END_TEST

START_TEST(test_upstream_slots)
{
    struct stats_region *s = region();
    int a = stats_upstream_slot(s, "127.0.0.1:1080");
    int b = stats_upstream_slot(s, "[::1]:1080");
    int row = stats_worker_claim(s, 0, 1);
    char name[32];

    ck_assert_int_eq(a, 0);
    ck_assert_int_eq(b, 1);
    /* The same address, from any worker, is the same slot. */
    ck_assert_int_eq(stats_upstream_slot(s, "127.0.0.1:1080"), a);
    ck_assert_uint_eq(atomic_load(&s->upstreams[a].state), 2);
    ck_assert_str_eq(s->upstreams[b].name, "[::1]:1080");
    for (int i = 2; i < STATS_MAX_UPSTREAMS; i++) {
        snprintf(name, sizeof(name), "10.0.0.%d:1", i);
        ck_assert_int_eq(stats_upstream_slot(s, name), i);
    }
    ck_assert_int_eq(stats_upstream_slot(s, "10.9.9.9:1"), -1);
    /* Backed off in a live row counts; the row's end clears it. */
    ck_assert_uint_eq(stats_upstream_down(s, a), 0);
    atomic_store(&s->upstreams[a].down[row], 1);
    ck_assert_uint_eq(stats_upstream_down(s, a), 1);
    ck_assert_uint_eq(stats_upstream_down(s, b), 0);
    stats_worker_gone(s, row);
    ck_assert_uint_eq(atomic_load(&s->upstreams[a].down[row]), 0);
    ck_assert_uint_eq(stats_upstream_down(s, a), 0);
    stats_destroy(s);
}
END_TEST

START_TEST(test_worker_rows)
{
    struct stats_region *s = region();
    int a = stats_worker_claim(s, 0, 1), b = stats_worker_claim(s, 1, 1);

    ck_assert_int_ge(a, 0);
    ck_assert_int_ne(a, b);
    ck_assert_int_eq(atomic_load(&s->workers[a].pid), (int)getpid());
    stats_worker_start(s, a, 4242);
    ck_assert_int_eq(atomic_load(&s->workers[a].pid), 4242);
    ck_assert_uint_eq(atomic_load(&s->workers[a].state),
        STATS_WORKER_RUNNING);
    ck_assert_int_eq(atomic_load(&s->workers[b].slot), 1);
    stats_worker_gone(s, a);
    /* A freed row is claimed again, and comes back clean. */
    atomic_store(&s->user_active[a][3], 9);
    ck_assert_int_eq(stats_worker_claim(s, 2, 2), a);
    ck_assert_uint_eq(atomic_load(&s->user_active[a][3]), 0);
    for (int i = 0; i < STATS_MAX_WORKERS - 2; i++)
        ck_assert_int_ge(stats_worker_claim(s, 0, 3), 0);
    ck_assert_int_eq(stats_worker_claim(s, 0, 3), -1);
    stats_destroy(s);
}
END_TEST

START_TEST(test_attach_inherited)
{
    int fd = -1;
    struct stats_region *s = stats_create(2048, 60, &fd), *t;

    ck_assert_ptr_nonnull(s);
    ck_assert_int_ge(fd, 0);
    atomic_store(&s->c.conn_accepted, 77);
    /* A new binary maps the same memfd and sees the same numbers. */
    t = stats_attach(fd, 2048);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(atomic_load(&t->c.conn_accepted), 77);
    atomic_fetch_add(&t->c.conn_accepted, 1);
    ck_assert_uint_eq(atomic_load(&s->c.conn_accepted), 78);
    stats_destroy(t);
    /* Another replay capacity is another layout: refused. */
    ck_assert_ptr_null(stats_attach(fd, 4096));
    s->magic = 0;
    ck_assert_ptr_null(stats_attach(fd, 2048));
    stats_destroy(s);
    close(fd);
}
END_TEST

static struct stats_region *shared;

static void *
adder(void *arg)
{
    int u = (int)(intptr_t)arg;

    for (int i = 0; i < ROUNDS; i++) {
        STATS_ADD(shared, bytes_client_to_dc, 0x100000001ull);
        STATS_HS(shared, ok_tls);
        atomic_fetch_add_explicit(&shared->users[u].connections, 1,
            memory_order_relaxed);
        stats_observe(shared, STATS_HIST_dc_connect_seconds, i % 3000);
    }
    return NULL;
}

/* PROCS processes x THREADS threads; every sum must be exact. */
START_TEST(test_concurrent_adds_are_exact)
{
    uint64_t n = (uint64_t)PROCS * THREADS * ROUNDS, hist = 0;
    int u;

    shared = region();
    u = stats_user_slot(shared, "alice");
    for (int p = 0; p < PROCS; p++) {
        pid_t pid = fork();

        ck_assert_int_ne(pid, -1);
        if (pid == 0) {
            pthread_t t[THREADS];

            for (int i = 0; i < THREADS; i++)
                pthread_create(&t[i], NULL, adder, (void *)(intptr_t)u);
            for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;

        ck_assert_int_gt(wait(&status), 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* 0x100000001 per add: a torn or lost update shows in either half. */
    ck_assert_uint_eq(atomic_load(&shared->c.bytes_client_to_dc),
        n * 0x100000001ull);
    ck_assert_uint_eq(atomic_load(&shared->hs[STATS_HS_ok_tls]), n);
    ck_assert_uint_eq(atomic_load(&shared->users[u].connections), n);
    for (int b = 0; b <= STATS_HIST_NBOUNDS; b++)
        hist += atomic_load(
            &shared->hist[STATS_HIST_dc_connect_seconds].bucket[b]);
    ck_assert_uint_eq(hist, n);
    ck_assert_uint_eq(atomic_load(
        &shared->hist[STATS_HIST_dc_connect_seconds].count), n);
    stats_destroy(shared);
}
END_TEST

static void
on_segv(int sig)
{
    (void)sig;
    _exit(3);
}

START_TEST(test_readonly_mapping)
{
    struct stats_region *s = region();
    pid_t pid = fork();
    int status;

    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        struct sigaction sa = { .sa_handler = on_segv };

        /* The admin's view: reads work, a write must fault. */
        sigaction(SIGSEGV, &sa, NULL);
        if (stats_protect_readonly(s) != 0 || s->magic != STATS_MAGIC)
            _exit(2);
        atomic_store(&s->c.conn_accepted, 1);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    ck_assert_uint_eq(atomic_load(&s->c.conn_accepted), 0);
    stats_destroy(s);
}
END_TEST

Suite *stats_suite(void);

Suite *
stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("region");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_user_slots);
    tcase_add_test(tc, test_dc_slots);
    tcase_add_test(tc, test_histogram);
    tcase_add_test(tc, test_unique_ips);
    tcase_add_test(tc, test_worker_gone_clears_gauges);
    tcase_add_test(tc, test_worker_rows);
    tcase_add_test(tc, test_attach_inherited);
    tcase_add_test(tc, test_concurrent_adds_are_exact);
    tcase_add_test(tc, test_readonly_mapping);
    tcase_add_test(tc, test_upstream_slots);
    suite_add_tcase(s, tc);
    return s;
}
