/*
 * mini.c - "bench mini": the second baseline, the least a proxy must do
 * to serve the benchmark's clients as telemt does with run.sh's config
 * (one secret, fast mode, classic + secure + tls).  A fake-TLS hello's
 * digest is checked and answered (a fresh X25519 key share each time,
 * the server random's HMAC), the obfuscated2 header is taken from the
 * first ApplicationData records (classic, secure: as it comes), the DC
 * is dialled and sent its own header carrying the client's down key, so
 * that DC -> client bytes need no crypto, and then client -> DC bytes
 * are decrypted and encrypted again (two AES-CTR passes) and DC bytes go
 * out in ApplicationData records (tls).  Nothing else: no replay table,
 * no masking, no limits, no stats, no deadlines; bad input is closed.
 *
 * The structure is relay.c's: prefork workers with their own
 * SO_REUSEPORT listener, one edge-triggered epoll loop each, reads of up
 * to 16,401 bytes (the proxy's) into a scratch buffer the worker shares,
 * and a direction owns a buffer only while bytes wait in it for a
 * socket.  A handshake's bytes are kept until it is over.
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
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "crypto.h"
#include "faketls.h"
#include "net.h"
#include "obfs2.h"
#include "proto.h"
#include "tlsrec.h"
#include "util.h"

#define MN_BUF          TLSREC_MAX_OUT  /* one read; one record's payload */
#define MN_BUDGET       8       /* reads+writes per direction per turn */
#define MN_HS_STEP      4096    /* handshake buffer growth */
#define MN_HS_MAX       65536
#define MN_SKEW         120     /* s; telemt's tls_time_skew default */
#define MN_CERT_MIN     2500    /* its tls_cert_len_min..max defaults */
#define MN_CERT_MAX     4500
#define MN_SIGNAL       0       /* epoll data; else a struct mend * */
#define MN_LISTEN       1

enum mstate {
    MS_FIRST,                           /* a hello or a header? */
    MS_INNER,                           /* answered: header in records */
    MS_RELAY                            /* DC dialled */
};

struct mpair;

struct mend {
    int fd;
    uint8_t can_rd, can_wr;             /* edge-triggered readiness */
    uint8_t rd_eof, wr_shut;
    struct mpair *p;
};

/* Bytes for e[1 - i] not yet written, or NULL. */
struct mdir {
    uint8_t *buf;
    uint32_t pos, len;
};

struct mpair {
    struct mend e[2];                   /* 0: client, 1: DC */
    struct mdir d[2];                   /* d[i]: from e[i] to e[1 - i] */
    uint8_t state, tls, connecting, queued, dead;
    uint8_t try_header, try_hello;      /* faketls_classify()'s flags */
    struct ctr *c_dec, *d_enc;
    struct tlsrec_reader rd;            /* client records (tls) */
    uint8_t *hs;                        /* the handshake's bytes */
    uint32_t hslen, hscap;
    uint32_t hello_len, raw, pay_end;   /* MS_INNER: hs[hello_len..) */
    struct mpair *prev, *next;          /* live list; next: dead list */
    struct mpair *next_ready;
};

static int mn_ep = -1;
static struct sockaddr_storage mn_to;
static socklen_t mn_tolen;
static uint8_t mn_secret[SECRET_LEN];
static uint8_t mn_scratch[TLSREC_HEADER + MN_BUF];
static uint8_t mn_answer[FAKETLS_ANSWER_FIXED + 2 * MN_CERT_MAX];
static struct mpair *mn_live, *mn_dead, *mn_ready;

static void
pair_close(struct mpair *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->e[i].fd >= 0)
            close(p->e[i].fd);
        free(p->d[i].buf);
    }
    ctr_free(p->c_dec);
    ctr_free(p->d_enc);
    free(p->hs);
    p->dead = 1;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        mn_live = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    /* Freed after the batch and the ready list: both may still name it. */
    p->next = mn_dead;
    mn_dead = p;
}

/* Keep n bytes for e[1 - i] in d[i], which holds none. */
static int
dir_keep(struct mdir *d, const uint8_t *data, size_t n)
{
    if ((d->buf = malloc(n)) == NULL)
        return -1;
    memcpy(d->buf, data, n);
    d->pos = 0;
    d->len = (uint32_t)n;
    return 0;
}

/* Write what d[i] holds: 1 all of it, 0 the socket is full, -1 failed. */
static int
dir_flush(struct mpair *p, int i)
{
    struct mend *dst = &p->e[1 - i];
    struct mdir *d = &p->d[i];

    while (d->len > d->pos) {
        ssize_t w;

        if (!dst->can_wr)
            return 0;
        w = send(dst->fd, d->buf + d->pos, d->len - d->pos, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            dst->can_wr = 0;
            return 0;
        }
        d->pos += (uint32_t)w;
    }
    /* Reads go to the scratch buffer again: idle pairs own none. */
    free(d->buf);
    d->buf = NULL;
    d->pos = d->len = 0;
    return 1;
}

/* Send n bytes to e[1 - i] after what d[i] holds; the rest is kept. */
static int
dir_send(struct mpair *p, int i, const uint8_t *data, size_t n)
{
    struct mend *dst = &p->e[1 - i];
    struct mdir *d = &p->d[i];
    ssize_t w = 0;

    if (d->len > d->pos) {
        /* Only the answer and the DC's header come here, each first. */
        return -1;
    }
    if (dst->can_wr) {
        w = send(dst->fd, data, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
            dst->can_wr = 0;
            w = 0;
        }
    }
    if ((size_t)w == n)
        return 0;
    return dir_keep(d, data + w, n - (size_t)w);
}

/*
 * Move bytes from e[i] to e[1 - i] for at most MN_BUDGET steps: client
 * bytes unwrapped (tls), decrypted and encrypted for the DC; DC bytes
 * as they are, in a record each read (tls).  Returns 1 if the budget ran
 * out (more may be waiting), 0 if the direction is blocked or done, -1
 * on a socket or protocol error.
 */
static int
pump_dir(struct mpair *p, int i)
{
    struct mend *src = &p->e[i], *dst = &p->e[1 - i];
    struct mdir *d = &p->d[i];
    size_t head = i == 1 && p->tls ? TLSREC_HEADER : 0;

    for (int step = 0; step < MN_BUDGET; step++) {
        enum tlsrec_status st = TLSREC_OK;
        uint8_t *buf;
        size_t n;
        ssize_t r, w;

        if (d->len > d->pos) {
            int f = dir_flush(p, i);

            if (f <= 0)
                return f;
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
        if (!src->can_rd || !dst->can_wr)
            return 0;
        buf = mn_scratch;               /* d->buf is NULL when empty */
        r = recv(src->fd, buf + head, MN_BUF, 0);
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
        n = (size_t)r;
        if (i == 0) {
            if (p->tls) {
                /* Output never overtakes input: in place. */
                st = tlsrec_unwrap(&p->rd, buf, n, buf, &n);
                if (st == TLSREC_ERROR)
                    return -1;
            }
            ctr_apply(p->c_dec, buf, buf, n);
            ctr_apply(p->d_enc, buf, buf, n);
            if (st == TLSREC_ALERT)
                src->rd_eof = 1;        /* the reader takes no more */
        } else if (head > 0) {
            tlsrec_header(buf, n);
            n += head;
        }
        if (n == 0)
            continue;
        w = send(dst->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
            dst->can_wr = 0;
            w = 0;
        }
        if ((size_t)w < n && dir_keep(d, buf + w, n - (size_t)w) != 0)
            return -1;
    }
    return 1;
}

/* Read client bytes until p->hs holds want: 1 it does, 0 wait, -1 close. */
static int
hs_fill(struct mpair *p, size_t want)
{
    struct mend *c = &p->e[0];

    if (want > MN_HS_MAX)
        return -1;
    while (p->hslen < want) {
        ssize_t r;

        if (want > p->hscap) {
            size_t cap = want + MN_HS_STEP;
            uint8_t *b;

            cap = cap < MN_HS_MAX ? cap : MN_HS_MAX;
            if ((b = realloc(p->hs, cap)) == NULL)
                return -1;
            p->hs = b;
            p->hscap = (uint32_t)cap;
        }
        if (!c->can_rd)
            return 0;
        r = recv(c->fd, p->hs + p->hslen, p->hscap - p->hslen, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            c->can_rd = 0;
            return 0;
        }
        if (r == 0)
            return -1;
        p->hslen += (uint32_t)r;
    }
    return 1;
}

/*
 * Match the header at hdr against the secret; on a match dial the DC
 * and queue its header and the early bytes that followed the client's.
 * 1 matched (MS_RELAY), 0 no match, -1 failed.
 */
static int
hs_header(struct mpair *p, const uint8_t *hdr, uint8_t *early,
    size_t early_len)
{
    uint8_t dchdr[OBFS2_HEADER_LEN];
    struct obfs2_keys k;
    uint32_t tag, ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    int16_t dc;
    int fd, rc;

    if (!obfs2_match(hdr, mn_secret, &tag, &dc, &k))
        return 0;
    /* Fast mode: the DC's down stream is the client's, no c_enc. */
    if (obfs2_streams(hdr, &k, &p->c_dec, NULL) != 0 ||
        obfs2_build(dchdr, tag, dc, NULL, k.down_key, k.down_iv,
        &p->d_enc, NULL) != 0)
        return -1;
    ctr_apply(p->c_dec, early, early, early_len);
    ctr_apply(p->d_enc, early, early, early_len);

    fd = socket(mn_to.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
        SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("bench mini: socket");
        return -1;
    }
    set_nodelay(fd);
    p->e[1].fd = fd;
    p->e[1].can_rd = 1;
    p->state = MS_RELAY;
    if (connect(fd, (struct sockaddr *)&mn_to, mn_tolen) == 0) {
        p->e[1].can_wr = 1;
    } else if (errno == EINPROGRESS) {
        p->connecting = 1;
    } else {
        perror("bench mini: connect");
        return -1;
    }
    if (ep_ctl(mn_ep, EPOLL_CTL_ADD, fd, ev, (uintptr_t)&p->e[1]) != 0)
        return -1;
    /* Header and early bytes leave together, as the proxy's do. */
    if (early_len > 0) {
        uint8_t *both = malloc(OBFS2_HEADER_LEN + early_len);

        if (both == NULL)
            return -1;
        memcpy(both, dchdr, OBFS2_HEADER_LEN);
        memcpy(both + OBFS2_HEADER_LEN, early, early_len);
        rc = dir_send(p, 0, both, OBFS2_HEADER_LEN + early_len);
        free(both);
    } else {
        rc = dir_send(p, 0, dchdr, OBFS2_HEADER_LEN);
    }
    free(p->hs);
    p->hs = NULL;
    p->hslen = p->hscap = 0;
    return rc == 0 ? 1 : -1;
}

/*
 * A complete record hs[0..len) as a hello signed with the secret: answer
 * it.  1 answered (MS_INNER), 0 not a signed hello, -1 failed.
 */
static int
hs_hello(struct mpair *p, size_t len)
{
    struct faketls_hello h;
    uint8_t key_share[32], *cert;
    uint32_t ts, r;
    int64_t skew;
    size_t cert_len, n;

    if (faketls_parse_hello(p->hs, len, &h) != 0 ||
        !faketls_verify(p->hs, len, mn_secret, &ts))
        return 0;
    skew = (int64_t)ts - (int64_t)time(NULL);
    if (skew > MN_SKEW || skew < -MN_SKEW)
        return -1;
    if (random_bytes((uint8_t *)&r, sizeof(r)) != 0)
        return -1;
    cert_len = MN_CERT_MIN + r % (MN_CERT_MAX - MN_CERT_MIN + 1);
    cert = mn_answer + FAKETLS_ANSWER_FIXED + cert_len;
    if (faketls_x25519_public(key_share) != 0 ||
        random_bytes(cert, cert_len) != 0)
        return -1;
    n = faketls_build_answer(&h, mn_secret, key_share, cert, cert_len,
        mn_answer, FAKETLS_ANSWER_FIXED + cert_len);
    if (n == 0 || dir_send(p, 1, mn_answer, n) != 0)
        return -1;
    p->tls = 1;
    p->state = MS_INNER;
    p->hello_len = p->raw = p->pay_end = (uint32_t)len;
    return 1;
}

/* MS_FIRST: a hello, or a header (which may start like a record). */
static int
hs_first(struct mpair *p)
{
    size_t need;
    int r;

    if ((r = hs_fill(p, 1)) <= 0)
        return r;
    while (p->hs[0] == TLS_REC_HANDSHAKE) {
        switch (faketls_classify(p->hs, p->hslen, p->try_header,
            p->try_hello, &need)) {
        case FAKETLS_READ:
            if ((r = hs_fill(p, need)) <= 0)
                return r;
            break;
        case FAKETLS_OBFS2:
            p->try_header = 0;
            if ((r = hs_header(p, p->hs, p->hs + OBFS2_HEADER_LEN,
                p->hslen - OBFS2_HEADER_LEN)) != 0)
                return r;
            break;
        case FAKETLS_HELLO:
            p->try_hello = 0;
            if ((r = hs_hello(p, need)) != 0)
                return r;
            break;
        case FAKETLS_NOT_RECORD:
            goto header;
        case FAKETLS_REFUSE:
            return -1;
        }
    }
header:
    while (p->hslen < OBFS2_HEADER_LEN) {
        if (obfs2_prefix_impossible(p->hs, p->hslen))
            return -1;
        if ((r = hs_fill(p, OBFS2_HEADER_LEN)) <= 0)
            return r;
    }
    if (obfs2_prefix_impossible(p->hs, p->hslen))
        return -1;
    r = hs_header(p, p->hs, p->hs + OBFS2_HEADER_LEN,
        p->hslen - OBFS2_HEADER_LEN);
    return r != 0 ? r : -1;
}

/* MS_INNER: unwrap records in place until the 64-byte header is there. */
static int
hs_inner(struct mpair *p)
{
    int r;

    while (p->pay_end - p->hello_len < OBFS2_HEADER_LEN) {
        enum tlsrec_status st;
        size_t out;

        if (p->raw == p->hslen && (r = hs_fill(p, p->hslen + 1)) <= 0)
            return r;
        st = tlsrec_unwrap(&p->rd, p->hs + p->raw, p->hslen - p->raw,
            p->hs + p->pay_end, &out);
        p->raw = p->hslen;
        p->pay_end += (uint32_t)out;
        if (st != TLSREC_OK)
            return -1;
    }
    r = hs_header(p, p->hs + p->hello_len,
        p->hs + p->hello_len + OBFS2_HEADER_LEN,
        p->pay_end - p->hello_len - OBFS2_HEADER_LEN);
    return r != 0 ? r : -1;
}

static void
pump(struct mpair *p)
{
    int more = 0, r = 0;

    /* The answer to a hello may still wait for room at the client. */
    if (p->state != MS_RELAY && dir_flush(p, 1) < 0)
        r = -1;
    if (r == 0 && p->state == MS_FIRST)
        r = hs_first(p);
    if (r >= 0 && p->state == MS_INNER)
        r = hs_inner(p);
    if (r < 0 || p->state != MS_RELAY) {
        if (r < 0)
            pair_close(p);
        return;
    }
    if (p->connecting) {
        int err = 0;
        socklen_t l = sizeof(err);

        if (!p->e[1].can_wr) {
            if (dir_flush(p, 1) < 0)
                pair_close(p);
            return;
        }
        if (getsockopt(p->e[1].fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
            err = errno;
        if (err != 0) {
            fprintf(stderr, "bench mini: connect: %s\n", strerror(err));
            pair_close(p);
            return;
        }
        p->connecting = 0;
    }
    for (int i = 0; i < 2; i++) {
        int d = pump_dir(p, i);

        if (d < 0) {
            pair_close(p);
            return;
        }
        more |= d;
    }
    if (p->e[0].wr_shut && p->e[1].wr_shut) {
        /* Both directions ended and were flushed. */
        pair_close(p);
        return;
    }
    if (more && !p->queued) {
        p->queued = 1;
        p->next_ready = mn_ready;
        mn_ready = p;
    }
}

/* A new client: its handshake runs on its events. */
static void
mini_new(int cfd)
{
    struct mpair *p = calloc(1, sizeof(*p));
    uint32_t ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

    if (p == NULL) {
        perror("bench mini: new connection");
        close(cfd);
        return;
    }
    p->e[0].fd = cfd;
    p->e[1].fd = -1;
    p->e[0].p = p->e[1].p = p;
    /* An accepted socket can be written; reading finds out by EAGAIN. */
    p->e[0].can_rd = p->e[0].can_wr = 1;
    p->try_header = p->try_hello = 1;
    p->next = mn_live;
    if (mn_live != NULL)
        mn_live->prev = p;
    mn_live = p;
    /* Its first event comes at once (it can be written). */
    if (ep_ctl(mn_ep, EPOLL_CTL_ADD, cfd, ev, (uintptr_t)&p->e[0]) != 0)
        pair_close(p);
}

static void
free_dead(void)
{
    while (mn_dead != NULL) {
        struct mpair *p = mn_dead;

        mn_dead = p->next;
        free(p);
    }
}

/* One worker: its own listener and loop until SIGTERM; never returns. */
static void
mini_worker(const char *listen_s, int ready_fd)
{
    static const int sigs[] = { SIGTERM, SIGINT };
    static struct epoll_event evs[512];
    int sfd = signalfd_block_all(sigs, 2), lfd, stop = 0;
    char ok;

    lfd = bench_listen("mini", listen_s);
    mn_ep = epoll_create1(EPOLL_CLOEXEC);
    ok = lfd >= 0 && mn_ep >= 0 &&
        ep_ctl(mn_ep, EPOLL_CTL_ADD, sfd, EPOLLIN, MN_SIGNAL) == 0 &&
        ep_ctl(mn_ep, EPOLL_CTL_ADD, lfd, EPOLLIN, MN_LISTEN) == 0;
    if (write(ready_fd, &ok, 1) != 1 || !ok)
        _exit(1);
    close(ready_fd);

    while (!stop) {
        int n = epoll_wait(mn_ep, evs, 512, mn_ready != NULL ? 0 : -1);
        struct mpair *q;

        if (n < 0 && errno != EINTR) {
            perror("bench mini: epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            uint32_t ev = evs[i].events;
            struct mend *en = (struct mend *)(uintptr_t)d;
            int fd;

            if (d == MN_SIGNAL) {
                stop = 1;
            } else if (d == MN_LISTEN) {
                while ((fd = bench_accept("mini", lfd)) >= 0)
                    mini_new(fd);
            } else if (!en->p->dead) {
                if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    en->can_rd = 1;
                if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                    en->can_wr = 1;
                pump(en->p);
            }
        }
        /* Pairs that ran out of budget go on, after everyone's events. */
        q = mn_ready;
        mn_ready = NULL;
        while (q != NULL) {
            struct mpair *next = q->next_ready;

            q->queued = 0;
            if (!q->dead)
                pump(q);
            q = next;
        }
        free_dead();
    }
    while (mn_live != NULL)
        pair_close(mn_live);
    free_dead();
    close(lfd);
    close(sfd);
    close(mn_ep);
    exit(0);                        /* not _exit: the sanitizers check */
}

int
bench_mini(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "to", required_argument, NULL, 't' },
        { "secret", required_argument, NULL, 'k' },
        { "workers", required_argument, NULL, 'w' },
        { NULL, 0, NULL, 0 }
    };
    const char *listen_s = NULL, *to_s = NULL, *secret_s = NULL;
    struct sockaddr_storage ls;
    socklen_t lslen;
    int workers = 1, opt;
    char *end = NULL;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'l')
            listen_s = optarg;
        else if (opt == 't')
            to_s = optarg;
        else if (opt == 'k')
            secret_s = optarg;
        else if (opt == 'w')
            workers = (int)strtol(optarg, &end, 10);
        else
            listen_s = NULL;
    }
    if (listen_s == NULL || to_s == NULL || secret_s == NULL ||
        optind != argc || (end != NULL && *end != '\0') || workers < 1 ||
        workers > BENCH_MAX_WORKERS ||
        net_parse_addr(listen_s, &ls, &lslen) ||
        net_parse_addr(to_s, &mn_to, &mn_tolen) != 0 ||
        hex_decode(secret_s, mn_secret, sizeof(mn_secret)) != 0) {
        fprintf(stderr, "usage: bench mini --listen HOST:PORT --to "
            "HOST:PORT --secret HEX32 [--workers 1..%d]\n",
            BENCH_MAX_WORKERS);
        return 2;
    }
    return bench_prefork("mini", listen_s, workers, mini_worker);
}
