/*
 * tlsprobe.h - learns how big mask_host's TLS certificate flight is and
 * how it answers ALPN, so the fake ServerHello can send a certificate
 * record of the size it would send (tls_emulation).  The one place where telemt itself dials out.
 */
#ifndef TELEMT_TLSPROBE_H
#define TELEMT_TLSPROBE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "faketls.h"
#include "stats.h"

/*
 * Load a size cached by an earlier run into the region; 0 if found.  Only
 * a regular file is read: a symbolic link is not followed and a FIFO is
 * not waited on (each is logged and ignored).
 */
int tlsprobe_load_cache(const struct config *cfg, struct stats_region *s);
/*
 * The probe child (forked by spawn.c, already running as user/group):
 * probe mask_host once, store the size in the region and the cache
 * (which must be writable by that user), and exit.
 */
void tlsprobe_main(const struct config *cfg, struct stats_region *s)
    __attribute__((noreturn));
/*
 * Probe synchronously: a real ClientHello to mask_host:mask_port with SNI
 * tls_domain; the size is the total payload of the ApplicationData
 * records of the server's first flight (clamped to 64..16384).  Returns
 * 0 and *len, or -1 with a reason in why.
 */
int tlsprobe_run(const struct config *cfg, uint32_t *len, char *why,
    size_t whylen);
/*
 * A real TLS 1.3 handshake with mask_host (SNI tls_domain, ALPN h2 and
 * http/1.1 offered, the certificate not checked): *alpn is what the host
 * chose.  Returns 0, or -1 with a reason in why.
 */
int tlsprobe_alpn(const struct config *cfg, enum faketls_alpn *alpn,
    char *why, size_t whylen);
/*
 * Walk the records in buf[0..len) (what the mask host sent so far): sets
 * *appdata to the payload total of the ApplicationData records after the
 * ServerHello.  Returns 1 once a ServerHello was seen, 0 if not yet, -1
 * if the bytes are not a TLS 1.3 server flight (an alert, or a record
 * type no server sends first).  Pure; fuzzed (tests/fuzz).
 */
int tlsprobe_walk(const uint8_t *buf, size_t len, uint32_t *appdata);

#endif
