/*
 * test_me_inputs.c - the ME inputs bundle the master hands each worker
 * and the checks the master applies before it takes a secret or a list:
 * a bundle survives the round trip byte for byte (binary secret, lists,
 * a missing IPv6 list), every truncation and every garbled header of a
 * good bundle is refused (ASan watches the reads), and the secret bounds
 * are exactly 32..256 bytes.  The bundle travels in a sealed memfd:
 * ctl_fd_bytes() gives back its bytes, NULs and all, where
 * ctl_fd_text() refuses them, and neither takes an unsealed file.
 */
#include <sys/mman.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "me_inputs.h"

static const char V4[] =
    "# force_probability 10 10\n"
    "default 2;\n"
    "proxy_for 1 127.0.0.1:8888;\n"
    "proxy_for 2 127.0.0.2:8888;\n"
    "proxy_for -2 127.0.0.3:8888;\n";

static const char BAD2[] =
    "proxy_for 2 127.0.0.1:8888;\n"
    "proxy_for 2 nonsense;\n";

static const char V6[] = "proxy_for 2 [::1]:8888;\n";

static void
fill(struct me_inputs *in, size_t secret_len, int with_v6)
{
    memset(in, 0, sizeof(*in));
    for (size_t i = 0; i < secret_len; i++)
        in->secret[i] = (uint8_t)(i * 7);       /* NUL and '\n' among them */
    in->secret_len = secret_len;
    in->v4 = strdup(V4);
    in->v4_len = strlen(V4);
    if (with_v6) {
        in->v6 = strdup(V6);
        in->v6_len = strlen(V6);
    }
}

START_TEST(round_trip)
{
    struct me_inputs in, out;
    size_t len;
    uint8_t *b;

    fill(&in, 128, _i);
    b = me_inputs_encode(&in, &len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(me_inputs_decode(b, len, &out), 0);
    ck_assert_uint_eq(out.secret_len, 128);
    ck_assert_mem_eq(out.secret, in.secret, 128);
    ck_assert_uint_eq(out.v4_len, strlen(V4));
    ck_assert_str_eq(out.v4, V4);
    if (_i) {
        ck_assert_uint_eq(out.v6_len, strlen(V6));
        ck_assert_str_eq(out.v6, V6);
    } else {
        ck_assert_ptr_null(out.v6);
        ck_assert_uint_eq(out.v6_len, 0);
    }
    me_inputs_free(&out);
    me_inputs_free(&in);
    ck_assert_ptr_null(in.v4);
    free(b);
}
END_TEST

START_TEST(empty_bundle)
{
    struct me_inputs in = { .secret_len = 0 }, out;
    size_t len;
    uint8_t *b = me_inputs_encode(&in, &len);

    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(len, strlen("TMEI1\nsecret 0\n\nv4 0\n\nv6 0\n\n"));
    ck_assert_mem_eq(b, "TMEI1\nsecret 0\n\nv4 0\n\nv6 0\n\n", len);
    ck_assert_int_eq(me_inputs_decode(b, len, &out), 0);
    ck_assert_uint_eq(out.secret_len, 0);
    ck_assert_ptr_null(out.v4);
    free(b);
}
END_TEST

/* Every proper prefix is refused, and so is one byte more. */
START_TEST(truncated)
{
    struct me_inputs in, out;
    size_t len;
    uint8_t *b, *big;

    fill(&in, 200, 1);
    b = me_inputs_encode(&in, &len);
    ck_assert_ptr_nonnull(b);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);   /* exact size: ASan sees over */

        memcpy(cut, b, n);
        ck_assert_msg(me_inputs_decode(cut, n, &out) == -1,
            "prefix of %zu of %zu bytes accepted", n, len);
        free(cut);
    }
    big = malloc(len + 1);
    memcpy(big, b, len);
    big[len] = '\n';
    ck_assert_int_eq(me_inputs_decode(big, len + 1, &out), -1);
    free(big);
    free(b);
    me_inputs_free(&in);
}
END_TEST

static int
decodes(const char *text)
{
    struct me_inputs out;
    int r = me_inputs_decode((const uint8_t *)text, strlen(text), &out);

    if (r == 0)
        me_inputs_free(&out);
    return r;
}

START_TEST(garbled)
{
    /* The good one first, so the others fail for their own reason. */
    ck_assert_int_eq(decodes("TMEI1\nsecret 2\nab\nv4 1\nx\nv6 0\n\n"), 0);
    ck_assert_int_eq(decodes("TMEI2\nsecret 2\nab\nv4 1\nx\nv6 0\n\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 3\nab\nv4 1\nx\nv6 0\n\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 2\nabv4 1\nx\nv6 0\n\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret  2\nab\nv4 1\nx\nv6 0\n\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret -2\nab\nv4 1\nx\nv6 0\n\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 2\nab\nv6 1\nx\nv4 0\n\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 2\nab\nv4 1\nx\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 257\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 99999999999999999999\n"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 2\nab\nv4 1\nx\nv6 0\n\nz"), -1);
    ck_assert_int_eq(decodes("TMEI1\nsecret 2\nab\nv4 2\nx\n\nv6 0\n\n"), 0);
}
END_TEST

/* A NUL inside a list would cut the worker's C string: refused. */
START_TEST(nul_in_list)
{
    static const uint8_t b[] = "TMEI1\nsecret 0\n\nv4 3\na\0b\nv6 0\n\n";
    struct me_inputs out;

    ck_assert_int_eq(me_inputs_decode(b, sizeof(b) - 1, &out), -1);
}
END_TEST

START_TEST(secret_bounds)
{
    static const uint8_t s[300];

    ck_assert_ptr_nonnull(me_inputs_check_secret(s, 0));
    ck_assert_ptr_nonnull(me_inputs_check_secret(s, 31));
    ck_assert_str_eq(me_inputs_check_secret(s, 31), "31 bytes, not 32..256");
    ck_assert_ptr_null(me_inputs_check_secret(s, 32));
    ck_assert_ptr_null(me_inputs_check_secret(s, 128));
    ck_assert_ptr_null(me_inputs_check_secret(s, 256));
    ck_assert_ptr_nonnull(me_inputs_check_secret(s, 257));
}
END_TEST

START_TEST(check_list)
{
    char err[128];

    ck_assert_int_eq(me_inputs_check_list(V4, strlen(V4), 0, err,
        sizeof(err)), 0);
    ck_assert_int_eq(me_inputs_check_list(V6, strlen(V6), 1, err,
        sizeof(err)), 0);
    err[0] = '\0';
    ck_assert_int_eq(me_inputs_check_list("a\0b", 3, 0, err, sizeof(err)),
        -1);
    ck_assert_str_eq(err, "holds a NUL byte");
    err[0] = '\0';
    ck_assert_int_eq(me_inputs_check_list("", 0, 0, err, sizeof(err)), -1);
    ck_assert_str_ne(err, "");
    err[0] = '\0';
    ck_assert_int_eq(me_inputs_check_list(BAD2, strlen(BAD2), 0, err,
        sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "line 2:", 7) == 0, "err: %s", err);
}
END_TEST

START_TEST(memfd_binary)
{
    struct me_inputs in;
    size_t len, got = 0;
    uint8_t *b, *back;
    int fd, raw;

    fill(&in, 64, 1);                   /* the secret holds a NUL */
    b = me_inputs_encode(&in, &len);
    ck_assert_ptr_nonnull(b);
    fd = ctl_text_fd((const char *)b, len);
    ck_assert_int_ge(fd, 0);
    back = ctl_fd_bytes(fd, len, &got);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(got, len);
    ck_assert_mem_eq(back, b, len);
    free(back);
    ck_assert_ptr_null(ctl_fd_bytes(fd, len - 1, &got));
    ck_assert_ptr_null(ctl_fd_text(fd, len));
    close(fd);
    /* Unsealed: its writer could change it under us. */
    raw = memfd_create("test", MFD_CLOEXEC);
    ck_assert_int_ge(raw, 0);
    ck_assert_int_eq(write(raw, b, len), (ssize_t)len);
    ck_assert_ptr_null(ctl_fd_bytes(raw, len, &got));
    close(raw);
    free(b);
    me_inputs_free(&in);
}
END_TEST

Suite *me_inputs_suite(void);

Suite *
me_inputs_suite(void)
{
    Suite *s = suite_create("me_inputs");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, round_trip, 0, 2);
    tcase_add_test(tc, empty_bundle);
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, garbled);
    tcase_add_test(tc, nul_in_list);
    tcase_add_test(tc, secret_bounds);
    tcase_add_test(tc, check_list);
    tcase_add_test(tc, memfd_binary);
    suite_add_tcase(s, tc);
    return s;
}
