/*
 * access.h - the admin endpoint's checks on what a request claims, kept
 * apart from libmicrohttpd so they are unit-tested (tests/unit/
 * test_admin_access.c): the bearer token and the Host header.
 */
#ifndef TELEMT_ADMIN_ACCESS_H
#define TELEMT_ADMIN_ACCESS_H

#include <stddef.h>

/* 1 if got equals want; the time taken depends only on wlen. */
int admin_token_equal(const char *got, size_t glen, const char *want,
    size_t wlen);
/* 1 if the Authorization value hdr (NULL: absent) is "Bearer <token>". */
int admin_bearer_ok(const char *hdr, const char *token);
/*
 * 1 if the Host value host (NULL: absent) names us: the host part of
 * admin_listen (listen, "IPv4:port" or "[IPv6]:port"), localhost,
 * 127.0.0.1 or [::1]; any IP literal if listen is a wildcard.  An
 * optional ":port" is taken whatever its number (an ssh -L forward
 * changes it).  A page that a DNS rebinding points at us sends its own
 * host name, which is none of these.
 */
int admin_host_ok(const char *host, const char *listen);

#endif
