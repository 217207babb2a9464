/*
 * admin.h - the admin process: a libmicrohttpd server on admin_listen
 * that shows the shared region as an HTML page, JSON and Prometheus
 * metrics.  Forked by the master; maps the region read-only; never
 * touches client traffic.
 */
#ifndef TELEMT_ADMIN_H
#define TELEMT_ADMIN_H

#include "config.h"
#include "stats.h"

struct admin_ctx {
    const struct config *cfg;           /* the master's snapshot */
    const struct stats_region *stats;   /* read-only after admin_main() */
    const int *user_slot;               /* cfg->users[i] -> region slot */
    int death_fd;                       /* EOF = the master is gone */
};

/*
 * Serve until SIGTERM or the master's death, then exit.  If admin_listen
 * cannot be bound, log an error and exit 1 (the master retries with
 * back-off; the proxy keeps relaying meanwhile).
 */
void admin_main(struct admin_ctx *a) __attribute__((noreturn));

#endif
