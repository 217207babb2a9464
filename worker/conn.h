/*
 * conn.h - one client connection and the thread that serves it.
 */
#ifndef TELEMT_CONN_H
#define TELEMT_CONN_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "worker.h"

#define CONN_EVICTED_ADDR   2

struct handoff_rec;
struct srcguard_entry;
struct relay;

struct conn {
    struct worker *w;
    struct snapshot *snap;          /* the config it started with (held) */
    const struct config *cfg;       /* snap->cfg */
    int cfd;                        /* client socket, non-blocking */
    int dfd;                        /* DC socket, -1 until dialled */
    int64_t started_ms;             /* accept time, monotonic */
    int64_t started_us;
    char peer[64];                  /* "1.2.3.4:5" for logs */
    struct sockaddr_storage peer_addr;
    uint8_t *hs;                    /* every byte read during the handshake */
    size_t hslen, hscap;
    int answered;                   /* we sent a ServerHello: no masking */
    int client_eof;                 /* the client half-closed mid-handshake */
    /* The worker's list of connections in the handshake, oldest first;
     * guarded by the worker's hs_lock. */
    TAILQ_ENTRY(conn) hs_link;
    int hs_listed;
    atomic_int evicted;             /* made room for a newer one: masked;
                                     * CONN_EVICTED_ADDR if for one from
                                     * its own address */
    /* Its address's shared entry (srcguard.h) while listed; NULL if
     * the table had none to give. */
    struct srcguard_entry *src;
    uint64_t src_key;
    int masked;                     /* holds one of w->masked */
    /* The worker's list of every connection; guarded by all_lock.  Once
     * relaying, user is its index in snap, user_slot the user's region
     * slot, and dfd is final. */
    LIST_ENTRY(conn) all_link;
    int user;                       /* -1 until relaying */
    int user_slot;
    int dc;                         /* the client's DC, once relaying */
    /* Why the worker cut it (enum user_verdict), 0 if it did not. */
    atomic_int cut;
    /* Hand-over at an upgrade: set (under all_lock) by the main thread,
     * which then wakes the thread (tid, once tid_set) from its wait. */
    atomic_int handoff;
    pthread_t tid;
    int tid_set;
    struct handoff_rec *resume;     /* a connection handed to us */
    /* With proxy_protocol: the address the client connected to, as the
     * balancer's PROXY header gave it (family 0 if it gave none); the
     * balancer's own address is then no longer peer_addr. */
    struct sockaddr_storage pp_dst;
    int in_room;                    /* not malloc()ed: conn_admit()'s room */
};

/*
 * An accepted client (counted here): 0 with the job that serves it on
 * the accepting thread (its handshake, or the mask host at once past
 * max_connections); 1 if it was closed (max_connections, mask off);
 * -1 if it cannot be served (out of memory: the caller resets it,
 * closes fd and counts).  Any thread.  The connection lives in room
 * (roomlen bytes, NULL: none) if it fits, else on the heap.
 */
int conn_admit(struct worker *w, int fd, const struct sockaddr *peer,
    struct threads_job *job, void *room, size_t roomlen);
/*
 * conn_admit(), then a new thread for the job: for the main thread when
 * no connection thread accepts (threads_short()).  0 or 1 as there; -1
 * (fd not taken) if it cannot be served or no thread could start.
 */
int conn_spawn(struct worker *w, int fd, const struct sockaddr *peer);
/*
 * The main thread, with all_lock held, after w->snap became the new
 * config: shut down every relaying connection whose user the new config
 * no longer allows (conn_user_gone()).  Returns how many.
 */
int conn_drop_gone(struct worker *w);
/*
 * Cut the relayed connections of users that may no longer go on
 * (disabled, expired, quota used up) by the worker's current config;
 * the number cut.  all_lock not held; the worker's loop calls it at least
 * twice a second.
 */
int conn_cut_limited(struct worker *w);
/*
 * Take c off the worker's handshake list (max_handshakes): at the end of
 * the handshake, or once the client has proven its secret.  Idempotent.
 */
void conn_hs_leave(struct conn *c);
/* Let r be handed over at an upgrade (worker/handoff.c). */
void conn_handoff_setup(struct conn *c, struct relay *r);
/*
 * Resume a connection handed over by an old worker: rec (taken over,
 * already checked by handoff_receive()) and its two sockets.  0, or -1 if
 * the current config no longer allows its user or no thread could start
 * (the caller closes the sockets and counts).
 */
int conn_resume(struct worker *w, struct handoff_rec *rec, int cfd,
    int dfd);
/*
 * A warning through budget rl of w's (log_warnx_limited()): a dead mask
 * host or DC fails every client, and one line each would flood the log.
 */
#define conn_log_limited(w, rl, ...) \
    log_warnx_limited((rl), &(w)->log_lock, __VA_ARGS__)

#endif
