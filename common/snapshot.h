/*
 * snapshot.h - a config snapshot as a running process holds it: the
 * config, its users' slots in the shared region, the reload generation it
 * came with, and a reference count.  A worker's current snapshot is
 * replaced in place at a reload; every connection holds the snapshot it
 * started with until it ends, and the last release frees it whole.
 */
#ifndef TELEMT_SNAPSHOT_H
#define TELEMT_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

struct snapshot {
    atomic_int refs;
    uint64_t generation;
    struct config *cfg;                 /* owned */
    int *user_slot;                     /* cfg->users[i] -> region slot */
};

/*
 * A snapshot of cfg (taken over: freed with the snapshot) with one
 * reference, its users looked up in s (the master put them there before
 * handing the config over).  NULL if out of memory or a user has no slot
 * (cfg is freed then too).
 */
struct snapshot *snapshot_new(struct config *cfg, const struct stats_region *s,
    uint64_t generation);
/* Take one more reference. */
void snapshot_hold(struct snapshot *sn);
/* Drop a reference; the last one frees everything.  NULL is fine. */
void snapshot_release(struct snapshot *sn);
/* Index of the user called name in sn, or -1. */
int snapshot_user(const struct snapshot *sn, const char *name);
/*
 * A reload in a child: the config text the master sent in memfd fd
 * (closed here) for generation gen, parsed as cur's file, with cur's
 * values for every restart-only key (the master warned about those).
 * The new snapshot, or NULL with the reason in err.
 */
struct snapshot *snapshot_from_text_fd(int fd, uint64_t gen,
    const struct snapshot *cur, const struct stats_region *s, char *err,
    size_t errlen);

#endif
