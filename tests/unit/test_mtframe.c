/*
 * test_mtframe.c - the client framings ME mode parses and writes
 * (docs/protocol.md 4): round trips for each tag fed whole and byte by
 * byte, quick-ack bits both ways, padding stripped, bad lengths refused.
 */
#include <check.h>
#include <string.h>

#include "mtframe.h"
#include "proto.h"
#include "testutil.h"

static const uint32_t tags[3] = { TAG_ABRIDGED, TAG_INTERMEDIATE,
    TAG_PADDED };

/* Frame a packet of n bytes, read it back in pieces of step bytes. */
static void
round_trip(uint32_t tag, size_t n, size_t pad, size_t step)
{
    static uint8_t wire[MTFRAME_HDR_MAX + 2048 + 3], pkt[2048];
    struct mtframe_reader r;
    const uint8_t *got = NULL;
    size_t hl, len = 0, at = 0, total;
    int qa = -1, packets = 0;

    for (size_t i = 0; i < n; i++)
        pkt[i] = (uint8_t)(i * 7 + 1);
    hl = mtframe_header(tag, n, pad, wire);
    memcpy(wire + hl, pkt, n);
    memset(wire + hl + n, 0xaa, pad);
    total = hl + n + pad;
    mtframe_reader_init(&r, tag);
    while (at < total) {
        size_t k = total - at < step ? total - at : step, used = 0;
        enum mtframe_status st = mtframe_read(&r, wire + at, k, &used, &got,
            &len, &qa);

        ck_assert_int_ge(st, 0);
        at += used;
        if (st == MTFRAME_PACKET)
            packets++;
        else
            ck_assert_uint_eq(used, k);
    }
    ck_assert_int_eq(packets, 1);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(qa, 0);
    ck_assert_int_eq(memcmp(got, pkt, n), 0);
    ck_assert_int_eq(mtframe_reader_idle(&r), 1);
    mtframe_reader_free(&r);
}

START_TEST(test_round_trips)
{
    for (int t = 0; t < 3; t++)
        for (size_t n = 4; n <= 2048; n += n < 600 ? 4 : 500) {
            size_t pad = tags[t] == TAG_PADDED ? n % 4 : 0;

            round_trip(tags[t], n, pad, 1);
            round_trip(tags[t], n, pad, 5000);
        }
}
END_TEST

/* Parse one frame given as hex; the status, length and quick-ack bit. */
static enum mtframe_status
read_hex(uint32_t tag, const char *hex, size_t *len, int *qa)
{
    uint8_t in[64];
    size_t n = strlen(hex) / 2, used;
    struct mtframe_reader r;
    const uint8_t *p;
    enum mtframe_status st;

    unhex(hex, in, n);
    mtframe_reader_init(&r, tag);
    st = mtframe_read(&r, in, n, &used, &p, len, qa);
    mtframe_reader_free(&r);
    return st;
}

START_TEST(test_quickack_and_bad)
{
    size_t len;
    int qa;

    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "8101020304", &len, &qa),
        MTFRAME_PACKET);
    ck_assert_int_eq(qa, 1);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "0400008001020304", &len,
        &qa), MTFRAME_PACKET);
    ck_assert_int_eq(qa, 1);
    /* Padded: 7 bytes in the frame, 4 of packet. */
    ck_assert_int_eq(read_hex(TAG_PADDED, "0700000001020304aabbcc", &len,
        &qa), MTFRAME_PACKET);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "00", &len, &qa), MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "7f050000", &len, &qa),
        MTFRAME_BAD);                   /* overlong form */
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "05000000", &len, &qa),
        MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "04000040", &len, &qa),
        MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "00001000", &len, &qa),
        MTFRAME_BAD);                   /* over MTFRAME_MAX */
    ck_assert_int_eq(read_hex(TAG_PADDED, "03000000", &len, &qa),
        MTFRAME_BAD);                   /* no packet left */
}
END_TEST

START_TEST(test_writers)
{
    uint8_t h[4], c[4] = { 0xcd, 0xab, 0x23, 0x81 };

    ck_assert_uint_eq(mtframe_header(TAG_ABRIDGED, 8, 0, h), 1);
    ck_assert_uint_eq(h[0], 2);
    ck_assert_uint_eq(mtframe_header(TAG_ABRIDGED, 0x7f * 4, 0, h), 4);
    ck_assert_hex(h, "7f7f0000", 4);
    ck_assert_uint_eq(mtframe_header(TAG_PADDED, 8, 3, h), 4);
    ck_assert_hex(h, "0b000000", 4);
    /* vectors.txt D: quick ack for confirm 0x8123abcd. */
    mtframe_quickack(TAG_ABRIDGED, c, h);
    ck_assert_hex(h, "8123abcd", 4);
    mtframe_quickack(TAG_PADDED, c, h);
    ck_assert_hex(h, "cdab2381", 4);
}
END_TEST

Suite *mtframe_suite(void);

Suite *
mtframe_suite(void)
{
    Suite *s = suite_create("mtframe");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_round_trips);
    tcase_add_test(tc, test_quickack_and_bad);
    tcase_add_test(tc, test_writers);
    suite_add_tcase(s, tc);
    return s;
}
