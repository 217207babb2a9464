/*
 * admin.h - the admin process: a libmicrohttpd server on admin_listen
 * that shows the shared region as an HTML page, JSON and Prometheus
 * metrics.  Forked by the master on a socket the master bound; maps the
 * region read-only; never touches client traffic.
 */
#ifndef TELEMT_ADMIN_H
#define TELEMT_ADMIN_H

#include "config.h"
#include "snapshot.h"
#include "stats.h"

struct admin_ctx {
    const struct config *cfg;           /* snap->cfg (the renderers') */
    const struct stats_region *stats;   /* read-only after admin_main() */
    const int *user_slot;               /* cfg->users[i] -> region slot */
    struct snapshot *snap;              /* the config served (owned) */
    int ctl_fd;                         /* the master's messages, -1 */
    int death_fd;                       /* EOF = the master is gone */
    int listen_fd;                      /* admin_listen, bound by the */
};                                      /* master, which keeps its copy */

/*
 * Serve on listen_fd until SIGTERM or the master's death, then stop
 * accepting, let the requests in progress finish (up to a second) and
 * exit; connections still queued wait for the next admin process on the
 * master's copy of the socket.  If the server cannot start, log an error
 * and exit 1 (the master retries with back-off).  A CTL_CONFIG message
 * (a reload) replaces the config in place: token, whitelist, users.
 */
void admin_main(struct admin_ctx *a) __attribute__((noreturn));

#endif
