/*
 * test_obfs2.c - the obfuscated2 header room on valid, random and
 * hostile input: matching only the right secret, the forbidden-prefix
 * rules, and a client/proxy round trip through obfs2_build().
 */
#include <check.h>

#include "crypto.h"
#include "obfs2.h"
#include "testutil.h"

static const uint8_t S1[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
    0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
static const uint8_t S2[16] = { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32,
    0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 };

START_TEST(test_roundtrip_each_tag)
{
    static const uint32_t tags[] = { TAG_ABRIDGED, TAG_INTERMEDIATE,
        TAG_PADDED };
    static const int16_t dcs[] = { 1, -5, 203, 10002, -32768 };

    for (size_t t = 0; t < 3; t++) {
        for (size_t d = 0; d < 5; d++) {
            uint8_t wire[64], msg[40] = "hello through the proxy, both ways";
            uint8_t copy[40];
            struct ctr *cup, *cdown, *pup, *pdown;
            struct obfs2_keys k;
            uint32_t tag;
            int16_t dc;

            ck_assert_int_eq(obfs2_build(wire, tags[t], dcs[d], S1, NULL,
                NULL, &cup, &cdown), 0);
            ck_assert_int_eq(obfs2_header_allowed(wire), 1);
            ck_assert_int_eq(obfs2_match(wire, S2, &tag, &dc, &k), 0);
            ck_assert_int_eq(obfs2_match(wire, S1, &tag, &dc, &k), 1);
            ck_assert_uint_eq(tag, tags[t]);
            ck_assert_int_eq(dc, dcs[d]);
            ck_assert_int_eq(obfs2_streams(wire, &k, &pup, &pdown), 0);
            memcpy(copy, msg, sizeof(msg));
            ctr_apply(cup, copy, copy, sizeof(copy));
            ctr_apply(pup, copy, copy, sizeof(copy));
            ck_assert_mem_eq(copy, msg, sizeof(msg));
            ctr_apply(pdown, copy, copy, sizeof(copy));
            ctr_apply(cdown, copy, copy, sizeof(copy));
            ck_assert_mem_eq(copy, msg, sizeof(msg));
            ctr_free(cup);
            ctr_free(cdown);
            ctr_free(pup);
            ctr_free(pdown);
        }
    }
}
END_TEST

/* Random bytes must (all but never) match no secret. */
START_TEST(test_random_headers_do_not_match)
{
    uint8_t hdr[64];
    struct obfs2_keys k;
    uint32_t tag;
    int16_t dc;
    int matches = 0;

    for (int i = 0; i < 20000; i++) {
        ck_assert_int_eq(random_bytes(hdr, sizeof(hdr)), 0);
        matches += obfs2_match(hdr, S1, &tag, &dc, &k);
    }
    ck_assert_int_eq(matches, 0);
}
END_TEST

/* Flipping any bit of the key material or the tag breaks the match. */
START_TEST(test_bit_flips_break_match)
{
    uint8_t wire[64];
    struct ctr *up, *down;
    struct obfs2_keys k;
    uint32_t tag;
    int16_t dc;

    ck_assert_int_eq(obfs2_build(wire, TAG_PADDED, 2, S1, NULL, NULL, &up,
        &down), 0);
    ctr_free(up);
    ctr_free(down);
    for (int byte = 8; byte < 60; byte++) {
        wire[byte] ^= 0x01;
        ck_assert_msg(obfs2_match(wire, S1, &tag, &dc, &k) == 0,
            "flip at %d still matched", byte);
        wire[byte] ^= 0x01;
    }
    ck_assert_int_eq(obfs2_match(wire, S1, &tag, &dc, &k), 1);
}
END_TEST

START_TEST(test_forbidden_prefixes)
{
    static const char *const bad[] = {
        "ef000000", "48454144", "504f5354", "47455420", "4f505449",
        "eeeeeeee", "dddddddd", "16030102",
    };
    uint8_t h[64];

    memset(h, 0x41, sizeof(h));
    ck_assert_int_eq(obfs2_header_allowed(h), 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(h, 0x41, sizeof(h));
        unhex(bad[i], h, 4);
        ck_assert_msg(obfs2_header_allowed(h) == 0, "%s allowed", bad[i]);
    }
    memset(h, 0x41, sizeof(h));
    memset(h + 4, 0, 4);
    ck_assert_int_eq(obfs2_header_allowed(h), 0);
}
END_TEST

Suite *obfs2_suite(void);

Suite *
obfs2_suite(void)
{
    Suite *s = suite_create("obfs2");
    TCase *tc = tcase_create("header");

    tcase_add_test(tc, test_roundtrip_each_tag);
    tcase_add_test(tc, test_random_headers_do_not_match);
    tcase_add_test(tc, test_bit_flips_break_match);
    tcase_add_test(tc, test_forbidden_prefixes);
    suite_add_tcase(s, tc);
    return s;
}
