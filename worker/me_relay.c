/*
 * me_relay.c - one client's side of ME mode (see me_relay.h).
 *
 * One ppoll() loop over the client socket and the client's eventfd.  Up:
 * read, unwrap TLS records, decrypt, cut into packets (mtframe.c), send
 * each as one RPC_PROXY_REQ through the pool.  Down: take what the ME
 * queued, frame each packet for the client's transport (padded clients
 * get 0..3 bytes of padding; quick acks as docs/protocol.md 4 says),
 * encrypt, wrap in TLS records of up to 16 KiB, write.  While more than
 * queue_cap bytes wait for a client that does not read, its requests are
 * not read either (the ME answers requests); a client that stays so for
 * slow_ms, or lets 16 times as much pile up, is closed (me_pool.c).
 */
#include "me_relay.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "me_proto.h"
#include "mtframe.h"
#include "relay.h"
#include "userlim.h"
#include "util.h"

#define MER_READ        16384           /* client bytes per read */
#define MER_OUT_BATCH   65536           /* plain bytes framed per batch */

/* Bytes on their way to the client: framed, encrypted, in records. */
struct mer_out {
    uint8_t *b;
    size_t off, len, cap;
    size_t rec;                         /* open record's header offset */
    int rec_open;
};

struct mer {
    struct me_relay *r;
    struct mtframe_reader fr;
    struct me_items items;              /* taken from the pool, not framed */
    size_t items_bytes;
    struct mer_out out;
    uint8_t *req;                       /* RPC_PROXY_REQ being built */
    size_t req_cap;
    uint64_t rnd;                       /* padding lengths */
    int closed, overflow;
    int64_t down_pause_ns;
};

static int
mer_reserve(struct mer_out *o, size_t more)
{
    size_t need = o->len + more;
    uint8_t *nb;

    if (need <= o->cap)
        return 0;
    if (need < 2 * o->cap)
        need = 2 * o->cap;
    if ((nb = realloc(o->b, need)) == NULL)
        return -1;
    o->b = nb;
    o->cap = need;
    return 0;
}

/* Append n client-stream bytes: encrypted, and in TLS records if tls. */
static int
mer_put(struct mer *m, const uint8_t *p, size_t n)
{
    struct mer_out *o = &m->out;

    while (n > 0) {
        size_t room = n;

        if (m->r->tls != NULL) {
            size_t used;

            if (!o->rec_open || o->len - o->rec - TLSREC_HEADER ==
                TLSREC_MAX_OUT) {
                if (mer_reserve(o, TLSREC_HEADER) != 0)
                    return -1;
                o->rec = o->len;
                o->len += TLSREC_HEADER;
                o->rec_open = 1;
            }
            used = o->len - o->rec - TLSREC_HEADER;
            if (room > TLSREC_MAX_OUT - used)
                room = TLSREC_MAX_OUT - used;
        }
        if (mer_reserve(o, room) != 0)
            return -1;
        ctr_apply(m->r->c_enc, p, o->b + o->len, room);
        o->len += room;
        if (m->r->tls != NULL)
            tlsrec_header(o->b + o->rec, o->len - o->rec - TLSREC_HEADER);
        p += room;
        n -= room;
    }
    return 0;
}

static unsigned
mer_pad(struct mer *m)
{
    m->rnd ^= m->rnd << 13;
    m->rnd ^= m->rnd >> 7;
    m->rnd ^= m->rnd << 17;
    return (unsigned)(m->rnd >> 32) % (MTFRAME_PAD_MAX + 1);
}

/* Frame queued items into out until it holds a batch; -1 on failure. */
static int
mer_frame_items(struct mer *m)
{
    struct me_relay *r = m->r;
    struct me_item *it;
    size_t done = 0;

    while (done < MER_OUT_BATCH && (it = STAILQ_FIRST(&m->items)) != NULL) {
        uint8_t hdr[MTFRAME_HDR_MAX], pad[MTFRAME_PAD_MAX] = { 0 };
        size_t hl, pl = 0;

        STAILQ_REMOVE_HEAD(&m->items, link);
        m->items_bytes -= it->len;
        if (it->kind == ME_ITEM_ACK) {
            mtframe_quickack(r->tag, it->data, hdr);
            STATS_ADD(r->stats, me_quickacks, 1);
            if (mer_put(m, hdr, 4) != 0) {
                free(it);
                return -1;
            }
            free(it);
            continue;
        }
        if (r->tag != TAG_PADDED && it->len % 4 != 0) {
            free(it);                   /* no framing can carry it */
            continue;
        }
        if (r->tag == TAG_PADDED)
            pl = mer_pad(m);
        hl = mtframe_header(r->tag, it->len, pl, hdr);
        if (mer_put(m, hdr, hl) != 0 || mer_put(m, it->data, it->len) != 0 ||
            mer_put(m, pad, pl) != 0) {
            free(it);
            return -1;
        }
        r->d2c_bytes += it->len;
        done += it->len;
        STATS_ADD(r->stats, me_packets_down, 1);
        STATS_ADD(r->stats, me_bytes_down, it->len);
        free(it);
    }
    m->out.rec_open = 0;                /* the next batch starts a record */
    if (done > 0 && r->lim_slot >= 0) {
        userlim_charge(r->stats, r->lim_slot, done);
        if (userlim_rate_on(r->stats, r->lim_slot, USERLIM_DOWN)) {
            int64_t now = mono_ns(), wait = userlim_rate_charge(r->stats,
                r->lim_slot, USERLIM_DOWN, done, now);

            m->down_pause_ns = wait > 0 ? now + wait : 0;
        }
    }
    return 0;
}

/* One client packet out as RPC_PROXY_REQ; -1 if it could not go. */
static int
mer_send(struct mer *m, const uint8_t *pkt, size_t n, int quickack)
{
    struct me_relay *r = m->r;
    size_t need = ME_SEND_HEAD + ME_PROXY_REQ_TAG_HDR + n + ME_SEND_TAIL;
    uint32_t flags = me_proxy_flags(r->tag, quickack, r->ad_tag != NULL,
        pkt, n);
    size_t len;

    if (need > m->req_cap) {
        uint8_t *nb = realloc(m->req, need);

        if (nb == NULL)
            return -1;
        m->req = nb;
        m->req_cap = need;
    }
    len = me_proxy_req_build(m->req + ME_SEND_HEAD, flags,
        me_client_id(r->mc), r->client, r->proxy, r->ad_tag, pkt, n);
    if (me_client_send(r->mc, m->req, len, r->send_wait_ms) != 0)
        return -1;
    r->c2d_bytes += n;
    STATS_ADD(r->stats, me_bytes_up, n);
    return 0;
}

/* Feed decrypted client bytes to the framer; 0, or an end result. */
static int
mer_packets(struct mer *m, const uint8_t *p, size_t n)
{
    while (n > 0) {
        const uint8_t *pkt;
        size_t used = 0, len = 0;
        int qa = 0;
        enum mtframe_status st = mtframe_read(&m->fr, p, n, &used, &pkt,
            &len, &qa);

        p += used;
        n -= used;
        if (st == MTFRAME_BAD || st == MTFRAME_NOMEM)
            return ME_RELAY_BAD_FRAME;
        if (st == MTFRAME_PACKET && mer_send(m, pkt, len, qa) != 0)
            return ME_RELAY_LOST;
        if (st == MTFRAME_MORE)
            break;
    }
    return 0;
}

/* How much the client may send now (quota, rate); 0 while it may not. */
static size_t
mer_read_max(struct me_relay *r)
{
    uint64_t q;

    if (r->lim_slot < 0)
        return MER_READ;
    q = userlim_quota_left(r->stats, r->lim_slot);
    return userlim_rate_slice(r->stats, r->lim_slot, USERLIM_UP,
        q < MER_READ ? (size_t)q : MER_READ);
}

/* Read the client once; 1 progress, 0 nothing, or an end result. */
static int
mer_read(struct mer *m, uint8_t *buf, int64_t *up_pause_ns)
{
    struct me_relay *r = m->r;
    size_t max = mer_read_max(r), len;
    ssize_t n;
    int rc;

    if (max == 0)
        return r->lim_slot >= 0 &&
            userlim_quota_left(r->stats, r->lim_slot) == 0 ? RELAY_QUOTA : 0;
    n = read(r->cfd, buf, max);
    if (n == 0) {
        r->client_eof = 1;
        return 1;
    }
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    len = (size_t)n;
    if (r->tls != NULL) {
        enum tlsrec_status st = tlsrec_unwrap(r->tls, buf, len, buf, &len);

        if (st == TLSREC_ERROR)
            return -1;
        if (st == TLSREC_ALERT)
            r->client_eof = 1;
    }
    ctr_apply(r->c_dec, buf, buf, len);
    if (r->lim_slot >= 0) {
        userlim_charge(r->stats, r->lim_slot, len);
        if (userlim_rate_on(r->stats, r->lim_slot, USERLIM_UP)) {
            int64_t now = mono_ns(), wait = userlim_rate_charge(r->stats,
                r->lim_slot, USERLIM_UP, len, now);

            *up_pause_ns = wait > 0 ? now + wait : 0;
        }
    }
    if ((rc = mer_packets(m, buf, len)) != 0)
        return rc;
    return 1;
}

/* Write what out holds; 1 all out, 0 would block, -1 failed. */
static int
mer_write(struct mer *m)
{
    struct mer_out *o = &m->out;

    while (o->off < o->len) {
        ssize_t n = send(m->r->cfd, o->b + o->off, o->len - o->off,
            MSG_NOSIGNAL);

        if (n > 0) {
            o->off += (size_t)n;
            continue;
        }
        return n == -1 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    }
    o->off = o->len = 0;
    if (o->cap > 4 * MER_OUT_BATCH) {   /* a burst passed: shrink */
        free(o->b);
        o->b = NULL;
        o->cap = 0;
    }
    return 1;
}

/* Take what the pool queued; the eventfd is drained first. */
static void
mer_take(struct mer *m)
{
    uint64_t v;
    int closed = 0, overflow = 0;

    (void)!read(m->r->efd, &v, sizeof(v));
    m->items_bytes += me_client_take(m->r->mc, &m->items, &closed,
        &overflow);
    m->closed |= closed;
    m->overflow |= overflow;
}

static int64_t
mer_ms_until(int64_t ns, int64_t now_ns)
{
    int64_t ms = (ns - now_ns + 999999) / 1000000;

    return ms < 1 ? 1 : ms;
}

static int
mer_loop(struct mer *m, uint8_t *buf)
{
    struct me_relay *r = m->r;
    int64_t last_ms = mono_ms(), over_since = 0, up_pause_ns = 0;
    sigset_t wake;

    pthread_sigmask(SIG_SETMASK, NULL, &wake);
    sigdelset(&wake, RELAY_WAKE_SIG);
    for (;;) {
        struct pollfd p[2];
        int64_t now_ns = mono_ns(), now = now_ns / 1000000, wait_ms = -1;
        size_t queued;
        int rc, n, reading;

        if (m->out.len == m->out.off && !STAILQ_EMPTY(&m->items) &&
            (m->down_pause_ns == 0 || now_ns >= m->down_pause_ns)) {
            if (mer_frame_items(m) != 0)
                return -1;
        }
        if (m->out.len > m->out.off) {
            if ((rc = mer_write(m)) < 0)
                return -1;
            if (rc > 0)
                last_ms = now;
            if (rc > 0 && !STAILQ_EMPTY(&m->items))
                continue;
        }
        if (m->overflow)
            return ME_RELAY_OVERFLOW;
        if (m->closed && STAILQ_EMPTY(&m->items) && m->out.len == 0)
            return ME_RELAY_CLOSED;
        if (r->client_eof)
            return 0;
        queued = m->items_bytes + (m->out.len - m->out.off);
        if (queued > r->queue_cap) {
            if (over_since == 0)
                over_since = now;
            else if (now - over_since >= r->slow_ms)
                return ME_RELAY_OVERFLOW;
            wait_ms = over_since + r->slow_ms - now;
        } else {
            over_since = 0;
        }
        if (r->idle_ms > 0) {
            if (now - last_ms >= r->idle_ms)
                return RELAY_IDLE;
            if (wait_ms < 0 || last_ms + r->idle_ms - now < wait_ms)
                wait_ms = last_ms + r->idle_ms - now;
        }
        reading = queued <= r->queue_cap &&
            (up_pause_ns == 0 || now_ns >= up_pause_ns);
        if (up_pause_ns > now_ns && (wait_ms < 0 ||
            mer_ms_until(up_pause_ns, now_ns) < wait_ms))
            wait_ms = mer_ms_until(up_pause_ns, now_ns);
        if (m->down_pause_ns > now_ns && !STAILQ_EMPTY(&m->items) &&
            (wait_ms < 0 || mer_ms_until(m->down_pause_ns, now_ns) <
            wait_ms))
            wait_ms = mer_ms_until(m->down_pause_ns, now_ns);
        if (reading && r->lim_slot >= 0 && mer_read_max(r) == 0) {
            if (userlim_quota_left(r->stats, r->lim_slot) == 0)
                return RELAY_QUOTA;
            reading = 0;
            if (wait_ms < 0 || wait_ms > 20)
                wait_ms = 20;
        }
        p[0].fd = r->cfd;
        p[0].events = (short)((reading ? POLLIN : 0) |
            (m->out.len > m->out.off ? POLLOUT : 0));
        p[1].fd = r->efd;
        p[1].events = POLLIN;
        if (p[0].events == 0)
            p[0].fd = -1;
        n = ppoll(p, 2, wait_ms < 0 ? NULL : &(struct timespec){
            .tv_sec = wait_ms / 1000,
            .tv_nsec = wait_ms % 1000 * 1000000L }, &wake);
        if (n == -1 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        if ((p[0].revents | p[1].revents) & POLLNVAL)
            return -1;
        if (p[1].revents & POLLIN) {
            mer_take(m);
            last_ms = mono_ms();
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if ((rc = mer_read(m, buf, &up_pause_ns)) < 0 || rc > 1)
                return rc;
            if (rc == 1)
                last_ms = mono_ms();
        }
    }
}

int
me_relay_run(struct me_relay *r)
{
    struct mer m = { .r = r };
    uint8_t buf[MER_READ];
    int rc = 0;

    mtframe_reader_init(&m.fr, r->tag);
    STAILQ_INIT(&m.items);
    m.rnd = (uint64_t)mono_ns() * 0x9e3779b97f4a7c15ull | 1;
    if (r->early_len > 0) {
        ctr_apply(r->c_dec, r->early, r->early, r->early_len);
        if (r->lim_slot >= 0)
            userlim_charge(r->stats, r->lim_slot, r->early_len);
        rc = mer_packets(&m, r->early, r->early_len);
    }
    if (rc == 0)
        rc = mer_loop(&m, buf);
    mtframe_reader_free(&m.fr);
    me_items_free(&m.items);
    free(m.out.b);
    free(m.req);
    return rc;
}
