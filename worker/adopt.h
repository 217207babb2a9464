/*
 * adopt.h - a worker takes over the config the master hands it at a
 * reload (SIGHUP), without a new process and without touching any
 * connection the new config still allows.
 */
#ifndef TELEMT_ADOPT_H
#define TELEMT_ADOPT_H

#include "ctl.h"
#include "worker.h"

/*
 * m is a CTL_CONFIG message and fd its memfd (closed here).  Parse the
 * text, keep the restart-only keys' running values, make it the
 * snapshot new connections take, and close the connections whose user
 * it removed (reload_drop_removed_users) or whose secret it changed.  A
 * text that does not parse or a lack of memory keeps the old snapshot,
 * with a log line.  Main thread only.
 */
void adopt_config(struct worker *w, const struct ctl_msg *m, int fd);

#endif
