/*
 * stats.h - the counters every process shares.
 *
 * The master maps one MAP_SHARED region before forking; workers add to it
 * with relaxed C11 atomics and nobody takes a lock.  (The admin issue grows
 * this into the full region of DESIGN.md: per-worker, per-user, per-DC.)
 */
#ifndef TELEMT_STATS_H
#define TELEMT_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "stats_fields.h"

#define STATS_MAGIC     0x54454c454d545331ull   /* "TELEMTS1" */
#define STATS_VERSION   1

struct stats_counters {
#define X(name, help) _Atomic uint64_t name;
    STATS_COUNTERS(X)
#undef X
};

struct stats_region {
    uint64_t magic;
    uint32_t version;
    uint32_t size;
    struct stats_counters c;
};

/* Map a zeroed shared region (survives fork); NULL with errno on failure. */
struct stats_region *stats_create(void);
/* Unmap it; NULL is fine. */
void stats_destroy(struct stats_region *s);
/* Format every counter as "name=value ..." into out. */
void stats_format(const struct stats_region *s, char *out, size_t outlen);

#define STATS_ADD(s, name, n) \
    atomic_fetch_add_explicit(&(s)->c.name, (uint64_t)(n), \
        memory_order_relaxed)
#define STATS_SUB(s, name, n) \
    atomic_fetch_sub_explicit(&(s)->c.name, (uint64_t)(n), \
        memory_order_relaxed)
#define STATS_GET(s, name) \
    atomic_load_explicit(&(s)->c.name, memory_order_relaxed)

#endif
