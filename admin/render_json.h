/*
 * render_json.h - the admin endpoint's data: a snapshot of the shared
 * region, a growable text buffer, and the JSON bodies built from them.
 * Called by admin.c (per request) and render_prom.c (the buffer and the
 * snapshot); only ever reads the region, never writes it.
 *
 * Every response is built from one admin_snap taken at the start of the
 * request, so all numbers in one body agree with each other.  Counts are
 * JSON integers, times are unix seconds (integers), durations are seconds
 * (numbers with a fraction).  The schema, which the page (page.html) and
 * the tests rely on:
 *
 * GET /api/v1/stats
 * { "version": "0.1.0", "now": T, "start_time": T, "uptime_seconds": N,
 *   "generation": N,
 *   "connections": { "active": N, "accepted": N, "refused_limit": N,
 *                    "refused_thread": N },
 *   "traffic": { "client_to_dc_bytes": N, "dc_to_client_bytes": N },
 *   "handshakes": { "ok_classic": N, ... every STATS_HS_OUTCOMES name },
 *   "masking": { "relayed": N, "connect_failures": N },
 *   "counters": { "conn_accepted": N, ... every STATS_COUNTERS name,
 *                 "conn_active": N }     (the master's "stats:" line names)
 *   "dcs": [ { "dc": I, "connections": N, "connect_failures": N,
 *              "connect_ms_avg": F } ]   (DCs with any activity, in slot
 *                                         order; dc 0 = any other index)
 *   "users": [ USER ],                   (configured users, config order)
 *   "workers": [ WORKER ],               (slots 0..nworkers-1)
 *   "workers_expected": N, "workers_up": N,
 *   "draining": [ DRAINING ],            (old-generation workers finishing
 *                                         their connections)
 *   "histograms": { "handshake_seconds": HIST, "dc_connect_seconds": HIST },
 *   "tls_profile": { "cert_len": N or null, "learnt_at": T or null },
 *   "replay_entries": N,
 *   "history": [ { "t": T, "active": N, "accepted": N,
 *                  "client_to_dc_bytes": N, "dc_to_client_bytes": N } ]
 *                                        (every 2 s, last 10 min, oldest
 *                                         first; counters are totals) }
 *
 * USER   = { "name": S, "active": N, "connections": N,
 *            "bytes_client_to_dc": N, "bytes_dc_to_client": N,
 *            "last_seen": T or null, "unique_ips_recent": N }
 * WORKER = { "slot": I, "pid": N, "state": "running"|"dead",
 *            "started_at": T, "active": N, "total": N, "restarts": N,
 *            "generation": N, "up": true|false }
 *            The slot's running worker of the newest generation; "dead"
 *            (pid, started_at, counts 0) while it has none, i.e. until
 *            the master respawns it.  up: running and kill(pid, 0) works.
 *            total counts this process's connections; restarts the
 *            slot's respawns.
 * DRAINING = { "slot": I, "pid": N, "generation": N, "started_at": T,
 *              "active": N, "total": N }
 * HIST   = { "buckets": [ { "le": F, "count": N }, ...,
 *                         { "le": "+Inf", "count": N } ],
 *            "sum": F, "count": N }      (counts cumulative, le in s)
 *
 * GET /api/v1/users
 * { "users": [ USER + "links": [ { "mode": "classic"|"secure"|"tls",
 *                                  "domain": S (tls only),
 *                                  "tg": "tg://proxy?...",
 *                                  "tme": "https://t.me/proxy?..." } ] ] }
 *   with "links": [] and "links_error": "set public_host" in each user
 *   when neither public_host nor a non-wildcard listen address is set.
 *   Without admin_token configured: { "links_omitted": S, "users":
 *   [ USER ] } - no links, which carry the secrets.
 *
 * GET /api/v1/workers
 * { "workers": [ WORKER ], "workers_expected": N, "workers_up": N,
 *   "draining": [ DRAINING ] }
 *
 * GET /healthz
 * { "status": "ok"|"degraded", "workers_up": N, "workers_expected": N }
 */
#ifndef TELEMT_RENDER_JSON_H
#define TELEMT_RENDER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "admin.h"

#define ADMIN_HISTORY_LEN       300     /* samples kept: 10 minutes */
#define ADMIN_HISTORY_STEP_S    2       /* seconds between two samples */

/* A growable NUL-terminated text buffer; failed is set once out of memory. */
struct abuf {
    char *p;
    size_t len, cap;
    int failed;
};

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
};

struct admin_snap_dc {
    int index;                          /* DC index; 0 = other */
#define X(field, help) uint64_t field;
    STATS_DC_FIELDS(X)
#undef X
};

struct admin_snap_hist {
    uint64_t cum[STATS_HIST_NBOUNDS + 1];   /* cumulative; last is +Inf */
    uint64_t sum_us;
};

/* Every number a response shows, read once from the region. */
struct admin_snap {
    const struct config *cfg;
    int64_t now, start_time;
    uint64_t generation;
    struct {
#define X(field, help) uint64_t field;
        STATS_COUNTERS(X)
#undef X
    } c;
    uint64_t hs[STATS_HS_COUNT];
    uint64_t active;                    /* sum of workers[].active */
    struct admin_snap_hist hist[STATS_HIST_COUNT];
    int nworkers, workers_up;
    struct admin_snap_worker workers[STATS_MAX_WORKERS];   /* by slot */
    int ndraining;
    struct admin_snap_worker draining[STATS_MAX_WORKERS];
    int nusers;
    struct admin_snap_user *users;      /* cfg->users order */
    struct admin_snap_dc dcs[STATS_NDCS];
    uint32_t tls_cert_len;              /* 0 = none learnt */
    int64_t tls_profile_at;
    uint64_t replay_entries;
};

/* Start an empty buffer (no allocation yet). */
void abuf_init(struct abuf *b);
/* Release the buffer's memory and empty it. */
void abuf_free(struct abuf *b);
/* Append n bytes. */
void abuf_add(struct abuf *b, const char *s, size_t n);
/* Append a C string. */
void abuf_puts(struct abuf *b, const char *s);
/* Append printf-formatted text. */
void abuf_printf(struct abuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s as a quoted, escaped JSON string. */
void abuf_json_str(struct abuf *b, const char *s);

/* Read the region into a new snapshot at unix time now; NULL if no memory. */
struct admin_snap *admin_snap_take(const struct admin_ctx *a, int64_t now);
/* Free a snapshot; NULL is fine. */
void admin_snap_free(struct admin_snap *s);
/* 1 if every worker slot 0..nworkers-1 runs a worker with a live pid. */
int admin_snap_healthy(const struct admin_snap *s);
/* Read the history sample of the region at unix time now into out. */
void admin_sample_take(const struct stats_region *r, int64_t now,
    struct admin_sample *out);

/* The /api/v1/stats body; hist[0..nhist) is the history, oldest first. */
void render_json_stats(struct abuf *b, const struct admin_snap *s,
    const struct admin_sample *hist, int nhist);
/*
 * The /api/v1/users body: users with their links if with_secrets (the
 * request carried the configured admin_token), else without them and
 * with "links_omitted" saying why.
 */
#define RENDER_JSON_LINKS_OMITTED "secrets and links are shown only when " \
    "admin_token is set and sent; telemt --links prints them"
void render_json_users(struct abuf *b, const struct admin_snap *s,
    int with_secrets);
/* The /api/v1/workers body. */
void render_json_workers(struct abuf *b, const struct admin_snap *s);
/* The /healthz body. */
void render_json_health(struct abuf *b, const struct admin_snap *s);

#endif
