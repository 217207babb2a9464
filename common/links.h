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
/*
 * Print "user mode link" lines, tg:// and https://t.me/, for every user
 * and enabled mode.  Returns 0, or -1 with a message in err when the
 * config has no host to put in the links.
 */
int links_print(const struct config *cfg, FILE *out, char *err,
    size_t errlen);

#endif
