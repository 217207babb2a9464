/*
 * test_dc_health.c - DC address health (worker/dc_health.c): the pure
 * parts (back-off doubling and its cap, up/trial/down, speed classes, the
 * dialling order: down last, then family, then the trial, then speed,
 * then config order) and the region parts (slots found, claimed, shared,
 * full, recycled when idle but not under a dial, a lower slot being
 * keyed waited for; one trial per back-off; results recorded, our own
 * errors not held against an address, nor into a re-keyed slot) and how the admin renders
 * a slot (JSON member, Prometheus lines).
 */
#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/render_json.h"
#include "../../admin/render_prom.h"
#include "dc_health.h"
#include "stats.h"
#include "util.h"

#define BASE    30000                   /* dc_retry_after, ms */
#define T0      1000000                 /* a monotonic ms */

/* Parse "1.2.3.4:5" or "[::1]:5" into a. */
static void
addr_of(const char *s, struct net_addr *a)
{
    memset(a, 0, sizeof(*a));
    ck_assert_int_eq(net_parse_addr(s, &a->ss, &a->len), 0);
}

/* The addresses the candidates point at, one per order number. */
static struct net_addr addrs[8];

static struct dc_health_cand
cand(const char *s, int state, int64_t avg_us, int order)
{
    struct dc_health_cand c;

    memset(&c, 0, sizeof(c));
    addr_of(s, &addrs[order]);
    c.a = &addrs[order];
    c.slot = -1;
    c.state = state;
    c.avg_us = avg_us;
    c.order = order;
    return c;
}

/* The orders of c[0..n) after sorting, as a string of digits. */
static const char *
order_of(struct dc_health_cand *c, int n, int first)
{
    static char out[32];

    dc_health_order(c, n, first);
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + c[i].order);
    out[n] = '\0';
    return out;
}

START_TEST(test_backoff)
{
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 0), 0);
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 1), BASE);
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 2), 2 * BASE);
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 3), 4 * BASE);
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 5), 16 * BASE);
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 6), 16 * BASE);
    ck_assert_int_eq(dc_health_backoff_ms(BASE, 4000000000u), 16 * BASE);
}
END_TEST

START_TEST(test_state)
{
    ck_assert_int_eq(dc_health_state(0, 0, T0, 0), DC_HEALTH_UP);
    ck_assert_int_eq(dc_health_state(0, T0 + 5, T0, 1), DC_HEALTH_UP);
    ck_assert_int_eq(dc_health_state(1, T0 + 1, T0, 0), DC_HEALTH_DOWN);
    ck_assert_int_eq(dc_health_state(1, T0, T0, 0), DC_HEALTH_TRIAL);
    ck_assert_int_eq(dc_health_state(3, T0 - 1, T0, 0), DC_HEALTH_TRIAL);
    /* With probes, only a probe brings it back. */
    ck_assert_int_eq(dc_health_state(1, T0 - 1, T0, 1), DC_HEALTH_DOWN);
}
END_TEST

START_TEST(test_speed_class)
{
    ck_assert_int_eq(dc_health_speed_class(0), DC_HEALTH_CLASS_UNKNOWN);
    ck_assert_int_eq(dc_health_speed_class(-5), DC_HEALTH_CLASS_UNKNOWN);
    ck_assert_int_eq(dc_health_speed_class(1), 0);
    ck_assert_int_eq(dc_health_speed_class(999), 0);
    ck_assert_int_eq(dc_health_speed_class(1000), 1);
    ck_assert_int_eq(dc_health_speed_class(1999), 1);
    ck_assert_int_eq(dc_health_speed_class(2000), 2);
    /* 40 and 60 ms are one class; 150 ms is slower. */
    ck_assert_int_eq(dc_health_speed_class(40000),
        dc_health_speed_class(60000));
    ck_assert_int_lt(dc_health_speed_class(60000),
        dc_health_speed_class(150000));
    ck_assert_int_lt(dc_health_speed_class(1000000000),
        DC_HEALTH_CLASS_UNKNOWN);
}
END_TEST

START_TEST(test_order_config_and_family)
{
    struct dc_health_cand c[4];

    /* Nothing known: config order, the preferred family first. */
    c[0] = cand("10.0.0.1:443", DC_HEALTH_UP, 0, 0);
    c[1] = cand("[2001:db8::1]:443", DC_HEALTH_UP, 0, 1);
    c[2] = cand("10.0.0.2:443", DC_HEALTH_UP, 0, 2);
    c[3] = cand("[2001:db8::2]:443", DC_HEALTH_UP, 0, 3);
    ck_assert_str_eq(order_of(c, 4, AF_INET), "0213");
    c[0] = cand("10.0.0.1:443", DC_HEALTH_UP, 0, 0);
    c[1] = cand("[2001:db8::1]:443", DC_HEALTH_UP, 0, 1);
    c[2] = cand("10.0.0.2:443", DC_HEALTH_UP, 0, 2);
    c[3] = cand("[2001:db8::2]:443", DC_HEALTH_UP, 0, 3);
    ck_assert_str_eq(order_of(c, 4, AF_INET6), "1302");
    /* The family outranks speed: a slow IPv6 before a fast IPv4. */
    c[0] = cand("10.0.0.1:443", DC_HEALTH_UP, 1000, 0);
    c[1] = cand("[2001:db8::1]:443", DC_HEALTH_UP, 200000, 1);
    ck_assert_str_eq(order_of(c, 2, AF_INET6), "10");
}
END_TEST

START_TEST(test_order_down_last)
{
    struct dc_health_cand c[4];

    /* A down address goes after every other, its family's and speed
     * notwithstanding. */
    c[0] = cand("[2001:db8::1]:443", DC_HEALTH_DOWN, 500, 0);
    c[1] = cand("[2001:db8::2]:443", DC_HEALTH_UP, 90000, 1);
    c[2] = cand("10.0.0.1:443", DC_HEALTH_UP, 500, 2);
    ck_assert_str_eq(order_of(c, 3, AF_INET6), "120");
    /* The preferred family all down: the other one first. */
    c[0] = cand("[2001:db8::1]:443", DC_HEALTH_DOWN, 0, 0);
    c[1] = cand("10.0.0.1:443", DC_HEALTH_UP, 0, 1);
    ck_assert_str_eq(order_of(c, 2, AF_INET6), "10");
    /* All down: all still tried, by family then config order. */
    c[0] = cand("10.0.0.1:443", DC_HEALTH_DOWN, 0, 0);
    c[1] = cand("[2001:db8::1]:443", DC_HEALTH_DOWN, 0, 1);
    c[2] = cand("10.0.0.2:443", DC_HEALTH_DOWN, 0, 2);
    ck_assert_str_eq(order_of(c, 3, AF_INET), "021");
}
END_TEST

START_TEST(test_order_trial_and_speed)
{
    struct dc_health_cand c[5];

    /* The trial first in its family, faster before slower, unknown
     * after measured, ties by config order. */
    c[0] = cand("10.0.0.1:443", DC_HEALTH_UP, 0, 0);
    c[1] = cand("10.0.0.2:443", DC_HEALTH_UP, 80000, 1);
    c[2] = cand("10.0.0.3:443", DC_HEALTH_UP, 9000, 2);
    c[3] = cand("10.0.0.4:443", DC_HEALTH_TRIAL, 300000, 3);
    c[4] = cand("10.0.0.5:443", DC_HEALTH_UP, 8500, 4);
    ck_assert_str_eq(order_of(c, 5, AF_INET), "32410");
    /* Within a factor of two: config order, no flapping. */
    c[0] = cand("10.0.0.1:443", DC_HEALTH_UP, 50000, 0);
    c[1] = cand("10.0.0.2:443", DC_HEALTH_UP, 34000, 1);
    ck_assert_str_eq(order_of(c, 2, AF_INET), "01");
    /* The trial of the other family waits for the preferred one's. */
    c[0] = cand("10.0.0.1:443", DC_HEALTH_UP, 1000, 0);
    c[1] = cand("[2001:db8::1]:443", DC_HEALTH_TRIAL, 0, 1);
    ck_assert_str_eq(order_of(c, 2, AF_INET), "01");
}
END_TEST

static struct stats_region *
region(void)
{
    struct stats_region *r = stats_create(1024, 600, NULL);

    ck_assert_ptr_nonnull(r);
    dc_health_init(r);
    return r;
}

#define SA(na)  ((const struct sockaddr *)&(na)->ss)

static const struct sockaddr *
sa_of(const char *s, struct net_addr *a)
{
    addr_of(s, a);
    return (const struct sockaddr *)&a->ss;
}

START_TEST(test_slots)
{
    struct stats_region *r = region();
    struct net_addr a, b;
    int sa, sb;

    sa = dc_health_slot(r, sa_of("10.0.0.1:443", &a), -2, T0);
    sb = dc_health_slot(r, sa_of("[2001:db8::1]:443", &b), 3, T0);
    ck_assert_int_ge(sa, 0);
    ck_assert_int_ne(sa, sb);
    ck_assert_int_eq(atomic_load(&r->dc_addrs[sa].dc), 2);
    ck_assert_int_eq(dc_health_slot(r, sa_of("10.0.0.1:443", &a), 4, T0),
        sa);
    /* The port is part of the key. */
    ck_assert_int_ne(dc_health_slot(r, sa_of("10.0.0.1:444", &a), 2, T0),
        sa);
    {
        uint64_t key[STATS_DC_ADDR_KEY];
        char text[64];

        for (int k = 0; k < STATS_DC_ADDR_KEY; k++)
            key[k] = atomic_load(&r->dc_addrs[sb].key[k]);
        stats_dc_addr_format(key, text, sizeof(text));
        ck_assert_str_eq(text, "[2001:db8::1]:443");
    }
    stats_destroy(r);
}
END_TEST

START_TEST(test_slots_full)
{
    struct stats_region *r = region();
    struct net_addr a;
    char s[32];
    int i, last;

    for (i = 0; i < STATS_DC_ADDRS; i++) {
        snprintf(s, sizeof(s), "10.1.%d.%d:443", i / 256, i % 256);
        ck_assert_int_eq(dc_health_slot(r, sa_of(s, &a), 2, T0 + i), i);
    }
    /* Full and all busy: no slot (the dial goes on without health). */
    ck_assert_int_eq(dc_health_slot(r, sa_of("10.2.0.1:443", &a), 2,
        T0 + i), -1);
    /* An hour later the oldest unused slot is given to a new address. */
    last = dc_health_slot(r, sa_of("10.2.0.1:443", &a), 2,
        T0 + DC_HEALTH_IDLE_MS);
    ck_assert_int_eq(last, 0);
    ck_assert_uint_eq(atomic_load(&r->dc_addrs[0].failures), 0);
    ck_assert_int_eq(dc_health_slot(r, sa_of("10.2.0.1:443", &a), 2,
        T0 + DC_HEALTH_IDLE_MS), 0);
    stats_destroy(r);
}
END_TEST

START_TEST(test_record)
{
    struct stats_region *r = region();
    struct stats_dc_addr *d;
    struct net_addr a;
    int s = dc_health_slot(r, sa_of("10.0.0.1:443", &a), 2, T0);

    d = &r->dc_addrs[s];
    dc_health_record(s, SA(&a), 1, 40000, 0, T0, BASE, 0);
    ck_assert_int_eq(atomic_load(&d->avg_us), 40000);
    dc_health_record(s, SA(&a), 1, 80000, 0, T0 + 1, BASE, 0);
    ck_assert_int_eq(atomic_load(&d->avg_us), 50000);
    ck_assert_int_eq(atomic_load(&d->last_us), 80000);
    ck_assert_uint_eq(atomic_load(&d->connects), 2);
    /* Our own errors say nothing about the address. */
    dc_health_record(s, SA(&a), 0, 0, EMFILE, T0 + 2, BASE, 0);
    /* Nor does a bind refused (dc_bind_ipv4, dc_bind_interface). */
    dc_health_record(s, SA(&a), 0, 0, EADDRNOTAVAIL, T0 + 2, BASE, 0);
    dc_health_record(s, SA(&a), 0, 0, ENODEV, T0 + 2, BASE, 0);
    dc_health_record(s, SA(&a), 0, 0, EPERM, T0 + 2, BASE, 0);
    dc_health_record(s, SA(&a), 0, 0, EACCES, T0 + 2, BASE, 0);
    ck_assert_uint_eq(atomic_load(&d->failures), 0);
    ck_assert_uint_eq(atomic_load(&d->fails_in_row), 0);
    dc_health_record(s, SA(&a), 0, 0, ETIMEDOUT, T0 + 3, BASE, 0);
    dc_health_record(s, SA(&a), 0, 0, ECONNREFUSED, T0 + 4, BASE, 1);
    ck_assert_uint_eq(atomic_load(&d->failures), 2);
    ck_assert_uint_eq(atomic_load(&d->fails_in_row), 2);
    ck_assert_uint_eq(atomic_load(&d->probes), 1);
    ck_assert_int_eq(atomic_load(&d->retry_ms), T0 + 4 + 2 * BASE);
    ck_assert_uint_eq(STATS_GET(r, dc_addr_failed), 1);
    ck_assert_uint_eq(STATS_GET(r, dc_probes_failed), 1);
    dc_health_record(s, SA(&a), 1, 30000, 0, T0 + 5, BASE, 1);
    ck_assert_uint_eq(atomic_load(&d->fails_in_row), 0);
    ck_assert_int_eq(atomic_load(&d->retry_ms), 0);
    ck_assert_uint_eq(STATS_GET(r, dc_probes_ok), 1);
    dc_health_record(-1, SA(&a), 0, 0, ETIMEDOUT, T0, BASE, 0);
    stats_destroy(r);
}
END_TEST

/* A dial under way keeps its slot; a slot re-keyed meanwhile is not
 * written by the old address's result. */
START_TEST(test_record_rekeyed)
{
    struct stats_region *r = region();
    struct dc_health_cand c[1];
    struct net_addr a, old;
    char s[32];
    int i, got;

    for (i = 0; i < STATS_DC_ADDRS; i++) {
        snprintf(s, sizeof(s), "10.1.%d.%d:443", i / 256, i % 256);
        ck_assert_int_eq(dc_health_slot(r, sa_of(s, &a), 2, T0 + i), i);
    }
    /* A dial to slot 0's address starts just before it would be idle. */
    addr_of("10.1.0.0:443", &addrs[0]);
    c[0].a = &addrs[0];
    ck_assert_int_eq(dc_health_prepare(c, 1, 2, AF_INET,
        T0 + DC_HEALTH_IDLE_MS - 1, BASE, 0), 0);
    ck_assert_int_eq(c[0].slot, 0);
    /* Another worker needs a slot: not the one being dialled. */
    got = dc_health_slot(r, sa_of("10.2.0.1:443", &a), 2,
        T0 + DC_HEALTH_IDLE_MS + 1);
    ck_assert_int_eq(got, 1);
    /* A late result for slot 1's old address lands nowhere. */
    dc_health_record(1, sa_of("10.1.0.1:443", &old), 0, 0, ETIMEDOUT,
        T0 + DC_HEALTH_IDLE_MS + 2, BASE, 0);
    ck_assert_uint_eq(atomic_load(&r->dc_addrs[1].failures), 0);
    ck_assert_uint_eq(atomic_load(&r->dc_addrs[1].fails_in_row), 0);
    ck_assert_int_eq(dc_health_slot(r, SA(&a), 2, T0), 1);
    /* The dial's own result still does. */
    dc_health_record(0, SA(&addrs[0]), 0, 0, ETIMEDOUT,
        T0 + DC_HEALTH_IDLE_MS + 2, BASE, 0);
    ck_assert_uint_eq(atomic_load(&r->dc_addrs[0].failures), 1);
    stats_destroy(r);
}
END_TEST

/* Another worker keying slot 0: publishes it once slot 1 is published. */
struct keyer {
    struct stats_region *r;
    const struct sockaddr *sa;
    atomic_int running;
};

static void *
keyer_thread(void *arg)
{
    struct keyer *k = arg;
    int64_t end = mono_ms() + 10000;

    atomic_store(&k->running, 1);
    while (atomic_load(&k->r->dc_addrs[1].state) != STATS_DC_ADDR_USED &&
        mono_ms() < end)
        sched_yield();
    atomic_store(&k->r->dc_addrs[0].state, STATS_DC_ADDR_USED);
    return NULL;
}

START_TEST(test_slot_claimed_lower)
{
    struct stats_region *r = region();
    uint64_t key[STATS_DC_ADDR_KEY];
    struct keyer k;
    struct net_addr a;
    pthread_t t;

    /* Slot 0 is being keyed as the same address: ours (1) goes back. */
    k.r = r;
    k.sa = sa_of("10.0.0.1:443", &a);
    atomic_init(&k.running, 0);
    stats_dc_addr_key(k.sa, key);
    for (int i = 0; i < STATS_DC_ADDR_KEY; i++)
        atomic_store(&r->dc_addrs[0].key[i], key[i]);
    atomic_store(&r->dc_addrs[0].state, STATS_DC_ADDR_CLAIMED);
    ck_assert_int_eq(pthread_create(&t, NULL, keyer_thread, &k), 0);
    while (!atomic_load(&k.running))
        sched_yield();
    ck_assert_int_eq(dc_health_slot(r, k.sa, 2, T0), 0);
    pthread_join(t, NULL);
    ck_assert_uint_eq(atomic_load(&r->dc_addrs[1].state), STATS_DC_ADDR_FREE);
    /* Left CLAIMED for good (its worker killed): not waited for ever. */
    atomic_store(&r->dc_addrs[0].state, STATS_DC_ADDR_CLAIMED);
    ck_assert_int_eq(dc_health_slot(r, k.sa, 2, T0), 1);
    stats_destroy(r);
}
END_TEST

START_TEST(test_prepare_one_trial)
{
    struct stats_region *r = region();
    struct dc_health_cand c[2], d[2];
    int s, down;

    addr_of("10.0.0.1:443", &addrs[0]);
    addr_of("10.0.0.2:443", &addrs[1]);
    c[0].a = &addrs[0];
    c[1].a = &addrs[1];
    memcpy(d, c, sizeof(c));
    ck_assert_int_eq(dc_health_prepare(c, 2, 2, AF_INET, T0, BASE, 0), 0);
    ck_assert_int_eq(c[0].order, 0);
    s = c[0].slot;
    dc_health_record(s, SA(&addrs[0]), 0, 0, ETIMEDOUT, T0, BASE, 0);
    /* Within the back-off: 10.0.0.1 last. */
    memcpy(c, d, sizeof(c));
    down = dc_health_prepare(c, 2, 2, AF_INET, T0 + BASE - 1, BASE, 0);
    ck_assert_int_eq(down, 1);
    ck_assert_int_eq(c[0].order, 1);
    ck_assert_int_eq(c[1].state, DC_HEALTH_DOWN);
    /* After it: one dial gets the trial, first; the next sees it down. */
    memcpy(c, d, sizeof(c));
    ck_assert_int_eq(dc_health_prepare(c, 2, 2, AF_INET, T0 + BASE, BASE,
        0), 0);
    ck_assert_int_eq(c[0].order, 0);
    ck_assert_int_eq(c[0].state, DC_HEALTH_TRIAL);
    memcpy(c, d, sizeof(c));
    ck_assert_int_eq(dc_health_prepare(c, 2, 2, AF_INET, T0 + BASE + 1,
        BASE, 0), 1);
    ck_assert_int_eq(c[0].order, 1);
    /* With probes on no dial takes the trial. */
    memcpy(c, d, sizeof(c));
    ck_assert_int_eq(dc_health_prepare(c, 2, 2, AF_INET, T0 + 10 * BASE,
        BASE, 1), 1);
    ck_assert_int_eq(c[0].order, 1);
    stats_destroy(r);
}
END_TEST

START_TEST(test_no_region)
{
    struct dc_health_cand c[2];

    dc_health_init(NULL);
    addr_of("[::1]:443", &addrs[0]);
    addr_of("127.0.0.1:443", &addrs[1]);
    c[0].a = &addrs[0];
    c[1].a = &addrs[1];
    ck_assert_int_eq(dc_health_prepare(c, 2, 2, AF_INET, T0, BASE, 0), 0);
    ck_assert_int_eq(c[0].order, 1);
    ck_assert_int_eq(c[0].slot, -1);
    dc_health_record(-1, SA(&addrs[0]), 1, 5, 0, T0, BASE, 0);
}
END_TEST

START_TEST(test_render)
{
    struct stats_region *r = region();
    struct config cfg = { .nusers = 0, .unique_ips_window = 300 };
    struct admin_ctx ctx = { .cfg = &cfg, .stats = r, .death_fd = -1 };
    struct admin_snap *snap;
    struct net_addr a;
    struct abuf b;
    int s = dc_health_slot(r, sa_of("127.0.0.1:9", &a), 2, T0);

    dc_health_record(s, SA(&a), 1, 1500, 0, T0, BASE, 0);
    dc_health_record(s, SA(&a), 0, 0, ETIMEDOUT, T0 + 1000, BASE, 0);
    snap = admin_snap_take(&ctx, 1700000000, T0 + 3000);
    ck_assert_ptr_nonnull(snap);
    ck_assert_int_eq(snap->ndc_addrs, 1);
    abuf_init(&b);
    render_json_stats(&b, snap, NULL, 0);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_msg(strstr(b.p, "\"dc_addrs\":[{\"dc\":2,"
        "\"addr\":\"127.0.0.1:9\",\"state\":\"down\",\"up\":false,"
        "\"connects\":1,\"failures\":1,\"probes\":0,\"failures_in_row\":1,"
        "\"last_connect_ms\":1.500,\"avg_connect_ms\":1.500,"
        "\"last_ok_ago_s\":3.000,\"last_fail_ago_s\":2.000,"
        "\"retry_in_s\":28.000}]") != NULL, "JSON: %s", b.p);
    abuf_free(&b);
    abuf_init(&b);
    render_prom(&b, snap);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_ptr_nonnull(strstr(b.p,
        "\ntelemt_dc_addr_up{dc=\"2\",addr=\"127.0.0.1:9\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "\ntelemt_dc_addr_connect_seconds"
        "{dc=\"2\",addr=\"127.0.0.1:9\"} 0.001500\n"));
    ck_assert_ptr_nonnull(strstr(b.p, "\ntelemt_dc_addr_failures_total"
        "{dc=\"2\",addr=\"127.0.0.1:9\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(b.p,
        "\ntelemt_dc_probes_total{result=\"failed\"} 0\n"));
    abuf_free(&b);
    admin_snap_free(snap);
    stats_destroy(r);
}
END_TEST

Suite *dc_health_suite(void);

Suite *
dc_health_suite(void)
{
    Suite *s = suite_create("dc_health");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_backoff);
    tcase_add_test(tc, test_state);
    tcase_add_test(tc, test_speed_class);
    tcase_add_test(tc, test_order_config_and_family);
    tcase_add_test(tc, test_order_down_last);
    tcase_add_test(tc, test_order_trial_and_speed);
    tcase_add_test(tc, test_slots);
    tcase_add_test(tc, test_slots_full);
    tcase_add_test(tc, test_record);
    tcase_add_test(tc, test_record_rekeyed);
    tcase_add_test(tc, test_slot_claimed_lower);
    tcase_add_test(tc, test_prepare_one_trial);
    tcase_add_test(tc, test_no_region);
    tcase_add_test(tc, test_render);
    suite_add_tcase(s, tc);
    return s;
}
