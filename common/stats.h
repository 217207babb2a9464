/*
 * stats.h - the counters every process shares.
 *
 * The master maps one MAP_SHARED region (a memfd, so that a new binary can
 * inherit it) before forking; workers add to the counters with relaxed
 * C11 atomics and nobody takes a lock.  After the counters comes the
 * replay table (replay.h), at replay_off.  (The admin issue grows this
 * into the full region of DESIGN.md: per-worker, per-user, per-DC.)
 */
#ifndef TELEMT_STATS_H
#define TELEMT_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "replay.h"
#include "stats_fields.h"

#define STATS_MAGIC     0x54454c454d545331ull   /* "TELEMTS1" */
#define STATS_VERSION   2

struct stats_counters {
#define X(name, help) _Atomic uint64_t name;
    STATS_COUNTERS(X)
#undef X
};

struct stats_region {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;               /* sizeof(struct stats_region) */
    uint64_t size;                      /* of the whole mapping */
    uint64_t replay_off;                /* where the replay table starts */
    _Atomic uint32_t tls_cert_len;      /* learnt from mask_host; 0 = none */
    _Atomic int64_t tls_profile_at;     /* when (unix time) */
    struct stats_counters c;
};

/*
 * Create and map a zeroed shared region (survives fork) with a replay
 * table of the given capacity and window.  NULL with errno on failure.
 */
struct stats_region *stats_create(uint32_t replay_capacity,
    uint32_t replay_window);
/* The replay table inside the region. */
struct replay_table *stats_replay(struct stats_region *s);
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
