/*
 * handoff.c - moving live connections to the new binary's workers at an
 * upgrade (see handoff.h).
 *
 * Old side: the main thread flags every connection and wakes its thread;
 * each relay stops between two steps and its own thread packs the state
 * and sends it with both sockets in one SOCK_SEQPACKET message, so a
 * record arrives whole or not at all.  Once sent, the old thread closes
 * only its copies of the sockets.  New side: the main thread checks each
 * record like any hostile input (a compromised old worker could send
 * anything) and resumes it on a thread of its own.
 */
#include "handoff.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "ctl.h"
#include "log.h"

#define HANDOFF_SEND_TIMEOUT_MS 2000

_Static_assert(RELAY_PENDING == HANDOFF_PENDING,
    "a record carries what a relay direction can hold");

int
handoff_begin(struct worker *w, int fd)
{
    struct timeval tv = {
        .tv_sec = HANDOFF_SEND_TIMEOUT_MS / 1000,
        .tv_usec = HANDOFF_SEND_TIMEOUT_MS % 1000 * 1000,
    };
    struct conn *c;
    int n = 0;

    if (fd < 0)
        return 0;
    /* Blocking sends with a bound: a stuck new worker cannot hold a
     * connection's thread for long; that connection just stays here. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
        log_warn("setsockopt(SO_SNDTIMEO) on the hand-over socket");
    w->handoff_fd = fd;
    pthread_mutex_lock(&w->all_lock);
    LIST_FOREACH(c, &w->all_list, all_link) {
        atomic_store(&c->handoff, 1);
        if (c->tid_set)
            (void)pthread_kill(c->tid, RELAY_WAKE_SIG);
        n++;
    }
    pthread_mutex_unlock(&w->all_lock);
    return n;
}

static void
handoff_ctr(struct handoff_rec *rec, uint32_t bit, struct handoff_ctr *out,
    const struct ctr *c)
{
    if (c == NULL)
        return;
    ctr_export(c, out->key, out->iv, &out->pos);
    rec->parts |= bit;
}

/* Pack c's relay into rec; -1 if it cannot be carried. */
static int
handoff_pack(struct handoff_rec *rec, const struct conn *c,
    const struct relay *r, const struct relay_pending *p)
{
    memset(rec, 0, sizeof(*rec));
    rec->magic = HANDOFF_MAGIC;
    rec->version = HANDOFF_VERSION;
    if (c->user >= 0) {
        const struct config_user *u = &c->cfg->users[c->user];

        if (strlen(u->name) >= sizeof(rec->user))
            return -1;
        rec->kind = HANDOFF_DC;
        strcpy(rec->user, u->name);
        memcpy(rec->secret, u->secret, SECRET_LEN);
        rec->dc = c->dc;
    } else {
        rec->kind = HANDOFF_MASK;
    }
    memcpy(&rec->peer, &c->peer_addr, sizeof(rec->peer));
    handoff_ctr(rec, HANDOFF_C_DEC, &rec->c_dec, r->c_dec);
    handoff_ctr(rec, HANDOFF_C_ENC, &rec->c_enc, r->c_enc);
    handoff_ctr(rec, HANDOFF_D_ENC, &rec->d_enc, r->d_enc);
    handoff_ctr(rec, HANDOFF_D_DEC, &rec->d_dec, r->d_dec);
    if (r->tls != NULL) {
        rec->parts |= HANDOFF_TLS;
        memcpy(rec->tls_hdr, r->tls->hdr, sizeof(rec->tls_hdr));
        rec->tls_hdr_have = (uint32_t)r->tls->hdr_have;
        rec->tls_left = (uint32_t)r->tls->left;
        rec->tls_type = r->tls->type;
    }
    rec->up_len = (uint32_t)p->up_len;
    rec->down_len = (uint32_t)p->down_len;
    rec->up_eof = (uint8_t)p->up_eof;
    rec->up_done = (uint8_t)p->up_done;
    rec->down_eof = (uint8_t)p->down_eof;
    rec->down_done = (uint8_t)p->down_done;
    rec->c2d_bytes = r->c2d_bytes;
    rec->d2c_bytes = r->d2c_bytes;
    memcpy(rec->pending, p->up, p->up_len);
    memcpy(rec->pending + p->up_len, p->down, p->down_len);
    rec->size = (uint32_t)(sizeof(*rec) + p->up_len + p->down_len);
    return 0;
}

int
handoff_send(struct relay *r, const struct relay_pending *p)
{
    struct conn *c = r->handoff_arg;
    struct worker *w = c->w;
    struct handoff_rec *rec = malloc(HANDOFF_MAX);
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } u;
    int fds[2] = { r->cfd, r->dfd };
    struct iovec iov;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
    ssize_t n = -1;

    if (rec != NULL && handoff_pack(rec, c, r, p) == 0) {
        memset(&u, 0, sizeof(u));
        u.h.cmsg_level = SOL_SOCKET;
        u.h.cmsg_type = SCM_RIGHTS;
        u.h.cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(&u.h), fds, sizeof(fds));
        iov.iov_base = rec;
        iov.iov_len = rec->size;
        do
            n = sendmsg(w->handoff_fd, &mh, MSG_NOSIGNAL);
        while (n == -1 && errno == EINTR);
    }
    if (rec != NULL && n == (ssize_t)rec->size) {
        free(rec);
        STATS_ADD(w->stats, conn_handed_out, 1);
        atomic_fetch_add(&w->handed, 1);
        return 0;
    }
    /* Not sent (a SEQPACKET message goes whole or not at all): it stays
     * here until it ends or upgrade_drain_timeout. */
    if (n == -1)
        log_warn("%s: cannot hand the connection over; it stays here",
            c->peer);
    else
        log_warnx("%s: cannot hand the connection over (%s); it stays here",
            c->peer, rec == NULL ? "out of memory" : "user name too long");
    free(rec);
    atomic_store(r->handoff, 0);
    STATS_ADD(w->stats, conn_handoff_failed, 1);
    return -1;
}

static int
handoff_is_socket(int fd)
{
    struct stat st;
    int type;
    socklen_t len = sizeof(type);

    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
        type == SOCK_STREAM;
}

void
handoff_receive(struct worker *w)
{
    for (;;) {
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(4 * sizeof(int))];
        } u;
        struct handoff_rec *rec = malloc(HANDOFF_MAX);
        struct iovec iov = { .iov_base = rec, .iov_len = HANDOFF_MAX };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
        int fds[4], nfds = 0;
        const char *why = NULL;
        ssize_t n;

        if (rec == NULL) {
            log_warnx("out of memory for a handed-over connection");
            return;
        }
        do
            n = recvmsg(w->recv_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n == -1 && errno == EINTR);
        if (n <= 0) {
            free(rec);
            if (n == -1 && errno != EAGAIN)
                log_warn("recvmsg on the hand-over socket");
            return;
        }
        nfds = ctl_msg_fds(&mh, fds, 4);
        if (nfds > 4)
            nfds = 4;               /* the others are closed already */
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
            why = "truncated";
        else if (nfds != 2 || !handoff_is_socket(fds[0]) ||
            !handoff_is_socket(fds[1]))
            why = "not two stream sockets";
        else if (!handoff_rec_check(rec, (size_t)n, HANDOFF_VERSION, &why))
            ;
        else if (conn_resume(w, rec, fds[0], fds[1]) == 0) {
            STATS_ADD(w->stats, conn_handed_in, 1);
            continue;
        } else {
            rec = NULL;             /* conn_resume() took it */
            why = "not resumed";
        }
        if (strcmp(why, "not resumed") != 0)
            log_warnx("a handed-over connection refused: %s record", why);
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        free(rec);
        STATS_ADD(w->stats, conn_handoff_failed, 1);
    }
}
