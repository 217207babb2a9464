/*
 * test_links.c - secret forms and links against vectors.txt section B.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "links.h"
#include "testutil.h"

START_TEST(test_secret_forms)
{
    uint8_t s[16];
    char out[128];

    unhex("00112233445566778899aabbccddeeff", s, 16);
    ck_assert_int_eq(links_secret(LINK_CLASSIC, s, "", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "00112233445566778899aabbccddeeff");
    ck_assert_int_eq(links_secret(LINK_SECURE, s, "", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "dd00112233445566778899aabbccddeeff");
    ck_assert_int_eq(links_secret(LINK_TLS, s, "www.example.com", out,
        sizeof(out)), 0);
    ck_assert_str_eq(out, "ee00112233445566778899aabbccddeeff"
        "7777772e6578616d706c652e636f6d");
    ck_assert_int_eq(links_secret(LINK_TLS, s, "www.example.com", out, 40),
        -1);
}
END_TEST

START_TEST(test_print_links)
{
    struct config_user u = { .name = (char *)"alice" };
    char *domains[] = { (char *)"www.example.com", (char *)"cdn.example.org" };
    struct config cfg = {
        .path = (char *)"x.conf", .nusers = 1, .users = &u,
        .mode_secure = true, .mode_tls = true,
        .tls_domain = (char *)"www.example.com",
        .ntls_domains = 2, .tls_domains = domains,
        .public_host = (char *)"203.0.113.5", .public_port = 443,
        .listen_ipv4 = (char *)"0.0.0.0", .listen_ipv6 = (char *)"",
    };
    char err[256], *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    unhex("00112233445566778899aabbccddeeff", u.secret, 16);
    ck_assert_int_eq(links_print(&cfg, f, err, sizeof(err)), 0);
    fclose(f);
    ck_assert_str_eq(buf,
        "alice secure tg://proxy?server=203.0.113.5&port=443&secret="
        "dd00112233445566778899aabbccddeeff\n"
        "alice secure https://t.me/proxy?server=203.0.113.5&port=443&secret="
        "dd00112233445566778899aabbccddeeff\n"
        "alice tls tg://proxy?server=203.0.113.5&port=443&secret="
        "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d\n"
        "alice tls https://t.me/proxy?server=203.0.113.5&port=443&secret="
        "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d\n"
        "alice tls tg://proxy?server=203.0.113.5&port=443&secret="
        "ee00112233445566778899aabbccddeeff63646e2e6578616d706c652e6f7267\n"
        "alice tls https://t.me/proxy?server=203.0.113.5&port=443&secret="
        "ee00112233445566778899aabbccddeeff63646e2e6578616d706c652e6f7267\n");
    free(buf);

    /* No public_host and a wildcard listen address: a clear error. */
    cfg.public_host = (char *)"";
    f = open_memstream(&buf, &len);
    ck_assert_int_eq(links_print(&cfg, f, err, sizeof(err)), -1);
    fclose(f);
    free(buf);
    ck_assert_ptr_nonnull(strstr(err, "public_host"));

    /* A non-wildcard listen address stands in, percent-encoded. */
    cfg.listen_ipv6 = (char *)"2001:db8::1";
    cfg.listen_ipv4 = (char *)"";
    ck_assert_str_eq(links_host(&cfg), "2001:db8::1");
    f = open_memstream(&buf, &len);
    ck_assert_int_eq(links_print(&cfg, f, err, sizeof(err)), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "alice secure tg://proxy?server="
        "2001%3Adb8%3A%3A1&port=443&secret=dd"));
    free(buf);
}
END_TEST

static void
count_link(void *arg, const struct proxy_link *l)
{
    (void)l;
    (*(int *)arg)++;
}

/* A host whose links would not fit: an error, no link cut short. */
START_TEST(test_links_too_long)
{
    struct config_user u = { .name = (char *)"alice" };
    char host[1000];
    struct config cfg = {
        .path = (char *)"x.conf", .nusers = 1, .users = &u,
        .mode_classic = true, .public_host = host, .public_port = 443,
        .listen_ipv4 = (char *)"", .listen_ipv6 = (char *)"",
    };
    int n = 0;

    memset(host, '/', sizeof(host) - 1);        /* 3 bytes each encoded */
    host[sizeof(host) - 1] = '\0';
    ck_assert_int_eq(links_each(&cfg, 0, count_link, &n), LINKS_TOO_LONG);
    ck_assert_int_eq(n, 0);
    host[200] = '\0';
    ck_assert_int_eq(links_each(&cfg, 0, count_link, &n), 0);
    ck_assert_int_eq(n, 1);
}
END_TEST

Suite *links_suite(void);

Suite *
links_suite(void)
{
    Suite *s = suite_create("links");
    TCase *tc = tcase_create("links");

    tcase_add_test(tc, test_secret_forms);
    tcase_add_test(tc, test_print_links);
    tcase_add_test(tc, test_links_too_long);
    suite_add_tcase(s, tc);
    return s;
}
