/*
 * conn.h - one client connection and the thread that serves it.
 */
#ifndef TELEMT_CONN_H
#define TELEMT_CONN_H

#include <sys/socket.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "worker.h"

struct conn {
    struct worker *w;
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
    struct conn *hs_prev, *hs_next;
    int hs_listed;
    atomic_int evicted;             /* closed to make room: no masking */
    /* The worker's list of every connection; guarded by all_lock.  Once
     * relaying, user_slot is the user's region slot and dfd is final. */
    struct conn *all_prev, *all_next;
    int user_slot;                  /* -1 until relaying */
};

/*
 * Start a detached thread for an accepted client; takes ownership of fd
 * only on success.  Returns 0, or -1 (the caller closes fd and counts).
 */
int conn_spawn(struct worker *w, int fd, const struct sockaddr *peer);
/* Shut down the connections of users the master marked as removed. */
void conn_drop_removed(struct worker *w);

#endif
