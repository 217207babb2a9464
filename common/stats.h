/*
 * stats.h - the shared region: every process's view of what telemt does.
 *
 * The master creates it (a memfd, so that a new binary can inherit it)
 * before forking; workers add to it with relaxed C11 atomics; the admin
 * process maps it read-only.  Nobody takes a lock and every 64-bit value
 * is an atomic, so a reader never sees a torn number.  Layout:
 *
 *   struct stats_region     header, then fixed arrays:
 *     c                     process-wide counters      (STATS_COUNTERS)
 *     hs[]                  handshake outcomes         (STATS_HS_OUTCOMES)
 *     hist[]                latency histograms         (STATS_HISTOGRAMS)
 *     workers[128]          one row per worker process: pid, slot, state
 *     slot_restarts[128]    respawns per listening slot
 *     users[4096]           per user, slot kept by name across reloads
 *     user_active[128][4096] open connections per worker row and user, so
 *                           that a dead worker's share can be cleared
 *     dcs[12]               per DC index: 1..5, -1..-5, 203, other
 *     upstreams[16]         per SOCKS5 upstream, slot claimed by address
 *     guard                 per client address (srcguard.h)
 *     dc_addrs[128]         per DC address: health (worker/dc_health.c)
 *   replay table            at replay_off (replay.h)
 */
#ifndef TELEMT_STATS_H
#define TELEMT_STATS_H

#include <sys/socket.h>

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "replay.h"
#include "srcguard.h"
#include "stats_fields.h"

#define STATS_MAGIC             0x54454c454d545331ull   /* "TELEMTS1" */
#define STATS_VERSION           9
/* Rows for 64 slots twice: an upgrade's new workers start (and a reload's
 * new generation) before the old ones have gone. */
#define STATS_MAX_WORKERS       128
#define STATS_MAX_USERS         4096
#define STATS_USER_NAME         64
/* Recent client addresses per user, open addressing: max_unique_ips
 * may use at most half of them, so a probe always ends. */
#define STATS_IP_SLOTS          64
#define STATS_NDCS              12
#define STATS_DC_OTHER          11
#define STATS_MAX_UPSTREAMS     16
#define STATS_UPSTREAM_NAME     272     /* "[v6]:port", "host:port" */

enum stats_hs_outcome {
#define X(name, verdict, help) STATS_HS_##name,
    STATS_HS_OUTCOMES(X)
#undef X
    STATS_HS_COUNT
};

enum stats_user_refusal {
#define X(name, reason, help) STATS_UR_##name,
    STATS_USER_REFUSALS(X)
#undef X
    STATS_UR_COUNT
};

enum stats_hist_id {
#define X(name, help) STATS_HIST_##name,
    STATS_HISTOGRAMS(X)
#undef X
    STATS_HIST_COUNT
};

enum stats_worker_state {
    STATS_WORKER_EMPTY = 0,             /* row free */
    STATS_WORKER_RUNNING,               /* accepting */
    STATS_WORKER_DRAINING               /* old generation: no longer */
};                                      /* accepting, connections finish */

struct stats_counters {
#define X(name, help) _Atomic uint64_t name;
    STATS_COUNTERS(X)
#undef X
};

struct stats_hist {
    _Atomic uint64_t bucket[STATS_HIST_NBOUNDS + 1];    /* not cumulative */
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
};

/* One row per worker process, claimed by a master, freed when it dies. */
struct stats_worker {
    _Atomic int32_t pid;                /* 0 = free row */
    _Atomic int32_t slot;               /* listening slot it serves */
    _Atomic uint32_t state;             /* enum stats_worker_state */
    _Atomic uint64_t generation;        /* config generation it runs */
    _Atomic int64_t started_at;         /* unix time */
    _Atomic uint64_t active;            /* connections open now */
    _Atomic uint64_t total;             /* connections accepted */
    _Atomic uint64_t restarts;          /* respawns of its slot before it */
    /*
     * CLOCK_MONOTONIC ms (one clock for every process), stored by the
     * worker's main loop at least once a second; older than
     * STATS_HEARTBEAT_STALE_MS means the loop is stuck or stopped, which
     * the row's pid alone cannot show.  0 = not yet.
     */
    _Atomic int64_t heartbeat_ms;
};

#define STATS_HEARTBEAT_STALE_MS 3000

struct stats_user {
    char name[STATS_USER_NAME];         /* "" = free slot; set by master */
    _Atomic uint32_t configured;        /* 1 if in the current config */
#define X(name, help) _Atomic uint64_t name;
    STATS_USER_FIELDS(X)
#undef X
    _Atomic int64_t last_seen;          /* unix time of the last connection */
    /* Recent addresses (IPv6 by /64): hash << 32 | CLOCK_MONOTONIC s. */
    _Atomic uint64_t ips[STATS_IP_SLOTS];
    _Atomic uint64_t refused[STATS_UR_COUNT];
    /*
     * The limits (common/userlim.c).  admit_lock (the pid holding it, 0
     * free) makes the check of max_tcp_conns and max_unique_ips and the
     * taking of a place one step across all workers.  The master
     * publishes quota_limit and rate_bps from the config it runs; the
     * workers charge quota_used and the token buckets (rate_tat_ns: the
     * time the bucket is paid up to, per direction) as they relay.
     */
    _Atomic int32_t admit_lock;
    _Atomic uint64_t quota_used;        /* bytes both ways this period */
    _Atomic int64_t quota_period;       /* unix time the period began */
    _Atomic uint64_t quota_limit;       /* data_quota_bytes; 0 = none */
    _Atomic int64_t rate_bps[2];        /* up, down; 0 = none */
    _Atomic int64_t rate_tat_ns[2];     /* CLOCK_MONOTONIC ns */
    _Atomic int64_t refuse_log_ms;      /* last refusal line (monotonic) */
    _Atomic uint32_t refuse_quiet;      /* refusals since, not logged */
};

struct stats_dc {
#define X(name, help) _Atomic uint64_t name;
    STATS_DC_FIELDS(X)
#undef X
};

/*
 * One SOCKS5 upstream.  A worker claims the slot of an address the first
 * time it dials through it (state 0 -> 1 by CAS, the name, then 2), so
 * the master need not know; down[row] is 1 while worker row holds it
 * backed off (cleared with the row).
 */
struct stats_upstream {
    _Atomic uint32_t state;             /* 0 free, 1 naming, 2 named */
    char name[STATS_UPSTREAM_NAME];
#define X(name, help) _Atomic uint64_t name;
    STATS_UPSTREAM_FIELDS(X)
#undef X
    _Atomic uint8_t down[STATS_MAX_WORKERS];
};

/*
 * One DC address's health, shared by every worker: whichever worker
 * connects (or probes) writes its result here, so the others order
 * their dials by it too.  A worker claims a free slot by moving state
 * from FREE to CLAIMED, writes the key, then publishes it as USED
 * (release); readers match the key only in a USED slot.  The numbers
 * are single atomics written last-wins: two workers' results for the
 * same address a moment apart are both true, either will do.  Times
 * are CLOCK_MONOTONIC ms (one clock for every process); 0 = never.
 */
#define STATS_DC_ADDRS          128
#define STATS_DC_ADDR_KEY       3
enum stats_dc_addr_state {
    STATS_DC_ADDR_FREE = 0,
    STATS_DC_ADDR_CLAIMED,              /* key being written */
    STATS_DC_ADDR_USED
};

struct stats_dc_addr {
    _Atomic uint32_t state;             /* enum stats_dc_addr_state */
    _Atomic int32_t dc;                 /* DC index (positive) first seen */
    _Atomic uint64_t key[STATS_DC_ADDR_KEY];    /* stats_dc_addr_key() */
#define X(name, help) _Atomic uint64_t name;
    STATS_DC_ADDR_FIELDS(X)
#undef X
    _Atomic uint32_t fails_in_row;      /* 0 = up (or never tried) */
    _Atomic int64_t last_us;            /* the last successful connect */
    _Atomic int64_t avg_us;             /* their moving average; 0 = none */
    _Atomic int64_t last_ok_ms;
    _Atomic int64_t last_fail_ms;
    _Atomic int64_t retry_ms;           /* down: tried last until then */
    _Atomic int64_t used_ms;            /* last dial or probe to it */
    _Atomic int64_t probe_ms;           /* last probe claimed */
};

struct stats_region {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;               /* sizeof(struct stats_region) */
    uint64_t size;                      /* of the whole mapping */
    uint64_t replay_off;                /* where the replay table starts */
    _Atomic int64_t start_time;         /* unix time the region was made */
    /* The same moment by CLOCK_MONOTONIC (one clock for every process),
     * in ms: uptime must not jump when the wall clock is stepped. */
    _Atomic int64_t start_mono_ms;
    _Atomic uint64_t generation;        /* bumped on every reload */
    _Atomic uint32_t nworkers;          /* worker slots configured */
    _Atomic uint32_t tls_cert_len;      /* learnt from mask_host; 0 = none */
    _Atomic int64_t tls_profile_at;     /* when (unix time) */
    _Atomic uint32_t tls_alpn;          /* enum faketls_alpn, learnt with it */
    struct stats_counters c;
    _Atomic uint64_t user_refused[STATS_UR_COUNT];     /* all users */
    _Atomic uint64_t hs[STATS_HS_COUNT];
    struct stats_hist hist[STATS_HIST_COUNT];
    struct stats_worker workers[STATS_MAX_WORKERS];     /* rows */
    _Atomic uint64_t slot_restarts[STATS_MAX_WORKERS];
    struct stats_user users[STATS_MAX_USERS];
    _Atomic uint32_t user_active[STATS_MAX_WORKERS][STATS_MAX_USERS];
    struct stats_dc dcs[STATS_NDCS];
    struct stats_upstream upstreams[STATS_MAX_UPSTREAMS];
    struct srcguard_table guard;
    struct stats_dc_addr dc_addrs[STATS_DC_ADDRS];
};

/* The memfd's name (/proc/PID/fd shows "/memfd:telemt-region"). */
#define STATS_REGION_NAME       "telemt-region"
/*
 * Create and map a zeroed shared region (survives fork) with a replay
 * table of the given capacity and window.  If fd is not NULL the memfd
 * stays open there (close-on-exec) so that a new binary can inherit it.
 * NULL with errno on failure.
 */
struct stats_region *stats_create(uint32_t replay_capacity,
    uint32_t replay_window, int *fd);
/*
 * Map a region inherited as memfd fd (binary upgrade) if its magic,
 * version and layout match this binary and its replay table has the
 * given capacity; NULL otherwise (the caller starts a fresh region).
 */
struct stats_region *stats_attach(int fd, uint32_t replay_capacity);
/* The replay table inside the region. */
struct replay_table *stats_replay(struct stats_region *s);
/* Make this process's mapping read-only (the admin process); 0 or -1. */
int stats_protect_readonly(struct stats_region *s);
/* Unmap it; NULL is fine. */
void stats_destroy(struct stats_region *s);

/*
 * Master: the slot of user name, claiming a free one if the name has
 * none; slots keep their counters across reloads.  -1 if all are taken.
 */
int stats_user_slot(struct stats_region *s, const char *name);
/* The slot the master gave user name, or -1; claims nothing. */
int stats_user_find(const struct stats_region *s, const char *name);
/* The dcs[] slot of a client's DC index. */
int stats_dc_slot(int dc);
/* The DC index a dcs[] slot stands for; 0 for the "other" slot. */
int stats_dc_index(int slot);
/*
 * A worker: the upstreams[] slot of address name, claiming a free one the
 * first time; -1 if all are taken (by addresses of earlier configs) or
 * the one it needs stays half-claimed (then that upstream goes uncounted).
 */
int stats_upstream_slot(struct stats_region *s, const char *name);
/* How many live worker rows hold upstream slot u backed off. */
unsigned stats_upstream_down(const struct stats_region *s, int u);
/* The counter table of the README (Markdown): every counter of the
 * "stats:" line with its help, from stats_fields.h. */
void stats_print_counters(FILE *out);
/* Record one observation of us microseconds in histogram id. */
void stats_observe(struct stats_region *s, enum stats_hist_id id,
    int64_t us);
/* A connection of user slot u is relayed: its count, last seen (wall
 * clock, for the page); its address was noted at admission. */
void stats_user_connected(struct stats_region *s, int u);
/* A dial to DC index dc failed on every address. */
void stats_dc_failed(struct stats_region *s, int dc);
/* A dial to DC index dc took us microseconds. */
void stats_dc_connected(struct stats_region *s, int dc, int64_t us);
/*
 * Note address hash h for user slot u at CLOCK_MONOTONIC second now:
 * its own entry, else a free or expired one (older than window), else
 * the oldest.  One entry per hash as long as callers hold the user's
 * admit_lock (userlim_admit() does).
 */
void stats_ip_seen(struct stats_region *s, int u, uint32_t h, int64_t now,
    int64_t window);
/* 1 if hash h is among user slot u's addresses of the last window s. */
int stats_ip_recent(const struct stats_region *s, int u, uint32_t h,
    int64_t now, int64_t window);
/* Distinct client addresses of user slot u in the last window s. */
unsigned stats_ips_recent(const struct stats_region *s, int u, int64_t now,
    int64_t window);
/* 32-bit hash of a client address, never 0: of its srcguard_key(), so
 * IPv4 (v4-mapped too) or IPv6 by its /64 (one subscriber's privacy
 * addresses are one). */
uint32_t stats_ip_hash(const struct sockaddr *sa);
/* Open connections of user slot u, summed over workers. */
uint64_t stats_user_active(const struct stats_region *s, int u);
/*
 * Master: claim a free row for a worker of slot about to be forked
 * (marked with the master's pid until stats_worker_start()); -1 if none.
 */
int stats_worker_claim(struct stats_region *s, int slot, uint64_t gen);
/* Master: the row's process is pid, running. */
void stats_worker_start(struct stats_region *s, int row, int pid);
/* Master: a worker died or finished; clear its gauges, free the row. */
void stats_worker_gone(struct stats_region *s, int row);
/* Format the counters and outcomes as "name=value ..." into out. */
void stats_format(const struct stats_region *s, char *out, size_t outlen);

/*
 * The key of a DC address in dc_addrs[]: family and port, then the
 * address bytes; atomics, so that a slot re-keyed while another process
 * reads it is a mismatch, never a torn read.
 */
void stats_dc_addr_key(const struct sockaddr *sa,
    uint64_t key[STATS_DC_ADDR_KEY]);
/* Format a key back as "1.2.3.4:5" or "[::1]:5". */
void stats_dc_addr_format(const uint64_t key[STATS_DC_ADDR_KEY], char *out,
    size_t outlen);

#define STATS_ADD(s, name, n) \
    atomic_fetch_add_explicit(&(s)->c.name, (uint64_t)(n), \
        memory_order_relaxed)
#define STATS_HS(s, outcome) \
    atomic_fetch_add_explicit(&(s)->hs[STATS_HS_##outcome], 1, \
        memory_order_relaxed)
#define STATS_GET(s, name) \
    atomic_load_explicit(&(s)->c.name, memory_order_relaxed)

#endif
