/*
 * handoff.h - live connections move from an old worker to a new one at a
 * binary upgrade (SIGUSR2): both sockets over SCM_RIGHTS and the relay's
 * whole state in one versioned record, so the client and the DC see only
 * a pause.
 *
 * The record (common/handoff_rec.h) is an in-memory struct between two
 * builds of telemt on the same machine: any change to it or to what it
 * means bumps HANDOFF_VERSION, and masters whose versions differ do not
 * hand over at all (the old one drains instead).
 */
#ifndef TELEMT_HANDOFF_H
#define TELEMT_HANDOFF_H

#include "handoff_rec.h"
#include "relay.h"
#include "worker.h"

#ifndef HANDOFF_VERSION
#define HANDOFF_VERSION         2       /* 2: pending up to 16,401 + 5 */
#endif

/*
 * Old worker, main thread, on the master's CTL_HANDOFF: from now on every
 * relaying connection stops between two steps and moves to the new
 * worker behind fd (taken over; -1: none, the connections drain here).
 * Returns how many connections were asked.
 */
int handoff_begin(struct worker *w, int fd);
/*
 * The relay's hand-over callback (r->handoff_arg is the struct conn):
 * send the record and both sockets.  0 once sent; -1 (flag cleared,
 * counted, the relay goes on here) if the new worker cannot take it.
 */
int handoff_send(struct relay *r, const struct relay_pending *p);
/*
 * New worker, main thread: take every record waiting on w->recv_fd and
 * resume each connection on a thread of its own.  A record that does not
 * check out closes both its sockets, with a log line.
 */
void handoff_receive(struct worker *w);

#endif
