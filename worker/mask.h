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

#endif
