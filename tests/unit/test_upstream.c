/*
 * test_upstream.c - outbound_connect() (worker/upstream.c) against fake
 * SOCKS5 servers on loopback, one thread each: straight connections and
 * the address they report, RFC 1929 auth, the CONNECT reply's BND
 * address, weighted picks, failover with back-off and its counters, a
 * target failure not held against the upstream, every upstream down,
 * refused credentials and replies that are not SOCKS5; whose fault a
 * failure was (target_fault: the target's, or ours or an upstream's); a
 * counter slot left half-named.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "config.h"
#include "net.h"
#include "socks5.h"
#include "stats.h"
#include "upstream.h"
#include "util.h"

enum fake_mode { FAKE_OK, FAKE_AUTH, FAKE_REFUSE_TARGET, FAKE_GARBAGE,
    FAKE_SILENT };

struct fake {
    int fd;
    int port;
    enum fake_mode mode;
    atomic_int stop;
    atomic_int served;
    pthread_t t;
};

/* Read exactly n bytes (blocking helper for the fake server). */
static int
fake_read(int fd, uint8_t *b, size_t n)
{
    size_t got = 0;

    return net_read_atleast(fd, b, n, n, mono_ms() + 5000, NULL, &got) ==
        (int)n ? 0 : -1;
}

static void
fake_serve(struct fake *f, int c)
{
    static const uint8_t ok_bnd[10] = { 5, 0, 0, 1, 10, 1, 2, 3, 0x11, 0xd7 };
    static const uint8_t refused[10] = { 5, 5, 0, 1 };
    uint8_t b[600];
    int want = f->mode == FAKE_AUTH ? SOCKS5_METHOD_USERPASS :
        SOCKS5_METHOD_NONE;

    if (fake_read(c, b, 3) != 0 || b[0] != 5 || b[1] != 1)
        return;
    if (f->mode == FAKE_GARBAGE) {
        (void)net_write_all(c, (const uint8_t *)"HTTP/1.1 400 x\r\n", 16,
            mono_ms() + 5000);
        return;
    }
    b[1] = b[2] == want ? (uint8_t)want : SOCKS5_METHOD_REFUSED;
    if (net_write_all(c, b, 2, mono_ms() + 5000) != 0 ||
        b[1] == SOCKS5_METHOD_REFUSED)
        return;
    if (f->mode == FAKE_AUTH) {
        size_t ul, pl;
        int good;

        if (fake_read(c, b, 2) != 0 || b[0] != 1)
            return;
        ul = b[1];
        if (fake_read(c, b + 2, ul + 1) != 0)
            return;
        pl = b[2 + ul];
        if (fake_read(c, b + 3 + ul, pl) != 0)
            return;
        good = ul == 2 && memcmp(b + 2, "tm", 2) == 0 && pl == 6 &&
            memcmp(b + 3 + ul, "secret", 6) == 0;
        b[0] = 1;
        b[1] = good ? 0 : 1;
        if (net_write_all(c, b, 2, mono_ms() + 5000) != 0 || !good)
            return;
    }
    if (fake_read(c, b, 4) != 0 || b[0] != 5 || b[1] != 1 ||
        fake_read(c, b + 4, b[3] == SOCKS5_ATYP_IPV6 ? 18 : 6) != 0)
        return;
    if (f->mode == FAKE_SILENT) {       /* no CONNECT reply: until closed */
        struct pollfd p = { .fd = c, .events = POLLIN };

        (void)poll(&p, 1, 5000);
        return;
    }
    (void)net_write_all(c, f->mode == FAKE_REFUSE_TARGET ? refused : ok_bnd,
        10, mono_ms() + 5000);
}

static void *
fake_thread(void *arg)
{
    struct fake *f = arg;

    while (!atomic_load(&f->stop)) {
        struct pollfd p = { .fd = f->fd, .events = POLLIN };
        int c;

        if (poll(&p, 1, 50) <= 0)
            continue;
        c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        fake_serve(f, c);
        atomic_fetch_add(&f->served, 1);
        close(c);
    }
    return NULL;
}

static void
fake_start(struct fake *f, enum fake_mode mode)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);

    memset(f, 0, sizeof(*f));
    f->mode = mode;
    f->fd = net_listen((struct sockaddr *)&sin, sizeof(sin), 64);
    ck_assert_int_ge(f->fd, 0);
    ck_assert_int_eq(getsockname(f->fd, (struct sockaddr *)&sin, &len), 0);
    f->port = ntohs(sin.sin_port);
    ck_assert_int_eq(pthread_create(&f->t, NULL, fake_thread, f), 0);
}

static void
fake_stop(struct fake *f)
{
    atomic_store(&f->stop, 1);
    pthread_join(f->t, NULL);
    close(f->fd);
}

/* A loopback port nothing listens on (bound, never listened, closed). */
static int
closed_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* A config of n upstreams at 127.0.0.1:ports[i] with weights[i]. */
static struct config *
cfg_with(int n, const int *ports, const int *weights, const char *user,
    const char *pass)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    char a[32];

    ck_assert_ptr_nonnull(cfg);
    cfg->dc_bind_ipv4 = strdup("");
    cfg->dc_bind_ipv6 = strdup("");
    cfg->dc_bind_interface = strdup("");
    cfg->nupstreams = n;
    cfg->upstreams = calloc((size_t)n + 1, sizeof(*cfg->upstreams));
    for (int i = 0; i < n; i++) {
        snprintf(a, sizeof(a), "127.0.0.1:%d", ports[i]);
        cfg->upstreams[i].address = strdup(a);
        cfg->upstreams[i].weight = weights[i];
        cfg->upstreams[i].username = strdup(user);
        cfg->upstreams[i].password = strdup(pass);
    }
    return cfg;
}

static void
cfg_free(struct config *cfg)
{
    for (int i = 0; i < cfg->nupstreams; i++) {
        free(cfg->upstreams[i].address);
        free(cfg->upstreams[i].username);
        free(cfg->upstreams[i].password);
    }
    free(cfg->upstreams);
    free(cfg->dc_bind_ipv4);
    free(cfg->dc_bind_ipv6);
    free(cfg->dc_bind_interface);
    free(cfg);
}

static struct stats_region *region;
static int row;

static void
setup(void)
{
    region = stats_create(1024, 60, NULL);
    ck_assert_ptr_nonnull(region);
    row = stats_worker_claim(region, 0, 1);
    ck_assert_int_ge(row, 0);
    upstream_attach(region, row);
}

static void
teardown(void)
{
    upstream_attach(NULL, -1);
    stats_destroy(region);
}

/* The counters of upstream address "127.0.0.1:port". */
static struct stats_upstream *
counters(int port)
{
    char a[32];
    int slot;

    snprintf(a, sizeof(a), "127.0.0.1:%d", port);
    slot = stats_upstream_slot(region, a);
    ck_assert_int_ge(slot, 0);
    return &region->upstreams[slot];
}

/* Dial a target (any: the fakes never connect it) through cfg. */
static int
dial(const struct config *cfg, struct outbound_via *via)
{
    struct sockaddr_in t = { .sin_family = AF_INET,
        .sin_port = htons(443) };
    char desc[128];

    inet_pton(AF_INET, "149.154.167.51", &t.sin_addr);
    return outbound_connect(cfg, (struct sockaddr *)&t, sizeof(t),
        mono_ms() + 5000, desc, sizeof(desc), via);
}

START_TEST(direct_leaves_own_address_to_the_socket)
{
    struct fake f;
    struct sockaddr_in t = { .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct config *cfg = cfg_with(0, NULL, NULL, "", "");
    struct outbound_via via;
    char desc[128];
    int fd;

    fake_start(&f, FAKE_OK);
    t.sin_port = htons((uint16_t)f.port);
    fd = outbound_connect(cfg, (struct sockaddr *)&t, sizeof(t),
        mono_ms() + 5000, desc, sizeof(desc), &via);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(via.upstream, -1);
    /* Direct: the socket's own address, asked only by those who need it
     * (the ME handshake), not on every dial. */
    ck_assert_int_eq(via.seenlen, 0);
    close(fd);
    /* Nothing listening: the target's own failure. */
    t.sin_port = htons((uint16_t)closed_port());
    ck_assert_int_lt(outbound_connect(cfg, (struct sockaddr *)&t,
        sizeof(t), mono_ms() + 5000, desc, sizeof(desc), &via), 0);
    ck_assert_int_eq(errno, ECONNREFUSED);
    ck_assert_int_eq(via.target_fault, 1);
    t.sin_port = htons((uint16_t)f.port);
    /* A source address the machine does not have: refused, not ignored,
     * and not the target's fault. */
    free(cfg->dc_bind_ipv4);
    cfg->dc_bind_ipv4 = strdup("192.0.2.1");
    ck_assert_int_lt(outbound_connect(cfg, (struct sockaddr *)&t,
        sizeof(t), mono_ms() + 5000, desc, sizeof(desc), &via), 0);
    ck_assert_int_eq(errno, EADDRNOTAVAIL);
    ck_assert_int_eq(via.target_fault, 0);
    fake_stop(&f);
    cfg_free(cfg);
}
END_TEST

START_TEST(auth_and_bound_address)
{
    struct fake f;
    struct outbound_via via;
    struct config *cfg;
    int w = 1, fd;
    char a[64];

    fake_start(&f, FAKE_AUTH);
    cfg = cfg_with(1, &f.port, &w, "tm", "secret");
    fd = dial(cfg, &via);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(via.upstream, 0);
    net_format((struct sockaddr *)&via.seen, a, sizeof(a));
    ck_assert_str_eq(a, "10.1.2.3:4567");
    close(fd);
    ck_assert_uint_eq(atomic_load(&counters(f.port)->attempts), 1);
    ck_assert_uint_eq(atomic_load(&counters(f.port)->failures), 0);
    cfg_free(cfg);
    /* Wrong password: its fault, counted, backed off. */
    cfg = cfg_with(1, &f.port, &w, "tm", "wrong!");
    ck_assert_int_lt(dial(cfg, &via), 0);
    ck_assert_uint_eq(atomic_load(&counters(f.port)->failures), 1);
    ck_assert_uint_eq(stats_upstream_down(region, 0), 1);
    fake_stop(&f);
    cfg_free(cfg);
}
END_TEST

START_TEST(weights_spread_picks)
{
    struct fake a, b;
    int ports[2], weights[2] = { 1, 3 }, n = 400;
    struct config *cfg;
    uint64_t na, nb;

    fake_start(&a, FAKE_OK);
    fake_start(&b, FAKE_OK);
    ports[0] = a.port;
    ports[1] = b.port;
    cfg = cfg_with(2, ports, weights, "", "");
    for (int i = 0; i < n; i++) {
        int fd = dial(cfg, NULL);

        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    na = atomic_load(&counters(a.port)->attempts);
    nb = atomic_load(&counters(b.port)->attempts);
    ck_assert_uint_eq(na + nb, (uint64_t)n);
    /* Expected 100 of 400 (sd 8.7): far outside chance if not weighed. */
    ck_assert_uint_ge(na, 60);
    ck_assert_uint_le(na, 140);
    fake_stop(&a);
    fake_stop(&b);
    cfg_free(cfg);
}
END_TEST

START_TEST(failover_and_backoff)
{
    struct fake b;
    int ports[2], weights[2] = { 5, 1 };
    struct config *cfg;
    struct stats_upstream *ca;

    fake_start(&b, FAKE_OK);
    ports[0] = closed_port();
    ports[1] = b.port;
    cfg = cfg_with(2, ports, weights, "", "");
    for (int i = 0; i < 20; i++) {
        struct outbound_via via;
        int fd = dial(cfg, &via);

        /* The dead one's refusal never reaches the caller. */
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(via.upstream, 1);
        close(fd);
    }
    ca = counters(ports[0]);
    ck_assert_uint_ge(atomic_load(&ca->failures), 1);
    ck_assert_uint_eq(atomic_load(&ca->failures), atomic_load(&ca->attempts));
    /* Weight 5 of 6 would have picked it ~17 times without back-off. */
    ck_assert_uint_lt(atomic_load(&ca->attempts), 10);
    ck_assert_uint_eq(atomic_load(&ca->down[row]), 1);
    ck_assert_uint_eq(atomic_load(&counters(b.port)->down[row]), 0);
    ck_assert_uint_eq(atomic_load(&counters(b.port)->attempts), 20);
    fake_stop(&b);
    cfg_free(cfg);
}
END_TEST

START_TEST(target_failure_not_held)
{
    struct outbound_via via;
    struct fake f;
    int w = 1;
    struct config *cfg;
    struct stats_upstream *c;

    fake_start(&f, FAKE_REFUSE_TARGET);
    cfg = cfg_with(1, &f.port, &w, "", "");
    ck_assert_int_lt(dial(cfg, &via), 0);
    ck_assert_int_eq(errno, ECONNREFUSED);
    ck_assert_int_eq(via.target_fault, 1);      /* the upstream said so */
    ck_assert_int_lt(dial(cfg, NULL), 0);
    c = counters(f.port);
    ck_assert_uint_eq(atomic_load(&c->attempts), 2);   /* not left out */
    ck_assert_uint_eq(atomic_load(&c->target_failures), 2);
    ck_assert_uint_eq(atomic_load(&c->failures), 0);
    ck_assert_uint_eq(atomic_load(&c->down[row]), 0);
    fake_stop(&f);
    cfg_free(cfg);
}
END_TEST

START_TEST(all_down_and_garbage)
{
    struct outbound_via via;
    struct fake g;
    int ports[2], weights[2] = { 1, 1 };
    struct config *cfg;

    fake_start(&g, FAKE_GARBAGE);
    ports[0] = closed_port();
    ports[1] = g.port;
    cfg = cfg_with(2, ports, weights, "", "");
    ck_assert_int_lt(dial(cfg, &via), 0);
    ck_assert_int_eq(via.target_fault, 0);      /* both upstreams' fault */
    ck_assert_uint_eq(atomic_load(&counters(g.port)->failures), 1);
    ck_assert_uint_eq(atomic_load(&counters(ports[0])->failures), 1);
    /* Both backed off: the next dial fails without trying either, and
     * that says nothing about the target. */
    via.target_fault = 1;
    ck_assert_int_lt(dial(cfg, &via), 0);
    ck_assert_int_eq(errno, ENETUNREACH);
    ck_assert_int_eq(via.target_fault, 0);
    ck_assert_uint_eq(atomic_load(&counters(g.port)->attempts), 1);
    ck_assert_uint_eq(atomic_load(&counters(ports[0])->attempts), 1);
    ck_assert_uint_eq(stats_upstream_down(region, 0) +
        stats_upstream_down(region, 1), 2);
    fake_stop(&g);
    cfg_free(cfg);
}
END_TEST

/* No CONNECT reply in time: nobody's fault that can be told. */
START_TEST(silent_connect_not_target)
{
    struct sockaddr_in t = { .sin_family = AF_INET,
        .sin_port = htons(443) };
    struct outbound_via via;
    struct config *cfg;
    struct fake f;
    char desc[128];
    int w = 1;

    fake_start(&f, FAKE_SILENT);
    cfg = cfg_with(1, &f.port, &w, "", "");
    inet_pton(AF_INET, "149.154.167.51", &t.sin_addr);
    via.target_fault = 1;
    ck_assert_int_lt(outbound_connect(cfg, (struct sockaddr *)&t,
        sizeof(t), mono_ms() + 1000, desc, sizeof(desc), &via), 0);
    ck_assert_int_eq(via.target_fault, 0);
    ck_assert_uint_eq(atomic_load(&counters(f.port)->failures), 0);
    fake_stop(&f);
    cfg_free(cfg);
}
END_TEST

/* A counter slot left half-named (its claimer killed mid-claim): dials
 * go on, uncounted, and do not wait for it for ever. */
START_TEST(stuck_counter_slot)
{
    struct config *cfg;
    struct fake f;
    int w = 1, fd;

    atomic_store(&region->upstreams[0].state, 1);
    fake_start(&f, FAKE_OK);
    cfg = cfg_with(1, &f.port, &w, "", "");
    for (int i = 0; i < 3; i++) {
        fd = dial(cfg, NULL);
        ck_assert_int_ge(fd, 0);
        close(fd);
    }
    for (int64_t end = mono_ms() + 5000; atomic_load(&f.served) < 3 &&
        mono_ms() < end; )
        usleep(1000);
    ck_assert_int_eq(atomic_load(&f.served), 3);
    for (int i = 1; i < STATS_MAX_UPSTREAMS; i++)
        ck_assert_uint_eq(atomic_load(&region->upstreams[i].state), 0);
    /* Once it is named, a fresh worker state claims a slot again. */
    atomic_store(&region->upstreams[0].state, 2);
    upstream_attach(region, row);
    fd = dial(cfg, NULL);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_uint_eq(atomic_load(&counters(f.port)->attempts), 1);
    fake_stop(&f);
    cfg_free(cfg);
}
END_TEST

Suite *upstream_suite(void);

Suite *
upstream_suite(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = tcase_create("dial");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, direct_leaves_own_address_to_the_socket);
    tcase_add_test(tc, auth_and_bound_address);
    tcase_add_test(tc, weights_spread_picks);
    tcase_add_test(tc, failover_and_backoff);
    tcase_add_test(tc, target_failure_not_held);
    tcase_add_test(tc, all_down_and_garbage);
    tcase_add_test(tc, silent_connect_not_target);
    tcase_add_test(tc, stuck_counter_slot);
    suite_add_tcase(s, tc);
    return s;
}
