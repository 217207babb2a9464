/*
 * master.h - the supervisor's state (no .c): the config snapshot, the
 * listening sockets of every worker slot, the shared counters and the
 * worker table.  Only the master process touches it.
 */
#ifndef TELEMT_MASTER_H
#define TELEMT_MASTER_H

#include <sys/types.h>

#include <stdint.h>

#include "config.h"
#include "stats.h"

#define MASTER_MAX_SLOTS        64
#define MASTER_MAX_LISTEN       2       /* IPv4 and IPv6 per slot */

struct slot {
    int nfds;
    int fds[MASTER_MAX_LISTEN];         /* owned by the master, for life */
    pid_t pid;                          /* 0 when not running */
    int64_t started_ms;
    int64_t respawn_at_ms;              /* 0 = not waiting */
    int quick_deaths;                   /* for back-off */
};

struct master {
    struct config *cfg;
    struct stats_region *stats;
    int nslots;
    struct slot slots[MASTER_MAX_SLOTS];
    int death_pipe[2];                  /* [1] only ever held by us */
    pid_t probe_pid;                    /* tls_emulation probe, 0 = none */
    int64_t probe_next_ms;
};

/* listen.c: open every slot's sockets; exits with a message on failure. */
void listen_open(struct master *m);
/* spawn.c: fork the worker of slot i; 0, or -1 if fork failed. */
int spawn_worker(struct master *m, int i);
/* spawn.c: the supervision loop; returns the exit code after a stop. */
int spawn_loop(struct master *m);

#endif
