/*
 * worker.h - one worker process: the slot it serves, its listening
 * sockets (owned by the master, inherited), the config snapshot and the
 * shared counters.  worker_main() never returns.
 */
#ifndef TELEMT_WORKER_H
#define TELEMT_WORKER_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "snapshot.h"
#include "stats.h"
#include "threads.h"

#define WORKER_MAX_LISTEN       THREADS_MAX_LISTEN
#define WORKER_USER_HINTS       4096    /* client addresses remembered */
#define WORKER_TRIM_MS          1000    /* how often to consider... */
#define WORKER_TRIM_CLOSED      256     /* ...malloc_trim(): this many gone */
#define WORKER_TRIM_AGAIN       3       /* then in this many periods more */
#define WORKER_CUT_MS           500     /* users past a limit: cut this often */

struct conn;
struct me_inputs;

struct worker {
    int slot;
    int row;                        /* this process's row in the region */
    int nlisten;
    int listen_fds[WORKER_MAX_LISTEN];
    int death_fd;                   /* EOF here = the master is gone */
    int ctl_fd;                     /* the master's messages (ctl.h) */
    int recv_fd;                    /* connections handed to us */
    int handoff_fd;                 /* where ours go at an upgrade, -1 */
    int draining;                   /* not accepting any more */
    int64_t deadline_ms;            /* then: cut what is left (mono) */
    int64_t drain_started_ms;
    const char *drain_key;          /* the timeout that bounds it */
    atomic_ullong handed;           /* connections handed over */
    /* The current config: new connections take a reference to it; the
     * main thread alone replaces it (at a reload), under all_lock. */
    struct snapshot *snap;
    struct stats_region *stats;
    struct stats_worker *me;        /* this worker's slot in the region */
    atomic_int active;              /* connection threads alive */
    atomic_int masked;              /* of them, relaying to mask_host */
    struct threads threads;         /* connection threads */
    struct keys keys;               /* fake TLS: key shares made ahead */
    struct me_pool *me_pool;        /* ME mode's connections (me_pool.h) */
    int keys_started;               /* once a config turned fake TLS on */
    pthread_mutex_t hs_lock;        /* guards the handshake list: */
    TAILQ_HEAD(conn_hs, conn) hs_list;  /* connections in the handshake, */
    int hs_count;                   /* oldest first (max_handshakes) */
    pthread_mutex_t all_lock;       /* guards the list of every */
    LIST_HEAD(conn_all, conn) all_list;  /* connection, for reload drops */
    /* By hash of a client address: its hash's top 16 bits and 1 + the
     * user it last authenticated as (worker/handshake.c). */
    _Atomic uint32_t user_hint[WORKER_USER_HINTS];
    /* Budgets for lines every client of a dead host would cause (one
     * per client otherwise; conn_log_limited()), guarded by log_lock. */
    pthread_mutex_t log_lock;
    struct log_rl log_mask;         /* mask host unreachable */
    struct log_rl log_me;           /* ME mode: no ME, closed clients */
    struct log_rl log_proxy;        /* PROXY protocol refusals */
    /* DC unreachable, by stats_dc_slot(): one dead DC hides no other. */
    struct log_rl log_dc[STATS_NDCS];
    /* The ME inputs the master sent last (CTL_ME), not yet taken by the
     * ME pool; main thread only. */
};

/*
 * Accept and serve until told to stop or the master dies; exits.  TERM or
 * INT: stop accepting, let connections finish for up to shutdown_timeout.
 * USR1: reopen the log file.  A CTL_CONFIG message from the master (a
 * reload) replaces the config in place (worker/reload.c).
 */
void worker_main(struct worker *w) __attribute__((noreturn));

#endif
