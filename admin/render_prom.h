/*
 * render_prom.h - the /metrics body: Prometheus text exposition format
 * 0.0.4, built from an admin_snap (admin_snap.h).  Called by admin.c per
 * request and by the unit tests; never touches the region itself.
 *
 * Families (every one has # HELP and # TYPE; counters end in _total):
 *   telemt_build_info{version}                  gauge, always 1
 *   telemt_start_time_seconds, telemt_uptime_seconds,
 *   telemt_config_generation                    gauges
 *   telemt_connections_accepted_total           counter
 *   telemt_connections_refused_total{reason="limit"|"thread"}
 *   telemt_connections_active                   gauge
 *   telemt_traffic_bytes_total{direction="client_to_dc"|"dc_to_client"}
 *   telemt_mask_relayed_total, telemt_mask_connect_failures_total
 *   telemt_<counter>_total                      any other STATS_COUNTERS
 *                                               entry (dc_connect_ok and
 *                                               dc_connect_fail are the sums
 *                                               of the per-DC families)
 *   telemt_handshakes_total{reason="<STATS_HS_OUTCOMES name>"}
 *   telemt_dc_connections_total{dc}, telemt_dc_connect_failures_total{dc},
 *   telemt_dc_connect_time_seconds_total{dc}    DCs with any activity
 *   telemt_upstream_attempts_total{upstream}, telemt_upstream_failures_total,
 *   telemt_upstream_target_failures_total,
 *   telemt_upstream_backed_off{upstream}        SOCKS5 upstreams (gauge)
 *   telemt_user_connections_active{user}        gauge
 *   telemt_user_connections_total{user}
 *   telemt_user_bytes_total{user,direction}
 *   telemt_user_unique_ips{user}                gauge (unique_ips_window)
 *   telemt_user_refused_total{user,reason}      STATS_USER_REFUSALS names
 *   telemt_user_quota_used_bytes{user},
 *   telemt_user_quota_limit_bytes{user}         gauges
 *   telemt_user_last_seen_timestamp_seconds{user}   gauge, 0 = never
 *   telemt_worker_up{worker}, telemt_worker_connections_active{worker}
 *                                               gauges
 *   telemt_worker_connections_total{worker}, telemt_worker_restarts_total
 *   telemt_workers_expected, telemt_workers_draining,
 *   telemt_draining_connections_active          gauges
 *   telemt_tls_profile_cert_bytes               gauge, 0 = none learnt
 *   telemt_replay_entries                       gauge
 *   telemt_handshake_seconds, telemt_dc_connect_seconds   histograms
 *                                               (_bucket{le}, _sum, _count)
 */
#ifndef TELEMT_RENDER_PROM_H
#define TELEMT_RENDER_PROM_H

#include "abuf.h"
#include "admin_snap.h"

/* Append the whole exposition of snapshot s to b. */
void render_prom(struct abuf *b, const struct admin_snap *s);

#endif
