/*
 * relay.c - "bench relay": the no-crypto baseline every proxy figure is
 * compared with.  It does what the proxy's relay does minus the crypto
 * and the protocol, and nothing worse: N prefork workers, each with its
 * own SO_REUSEPORT listener (as the proxy's workers have), one
 * single-threaded edge-triggered epoll loop per worker, TCP_NODELAY on
 * both sockets, 16 KiB reads (the proxy's relay buffer size), half-close
 * passed on.  A direction owns a 16 KiB buffer only once the receiving
 * socket did not take all of a read; until then reads land in a scratch
 * buffer shared by the worker and go straight out, so 10,000 idle
 * connections cost little.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "net.h"
#include "util.h"

#define RL_BUF          16384
#define RL_BUDGET       8       /* reads+writes per direction per turn */
#define RL_SIGNAL       0       /* epoll data; else a struct rend * */
#define RL_LISTEN       1

struct rpair;

struct rend {
    int fd;
    uint8_t can_rd, can_wr;             /* edge-triggered readiness */
    uint8_t rd_eof, wr_shut;
    struct rpair *p;
};

/* Bytes read from e[i] not yet written to e[1 - i]. */
struct rdir {
    uint8_t *buf;
    uint32_t pos, len;
};

struct rpair {
    struct rend e[2];                   /* 0: client, 1: upstream */
    struct rdir d[2];
    uint8_t connecting, queued, dead;
    struct rpair *prev, *next;          /* live list; next: dead list */
    struct rpair *next_ready;
};

static int rl_ep = -1;
static struct sockaddr_storage rl_to;
static socklen_t rl_tolen;
static uint8_t rl_scratch[RL_BUF];
static struct rpair *rl_live, *rl_dead, *rl_ready;

static void
pair_close(struct rpair *p)
{
    for (int i = 0; i < 2; i++) {
        close(p->e[i].fd);
        free(p->d[i].buf);
    }
    p->dead = 1;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        rl_live = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    /* Freed after the batch and the ready list: both may still name it. */
    p->next = rl_dead;
    rl_dead = p;
}

/*
 * Move bytes from e[i] to e[1 - i] for at most RL_BUDGET steps.
 * Returns 1 if the budget ran out (more may be waiting), 0 if the
 * direction is blocked or done, -1 on a socket error.
 */
static int
pump_dir(struct rpair *p, int i)
{
    struct rend *src = &p->e[i], *dst = &p->e[1 - i];
    struct rdir *d = &p->d[i];

    for (int step = 0; step < RL_BUDGET; step++) {
        uint8_t *buf;
        ssize_t r, w;

        if (d->len > d->pos) {
            if (!dst->can_wr)
                return 0;
            w = send(dst->fd, d->buf + d->pos, d->len - d->pos,
                MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    return -1;
                dst->can_wr = 0;
                return 0;
            }
            d->pos += (uint32_t)w;
            if (d->pos == d->len)
                d->pos = d->len = 0;
            continue;
        }
        if (src->rd_eof) {
            /* Everything read went out: pass the half-close on. */
            if (!dst->wr_shut) {
                (void)shutdown(dst->fd, SHUT_WR);
                dst->wr_shut = 1;
            }
            return 0;
        }
        /* Reading only when the other side takes bytes keeps reads in
         * the scratch buffer mostly. */
        if (!src->can_rd || !dst->can_wr)
            return 0;
        buf = d->buf != NULL ? d->buf : rl_scratch;
        r = recv(src->fd, buf, RL_BUF, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            src->can_rd = 0;
            return 0;
        }
        if (r == 0) {
            src->rd_eof = 1;
            continue;
        }
        w = send(dst->fd, buf, (size_t)r, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
            dst->can_wr = 0;
            w = 0;
        }
        if (w < r) {
            if (d->buf == NULL) {
                d->buf = malloc(RL_BUF);
                if (d->buf == NULL)
                    return -1;
                memcpy(d->buf, rl_scratch + w, (size_t)(r - w));
                d->pos = 0;
                d->len = (uint32_t)(r - w);
            } else {
                d->pos = (uint32_t)w;
                d->len = (uint32_t)r;
            }
        }
    }
    return 1;
}

static void
pump(struct rpair *p)
{
    int more = 0;

    if (p->connecting) {
        int err = 0;
        socklen_t l = sizeof(err);

        if (!p->e[1].can_wr)
            return;
        if (getsockopt(p->e[1].fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
            err = errno;
        if (err != 0) {
            fprintf(stderr, "bench relay: connect: %s\n", strerror(err));
            pair_close(p);
            return;
        }
        p->connecting = 0;
    }
    for (int i = 0; i < 2; i++) {
        int r = pump_dir(p, i);

        if (r < 0) {
            pair_close(p);
            return;
        }
        more |= r;
    }
    if (p->e[0].wr_shut && p->e[1].wr_shut) {
        /* Both directions ended and were flushed. */
        pair_close(p);
        return;
    }
    if (more && !p->queued) {
        p->queued = 1;
        p->next_ready = rl_ready;
        rl_ready = p;
    }
}

/* A new client: dial the upstream; both ends edge-triggered. */
static void
relay_new(int cfd)
{
    struct rpair *p = calloc(1, sizeof(*p));
    int ufd = socket(rl_to.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
        SOCK_CLOEXEC, 0);
    uint32_t ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

    if (p == NULL || ufd < 0) {
        perror("bench relay: new connection");
        free(p);
        close(cfd);
        if (ufd >= 0)
            close(ufd);
        return;
    }
    set_nodelay(ufd);
    p->e[0].fd = cfd;
    p->e[1].fd = ufd;
    p->e[0].p = p->e[1].p = p;
    /* An accepted socket can be written; reading finds out by EAGAIN. */
    p->e[0].can_rd = p->e[0].can_wr = p->e[1].can_rd = 1;
    p->next = rl_live;
    if (rl_live != NULL)
        rl_live->prev = p;
    rl_live = p;
    if (connect(ufd, (struct sockaddr *)&rl_to, rl_tolen) == 0)
        p->e[1].can_wr = 1;
    else if (errno == EINPROGRESS)
        p->connecting = 1;
    else
        perror("bench relay: connect");
    if ((!p->connecting && !p->e[1].can_wr) ||
        ep_ctl(rl_ep, EPOLL_CTL_ADD, cfd, ev, (uintptr_t)&p->e[0]) != 0 ||
        ep_ctl(rl_ep, EPOLL_CTL_ADD, ufd, ev, (uintptr_t)&p->e[1]) != 0)
        pair_close(p);
}

static void
free_dead(void)
{
    while (rl_dead != NULL) {
        struct rpair *p = rl_dead;

        rl_dead = p->next;
        free(p);
    }
}

/* One worker: its own listener and loop until SIGTERM; never returns. */
static void
relay_worker(const char *listen_s, int ready_fd)
{
    static const int sigs[] = { SIGTERM, SIGINT };
    static struct epoll_event evs[512];
    int sfd = signalfd_block_all(sigs, 2), lfd, stop = 0;
    char ok;

    lfd = bench_listen("relay", listen_s);
    rl_ep = epoll_create1(EPOLL_CLOEXEC);
    ok = lfd >= 0 && rl_ep >= 0 &&
        ep_ctl(rl_ep, EPOLL_CTL_ADD, sfd, EPOLLIN, RL_SIGNAL) == 0 &&
        ep_ctl(rl_ep, EPOLL_CTL_ADD, lfd, EPOLLIN, RL_LISTEN) == 0;
    if (write(ready_fd, &ok, 1) != 1 || !ok)
        _exit(1);
    close(ready_fd);

    while (!stop) {
        int n = epoll_wait(rl_ep, evs, 512, rl_ready != NULL ? 0 : -1);
        struct rpair *q;

        if (n < 0 && errno != EINTR) {
            perror("bench relay: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            uint32_t ev = evs[i].events;
            struct rend *en = (struct rend *)(uintptr_t)d;
            int fd;

            if (d == RL_SIGNAL) {
                stop = 1;
            } else if (d == RL_LISTEN) {
                while ((fd = bench_accept("relay", lfd)) >= 0)
                    relay_new(fd);
            } else if (!en->p->dead) {
                if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    en->can_rd = 1;
                if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                    en->can_wr = 1;
                pump(en->p);
            }
        }
        /* Pairs that ran out of budget go on, after everyone's events. */
        q = rl_ready;
        rl_ready = NULL;
        while (q != NULL) {
            struct rpair *next = q->next_ready;

            q->queued = 0;
            if (!q->dead)
                pump(q);
            q = next;
        }
        free_dead();
    }
    while (rl_live != NULL)
        pair_close(rl_live);
    free_dead();
    close(lfd);
    close(sfd);
    close(rl_ep);
    exit(0);                        /* not _exit: the sanitizers check */
}

int
bench_relay(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "to", required_argument, NULL, 't' },
        { "workers", required_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 }
    };
    const char *listen_s = NULL, *to_s = NULL;
    struct sockaddr_storage ls;
    socklen_t lslen;
    int workers = 1, opt;
    char *end = NULL;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'l')
            listen_s = optarg;
        else if (opt == 't')
            to_s = optarg;
        else if (opt == 'w')
            workers = (int)strtol(optarg, &end, 10);
        else
            listen_s = NULL;
    }
    if (listen_s == NULL || to_s == NULL || optind != argc ||
        (end != NULL && *end != '\0') || workers < 1 ||
        workers > BENCH_MAX_WORKERS ||
        net_parse_addr(listen_s, &ls, &lslen) ||
        net_parse_addr(to_s, &rl_to, &rl_tolen) != 0) {
        fprintf(stderr, "usage: bench relay --listen HOST:PORT --to "
            "HOST:PORT [--workers 1..%d]\n", BENCH_MAX_WORKERS);
        return 2;
    }
    return bench_prefork("relay", listen_s, workers, relay_worker);
}
