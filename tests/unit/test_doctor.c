/*
 * test_doctor.c - the pure parts of telemt --doctor (master/doctor.c):
 * HTTP Date parsing in its three forms against timegm(), finding the Date
 * in a response head, and the limits arithmetic and its verdicts.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../master/doctor.h"

static int64_t
date_of(const char *s)
{
    int64_t t = -12345;

    ck_assert_msg(doctor_http_date(s, strlen(s), &t) == 0, "'%s'", s);
    return t;
}

static void
bad_date(const char *s)
{
    int64_t t = -12345;

    ck_assert_msg(doctor_http_date(s, strlen(s), &t) == -1,
        "'%s' parsed as %lld", s, (long long)t);
    ck_assert_int_eq(t, -12345);
}

START_TEST(test_date_forms)
{
    /* RFC 9110 5.6.7's example, in its three forms. */
    ck_assert_int_eq(date_of("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    ck_assert_int_eq(date_of("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    ck_assert_int_eq(date_of("Sun Nov  6 08:49:37 1994"), 784111777);
    ck_assert_int_eq(date_of("Sun Nov 16 08:49:37 1994"),
        784111777 + 10 * 86400);
    ck_assert_int_eq(date_of("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    ck_assert_int_eq(date_of("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
    ck_assert_int_eq(date_of("Tue, 19 Jan 2038 03:14:08 GMT"), 2147483648LL);
    ck_assert_int_eq(date_of("Wednesday, 01-Jan-25 00:00:00 GMT"),
        1735689600);
    ck_assert_int_eq(date_of("Sun, 06 Nov 1994 08:49:37 GMT  "), 784111777);
    ck_assert_int_eq(date_of("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
}
END_TEST

START_TEST(test_date_bad)
{
    static const char good[] = "Sun, 06 Nov 1994 08:49:37 GMT";

    bad_date("");
    bad_date("Sun, 6 Nov 1994 08:49:37 GMT");
    bad_date("Sun, 06 Nov 1994 08:49:37 UTC");
    bad_date("Sun, 06 Nov 1994 08:49:37 GMT x");
    bad_date("Sun, 06 Nov 1994 8:49:37 GMT");
    bad_date("Sun, 06 Xyz 1994 08:49:37 GMT");
    bad_date("Sun, 06 nov 1994 08:49:37 GMT");
    bad_date("Sun, 06-Nov 1994 08:49:37 GMT");
    bad_date("Sun, 06 Nov 94 08:49:37 GMT");
    bad_date("Sun, 30 Feb 2024 00:00:00 GMT");
    bad_date("Sun, 29 Feb 2023 00:00:00 GMT");
    bad_date("Sun, 29 Feb 1900 00:00:00 GMT");
    bad_date("Sun, 00 Nov 1994 08:49:37 GMT");
    bad_date("Sun, 06 Nov 1994 24:00:00 GMT");
    bad_date("Sun, 06 Nov 1994 23:60:00 GMT");
    bad_date("Sun, 06 Nov 1994 23:59:61 GMT");
    bad_date("Sun Nov  6 08:49:37 94");
    bad_date("Sun Nov  6 08:49:37 1994 GMT");
    bad_date("1994-11-06T08:49:37Z");
    bad_date("784111777");
    /* Every prefix of a good one is cut short, and no byte is read past
     * the length given (the copy has no NUL after it). */
    for (size_t n = 0; n < strlen(good) - 1; n++) {
        char *p = malloc(n ? n : 1);
        int64_t t;

        memcpy(p, good, n);
        ck_assert_msg(doctor_http_date(p, n, &t) == -1, "prefix %zu", n);
        free(p);
    }
}
END_TEST

/* What strftime() writes, for many times, parses back to the same time. */
START_TEST(test_date_against_gmtime)
{
    static const char *const fmts[] = {
        "%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    };
    unsigned seed = 12345;

    for (int i = 0; i < 20000; i++) {
        /* 1970..2069: the span the two-digit form can name. */
        time_t t;
        struct tm tm;
        char buf[64];
        int f = i % 3;

        seed = seed * 1103515245u + 12345u;
        t = (time_t)(((uint64_t)seed << 16 ^ (uint64_t)i * 2654435761u) %
            3155760000ULL);
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), fmts[f], &tm);
        ck_assert_msg(date_of(buf) == (int64_t)t, "'%s' != %lld", buf,
            (long long)t);
    }
}
END_TEST

START_TEST(test_find_date)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nServer: nginx\r\n"
        "dAtE:   Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 3\r\n"
        "\r\n";
    static const char lf[] = "HTTP/1.0 301 Moved\nDate: Thu, 01 Jan 1970 "
        "00:00:10 GMT\n\n";
    static const char none[] = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"
        "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
    static const char bad[] = "HTTP/1.1 200 OK\r\nDate: yesterday\r\n\r\n";
    static const char notes[] = "HTTP/1.1 200 OK\r\nX-Date: Sun, 06 Nov "
        "1994 08:49:37 GMT\r\n\r\n";
    int64_t t = 0;

    ck_assert_int_eq(doctor_find_date(head, strlen(head), &t), 0);
    ck_assert_int_eq(t, 784111777);
    ck_assert_int_eq(doctor_find_date(lf, strlen(lf), &t), 0);
    ck_assert_int_eq(t, 10);
    /* After the blank line it is the body's, not a header. */
    ck_assert_int_eq(doctor_find_date(none, strlen(none), &t), -1);
    ck_assert_int_eq(doctor_find_date(bad, strlen(bad), &t), -1);
    ck_assert_int_eq(doctor_find_date(notes, strlen(notes), &t), -1);
    ck_assert_int_eq(doctor_find_date("SSH-2.0-x\r\n", 11, &t), -2);
    ck_assert_int_eq(doctor_find_date("", 0, &t), -2);
    /* Cut anywhere before the Date's line ends: not found (and nothing
     * read past the cut: the copies have no NUL). */
    for (size_t n = 5, end = (size_t)(strstr(head, "GMT\r\n") - head) + 5;
        n < strlen(head); n++) {
        char *p = malloc(n);
        int r;

        memcpy(p, head, n);
        r = doctor_find_date(p, n, &t);
        ck_assert_msg(r == (n >= end ? 0 : -1), "cut at %zu: %d", n, r);
        free(p);
    }
}
END_TEST

/* A config as the loader leaves it, for the limit checks. */
static struct config
limits_cfg(void)
{
    struct config c;

    memset(&c, 0, sizeof(c));
    c.workers = 2;
    c.max_connections = 1000;
    c.mask_max_connections = 24;
    c.thread_stack_size = 262144;
    c.me_max_connections = 8;
    c.user = (char *)"";
    return c;
}

static struct doctor_limits
roomy(void)
{
    struct doctor_limits l = {
        .nofile_soft = 1024, .nofile_hard = 1048576, .nr_open = 1048576,
        .file_max = DOCTOR_UNLIMITED, .nproc = DOCTOR_UNLIMITED,
        .threads_max = DOCTOR_UNLIMITED, .pid_max = 4194304,
        .max_map_count = 65530, .as = DOCTOR_UNLIMITED,
        .commit_limit = DOCTOR_UNLIMITED, .root = 1, .workers_root = 0,
    };
    return l;
}

START_TEST(test_limits_need)
{
    struct config c = limits_cfg();
    struct doctor_limits l = roomy();
    struct doctor_need nd;

    doctor_need(&c, &l, &nd);
    ck_assert_uint_eq(nd.conns, 1024);
    ck_assert_uint_eq(nd.fds, 2 * 1024 + 64 + 65);
    ck_assert_uint_eq(nd.threads, 1024 + 16);
    ck_assert_uint_eq(nd.maps, 2 * 1040 + 1024);
    ck_assert_uint_eq(nd.stack_bytes, 1040ULL * (262144 + 4096));
    ck_assert_uint_eq(nd.nofile, 1048576);      /* 0: the hard limit */
    c.use_middle_proxy = true;
    doctor_need(&c, &l, &nd);
    ck_assert_uint_eq(nd.fds, 2 * 1024 + 64 + 65 + 16 * 8);
    /* max_open_files: below the hard limit as asked; above it as root
     * up to fs.nr_open; past that setrlimit() fails (soft stays). */
    c.max_open_files = 5000;
    doctor_need(&c, &l, &nd);
    ck_assert_uint_eq(nd.nofile, 5000);
    l.nofile_hard = 4096;
    doctor_need(&c, &l, &nd);
    ck_assert_uint_eq(nd.nofile, 5000);
    ck_assert_int_eq(nd.nofile_fails, 0);
    l.root = 0;
    doctor_need(&c, &l, &nd);
    ck_assert_uint_eq(nd.nofile, 4096);
    l.root = 1;
    l.nr_open = 4500;
    doctor_need(&c, &l, &nd);
    ck_assert_uint_eq(nd.nofile, 1024);
    ck_assert_int_eq(nd.nofile_fails, 1);
}
END_TEST

START_TEST(test_limits_verdicts)
{
    struct config c = limits_cfg();
    struct doctor_limits l = roomy();
    struct doctor_line out[3];

    ck_assert_int_eq(doctor_limits_check(&c, &l, out), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(out[i].status == DOCTOR_OK, "%s", out[i].what);
        ck_assert_str_eq(out[i].fix, "");
    }
    ck_assert_ptr_nonnull(strstr(out[0].what, "each worker needs 2177"));
    ck_assert_ptr_nonnull(strstr(out[1].what, "2 workers x 1040"));

    /* A hard limit of 1024: (1024 - 129) / 2 = 447 connections, 423 of
     * them not masked. */
    l.nofile_hard = l.nofile_soft = 1024;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[0].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[0].fix, "about 447 connections"));
    ck_assert_ptr_nonnull(strstr(out[0].fix, "LimitNOFILE=2177"));
    ck_assert_ptr_nonnull(strstr(out[0].fix, "max_connections to 423"));
    c.max_open_files = 2177;            /* as root, fixed by the config */
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[0].status, DOCTOR_OK);
    l.nr_open = 2000;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[0].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[0].fix, "fs.nr_open=2177"));
    c.max_open_files = 0;
    l = roomy();
    l.file_max = 3000;                  /* 2 x 2177 above it */
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[0].status, DOCTOR_WARN);

    /* Threads: 2 x 1040 + 16 = 2096. */
    l = roomy();
    l.nproc = 2095;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[1].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[1].fix, "LimitNPROC=2096"));
    /* (2095 - 16) / 2 = 1039 per worker: 1023 connections, 999 not
     * masked. */
    ck_assert_ptr_nonnull(strstr(out[1].fix, "max_connections to 999"));
    l.nproc = 2096;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[1].status, DOCTOR_OK);
    l.nproc = 10;
    l.workers_root = 1;                 /* root's threads are not counted */
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[1].status, DOCTOR_OK);
    l = roomy();
    l.threads_max = 2000;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[1].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[1].fix, "kernel.threads-max"));
    l = roomy();
    l.pid_max = 2000;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[1].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[1].fix, "kernel.pid_max"));

    /* Stacks: 2 x 1040 + 1024 = 3104 mappings a worker. */
    l = roomy();
    l.max_map_count = 3103;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[2].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[2].fix, "vm.max_map_count"));
    l.max_map_count = 3104;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[2].status, DOCTOR_OK);
    l.as = 1040ULL * (262144 + 4096) - 1;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[2].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[2].fix, "RLIMIT_AS"));
    l = roomy();
    l.overcommit = 2;
    l.commit_limit = 2 * 1040ULL * (262144 + 4096) - 1;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[2].status, DOCTOR_FAIL);
    ck_assert_ptr_nonnull(strstr(out[2].fix, "overcommit_memory"));
    l.commit_limit++;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[2].status, DOCTOR_OK);

    /* The largest config does not overflow into a pass. */
    c.max_connections = 1000000;
    c.mask_max_connections = 1000000;
    c.thread_stack_size = 67108864;
    c.workers = 64;
    l = roomy();
    l.nofile_hard = DOCTOR_UNLIMITED;
    l.as = DOCTOR_UNLIMITED - 1;
    l.max_map_count = DOCTOR_UNLIMITED;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[0].status, DOCTOR_OK);
    ck_assert_int_eq(out[1].status, DOCTOR_FAIL);      /* pid_max */
    ck_assert_int_eq(out[2].status, DOCTOR_OK);
    l.overcommit = 2;
    l.commit_limit = 1ULL << 40;
    doctor_limits_check(&c, &l, out);
    ck_assert_int_eq(out[2].status, DOCTOR_FAIL);
}
END_TEST

Suite *doctor_suite(void);

Suite *
doctor_suite(void)
{
    Suite *s = suite_create("doctor");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_date_forms);
    tcase_add_test(tc, test_date_bad);
    tcase_add_test(tc, test_date_against_gmtime);
    tcase_add_test(tc, test_find_date);
    tcase_add_test(tc, test_limits_need);
    tcase_add_test(tc, test_limits_verdicts);
    suite_add_tcase(s, tc);
    return s;
}
