/*
 * test_faketls.c - the fake TLS hello room against ../shared/vectors.txt
 * section B (digest, timestamp, the byte-exact server answer), and on
 * hostile input: every length field off by one, every truncation, random
 * buffers and random mutations.  Hostile buffers are heap blocks of the
 * exact size so AddressSanitizer catches any read past the end.  Then
 * faketls_classify(), driven the way worker/handshake.c drives it:
 * obfuscated2 headers that start like a TLS record are accepted with TLS
 * on and off, signed hellos stay fake TLS, and TLS-looking garbage is
 * refused or waited for exactly as without obfuscated2.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "faketls.h"
#include "obfs2.h"
#include "testutil.h"
#include "tlshello.h"

#define HELLO_LEN       517
#define CERT_LEN        2048
#define ANSWER_LEN      (FAKETLS_ANSWER_FIXED + CERT_LEN)
#define TS              1700000000u

static const uint8_t SECRET[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

/* vectors.txt B: the ClientHello with its random zeroed. */
static const char HELLO_ZEROED[] =
    "1603010200010001fc0303000000000000000000000000000000000000000000"
    "00000000000000000000002089310298776464f87e20a45ce73534989dc18af7"
    "05b9526b5211c79d6060faf400083a3a130113021303010001ab000000140012"
    "00000f7777772e6578616d706c652e636f6d000a000600043a3a001d000d0006"
    "000404030804001000050003026832002b0005043a3a0304003300260024001d"
    "0020a3dc77faeefb5c30c05570fc9e8803e9323d013276f59ef6468c415688db"
    "3fdd0015013f0000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000";
static const char CLIENT_RANDOM[] =
    "19ced3608fc69eea78c2f47f2f6e7518e809d51fb32718aae73fd6054b2e91bc";
static const char SESSION_ID[] =
    "89310298776464f87e20a45ce73534989dc18af705b9526b5211c79d6060faf4";
static const char KEY_SHARE[] =
    "48457fe5966ae3d69a56baf66e467cd2d07562076f62fbe7c67fc7e03402ea37";
static const char ANSWER_PREFIX[] =
    "160303007a020000760303adb681dd87f54f8887718f62ea9e167c44e846c414"
    "627c0c61884dc3fca636472089310298776464f87e20a45ce73534989dc18af7"
    "05b9526b5211c79d6060faf4130100002e00330024001d002048457fe5966ae3"
    "d69a56baf66e467cd2d07562076f62fbe7c67fc7e03402ea37002b0002030414"
    "03030001011703030800";
static const char ANSWER_SHA256[] =
    "c6baa4d3e3bcef48dbf4d7b244e7c7dce855f70b12b94f43a958c78923bfb721";

/* Offsets of the vector hello's fields, for the tests that bend them. */
#define OFF_SNI_EXT     90              /* server_name: 4 + 20 bytes */
#define SNI_EXT_LEN     24
#define OFF_EXT_LEN     88

/* The vector's DET(label, n): SHA256(label || be32(i)) blocks. */
static void
det(const char *label, uint8_t *out, size_t n)
{
    uint8_t ctr[4] = { 0 }, block[32];

    for (uint32_t i = 0; n > 0; i++) {
        size_t k = n < 32 ? n : 32;

        ctr[0] = (uint8_t)(i >> 24);
        ctr[1] = (uint8_t)(i >> 16);
        ctr[2] = (uint8_t)(i >> 8);
        ctr[3] = (uint8_t)i;
        sha256_2((const uint8_t *)label, strlen(label), ctr, 4, block);
        memcpy(out, block, k);
        out += k;
        n -= k;
    }
}

/* Reproducible randomness, so a failing fuzz case can be rerun. */
static uint64_t rng_state;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void
vector_hello(uint8_t buf[HELLO_LEN])
{
    unhex(HELLO_ZEROED, buf, HELLO_LEN);
    unhex(CLIENT_RANDOM, buf + FAKETLS_RANDOM_OFF, 32);
}

/* A heap copy of exactly n bytes: ASan flags any read beyond it. */
static uint8_t *
exact_copy(const uint8_t *src, size_t n)
{
    uint8_t *p = malloc(n > 0 ? n : 1);

    ck_assert_ptr_nonnull(p);
    if (n > 0)
        memcpy(p, src, n);
    return p;
}

static void
put_be(uint8_t *p, size_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static size_t
get_be(const uint8_t *p, size_t width)
{
    size_t v = 0;

    for (size_t i = 0; i < width; i++)
        v = v << 8 | p[i];
    return v;
}

/* What a client does (docs/protocol.md 5.2): sign rec[0..len) for ts. */
static void
sign_hello(uint8_t *rec, size_t len, const uint8_t secret[16], uint32_t ts)
{
    uint8_t mac[32];

    memset(rec + FAKETLS_RANDOM_OFF, 0, 32);
    hmac_sha256_2(secret, 16, rec, len, NULL, 0, mac);
    for (int i = 0; i < 4; i++)
        mac[28 + i] ^= (uint8_t)(ts >> (8 * i));
    memcpy(rec + FAKETLS_RANDOM_OFF, mac, 32);
}

/*
 * Build a hello record into out: a session id of sid bytes, the given
 * suites, compression "01 00", then the extensions block exts[0..elen)
 * unless exts is NULL (the hello then ends after compression).
 */
static size_t
mk_hello(uint8_t *out, size_t sid, const uint16_t *suites, size_t nsuites,
    const uint8_t *exts, size_t elen)
{
    uint8_t *p = out + 9;

    out[0] = 0x16;
    out[1] = 0x03;
    out[2] = 0x01;
    out[5] = 0x01;
    *p++ = 0x03;
    *p++ = 0x03;
    memset(p, 0x5a, 32);
    p += 32;
    *p++ = (uint8_t)sid;
    memset(p, 0xa5, sid);
    p += sid;
    put_be(p, 2 * nsuites, 2);
    p += 2;
    for (size_t i = 0; i < nsuites; i++, p += 2)
        put_be(p, suites[i], 2);
    *p++ = 0x01;
    *p++ = 0x00;
    if (exts != NULL) {
        put_be(p, elen, 2);
        memcpy(p + 2, exts, elen);
        p += 2 + elen;
    }
    put_be(out + 3, (size_t)(p - out) - 5, 2);
    put_be(out + 6, (size_t)(p - out) - 9, 3);
    return (size_t)(p - out);
}

/* An extensions block: one server_name for name (n bytes, type nt),
 * then a padding extension so that the record is long enough. */
static size_t
mk_sni_exts(uint8_t *out, const char *name, size_t n, uint8_t nt)
{
    put_be(out, 0x0000, 2);
    put_be(out + 2, n + 5, 2);
    put_be(out + 4, n + 3, 2);
    out[6] = nt;
    put_be(out + 7, n, 2);
    memcpy(out + 9, name, n);
    put_be(out + 9 + n, 0x0015, 2);
    put_be(out + 11 + n, 40, 2);
    memset(out + 13 + n, 0, 40);
    return 13 + n + 40;
}

START_TEST(test_vector_b_verify)
{
    uint8_t rec[HELLO_LEN], wrong[16];
    uint32_t ts = 0;

    vector_hello(rec);
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, SECRET, &ts), 1);
    ck_assert_uint_eq(ts, TS);

    memcpy(wrong, SECRET, 16);
    wrong[15] ^= 0x01;
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, wrong, &ts), 0);

    rec[100] ^= 0x01;
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, SECRET, &ts), 0);
    rec[100] ^= 0x01;

    /* The digest covers the record header too. */
    rec[4] ^= 0x80;
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, SECRET, &ts), 0);
    rec[4] ^= 0x80;

    /* First 28 bytes of the random are the proof ... */
    rec[FAKETLS_RANDOM_OFF + 27] ^= 0x01;
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, SECRET, &ts), 0);
    rec[FAKETLS_RANDOM_OFF + 27] ^= 0x01;
    /* ... the last 4 carry the timestamp, little-endian. */
    rec[FAKETLS_RANDOM_OFF + 31] ^= 0x01;
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, SECRET, &ts), 1);
    ck_assert_uint_eq(ts, TS ^ 0x01000000u);

    /* Too short to hold a random. */
    ck_assert_int_eq(faketls_verify(rec, 42, SECRET, &ts), 0);
    ck_assert_int_eq(faketls_verify(rec, 0, SECRET, &ts), 0);
}
END_TEST

START_TEST(test_vector_b_parse)
{
    uint8_t rec[HELLO_LEN];
    struct faketls_hello h;

    vector_hello(rec);
    ck_assert_int_eq(faketls_parse_hello(rec, HELLO_LEN, &h), 0);
    ck_assert_uint_eq(h.record_len, HELLO_LEN);
    ck_assert_hex(h.random, CLIENT_RANDOM, 32);
    ck_assert_uint_eq(h.session_id_len, 32);
    ck_assert_hex(h.session_id, SESSION_ID, 32);
    ck_assert_int_eq(h.has_sni, 1);
    ck_assert_str_eq(h.sni, "www.example.com");
    ck_assert_uint_eq(h.cipher, 0x1301);
    /* A record with bytes after it is not a whole hello. */
    ck_assert_int_eq(faketls_parse_hello(rec, HELLO_LEN - 1, &h), -1);
}
END_TEST

START_TEST(test_vector_b_answer)
{
    uint8_t rec[HELLO_LEN], ks[32], cert[CERT_LEN], digest[32];
    uint8_t *out = malloc(ANSWER_LEN), *check = malloc(ANSWER_LEN);
    struct faketls_hello h;

    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(check);
    vector_hello(rec);
    ck_assert_int_eq(faketls_parse_hello(rec, HELLO_LEN, &h), 0);
    det("B/server_key_share", ks, 32);
    ck_assert_hex(ks, KEY_SHARE, 32);
    det("B/fake_cert", cert, CERT_LEN);

    ck_assert_uint_eq(faketls_build_answer(&h, SECRET, ks, cert, CERT_LEN,
        out, ANSWER_LEN - 1), 0);
    ck_assert_uint_eq(faketls_build_answer(&h, SECRET, ks, cert, CERT_LEN,
        out, ANSWER_LEN), ANSWER_LEN);
    ck_assert_hex(out, ANSWER_PREFIX, FAKETLS_ANSWER_FIXED);
    ck_assert_mem_eq(out + FAKETLS_ANSWER_FIXED, cert, CERT_LEN);
    sha256_2(out, ANSWER_LEN, NULL, 0, digest);
    ck_assert_hex(digest, ANSWER_SHA256, 32);

    /* The client's check: HMAC(S, its random || answer zeroed). */
    memcpy(check, out, ANSWER_LEN);
    memset(check + FAKETLS_RANDOM_OFF, 0, 32);
    hmac_sha256_2(SECRET, 16, h.random, 32, check, ANSWER_LEN, digest);
    ck_assert_mem_eq(digest, out + FAKETLS_RANDOM_OFF, 32);
    free(out);
    free(check);
}
END_TEST

/* Other session id lengths shift everything after offset 43. */
START_TEST(test_answer_session_id_lengths)
{
    static const size_t sids[] = { 0, 1, 16, 31, 32 };
    uint8_t ks[32] = { 9 }, cert[100], out[400], zeroed[400], mac[32];
    struct faketls_hello h;

    memset(cert, 0xc3, sizeof(cert));
    for (size_t t = 0; t < sizeof(sids) / sizeof(sids[0]); t++) {
        size_t sid = sids[t], n, off;

        memset(&h, 0, sizeof(h));
        memset(h.random, 0x11, 32);
        memset(h.session_id, 0x22, sid);
        h.session_id_len = sid;
        h.cipher = 0x1302;
        n = faketls_build_answer(&h, SECRET, ks, cert, sizeof(cert), out,
            sizeof(out));
        ck_assert_uint_eq(n, FAKETLS_ANSWER_FIXED - 32 + sid + 100);
        ck_assert_uint_eq(get_be(out + 3, 2), 90 + sid);
        ck_assert_uint_eq(out[5], 0x02);
        ck_assert_uint_eq(get_be(out + 6, 3), 86 + sid);
        ck_assert_uint_eq(out[43], sid);
        off = 44 + sid;
        ck_assert_uint_eq(get_be(out + off, 2), 0x1302);
        ck_assert_uint_eq(out[off + 2], 0x00);
        ck_assert_uint_eq(get_be(out + off + 3, 2), 46);
        ck_assert_mem_eq(out + off + 13, ks, 32);
        off = 5 + 90 + sid;
        ck_assert_hex(out + off, "14030300010117030300" "64", 11);
        ck_assert_mem_eq(out + off + 11, cert, sizeof(cert));

        memcpy(zeroed, out, n);
        memset(zeroed + FAKETLS_RANDOM_OFF, 0, 32);
        hmac_sha256_2(SECRET, 16, h.random, 32, zeroed, n, mac);
        ck_assert_mem_eq(mac, out + FAKETLS_RANDOM_OFF, 32);
    }
    /* A cert that does not fit the 16-bit record length. */
    ck_assert_uint_eq(faketls_build_answer(&h, SECRET, ks, cert, 0x10000,
        out, sizeof(out)), 0);
}
END_TEST

/* The vector hello with its server_name extension cut out, re-signed. */
START_TEST(test_hello_without_sni)
{
    uint8_t src[HELLO_LEN], *rec;
    size_t len = HELLO_LEN - SNI_EXT_LEN;
    struct faketls_hello h;
    uint32_t ts = 0;

    vector_hello(src);
    memmove(src + OFF_SNI_EXT, src + OFF_SNI_EXT + SNI_EXT_LEN,
        HELLO_LEN - OFF_SNI_EXT - SNI_EXT_LEN);
    put_be(src + 3, len - 5, 2);
    put_be(src + 6, len - 9, 3);
    put_be(src + OFF_EXT_LEN, get_be(src + OFF_EXT_LEN, 2) - SNI_EXT_LEN,
        2);
    sign_hello(src, len, SECRET, 12345);
    rec = exact_copy(src, len);

    ck_assert_int_eq(faketls_parse_hello(rec, len, &h), 0);
    ck_assert_int_eq(h.has_sni, 0);
    ck_assert_str_eq(h.sni, "");
    ck_assert_uint_eq(h.session_id_len, 32);
    ck_assert_uint_eq(h.cipher, 0x1301);
    ck_assert_int_eq(faketls_verify(rec, len, SECRET, &ts), 1);
    ck_assert_uint_eq(ts, 12345);
    free(rec);
}
END_TEST

/* Where tlshello_build() put the ALPN extension (type 0x0010). */
static uint8_t *
find_alpn(uint8_t *rec, size_t len)
{
    static const uint8_t ext[] = { 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c,
        0x02, 'h', '2', 0x08 };

    for (size_t i = 0; i + sizeof(ext) <= len; i++)
        if (memcmp(rec + i, ext, sizeof(ext)) == 0)
            return rec + i;
    return NULL;
}

/* The ALPN a hello offers; a list we cannot read offers nothing. */
START_TEST(test_hello_alpn)
{
    uint8_t rec[517], *e;
    struct faketls_hello h;

    ck_assert_uint_eq(tlshello_build(rec, sizeof(rec), "www.example.com",
        SECRET, 1), sizeof(rec));
    ck_assert_int_eq(faketls_parse_hello(rec, sizeof(rec), &h), 0);
    ck_assert_uint_eq(h.alpn, FAKETLS_OFFERS_ALPN | FAKETLS_OFFERS_H2 |
        FAKETLS_OFFERS_HTTP11);
    e = find_alpn(rec, sizeof(rec));
    ck_assert_ptr_nonnull(e);
    e[8] = '3';                         /* h3: not a name we know */
    ck_assert_int_eq(faketls_parse_hello(rec, sizeof(rec), &h), 0);
    ck_assert_uint_eq(h.alpn, FAKETLS_OFFERS_ALPN | FAKETLS_OFFERS_HTTP11);
    e[5] = 0x0d;                        /* list longer than the extension */
    ck_assert_int_eq(faketls_parse_hello(rec, sizeof(rec), &h), 0);
    ck_assert_uint_eq(h.alpn, FAKETLS_OFFERS_ALPN);
    e[5] = 0x0c;
    e[9] = 0x09;                        /* a name past the list's end */
    ck_assert_int_eq(faketls_parse_hello(rec, sizeof(rec), &h), 0);
    ck_assert_uint_eq(h.alpn, FAKETLS_OFFERS_ALPN);
    e[1] = 0x11;                        /* another extension: no ALPN */
    ck_assert_int_eq(faketls_parse_hello(rec, sizeof(rec), &h), 0);
    ck_assert_uint_eq(h.alpn, 0);
}
END_TEST

/* The flight's length follows the ALPN choice the mask host would make. */
START_TEST(test_flight_len)
{
    const unsigned both = FAKETLS_OFFERS_ALPN | FAKETLS_OFFERS_H2 |
        FAKETLS_OFFERS_HTTP11;
    const unsigned h2 = FAKETLS_OFFERS_ALPN | FAKETLS_OFFERS_H2;
    const unsigned h11 = FAKETLS_OFFERS_ALPN | FAKETLS_OFFERS_HTTP11;
    const unsigned other = FAKETLS_OFFERS_ALPN;

    /* nginx measured: EncryptedExtensions 36 bytes with h2, 42 with
     * http/1.1, so 27 without ALPN; the rest of the flight 1201. */
    ck_assert_uint_eq(faketls_flight_len(1237, FAKETLS_ALPN_H2, both), 1237);
    ck_assert_uint_eq(faketls_flight_len(1237, FAKETLS_ALPN_H2, h2), 1237);
    ck_assert_uint_eq(faketls_flight_len(1237, FAKETLS_ALPN_H2, h11), 1243);
    ck_assert_uint_eq(faketls_flight_len(1237, FAKETLS_ALPN_H2, other), 1228);
    ck_assert_uint_eq(faketls_flight_len(1237, FAKETLS_ALPN_H2, 0), 1228);
    ck_assert_uint_eq(faketls_flight_len(1243, FAKETLS_ALPN_HTTP11, both),
        1243);
    ck_assert_uint_eq(faketls_flight_len(1243, FAKETLS_ALPN_HTTP11, h2),
        1228);
    ck_assert_uint_eq(faketls_flight_len(1243, FAKETLS_ALPN_HTTP11, 0), 1228);
    for (unsigned a = 0; a < 8; a++) {
        ck_assert_uint_eq(faketls_flight_len(1228, FAKETLS_ALPN_NONE, a),
            1228);
        ck_assert_uint_eq(faketls_flight_len(1228, FAKETLS_ALPN_UNKNOWN, a),
            1228);
    }
    ck_assert_uint_eq(faketls_flight_len(5, FAKETLS_ALPN_HTTP11, 0), 5);
    ck_assert_str_eq(faketls_alpn_name(FAKETLS_ALPN_H2), "h2");
    ck_assert_str_eq(faketls_alpn_name(FAKETLS_ALPN_HTTP11), "http/1.1");
    ck_assert_str_eq(faketls_alpn_name(FAKETLS_ALPN_NONE), "none");
    ck_assert_str_eq(faketls_alpn_name((enum faketls_alpn)99), "unknown");
    for (int a = FAKETLS_ALPN_UNKNOWN; a <= FAKETLS_ALPN_HTTP11; a++)
        ck_assert_int_eq(faketls_alpn_parse(faketls_alpn_name(
            (enum faketls_alpn)a)), a);
    ck_assert_int_eq(faketls_alpn_parse("h3"), -1);
}
END_TEST

/* Byte for byte what nginx's ssl_reject_handshake sends (measured). */
START_TEST(test_alert_bytes)
{
    ck_assert_hex(faketls_alert_unrecognized_name, "15030300020270",
        FAKETLS_ALERT_LEN);
}
END_TEST

/* No extensions block at all, and the cipher choice. */
START_TEST(test_hello_without_extensions)
{
    static const uint16_t tls13_late[] = { 0x2a2a, 0xc02b, 0xc02f, 0xc02c,
        0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
        0x0035, 0x1303, 0x1301 };
    static const uint16_t no_tls13[] = { 0x0a0a, 0xc02b, 0xc02f, 0xc02c,
        0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
        0x0035, 0x000a };
    uint16_t many[32];
    uint8_t buf[256], *rec;
    struct faketls_hello h;
    size_t len;

    len = mk_hello(buf, 32, tls13_late, 15, NULL, 0);
    rec = exact_copy(buf, len);
    ck_assert_int_eq(faketls_parse_hello(rec, len, &h), 0);
    ck_assert_int_eq(h.has_sni, 0);
    ck_assert_uint_eq(h.cipher, 0x1303);
    free(rec);

    len = mk_hello(buf, 32, no_tls13, 14, NULL, 0);
    rec = exact_copy(buf, len);
    ck_assert_int_eq(faketls_parse_hello(rec, len, &h), 0);
    ck_assert_uint_eq(h.cipher, 0x1301);
    free(rec);

    /* An empty session id and an empty extensions block; the record
     * must still be at least FAKETLS_MIN_HELLO long. */
    len = mk_hello(buf, 0, no_tls13, 14, buf, 0);
    ck_assert_uint_lt(len, 5 + FAKETLS_MIN_HELLO);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);
    for (size_t i = 0; i < 31; i++)
        many[i] = (uint16_t)(0xc000 + i);
    many[31] = 0x1302;
    len = mk_hello(buf, 0, many, 32, buf, 0);
    ck_assert_uint_ge(len, 5 + FAKETLS_MIN_HELLO);
    rec = exact_copy(buf, len);
    ck_assert_int_eq(faketls_parse_hello(rec, len, &h), 0);
    ck_assert_uint_eq(h.session_id_len, 0);
    ck_assert_uint_eq(h.cipher, 0x1302);
    free(rec);

    /* A single trailing byte where the extensions length would be. */
    len = mk_hello(buf, 32, tls13_late, 15, NULL, 0);
    buf[len++] = 0x00;
    put_be(buf + 3, len - 5, 2);
    put_be(buf + 6, len - 9, 3);
    rec = exact_copy(buf, len);
    ck_assert_int_eq(faketls_parse_hello(rec, len, &h), -1);
    free(rec);
}
END_TEST

/* server_name edge cases, each in an exact-size heap record. */
START_TEST(test_sni_rules)
{
    static const uint16_t suites[] = { 0x1301 };
    uint8_t ext[512], buf[1024], *rec;
    char name[300];
    struct faketls_hello h;
    size_t elen, len;

    memset(name, 'a', sizeof(name));
    /* 253 bytes is the longest host name; 254 is refused. */
    elen = mk_sni_exts(ext, name, FAKETLS_MAX_SNI, 0);
    len = mk_hello(buf, 32, suites, 1, ext, elen);
    rec = exact_copy(buf, len);
    ck_assert_int_eq(faketls_parse_hello(rec, len, &h), 0);
    ck_assert_int_eq(h.has_sni, 1);
    ck_assert_uint_eq(strlen(h.sni), FAKETLS_MAX_SNI);
    free(rec);

    elen = mk_sni_exts(ext, name, FAKETLS_MAX_SNI + 1, 0);
    len = mk_hello(buf, 32, suites, 1, ext, elen);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);
    ck_assert_int_eq(h.has_sni, 0);

    /* Empty name, NUL inside the name, a name type other than host_name. */
    elen = mk_sni_exts(ext, name, 0, 0);
    len = mk_hello(buf, 32, suites, 1, ext, elen);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);
    elen = mk_sni_exts(ext, "evil\0.com", 9, 0);
    len = mk_hello(buf, 32, suites, 1, ext, elen);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);
    elen = mk_sni_exts(ext, "www.example.com", 15, 1);
    len = mk_hello(buf, 32, suites, 1, ext, elen);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);

    /* Two server_name extensions. */
    elen = mk_sni_exts(ext, "a.com", 5, 0);
    memcpy(ext + elen, ext, 14);
    len = mk_hello(buf, 32, suites, 1, ext, elen + 14);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);
    /* ... which alone is fine. */
    len = mk_hello(buf, 32, suites, 1, ext, elen);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), 0);
    ck_assert_str_eq(h.sni, "a.com");

    /* Bytes after the extensions block, inside the handshake message. */
    buf[len] = 0x00;
    buf[len + 1] = 0x00;
    put_be(buf + 3, len + 2 - 5, 2);
    put_be(buf + 6, len + 2 - 9, 3);
    ck_assert_int_eq(faketls_parse_hello(buf, len + 2, &h), -1);

    /* A 33-byte session id. */
    elen = mk_sni_exts(ext, "a.com", 5, 0);
    len = mk_hello(buf, 33, suites, 1, ext, elen);
    ck_assert_int_eq(faketls_parse_hello(buf, len, &h), -1);
}
END_TEST

START_TEST(test_sniff_every_prefix)
{
    uint8_t rec[HELLO_LEN + 10], *p;
    size_t need;

    memset(rec, 0xee, sizeof(rec));
    vector_hello(rec);
    for (size_t n = 0; n <= sizeof(rec); n++) {
        enum faketls_sniff r;

        p = exact_copy(rec, n);
        r = faketls_sniff(p, n, &need);
        if (n < 5) {
            ck_assert_int_eq(r, FAKETLS_NEED_MORE);
            ck_assert_uint_eq(need, 5);
        } else if (n < HELLO_LEN) {
            ck_assert_int_eq(r, FAKETLS_NEED_MORE);
            ck_assert_uint_eq(need, HELLO_LEN);
        } else {
            ck_assert_int_eq(r, FAKETLS_COMPLETE);
            ck_assert_uint_eq(need, HELLO_LEN);
        }
        free(p);
    }
    ck_assert_int_eq(faketls_sniff(NULL, 0, &need), FAKETLS_NEED_MORE);

    /* 16 03 03 too; not 16 03 02, not other first bytes, decided early. */
    rec[2] = 0x03;
    ck_assert_int_eq(faketls_sniff(rec, HELLO_LEN, &need),
        FAKETLS_COMPLETE);
    rec[2] = 0x02;
    ck_assert_int_eq(faketls_sniff(rec, 3, &need), FAKETLS_NOT_TLS);
    ck_assert_int_eq(faketls_sniff(rec, 2, &need), FAKETLS_NEED_MORE);
    rec[2] = 0x01;
    rec[1] = 0x01;
    ck_assert_int_eq(faketls_sniff(rec, 2, &need), FAKETLS_NOT_TLS);
    rec[1] = 0x03;
    rec[0] = 0xef;
    ck_assert_int_eq(faketls_sniff(rec, 1, &need), FAKETLS_NOT_TLS);
    ck_assert_int_eq(faketls_sniff(rec, HELLO_LEN, &need), FAKETLS_NOT_TLS);
    rec[0] = 0x16;

    /* Record length bounds. */
    put_be(rec + 3, FAKETLS_MIN_HELLO - 1, 2);
    ck_assert_int_eq(faketls_sniff(rec, 5, &need), FAKETLS_BAD_LENGTH);
    put_be(rec + 3, FAKETLS_MIN_HELLO, 2);
    ck_assert_int_eq(faketls_sniff(rec, 5, &need), FAKETLS_NEED_MORE);
    ck_assert_uint_eq(need, 5 + FAKETLS_MIN_HELLO);
    put_be(rec + 3, FAKETLS_MAX_HELLO, 2);
    ck_assert_int_eq(faketls_sniff(rec, 5, &need), FAKETLS_NEED_MORE);
    ck_assert_uint_eq(need, 5 + FAKETLS_MAX_HELLO);
    put_be(rec + 3, FAKETLS_MAX_HELLO + 1, 2);
    ck_assert_int_eq(faketls_sniff(rec, 5, &need), FAKETLS_BAD_LENGTH);
    put_be(rec + 3, 0, 2);
    ck_assert_int_eq(faketls_sniff(rec, 5, &need), FAKETLS_BAD_LENGTH);
}
END_TEST

/* Every length field of the vector hello, bent by -1 and +1. */
static const struct {
    const char *name;
    size_t off, width;
} FIELDS[] = {
    { "record length", 3, 2 },
    { "handshake length", 6, 3 },
    { "session id length", 43, 1 },
    { "cipher suites length", 76, 2 },
    { "compression methods length", 86, 1 },
    { "extensions length", OFF_EXT_LEN, 2 },
    { "server_name extension length", 92, 2 },
    { "server name list length", 94, 2 },
    { "host name length", 97, 2 },
    { "supported_groups length", 116, 2 },
    { "padding extension length", 196, 2 },
};
#define NFIELDS (sizeof(FIELDS) / sizeof(FIELDS[0]))

START_TEST(test_length_fields_off_by_one)
{
    size_t f = (size_t)_i / 2, off = FIELDS[f].off, w = FIELDS[f].width;
    int delta = _i % 2 == 0 ? -1 : 1;
    uint8_t src[HELLO_LEN + 1], *rec;
    struct faketls_hello h;
    uint32_t ts;
    size_t v;

    vector_hello(src);
    src[HELLO_LEN] = 0;
    v = get_be(src + off, w);
    ck_assert_msg(v > 0, "%s", FIELDS[f].name);
    put_be(src + off, v + (size_t)delta, w);

    rec = exact_copy(src, HELLO_LEN);
    ck_assert_msg(faketls_parse_hello(rec, HELLO_LEN, &h) == -1,
        "%s %+d accepted", FIELDS[f].name, delta);
    ck_assert_int_eq(faketls_verify(rec, HELLO_LEN, SECRET, &ts), 0);
    free(rec);
    /* The record length also bent in the buffer actually passed. */
    if (off == 3) {
        size_t len = HELLO_LEN + (size_t)delta;

        rec = exact_copy(src, len);
        ck_assert_int_eq(faketls_parse_hello(rec, len, &h), -1);
        free(rec);
    }
}
END_TEST

/* Cut the hello at every length, with and without fixing up the outer
 * lengths so the parser has to find the damage deeper inside. */
START_TEST(test_truncated_everywhere)
{
    uint8_t src[HELLO_LEN], *rec;
    struct faketls_hello h;
    uint32_t ts;
    size_t need;

    vector_hello(src);
    for (size_t n = 0; n < HELLO_LEN; n++) {
        rec = exact_copy(src, n);
        ck_assert_int_eq(faketls_parse_hello(rec, n, &h), -1);
        ck_assert_int_eq(faketls_verify(rec, n, SECRET, &ts), 0);
        (void)faketls_sniff(rec, n, &need);
        if (n >= 5)
            put_be(rec + 3, n - 5, 2);
        if (n >= 9)
            put_be(rec + 6, n - 9, 3);
        ck_assert_msg(faketls_parse_hello(rec, n, &h) == -1,
            "cut at %zu accepted", n);
        free(rec);
    }
}
END_TEST

/* Whatever a successful parse reports must be within its bounds. */
static void
check_sane(const struct faketls_hello *h, size_t len)
{
    ck_assert_uint_eq(h->record_len, len);
    ck_assert_uint_le(h->session_id_len, 32);
    ck_assert_uint_le(strlen(h->sni), FAKETLS_MAX_SNI);
    ck_assert_int_eq(h->has_sni, h->sni[0] != '\0');
    ck_assert(h->cipher >= 0x1301 && h->cipher <= 0x1303);
}

START_TEST(test_random_buffers)
{
    uint8_t src[700], *rec;
    struct faketls_hello h;
    uint32_t ts;
    size_t need;

    rng_state = 0x9e3779b97f4a7c15u;
    for (int iter = 0; iter < 10000; iter++) {
        size_t n = (size_t)(rng() % sizeof(src));

        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)rng();
        /* Half of them get a plausible start to reach the inner fields. */
        if (iter % 2 == 0 && n >= 9) {
            memcpy(src, "\x16\x03\x01", 3);
            put_be(src + 3, n - 5, 2);
            src[5] = 0x01;
            put_be(src + 6, n - 9, 3);
        }
        rec = exact_copy(src, n);
        (void)faketls_sniff(rec, n, &need);
        if (faketls_parse_hello(rec, n, &h) == 0)
            check_sane(&h, n);
        (void)faketls_verify(rec, n, SECRET, &ts);
        free(rec);
    }
}
END_TEST

START_TEST(test_random_mutations)
{
    uint8_t src[HELLO_LEN], mut[HELLO_LEN], *rec;
    struct faketls_hello h;
    uint32_t ts;
    int parsed = 0;

    rng_state = 0x0123456789abcdefu;
    vector_hello(src);
    for (int iter = 0; iter < 10000; iter++) {
        int k = 1 + (int)(rng() % 4);
        size_t n = HELLO_LEN;

        memcpy(mut, src, HELLO_LEN);
        while (k-- > 0) {
            /* Mostly hit the structured head, where the lengths are. */
            size_t at = (size_t)(rng() % (rng() % 2 ? 220 : HELLO_LEN));

            mut[at] = (uint8_t)rng();
        }
        /* Sometimes also cut the tail, keeping the outer lengths honest. */
        if (rng() % 4 == 0) {
            n = 105 + (size_t)(rng() % (HELLO_LEN - 105));
            put_be(mut + 3, n - 5, 2);
            put_be(mut + 6, n - 9, 3);
        }
        rec = exact_copy(mut, n);
        if (faketls_parse_hello(rec, n, &h) == 0) {
            check_sane(&h, n);
            parsed++;
        }
        (void)faketls_verify(rec, n, SECRET, &ts);
        free(rec);
    }
    /* Mutations in the padding leave the hello valid. */
    ck_assert_int_gt(parsed, 0);
}
END_TEST

START_TEST(test_x25519_public)
{
    uint8_t a[32], b[32], zero[32] = { 0 };

    ck_assert_int_eq(faketls_x25519_public(a), 0);
    ck_assert_int_eq(faketls_x25519_public(b), 0);
    ck_assert_mem_ne(a, b, 32);
    ck_assert_mem_ne(a, zero, 32);
}
END_TEST

/*
 * A model of worker/handshake.c's decision (hs_sniff_record and the
 * plain obfuscated2 path), with the users' secrets and modes, the hello's
 * digest as its only check.  The bytes of a flight arrive in segments of
 * seg bytes (the last one shorter): a read that wants n bytes waits for
 * the segment holding byte n and gets everything up to its end, as
 * hs_fill() does.  seg 1 is a drip, seg >= the flight one write.
 */
#define NUSERS          3

static const uint8_t USERS[NUSERS][16] = {
    { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff },
    { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
      0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 },
    { 0x0b, 0xad, 0xc0, 0xde, 0x0b, 0xad, 0xc0, 0xde,
      0x5e, 0xc0, 0x4d, 0x5e, 0xc0, 0x4d, 0x5e, 0xc0 },
};

struct modes {
    int classic, secure, tls;
};

enum outcome { OUT_OBFS2, OUT_TLS, OUT_REFUSED, OUT_WAITS };

struct verdict {
    enum outcome out;
    int user;
    uint32_t tag;
    size_t read;                        /* bytes read when it was decided */
};

/* One pass over the users: 1 accepted, 0 no user, -1 a disabled mode. */
static int
model_match(const struct modes *m, const uint8_t *hdr, struct verdict *v)
{
    int r = 0;

    for (int u = 0; u < NUSERS; u++) {
        struct obfs2_keys k;
        uint32_t tag;
        int16_t dc;

        if (!obfs2_match(hdr, USERS[u], &tag, &dc, &k))
            continue;
        if (!(tag == TAG_PADDED ? m->secure : m->classic)) {
            r = -1;
            continue;
        }
        v->user = u;
        v->tag = tag;
        return 1;
    }
    return r;
}

/* What a read for n bytes leaves in the buffer (n <= flen). */
static size_t
model_arrived(size_t n, size_t flen, size_t seg)
{
    size_t end = (n + seg - 1) / seg * seg;

    return end < flen ? end : flen;
}

/* The plain path: wait for 64 bytes unless the start rules them out. */
static void
model_plain(const struct modes *m, const uint8_t *f, size_t flen,
    size_t seg, size_t have, struct verdict *v)
{
    for (;;) {
        if (obfs2_prefix_impossible(f, have)) {
            v->out = OUT_REFUSED;
            v->read = have;
            return;
        }
        if (have >= OBFS2_HEADER_LEN)
            break;
        if (flen < OBFS2_HEADER_LEN) {
            v->out = OUT_WAITS;
            v->read = flen;
            return;
        }
        have = model_arrived(have + 1, flen, seg);
    }
    v->out = model_match(m, f, v) == 1 ? OUT_OBFS2 : OUT_REFUSED;
    v->read = have;
}

static struct verdict
model_run(const struct modes *m, const uint8_t *f, size_t flen, size_t seg)
{
    int obfs2 = m->classic || m->secure, hello = 1, r;
    size_t have = model_arrived(1, flen, seg), need;
    struct verdict v = { OUT_REFUSED, -1, 0, 0 };
    struct faketls_hello h;
    uint32_t ts;

    if (!m->tls || f[0] != 0x16) {
        if (obfs2)
            model_plain(m, f, flen, seg, have, &v);
        else
            v.read = have;
        return v;
    }
    for (;;) {
        v.read = have;
        switch (faketls_classify(f, have, obfs2, hello, &need)) {
        case FAKETLS_READ:
            ck_assert_uint_gt(need, have);
            if (need > flen) {
                v.out = OUT_WAITS;
                v.read = flen;
                return v;
            }
            have = model_arrived(need, flen, seg);
            break;
        case FAKETLS_OBFS2:
            ck_assert(obfs2);
            ck_assert_uint_ge(have, OBFS2_HEADER_LEN);
            obfs2 = 0;
            if ((r = model_match(m, f, &v)) != 0) {
                v.out = r == 1 ? OUT_OBFS2 : OUT_REFUSED;
                return v;
            }
            break;
        case FAKETLS_HELLO:
            ck_assert(hello);
            ck_assert_uint_le(need, have);
            hello = 0;
            if (faketls_parse_hello(f, need, &h) == 0)
                for (int u = 0; u < NUSERS; u++)
                    if (faketls_verify(f, need, USERS[u], &ts)) {
                        v.out = OUT_TLS;
                        v.user = u;
                        return v;
                    }
            break;
        case FAKETLS_NOT_RECORD:
            if (obfs2)
                model_plain(m, f, flen, seg, have, &v);
            return v;
        case FAKETLS_REFUSE:
            return v;
        }
    }
}

static const struct modes MIXED = { 1, 1, 1 }, PLAIN = { 1, 1, 0 },
    TLS_ONLY = { 0, 0, 1 };

/* First bytes whose record length is too short, too long or plausible. */
static const struct {
    const char *hex;
    size_t n;
} PREFIXES[] = {
    { "16030100", 4 }, { "160301ff", 4 }, { "1603030100", 5 },
    { "1603034000", 5 }, { "1603010010", 5 }, { "16030100ff", 5 },
};
#define NPREFIXES (sizeof(PREFIXES) / sizeof(PREFIXES[0]))

START_TEST(test_classify_prefixed_headers)
{
    static const uint32_t tags[] = {
        TAG_ABRIDGED, TAG_INTERMEDIATE, TAG_PADDED
    };
    static const size_t frames[] = { 0, 1, 40, 300 };
    uint8_t f[OBFS2_HEADER_LEN + 300], prefix[8];
    int built = 0;

    for (size_t p = 0; p < NPREFIXES; p++)
    for (size_t t = 0; t < 3; t++)
    for (int u = 0; u < NUSERS; u++)
    for (int k = 0; k < 8; k++) {
        size_t flen = OBFS2_HEADER_LEN + frames[k % 4];
        struct ctr *up, *down;

        unhex(PREFIXES[p].hex, prefix, PREFIXES[p].n);
        do {
            ck_assert_int_eq(obfs2_build(f, tags[t], 2, USERS[u], NULL,
                NULL, &up, &down), 0);
            ctr_free(up);
            ctr_free(down);
            memcpy(f, prefix, PREFIXES[p].n);
        } while (!obfs2_header_allowed(f));
        ck_assert_int_eq(random_bytes(f + OBFS2_HEADER_LEN,
            flen - OBFS2_HEADER_LEN), 0);
        /* Clients write the header with (or before) their first
         * packet: one write, or the 64 bytes first. */
        for (size_t seg = OBFS2_HEADER_LEN; seg <= 4096; seg *= 64) {
            const struct modes *ms[] = { &MIXED, &PLAIN };

            for (int i = 0; i < 2; i++) {
                struct verdict v = model_run(ms[i], f, flen, seg);

                ck_assert_msg(v.out == OUT_OBFS2, "prefix %s tag %08x "
                    "user %d frame %zu seg %zu tls %d: outcome %d",
                    PREFIXES[p].hex, (unsigned)tags[t], u, flen - 64,
                    seg, ms[i]->tls, v.out);
                ck_assert_int_eq(v.user, u);
                ck_assert_uint_eq(v.tag, tags[t]);
                /* Decided on what had come, never waiting for more. */
                ck_assert_uint_eq(v.read, seg < flen ? seg : flen);
            }
        }
        built++;
    }
    ck_assert_int_eq(built, (int)NPREFIXES * 3 * NUSERS * 8);
}
END_TEST

START_TEST(test_classify_signed_hellos)
{
    static const size_t sizes[] = { 517, 600, 1000, 1800, 16389 };
    static uint8_t f[TLSHELLO_MAX_SIZE];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
    for (int u = 0; u < NUSERS; u++)
    for (int k = 0; k < 4; k++) {
        const struct modes *ms[] = { &MIXED, &TLS_ONLY };

        ck_assert_uint_eq(tlshello_build(f, sizes[i], k % 2 ?
            "www.example.com" : NULL, USERS[u], TS), sizes[i]);
        for (size_t seg = 1; seg <= 65536; seg *= 8)
            for (int j = 0; j < 2; j++) {
                struct verdict v = model_run(ms[j], f, sizes[i], seg);

                ck_assert_msg(v.out == OUT_TLS, "hello of %zu user %d "
                    "seg %zu classic %d: outcome %d", sizes[i], u, seg,
                    ms[j]->classic, v.out);
                ck_assert_int_eq(v.user, u);
                ck_assert_uint_eq(v.read, sizes[i]);
            }
    }
    /* tdlib's size starts 16 03 01 02: never even tried as a header. */
    ck_assert_uint_eq(tlshello_build(f, 517, NULL, USERS[0], TS), 517);
    ck_assert(obfs2_prefix_impossible(f, OBFS2_HEADER_LEN));
}
END_TEST

/*
 * A prober's view: TLS-looking bytes that are no client get the verdict
 * a TLS-only proxy gives them, after the same number of bytes, however
 * they arrive: nothing changes for them when obfuscated2 is on too.
 */
START_TEST(test_classify_tls_garbage)
{
    static const size_t lens[] = {
        0, 1, 0x10, 63, 99, 100, 0x100, 0x200, 0x3e3, 0x4000, 0x4001,
        0xffff
    };
    static uint8_t f[5 + 0xffff + 100];
    int refused = 0, waits = 0;

    rng_state = 0x5851f42d4c957f2du;
    for (int iter = 0; iter < 4000; iter++) {
        size_t l = iter % 3 ? lens[rng() % 12] : (size_t)(rng() % 0x10000);
        size_t flen;

        switch (rng() % 6) {
        case 0: flen = 5 + (size_t)(rng() % 60); break;
        case 1: flen = 64; break;
        case 2: flen = 65 + (size_t)(rng() % 100); break;
        case 3: flen = 5 + l; break;
        case 4: flen = 5 + l + (size_t)(rng() % 100); break;
        default: flen = 5 + (size_t)(rng() % (l + 100)); break;
        }
        for (size_t i = 0; i < flen; i++)
            f[i] = (uint8_t)rng();
        f[0] = 0x16;
        f[1] = 0x03;
        f[2] = rng() % 2 ? 0x01 : 0x03;
        put_be(f + 3, l, 2);
        for (size_t seg = 1; seg <= 65536; seg *= 4) {
            struct verdict mixed = model_run(&MIXED, f, flen, seg);
            struct verdict tls = model_run(&TLS_ONLY, f, flen, seg);

            ck_assert_msg(mixed.out == OUT_REFUSED || mixed.out == OUT_WAITS,
                "iter %d: garbage accepted (%d)", iter, mixed.out);
            ck_assert_msg(mixed.out == tls.out && mixed.read == tls.read,
                "iter %d (L %zu, %zu bytes, seg %zu): %d after %zu bytes, "
                "TLS only %d after %zu", iter, l, flen, seg, mixed.out,
                mixed.read, tls.out, tls.read);
            if (mixed.out == OUT_REFUSED)
                refused++;
            else
                waits++;
        }
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(waits, 0);
}
END_TEST

/* The steps themselves on a few fixed starts. */
START_TEST(test_classify_steps)
{
    uint8_t f[300];
    size_t need;

    memset(f, 0x5a, sizeof(f));
    memcpy(f, "\x16\x03\x03\x01\x00", 5);      /* L = 256 */
    ck_assert_int_eq(faketls_classify(f, 3, 1, 1, &need), FAKETLS_READ);
    ck_assert_uint_eq(need, 5);
    /* On the way to 261 bytes, stop at 64 for the header. */
    ck_assert_int_eq(faketls_classify(f, 5, 1, 1, &need), FAKETLS_READ);
    ck_assert_uint_eq(need, OBFS2_HEADER_LEN);
    ck_assert_int_eq(faketls_classify(f, 5, 0, 1, &need), FAKETLS_READ);
    ck_assert_uint_eq(need, 261);
    ck_assert_int_eq(faketls_classify(f, 64, 1, 1, &need), FAKETLS_OBFS2);
    ck_assert_int_eq(faketls_classify(f, 64, 0, 1, &need), FAKETLS_READ);
    ck_assert_uint_eq(need, 261);
    /* Whole: the hello first, then the header, then nothing. */
    ck_assert_int_eq(faketls_classify(f, 261, 1, 1, &need), FAKETLS_HELLO);
    ck_assert_uint_eq(need, 261);
    ck_assert_int_eq(faketls_classify(f, 261, 1, 0, &need), FAKETLS_OBFS2);
    ck_assert_int_eq(faketls_classify(f, 261, 0, 0, &need), FAKETLS_REFUSE);

    /* A length no hello has: the header if 64 bytes came, else refused. */
    put_be(f + 3, 0x10, 2);
    ck_assert_int_eq(faketls_classify(f, 5, 1, 1, &need), FAKETLS_REFUSE);
    ck_assert_int_eq(faketls_classify(f, 63, 1, 1, &need), FAKETLS_REFUSE);
    ck_assert_int_eq(faketls_classify(f, 64, 1, 1, &need), FAKETLS_OBFS2);
    ck_assert_int_eq(faketls_classify(f, 64, 0, 1, &need), FAKETLS_REFUSE);

    /* Starts no client sends as a header: 16 03 01 02, zeros at 4..7. */
    memcpy(f, "\x16\x03\x01\x02\x00", 5);
    ck_assert_int_eq(faketls_classify(f, 5, 1, 1, &need), FAKETLS_READ);
    ck_assert_uint_eq(need, 517);
    ck_assert_int_eq(faketls_classify(f, 64, 1, 1, &need), FAKETLS_READ);
    memcpy(f, "\x16\x03\x01\x00\x00\x00\x00\x00", 8);
    ck_assert_int_eq(faketls_classify(f, 64, 1, 1, &need), FAKETLS_REFUSE);

    /* Not a TLS record at all. */
    f[2] = 0x02;
    ck_assert_int_eq(faketls_classify(f, 64, 1, 1, &need),
        FAKETLS_NOT_RECORD);
}
END_TEST

Suite *faketls_suite(void);

Suite *
faketls_suite(void)
{
    Suite *s = suite_create("faketls");
    TCase *tc = tcase_create("vectors");
    TCase *hostile = tcase_create("hostile");
    TCase *classify = tcase_create("classify");

    tcase_add_test(tc, test_vector_b_verify);
    tcase_add_test(tc, test_vector_b_parse);
    tcase_add_test(tc, test_vector_b_answer);
    tcase_add_test(tc, test_answer_session_id_lengths);
    tcase_add_test(tc, test_hello_without_sni);
    tcase_add_test(tc, test_hello_without_extensions);
    tcase_add_test(tc, test_hello_alpn);
    tcase_add_test(tc, test_flight_len);
    tcase_add_test(tc, test_alert_bytes);
    tcase_add_test(tc, test_sni_rules);
    tcase_add_test(tc, test_sniff_every_prefix);
    tcase_add_test(tc, test_x25519_public);
    suite_add_tcase(s, tc);

    /* Generous under valgrind; a few seconds natively. */
    tcase_set_timeout(hostile, 120);
    tcase_add_loop_test(hostile, test_length_fields_off_by_one, 0,
        (int)(2 * NFIELDS));
    tcase_add_test(hostile, test_truncated_everywhere);
    tcase_add_test(hostile, test_random_buffers);
    tcase_add_test(hostile, test_random_mutations);
    suite_add_tcase(s, hostile);

    tcase_set_timeout(classify, 120);
    tcase_add_test(classify, test_classify_steps);
    tcase_add_test(classify, test_classify_prefixed_headers);
    tcase_add_test(classify, test_classify_signed_hellos);
    tcase_add_test(classify, test_classify_tls_garbage);
    suite_add_tcase(s, classify);
    return s;
}
