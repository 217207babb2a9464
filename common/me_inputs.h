/*
 * me_inputs.h - what ME mode needs besides the config: the proxy secret
 * and the IPv4 and IPv6 ME lists (docs/protocol.md 8.1), as the master
 * read or fetched and validated them, and the bundle it sends each
 * worker (CTL_ME, a sealed memfd) whenever they change.
 *
 * Bundle: "TMEI1\n", then three sections, each "NAME LEN\n" followed by
 * LEN raw bytes and "\n": secret, v4, v6 (LEN 0: none).  The lists are
 * the proxy-multi.conf texts, parsed again by the worker.
 */
#ifndef TELEMT_ME_INPUTS_H
#define TELEMT_ME_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "me_proto.h"

struct me_inputs {
    uint8_t secret[ME_SECRET_MAX];
    size_t secret_len;                  /* 0: none yet */
    char *v4, *v6;                      /* list texts, NUL-terminated; */
    size_t v4_len, v6_len;              /* NULL/0: none */
};

/* Validation: NULL if fine, else why not (for a log line). */
const char *me_inputs_check_secret(const uint8_t *p, size_t n);
/* The list parses (me_list_parse()) for its family; err as there. */
int me_inputs_check_list(const char *text, size_t n, int v6, char *err,
    size_t errlen);
/* The bundle text of in (malloc'd; *len its length); NULL if no memory. */
uint8_t *me_inputs_encode(const struct me_inputs *in, size_t *len);
/* Parse a bundle into *out (free with me_inputs_free()); 0, or -1. */
int me_inputs_decode(const uint8_t *p, size_t n, struct me_inputs *out);
void me_inputs_free(struct me_inputs *in);

#endif
