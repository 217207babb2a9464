/*
 * dc.h - the Telegram DC table and dialling: built-in addresses,
 * dc_overrides from the config, media and unknown indexes, IPv6
 * preference and fall-through across a DC's addresses.
 */
#ifndef TELEMT_DC_H
#define TELEMT_DC_H

#include <stddef.h>

#include "config.h"

/*
 * Connect to the DC serving index dc (signed; negative = media).  Tries
 * every address of that DC in preference order, each with
 * dc_connect_timeout.  Returns a connected non-blocking fd, or -1; desc
 * receives the address used (or the last one tried) for logs.
 */
int dc_dial(const struct config *cfg, int dc, char *desc, size_t desclen);

#endif
