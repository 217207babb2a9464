/*
 * test_net.c - net_write_segments() over a loopback TCP connection: the
 * bytes arrive whole and in order, in as many segments as pieces (the
 * kernel's own segment count, TCP_INFO), while seg 0 writes as usual;
 * the socket's TCP_NOTSENT_LOWAT is what it was before; a peer whose
 * window stays shut times the write out without waking it every ms.
 * net_write2_all(): two pieces arrive whole, in order, through a send
 * buffer far smaller than they are (partial sendmsg() across the seam),
 * and either piece may be empty.
 */
#include <check.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

#define FLIGHT  3000

struct pair {
    int lfd, cfd, sfd;                  /* listener, client, server end */
};

static void
pair_open(struct pair *p)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->lfd = net_listen((struct sockaddr *)&sin, sizeof(sin), 4);
    ck_assert_int_ge(p->lfd, 0);
    ck_assert_int_eq(getsockname(p->lfd, (struct sockaddr *)&sin, &len), 0);
    p->cfd = net_connect((struct sockaddr *)&sin, sizeof(sin),
        mono_ms() + 5000);
    ck_assert_int_ge(p->cfd, 0);
    for (int i = 0; i < 500; i++) {
        p->sfd = accept(p->lfd, NULL, NULL);
        if (p->sfd >= 0)
            break;
        usleep(10000);
    }
    ck_assert_int_ge(p->sfd, 0);
}

static void
pair_close(struct pair *p)
{
    close(p->sfd);
    close(p->cfd);
    close(p->lfd);
}

static unsigned
segs_out(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    return ti.tcpi_segs_out;
}

/* Write FLIGHT bytes from p's server end with seg, read them back at the
 * client end; the data segments that took. */
static unsigned
flight(struct pair *p, size_t seg)
{
    uint8_t out[FLIGHT], in[FLIGHT];
    unsigned before;
    size_t got = 0;

    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 7 + seg);
    before = segs_out(p->sfd);
    ck_assert_int_eq(net_write_segments(p->sfd, out, sizeof(out), seg,
        mono_ms() + 5000), 0);
    ck_assert_int_eq(net_read_atleast(p->cfd, in, sizeof(in), sizeof(in),
        mono_ms() + 5000, NULL, &got), (int)sizeof(in));
    ck_assert_mem_eq(in, out, sizeof(in));
    return segs_out(p->sfd) - before;
}

START_TEST(test_segments)
{
    struct pair p;
    int lowat = 12345, v = 0;
    socklen_t len = sizeof(v);
    unsigned n;

    pair_open(&p);
    ck_assert_int_eq(setsockopt(p.sfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT,
        &lowat, sizeof(lowat)), 0);
    n = flight(&p, 200);
    ck_assert_uint_eq(n, (FLIGHT + 199) / 200);
    ck_assert_int_eq(getsockopt(p.sfd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v,
        &len), 0);
    ck_assert_int_eq(v, lowat);
    n = flight(&p, 64);
    ck_assert_uint_eq(n, (FLIGHT + 63) / 64);
    /* Off, or a piece as big as the flight: one write, as the kernel
     * cuts it (one segment at loopback's MSS). */
    ck_assert_uint_lt(flight(&p, 0), (FLIGHT + 199) / 200);
    ck_assert_uint_lt(flight(&p, FLIGHT), (FLIGHT + 199) / 200);
    pair_close(&p);
}
END_TEST

/*
 * The peer never reads and its receive buffer is small: the window shuts
 * with pieces still queued.  net_write_segments() must give up at the
 * deadline, having slept in growing turns (1 ms turns would be ~1000
 * wake-ups in the second; doubling to 50 ms makes it ~30).
 */
START_TEST(test_segments_zero_window)
{
    static uint8_t out[256 * 1024];
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    struct rusage before, after;
    int small = 4096, lfd, cfd, sfd = -1, r;
    int64_t t0, deadline;
    long wakes;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = net_listen((struct sockaddr *)&sin, sizeof(sin), 4);
    ck_assert_int_ge(lfd, 0);
    /* Accepted sockets take the listener's buffer size and window. */
    ck_assert_int_eq(setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small,
        sizeof(small)), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    cfd = net_connect((struct sockaddr *)&sin, sizeof(sin),
        mono_ms() + 5000);
    ck_assert_int_ge(cfd, 0);
    for (int i = 0; i < 500 && sfd < 0; i++)
        if ((sfd = accept(lfd, NULL, NULL)) < 0)
            usleep(10000);
    ck_assert_int_ge(sfd, 0);
    memset(out, 0x5a, sizeof(out));
    ck_assert_int_eq(getrusage(RUSAGE_THREAD, &before), 0);
    t0 = mono_ms();
    deadline = t0 + 1000;
    r = net_write_segments(cfd, out, sizeof(out), 1000, deadline);
    ck_assert_int_eq(getrusage(RUSAGE_THREAD, &after), 0);
    ck_assert_int_eq(r, NET_TIMEOUT);
    ck_assert_int_ge(mono_ms(), deadline);
    wakes = after.ru_nvcsw - before.ru_nvcsw;
    ck_assert_msg(wakes < 150, "%ld wake-ups in a 1 s zero window", wakes);
    close(sfd);
    close(cfd);
    close(lfd);
}
END_TEST

struct write2 {
    int fd;
    const uint8_t *a, *b;
    size_t alen, blen;
    int rc;
};

static void *
write2_thread(void *arg)
{
    struct write2 *w = arg;

    w->rc = net_write2_all(w->fd, w->a, w->alen, w->b, w->blen,
        mono_ms() + 10000);
    return NULL;
}

START_TEST(test_write2)
{
    static uint8_t a[300 * 1024], b[200 * 1024], in[500 * 1024];
    static const size_t cuts[][2] = {
        { sizeof(a), sizeof(b) }, { 0, sizeof(b) }, { sizeof(a), 0 },
        { 1, 1 }, { 0, 0 },
    };
    int small = 4096;

    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (uint8_t)(i * 13 + 1);
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (uint8_t)(i * 7 + 5);
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        struct write2 w = { .a = a, .b = b, .alen = cuts[k][0],
            .blen = cuts[k][1], .rc = 99 };
        size_t want = w.alen + w.blen, got = 0;
        struct pair p;
        pthread_t t;

        pair_open(&p);
        ck_assert_int_eq(setsockopt(p.sfd, SOL_SOCKET, SO_SNDBUF, &small,
            sizeof(small)), 0);
        w.fd = p.sfd;
        ck_assert_int_eq(pthread_create(&t, NULL, write2_thread, &w), 0);
        if (want > 0)
            ck_assert_int_eq(net_read_atleast(p.cfd, in, want, want,
                mono_ms() + 10000, NULL, &got), (int)want);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert_int_eq(w.rc, 0);
        ck_assert_mem_eq(in, a, w.alen);
        ck_assert_mem_eq(in + w.alen, b, w.blen);
        pair_close(&p);
    }
}
END_TEST

Suite *net_suite(void);

Suite *
net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_segments);
    tcase_add_test(tc, test_segments_zero_window);
    tcase_add_test(tc, test_write2);
    suite_add_tcase(s, tc);
    return s;
}
