/*
 * test_me_proto.c - the ME RPC protocol against ../shared/vectors.txt
 * section D: the nonce frame, the KDF string and both key pairs, the
 * RPC_HANDSHAKE and RPC_PROXY_REQ frames, the AES-256-CBC chain across
 * calls, the ME's answers; the frame reader fed byte by byte and broken
 * three ways; the flags; and the proxy-multi.conf parser on good and
 * broken lists.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "me_proto.h"
#include "proto.h"
#include "testutil.h"

static const char SECRET[] =
    "0d80536af6834e40f751406c18e4b229846eb38ee9273d3ab6ec7482c91582c6"
    "73b0334dbe0028219e93d75278ca70088b05d37ba1c100431fe4cb88a188da9c"
    "48d15c665ba626141db849648d497e14e315433db0867d3bdae62771263ababd"
    "edfb36179b2b7d671945a8718141481e98337b01d085b334a1e6300971012e95"
    ;
static const char NONCE_PL[] =
    "aa87cb7a0d80536a0100000000f153650fb60534b895c6356e7bb3521fd3445e"
    ;
static const char NONCE_FRAME[] =
    "2c000000feffffffaa87cb7a0d80536a0100000000f153650fb60534b895c635"
    "6e7bb3521fd3445e3643df69"
    ;
static const char NONCE_FRAME_PAD[] =
    "2c000000feffffffaa87cb7a0d80536a0100000000f153650fb60534b895c635"
    "6e7bb3521fd3445e3643df6904000000"
    ;
static const char ANS_NONCE[] =
    "aa87cb7a0d80536a0100000001f15365ca3b379707231c9687c7ae22e7593328"
    ;
static const char KDF_S[] =
    "ca3b379707231c9687c7ae22e75933280fb60534b895c6356e7bb3521fd3445e"
    "00f1536532af9a95409c434c49454e540a6433c6b8220d80536af6834e40f751"
    "406c18e4b229846eb38ee9273d3ab6ec7482c91582c673b0334dbe0028219e93"
    "d75278ca70088b05d37ba1c100431fe4cb88a188da9c48d15c665ba626141db8"
    "49648d497e14e315433db0867d3bdae62771263ababdedfb36179b2b7d671945"
    "a8718141481e98337b01d085b334a1e6300971012e95ca3b379707231c9687c7"
    "ae22e75933280fb60534b895c6356e7bb3521fd3445e"
    ;
static const char WKEY[] =
    "968c43c42f2ce5d9429b09d5450e4b299d3da02f4db96bfb52116739f3414d1f"
    ;
static const char WIV[] =
    "96a1a6daea477675681d5a40128074f9"
    ;
static const char RKEY[] =
    "cd3247752ad615c5942610f184ccbf169bf8e268594fddf71592d5e780922d84"
    ;
static const char RIV[] =
    "9c27b482dc0a3e17c40c835a322082bd"
    ;
static const char HS_PL[] =
    "f5ee827600000000495049505052504454494d45495049505052504454494d45"
    ;
static const char HS_FRAME[] =
    "2c000000fffffffff5ee827600000000495049505052504454494d4549504950"
    "5052504454494d4502761d8104000000"
    ;
static const char REQ_PL[] =
    "eef1ce36081002a03046def2335c975000000000000000000000ffffcb00714d"
    "22c8000000000000000000000000ffffcb007105bb01000018000000ae261edb"
    "101375fba02752e3043f7e85dfcded3b1d000000026b70b1487ccb840e14a466"
    "3584673af3971eddb8f86c39d88fd91b02b3aea282a358b3a6202ac41732ca0f"
    "af924badb920fd4a38bde236c0755439ba6df556ccfd43ff220b5a28"
    ;
static const char REQ_FRAME[] =
    "a800000000000000eef1ce36081002a03046def2335c97500000000000000000"
    "0000ffffcb00714d22c8000000000000000000000000ffffcb007105bb010000"
    "18000000ae261edb101375fba02752e3043f7e85dfcded3b1d000000026b70b1"
    "487ccb840e14a4663584673af3971eddb8f86c39d88fd91b02b3aea282a358b3"
    "a6202ac41732ca0faf924badb920fd4a38bde236c0755439ba6df556ccfd43ff"
    "220b5a2860ed409c0400000004000000"
    ;
static const char CHAIN[] =
    "12394a9c744ea3fb6a703ac03ba93e99e98b60f50f24881d9a5f4cc893d95b47"
    "7ae7c930a049dc90a77ebfc5ae1dafefa04ed49753e5fedc9fc10d15739d0ab5"
    "46b27bb017e024840dee95cfbef0be1b3f634c2fcdc68f0f134a8b5a390bdfc7"
    "b26f20db60d166d29f101dd26a6234267bfa0f184e473a912bcddaa8a94a81a1"
    "fc783c9d21e54cc629e7f04ad1649e07f60db7ee1423901626ab70b408480526"
    "f71c304db9b6591d597ed4cf58b3e4b7192fdb6c56d7e775bb85c76da70a9956"
    "e98ce904d63e3f4a1f80348b0b183693f6a18c2ad8e43e0c614c8f73fea20621"
    ;
static const char ANS_PL[] =
    "0dda0344000000003046def2335c9750a9f6db08332ceac337d922b78cf6a0a2"
    "30ce9d6f056ef82719605704e6634ee70bf838e3e958f7a8"
    ;
static const char ACK_PL[] =
    "9b40ac3b3046def2335c9750cdab2381"
    ;
static const char CLOSE_EXT_PL[] =
    "a234b65e3046def2335c9750"
    ;
static const char CLOSE_CONN_PL[] =
    "5d42cf1f3046def2335c9750"
    ;
static const char PING_PL[] =
    "dfa230570100000000000000"
    ;

#define HX(name, buf) do {                                                 \
    ck_assert_uint_eq(strlen(name), 2 * sizeof(buf));                      \
    unhex(name, buf, sizeof(buf));                                         \
} while (0)

static struct sockaddr_in
sin4(const char *ip, int port)
{
    struct sockaddr_in s = { .sin_family = AF_INET,
        .sin_port = htons((uint16_t)port) };

    ck_assert_int_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1);
    return s;
}

/* The vectors' connection: proxy 198.51.100.10:40000 -> ME :8888. */
static void
vec_addrs(struct me_addrs *a)
{
    struct sockaddr_in l = sin4("198.51.100.10", 40000);
    struct sockaddr_in r = sin4("149.154.175.50", 8888);

    ck_assert_int_eq(me_addrs_from(a, (struct sockaddr *)&l,
        (struct sockaddr *)&r), 0);
}

START_TEST(test_crc)
{
    ck_assert_uint_eq(me_crc32c((const uint8_t *)"123456789", 9),
        0xe3069283u);
    ck_assert_uint_eq(me_crc32((const uint8_t *)"123456789", 9),
        0xcbf43926u);
}
END_TEST

START_TEST(test_nonce_frame)
{
    uint8_t secret[128], pl[ME_NONCE_LEN], want[32], frame[64], ks[4];
    uint8_t nonce[16];
    uint32_t ts;
    size_t n;

    HX(SECRET, secret);
    HX(NONCE_PL, want);
    memcpy(nonce, want + 16, 16);
    me_nonce_build(pl, secret, 1700000000u, nonce);
    ck_assert_hex(pl, NONCE_PL, ME_NONCE_LEN);
    n = me_frame_build(frame, ME_SEQ_NONCE, pl, sizeof(pl), 0);
    ck_assert_uint_eq(n, 44);
    ck_assert_hex(frame, NONCE_FRAME, 44);
    ck_assert_uint_eq(me_pad_len(n), 4);
    me_pad_fill(frame + n, me_pad_len(n));
    ck_assert_hex(frame, NONCE_FRAME_PAD, 48);
    HX(ANS_NONCE, want);
    ck_assert_int_eq(me_nonce_parse(want, 32, ks, &ts, nonce), 0);
    ck_assert_uint_eq(ts, 1700000001u);
    ck_assert_int_eq(memcmp(ks, secret, 4), 0);
    want[8] = 2;                        /* another crypto schema */
    ck_assert_int_eq(me_nonce_parse(want, 32, ks, &ts, nonce), -1);
    ck_assert_int_eq(me_nonce_parse(want, 31, ks, &ts, nonce), -1);
}
END_TEST

START_TEST(test_kdf)
{
    uint8_t secret[128], clt[32], srv[32], s[512], key[32], iv[16];
    struct me_addrs a;
    size_t n;

    HX(SECRET, secret);
    HX(NONCE_PL, clt);
    HX(ANS_NONCE, srv);
    vec_addrs(&a);
    n = me_kdf_string(s, srv + 16, clt + 16, 1700000000u, &a, 1, secret,
        sizeof(secret));
    ck_assert_uint_eq(n, 214);
    ck_assert_hex(s, KDF_S, 214);
    me_kdf(srv + 16, clt + 16, 1700000000u, &a, 1, secret, sizeof(secret),
        key, iv);
    ck_assert_hex(key, WKEY, 32);
    ck_assert_hex(iv, WIV, 16);
    me_kdf(srv + 16, clt + 16, 1700000000u, &a, 0, secret, sizeof(secret),
        key, iv);
    ck_assert_hex(key, RKEY, 32);
    ck_assert_hex(iv, RIV, 16);
}
END_TEST

/* The handshake and request frames of the vectors, and their chain. */
START_TEST(test_frames_and_chain)
{
    uint8_t pl[ME_HANDSHAKE_LEN], frames[224], out[224], key[32], iv[16];
    uint8_t req[256], tag[16], pkt[72], want[156];
    struct sockaddr_in cl = sin4("203.0.113.77", 51234);
    struct sockaddr_in px = sin4("203.0.113.5", 443);
    struct me_cbc *c;
    uint32_t flags;
    size_t n, m;

    me_handshake_build(pl, 0, (const uint8_t *)"IPIPPRPDTIME",
        (const uint8_t *)"IPIPPRPDTIME");
    ck_assert_hex(pl, HS_PL, ME_HANDSHAKE_LEN);
    n = me_frame_build(frames, ME_SEQ_HANDSHAKE, pl, sizeof(pl), 0);
    me_pad_fill(frames + n, me_pad_len(n));
    n += me_pad_len(n);
    ck_assert_uint_eq(n, 48);
    ck_assert_hex(frames, HS_FRAME, 48);

    HX(REQ_PL, want);
    memcpy(pkt, want + 84, 72);
    unhex("1375fba02752e3043f7e85dfcded3b1d", tag, 16);
    flags = me_proxy_flags(TAG_INTERMEDIATE, 1, 1, pkt, sizeof(pkt));
    ck_assert_uint_eq(flags, 0xa0021008u);
    m = me_proxy_req_build(req, flags, 0x50975c33f2de4630ull,
        (struct sockaddr *)&cl, (struct sockaddr *)&px, tag, pkt,
        sizeof(pkt));
    ck_assert_uint_eq(m, 156);
    ck_assert_hex(req, REQ_PL, 156);
    m = me_frame_build(frames + n, 0, req, m, 0);
    me_pad_fill(frames + n + m, me_pad_len(m));
    m += me_pad_len(m);
    ck_assert_uint_eq(m, 176);
    ck_assert_hex(frames + n, REQ_FRAME, 176);

    HX(WKEY, key);
    HX(WIV, iv);
    c = me_cbc_new(key, iv, 1);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(me_cbc_apply(c, frames, out, sizeof(frames)), 0);
    me_cbc_free(c);
    ck_assert_hex(out, CHAIN, 224);
    /* The same chain in two calls, in place. */
    c = me_cbc_new(key, iv, 1);
    memcpy(out, frames, sizeof(out));
    ck_assert_int_eq(me_cbc_apply(c, out, out, 48), 0);
    ck_assert_int_eq(me_cbc_apply(c, out + 48, out + 48, 176), 0);
    ck_assert_int_eq(me_cbc_apply(c, out, out, 15), -1);
    me_cbc_free(c);
    ck_assert_hex(out, CHAIN, 224);
    /* And back. */
    c = me_cbc_new(key, iv, 0);
    ck_assert_int_eq(me_cbc_apply(c, out, out, 32), 0);
    ck_assert_int_eq(me_cbc_apply(c, out + 32, out + 32, 192), 0);
    me_cbc_free(c);
    ck_assert_int_eq(memcmp(out, frames, sizeof(out)), 0);
}
END_TEST

START_TEST(test_flags)
{
    static const uint8_t zero[8], one[8] = { 1 };

    ck_assert_uint_eq(me_proxy_flags(TAG_ABRIDGED, 0, 0, one, 8),
        0x40021000u);
    ck_assert_uint_eq(me_proxy_flags(TAG_INTERMEDIATE, 0, 0, one, 8),
        0x20021000u);
    ck_assert_uint_eq(me_proxy_flags(TAG_PADDED, 0, 1, one, 8),
        0x28021008u);
    ck_assert_uint_eq(me_proxy_flags(TAG_PADDED, 1, 1, one, 8),
        0xa8021008u);
    ck_assert_uint_eq(me_proxy_flags(TAG_ABRIDGED, 0, 0, zero, 8),
        0x40021002u);
    ck_assert_uint_eq(me_proxy_flags(TAG_ABRIDGED, 0, 0, zero, 7),
        0x40021000u);
    ck_assert_uint_eq(me_proxy_flags(TAG_ABRIDGED, 1, 1, one, 8),
        ME_FLAG_ABRIDGED | ME_FLAG_MAGIC | ME_FLAG_EXTMODE2 |
        ME_FLAG_QUICKACK | ME_FLAG_HAS_AD_TAG);
    ck_assert_uint_eq(me_proxy_flags(TAG_INTERMEDIATE, 1, 0, one, 8),
        0xa0021000u);
    ck_assert_uint_eq(me_proxy_flags(TAG_INTERMEDIATE, 0, 1, zero, 16),
        0x2002100au);
    ck_assert_uint_eq(me_proxy_flags(TAG_PADDED, 1, 1, zero, 8),
        0xa802100au);
    ck_assert_uint_eq(me_proxy_flags(TAG_PADDED, 0, 0, NULL, 0),
        0x28021000u);
}
END_TEST

START_TEST(test_request_without_tag)
{
    struct sockaddr_in cl = sin4("203.0.113.77", 51234);
    struct sockaddr_in6 px = { .sin6_family = AF_INET6,
        .sin6_port = htons(443) };
    uint8_t out[64], pkt[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    size_t n;

    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::5", &px.sin6_addr), 1);
    n = me_proxy_req_build(out, 0x20021000u, 1, (struct sockaddr *)&cl,
        (struct sockaddr *)&px, NULL, pkt, sizeof(pkt));
    ck_assert_uint_eq(n, ME_PROXY_REQ_HDR + 8);
    ck_assert_hex(out + 16, "00000000000000000000ffffcb00714d22c80000", 20);
    ck_assert_hex(out + 36, "20010db8000000000000000000000005bb010000", 20);
    ck_assert_int_eq(memcmp(out + 56, pkt, 8), 0);
}
END_TEST

START_TEST(test_answers)
{
    uint8_t p[64];
    struct me_msg m;

    unhex(ANS_PL, p, 56);
    ck_assert_int_eq(me_msg_parse(p, 56, &m), 0);
    ck_assert_uint_eq(m.type, ME_RPC_PROXY_ANS);
    ck_assert_uint_eq(m.conn_id, 0x50975c33f2de4630ull);
    ck_assert_uint_eq(m.len, 40);
    ck_assert_ptr_eq(m.data, p + 16);
    ck_assert_int_eq(me_msg_parse(p, 15, &m), -1);
    unhex(ACK_PL, p, 16);
    ck_assert_int_eq(me_msg_parse(p, 16, &m), 0);
    ck_assert_uint_eq(m.type, ME_RPC_SIMPLE_ACK);
    ck_assert_hex(m.confirm, "cdab2381", 4);
    ck_assert_int_eq(me_msg_parse(p, 15, &m), -1);
    unhex(CLOSE_EXT_PL, p, 12);
    ck_assert_int_eq(me_msg_parse(p, 12, &m), 0);
    ck_assert_uint_eq(m.type, ME_RPC_CLOSE_EXT);
    ck_assert_uint_eq(m.conn_id, 0x50975c33f2de4630ull);
    unhex(CLOSE_CONN_PL, p, 12);
    ck_assert_int_eq(me_msg_parse(p, 12, &m), 0);
    ck_assert_uint_eq(m.type, ME_RPC_CLOSE_CONN);
    ck_assert_uint_eq(m.conn_id, 0x50975c33f2de4630ull);
    ck_assert_int_eq(me_msg_parse(p, 11, &m), -1);
    unhex(CLOSE_EXT_PL, p, 12);
    ck_assert_int_eq(me_msg_parse(p, 11, &m), -1);
    ck_assert_uint_eq(me_ctl_build(p, ME_RPC_CLOSE_EXT,
        0x50975c33f2de4630ull), 12);
    ck_assert_hex(p, CLOSE_EXT_PL, 12);
    ck_assert_uint_eq(me_ctl_build(p, ME_RPC_PONG, 0x0102030405060708ull),
        12);
    ck_assert_hex(p, "a7ea30840807060504030201", 12);
    ck_assert_int_eq(me_msg_parse(p, 12, &m), 0);
    ck_assert_uint_eq(m.type, ME_RPC_PONG);
    ck_assert_uint_eq(m.ping_id, 0x0102030405060708ull);
    ck_assert_int_eq(me_msg_parse(p, 3, &m), -1);
    /* An answer with no data is still an answer. */
    unhex(ANS_PL, p, 56);
    ck_assert_int_eq(me_msg_parse(p, 16, &m), 0);
    ck_assert_uint_eq(m.len, 0);
    unhex(PING_PL, p, 12);
    ck_assert_int_eq(me_msg_parse(p, 12, &m), 0);
    ck_assert_uint_eq(m.type, ME_RPC_PING);
    ck_assert_uint_eq(m.ping_id, 1);
    ck_assert_int_eq(me_msg_parse(p, 11, &m), -1);
    ck_assert_uint_eq(me_ctl_build(p, ME_RPC_PING, 1), 12);
    ck_assert_hex(p, PING_PL, 12);
    memcpy(p, "\x01\x02\x03\x04", 4);
    ck_assert_int_eq(me_msg_parse(p, 12, &m), -1);
}
END_TEST

/* Two frames with a filler between, fed one byte at a time. */
START_TEST(test_reader)
{
    uint8_t a[16] = "\xa7\xea\x30\x84" "12345678ABCD", s[128];
    struct me_reader r;
    const uint8_t *pl;
    size_t n, len = 0, got = 0;

    len += me_frame_build(s, 0, a, 12, 1);
    memcpy(s + len, "\x04\0\0\0", 4);
    len += 4;
    len += me_frame_build(s + len, 1, a, 16, 1);
    me_reader_init(&r, 0);
    r.crc32c = 1;
    for (size_t i = 0; i < len; i++) {
        ck_assert_int_eq(me_reader_feed(&r, s + i, 1), 0);
        while (me_reader_next(&r, &pl, &n) == ME_READ_FRAME) {
            ck_assert_uint_eq(n, got == 0 ? 12 : 16);
            ck_assert_int_eq(memcmp(pl, a, n), 0);
            got++;
        }
    }
    ck_assert_uint_eq(got, 2);
    me_reader_free(&r);

    /* A wrong seq, a wrong CRC (CRC32 where CRC32C is due), a bad len. */
    me_reader_init(&r, 5);
    r.crc32c = 1;
    ck_assert_int_eq(me_reader_feed(&r, s, len), 0);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_BAD_SEQ);
    me_reader_free(&r);
    me_reader_init(&r, 0);
    ck_assert_int_eq(me_reader_feed(&r, s, len), 0);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_BAD_CRC);
    me_reader_free(&r);
    me_reader_init(&r, 0);
    ck_assert_int_eq(me_reader_feed(&r, (const uint8_t *)"\x0c\0\0\0", 4),
        0);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_BAD_LEN);
    ck_assert_str_eq(me_read_status_name(ME_READ_BAD_LEN), "bad_length");
    me_reader_free(&r);
}
END_TEST

/* Parse text; on error, compare the message. */
static int
parse(const char *text, int v6, struct me_list *l, const char *want_err)
{
    char err[256] = "";
    int rc = me_list_parse(text, strlen(text), v6, l, err, sizeof(err));

    if (want_err != NULL) {
        ck_assert_int_eq(rc, -1);
        ck_assert_str_eq(err, want_err);
    }
    return rc;
}

START_TEST(test_list)
{
    static const char doc[] =
        "# force_probability 10 10\n"
        "default 2;\n"
        "proxy_for 1 149.154.175.50:8888;\n"
        "proxy_for -1 149.154.175.50:8888;\n"
        "proxy_for 2 149.154.161.144:8888;\n"
        "proxy_for 4 91.108.4.159:8888;   # a comment\n"
        "proxy_for 4 91.108.4.224:8888;\n"
        "timeout 300; min_connections 4; max_connections 8;\n"
        "proxy_for 203 91.105.192.110:443;\n"
        "proxy_for 1 149.154.175.51:8888;\n";
    struct me_list l, l2;
    struct sockaddr_in *s4;

    ck_assert_int_eq(parse(doc, 0, &l, NULL), 0);
    ck_assert_int_eq(l.n, 7);
    ck_assert_int_eq(l.default_dc, 2);
    ck_assert_int_eq(l.e[1].dc, -1);
    ck_assert_int_eq(l.e[5].dc, 203);
    ck_assert_int_eq(l.e[6].dc, 1);     /* intermixed: still dc 1 */
    s4 = (struct sockaddr_in *)&l.e[5].addr;
    ck_assert_uint_eq(ntohs(s4->sin_port), 443);
    ck_assert_int_eq(parse(doc, 0, &l2, NULL), 0);
    ck_assert_int_eq(me_list_equal(&l, &l2), 1);
    me_list_free(&l2);
    ck_assert_int_eq(parse("proxy_for 1 149.154.175.50:8888;", 0, &l2,
        NULL), 0);
    ck_assert_int_eq(me_list_equal(&l, &l2), 0);
    me_list_free(&l2);
    me_list_free(&l);

    ck_assert_int_eq(parse("proxy_for 2 [2001:b28:f23d:f001::d]:8888;\n"
        "proxy_for -2 [2001:67c:04e8:f002::d]:80;", 1, &l, NULL), 0);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.e[0].addr.ss_family, AF_INET6);
    me_list_free(&l);

    parse("proxy_for 2 [2001:b28::d]:8888;", 0, &l,
        "line 1: not an \"IPv4:port\" address: '[2001:b28::d]:8888'");
    parse("proxy_for 2 1.2.3.4:8888;", 1, &l,
        "line 1: not an \"[IPv6]:port\" address: '1.2.3.4:8888'");
    parse("\n\nproxy_for 2 core.telegram.org:8888;", 0, &l,
        "line 3: not an \"IPv4:port\" address: 'core.telegram.org:8888'");
    parse("proxy_for 2 1.2.3.4:8888", 0, &l, "line 1: expected ';'");
    parse("proxy_for 40000 1.2.3.4:8888;", 0, &l,
        "line 1: not a DC number (-32768..32767): '40000'");
    parse("proxy_for 2 1.2.3.4:0;", 0, &l,
        "line 1: not an \"IPv4:port\" address: '1.2.3.4:0'");
    parse("# nothing\ndefault 2;\n", 0, &l, "line 3: no proxy_for line");
    parse("", 0, &l, "line 1: no proxy_for line");
    parse("proxy_for 2 1.2.3.4:1;\nbogus 1;", 0, &l,
        "line 2: unknown statement: 'bogus'");
    parse("<html>404</html>", 0, &l,
        "line 1: unknown statement: '<html>404</html>'");
}
END_TEST

START_TEST(test_list_limits)
{
    size_t big = ME_LIST_MAX_TEXT + 1, n = 0;
    char *t = malloc(big + 1), err[128];
    struct me_list l;

    ck_assert_ptr_nonnull(t);
    memset(t, ' ', big);
    t[big] = '\0';
    ck_assert_int_eq(me_list_parse(t, big, 0, &l, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "line 1: the list is larger than 1 MiB");
    for (int i = 0; i <= ME_LIST_MAX_ENTRIES; i++)
        n += (size_t)sprintf(t + n, "proxy_for 2 10.0.%d.%d:8888;\n",
            i / 250, i % 250 + 1);
    ck_assert_int_eq(me_list_parse(t, n, 0, &l, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "line 1025: more than 1024 addresses");
    free(t);
}
END_TEST

START_TEST(test_handshake_parse)
{
    uint8_t p[ME_HANDSHAKE_LEN], snd[ME_PID_LEN], peer[ME_PID_LEN];
    uint32_t flags = 1;
    int32_t err = 0;

    HX(HS_PL, p);
    ck_assert_int_eq(me_handshake_parse(p, sizeof(p), &flags, snd, peer,
        &err), 0);
    ck_assert_uint_eq(flags, 0);
    ck_assert_int_eq(memcmp(snd, "IPIPPRPDTIME", ME_PID_LEN), 0);
    ck_assert_int_eq(memcmp(peer, "IPIPPRPDTIME", ME_PID_LEN), 0);
    p[5] = 0x08;                        /* flags 0x800: CRC32C */
    ck_assert_int_eq(me_handshake_parse(p, sizeof(p), &flags, snd, peer,
        &err), 0);
    ck_assert_uint_eq(flags, ME_HS_FLAG_CRC32C);
    ck_assert_int_eq(me_handshake_parse(p, sizeof(p) - 1, &flags, snd, peer,
        &err), -1);
    /* RPC_HANDSHAKE_ERROR with code -7. */
    unhex("dabe276af9ffffff", p, 8);
    ck_assert_int_eq(me_handshake_parse(p, 8, &flags, snd, peer, &err), 1);
    ck_assert_int_eq(err, -7);
    ck_assert_int_eq(me_handshake_parse(p, 7, &flags, snd, peer, &err), -1);
    HX(NONCE_PL, p);
    ck_assert_int_eq(me_handshake_parse(p, sizeof(p), &flags, snd, peer,
        &err), -1);
}
END_TEST

/* An IPv6 connection: both IPv4 fields zero, the two addresses before
 * nonce_clt, client first. */
START_TEST(test_kdf_v6)
{
    struct sockaddr_in6 l = { .sin6_family = AF_INET6,
        .sin6_port = htons(40000) };
    struct sockaddr_in6 r = { .sin6_family = AF_INET6,
        .sin6_port = htons(80) };
    struct sockaddr_in r4 = sin4("149.154.175.50", 8888);
    uint8_t secret[128], clt[32], srv[32], s[512], key[32], iv[16];
    uint8_t key4[32], iv4[16];
    struct me_addrs a, a4;
    size_t n;

    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::10", &l.sin6_addr), 1);
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:67c:4e8:f002::d",
        &r.sin6_addr), 1);
    ck_assert_int_eq(me_addrs_from(&a, (struct sockaddr *)&l,
        (struct sockaddr *)&r4), -1);   /* families differ */
    ck_assert_int_eq(me_addrs_from(&a, (struct sockaddr *)&l,
        (struct sockaddr *)&r), 0);
    ck_assert_int_eq(a.v6, 1);
    ck_assert_uint_eq(a.clt_port, 40000);
    ck_assert_uint_eq(a.srv_port, 80);
    HX(SECRET, secret);
    HX(NONCE_PL, clt);
    HX(ANS_NONCE, srv);
    n = me_kdf_string(s, srv + 16, clt + 16, 1700000000u, &a, 1, secret,
        sizeof(secret));
    ck_assert_uint_eq(n, 214 + 32);
    ck_assert_hex(s + 32, "00f15365" "00000000" "409c" "434c49454e54"
        "00000000" "5000", 22);
    ck_assert_int_eq(memcmp(s + 54, secret, 128), 0);
    ck_assert_int_eq(memcmp(s + 182, srv + 16, 16), 0);
    ck_assert_hex(s + 198, "20010db8000000000000000000000010", 16);
    ck_assert_hex(s + 214, "2001067c04e8f002000000000000000d", 16);
    ck_assert_int_eq(memcmp(s + 230, clt + 16, 16), 0);
    /* The keys are the digests of that string, not of the IPv4 one. */
    me_kdf(srv + 16, clt + 16, 1700000000u, &a, 1, secret, sizeof(secret),
        key, iv);
    vec_addrs(&a4);
    me_kdf(srv + 16, clt + 16, 1700000000u, &a4, 1, secret, sizeof(secret),
        key4, iv4);
    ck_assert_int_ne(memcmp(key, key4, 32), 0);
    ck_assert_int_ne(memcmp(iv, iv4, 16), 0);
}
END_TEST

/* The vectors' padded nonce and handshake frames as one CRC32 stream
 * from seq -2, fed byte by byte: fillers skipped, two frames out. */
START_TEST(test_reader_vectors)
{
    uint8_t s[96], want[ME_NONCE_LEN];
    struct me_reader r;
    const uint8_t *pl;
    size_t n, got = 0;
    enum me_read_status st;

    unhex(NONCE_FRAME_PAD, s, 48);
    unhex(HS_FRAME, s + 48, 48);
    me_reader_init(&r, ME_SEQ_NONCE);
    for (size_t i = 0; i < sizeof(s); i++) {
        ck_assert_int_eq(me_reader_feed(&r, s + i, 1), 0);
        while ((st = me_reader_next(&r, &pl, &n)) == ME_READ_FRAME) {
            ck_assert_uint_eq(n, 32);
            HX(got == 0 ? NONCE_PL : HS_PL, want);
            ck_assert_int_eq(memcmp(pl, want, n), 0);
            got++;
        }
        ck_assert_int_eq(st, ME_READ_MORE);
    }
    ck_assert_uint_eq(got, 2);
    ck_assert_int_eq(r.seq, 0);
    me_reader_free(&r);

    /* One flipped payload bit: bad CRC, and it stays broken. */
    s[20] ^= 1;
    me_reader_init(&r, ME_SEQ_NONCE);
    ck_assert_int_eq(me_reader_feed(&r, s, sizeof(s)), 0);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_BAD_CRC);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_BAD_CRC);
    me_reader_free(&r);
}
END_TEST

/* Each way a len word is wrong, found from its 4 bytes alone. */
START_TEST(test_reader_bad_len)
{
    static const char *bad[] = {
        "08000000",                     /* below 16 */
        "00000000",
        "12000000",                     /* 18: not a multiple of 4 */
        "04000001",                     /* 2^24 + 4 */
        "ffffffff",
    };
    struct me_reader r;
    const uint8_t *pl;
    size_t n;
    uint8_t w[4];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unhex(bad[i], w, 4);
        me_reader_init(&r, 0);
        ck_assert_int_eq(me_reader_feed(&r, (const uint8_t *)"\x04\0\0\0",
            4), 0);
        ck_assert_int_eq(me_reader_feed(&r, w, 4), 0);
        ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_BAD_LEN);
        me_reader_free(&r);
    }
    /* 2^24 itself is a legal length: the reader waits for the bytes. */
    me_reader_init(&r, 0);
    ck_assert_int_eq(me_reader_feed(&r, (const uint8_t *)"\0\0\0\x01", 4),
        0);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_MORE);
    me_reader_free(&r);
    /* Fillers alone, and three bytes of one, are not a frame yet. */
    me_reader_init(&r, 0);
    ck_assert_int_eq(me_reader_feed(&r,
        (const uint8_t *)"\x04\0\0\0\x04\0\0\0\x04\0\0", 11), 0);
    ck_assert_int_eq(me_reader_next(&r, &pl, &n), ME_READ_MORE);
    me_reader_free(&r);
    ck_assert_str_eq(me_read_status_name(ME_READ_BAD_SEQ), "bad_seq");
    ck_assert_str_eq(me_read_status_name(ME_READ_BAD_CRC), "bad_crc");
}
END_TEST

START_TEST(test_list_more)
{
    struct me_list l, l2;
    struct sockaddr_in6 *s6;
    static const char nul[] = "proxy_for 2 1.2.3.4:80\0x;";

    /* default, proxy (dc 0), comments without a newline at the end. */
    ck_assert_int_eq(parse("default -4;proxy_for 4 1.2.3.4:80;\n"
        "proxy 5.6.7.8:443;# the end", 0, &l, NULL), 0);
    ck_assert_int_eq(l.default_dc, -4);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.e[1].dc, 0);
    ck_assert_int_eq(parse("default 2;proxy_for 4 1.2.3.4:80;\n"
        "proxy 5.6.7.8:443;", 0, &l2, NULL), 0);
    ck_assert_int_eq(me_list_equal(&l, &l2), 0);    /* default differs */
    me_list_free(&l2);
    me_list_free(&l);
    ck_assert_int_eq(parse("proxy_for 2 [::1]:1; proxy [2001:db8::1]:2;",
        1, &l, NULL), 0);
    s6 = (struct sockaddr_in6 *)&l.e[1].addr;
    ck_assert_uint_eq(ntohs(s6->sin6_port), 2);
    ck_assert_int_eq(l.e[1].dc, 0);
    me_list_free(&l);
    ck_assert_int_eq(parse("proxy_for -32768 1.2.3.4:1;\n"
        "proxy_for 32767 1.2.3.4:1;", 0, &l, NULL), 0);
    ck_assert_int_eq(l.e[0].dc, -32768);
    ck_assert_int_eq(l.e[1].dc, 32767);
    me_list_free(&l);

    parse("proxy 1.2.3.4:80;\n", 0, &l, "line 2: no proxy_for line");
    parse("proxy_for 1 1.2.3.4:80\nproxy_for 2 1.2.3.4:80;", 0, &l,
        "line 2: expected ';': 'proxy_for'");
    parse("proxy_for -32769 1.2.3.4:8888;", 0, &l,
        "line 1: not a DC number (-32768..32767): '-32769'");
    parse("proxy_for x 1.2.3.4:8888;", 0, &l,
        "line 1: not a DC number (-32768..32767): 'x'");
    parse("proxy_for 2 2001:db8::1:8888;", 1, &l,
        "line 1: not an \"[IPv6]:port\" address: '2001:db8::1:8888'");
    parse("proxy_for 2 1.2.3.4;", 0, &l,
        "line 1: not an \"IPv4:port\" address: '1.2.3.4'");
    parse("proxy_for 2 1.2.3.4:8888;\nproxy localhost:1;", 0, &l,
        "line 2: not an \"IPv4:port\" address: 'localhost:1'");
    parse("proxy_for 2 1.2.3.4:8888;\n# x\ntimeout soon;", 0, &l,
        "line 3: not a number: 'soon'");
    parse("default;", 0, &l, "line 1: not a DC number: ';'");
    parse("proxy_for 2 1.2.3.4:8888;;", 0, &l,
        "line 1: unknown statement: ';'");
    {
        char err[128];

        ck_assert_int_eq(me_list_parse(nul, sizeof(nul) - 1, 0, &l, err,
            sizeof(err)), -1);
        ck_assert_int_eq(strncmp(err, "line 1: not an \"IPv4:port\"", 26),
            0);
    }
}
END_TEST

Suite *me_proto_suite(void);

Suite *
me_proto_suite(void)
{
    Suite *s = suite_create("me_proto");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_crc);
    tcase_add_test(tc, test_nonce_frame);
    tcase_add_test(tc, test_kdf);
    tcase_add_test(tc, test_frames_and_chain);
    tcase_add_test(tc, test_flags);
    tcase_add_test(tc, test_request_without_tag);
    tcase_add_test(tc, test_answers);
    tcase_add_test(tc, test_reader);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_list_limits);
    tcase_add_test(tc, test_handshake_parse);
    tcase_add_test(tc, test_kdf_v6);
    tcase_add_test(tc, test_reader_vectors);
    tcase_add_test(tc, test_reader_bad_len);
    tcase_add_test(tc, test_list_more);
    suite_add_tcase(s, tc);
    return s;
}
