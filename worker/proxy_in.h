/*
 * proxy_in.h - PROXY protocol in: with proxy_protocol on, a client
 * connection comes from a load balancer, which says first who the client
 * is (common/proxyproto.h).
 */
#ifndef TELEMT_PROXY_IN_H
#define TELEMT_PROXY_IN_H

#include "conn.h"

/*
 * Before anything else reads c's socket: with proxy_protocol off, 0 at
 * once.  On, c's source must lie in proxy_protocol_trusted and send a
 * valid header within handshake_timeout (the time counts against the
 * handshake's); exactly the header is consumed, so the client's own bytes
 * stay in the socket.  Then c->peer_addr and c->peer are the client's
 * (unless the header names none: v2 LOCAL, v1 UNKNOWN), c->pp_dst the
 * address it connected to, and 0.  Otherwise -1, counted and logged
 * within a budget: the caller closes c without masking (a balancer's
 * bytes are no client's to replay, and an untrusted source is no client
 * of ours).
 */
int proxy_in(struct conn *c);

#endif
