/*
 * test_handoff_rec.c - the check a new worker runs on a hand-over record
 * from an old one (hostile: the old worker may be compromised).  A record
 * as the relay packs it passes; every field pushed past what the relay
 * can hold, a length that disagrees with the bytes received, another
 * version, and 20,000 random records are refused without reading past
 * the buffer (ASan watches).
 */
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "handoff_rec.h"

#define VERSION 1

/* A record as a relay with n pending bytes up and n down would pack it. */
static struct handoff_rec *
good(size_t n, size_t *len)
{
    struct handoff_rec *r = calloc(1, HANDOFF_MAX);

    ck_assert_ptr_nonnull(r);
    r->magic = HANDOFF_MAGIC;
    r->version = VERSION;
    r->kind = HANDOFF_DC;
    r->parts = HANDOFF_C_DEC | HANDOFF_C_ENC | HANDOFF_D_ENC |
        HANDOFF_D_DEC | HANDOFF_TLS;
    r->dc = 2;
    strcpy(r->user, "alice");
    r->peer.ss_family = AF_INET6;
    r->tls_hdr_have = 3;
    r->tls_left = 100;
    r->up_len = (uint32_t)n;
    r->down_len = (uint32_t)n;
    r->size = (uint32_t)(sizeof(*r) + 2 * n);
    memset(r->pending, 0xab, 2 * n);
    *len = r->size;
    return r;
}

static int
ok(const struct handoff_rec *r, size_t len)
{
    const char *why = NULL;
    int v = handoff_rec_check(r, len, VERSION, &why);

    if (!v)
        ck_assert_ptr_nonnull(why);
    return v;
}

START_TEST(test_good_records)
{
    static const size_t sizes[] = { 0, 1, 4096, HANDOFF_PENDING };
    size_t len;

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct handoff_rec *r = good(sizes[i], &len);

        ck_assert_int_eq(ok(r, len), 1);
        r->kind = HANDOFF_MASK;         /* a masked relay: no user */
        r->user[0] = '\0';
        r->parts = 0;
        ck_assert_int_eq(ok(r, len), 1);
        free(r);
    }
}
END_TEST

/* Each mutation alone makes a good record bad. */
START_TEST(test_bad_fields)
{
    size_t len;
    struct handoff_rec *r;

#define BAD(stmt)                                                           \
    do {                                                                    \
        r = good(16, &len);                                                 \
        stmt;                                                               \
        ck_assert_msg(!ok(r, len), "accepted after: %s", #stmt);            \
        free(r);                                                            \
    } while (0)
    BAD(r->magic ^= 1);
    BAD(r->version = VERSION + 1);
    BAD(len -= 1);
    BAD(len = sizeof(*r) - 1);
    BAD(r->size += 1);
    BAD(r->up_len = HANDOFF_PENDING + 1);
    BAD(r->down_len = UINT32_MAX);
    BAD(r->up_len = 0xffffffffu);               /* would wrap the sum */
    BAD(r->kind = 0);
    BAD(r->kind = 3);
    BAD(r->parts |= 0x20);
    BAD(r->up_eof = 2);
    BAD(r->down_done = 7);
    BAD(r->up_done = 1);                        /* done without EOF */
    BAD((r->down_eof = 1, r->down_done = 1));   /* done with bytes left */
    BAD(r->tls_hdr_have = TLSREC_HEADER + 1);
    BAD(r->tls_left = TLSREC_MAX_IN + 1);
    BAD(memset(r->user, 'x', sizeof(r->user))); /* no NUL */
    BAD(r->user[0] = '\0');                     /* DC kind needs a user */
    BAD(r->peer.ss_family = AF_UNIX);
#undef BAD
}
END_TEST

/* Random bytes (with the magic and version right half the time) are
 * refused, and the check never reads past n. */
START_TEST(test_random_records)
{
    unsigned seed = 12345;

    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)rand_r(&seed) % (sizeof(struct handoff_rec) + 64);
        uint8_t *buf = malloc(n > 0 ? n : 1);
        struct handoff_rec *r = (struct handoff_rec *)(void *)buf;
        const char *why;

        ck_assert_ptr_nonnull(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)rand_r(&seed);
        if (n >= sizeof(*r) && i % 2 == 0) {
            r->magic = HANDOFF_MAGIC;
            r->version = VERSION;
        }
        /* Passing would take size == n and every field in bounds. */
        ck_assert_int_eq(handoff_rec_check(r, n, VERSION, &why), 0);
        free(buf);
    }
}
END_TEST

Suite *handoff_rec_suite(void);

Suite *
handoff_rec_suite(void)
{
    Suite *s = suite_create("handoff_rec");
    TCase *tc = tcase_create("check");

    tcase_add_test(tc, test_good_records);
    tcase_add_test(tc, test_bad_fields);
    tcase_add_test(tc, test_random_records);
    suite_add_tcase(s, tc);
    return s;
}
