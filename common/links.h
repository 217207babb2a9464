/*
 * links.h - secret forms and the tg:// and t.me links users are given.
 *
 * The secret form tells the client which transport to use (docs/protocol.md
 * 1.1): plain 32 hex (classic), "dd" + hex (secure), "ee" + hex +
 * hex(domain) (fake TLS).
 */
#ifndef TELEMT_LINKS_H
#define TELEMT_LINKS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum link_mode { LINK_CLASSIC, LINK_SECURE, LINK_TLS };

/*
 * Write the client-side secret for a mode into out (outlen >= 35 + 2 *
 * strlen(domain)).  Returns 0, or -1 if out is too small.
 */
int links_secret(enum link_mode mode, const uint8_t secret[16],
    const char *domain, char *out, size_t outlen);
/* Room for a link: "https://t.me/proxy?server=" + a host of up to 253
 * characters percent-encoded (x3) + port + an "ee" secret with one. */
#define LINKS_URL_MAX   2048

/* One link of a user, as links_each() hands it over. */
struct proxy_link {
    const char *mode;                   /* "classic", "secure" or "tls" */
    const char *domain;                 /* the tls link's SNI, else "" */
    char tg[LINKS_URL_MAX];             /* tg://proxy?server=...  */
    char tme[LINKS_URL_MAX];            /* https://t.me/proxy?server=...  */
};

typedef void links_fn(void *arg, const struct proxy_link *link);

#define LINKS_NO_HOST   (-1)            /* no public_host, wildcard listen */
#define LINKS_TOO_LONG  (-2)            /* a host or domain beyond the room */

/* The host links carry: public_host, else a listen address that is not a
 * wildcard; NULL if neither. */
const char *links_host(const struct config *cfg);
/*
 * Call fn(arg, link) for each link of config user `user`: every enabled
 * mode in classic, secure, tls order, a tls link per tls_domains entry.
 * Returns 0, LINKS_NO_HOST (before any call) or LINKS_TOO_LONG.
 */
int links_each(const struct config *cfg, int user, links_fn *fn, void *arg);
/*
 * Print "user mode link" lines, tg:// and https://t.me/, for every user
 * and enabled mode.  Returns 0, or -1 with a message in err when the
 * config has no host to put in the links.
 */
int links_print(const struct config *cfg, FILE *out, char *err,
    size_t errlen);

#endif
