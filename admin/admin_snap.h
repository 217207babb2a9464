/*
 * admin_snap.h - an admin_snap: every number an admin response shows, read
 * once from the shared region at the start of the request (admin_snap.c),
 * and the history samples the page's graphs are drawn from.
 */
#ifndef TELEMT_ADMIN_SNAP_H
#define TELEMT_ADMIN_SNAP_H

#include <stdint.h>

#include "admin.h"

#define ADMIN_HISTORY_LEN       300     /* samples kept: 10 minutes */
#define ADMIN_HISTORY_STEP_S    2       /* seconds between two samples */

/* One history sample (admin.c takes them every ADMIN_HISTORY_STEP_S). */
struct admin_sample {
    int64_t t;                          /* unix time */
    uint64_t active;                    /* sum of workers[].active */
    uint64_t accepted;                  /* conn_accepted */
    uint64_t client_to_dc, dc_to_client;    /* bytes, totals */
};

/* A slot's current worker (or its absence), or a draining worker. */
struct admin_snap_worker {
    int slot;
    int32_t pid;                        /* 0 = none running */
    uint64_t generation;
    int64_t started_at;
    uint64_t active, total, restarts;
    int up;                             /* running and kill(pid, 0) == 0 */
};

struct admin_snap_user {
    const char *name;                   /* the config's string */
#define X(field, help) uint64_t field;
    /* cppcheck-suppress unknownMacro ; defined in stats_fields.h */
    STATS_USER_FIELDS(X)
#undef X
    uint64_t active;
    int64_t last_seen;                  /* 0 = never */
    unsigned ips_recent;
    const struct config_user *limits;   /* the config's entry */
    uint64_t refused[STATS_UR_COUNT];   /* refusals and cuts, by reason */
    uint64_t quota_used;                /* this period, both ways */
    int64_t quota_period;               /* its start; 0 = never resets */
};

struct admin_snap_dc {
    int index;                          /* DC index; 0 = other */
#define X(field, help) uint64_t field;
    STATS_DC_FIELDS(X)
#undef X
};

/* One DC address's health (stats_region.dc_addrs[]). */
struct admin_snap_dc_addr {
    int dc;                             /* DC index that first used it */
    char addr[64];                      /* "1.2.3.4:443", "[::1]:443" */
    int state;                          /* ADMIN_DC_ADDR_* */
#define X(field, help) uint64_t field;
    STATS_DC_ADDR_FIELDS(X)
#undef X
    uint32_t fails_in_row;
    int64_t last_us, avg_us;            /* 0 = never connected */
    int64_t ok_age_ms, fail_age_ms;     /* since the last one; -1 = never */
    int64_t retry_in_ms;                /* down: tried last this long */
};

enum {
    ADMIN_DC_ADDR_UNKNOWN,              /* no connect finished yet */
    ADMIN_DC_ADDR_UP,                   /* the last connect answered */
    ADMIN_DC_ADDR_DOWN                  /* the last one failed */
};

struct admin_snap_upstream {
    char name[STATS_UPSTREAM_NAME];     /* its address */
#define X(field, help) uint64_t field;
    STATS_UPSTREAM_FIELDS(X)
#undef X
    unsigned backed_off;                /* workers holding it backed off */
};

struct admin_snap_hist {
    uint64_t cum[STATS_HIST_NBOUNDS + 1];   /* cumulative; last is +Inf */
    uint64_t sum_us;
};

/* Every number a response shows, read once from the region. */
struct admin_snap {
    const struct config *cfg;
    int64_t now, start_time;
    int64_t uptime;                     /* s, by the monotonic clock */
    uint64_t generation;
    struct {
#define X(field, help) uint64_t field;
        STATS_COUNTERS(X)
#undef X
    } c;
    uint64_t hs[STATS_HS_COUNT];
    uint64_t user_refused[STATS_UR_COUNT];  /* all users, by reason */
    uint64_t active;                    /* sum of workers[].active */
    struct admin_snap_hist hist[STATS_HIST_COUNT];
    int nworkers, workers_up;
    struct admin_snap_worker workers[STATS_MAX_WORKERS];   /* by slot */
    int ndraining;
    struct admin_snap_worker draining[STATS_MAX_WORKERS];
    int nusers;
    struct admin_snap_user *users;      /* cfg->users order */
    struct admin_snap_dc dcs[STATS_NDCS];
    int ndc_addrs;
    struct admin_snap_dc_addr dc_addrs[STATS_DC_ADDRS];    /* slot order */
    int nupstreams;                     /* named slots, in slot order */
    struct admin_snap_upstream upstreams[STATS_MAX_UPSTREAMS];
    uint32_t tls_cert_len;              /* 0 = none learnt */
    int64_t tls_profile_at;
    uint64_t replay_entries;
    /* Running workers whose heartbeat is STATS_HEARTBEAT_STALE_MS old or
     * more (stopped, stuck, swapped out): alive, but accepting nobody. */
    int nstale;
    struct {
        int slot;
        int32_t pid;
        int64_t age_ms;
    } stale[STATS_MAX_WORKERS];
};

/*
 * Read the region into a new snapshot at unix time now and monotonic
 * time mono_ms (CLOCK_MONOTONIC ms: uptime, recent addresses,
 * heartbeats); NULL if no memory.
 */
struct admin_snap *admin_snap_take(const struct admin_ctx *a, int64_t now,
    int64_t mono_ms);
/* Free a snapshot; NULL is fine. */
void admin_snap_free(struct admin_snap *s);
/* 1 if every worker slot 0..nworkers-1 runs a worker with a live pid
 * and no running worker's heartbeat is stale. */
int admin_snap_healthy(const struct admin_snap *s);
/* Read the history sample of the region at unix time now into out. */
void admin_sample_take(const struct stats_region *r, int64_t now,
    struct admin_sample *out);

#endif
