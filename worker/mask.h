/*
 * mask.h - masking: a refused client is handed to the real web server at
 * mask_host:mask_port so that a prober sees that server and nothing else.
 */
#ifndef TELEMT_MASK_H
#define TELEMT_MASK_H

#include "conn.h"

/*
 * Connect to the mask host, send it every byte read from the client so
 * far (c->hs[0..hslen)), then relay raw both ways until both sides are
 * done.  client_eof: the client already half-closed.  If the mask host
 * cannot be reached the client is reset, as a dead server's would be.
 */
void mask_run(struct conn *c, int client_eof);
/*
 * Relay a masked connection (r set up, raw) until it ends or moves to a
 * new binary; a reset from the mask host becomes a reset to the client.
 * Returns relay_run()'s result.
 */
int mask_relay(struct conn *c, struct relay *r);

#endif
