/*
 * test_proxyproto.c - the PROXY protocol parser and builder: v1 and v2
 * headers that parse (IPv4, IPv6, UNKNOWN, LOCAL, TLVs skipped, the
 * client's bytes after them untouched), every prefix of a good header
 * reported incomplete, and the ones refused (bad signature, truncated
 * fields, oversized, bad version, command, family, ports, addresses,
 * TLVs); then build -> parse round trips for both versions.
 */
#include <check.h>

#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "net.h"
#include "proxyproto.h"

Suite *proxyproto_suite(void);

static int
parse_str(const char *s, struct proxyproto_hdr *h)
{
    const char *why;

    return proxyproto_parse((const uint8_t *)s, strlen(s), h, &why);
}

static void
assert_addrs(const struct proxyproto_hdr *h, const char *src,
    const char *dst)
{
    char b[80];

    ck_assert_int_eq(h->local, 0);
    net_format((const struct sockaddr *)&h->src, b, sizeof(b));
    ck_assert_str_eq(b, src);
    net_format((const struct sockaddr *)&h->dst, b, sizeof(b));
    ck_assert_str_eq(b, dst);
}

/* Every proper prefix of buf[0..len) is a header not yet complete. */
static void
assert_prefixes_incomplete(const uint8_t *buf, size_t len)
{
    struct proxyproto_hdr h;
    const char *why;

    for (size_t i = 0; i < len; i++)
        ck_assert_msg(proxyproto_parse(buf, i, &h, &why) == 0,
            "prefix of %zu of %zu bytes: not incomplete (%s)", i, len, why);
}

START_TEST(test_v1_good)
{
    static const char *const v4 = "PROXY TCP4 192.0.2.7 198.51.100.1 "
        "40001 443\r\n";
    static const char *const v6 = "PROXY TCP6 2001:db8::7 ::1 65535 0\r\n";
    struct proxyproto_hdr h;
    char buf[256];

    ck_assert_int_eq(parse_str(v4, &h), (int)strlen(v4));
    ck_assert_int_eq(h.version, 1);
    assert_addrs(&h, "192.0.2.7:40001", "198.51.100.1:443");
    ck_assert_int_eq(parse_str(v6, &h), (int)strlen(v6));
    assert_addrs(&h, "[2001:db8::7]:65535", "[::1]:0");
    /* The client's bytes after the header are not the header's. */
    snprintf(buf, sizeof(buf), "%s\x16\x03\x01\x02PROXY ", v4);
    ck_assert_int_eq(parse_str(buf, &h), (int)strlen(v4));
    assert_prefixes_incomplete((const uint8_t *)v4, strlen(v4));
    assert_prefixes_incomplete((const uint8_t *)v6, strlen(v6));
}
END_TEST

START_TEST(test_v1_unknown)
{
    static const char *const bare = "PROXY UNKNOWN\r\n";
    static const char *const full = "PROXY UNKNOWN ffff:f...f:ffff "
        "ffff:f...f:ffff 65535 65535\r\n";
    struct proxyproto_hdr h;

    ck_assert_int_eq(parse_str(bare, &h), (int)strlen(bare));
    ck_assert_int_eq(h.version, 1);
    ck_assert_int_eq(h.local, 1);
    ck_assert_int_eq(parse_str(full, &h), (int)strlen(full));
    ck_assert_int_eq(h.local, 1);
    ck_assert_int_eq(parse_str("PROXY UNKNOWNX\r\n", &h), -1);
}
END_TEST

START_TEST(test_v1_bad)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",             /* truncated */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",           /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",               /* family */
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",             /* LF alone */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
        "PROXY \r\n",
    };
    struct proxyproto_hdr h;
    const char *why;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse_str(bad[i], &h) == -1, "accepted: %s", bad[i]);
    /* A line over 107 bytes, complete or not, is refused. */
    {
        char line[200];

        memset(line, 'a', sizeof(line));
        memcpy(line, "PROXY UNKNOWN ", 14);
        ck_assert_int_eq(proxyproto_parse((uint8_t *)line, 107, &h, &why),
            -1);
        ck_assert_int_eq(proxyproto_parse((uint8_t *)line, 106, &h, &why), 0);
        memcpy(line + 105, "\r\n", 2);
        ck_assert_int_eq(proxyproto_parse((uint8_t *)line, 107, &h, &why),
            107);
        memcpy(line + 105, "a\r\n", 3);
        ck_assert_int_eq(proxyproto_parse((uint8_t *)line, 108, &h, &why),
            -1);
    }
    /* A byte that is not printable ASCII. */
    ck_assert_int_eq(proxyproto_parse((const uint8_t *)"PROXY \0", 7, &h,
        &why), -1);
}
END_TEST

/* A v2 header: cmd, fam, the block (addresses and TLVs) of len bytes. */
static size_t
v2(uint8_t *out, uint8_t cmd, uint8_t fam, const uint8_t *block,
    size_t len)
{
    memcpy(out, proxyproto_v2_sig, PROXYPROTO_V2_SIG_LEN);
    out[12] = cmd;
    out[13] = fam;
    out[14] = (uint8_t)(len >> 8);
    out[15] = (uint8_t)len;
    if (len > 0)
        memcpy(out + 16, block, len);
    return 16 + len;
}

static const uint8_t inet_block[] = {
    192, 0, 2, 7,  198, 51, 100, 1,  0x9c, 0x41,  0x01, 0xbb
};

START_TEST(test_v2_good)
{
    uint8_t buf[600], block[300];
    struct proxyproto_hdr h;
    const char *why;
    size_t n;

    n = v2(buf, 0x21, 0x11, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(h.version, 2);
    assert_addrs(&h, "192.0.2.7:40001", "198.51.100.1:443");
    assert_prefixes_incomplete(buf, n);
    /* Client bytes after it: not consumed. */
    memcpy(buf + n, "\x16\x03\x01", 3);
    ck_assert_int_eq(proxyproto_parse(buf, n + 3, &h, &why), (int)n);

    /* IPv6. */
    memset(block, 0, 36);
    block[0] = 0x20; block[1] = 0x01; block[2] = 0x0d; block[3] = 0xb8;
    block[15] = 7;
    block[31] = 1;
    block[32] = 0x12; block[33] = 0x34;
    block[34] = 0x01; block[35] = 0xbb;
    n = v2(buf, 0x21, 0x21, block, 36);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    assert_addrs(&h, "[2001:db8::7]:4660", "[::1]:443");

    /* TLVs after the addresses are skipped: a NOOP, an empty one, an
     * AWS-like one with 20 bytes. */
    memcpy(block, inet_block, 12);
    n = 12;
    memcpy(block + n, "\x04\x00\x02xy", 5);
    n += 5;
    memcpy(block + n, "\x02\x00\x00", 3);
    n += 3;
    memcpy(block + n, "\xea\x00\x14", 3);
    memset(block + n + 3, 'v', 20);
    n += 23;
    n = v2(buf, 0x21, 0x11, block, n);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    assert_addrs(&h, "192.0.2.7:40001", "198.51.100.1:443");
    assert_prefixes_incomplete(buf, n);
}
END_TEST

START_TEST(test_v2_local)
{
    uint8_t buf[600], block[300];
    struct proxyproto_hdr h;
    const char *why;
    size_t n;

    /* LOCAL: whatever block it has means nothing. */
    n = v2(buf, 0x20, 0x00, NULL, 0);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(h.version, 2);
    ck_assert_int_eq(h.local, 1);
    n = v2(buf, 0x20, 0x11, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(h.local, 1);
    /* PROXY with UNSPEC or UNIX: no IP client; the socket's is used. */
    n = v2(buf, 0x21, 0x00, NULL, 0);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(h.local, 1);
    memset(block, 'u', 216);
    n = v2(buf, 0x21, 0x31, block, 216);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(h.local, 1);
}
END_TEST

START_TEST(test_v2_bad)
{
    uint8_t buf[PROXYPROTO_MAX + 64], block[PROXYPROTO_V2_MAX_LEN + 16];
    struct proxyproto_hdr h;
    const char *why;
    size_t n;

    /* Bad signature, at any of its bytes. */
    for (size_t i = 0; i < PROXYPROTO_V2_SIG_LEN; i++) {
        n = v2(buf, 0x21, 0x11, inet_block, sizeof(inet_block));
        buf[i] ^= 0x40;
        ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
        /* Refused as soon as the bad byte is in. */
        ck_assert_int_eq(proxyproto_parse(buf, i + 1, &h, &why), -1);
    }
    /* Version 1 or 3 in the binary form; unknown commands. */
    n = v2(buf, 0x11, 0x11, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    n = v2(buf, 0x31, 0x11, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    n = v2(buf, 0x22, 0x11, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    /* Unknown family, unknown transport, IP over UDP. */
    n = v2(buf, 0x21, 0x41, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    n = v2(buf, 0x21, 0x13, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    n = v2(buf, 0x21, 0x12, inet_block, sizeof(inet_block));
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    /* Address block shorter than its family's. */
    n = v2(buf, 0x21, 0x11, inet_block, 11);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    n = v2(buf, 0x21, 0x21, inet_block, 12);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    /* A TLV that runs past the block, or a stray byte after the last. */
    memcpy(block, inet_block, 12);
    memcpy(block + 12, "\x04\x00\x05xy", 5);
    n = v2(buf, 0x21, 0x11, block, 17);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    memcpy(block + 12, "\x04\x00\x02xy\x01\x00", 7);
    n = v2(buf, 0x21, 0x11, block, 19);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    /* Oversized: refused from the length alone, before its bytes. */
    memset(block, 0, sizeof(block));
    memcpy(block, inet_block, 12);
    n = v2(buf, 0x21, 0x11, block, PROXYPROTO_V2_MAX_LEN + 1);
    ck_assert_int_eq(proxyproto_parse(buf, 16, &h, &why), -1);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), -1);
    /* The largest taken: addresses and one NOOP TLV filling it. */
    block[12] = 0x04;
    block[13] = (uint8_t)((PROXYPROTO_V2_MAX_LEN - 15) >> 8);
    block[14] = (uint8_t)(PROXYPROTO_V2_MAX_LEN - 15);
    n = v2(buf, 0x21, 0x11, block, PROXYPROTO_V2_MAX_LEN);
    ck_assert_int_eq(n, PROXYPROTO_MAX);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(proxyproto_parse(buf, n - 1, &h, &why), 0);
    /* Nothing yet is incomplete, not bad. */
    ck_assert_int_eq(proxyproto_parse(buf, 0, &h, &why), 0);
}
END_TEST

static void
set_addr(struct sockaddr_storage *ss, const char *a, int port)
{
    socklen_t len;

    memset(ss, 0, sizeof(*ss));
    ck_assert_int_eq(net_parse_literal(a, port, ss, &len), 0);
}

/* Build version v of src -> dst, parse it back, compare. */
static void
round_trip(int v, const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, const char *want_src,
    const char *want_dst)
{
    uint8_t buf[PROXYPROTO_BUILD_MAX];
    struct proxyproto_hdr h;
    const char *why;
    size_t n = proxyproto_build(v, (const struct sockaddr *)src,
        (const struct sockaddr *)dst, buf, sizeof(buf));

    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(proxyproto_parse(buf, n, &h, &why), (int)n);
    ck_assert_int_eq(h.version, v);
    if (want_src == NULL) {
        ck_assert_int_eq(h.local, 1);
        return;
    }
    assert_addrs(&h, want_src, want_dst);
    /* One byte short of room: nothing written. */
    ck_assert_uint_eq(proxyproto_build(v, (const struct sockaddr *)src,
        (const struct sockaddr *)dst, buf, n - 1), 0);
}

START_TEST(test_build)
{
    struct sockaddr_storage a4, b4, a6, b6, unix_sa;
    uint8_t buf[PROXYPROTO_BUILD_MAX];
    size_t n;

    set_addr(&a4, "127.0.0.5", 40000);
    set_addr(&b4, "127.0.0.1", 443);
    set_addr(&a6, "2001:db8::5", 1);
    set_addr(&b6, "::1", 8443);
    memset(&unix_sa, 0, sizeof(unix_sa));
    unix_sa.ss_family = AF_UNIX;
    n = proxyproto_build(1, (struct sockaddr *)&a4, (struct sockaddr *)&b4,
        buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen("PROXY TCP4 127.0.0.5 127.0.0.1 40000 "
        "443\r\n"));
    ck_assert_mem_eq(buf, "PROXY TCP4 127.0.0.5 127.0.0.1 40000 443\r\n", n);
    n = proxyproto_build(2, (struct sockaddr *)&a4, (struct sockaddr *)&b4,
        buf, sizeof(buf));
    ck_assert_uint_eq(n, 28);
    ck_assert_mem_eq(buf + 12, "\x21\x11\x00\x0c\x7f\x00\x00\x05"
        "\x7f\x00\x00\x01\x9c\x40\x01\xbb", 16);
    for (int v = 1; v <= 2; v++) {
        round_trip(v, &a4, &b4, "127.0.0.5:40000", "127.0.0.1:443");
        round_trip(v, &a6, &b6, "[2001:db8::5]:1", "[::1]:8443");
        /* Mixed families: the IPv4 one mapped. */
        round_trip(v, &a4, &b6, "[::ffff:127.0.0.5]:40000", "[::1]:8443");
        round_trip(v, &a6, &b4, "[2001:db8::5]:1",
            "[::ffff:127.0.0.1]:443");
        /* No IP client: UNKNOWN / LOCAL. */
        round_trip(v, &unix_sa, &b4, NULL, NULL);
        round_trip(v, &a4, &unix_sa, NULL, NULL);
    }
    ck_assert_uint_eq(proxyproto_build(3, (struct sockaddr *)&a4,
        (struct sockaddr *)&b4, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(proxyproto_build(0, (struct sockaddr *)&a4,
        (struct sockaddr *)&b4, buf, sizeof(buf)), 0);
}
END_TEST

Suite *
proxyproto_suite(void)
{
    Suite *s = suite_create("proxyproto");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_v1_good);
    tcase_add_test(tc, test_v1_unknown);
    tcase_add_test(tc, test_v1_bad);
    tcase_add_test(tc, test_v2_good);
    tcase_add_test(tc, test_v2_local);
    tcase_add_test(tc, test_v2_bad);
    tcase_add_test(tc, test_build);
    suite_add_tcase(s, tc);
    return s;
}
