/*
 * dc.h - the Telegram DC table and dialling: built-in addresses,
 * dc_overrides from the config, media and unknown indexes, IPv6
 * preference and fall-through across a DC's addresses.
 */
#ifndef TELEMT_DC_H
#define TELEMT_DC_H

#include <stddef.h>

#include "config.h"
#include "net.h"

/*
 * Connect to the DC serving index dc (signed; negative = media).  Tries
 * every address of that DC in the order of dc_health.h (recent failures
 * last, prefer_ipv6, speed), each with dc_connect_timeout, and records
 * each result there.  Returns a connected non-blocking fd, or -1; desc
 * receives the address used (or the last one tried) for logs.
 */
int dc_dial(const struct config *cfg, int dc, char *desc, size_t desclen);
/*
 * The socket addresses of DC index dc (default_dc's if unknown), host
 * names resolved, in config order, into out[0..max); returns the count.
 */
int dc_candidates(const struct config *cfg, int dc, struct net_addr *out,
    int max);

#endif
