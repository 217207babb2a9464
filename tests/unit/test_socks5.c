/*
 * test_socks5.c - the SOCKS5 client messages (common/socks5.c): the bytes
 * of the greeting, RFC 1929 request and CONNECT for IPv4 and IPv6 (RFC
 * 1928 and 1929 by hand), and every parser fed valid, refusing and
 * malformed answers, including a reply cut short or with a length that
 * does not match its address type.
 */
#include <check.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "socks5.h"
#include "testutil.h"

START_TEST(greeting_bytes)
{
    uint8_t b[3];

    ck_assert_uint_eq(socks5_greeting(b, 0), 3);
    ck_assert_hex(b, "050100", 3);
    ck_assert_uint_eq(socks5_greeting(b, 1), 3);
    ck_assert_hex(b, "050102", 3);
}
END_TEST

START_TEST(method_answers)
{
    static const uint8_t none[2] = { 5, 0 }, up[2] = { 5, 2 };
    static const uint8_t refused[2] = { 5, 0xff }, v4[2] = { 4, 0 };
    static const uint8_t gssapi[2] = { 5, 1 };

    ck_assert_int_eq(socks5_parse_method(none, SOCKS5_METHOD_NONE), 0);
    ck_assert_int_eq(socks5_parse_method(up, SOCKS5_METHOD_USERPASS), 0);
    /* A method we did not offer is a broken server, not a choice. */
    ck_assert_int_eq(socks5_parse_method(none, SOCKS5_METHOD_USERPASS),
        SOCKS5_BAD);
    ck_assert_int_eq(socks5_parse_method(gssapi, SOCKS5_METHOD_NONE),
        SOCKS5_BAD);
    ck_assert_int_eq(socks5_parse_method(refused, SOCKS5_METHOD_NONE),
        SOCKS5_REFUSED);
    ck_assert_int_eq(socks5_parse_method(v4, SOCKS5_METHOD_NONE),
        SOCKS5_BAD);
}
END_TEST

START_TEST(auth_request_bytes)
{
    uint8_t b[SOCKS5_REQ_MAX];
    char long_name[300];

    ck_assert_uint_eq(socks5_auth_request(b, "bob", "pw!"), 9);
    ck_assert_hex(b, "0103626f6203707721", 9);
    memset(long_name, 'a', 255);
    long_name[255] = '\0';
    ck_assert_uint_eq(socks5_auth_request(b, long_name, long_name), 513);
    ck_assert_uint_eq(b[1], 255);
    ck_assert_uint_eq(b[257], 255);
    long_name[255] = 'a';
    long_name[256] = '\0';
    ck_assert_uint_eq(socks5_auth_request(b, long_name, "x"), 0);
    ck_assert_uint_eq(socks5_auth_request(b, "", "x"), 0);
    ck_assert_uint_eq(socks5_auth_request(b, "x", ""), 0);
}
END_TEST

START_TEST(auth_answers)
{
    static const uint8_t ok[2] = { 1, 0 }, no[2] = { 1, 1 };
    static const uint8_t v5[2] = { 5, 0 };

    ck_assert_int_eq(socks5_parse_auth(ok), 0);
    ck_assert_int_eq(socks5_parse_auth(no), SOCKS5_REFUSED);
    /* Some servers answer the sub-negotiation with version 5: wrong. */
    ck_assert_int_eq(socks5_parse_auth(v5), SOCKS5_BAD);
}
END_TEST

START_TEST(connect_bytes)
{
    struct sockaddr_in in = { .sin_family = AF_INET,
        .sin_port = htons(443) };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
        .sin6_port = htons(8888) };
    struct sockaddr un = { .sa_family = AF_UNIX };
    uint8_t b[32];

    inet_pton(AF_INET, "149.154.175.50", &in.sin_addr);
    ck_assert_uint_eq(socks5_connect_request(b, (struct sockaddr *)&in), 10);
    ck_assert_hex(b, "05010001959aaf3201bb", 10);
    inet_pton(AF_INET6, "2001:b28:f23d:f001::a", &in6.sin6_addr);
    ck_assert_uint_eq(socks5_connect_request(b, (struct sockaddr *)&in6),
        22);
    ck_assert_hex(b, "0501000420010b28f23df001000000000000000a22b8", 22);
    ck_assert_uint_eq(socks5_connect_request(b, &un), 0);
}
END_TEST

START_TEST(reply_lengths)
{
    uint8_t h[SOCKS5_REPLY_HEAD] = { 5, 0, 0, 1, 0 };

    ck_assert_int_eq(socks5_reply_length(h), 10);
    h[3] = 4;
    ck_assert_int_eq(socks5_reply_length(h), 22);
    h[3] = 3;
    h[4] = 9;
    ck_assert_int_eq(socks5_reply_length(h), 4 + 1 + 9 + 2);
    h[4] = 255;
    ck_assert_int_eq(socks5_reply_length(h), SOCKS5_REPLY_MAX);
    h[4] = 0;                           /* an empty name */
    ck_assert_int_eq(socks5_reply_length(h), SOCKS5_BAD);
    h[3] = 2;                           /* no such address type */
    ck_assert_int_eq(socks5_reply_length(h), SOCKS5_BAD);
    h[3] = 1;
    h[0] = 4;                           /* SOCKS4's answer */
    ck_assert_int_eq(socks5_reply_length(h), SOCKS5_BAD);
}
END_TEST

START_TEST(reply_ok_bound)
{
    struct sockaddr_storage ss;
    socklen_t len;
    uint8_t r[22];
    int rep = -1;
    char a[64];

    unhex("050000017f00000391a2", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 10, &rep, &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
    ck_assert_str_eq(a, "127.0.0.3");
    ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 0x91a2);

    unhex("0500000420010db80000000000000000000000011f90", r, 22);
    ck_assert_int_eq(socks5_parse_reply(r, 22, &rep, &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 8080);

    /* 0.0.0.0:0 (microsocks) and a name tell nothing: family 0. */
    unhex("05000001000000000000", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 10, &rep, &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, 0);
    ck_assert_uint_eq(len, 0);
    unhex("0500000301611234", r, 8);
    ck_assert_int_eq(socks5_parse_reply(r, 8, &rep, &ss, &len), 0);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(reply_refused_and_bad)
{
    struct sockaddr_storage ss;
    socklen_t len;
    uint8_t r[22];
    int rep = -1;

    unhex("05050001000000000000", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 10, &rep, &ss, &len),
        SOCKS5_REFUSED);
    ck_assert_int_eq(rep, 5);
    ck_assert_str_eq(socks5_reply_str(rep), "connection refused");
    ck_assert(socks5_rep_is_target(rep));
    unhex("05020001000000000000", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 10, &rep, &ss, &len),
        SOCKS5_REFUSED);
    ck_assert(!socks5_rep_is_target(rep));      /* its ruleset: its fault */
    ck_assert(!socks5_rep_is_target(1));
    ck_assert(socks5_rep_is_target(4));
    ck_assert_str_eq(socks5_reply_str(0x42), "unassigned reply code");
    /* Cut short, too long, or the length of another address type. */
    unhex("05000001000000000000", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 9, &rep, &ss, &len), SOCKS5_BAD);
    ck_assert_int_eq(socks5_parse_reply(r, 4, &rep, &ss, &len), SOCKS5_BAD);
    unhex("05000004000000000000", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 10, &rep, &ss, &len), SOCKS5_BAD);
    unhex("04000001000000000000", r, 10);
    ck_assert_int_eq(socks5_parse_reply(r, 10, &rep, &ss, &len), SOCKS5_BAD);
}
END_TEST

Suite *socks5_suite(void);

Suite *
socks5_suite(void)
{
    Suite *s = suite_create("socks5");
    TCase *tc = tcase_create("wire");

    tcase_add_test(tc, greeting_bytes);
    tcase_add_test(tc, method_answers);
    tcase_add_test(tc, auth_request_bytes);
    tcase_add_test(tc, auth_answers);
    tcase_add_test(tc, connect_bytes);
    tcase_add_test(tc, reply_lengths);
    tcase_add_test(tc, reply_ok_bound);
    tcase_add_test(tc, reply_refused_and_bad);
    suite_add_tcase(s, tc);
    return s;
}
