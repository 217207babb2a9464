/*
 * test_userlim.c - the users' limits in the region: each admission
 * verdict (disabled, expired, quota, max_tcp_conns across worker rows,
 * max_unique_ips with an address already known, the window), places
 * given back, refusals counted; the quota's accounting; the monthly
 * period (dates) and its turn-over at publish; the token bucket's rate
 * and its fairness between connections that take turns.
 */
#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "userlim.h"

#define NOW     1772323200              /* 2026-03-01T00:00:00Z */

static struct stats_region *
region(void)
{
    struct stats_region *r = stats_create(64, 600, NULL);

    ck_assert_ptr_nonnull(r);
    return r;
}

static uint32_t
ip(const char *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET };

    ck_assert_int_eq(inet_pton(AF_INET, s, &a.sin_addr), 1);
    return stats_ip_hash((struct sockaddr *)&a);
}

static struct config_user
user(void)
{
    return (struct config_user){ .name = (char *)"bob", .enabled = true };
}

START_TEST(test_admit_conns)
{
    struct stats_region *r = region();
    struct config_user u = user();
    int s = stats_user_slot(r, "bob");

    u.max_tcp_conns = 5;
    /* Five places over two worker rows, the sixth refused. */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(userlim_admit(r, i % 2, s, &u, ip("10.0.0.1"),
            NOW, 100, 300), USER_OK);
    ck_assert_uint_eq(stats_user_active(r, s), 5);
    ck_assert_int_eq(userlim_admit(r, 1, s, &u, ip("10.0.0.1"), NOW, 100,
        300), USER_CONNS);
    ck_assert_uint_eq(atomic_load(&r->users[s].refused[STATS_UR_conns]), 1);
    ck_assert_uint_eq(atomic_load(&r->user_refused[STATS_UR_conns]), 1);
    /* One given back: one more fits. */
    userlim_leave(r, 0, s);
    ck_assert_int_eq(userlim_admit(r, 1, s, &u, ip("10.0.0.1"), NOW, 100,
        300), USER_OK);
    /* A dead worker's row is cleared by the master: its places free. */
    stats_worker_gone(r, 1);
    ck_assert_uint_eq(stats_user_active(r, s), 2);
    stats_destroy(r);
}
END_TEST

START_TEST(test_admit_ips)
{
    struct stats_region *r = region();
    struct config_user u = user();
    int s = stats_user_slot(r, "bob");

    u.max_unique_ips = 2;
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.1"), NOW, 100,
        300), USER_OK);
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.2"), NOW, 110,
        300), USER_OK);
    /* A third address is refused, a known one is not. */
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.3"), NOW, 120,
        300), USER_IPS);
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.1"), NOW, 120,
        300), USER_OK);
    /* The first two were seen at 120 and 110: at 410 the second is out
     * of the window, so a new address fits, at 409 it does not. */
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.3"), NOW, 409,
        300), USER_IPS);
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.3"), NOW, 410,
        300), USER_OK);
    ck_assert_uint_eq(atomic_load(&r->users[s].refused[STATS_UR_ips]), 2);
    stats_destroy(r);
}
END_TEST

START_TEST(test_admit_state)
{
    struct stats_region *r = region();
    struct config_user u = user();
    int s = stats_user_slot(r, "bob");

    u.enabled = false;
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.1"), NOW, 1,
        300), USER_DISABLED);
    u.enabled = true;
    u.expiration = NOW + 10;
    ck_assert_int_eq(userlim_state(r, s, &u, NOW + 9), USER_OK);
    ck_assert_int_eq(userlim_state(r, s, &u, NOW + 10), USER_EXPIRED);
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.1"), NOW + 10,
        1, 300), USER_EXPIRED);
    u.expiration = 0;
    /* The quota: what the master publishes, what the relay charges. */
    u.data_quota_bytes = 1000;
    ck_assert_int_eq(userlim_publish(r, s, &u, NOW), -1);
    ck_assert_uint_eq(userlim_quota_left(r, s), 1000);
    userlim_charge(r, s, 999);
    ck_assert_uint_eq(userlim_quota_left(r, s), 1);
    ck_assert_int_eq(userlim_state(r, s, &u, NOW), USER_OK);
    userlim_charge(r, s, 5);
    ck_assert_uint_eq(userlim_quota_left(r, s), 0);
    ck_assert_int_eq(userlim_admit(r, 0, s, &u, ip("10.0.0.1"), NOW, 1,
        300), USER_QUOTA);
    ck_assert_uint_eq(stats_user_active(r, s), 0);
    ck_assert_uint_eq(atomic_load(&r->users[s].refused[STATS_UR_disabled]),
        1);
    ck_assert_uint_eq(atomic_load(&r->users[s].refused[STATS_UR_expired]),
        1);
    ck_assert_uint_eq(atomic_load(&r->users[s].refused[STATS_UR_quota]), 1);
    /* No quota: unlimited. */
    u.data_quota_bytes = 0;
    userlim_publish(r, s, &u, NOW);
    ck_assert_uint_eq(userlim_quota_left(r, s), UINT64_MAX);
    ck_assert_str_eq(userlim_name(USER_QUOTA), "quota");
    ck_assert_str_eq(userlim_name(USER_OK), "ok");
    stats_destroy(r);
}
END_TEST

START_TEST(test_period)
{
    struct stats_region *r = region();
    struct config_user u = user();
    int s = stats_user_slot(r, "bob");

    ck_assert_int_eq(userlim_period_start(0, NOW), 0);
    /* 2026-03-01 00:00 is its own period's start for day 1. */
    ck_assert_int_eq(userlim_period_start(1, NOW), NOW);
    ck_assert_int_eq(userlim_period_start(1, NOW - 1),
        1769904000);                    /* 2026-02-01 */
    ck_assert_int_eq(userlim_period_start(15, NOW),
        1771113600);                    /* 2026-02-15 */
    ck_assert_int_eq(userlim_period_start(28, 1767225600),
        1766880000);                    /* 2026-01-01 -> 2025-12-28 */

    u.data_quota_bytes = 1000;
    u.quota_reset_day = 1;
    /* The first period the region holds keeps what was used... */
    userlim_charge(r, s, 700);
    ck_assert_int_eq(userlim_publish(r, s, &u, NOW - 86400), -1);
    ck_assert_uint_eq(userlim_quota_left(r, s), 300);
    /* ...the same period again changes nothing... */
    ck_assert_int_eq(userlim_publish(r, s, &u, NOW - 1), -1);
    ck_assert_uint_eq(userlim_quota_left(r, s), 300);
    /* ...and the reset day starts from 0, saying what was used. */
    ck_assert_int_eq(userlim_publish(r, s, &u, NOW), 700);
    ck_assert_uint_eq(userlim_quota_left(r, s), 1000);
    ck_assert_int_eq(atomic_load(&r->users[s].quota_period), NOW);
    stats_destroy(r);
}
END_TEST

START_TEST(test_rate)
{
    struct stats_region *r = region();
    struct config_user u = user();
    int s = stats_user_slot(r, "bob");
    int64_t t = 1000000000000LL, next[4] = { 0 };
    uint64_t got[4] = { 0 };
    const int64_t bps = 1000000;

    ck_assert_int_eq(userlim_rate_charge(r, s, USERLIM_UP, 5000, t), 0);
    ck_assert_uint_eq(userlim_rate_slice(r, s, USERLIM_UP, 16384), 16384);
    u.rate_limit_up_bps = bps;
    userlim_publish(r, s, &u, NOW);
    /* 20 ms of the rate per read. */
    ck_assert_uint_eq(userlim_rate_slice(r, s, USERLIM_UP, 16384), 20000 >
        16384 ? 16384 : 20000);
    ck_assert_uint_eq(userlim_rate_slice(r, s, USERLIM_DOWN, 16384), 16384);
    /*
     * Four connections read a slice each time their wait is over, for
     * 10 simulated seconds: together they get the rate (the burst on
     * top), each about a quarter.
     */
    for (int64_t now = t; now < t + 10000000000LL; now += 1000000) {
        for (int c = 0; c < 4; c++) {
            size_t n = userlim_rate_slice(r, s, USERLIM_UP, 16384);
            int64_t w;

            if (now < next[c])
                continue;
            got[c] += n;
            w = userlim_rate_charge(r, s, USERLIM_UP, n, now);
            next[c] = now + w;
        }
    }
    {
        uint64_t sum = got[0] + got[1] + got[2] + got[3];

        ck_assert_uint_ge(sum, 10 * bps * 95 / 100);
        ck_assert_uint_le(sum, 10 * bps * 105 / 100 + 200000);
        for (int c = 0; c < 4; c++) {
            ck_assert_uint_ge(got[c], sum / 4 * 90 / 100);
            ck_assert_uint_le(got[c], sum / 4 * 110 / 100);
        }
    }
    stats_destroy(r);
}
END_TEST

Suite *userlim_suite(void);

Suite *
userlim_suite(void)
{
    Suite *s = suite_create("userlim");
    TCase *tc = tcase_create("userlim");

    tcase_add_test(tc, test_admit_conns);
    tcase_add_test(tc, test_admit_ips);
    tcase_add_test(tc, test_admit_state);
    tcase_add_test(tc, test_period);
    tcase_add_test(tc, test_rate);
    suite_add_tcase(s, tc);
    return s;
}
