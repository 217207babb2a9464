/*
 * dc_table.h - Telegram's built-in DC addresses (docs/protocol.md 3.3),
 * the one table both the worker's dialling and the doctor read.
 */
#ifndef TELEMT_DC_TABLE_H
#define TELEMT_DC_TABLE_H

/* The built-in DC indexes, in order: 1..DC_MAX_BUILTIN, then 203. */
extern const int dc_builtin_ids[];
extern const int dc_nbuiltin;

/*
 * The "host:port" strings of built-in DC index dc (positive): IPv4
 * first, then IPv6 where there is one.  Returns their count, 0 if dc is
 * not built in.
 */
int dc_builtin(int dc, const char *const **addrs);

#endif
