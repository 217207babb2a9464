/*
 * test_relay.c - the relay's limits (worker/relay.c), on socket pairs
 * filled before the relay starts: a capped direction relays exactly its
 * cap, a silent relay ends at idle_ms, a relay ends at end_ms, and with
 * end_on_dst_eof the far end's close ends it at once (a half-close
 * otherwise, which then waits).  In fake TLS the DC's bytes leave in
 * records of the size rule (README "TLS shaping"): full 16,401-byte
 * records, a short read held until more joins it, and sent, not lost,
 * when the user's quota ends the relay.
 */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "relay.h"
#include "stats.h"
#include "userlim.h"
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

/* The record lengths of the fake TLS stream waiting on fd; -1 at the
 * end if what follows is not a whole ApplicationData record. */
static size_t
record_lengths(int fd, long *lens, size_t max)
{
    static uint8_t buf[262144];
    size_t have = 0, off = 0, n = 0;
    ssize_t k;

    while ((k = read(fd, buf + have, sizeof(buf) - have)) > 0)
        have += (size_t)k;
    while (off < have && n < max) {
        size_t len;

        if (have - off < TLSREC_HEADER || buf[off] != 0x17 ||
            buf[off + 1] != 3 || buf[off + 2] != 3) {
            lens[n++] = -1;
            break;
        }
        len = (size_t)buf[off + 3] << 8 | buf[off + 4];
        if (have - off - TLSREC_HEADER < len) {
            lens[n++] = -1;
            break;
        }
        lens[n++] = (long)len;
        off += TLSREC_HEADER + len;
    }
    return n;
}

/* A fake TLS relay (no ciphers) over p that ends once idle for idle_ms. */
static int
tls_relay(struct pair *p, int idle_ms)
{
    struct tlsrec_reader rd;
    struct relay r = { 0 };

    memset(&rd, 0, sizeof(rd));
    r.cfd = p->cli;
    r.dfd = p->dst;
    r.tls = &rd;
    r.idle_ms = idle_ms;
    return relay_run(&r);
}

START_TEST(tls_full_records)
{
    struct pair p;
    long lens[8];

    /* A download goes out in full TLS 1.3 records, the rest in one. */
    pair_open(&p);
    fill(p.dst_peer, 40000);
    ck_assert_int_eq(shutdown(p.dst_peer, SHUT_WR), 0);
    ck_assert_int_eq(tls_relay(&p, 300), RELAY_IDLE);
    ck_assert_uint_eq(record_lengths(p.cli_peer, lens, 8), 3);
    ck_assert_int_eq(lens[0], 16401);
    ck_assert_int_eq(lens[1], 16401);
    ck_assert_int_eq(lens[2], 40000 - 2 * 16401);
    pair_close(&p);

    /* What the client sends, in records of any TLS 1.3 length, arrives
     * unwrapped. */
    pair_open(&p);
    {
        static uint8_t rec[TLSREC_HEADER + TLSREC_MAX_IN];

        memset(rec, 0x42, sizeof(rec));
        tlsrec_header(rec, TLSREC_MAX_IN);
        ck_assert_int_eq(write(p.cli_peer, rec, sizeof(rec)),
            (ssize_t)sizeof(rec));
        tlsrec_header(rec, 1);
        ck_assert_int_eq(write(p.cli_peer, rec, TLSREC_HEADER + 1),
            TLSREC_HEADER + 1);
    }
    ck_assert_int_eq(tls_relay(&p, 300), RELAY_IDLE);
    ck_assert_uint_eq(drain(p.dst_peer, 100000), TLSREC_MAX_IN + 1);
    pair_close(&p);
}
END_TEST

struct later {
    int fd;
    size_t len;
    int ms;
};

static void *
write_later(void *arg)
{
    const struct later *l = arg;
    struct timespec ts = { 0, l->ms * 1000000L };

    nanosleep(&ts, NULL);
    fill(l->fd, l->len);
    return NULL;
}

START_TEST(tls_short_reads_held)
{
    struct later l;
    pthread_t t;
    struct pair p;
    long lens[8];
    int64_t t0;

    /* A quick ack (4 bytes) waits for the answer that follows it. */
    pair_open(&p);
    fill(p.dst_peer, 4);
    l = (struct later){ .fd = p.dst_peer, .len = 100, .ms = 20 };
    ck_assert_int_eq(pthread_create(&t, NULL, write_later, &l), 0);
    ck_assert_int_eq(tls_relay(&p, 400), RELAY_IDLE);
    pthread_join(t, NULL);
    ck_assert_uint_eq(record_lengths(p.cli_peer, lens, 8), 1);
    ck_assert_int_eq(lens[0], 104);
    pair_close(&p);

    /* Alone, it goes after the wait; an idle limit does not end the
     * relay before. */
    pair_open(&p);
    fill(p.dst_peer, 4);
    t0 = mono_ms();
    ck_assert_int_eq(tls_relay(&p, 50), RELAY_IDLE);
    ck_assert_int_ge(mono_ms() - t0, 200 - 5);
    ck_assert_uint_eq(record_lengths(p.cli_peer, lens, 8), 1);
    ck_assert_int_eq(lens[0], 4);
    pair_close(&p);

    /* The DC's EOF sends it, and the EOF after it. */
    pair_open(&p);
    fill(p.dst_peer, 17);
    ck_assert_int_eq(shutdown(p.dst_peer, SHUT_WR), 0);
    ck_assert_int_eq(tls_relay(&p, 50), RELAY_IDLE);
    ck_assert_uint_eq(record_lengths(p.cli_peer, lens, 8), 1);
    ck_assert_int_eq(lens[0], 17);
    ck_assert_int_eq(read(p.cli_peer, &t0, 1), 0);
    pair_close(&p);

    /* 18 bytes are a record already. */
    pair_open(&p);
    fill(p.dst_peer, 18);
    ck_assert_int_eq(tls_relay(&p, 100), RELAY_IDLE);
    ck_assert_uint_eq(record_lengths(p.cli_peer, lens, 8), 1);
    ck_assert_int_eq(lens[0], 18);
    pair_close(&p);
}
END_TEST

START_TEST(tls_held_bytes_outlive_the_quota)
{
    struct stats_region *reg = stats_create(8, 600, NULL);
    struct config_user u = { .name = (char *)"bob", .enabled = true };
    struct tlsrec_reader rd;
    struct relay r = { 0 };
    struct pair p;
    long lens[8];
    int s;

    /* The quota's last 10 bytes come in a short read, held for a record:
     * the quota then ends the relay, but only after they went out. */
    ck_assert_ptr_nonnull(reg);
    s = stats_user_slot(reg, "bob");
    u.data_quota_bytes = TLSREC_MAX_OUT + 10;
    (void)userlim_publish(reg, s, &u, 1772323200);
    pair_open(&p);
    fill(p.dst_peer, TLSREC_MAX_OUT + 10);
    memset(&rd, 0, sizeof(rd));
    r.cfd = p.cli;
    r.dfd = p.dst;
    r.tls = &rd;
    r.idle_ms = 1000;
    r.lim = reg;
    r.lim_slot = s;
    ck_assert_int_eq(relay_run(&r), RELAY_QUOTA);
    ck_assert_uint_eq(record_lengths(p.cli_peer, lens, 8), 2);
    ck_assert_int_eq(lens[0], TLSREC_MAX_OUT);
    ck_assert_int_eq(lens[1], 10);
    pair_close(&p);
    stats_destroy(reg);
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
    tcase_add_test(tc, tls_full_records);
    tcase_add_test(tc, tls_short_reads_held);
    tcase_add_test(tc, tls_held_bytes_outlive_the_quota);
    suite_add_tcase(s, tc);
    return s;
}
