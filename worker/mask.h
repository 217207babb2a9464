/*
 * mask.h - masking: a refused client is handed to the real web server at
 * mask_host:mask_port so that a prober sees that server and nothing else.
 */
#ifndef TELEMT_MASK_H
#define TELEMT_MASK_H

#include "conn.h"

/*
 * Connect to the mask host, send it every byte read from the client so
 * far (c->hs[0..hslen)), then relay raw both ways until either side is
 * done or a mask_* limit is reached.  client_eof: the client already
 * half-closed.  If the mask host cannot be reached, or the worker's
 * mask_max_connections are in use, the client is reset, as a dead
 * server's would be.
 */
void mask_run(struct conn *c, int client_eof);
/*
 * Count c as masked (w->masked, given back by conn_close()); 0 if the
 * worker's mask_max_connections are in use.
 */
int mask_take_slot(struct conn *c);
/*
 * Relay a masked connection (r set up, raw; c holding a slot) until it
 * ends, reaches a mask_* limit or moves to a new binary.  The client's
 * end mirrors the mask host's: its reset becomes a reset, its close ends
 * the relay at once (the caller closes the client).  Returns relay_run()'s
 * result.
 */
int mask_relay(struct conn *c, struct relay *r);

#endif
