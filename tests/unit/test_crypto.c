/*
 * test_crypto.c - key derivation and the AES-256-CTR streams against
 * ../shared/vectors.txt sections A (client -> proxy) and C (proxy -> DC),
 * streams parked and resumed, and the random byte pool.
 */
#include <check.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "obfs2.h"
#include "testutil.h"

static const char SECRET[] = "00112233445566778899aabbccddeeff";
static const char P1[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char P2[] =
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
/* vectors.txt names P3 and P4 without printing them: they continue the
 * byte sequence of P1 and P2, which is what decryption must reveal. */
static const char P3[] =
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f";
static const char P4[] =
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";

struct vec_a {
    const char *wire, *c2p_key, *c2p_iv, *p2c_key, *p2c_iv, *p1_ct, *p2_ct;
    uint32_t tag;
    int16_t dc;
};

static const struct vec_a A[] = {
    {   /* A1: tag dddddddd, dc 2 */
        "8625e5b5a333c7918710ec3bd0e926332856e6ccfd58daa7283a52edfef0fc86"
        "1b7482582c5f9ea26d9ada467a6b4c0f0207885cfafcf53a8e46f749fe69a38a",
        "83b9bf53fa29a198698516b504db217f8257a92575d6f5453b737c3702e3cee0",
        "6d9ada467a6b4c0f0207885cfafcf53a",
        "ebdd6097235454ee66ad2692de84bfe400416a7f1115e02cad9eea21b787c490",
        "a7da58fdcce656283326e9d03bec1087",
        "113c53d5e37df2fec6b64e6e46b18ee670f648a8c16f29fb0d51dba4dd46e301",
        "b8110e3fecaa964d382ec888a8b8d23c2dd61cec3d7bfbbbef1b0cd11496b044",
        0xddddddddu, 2,
    },
    {   /* A2: tag efefefef, dc -4 */
        "29c6d9e7855664da4be561b6963a4786407472571f1c8cc538b102f21fda582c"
        "a1a831d89004e58aad96be960acdf6d8840e884cd112e0d32fe3644cb2d6f450",
        "f424aa5718b13f8ae7f5fd80e57f39c22f2b322c6b79634e343ae4dd4a197c92",
        "ad96be960acdf6d8840e884cd112e0d3",
        "023146d165e66c6960b053ab0eb660a3da9d0c397bf9ecdd4f3f4f22cbae7dbb",
        "c58c1c1f5772744086473a96b661e54b",
        NULL,
        "83f7c512ec8a19c1b8c60f8cffbbbe46ea28877849a7176742f484ded9b4c159",
        0xefefefefu, -4,
    },
};

START_TEST(test_vector_a)
{
    const struct vec_a *v = &A[_i];
    uint8_t hdr[64], secret[16], buf[32];
    struct obfs2_keys k;
    struct ctr *up, *down;
    uint32_t tag;
    int16_t dc;

    unhex(v->wire, hdr, 64);
    unhex(SECRET, secret, 16);
    ck_assert_int_eq(obfs2_match(hdr, secret, &tag, &dc, &k), 1);
    ck_assert_uint_eq(tag, v->tag);
    ck_assert_int_eq(dc, v->dc);
    ck_assert_hex(k.up_key, v->c2p_key, 32);
    ck_assert_hex(k.up_iv, v->c2p_iv, 16);
    ck_assert_hex(k.down_key, v->p2c_key, 32);
    ck_assert_hex(k.down_iv, v->p2c_iv, 16);

    ck_assert_int_eq(obfs2_streams(hdr, &k, &up, &down), 0);
    if (v->p1_ct != NULL) {
        unhex(v->p1_ct, buf, 32);
        ctr_apply(up, buf, buf, 32);
        ck_assert_hex(buf, P1, 32);
    }
    unhex(P2, buf, 32);
    ctr_apply(down, buf, buf, 32);
    ck_assert_hex(buf, v->p2_ct, 32);
    ctr_free(up);
    ctr_free(down);
}
END_TEST

/* C1: the DC's side of a proxy -> DC header (raw keys, no secret). */
START_TEST(test_vector_c1)
{
    uint8_t hdr[64], buf[32];
    struct obfs2_keys k;
    struct ctr *up, *down;

    unhex("e3c80dc33d1054882b739edefd0bc17c286d1b61d65cf5b06512573c453548a7"
        "359ed3527ff140498c9aeab0c263c77b7767f3b413286d1e5b2ae0bac137db45",
        hdr, 64);
    obfs2_derive(hdr, NULL, &k);
    ck_assert_hex(k.up_key,
        "2b739edefd0bc17c286d1b61d65cf5b06512573c453548a7359ed3527ff14049",
        32);
    ck_assert_hex(k.up_iv, "8c9aeab0c263c77b7767f3b413286d1e", 16);
    ck_assert_hex(k.down_key,
        "1e6d2813b4f367777bc763c2b0ea9a8c4940f17f52d39e35a74835453c571265",
        32);
    ck_assert_hex(k.down_iv, "b0f55cd6611b6d287cc10bfdde9e732b", 16);
    ck_assert_int_eq(obfs2_streams(hdr, &k, &up, &down), 0);
    unhex("7632ae1e891bad2ce4b5f4ca266038166be25d71bab40aca96361ccdceb0dd5f",
        buf, 32);
    ctr_apply(up, buf, buf, 32);
    ck_assert_hex(buf, P3, 32);
    unhex("f96651936dacb1f742674a06ba8701e9e0d3b4364417e5f82431e1134b5c26aa",
        buf, 32);
    ctr_apply(down, buf, buf, 32);
    ck_assert_hex(buf, P4, 32);
    ctr_free(up);
    ctr_free(down);
}
END_TEST

/*
 * C2: fast mode.  A header built with the A1 client's proxy->client key
 * makes the DC's sending stream equal the client's receiving stream.
 */
START_TEST(test_vector_c2_fast_mode)
{
    uint8_t fkey[32], fiv[16], wire[64], buf[32], want[32];
    struct obfs2_keys k;
    struct ctr *up, *down, *dcup, *dcdown;

    unhex(A[0].p2c_key, fkey, 32);
    unhex(A[0].p2c_iv, fiv, 16);
    ck_assert_int_eq(obfs2_build(wire, 0xddddddddu, 2, NULL, fkey, fiv, &up,
        &down), 0);
    ck_assert_int_eq(obfs2_header_allowed(wire), 1);
    /* The fixed middle of the C2 header: rev(key || iv). */
    ck_assert_hex(wire + 8,
        "8710ec3bd0e926332856e6ccfd58daa790c487b721ea9ead2ce015117f6a4100"
        "e4bf84de9226ad66ee5454239760ddeb", 48);
    /* What the DC derives from it. */
    obfs2_derive(wire, NULL, &k);
    ck_assert_hex(k.down_key, A[0].p2c_key, 32);
    ck_assert_hex(k.down_iv, A[0].p2c_iv, 16);
    ck_assert_int_eq(obfs2_streams(wire, &k, &dcup, &dcdown), 0);
    /* DC encrypts P2 -> exactly the A1 proxy->client ciphertext. */
    unhex(P2, buf, 32);
    ctr_apply(dcdown, buf, buf, 32);
    unhex(A[0].p2_ct, want, 32);
    ck_assert_mem_eq(buf, want, 32);
    /* Proxy -> DC works too (the C2 ciphertext needs the same random
     * bytes 0..7, so only the round trip can be checked here). */
    unhex(P3, buf, 32);
    ctr_apply(up, buf, buf, 32);
    ctr_apply(dcup, buf, buf, 32);
    ck_assert_hex(buf, P3, 32);
    ctr_free(up);
    ctr_free(down);
    ctr_free(dcup);
    ctr_free(dcdown);
}
END_TEST

/* C3: the DC id at 60..61 and the tag decrypt on the DC's side. */
START_TEST(test_vector_c3_dc_id)
{
    uint8_t hdr[64], plain[64];
    struct obfs2_keys k;
    struct ctr *up;

    unhex("e3c80dc33d1054882b739edefd0bc17c286d1b61d65cf5b06512573c453548a7"
        "359ed3527ff140498c9aeab0c263c77b7767f3b413286d1e5b2ae0ba2a1fdb45",
        hdr, 64);
    obfs2_derive(hdr, NULL, &k);
    up = ctr_new(k.up_key, k.up_iv);
    ck_assert_ptr_nonnull(up);
    ctr_apply(up, hdr, plain, 64);
    ck_assert_hex(plain + 56, "dddddddd02005508", 8);
    ctr_free(up);
}
END_TEST

START_TEST(test_hmac_and_ct_equal)
{
    uint8_t out[32];
    static const uint8_t key[] = "key";
    static const uint8_t msg[] =
        "The quick brown fox jumps over the lazy dog";

    /* RFC 4231-style known answer (the classic Wikipedia example). */
    hmac_sha256_2(key, 3, msg, 20, msg + 20, sizeof(msg) - 21, out);
    ck_assert_hex(out,
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
        32);
    {
        uint8_t copy[32];

        memcpy(copy, out, 32);
        ck_assert_int_eq(ct_equal(out, copy, 32), 1);
        copy[31] ^= 1;
        ck_assert_int_eq(ct_equal(out, copy, 32), 0);
        ck_assert_int_eq(ct_equal(out, copy, 31), 1);
    }
}
END_TEST

START_TEST(test_ctr_continuous)
{
    uint8_t key[32] = { 1 }, iv[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe };
    uint8_t whole[100] = { 0 }, parts[100] = { 0 };
    struct ctr *a = ctr_new(key, iv), *b = ctr_new(key, iv);

    /* Any split of the input gives the same keystream (and carries). */
    ctr_apply(a, whole, whole, 100);
    ctr_apply(b, parts, parts, 1);
    ctr_apply(b, parts + 1, parts + 1, 16);
    ctr_apply(b, parts + 17, parts + 17, 83);
    ck_assert_mem_eq(whole, parts, 100);
    ctr_free(a);
    ctr_free(b);
}
END_TEST

/* A stream exported at any offset resumes with the same keystream,
 * across the counter's carry (the hand-over of a binary upgrade). */
START_TEST(test_ctr_resume)
{
    uint8_t key[32] = { 7 }, iv[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd };
    uint8_t whole[200] = { 0 }, resumed[200] = { 0 }, k2[32], iv2[16];
    static const size_t cuts[] = { 0, 1, 15, 16, 17, 47, 48, 49, 199 };
    struct ctr *a = ctr_new(key, iv);

    ctr_apply(a, whole, whole, sizeof(whole));
    ctr_free(a);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct ctr *b = ctr_new(key, iv), *c;
        uint64_t pos;

        memset(resumed, 0, sizeof(resumed));
        ctr_apply(b, resumed, resumed, cuts[i]);
        ctr_export(b, k2, iv2, &pos);
        ck_assert_uint_eq(pos, cuts[i]);
        ck_assert_mem_eq(k2, key, 32);
        ck_assert_mem_eq(iv2, iv, 16);
        c = ctr_new_at(k2, iv2, pos);
        ck_assert_ptr_nonnull(c);
        ctr_apply(c, resumed + cuts[i], resumed + cuts[i],
            sizeof(resumed) - cuts[i]);
        ck_assert_mem_eq(whole, resumed, sizeof(whole));
        ctr_free(b);
        ctr_free(c);
    }
}
END_TEST

/* A stream parked while idle (the relay does after a second without
 * traffic) and unparked goes on with the same keystream, at any cut. */
START_TEST(test_ctr_park)
{
    uint8_t key[32] = { 9 }, iv[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t whole[120] = { 0 }, parked[120] = { 0 };
    static const size_t cuts[] = { 0, 1, 15, 16, 17, 33, 119 };
    struct ctr *a = ctr_new(key, iv);

    ctr_apply(a, whole, whole, sizeof(whole));
    ctr_free(a);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        struct ctr *b = ctr_new(key, iv);

        memset(parked, 0, sizeof(parked));
        ctr_apply(b, parked, parked, cuts[i]);
        ctr_park(b);
        ctr_park(b);                        /* twice: a no-op */
        ck_assert_int_eq(ctr_unpark(b), 0);
        ck_assert_int_eq(ctr_unpark(b), 0); /* not parked: a no-op */
        ctr_apply(b, parked + cuts[i], parked + cuts[i],
            sizeof(parked) - cuts[i]);
        ck_assert_mem_eq(whole, parked, sizeof(whole));
        ctr_park(b);                        /* freed while parked */
        ctr_free(b);
    }
    ctr_park(NULL);
    ck_assert_int_eq(ctr_unpark(NULL), 0);
}
END_TEST

/*
 * random_bytes() hands each pooled byte out once, large requests and
 * random_fill() work, and a fork's child never repeats what its parent's
 * pool still holds.
 */
START_TEST(test_random_pool)
{
    uint8_t a[32], b[32], big[300], fill[3000], zero[3000] = { 0 };
    uint8_t mine[64], theirs[64];
    int p[2], st;
    pid_t pid;

    ck_assert_int_eq(random_bytes(a, sizeof(a)), 0);
    ck_assert_int_eq(random_bytes(b, sizeof(b)), 0);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
    ck_assert_int_eq(random_bytes(big, sizeof(big)), 0);
    ck_assert_int_eq(random_fill(fill, sizeof(fill)), 0);
    ck_assert_int_ne(memcmp(fill, zero, sizeof(fill)), 0);
    ck_assert_int_ne(memcmp(fill, fill + 1500, 1500), 0);
    /* The parent's pool is not empty now; the child's must start anew. */
    ck_assert_int_eq(random_bytes(a, 1), 0);
    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        uint8_t c[64];

        if (random_bytes(c, sizeof(c)) != 0 ||
            write(p[1], c, sizeof(c)) != (ssize_t)sizeof(c))
            _exit(1);
        _exit(0);
    }
    ck_assert_int_eq(random_bytes(mine, sizeof(mine)), 0);
    ck_assert_int_eq(read(p[0], theirs, sizeof(theirs)),
        (ssize_t)sizeof(theirs));
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_ne(memcmp(mine, theirs, sizeof(mine)), 0);
    close(p[0]);
    close(p[1]);
}
END_TEST

Suite *crypto_suite(void);

Suite *
crypto_suite(void)
{
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("vectors");

    tcase_add_loop_test(tc, test_vector_a, 0, 2);
    tcase_add_test(tc, test_vector_c1);
    tcase_add_test(tc, test_vector_c2_fast_mode);
    tcase_add_test(tc, test_vector_c3_dc_id);
    tcase_add_test(tc, test_hmac_and_ct_equal);
    tcase_add_test(tc, test_ctr_continuous);
    tcase_add_test(tc, test_ctr_resume);
    tcase_add_test(tc, test_ctr_park);
    tcase_add_test(tc, test_random_pool);
    suite_add_tcase(s, tc);
    return s;
}
