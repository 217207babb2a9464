/*
 * test_inherit.c - TELEMT_INHERIT: the largest list an old master builds
 * (64 slots x IPv4 and IPv6, the biggest descriptors) fits and parses back;
 * a buffer too small is refused, never overrun; and the parser refuses
 * everything but the exact form (duplicates, standard streams, signs,
 * spaces, leading zeros, junk, unknown or repeated fields, missing ones).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "inherit.h"

/* 128 listening sockets from first up, then shm, ready and admin. */
static void
full(struct inherit *in, int first)
{
    inherit_init(in);
    for (int i = 0; i < INHERIT_MAX_LISTEN; i++)
        in->listen[in->nlisten++] = first + i;
    in->shm = first + INHERIT_MAX_LISTEN;
    in->ready = first + INHERIT_MAX_LISTEN + 1;
    in->admin = first + INHERIT_MAX_LISTEN + 2;
}

static void
same(const struct inherit *a, const struct inherit *b)
{
    ck_assert_int_eq(a->nlisten, b->nlisten);
    for (int i = 0; i < a->nlisten; i++)
        ck_assert_int_eq(a->listen[i], b->listen[i]);
    ck_assert_int_eq(a->shm, b->shm);
    ck_assert_int_eq(a->ready, b->ready);
    ck_assert_int_eq(a->admin, b->admin);
}

START_TEST(test_round_trip)
{
    static const int firsts[] = { 3, 100, INHERIT_MAX_FD - 200 };
    char buf[INHERIT_MAX_LEN], err[200];
    struct inherit in, out;

    for (size_t t = 0; t < sizeof(firsts) / sizeof(firsts[0]); t++) {
        full(&in, firsts[t]);
        ck_assert_int_eq(inherit_format(&in, buf, sizeof(buf)), 0);
        ck_assert_msg(inherit_parse(buf, &out, err, sizeof(err)) == 0,
            "%s: %s", buf, err);
        same(&in, &out);
    }
    /* Without admin, and the small case nginx-style docs show. */
    inherit_init(&in);
    in.listen[in.nlisten++] = 3;
    in.listen[in.nlisten++] = 4;
    in.shm = 5;
    in.ready = 6;
    ck_assert_int_eq(inherit_format(&in, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "listen=3,4;shm=5;ready=6");
    ck_assert_int_eq(inherit_parse(buf, &out, err, sizeof(err)), 0);
    same(&in, &out);
    ck_assert_int_eq(out.admin, -1);
    /* Any order. */
    ck_assert_int_eq(inherit_parse("admin=9;ready=6;shm=5;listen=3,4", &out,
        err, sizeof(err)), 0);
    ck_assert_int_eq(out.nlisten, 2);
    ck_assert_int_eq(out.admin, 9);
    ck_assert_int_eq(out.ready, 6);
}
END_TEST

START_TEST(test_fds)
{
    struct inherit in;
    int fds[INHERIT_MAX_FDS];

    full(&in, 10);
    ck_assert_int_eq(inherit_fds(&in, fds), INHERIT_MAX_LISTEN + 3);
    ck_assert_int_eq(fds[0], 10);
    ck_assert_int_eq(fds[INHERIT_MAX_LISTEN + 2], in.admin);
    in.admin = -1;
    ck_assert_int_eq(inherit_fds(&in, fds), INHERIT_MAX_LISTEN + 2);
}
END_TEST

START_TEST(test_too_small)
{
    char buf[INHERIT_MAX_LEN], small[INHERIT_MAX_LEN];
    struct inherit in;
    size_t len;

    full(&in, INHERIT_MAX_FD - 200);
    ck_assert_int_eq(inherit_format(&in, buf, sizeof(buf)), 0);
    len = strlen(buf);
    /* 64 workers x 2 families no longer fit in the old 512 bytes. */
    ck_assert_uint_gt(len, 512);
    ck_assert_int_eq(inherit_format(&in, small, len + 1), 0);
    ck_assert_str_eq(small, buf);
    memset(small, 'x', sizeof(small));
    ck_assert_int_eq(inherit_format(&in, small, len), -1);
    ck_assert_uint_lt(strlen(small), len);
    ck_assert_int_eq(small[len], 'x');  /* nothing past outlen */
    ck_assert_int_eq(inherit_format(&in, small, 512), -1);
    ck_assert_int_eq(inherit_format(&in, small, 1), -1);
    ck_assert_int_eq(inherit_format(&in, small, 0), -1);
}
END_TEST

START_TEST(test_refused)
{
    static const char *const bad[] = {
        "", "garbage", "listen=3", "listen=3;shm=4", "shm=4;ready=5",
        "listen=3,3;shm=4;ready=5", "listen=3;shm=3;ready=5",
        "listen=3;shm=4;ready=5;admin=3", "listen=2;shm=4;ready=5",
        "listen=0;shm=4;ready=5", "listen=03;shm=4;ready=5",
        "listen=3x;shm=4;ready=5", "listen=3;shm=4;ready=5x",
        "listen=3;shm=4;ready=5;", ";listen=3;shm=4;ready=5",
        "listen=3;;shm=4;ready=5", "listen=3;shm=4;ready=5;bogus=6",
        "listen=3;shm=4;shm=5;ready=6", "listen=3;listen=7;shm=4;ready=5",
        "listen=3;shm=4,5;ready=6", "listen=3;shm=4;ready=5,6",
        "listen=+3;shm=4;ready=5", "listen=-3;shm=4;ready=5",
        "listen= 3;shm=4;ready=5", "listen=3 ;shm=4;ready=5",
        " listen=3;shm=4;ready=5", "listen=3,;shm=4;ready=5",
        "listen=,3;shm=4;ready=5", "listen=;shm=4;ready=5",
        "listen=3;shm=;ready=5", "listen=3;shm=4;ready=5\n",
        "LISTEN=3;shm=4;ready=5", "listen:3;shm=4;ready=5",
        "listen=99999999999999999999;shm=4;ready=5",
        "listen=1048577;shm=4;ready=5", "listen=3;shm=4;ready=0x5",
        "listen=3;shm=4;ready=5;admin=",
    };
    char err[200];
    struct inherit in;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(inherit_parse(bad[i], &in, err, sizeof(err)) == -1,
            "accepted \"%s\"", bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for \"%s\"", bad[i]);
        ck_assert_int_eq(in.nlisten, 0);
        ck_assert_int_eq(in.shm, -1);
    }
    ck_assert_int_eq(inherit_parse("listen=1048576;shm=4;ready=5", &in,
        err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_refused_counts)
{
    char buf[INHERIT_MAX_LEN + 64], err[200];
    struct inherit in;
    size_t n;

    /* One listening socket too many. */
    n = (size_t)snprintf(buf, sizeof(buf), "listen=");
    for (int i = 0; i <= INHERIT_MAX_LISTEN; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d",
            i > 0 ? "," : "", 10 + i);
    snprintf(buf + n, sizeof(buf) - n, ";shm=4;ready=5");
    ck_assert_int_eq(inherit_parse(buf, &in, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "more than"));
    /* Longer than INHERIT_MAX_LEN - 1. */
    memset(buf, '7', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    memcpy(buf, "listen=", 7);
    ck_assert_int_eq(inherit_parse(buf, &in, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "longer"));
}
END_TEST

Suite *inherit_suite(void);

Suite *
inherit_suite(void)
{
    Suite *s = suite_create("inherit");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_fds);
    tcase_add_test(tc, test_too_small);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_refused_counts);
    suite_add_tcase(s, tc);
    return s;
}
