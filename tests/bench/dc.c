/*
 * dc.c - "bench dc": the fake Telegram DC of the benchmark.
 *
 * One thread, one level-triggered epoll loop, non-blocking sockets, so
 * that it holds tens of thousands of connections cheaply.  Each connection
 * sends a raw obfuscated2 header (no secret, as the proxy sends one to a
 * DC) and a 16-byte command (bench.h), then:
 *   E  echo everything back until EOF;
 *   D  send the pattern of the seed as fast as the socket takes it, until
 *      the peer closes;
 *   U  verify the pattern of the seed; at EOF answer the count of bytes
 *      verified and a status byte (0 ok, 1 mismatch);
 *   B  U and D at once (the source uses seed ^ BENCH_BOTH_XOR), no answer.
 * Reads land in one shared scratch buffer; a connection owns a 64 KiB
 * buffer only while it streams (D, B) or while an echo waits for room in
 * its socket, so an idle one costs its struct and two cipher contexts.
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
#include "crypto.h"
#include "obfs2.h"
#include "util.h"

#define DC_BUF          65536
#define DC_ROUNDS       4               /* 64 KiB reads or sends per event */
#define DC_MAX_LISTEN   16              /* epoll data 1..16; 0 the signals */

enum dstate { DS_HEADER, DS_COMMAND, DS_RUN, DS_CLOSING };

struct dconn {
    int fd;                             /* -1 once closed */
    uint8_t state, op, have, bad;
    uint32_t events;                    /* epoll interest now */
    uint8_t head[OBFS2_HEADER_LEN];     /* the header, then the command */
    struct ctr *up, *down;              /* decrypt received / encrypt sent */
    struct pattern sink, src;
    uint64_t verified;                  /* U, B: bytes checked */
    uint8_t *obuf;                      /* encrypted bytes not yet sent */
    uint32_t opos, olen;
    struct dconn *prev, *next;          /* live list; next: dead list */
};

static int dc_ep = -1;
static uint8_t dc_scratch[DC_BUF];
static struct dconn *dc_live, *dc_dead;

static void
dc_close(struct dconn *c)
{
    close(c->fd);
    c->fd = -1;
    ctr_free(c->up);
    ctr_free(c->down);
    free(c->obuf);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        dc_live = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    /* Freed after the event batch, which may still name it. */
    c->next = dc_dead;
    dc_dead = c;
}

static void
dc_want(struct dconn *c)
{
    uint32_t ev = EPOLLIN;

    if (c->state == DS_CLOSING)
        ev = EPOLLOUT;
    else if (c->op == 'E' && c->olen > c->opos)
        ev = EPOLLOUT;              /* no more reading until it went out */
    else if (c->state == DS_RUN && (c->op == 'D' || c->op == 'B'))
        ev = EPOLLIN | EPOLLOUT;
    if (ev != c->events) {
        c->events = ev;
        (void)ep_ctl(dc_ep, EPOLL_CTL_MOD, c->fd, ev, (uintptr_t)c);
    }
}

/*
 * Send encrypted bytes (n <= DC_BUF, nothing pending); what the socket
 * does not take waits in obuf.  -1 if the connection was closed.
 */
static int
dc_send(struct dconn *c, const uint8_t *p, size_t n)
{
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        dc_close(c);
        return -1;
    }
    w = w < 0 ? 0 : w;
    if ((size_t)w < n) {
        if (c->obuf == NULL && (c->obuf = malloc(DC_BUF)) == NULL) {
            fprintf(stderr, "bench dc: out of memory\n");
            dc_close(c);
            return -1;
        }
        memcpy(c->obuf, p + w, n - (size_t)w);
        c->opos = 0;
        c->olen = (uint32_t)(n - (size_t)w);
    }
    dc_want(c);
    return 0;
}

/* Send what obuf holds; 1 if all of it went, 0 if not, -1 if closed. */
static int
dc_flush(struct dconn *c)
{
    while (c->opos < c->olen) {
        ssize_t w = send(c->fd, c->obuf + c->opos, c->olen - c->opos,
            MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w < 0) {
            dc_close(c);
            return -1;
        }
        c->opos += (uint32_t)w;
    }
    c->opos = c->olen = 0;
    return 1;
}

/*
 * The command is complete in head[0..16); -1 if it is not one.  A wrong
 * header (a secret where none belongs) shows here as a garbled command.
 */
static int
dc_command(struct dconn *c)
{
    const uint8_t *h = c->head;
    uint64_t seed = pattern_get64(h + 8);

    c->op = h[4];
    if (memcmp(h, BENCH_MAGIC, 4) != 0 || h[5] != 0 || h[6] != 0 ||
        h[7] != 0 || strchr("EDUB", c->op) == NULL || c->op == 0) {
        fprintf(stderr, "bench dc: not a bench command (%02x %02x %02x "
            "%02x %02x)\n", h[0], h[1], h[2], h[3], h[4]);
        return -1;
    }
    pattern_init(&c->sink, seed);
    pattern_init(&c->src, c->op == 'B' ? seed ^ BENCH_BOTH_XOR : seed);
    if ((c->op == 'D' || c->op == 'B') &&
        (c->obuf = malloc(DC_BUF)) == NULL) {
        fprintf(stderr, "bench dc: out of memory\n");
        return -1;
    }
    c->state = DS_RUN;
    dc_want(c);
    return 0;
}

/* Bytes from the socket, in the scratch: header, command, then data. */
static void
dc_feed(struct dconn *c, uint8_t *p, size_t n)
{
    struct obfs2_keys k;
    size_t take;

    if (c->state == DS_HEADER) {
        take = OBFS2_HEADER_LEN - c->have;
        take = take < n ? take : n;
        memcpy(c->head + c->have, p, take);
        c->have = (uint8_t)(c->have + take);
        p += take;
        n -= take;
        if (c->have < OBFS2_HEADER_LEN)
            return;
        obfs2_derive(c->head, NULL, &k);
        if (obfs2_streams(c->head, &k, &c->up, &c->down) != 0) {
            fprintf(stderr, "bench dc: out of memory\n");
            dc_close(c);
            return;
        }
        c->state = DS_COMMAND;
        c->have = 0;
    }
    if (c->state == DS_COMMAND) {
        take = BENCH_CMD_LEN - c->have;
        take = take < n ? take : n;
        ctr_apply(c->up, p, c->head + c->have, take);
        c->have = (uint8_t)(c->have + take);
        p += take;
        n -= take;
        if (c->have < BENCH_CMD_LEN)
            return;
        if (dc_command(c) != 0) {
            dc_close(c);
            return;
        }
    }
    if (n == 0)
        return;
    ctr_apply(c->up, p, p, n);
    if (c->op == 'E') {
        ctr_apply(c->down, p, p, n);
        (void)dc_send(c, p, n);
    } else if (c->op == 'U' || c->op == 'B') {
        if (pattern_check(&c->sink, p, n) != n && !c->bad) {
            c->bad = 1;
            fprintf(stderr, "bench dc: %c: pattern mismatch after %llu "
                "good bytes\n", c->op, (unsigned long long)c->verified);
        }
        c->verified += n;
    }
    /* D: what the peer sends is not looked at. */
}

static void
dc_eof(struct dconn *c)
{
    uint8_t reply[BENCH_REPLY_LEN];

    if (c->state == DS_RUN && c->op == 'U') {
        pattern_put64(reply, c->verified);
        reply[8] = c->bad;
        ctr_apply(c->down, reply, reply, sizeof(reply));
        c->state = DS_CLOSING;
        if (dc_send(c, reply, sizeof(reply)) != 0)
            return;
    } else if (c->state == DS_RUN && c->op == 'E' && c->olen > c->opos) {
        c->state = DS_CLOSING;
        dc_want(c);
    }
    /* Closing waits for the last bytes to go out; else close now. */
    if (c->state != DS_CLOSING || c->olen == c->opos)
        dc_close(c);
}

/*
 * Up to as many reads per event as dc_writable() does sends, until
 * EAGAIN: reads stopping at the first short one made B favour sending.
 */
static void
dc_readable(struct dconn *c)
{
    for (int i = 0; i < DC_ROUNDS; i++) {
        ssize_t n = recv(c->fd, dc_scratch, sizeof(dc_scratch), 0);

        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                dc_close(c);        /* a reset: nothing to tell anyone */
            return;
        }
        if (n == 0) {
            dc_eof(c);
            return;
        }
        dc_feed(c, dc_scratch, (size_t)n);
        if (c->fd < 0 ||
            !(c->events & EPOLLIN))
            return;
    }
}

static void
dc_writable(struct dconn *c)
{
    for (int i = 0; i < DC_ROUNDS; i++) {
        int r = dc_flush(c);

        if (r <= 0)
            return;
        if (c->state == DS_CLOSING) {
            dc_close(c);
            return;
        }
        if (c->op != 'D' && c->op != 'B')
            break;
        pattern_fill(&c->src, c->obuf, DC_BUF);
        ctr_apply(c->down, c->obuf, c->obuf, DC_BUF);
        c->olen = DC_BUF;
    }
    /* An echo connection gives its buffer back once it went out. */
    if (c->op == 'E' && c->olen == 0) {
        free(c->obuf);
        c->obuf = NULL;
    }
    dc_want(c);
}

static void
dc_accept(int lfd)
{
    int fd;

    while ((fd = bench_accept("dc", lfd)) >= 0) {
        struct dconn *c = calloc(1, sizeof(*c));

        if (c == NULL || ep_ctl(dc_ep, EPOLL_CTL_ADD, fd, EPOLLIN,
            (uintptr_t)c) != 0) {
            fprintf(stderr, "bench dc: cannot take a connection\n");
            close(fd);
            free(c);
            return;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        c->next = dc_live;
        if (dc_live != NULL)
            dc_live->prev = c;
        dc_live = c;
    }
}

static void
dc_free_dead(void)
{
    while (dc_dead != NULL) {
        struct dconn *d = dc_dead;

        dc_dead = d->next;
        free(d);
    }
}

int
bench_dc(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 }
    };
    static const int sigs[] = { SIGTERM, SIGINT };
    static struct epoll_event evs[512];
    int ls[DC_MAX_LISTEN], nls = 0, opt, sfd, stop = 0;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt != 'l' || nls == DC_MAX_LISTEN) {
            fprintf(stderr, "usage: bench dc --listen HOST:PORT "
                "[--listen HOST:PORT ...]\n");
            return 2;
        }
        if ((ls[nls++] = bench_listen("dc", optarg)) < 0)
            return 1;
    }
    if (nls == 0 || optind != argc) {
        fprintf(stderr, "usage: bench dc --listen HOST:PORT ...\n");
        return 2;
    }
    if (nofile_raise_to_hard() != 0)
        perror("bench: setrlimit(RLIMIT_NOFILE)");
    sfd = signalfd_block_all(sigs, 2);
    dc_ep = epoll_create1(EPOLL_CLOEXEC);
    if (dc_ep < 0 || ep_ctl(dc_ep, EPOLL_CTL_ADD, sfd, EPOLLIN, 0) != 0)
        return 1;
    for (int i = 0; i < nls; i++)
        if (ep_ctl(dc_ep, EPOLL_CTL_ADD, ls[i], EPOLLIN,
            (uint64_t)i + 1) != 0)
            return 1;

    while (!stop) {
        int n = epoll_wait(dc_ep, evs, 512, -1);

        if (n < 0 && errno != EINTR) {
            perror("bench dc: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            uint32_t ev = evs[i].events;
            struct dconn *c = (struct dconn *)(uintptr_t)d;

            if (d == 0) {
                stop = 1;
            } else if (d <= DC_MAX_LISTEN) {
                dc_accept(ls[d - 1]);
            } else if (c->fd >= 0) {
                /* Errors and hang-ups show in the recv or the send. */
                if (ev & (EPOLLOUT | EPOLLERR) && c->events & EPOLLOUT)
                    dc_writable(c);
                if (c->fd >= 0 && c->events & EPOLLIN &&
                    ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
                    dc_readable(c);
            }
        }
        dc_free_dead();
    }
    while (dc_live != NULL)
        dc_close(dc_live);
    dc_free_dead();
    for (int i = 0; i < nls; i++)
        close(ls[i]);
    close(sfd);
    close(dc_ep);
    return 0;
}
