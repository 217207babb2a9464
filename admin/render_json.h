/*
 * render_json.h - the admin endpoint's JSON bodies, each built from one
 * admin_snap (admin_snap.h) into an abuf (abuf.h).  Counts are
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
 *   "dc_addrs": [ DCADDR ],              (every DC address a dial used,
 *                                         region slot order)
 *   "upstreams": [ { "address": S, "attempts": N, "failures": N,
 *                    "target_failures": N, "backed_off": N } ]
 *                                        (SOCKS5 upstreams dialled since
 *                                         the region was made)
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
 *            "last_seen": T or null, "unique_ips_recent": N,
 *            every CONFIG_USER_FIELDS setting under its name ("enabled":
 *            true|false, counts as N, "expiration": "YYYY-MM-DDTHH:MM:SSZ"
 *            or null), "quota_used_bytes": N,
 *            "quota_period_start": T or null,
 *            "refused": { every STATS_USER_REFUSALS name: N } }
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
 * DCADDR = { "dc": I, "addr": "1.2.3.4:443" or "[v6]:443",
 *            "state": "up"|"down"|"unknown", "up": true|false,
 *            every STATS_DC_ADDR_FIELDS name ("connects", "failures",
 *            "probes"): N, "failures_in_row": N,
 *            "last_connect_ms": F or null, "avg_connect_ms": F or null,
 *            "last_ok_ago_s": F or null, "last_fail_ago_s": F or null,
 *            "retry_in_s": F }
 *            dc: the (positive) index whose dial first used it.  down:
 *            the last connect failed; such an address is tried after
 *            the others for retry_in_s more.  unknown: none finished.
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
 *   Each link's QR code: GET /api/v1/users/NAME/qr.svg?link=I, I its
 *   index in "links" (render_qr.h; its errors are JSON errors).
 *
 * GET /api/v1/workers
 * { "workers": [ WORKER ], "workers_expected": N, "workers_up": N,
 *   "draining": [ DRAINING ] }
 *
 * GET /healthz
 * { "status": "ok"|"degraded", "workers_up": N, "workers_expected": N,
 *   "stale_workers": [ { "slot": I, "pid": N, "heartbeat_age_ms": N } ]
 *                                        (only when a running worker's
 *                                         heartbeat is stale) }
 *   "degraded" exactly when admin_snap_healthy() is 0.
 */
#ifndef TELEMT_RENDER_JSON_H
#define TELEMT_RENDER_JSON_H

#include "abuf.h"
#include "admin_snap.h"

/* Append s as a quoted, escaped JSON string (safe inside HTML too). */
void abuf_json_str(struct abuf *b, const char *s);

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
/* One user (config index i) as in /api/v1/users, for the users API. */
void render_json_user(struct abuf *b, const struct admin_snap *s, int i,
    int with_secrets);
/* The /api/v1/workers body. */
void render_json_workers(struct abuf *b, const struct admin_snap *s);
/* An API error: {"error": {"code": CODE, "message": MESSAGE}}. */
void render_json_error(struct abuf *b, const char *code,
    const char *message);
/* The /healthz body. */
void render_json_health(struct abuf *b, const struct admin_snap *s);

#endif
