/*
 * test_admin_access.c - the admin endpoint's pure checks: the bearer
 * token compare, the Host header against admin_listen (DNS rebinding),
 * and the log budget for lines refused clients cause (log_rl_take).
 */
#include <check.h>
#include <string.h>

#include "../../admin/access.h"
#include "log.h"

Suite *admin_access_suite(void);

START_TEST(test_token_equal)
{
    const char *t = "0123456789abcdef";

    ck_assert_int_eq(admin_token_equal(t, 16, t, 16), 1);
    ck_assert_int_eq(admin_token_equal("0123456789abcdeF", 16, t, 16), 0);
    ck_assert_int_eq(admin_token_equal("0123456789abcde", 15, t, 16), 0);
    ck_assert_int_eq(admin_token_equal("0123456789abcdef0", 17, t, 16), 0);
    ck_assert_int_eq(admin_token_equal("", 0, t, 16), 0);
    /* A prefix padded with what the loop reads past its end. */
    ck_assert_int_eq(admin_token_equal("0123456789abcde\0", 16, t, 16), 0);
}
END_TEST

START_TEST(test_bearer)
{
    const char *t = "0123456789abcdef";

    ck_assert_int_eq(admin_bearer_ok("Bearer 0123456789abcdef", t), 1);
    ck_assert_int_eq(admin_bearer_ok("  bearer\t0123456789abcdef \t", t), 1);
    ck_assert_int_eq(admin_bearer_ok("Bearer 0123456789abcdeg", t), 0);
    ck_assert_int_eq(admin_bearer_ok("Bearer0123456789abcdef", t), 0);
    ck_assert_int_eq(admin_bearer_ok("Basic 0123456789abcdef", t), 0);
    ck_assert_int_eq(admin_bearer_ok("Bearer ", t), 0);
    ck_assert_int_eq(admin_bearer_ok(NULL, t), 0);
    /* No token configured never matches: the caller decides that case. */
    ck_assert_int_eq(admin_bearer_ok("Bearer ", ""), 0);
}
END_TEST

START_TEST(test_host)
{
    const char *l4 = "127.0.0.1:9091", *l6 = "[::1]:9091";

    ck_assert_int_eq(admin_host_ok("127.0.0.1:9091", l4), 1);
    ck_assert_int_eq(admin_host_ok("127.0.0.1", l4), 1);
    ck_assert_int_eq(admin_host_ok("localhost", l4), 1);
    ck_assert_int_eq(admin_host_ok("LocalHost:8080", l4), 1);
    ck_assert_int_eq(admin_host_ok("[::1]:9091", l4), 1);
    ck_assert_int_eq(admin_host_ok("[0:0::1]", l6), 1);
    ck_assert_int_eq(admin_host_ok("127.0.0.1:9091", l6), 1);
    /* What a rebinding page sends, and look-alikes. */
    ck_assert_int_eq(admin_host_ok("evil.example:9091", l4), 0);
    ck_assert_int_eq(admin_host_ok("localhost.evil.example", l4), 0);
    ck_assert_int_eq(admin_host_ok("127.0.0.1.nip.io", l4), 0);
    ck_assert_int_eq(admin_host_ok("localhost.", l4), 0);
    ck_assert_int_eq(admin_host_ok("127.0.0.2", l4), 0);
    ck_assert_int_eq(admin_host_ok(NULL, l4), 0);
    ck_assert_int_eq(admin_host_ok("", l4), 0);
    ck_assert_int_eq(admin_host_ok(":9091", l4), 0);
    ck_assert_int_eq(admin_host_ok("localhost:", l4), 0);
    ck_assert_int_eq(admin_host_ok("localhost:x", l4), 0);
    ck_assert_int_eq(admin_host_ok("localhost:123456", l4), 0);
    ck_assert_int_eq(admin_host_ok("::1", l4), 0);
    ck_assert_int_eq(admin_host_ok("[localhost]", l4), 0);
    ck_assert_int_eq(admin_host_ok("[::1", l4), 0);
    ck_assert_int_eq(admin_host_ok("[::1]x", l4), 0);
    ck_assert_int_eq(admin_host_ok("a@localhost", l4), 0);
    ck_assert_int_eq(admin_host_ok("local host", l4), 0);
    /* The configured address, other than loopback. */
    ck_assert_int_eq(admin_host_ok("10.1.2.3:9091", "10.1.2.3:9091"), 1);
    ck_assert_int_eq(admin_host_ok("10.1.2.3", "10.1.2.3:9091"), 1);
    ck_assert_int_eq(admin_host_ok("10.1.2.4", "10.1.2.3:9091"), 0);
    ck_assert_int_eq(admin_host_ok("[2001:db8::1]", "[2001:db8::1]:1"), 1);
    ck_assert_int_eq(admin_host_ok("[2001:db8::2]", "[2001:db8::1]:1"), 0);
    /* A wildcard: any IP literal, still no names. */
    ck_assert_int_eq(admin_host_ok("10.9.9.9:9091", "0.0.0.0:9091"), 1);
    ck_assert_int_eq(admin_host_ok("[2001:db8::7]", "[::]:9091"), 1);
    ck_assert_int_eq(admin_host_ok("proxy.example", "0.0.0.0:9091"), 0);
}
END_TEST

START_TEST(test_log_rl)
{
    struct log_rl rl = { 0 };
    unsigned dropped = 99;
    int ok = 0;

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(log_rl_take(&rl, 3, 1000, 5000 + i, &dropped), 1);
        ck_assert_uint_eq(dropped, 0);
    }
    for (int i = 0; i < 100; i++)
        ok += log_rl_take(&rl, 3, 1000, 5100 + i, &dropped);
    ck_assert_int_eq(ok, 0);
    /* A new window: one line again, telling of the 100 held back. */
    ck_assert_int_eq(log_rl_take(&rl, 3, 1000, 6000, &dropped), 1);
    ck_assert_uint_eq(dropped, 100);
    ck_assert_int_eq(log_rl_take(&rl, 3, 1000, 6001, &dropped), 1);
    ck_assert_uint_eq(dropped, 0);
    /* A clock going back starts a window rather than stalling. */
    ck_assert_int_eq(log_rl_take(&rl, 3, 1000, 100, &dropped), 1);
}
END_TEST

Suite *
admin_access_suite(void)
{
    Suite *s = suite_create("admin_access");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_token_equal);
    tcase_add_test(tc, test_bearer);
    tcase_add_test(tc, test_host);
    tcase_add_test(tc, test_log_rl);
    suite_add_tcase(s, tc);
    return s;
}
