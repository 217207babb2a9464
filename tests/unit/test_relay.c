/*
 * test_relay.c - the relay's limits (worker/relay.c), on socket pairs
 * filled before the relay starts: a capped direction relays exactly its
 * cap, a silent relay ends at idle_ms, a relay ends at end_ms, and with
 * end_on_dst_eof the far end's close ends it at once (a half-close
 * otherwise, which then waits).
 */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "relay.h"
#include "util.h"

/* cli/dst: the relay's ends; cli_peer/dst_peer: the test's. */
struct pair {
    int cli, cli_peer, dst, dst_peer;
};

static void
pair_open(struct pair *p)
{
    int a[2], b[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a),
        0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b),
        0);
    p->cli = a[0];
    p->cli_peer = a[1];
    p->dst = b[0];
    p->dst_peer = b[1];
}

static void
pair_close(struct pair *p)
{
    close(p->cli);
    close(p->cli_peer);
    close(p->dst);
    close(p->dst_peer);
}

/* Everything waiting on fd (non-blocking), up to cap bytes. */
static size_t
drain(int fd, size_t cap)
{
    static uint8_t buf[65536];
    size_t got = 0;
    ssize_t n;

    while (got < cap && (n = read(fd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    return got;
}

static void
fill(int fd, size_t len)
{
    uint8_t buf[4096];

    memset(buf, 0x5a, sizeof(buf));
    while (len > 0) {
        ssize_t n = write(fd, buf, len < sizeof(buf) ? len : sizeof(buf));

        ck_assert_int_gt(n, 0);
        len -= (size_t)n;
    }
}

START_TEST(caps_are_exact)
{
    struct pair p;
    struct relay r = { 0 };

    pair_open(&p);
    fill(p.cli_peer, 5000);
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.max_up = 1000;
    ck_assert_int_eq(relay_run(&r), RELAY_CAPPED);
    ck_assert_uint_eq(r.c2d_bytes, 1000);
    ck_assert_uint_eq(drain(p.dst_peer, 100000), 1000);
    pair_close(&p);

    pair_open(&p);
    fill(p.dst_peer, 100);
    memset(&r, 0, sizeof(r));
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.max_down = 10;
    ck_assert_int_eq(relay_run(&r), RELAY_CAPPED);
    ck_assert_uint_eq(drain(p.cli_peer, 100000), 10);
    pair_close(&p);
}
END_TEST

START_TEST(idle_and_lifetime)
{
    struct pair p;
    struct relay r = { 0 };
    int64_t t0;

    pair_open(&p);
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.idle_ms = 200;
    t0 = mono_ms();
    ck_assert_int_eq(relay_run(&r), RELAY_IDLE);
    ck_assert_int_ge(mono_ms() - t0, 200);
    ck_assert_int_lt(mono_ms() - t0, 2000);

    memset(&r, 0, sizeof(r));
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.end_ms = mono_ms() + 150;
    t0 = mono_ms();
    ck_assert_int_eq(relay_run(&r), RELAY_EXPIRED);
    ck_assert_int_ge(mono_ms() - t0, 140);
    ck_assert_int_lt(mono_ms() - t0, 2000);

    /* Traffic keeps an idle limit away: what was queued is relayed. */
    fill(p.cli_peer, 3000);
    memset(&r, 0, sizeof(r));
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.idle_ms = 300;
    ck_assert_int_eq(relay_run(&r), RELAY_IDLE);
    ck_assert_uint_eq(r.c2d_bytes, 3000);
    pair_close(&p);
}
END_TEST

START_TEST(far_close_mirrored)
{
    struct pair p;
    struct relay r = { 0 };
    int64_t t0;

    /* Masking: the mask host answers and closes; the relay ends at once
     * with the answer delivered, though the client never closed. */
    pair_open(&p);
    fill(p.dst_peer, 700);
    ck_assert_int_eq(shutdown(p.dst_peer, SHUT_WR), 0);
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.idle_ms = 5000;
    r.end_on_dst_eof = 1;
    t0 = mono_ms();
    ck_assert_int_eq(relay_run(&r), 0);
    ck_assert_int_lt(mono_ms() - t0, 1000);
    ck_assert_uint_eq(drain(p.cli_peer, 100000), 700);
    pair_close(&p);

    /* A DC's close is a half-close: the client may still talk. */
    pair_open(&p);
    ck_assert_int_eq(shutdown(p.dst_peer, SHUT_WR), 0);
    memset(&r, 0, sizeof(r));
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.idle_ms = 200;
    ck_assert_int_eq(relay_run(&r), RELAY_IDLE);
    ck_assert_int_eq(read(p.cli_peer, &t0, 1), 0);     /* EOF passed on */
    pair_close(&p);
}
END_TEST

Suite *relay_suite(void);

Suite *
relay_suite(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("limits");

    tcase_add_test(tc, caps_are_exact);
    tcase_add_test(tc, idle_and_lifetime);
    tcase_add_test(tc, far_close_mirrored);
    suite_add_tcase(s, tc);
    return s;
}
