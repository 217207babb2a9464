/*
 * relay.c - moves bytes both ways between client and DC in one thread.
 *
 * One poll() loop over the two non-blocking sockets; each direction has a
 * buffer that is either being filled (read, decrypt, re-encrypt in place)
 * or drained (write).  A read EOF becomes shutdown(SHUT_WR) on the other
 * socket once the buffer is flushed, so half-closes pass through.  In
 * fast mode the DC -> client bytes are already in the client's keystream
 * and are copied without touching them.  In fake TLS mode client records
 * are unwrapped before decryption, and DC bytes leave in ApplicationData
 * records sized by tlsrec_out_len() (README "TLS shaping"): one read of
 * up to 16,401 bytes becomes one record, so a bulk transfer goes out in
 * records as long as a real TLS 1.3 server's full ones; a read too short
 * to be a TLS 1.3 record waits up to RELAY_HOLD_MS for more.
 *
 * Memory: most relayed connections sit idle most of the time.  The
 * buffers live on the thread's stack (no allocation, no extra mapping per
 * connection); after RELAY_IDLE_MS with nothing in flight their pages and
 * the unused part of the stack below (the handshake ran deeper than the
 * relay does) are handed back with MADV_DONTNEED, and come back as zero
 * pages on the next read.
 */
#include "relay.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "threads.h"
#include "userlim.h"
#include "util.h"

#define RELAY_FIRST_WRITE_MS    10000
/*
 * How long DC bytes too few for a TLS 1.3 record (a 4-byte quick ack)
 * wait for more before they go alone.  What follows a quick ack, the
 * answer, usually comes well within it.
 */
#define RELAY_HOLD_MS           200

struct dir {
    int src, dst;
    struct ctr *dec, *enc;          /* enc == NULL: pass through */
    struct tlsrec_reader *unwrap;   /* strip TLS records after reading */
    int wrap;                       /* add a TLS record header */
    uint8_t *buf;                   /* RELAY_BUF + TLSREC_HEADER bytes */
    size_t off, len;                /* buf[off..len) waits for dst */
    size_t hold;                    /* payload read, not yet framed */
    int64_t hold_until;             /* mono ms it may wait till; 0: none */
    int eof;                        /* src said EOF */
    int done;                       /* EOF passed on to dst */
    uint64_t *bytes;
    uint64_t left;                  /* bytes src may still send (cap) */
    struct stats_region *lim;       /* the user's limits, or NULL */
    int lim_slot, lim_dir;          /* USERLIM_UP or USERLIM_DOWN */
    int64_t pause_ns;               /* over its rate: no read before */
    int quota_out;                  /* the user's quota is used up */
    /* src may have bytes: not yet known empty (its last read would
     * block) or poll() said so since.  A read that cannot succeed is a
     * syscall for nothing. */
    int can_read;
    const struct dir *other;        /* the opposite direction */
    int eof_read;                   /* eof: read() said so (all was read) */
};

/* How much the next read may take under the user's quota and rate;
 * 0 while the quota is used up. */
static size_t
dir_read_max(struct dir *d)
{
    size_t max = d->left < RELAY_BUF ? (size_t)d->left : RELAY_BUF;
    uint64_t q;

    if (d->lim == NULL)
        return max;
    q = userlim_quota_left(d->lim, d->lim_slot);
    if (q == 0)
        d->quota_out = 1;
    if (q < max)
        max = (size_t)q;
    return userlim_rate_slice(d->lim, d->lim_slot, d->lim_dir, max);
}

/* Charge n bytes just read to the user. */
static void
dir_charge(struct dir *d, size_t n)
{
    int64_t now, wait;

    if (d->lim == NULL || n == 0)
        return;
    userlim_charge(d->lim, d->lim_slot, n);
    if (!userlim_rate_on(d->lim, d->lim_slot, d->lim_dir))
        return;                     /* no clock read per unlimited read */
    now = mono_ns();
    wait = userlim_rate_charge(d->lim, d->lim_slot, d->lim_dir, n, now);
    d->pause_ns = wait > 0 ? now + wait : 0;
}

/* 1 while d must not read: paused by its rate, or the quota is out. */
static int
dir_held(const struct dir *d)
{
    return d->quota_out || (d->pause_ns > 0 && mono_ns() < d->pause_ns);
}

/*
 * Make the bytes in d->hold ready for dst: as they are, or in fake TLS
 * one record once tlsrec_out_len() lets them go.  force: now, however
 * few (a hand-over); EOF, a cap or a used-up quota force it too, since
 * no more is coming.
 */
static void
dir_frame(struct dir *d, int force)
{
    int may_wait;
    size_t n;

    if (!d->wrap) {
        d->off = 0;
        d->len = d->hold;
        d->hold = 0;
        return;
    }
    may_wait = !force && !d->eof && d->left > 0 && !d->quota_out;
    if (may_wait && d->hold > 0 && d->hold < TLSREC_MIN_OUT) {
        int64_t now = mono_ms();

        if (d->hold_until == 0)
            d->hold_until = now + RELAY_HOLD_MS;
        else if (now >= d->hold_until)
            may_wait = 0;
    }
    /* buf holds at most TLSREC_MAX_OUT, so n is all of it or 0. */
    n = tlsrec_out_len(d->hold, may_wait);
    if (n == 0)
        return;
    tlsrec_header(d->buf, n);
    d->off = 0;
    d->len = TLSREC_HEADER + n;
    d->hold = 0;
    d->hold_until = 0;
}

/* 1 progress, 0 would block, -1 failed. */
static int
dir_read(struct dir *d)
{
    size_t head = d->wrap ? TLSREC_HEADER : 0, len, max = dir_read_max(d);
    uint8_t *p = d->buf + head + d->hold;
    ssize_t n;

    if (max > RELAY_BUF - d->hold)
        max = RELAY_BUF - d->hold;
    if (max == 0) {
        /* The quota is out and the loop ends it, but what was read and
         * charged before goes first. */
        if (d->hold == 0)
            return 0;
        dir_frame(d, 1);
        return 1;
    }
    n = read(d->src, p, max);
    if (n < 0 && errno == EAGAIN)
        d->can_read = 0;
    if (n > 0) {
        len = (size_t)n;
        if (d->unwrap != NULL) {
            enum tlsrec_status st = tlsrec_unwrap(d->unwrap, p, len, p,
                &len);

            if (st == TLSREC_ERROR)
                return -1;
            if (st == TLSREC_ALERT)
                d->eof = 1;
        }
        if (d->enc != NULL) {
            /* Parked by relay_idle(): back now (out of memory: closed). */
            if (ctr_unpark(d->dec) != 0 || ctr_unpark(d->enc) != 0)
                return -1;
            ctr_apply(d->dec, p, p, len);
            ctr_apply(d->enc, p, p, len);
        }
        *d->bytes += (uint64_t)len;
        d->left -= (uint64_t)n;
        dir_charge(d, len);
        d->hold += len;
        dir_frame(d, 0);
        return 1;
    }
    if (n == 0) {
        d->eof = 1;
        d->eof_read = 1;
        dir_frame(d, 1);
        return 1;
    }
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int
dir_write(struct dir *d)
{
    while (d->off < d->len) {
        ssize_t n = send(d->dst, d->buf + d->off, d->len - d->off,
            MSG_NOSIGNAL);

        if (n > 0) {
            d->off += (size_t)n;
            continue;
        }
        return n == -1 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    }
    d->off = d->len = 0;
    if (d->eof && !d->done) {
        /* The last direction to end, and dst had nothing left to read:
         * the relay ends and its caller's close() sends the same FIN,
         * one syscall later (with unread bytes close() would reset). */
        if (!d->other->done || !d->other->eof_read)
            (void)shutdown(d->dst, SHUT_WR);
        d->done = 1;
    }
    return 1;
}

/* Move as much as possible without blocking; -1 on failure. */
static int
dir_pump(struct dir *d)
{
    for (int rounds = 0; rounds < 16 && !d->done; rounds++) {
        int r;

        if (d->len > d->off || d->eof) {
            r = dir_write(d);
            if (r <= 0)
                return r;
            continue;
        }
        if (d->hold > 0) {
            /* Held bytes go once their wait is over or none may come. */
            dir_frame(d, 0);
            if (d->len > d->off)
                continue;
        }
        if (d->left == 0)
            return 0;               /* capped: the loop ends it */
        if (dir_held(d) || !d->can_read)
            return 0;
        r = dir_read(d);
        if (r <= 0)
            return r;
    }
    return 0;
}

static short
dir_events(const struct dir *d, int fd)
{
    short ev = 0;

    if (d->done)
        return 0;
    if (fd == d->src && d->len == d->off && !d->eof && d->left > 0 &&
        !dir_held(d))
        ev |= POLLIN;
    if (fd == d->dst && (d->len > d->off || d->eof))
        ev |= POLLOUT;
    return ev;
}

/*
 * The loop's small state lives in relay_run()'s frame; the two
 * directions' buffers are the bottom of a pool thread's stack
 * (threads_buf()), else the heap.  So an idle relay's frames share
 * the page of the frames above them, and idle time gives back every
 * page of the buffers.
 */
#define RELAY_BUFS      (2 * (RELAY_BUF + TLSREC_HEADER))

struct relay_state {
    struct dir up, down;
    struct pollfd p[2];
    uint8_t *buf;                   /* RELAY_BUFS, from threads_buf() */
};

/* Nothing in flight for RELAY_IDLE_MS: give the pages back, and the
 * cipher contexts (dir_read() makes them again). */
static void
relay_idle(struct relay_state *st)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)st->buf + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)st->buf + RELAY_BUFS) & ~(page - 1);

    threads_buf_check(st->buf);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    ctr_park(st->up.dec);
    ctr_park(st->up.enc);
    ctr_park(st->down.dec);
    ctr_park(st->down.enc);
    threads_trim_stack();
}

/* Shorten *wait_ms (now: mono_ms()) to when d's rate lets it read. */
static void
dir_wait(const struct dir *d, int64_t now, int64_t *wait_ms)
{
    int64_t ms;

    if (d->hold > 0 && d->hold_until > 0) {
        ms = d->hold_until - now;
        if (ms < 1)
            ms = 1;
        if (*wait_ms < 0 || ms < *wait_ms)
            *wait_ms = ms;
    }
    if (d->pause_ns == 0 || d->quota_out || d->len > d->off || d->eof)
        return;
    ms = (d->pause_ns + 999999) / 1000000 - now;
    if (ms < 1)
        ms = 1;
    if (*wait_ms < 0 || ms < *wait_ms)
        *wait_ms = ms;
}

/*
 * After a pump that moved `moved` (bytes and EOFs seen before it): the
 * limit that ends the relay, or 0 and in *wait_ms how long the next wait
 * may last (-1: no bound) before a limit needs checking again.
 */
static int
relay_limits(const struct relay *r, const struct dir *up,
    const struct dir *down, uint64_t moved, int64_t *last_ms,
    int64_t *wait_ms)
{
    int64_t now = mono_ms();

    if (r->c2d_bytes + r->d2c_bytes + (uint64_t)up->eof +
        (uint64_t)down->eof != moved)
        *last_ms = now;
    /* A direction at its cap ends the relay once its bytes are out. */
    if ((up->left == 0 && up->len == up->off) ||
        (down->left == 0 && down->len == down->off))
        return RELAY_CAPPED;
    if ((up->quota_out || down->quota_out) && up->len == up->off &&
        down->len == down->off && up->hold == 0 && down->hold == 0)
        return RELAY_QUOTA;
    if (r->end_ms > 0 && now >= r->end_ms)
        return RELAY_EXPIRED;
    /* Bytes held for a record are not idle: they go first. */
    if (r->idle_ms > 0 && now - *last_ms >= r->idle_ms && up->hold == 0 &&
        down->hold == 0)
        return RELAY_IDLE;
    *wait_ms = -1;
    if (r->idle_ms > 0)
        *wait_ms = *last_ms + r->idle_ms - now;
    if (r->end_ms > 0 && (*wait_ms < 0 || r->end_ms - now < *wait_ms))
        *wait_ms = r->end_ms - now;
    dir_wait(up, now, wait_ms);
    dir_wait(down, now, wait_ms);
    return 0;
}

/* Continue a relay handed over to us: its pending bytes and EOF state. */
static void
relay_resume(struct dir *up, struct dir *down, const struct relay_pending *p)
{
    memcpy(up->buf, p->up, p->up_len);
    up->len = p->up_len;
    up->eof = p->up_eof;
    up->done = p->up_done;
    memcpy(down->buf, p->down, p->down_len);
    down->len = p->down_len;
    down->eof = p->down_eof;
    down->done = p->down_done;
}

/* The loop stands between two steps: offer its state for a hand-over. */
static int
relay_handoff(struct relay *r, struct dir *up, struct dir *down)
{
    struct relay_pending p;

    /* Held bytes join what is pending (a hand-over carries no hold). */
    if (down->hold > 0 && down->len == down->off)
        dir_frame(down, 1);
    if (up->hold > 0 && up->len == up->off)
        dir_frame(up, 1);
    p = (struct relay_pending){
        .up = up->buf + up->off, .up_len = up->len - up->off,
        .down = down->buf + down->off, .down_len = down->len - down->off,
        .up_eof = up->eof, .up_done = up->done,
        .down_eof = down->eof, .down_done = down->done,
    };

    return r->handoff_fn(r, &p);
}

int
relay_run(struct relay *r)
{
    struct relay_state st;
    struct dir *up = &st.up, *down = &st.down;
    struct pollfd *p = st.p;
    int64_t last_ms;
    int rc = 0, trimmed = 0;
    sigset_t wake;

    *up = (struct dir){
        .src = r->cfd, .dst = r->dfd, .dec = r->c_dec, .enc = r->d_enc,
        .unwrap = r->tls, .bytes = &r->c2d_bytes,
        .left = r->max_up > 0 ? r->max_up : UINT64_MAX,
        .lim = r->lim, .lim_slot = r->lim_slot, .lim_dir = USERLIM_UP,
    };
    *down = (struct dir){
        .src = r->dfd, .dst = r->cfd, .dec = r->d_dec, .enc = r->c_enc,
        .wrap = r->tls != NULL, .bytes = &r->d2c_bytes,
        .left = r->max_down > 0 ? r->max_down : UINT64_MAX,
        .lim = r->lim, .lim_slot = r->lim_slot, .lim_dir = USERLIM_DOWN,
    };
    if ((st.buf = threads_buf(RELAY_BUFS)) == NULL) {
        free(r->release);
        r->release = NULL;
        return -1;
    }
    up->buf = st.buf;               /* where, not what: nothing read yet */
    down->buf = st.buf + RELAY_BUF + TLSREC_HEADER;
    /* Threads block every signal; the wait lets the hand-over's in. */
    sigfillset(&wake);
    sigdelset(&wake, RELAY_WAKE_SIG);
    up->other = down;
    down->other = up;
    /* Fresh, both ends owe us an answer to what went out just now: wait
     * for poll() before reading.  Handed over: anything may be there. */
    up->can_read = down->can_read = r->resume != NULL;
    if (r->resume != NULL)
        relay_resume(up, down, r->resume);

    /*
     * The DC header, then what the client sent along with its own (it may
     * be more than a buffer in fake TLS mode).  A fresh socket's send
     * buffer takes this at once; the deadline only guards a stuck DC.
     */
    if (r->early_len > 0 && up->enc != NULL) {
        ctr_apply(up->dec, r->early, r->early, r->early_len);
        ctr_apply(up->enc, r->early, r->early, r->early_len);
    }
    r->c2d_bytes += r->early_len;
    if (r->lim != NULL)
        userlim_charge(r->lim, r->lim_slot, r->early_len);
    up->eof = r->client_eof;
    if (net_write2_all(r->dfd, r->first, r->first_len, r->early,
        r->early_len, mono_ms() + RELAY_FIRST_WRITE_MS) != 0) {
        free(r->release);
        threads_buf_free(st.buf);
        return -1;
    }
    free(r->release);
    r->release = NULL;
    r->early = NULL;
    r->first = NULL;

    last_ms = mono_ms();
    while (!(up->done && down->done)) {
        uint64_t moved = r->c2d_bytes + r->d2c_bytes + (uint64_t)up->eof +
            (uint64_t)down->eof;
        int64_t now, wait_ms;
        int n, quiet;

        if (dir_pump(up) < 0 || dir_pump(down) < 0) {
            rc = -1;
            break;
        }
        if ((up->done && down->done) || (r->end_on_dst_eof && down->done))
            break;
        if ((rc = relay_limits(r, up, down, moved, &last_ms, &wait_ms)) != 0)
            break;
        if (r->handoff != NULL && atomic_load(r->handoff) &&
            relay_handoff(r, up, down) == 0) {
            rc = RELAY_HANDED;
            break;
        }
        p[0].fd = r->cfd;
        p[0].events = dir_events(up, r->cfd) | dir_events(down, r->cfd);
        p[1].fd = r->dfd;
        p[1].events = dir_events(up, r->dfd) | dir_events(down, r->dfd);
        /* A socket nobody waits on must not wake us with POLLHUP. */
        for (int i = 0; i < 2; i++)
            if (p[i].events == 0)
                p[i].fd = -1;
        /* Only reads are awaited: both buffers are empty. */
        quiet = up->len == up->off && down->len == down->off &&
            up->hold == 0 && down->hold == 0;
        if (quiet && !trimmed && (wait_ms < 0 || wait_ms > RELAY_IDLE_MS))
            wait_ms = RELAY_IDLE_MS;
        n = ppoll(p, 2, wait_ms < 0 ? NULL : &(struct timespec){
            .tv_sec = wait_ms / 1000,
            .tv_nsec = wait_ms % 1000 * 1000000L }, &wake);
        if (n == -1 && errno != EINTR) {
            rc = -1;
            break;
        }
        now = mono_ms();
        if (n == 0 && quiet && !trimmed && now - last_ms >= RELAY_IDLE_MS) {
            relay_idle(&st);
            trimmed = 1;
            continue;
        }
        if (n == 0)
            continue;
        if (trimmed)
            threads_buf_rearm(st.buf);
        trimmed = 0;
        if ((p[0].revents | p[1].revents) & POLLNVAL) {
            rc = -1;
            break;
        }
        /* POLLHUP and POLLERR too: the read tells EOF or the error. */
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            up->can_read = 1;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            down->can_read = 1;
    }
    threads_buf_free(st.buf);
    return rc;
}
