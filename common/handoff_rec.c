/*
 * handoff_rec.c - checks a hand-over record (see handoff_rec.h) before a
 * new worker believes any of it.  Pure: no I/O, no allocation.
 */
#include "handoff_rec.h"

#include <string.h>

int
handoff_rec_check(const struct handoff_rec *rec, size_t n,
    uint32_t version, const char **why)
{
    const uint32_t known = HANDOFF_C_DEC | HANDOFF_C_ENC | HANDOFF_D_ENC |
        HANDOFF_D_DEC | HANDOFF_TLS;

    *why = "truncated";
    if (n < sizeof(*rec))
        return 0;
    *why = "bad magic or version";
    if (rec->magic != HANDOFF_MAGIC || rec->version != version)
        return 0;
    *why = "bad lengths";
    if (rec->up_len > HANDOFF_PENDING || rec->down_len > HANDOFF_PENDING ||
        rec->size != n || n != sizeof(*rec) + rec->up_len + rec->down_len)
        return 0;
    *why = "bad kind or parts";
    if ((rec->kind != HANDOFF_DC && rec->kind != HANDOFF_MASK) ||
        (rec->parts & ~known) != 0 || rec->up_eof > 1 || rec->up_done > 1 ||
        rec->down_eof > 1 || rec->down_done > 1)
        return 0;
    /* The relay's own invariants: no EOF passed on with bytes left. */
    if ((rec->up_done && (!rec->up_eof || rec->up_len > 0)) ||
        (rec->down_done && (!rec->down_eof || rec->down_len > 0)))
        return 0;
    *why = "bad TLS reader state";
    if ((rec->parts & HANDOFF_TLS) && (rec->tls_hdr_have > TLSREC_HEADER ||
        rec->tls_left > TLSREC_MAX_IN))
        return 0;
    *why = "bad user or address";
    if (memchr(rec->user, '\0', sizeof(rec->user)) == NULL ||
        (rec->kind == HANDOFF_DC && rec->user[0] == '\0') ||
        (rec->peer.ss_family != AF_INET && rec->peer.ss_family != AF_INET6))
        return 0;
    return 1;
}

