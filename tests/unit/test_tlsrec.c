/*
 * test_tlsrec.c - the fake TLS record reader and writer: the first client
 * flight of ../shared/vectors.txt section B, a property test over random
 * record streams cut at random points (down to single bytes, in place and
 * not), and the alert and error rules of docs/protocol.md 5.5.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tlsrec.h"
#include "testutil.h"

/* vectors.txt B: CCS + ApplicationData(obfuscated2 header || frame). */
static const char FLIGHT[] =
    "140303000101170303006f989d31489a02ca3d7851da96a35e898d41c42b8136"
    "cacd995cf81e09514abc9a9c2eec45c4f0ffea1adb39645599c27e5b25bc21dd"
    "b7be5b6a6a3e396d5d6a823c1b822a9c16029184b7306a0548c9f101ba4ca5f8"
    "166ebbe9904953ce6a727a009f5ec366fe3c372e08332b0f757a";
static const char INNER_HEADER[] =
    "989d31489a02ca3d7851da96a35e898d41c42b8136cacd995cf81e09514abc9a"
    "9c2eec45c4f0ffea1adb39645599c27e5b25bc21ddb7be5b6a6a3e396d5d6a82";
#define FLIGHT_LEN      122
#define PAYLOAD_LEN     111             /* 64-byte header + 47-byte frame */
#define PAYLOAD_OFF     11              /* after CCS and the AppData header */

static void
reader_init(struct tlsrec_reader *r)
{
    memset(r, 0, sizeof(*r));
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Feed the bytes of a hex literal in one call; the status. */
static enum tlsrec_status
feed(struct tlsrec_reader *r, const char *hex, uint8_t *out, size_t *outlen)
{
    size_t len = strlen(hex) / 2;
    uint8_t *in = malloc(len > 0 ? len : 1);
    enum tlsrec_status st;

    ck_assert_ptr_nonnull(in);
    unhex(hex, in, len);
    st = tlsrec_unwrap(r, in, len, out, outlen);
    free(in);
    return st;
}

START_TEST(test_vector_b_flight)
{
    uint8_t wire[FLIGHT_LEN], out[FLIGHT_LEN], all[FLIGHT_LEN];
    struct tlsrec_reader r;
    size_t outlen, total = 0;

    unhex(FLIGHT, wire, FLIGHT_LEN);

    /* In one piece. */
    reader_init(&r);
    ck_assert_int_eq(tlsrec_unwrap(&r, wire, FLIGHT_LEN, out, &outlen),
        TLSREC_OK);
    ck_assert_uint_eq(outlen, PAYLOAD_LEN);
    ck_assert_hex(out, INNER_HEADER, 64);
    ck_assert_mem_eq(out, wire + PAYLOAD_OFF, PAYLOAD_LEN);

    /* One byte at a time: both headers arrive split. */
    reader_init(&r);
    for (size_t i = 0; i < FLIGHT_LEN; i++) {
        ck_assert_int_eq(tlsrec_unwrap(&r, wire + i, 1, out, &outlen),
            TLSREC_OK);
        ck_assert_uint_le(outlen, 1);
        memcpy(all + total, out, outlen);
        total += outlen;
    }
    ck_assert_uint_eq(total, PAYLOAD_LEN);
    ck_assert_mem_eq(all, wire + PAYLOAD_OFF, PAYLOAD_LEN);

    /* In place. */
    reader_init(&r);
    ck_assert_int_eq(tlsrec_unwrap(&r, wire, FLIGHT_LEN, wire, &outlen),
        TLSREC_OK);
    ck_assert_uint_eq(outlen, PAYLOAD_LEN);
    ck_assert_hex(wire, INNER_HEADER, 64);

    /* An empty feed is harmless anywhere. */
    ck_assert_int_eq(tlsrec_unwrap(&r, NULL, 0, out, &outlen), TLSREC_OK);
    ck_assert_uint_eq(outlen, 0);
}
END_TEST

#define MAX_RECORDS     24
#define STREAM_CAP      (MAX_RECORDS * (TLSREC_HEADER + TLSREC_MAX_IN + 6))

/* A random stream of up to maxrec AppData records, CCS sprinkled in. */
static size_t
random_stream(size_t maxrec, uint8_t *wire, uint8_t *payload, size_t *plen)
{
    size_t nrec = 1 + (size_t)(rng() % maxrec), w = 0, p = 0;

    for (size_t i = 0; i < nrec; i++) {
        size_t n;

        if (rng() % 4 == 0) {
            memcpy(wire + w, "\x14\x03\x03\x00\x01\x01", 6);
            w += 6;
        }
        switch (rng() % 4) {
        case 0:
            n = 1 + (size_t)(rng() % 16);
            break;
        case 1:
            n = 1 + (size_t)(rng() % 3000);
            break;
        case 2:
            n = TLSREC_MAX_IN - (size_t)(rng() % 2);
            break;
        default:
            n = 1 + (size_t)(rng() % TLSREC_MAX_IN);
            break;
        }
        wire[w] = 0x17;
        wire[w + 1] = 0x03;
        wire[w + 2] = 0x03;
        wire[w + 3] = (uint8_t)(n >> 8);
        wire[w + 4] = (uint8_t)n;
        w += TLSREC_HEADER;
        for (size_t j = 0; j < n; j++)
            payload[p + j] = wire[w + j] = (uint8_t)rng();
        w += n;
        p += n;
    }
    *plen = p;
    return w;
}

START_TEST(test_random_splits)
{
    uint8_t *wire = malloc(STREAM_CAP), *copy = malloc(STREAM_CAP);
    uint8_t *payload = malloc(STREAM_CAP), *got = malloc(STREAM_CAP);
    uint8_t *out = malloc(STREAM_CAP);

    ck_assert(wire && copy && payload && got && out);
    rng_state = 0x2545f4914f6cdd1du;
    for (int trial = 0; trial < 40; trial++) {
        int mode = trial % 4;
        int in_place = trial % 8 >= 4;
        /* Tiny pieces cost one call per byte or so: shorter streams. */
        int small = mode <= 1;
        size_t plen, wlen = random_stream(small ? 4 : MAX_RECORDS, wire,
            payload, &plen);

        for (int rep = 0; rep < (small ? 1 : 4); rep++) {
            struct tlsrec_reader r;
            size_t i = 0, total = 0, outlen;

            reader_init(&r);
            memcpy(copy, wire, wlen);
            while (i < wlen) {
                size_t k;

                switch (mode) {
                case 0:
                    k = 1;
                    break;
                case 1:
                    k = (size_t)(rng() % 8);
                    break;
                case 2:
                    k = 1 + (size_t)(rng() % 300);
                    break;
                default:
                    k = 1 + (size_t)(rng() % 40000);
                    break;
                }
                if (k > wlen - i)
                    k = wlen - i;
                ck_assert_int_eq(tlsrec_unwrap(&r, copy + i, k,
                    in_place ? copy + i : out, &outlen), TLSREC_OK);
                ck_assert_uint_le(outlen, k);
                memcpy(got + total, in_place ? copy + i : out, outlen);
                total += outlen;
                i += k;
            }
            ck_assert_uint_eq(total, plen);
            ck_assert_mem_eq(got, payload, plen);
            /* Ended on a record boundary. */
            ck_assert_uint_eq(r.left, 0);
            ck_assert_uint_eq(r.hdr_have, 0);
        }
    }
    free(wire);
    free(copy);
    free(payload);
    free(got);
    free(out);
}
END_TEST

START_TEST(test_alert)
{
    struct tlsrec_reader r;
    uint8_t out[64];
    size_t outlen;

    reader_init(&r);
    ck_assert_int_eq(feed(&r, "15030300020100", out, &outlen),
        TLSREC_ALERT);
    ck_assert_uint_eq(outlen, 0);

    /* Data before the alert in the same piece is still delivered. */
    reader_init(&r);
    ck_assert_int_eq(feed(&r, "1703030003aabbcc" "1503030002010017", out,
        &outlen), TLSREC_ALERT);
    ck_assert_uint_eq(outlen, 3);
    ck_assert_hex(out, "aabbcc", 3);

    /* A split alert header, after a CCS. */
    reader_init(&r);
    ck_assert_int_eq(feed(&r, "14030300010115", out, &outlen), TLSREC_OK);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_int_eq(feed(&r, "03", out, &outlen), TLSREC_OK);
    ck_assert_int_eq(feed(&r, "030002", out, &outlen), TLSREC_ALERT);
    /* A finished reader stays finished. */
    ck_assert_int_eq(feed(&r, "1703030001aa", out, &outlen), TLSREC_ERROR);
    ck_assert_uint_eq(outlen, 0);
}
END_TEST

static const struct {
    const char *what, *wire;
} BAD[] = {
    { "handshake after the hello", "160303000401000000" },
    { "handshake, TLS 1.0", "160301000401000000" },
    { "type 0x18", "1803030001aa" },
    { "type 0x00", "0003030001aa" },
    { "AppData version 03 01", "1703010001aa" },
    { "AppData version 03 04", "1703040001aa" },
    { "AppData version 02 03", "1702030001aa" },
    { "AppData length 0", "1703030000" },
    { "AppData length 16641", "1703034101" },
    { "AppData length 65535", "170303ffff" },
    { "CCS version 03 01", "140301000101" },
    { "CCS length 2", "14030300020101" },
    { "CCS length 0", "1403030000" },
    { "CCS payload 02", "140303000102" },
    { "CCS payload 00 after data", "1703030001aa140303000100" },
};
#define NBAD (sizeof(BAD) / sizeof(BAD[0]))

START_TEST(test_bad_records)
{
    const char *wire = BAD[_i].wire;
    size_t len = strlen(wire) / 2, outlen;
    uint8_t in[32], out[32];
    struct tlsrec_reader r;
    enum tlsrec_status st = TLSREC_OK;

    /* In one piece ... */
    reader_init(&r);
    ck_assert_msg(feed(&r, wire, out, &outlen) == TLSREC_ERROR, "%s",
        BAD[_i].what);
    /* ... and byte by byte: the error comes as soon as it is certain. */
    unhex(wire, in, len);
    reader_init(&r);
    for (size_t i = 0; i < len && st == TLSREC_OK; i++)
        st = tlsrec_unwrap(&r, in + i, 1, out, &outlen);
    ck_assert_msg(st == TLSREC_ERROR, "%s byte by byte", BAD[_i].what);
    ck_assert_int_eq(tlsrec_unwrap(&r, in, 1, out, &outlen), TLSREC_ERROR);
}
END_TEST

START_TEST(test_length_limits)
{
    uint8_t *in = malloc(TLSREC_HEADER + TLSREC_MAX_IN);
    uint8_t *out = malloc(TLSREC_MAX_IN);
    struct tlsrec_reader r;
    size_t outlen;

    ck_assert(in && out);
    /* The largest record accepted, and the smallest. */
    tlsrec_header(in, TLSREC_MAX_IN);
    memset(in + TLSREC_HEADER, 0x42, TLSREC_MAX_IN);
    reader_init(&r);
    ck_assert_int_eq(tlsrec_unwrap(&r, in, TLSREC_HEADER + TLSREC_MAX_IN,
        out, &outlen), TLSREC_OK);
    ck_assert_uint_eq(outlen, TLSREC_MAX_IN);
    ck_assert_uint_eq(out[TLSREC_MAX_IN - 1], 0x42);
    ck_assert_int_eq(feed(&r, "17030300017f", out, &outlen), TLSREC_OK);
    ck_assert_uint_eq(outlen, 1);
    ck_assert_uint_eq(out[0], 0x7f);
    free(in);
    free(out);
}
END_TEST

START_TEST(test_header_bytes)
{
    uint8_t h[TLSREC_HEADER];

    tlsrec_header(h, 1);
    ck_assert_hex(h, "1703030001", TLSREC_HEADER);
    tlsrec_header(h, 0x1234);
    ck_assert_hex(h, "1703031234", TLSREC_HEADER);
    tlsrec_header(h, TLSREC_PLAINTEXT_MAX);
    ck_assert_hex(h, "1703034000", TLSREC_HEADER);
    /* A full TLS 1.3 record: 2^14 + content type + 16-byte tag. */
    tlsrec_header(h, TLSREC_MAX_OUT);
    ck_assert_hex(h, "1703034011", TLSREC_HEADER);
}
END_TEST

/* The record-size rule (README "TLS shaping"). */
START_TEST(test_out_len)
{
    ck_assert_uint_eq(TLSREC_MAX_OUT, 16401);
    ck_assert_uint_eq(TLSREC_MIN_OUT, 18);
    ck_assert_uint_eq(TLSREC_MAX_IN, 16640);
    for (int wait = 0; wait <= 1; wait++) {
        ck_assert_uint_eq(tlsrec_out_len(0, wait), 0);
        ck_assert_uint_eq(tlsrec_out_len(TLSREC_MIN_OUT, wait),
            TLSREC_MIN_OUT);
        ck_assert_uint_eq(tlsrec_out_len(1000, wait), 1000);
        ck_assert_uint_eq(tlsrec_out_len(16384, wait), 16384);
        ck_assert_uint_eq(tlsrec_out_len(16401, wait), 16401);
        ck_assert_uint_eq(tlsrec_out_len(16402, wait), 16401);
        ck_assert_uint_eq(tlsrec_out_len(1 << 20, wait), 16401);
    }
    /* Too short for a TLS 1.3 record: held while waiting is allowed. */
    for (size_t n = 1; n < TLSREC_MIN_OUT; n++) {
        ck_assert_uint_eq(tlsrec_out_len(n, 1), 0);
        ck_assert_uint_eq(tlsrec_out_len(n, 0), n);
    }
}
END_TEST

/* Every length a TLS 1.3 client may send is accepted, one past is not. */
START_TEST(test_client_lengths)
{
    static uint8_t in[TLSREC_HEADER + TLSREC_MAX_IN + 1];
    static uint8_t out[TLSREC_MAX_IN + 1];
    struct tlsrec_reader r;
    size_t outlen;

    for (size_t n = 1; n <= TLSREC_MAX_IN + 1; n += n < 64 ? 1 : 97) {
        memset(&r, 0, sizeof(r));
        tlsrec_header(in, n);
        ck_assert_int_eq(tlsrec_unwrap(&r, in, TLSREC_HEADER + n, out,
            &outlen), TLSREC_OK);
        ck_assert_uint_eq(outlen, n);
    }
    memset(&r, 0, sizeof(r));
    tlsrec_header(in, TLSREC_MAX_IN);
    ck_assert_int_eq(tlsrec_unwrap(&r, in, TLSREC_HEADER + TLSREC_MAX_IN,
        out, &outlen), TLSREC_OK);
    memset(&r, 0, sizeof(r));
    tlsrec_header(in, TLSREC_MAX_IN + 1);
    ck_assert_int_eq(tlsrec_unwrap(&r, in, TLSREC_HEADER + 1, out,
        &outlen), TLSREC_ERROR);
}
END_TEST

Suite *tlsrec_suite(void);

Suite *
tlsrec_suite(void)
{
    Suite *s = suite_create("tlsrec");
    TCase *tc = tcase_create("records");

    /* The property test feeds megabytes one byte at a time; valgrind. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_vector_b_flight);
    tcase_add_test(tc, test_random_splits);
    tcase_add_test(tc, test_alert);
    tcase_add_loop_test(tc, test_bad_records, 0, (int)NBAD);
    tcase_add_test(tc, test_length_limits);
    tcase_add_test(tc, test_header_bytes);
    tcase_add_test(tc, test_out_len);
    tcase_add_test(tc, test_client_lengths);
    suite_add_tcase(s, tc);
    return s;
}
