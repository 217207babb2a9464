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

/* vectors.txt E: headers for 40, 504, 508 and 1000 bytes, with and
 * without the quick-ack bit as a client sends them. */
START_TEST(test_vector_e)
{
    static const struct {
        size_t n;
        const char *ab, *ab_qa, *im, *im_qa;
    } e[] = {
        { 40, "0a", "8a", "28000000", "28000080" },
        { 504, "7e", "fe", "f8010000", "f8010080" },
        { 508, "7f7f0000", "ff7f0000", "fc010000", "fc010080" },
        { 1000, "7ffa0000", "fffa0000", "e8030000", "e8030080" },
    };
    uint8_t h[MTFRAME_HDR_MAX], in[1100];
    char hex[9];

    for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++) {
        const char *forms[4] = { e[i].ab, e[i].ab_qa, e[i].im, e[i].im_qa };
        size_t hl = mtframe_header(TAG_ABRIDGED, e[i].n, 0, h);

        hex_encode(h, hl, hex);
        ck_assert_str_eq(hex, e[i].ab);
        hl = mtframe_header(TAG_INTERMEDIATE, e[i].n, 0, h);
        hex_encode(h, hl, hex);
        ck_assert_str_eq(hex, e[i].im);
        for (int f = 0; f < 4; f++) {
            struct mtframe_reader r;
            size_t k = strlen(forms[f]) / 2, used, len;
            const uint8_t *pkt;
            int qa;

            unhex(forms[f], in, k);
            memset(in + k, 0x5a, e[i].n);
            mtframe_reader_init(&r, f < 2 ? TAG_ABRIDGED : TAG_INTERMEDIATE);
            ck_assert_int_eq(mtframe_read(&r, in, k + e[i].n, &used, &pkt,
                &len, &qa), MTFRAME_PACKET);
            ck_assert_uint_eq(used, k + e[i].n);
            ck_assert_uint_eq(len, e[i].n);
            ck_assert_int_eq(qa, f % 2);
            mtframe_reader_free(&r);
        }
    }
    /* E's padded example: 40 + 3 bytes of padding. */
    ck_assert_uint_eq(mtframe_header(TAG_PADDED, 40, 3, h), 4);
    ck_assert_hex(h, "2b000000", 4);
}
END_TEST

/* Several packets in one buffer: each call stops after one, *used says
 * where; the padded one also carries the quick-ack bit. */
START_TEST(test_several_in_one)
{
    uint8_t in[64];
    struct mtframe_reader r;
    const uint8_t *pkt;
    size_t used, len, at = 0, n;
    int qa;

    n = 4 + 8 + 4 + 5 + 4 + 4;
    unhex("08000080" "0102030405060708" "05000000" "0a0b0c0d0e"
        "04000000" "11121314", in, n);
    mtframe_reader_init(&r, TAG_PADDED);
    ck_assert_int_eq(mtframe_read(&r, in, n, &used, &pkt, &len, &qa),
        MTFRAME_PACKET);
    ck_assert_uint_eq(used, 12);
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(qa, 1);
    ck_assert_hex(pkt, "0102030405060708", 8);
    at += used;
    ck_assert_int_eq(mtframe_read(&r, in + at, n - at, &used, &pkt, &len,
        &qa), MTFRAME_PACKET);
    ck_assert_uint_eq(used, 9);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(qa, 0);
    ck_assert_hex(pkt, "0a0b0c0d", 4);
    at += used;
    ck_assert_int_eq(mtframe_reader_idle(&r), 1);
    /* The third one cut after two header bytes: not idle any more. */
    ck_assert_int_eq(mtframe_read(&r, in + at, 2, &used, &pkt, &len, &qa),
        MTFRAME_MORE);
    ck_assert_uint_eq(used, 2);
    ck_assert_int_eq(mtframe_reader_idle(&r), 0);
    at += used;
    ck_assert_int_eq(mtframe_read(&r, in + at, n - at, &used, &pkt, &len,
        &qa), MTFRAME_PACKET);
    ck_assert_hex(pkt, "11121314", 4);
    ck_assert_int_eq(mtframe_read(&r, in, 0, &used, &pkt, &len, &qa),
        MTFRAME_MORE);
    ck_assert_uint_eq(used, 0);
    mtframe_reader_free(&r);
}
END_TEST

/* Lengths at the bounds, and a refused header stays refused. */
START_TEST(test_bounds)
{
    size_t len, used;
    int qa;
    struct mtframe_reader r;
    const uint8_t *pkt;
    uint8_t in[8];

    /* MTFRAME_MAX = 1044480 = 0x000ff000: the header is taken. */
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "00f00f00", &len, &qa),
        MTFRAME_MORE);
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "04f00f00", &len, &qa),
        MTFRAME_BAD);
    /* Padded: the bound is on the frame, padding included. */
    ck_assert_int_eq(read_hex(TAG_PADDED, "00f00f00", &len, &qa),
        MTFRAME_MORE);
    ck_assert_int_eq(read_hex(TAG_PADDED, "03f00f00", &len, &qa),
        MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_PADDED, "00000040", &len, &qa),
        MTFRAME_BAD);
    /* Abridged: 0x3fc00 words = MTFRAME_MAX, one more is too many. */
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "7f00fc03", &len, &qa),
        MTFRAME_MORE);
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "ff01fc03", &len, &qa),
        MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "ffffffff", &len, &qa),
        MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "80", &len, &qa), MTFRAME_BAD);
    ck_assert_int_eq(read_hex(TAG_ABRIDGED, "7f7e0000", &len, &qa),
        MTFRAME_BAD);                   /* overlong, just below */
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "00000080", &len, &qa),
        MTFRAME_BAD);                   /* zero with quick ack */
    ck_assert_int_eq(read_hex(TAG_INTERMEDIATE, "02000000", &len, &qa),
        MTFRAME_BAD);
    for (int t = 0; t < 6; t++) {
        mtframe_reader_init(&r, tags[t % 3]);
        /* Zero lengths, then lengths too large. */
        memset(in, t < 3 ? 0x00 : 0xff, sizeof(in));
        ck_assert_int_eq(mtframe_read(&r, in, sizeof(in), &used, &pkt, &len,
            &qa), MTFRAME_BAD);
        ck_assert_uint_eq(used, tags[t % 3] == TAG_ABRIDGED ? 1 + (t > 2) * 3 :
            4);
        for (int again = 0; again < 5; again++) {
            ck_assert_int_eq(mtframe_read(&r, in, sizeof(in), &used, &pkt,
                &len, &qa), MTFRAME_BAD);
            ck_assert_uint_eq(used, 0);
        }
        mtframe_reader_free(&r);
    }
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
    mtframe_quickack(TAG_INTERMEDIATE, c, h);
    ck_assert_hex(h, "cdab2381", 4);
    ck_assert_uint_eq(mtframe_header(TAG_INTERMEDIATE, 8, 3, h), 4);
    ck_assert_hex(h, "08000000", 4);    /* pad only counts when padded */
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
    tcase_add_test(tc, test_vector_e);
    tcase_add_test(tc, test_several_in_one);
    tcase_add_test(tc, test_bounds);
    suite_add_tcase(s, tc);
    return s;
}
