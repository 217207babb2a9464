/*
 * conn.c - the life of one client connection, in its own thread:
 * handshake, DC dial, relay, and the single exit path conn_close().
 *
 * A connection thread never exits the process and treats out-of-memory
 * as "close this connection".  Everything it allocates is freed in
 * conn_close(), which also settles the shared counters.
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc.h"
#include "handshake.h"
#include "log.h"
#include "mask.h"
#include "net.h"
#include "relay.h"
#include "util.h"

static void
conn_close(struct conn *c)
{
    if (c->dfd >= 0)
        close(c->dfd);
    close(c->cfd);
    free(c->hs);
    STATS_SUB(c->w->stats, conn_active, 1);
    atomic_fetch_sub(&c->w->active, 1);
    free(c);
}

static void
conn_count_refusal(struct stats_region *s, enum hs_verdict v)
{
    switch (v) {
    case HS_TIMEOUT:        STATS_ADD(s, hs_timeout, 1); break;
    case HS_EOF:            STATS_ADD(s, hs_eof, 1); break;
    case HS_BAD_SECRET:     STATS_ADD(s, hs_bad_secret, 1); break;
    case HS_MODE_DISABLED:  STATS_ADD(s, hs_mode_disabled, 1); break;
    case HS_NOT_TLS:        STATS_ADD(s, hs_not_tls, 1); break;
    case HS_BAD_TLS:        STATS_ADD(s, hs_bad_tls, 1); break;
    case HS_BAD_DIGEST:     STATS_ADD(s, hs_bad_digest, 1); break;
    case HS_STALE_TIME:     STATS_ADD(s, hs_stale_time, 1); break;
    case HS_BAD_SNI:        STATS_ADD(s, hs_bad_sni, 1); break;
    case HS_BAD_HEADER:     STATS_ADD(s, hs_bad_header, 1); break;
    case HS_REPLAY:         STATS_ADD(s, hs_replay, 1); break;
    case HS_OK:
    case HS_ERROR:          STATS_ADD(s, hs_error, 1); break;
    }
}

static void
conn_count_ok(struct stats_region *s, enum hs_mode m)
{
    if (m == HS_MODE_CLASSIC)
        STATS_ADD(s, hs_ok_classic, 1);
    else if (m == HS_MODE_SECURE)
        STATS_ADD(s, hs_ok_secure, 1);
    else
        STATS_ADD(s, hs_ok_tls, 1);
}

/* After a good handshake: dial the DC, send it our header, relay. */
static void
conn_serve(struct conn *c, struct hs_result *hs)
{
    const struct config *cfg = c->w->cfg;
    struct stats_region *s = c->w->stats;
    uint8_t dchdr[OBFS2_HEADER_LEN];
    struct relay r = { 0 };
    struct ctr *d_enc = NULL, *d_dec = NULL;
    char dcaddr[80];
    int rc;

    c->dfd = dc_dial(cfg, hs->dc, dcaddr, sizeof(dcaddr));
    if (c->dfd < 0) {
        STATS_ADD(s, dc_connect_fail, 1);
        log_warnx("%s: user %s: cannot reach DC %d (last tried %s)",
            c->peer, cfg->users[hs->user].name, hs->dc, dcaddr);
        return;
    }
    STATS_ADD(s, dc_connect_ok, 1);
    net_client_opts(c->dfd, cfg->client_keepalive, 0);
    if (obfs2_build(dchdr, hs->tag, hs->dc, NULL,
        cfg->fast_mode ? hs->keys.down_key : NULL,
        cfg->fast_mode ? hs->keys.down_iv : NULL, &d_enc, &d_dec) != 0) {
        log_warnx("%s: out of memory building the DC header", c->peer);
        return;
    }
    log_debug("%s: user %s tag %08x dc %d -> %s%s", c->peer,
        cfg->users[hs->user].name, hs->tag, hs->dc, dcaddr,
        cfg->fast_mode ? " (fast)" : "");

    r.cfd = c->cfd;
    r.dfd = c->dfd;
    r.c_dec = hs->c_dec;
    r.d_enc = d_enc;
    r.c_enc = cfg->fast_mode ? NULL : hs->c_enc;
    r.d_dec = cfg->fast_mode ? NULL : d_dec;
    r.first = dchdr;
    r.first_len = sizeof(dchdr);
    r.early = hs->early;
    r.early_len = hs->early_len;
    r.tls = hs->tls ? &hs->rec : NULL;
    /* The handshake buffer is no longer needed once early data is out. */
    rc = relay_run(&r);
    STATS_ADD(s, bytes_client_to_dc, r.c2d_bytes);
    STATS_ADD(s, bytes_dc_to_client, r.d2c_bytes);
    log_debug("%s: closed (%s), %llu bytes up, %llu bytes down", c->peer,
        rc == 0 ? "eof" : rc == -2 ? "out of memory" : "reset",
        (unsigned long long)r.c2d_bytes, (unsigned long long)r.d2c_bytes);
    ctr_free(d_enc);
    ctr_free(d_dec);
}

/* Add c to the worker's handshake list; evict the oldest if it is full. */
static void
conn_hs_enter(struct conn *c)
{
    struct worker *w = c->w;

    pthread_mutex_lock(&w->hs_lock);
    if (w->hs_count >= w->cfg->max_handshakes && w->hs_head != NULL) {
        struct conn *old = w->hs_head;

        /* Its thread wakes with EOF; the fd stays valid while listed. */
        atomic_store(&old->evicted, 1);
        (void)shutdown(old->cfd, SHUT_RDWR);
        w->hs_head = old->hs_next;
        if (w->hs_head != NULL)
            w->hs_head->hs_prev = NULL;
        else
            w->hs_tail = NULL;
        old->hs_listed = 0;
        w->hs_count--;
        STATS_ADD(w->stats, hs_evicted, 1);
    }
    c->hs_prev = w->hs_tail;
    c->hs_next = NULL;
    if (w->hs_tail != NULL)
        w->hs_tail->hs_next = c;
    else
        w->hs_head = c;
    w->hs_tail = c;
    c->hs_listed = 1;
    w->hs_count++;
    pthread_mutex_unlock(&w->hs_lock);
}

static void
conn_hs_leave(struct conn *c)
{
    struct worker *w = c->w;

    pthread_mutex_lock(&w->hs_lock);
    if (c->hs_listed) {
        if (c->hs_prev != NULL)
            c->hs_prev->hs_next = c->hs_next;
        else
            w->hs_head = c->hs_next;
        if (c->hs_next != NULL)
            c->hs_next->hs_prev = c->hs_prev;
        else
            w->hs_tail = c->hs_prev;
        c->hs_listed = 0;
        w->hs_count--;
    }
    pthread_mutex_unlock(&w->hs_lock);
}

static void *
conn_thread(void *arg)
{
    struct conn *c = arg;
    const struct config *cfg = c->w->cfg;
    struct hs_result hs;
    enum hs_verdict v;

    net_client_opts(c->cfd, cfg->client_keepalive, cfg->client_ack_timeout);
    conn_hs_enter(c);
    v = handshake_run(c, &hs);
    conn_hs_leave(c);
    if (atomic_load(&c->evicted)) {
        log_debug("%s: evicted from the handshake after %zu bytes",
            c->peer, c->hslen);
        if (v == HS_OK) {
            ctr_free(hs.c_dec);
            ctr_free(hs.c_enc);
        }
    } else if (v != HS_OK) {
        conn_count_refusal(c->w->stats, v);
        log_debug("%s: handshake refused: %s after %zu bytes%s", c->peer,
            handshake_verdict_name(v), c->hslen,
            c->answered ? " (after our ServerHello: closing)" : "");
        /* Mask whatever a real server would have had to answer. */
        if (cfg->mask && !c->answered && v != HS_ERROR &&
            !(c->client_eof && c->hslen == 0))
            mask_run(c, c->client_eof);
    } else {
        conn_count_ok(c->w->stats, hs.mode);
        conn_serve(c, &hs);
        ctr_free(hs.c_dec);
        ctr_free(hs.c_enc);
    }
    conn_close(c);
    return NULL;
}

int
conn_spawn(struct worker *w, int fd, const struct sockaddr *peer)
{
    struct conn *c = calloc(1, sizeof(*c));
    pthread_t t;
    int err;

    if (c == NULL) {
        log_warnx("out of memory for a connection");
        return -1;
    }
    c->w = w;
    c->cfd = fd;
    c->dfd = -1;
    c->started_ms = mono_ms();
    net_format(peer, c->peer, sizeof(c->peer));
    atomic_fetch_add(&w->active, 1);
    STATS_ADD(w->stats, conn_active, 1);
    err = pthread_create(&t, &w->thread_attr, conn_thread, c);
    if (err != 0) {
        errno = err;
        log_warn("pthread_create for %s", c->peer);
        atomic_fetch_sub(&w->active, 1);
        STATS_SUB(w->stats, conn_active, 1);
        free(c);
        return -1;
    }
    return 0;
}
