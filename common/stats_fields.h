/*
 * stats_fields.h - every counter, declared once (no .c).
 *
 * Each list expands into the region's _Atomic uint64_t fields (stats.h),
 * the master's "stats:" log line, and the admin endpoint's JSON keys and
 * Prometheus metrics; a new counter is one line here.
 *
 *   STATS_COUNTERS      X(name, help)    process-wide counters
 *   STATS_HS_OUTCOMES   X(name, VERDICT, help)   how handshakes ended,
 *                                        one counter each (Prometheus
 *                                        label reason=); see below
 *   STATS_USER_FIELDS   X(name, help)    per user (label user=)
 *   STATS_DC_FIELDS     X(name, help)    per DC index (label dc=)
 *   STATS_DC_ADDR_FIELDS X(name, help)   per DC address (dc=, addr=)
 *   STATS_HISTOGRAMS    X(name, help)    latency histograms, in seconds
 *   STATS_UPSTREAM_FIELDS X(name, help)  per SOCKS5 upstream
 */
#ifndef TELEMT_STATS_FIELDS_H
#define TELEMT_STATS_FIELDS_H

#define STATS_COUNTERS(X)                                                   \
    X(conn_accepted, "client connections accepted")                        \
    X(conn_refused_limit, "connections over max_connections (masked)")     \
    X(conn_refused_thread, "connections closed: no thread could start")    \
    X(dc_connect_ok, "DC connections established")                        \
    X(dc_connect_fail, "DC dials that failed on every address")           \
    X(bytes_client_to_dc, "payload bytes relayed client -> DC")           \
    X(bytes_dc_to_client, "payload bytes relayed DC -> client")           \
    X(mask_relayed, "refused connections relayed to the mask host")       \
    X(mask_connect_fail, "refused connections whose mask host was down")  \
    X(mask_refused_cap, "masked connections reset: mask_max_connections")  \
    X(mask_idle_closed, "masked connections closed: mask_idle_timeout")    \
    X(mask_expired, "masked connections closed: mask_max_lifetime")        \
    X(mask_capped, "masked connections closed: mask_max_bytes_*")          \
    X(mask_proxy_failed, "masked connections reset: the PROXY header to "  \
      "the mask host could not be sent")                                   \
    X(relay_idle_closed, "relayed connections closed: relay_idle_timeout") \
    X(search_waited, "secret searches that waited for their address's turn") \
    X(addr_unguarded, "handshakes not limited by address: its table was full") \
    X(proxy_untrusted, "connections closed: proxy_protocol on and the "   \
      "source not in proxy_protocol_trusted")                              \
    X(proxy_bad_header, "connections closed: no valid PROXY header from "  \
      "a trusted source (malformed, too long, closed or timed out)")       \
    X(proxy_ok, "PROXY headers that named the client")                     \
    X(proxy_local, "PROXY headers without a client (v2 LOCAL, v1 "         \
      "UNKNOWN): the socket's address is used")                            \
    X(conn_handed_out, "connections handed to a new binary (upgrade)")    \
    X(conn_handed_in, "connections taken over from an old binary")        \
    X(conn_handoff_failed, "hand-overs that failed (kept by the old one)") \
    X(me_clients, "clients relayed through a middle-end proxy (ME)")       \
    X(me_fallback_direct, "ME-mode clients sent straight to the DC: no "   \
      "ME reachable for their cluster")                                    \
    X(me_no_route, "ME-mode clients closed: no ME reachable and "          \
      "me_fallback_direct off")                                            \
    X(me_packets_up, "client packets sent to an ME as RPC_PROXY_REQ")      \
    X(me_packets_down, "packets from an ME passed to clients")             \
    X(me_bytes_up, "client packet bytes sent to an ME")                    \
    X(me_bytes_down, "ME packet bytes passed to clients")                  \
    X(me_quickacks, "quick acks from an ME passed to clients")             \
    X(me_closed_by_me, "clients closed because the ME said RPC_CLOSE_EXT") \
    X(me_queue_overflow, "clients closed: their ME queue stayed full")     \
    X(me_migrated, "clients moved to another ME connection when theirs "   \
      "died or was retired")                                               \
    X(me_unknown_conn, "ME answers for a client that is gone")             \
    X(me_fail_connect, "ME dials that failed (refused, unreachable, "      \
      "timeout)")                                                          \
    X(me_fail_nonce, "ME handshakes failed: bad or missing nonce answer")  \
    X(me_fail_clock_skew, "ME handshakes refused: our clock and the ME's " \
      "differ by more than 30 s")                                          \
    X(me_fail_handshake, "ME handshakes failed: bad or refused "           \
      "RPC_HANDSHAKE")                                                     \
    X(me_fail_frame, "ME connections closed: a bad frame (length, "        \
      "sequence number, CRC, cipher)")                                     \
    X(me_fail_silent, "ME connections closed: silent for three "           \
      "me_ping_interval")                                                  \
    X(me_fail_closed, "ME connections the ME closed")                      \
    X(me_fetch_ok, "ME secret or list fetches that gave a valid file")     \
    X(me_fetch_failed, "ME fetches that failed (unreachable, HTTP "        \
      "error, too big)")                                                   \
    X(me_inputs_rejected, "ME secrets or lists read or fetched but "       \
      "refused (bad size, list does not parse)")                          \
    X(dc_addr_failed, "connects to one DC address that failed or timed "  \
      "out (the dial goes on to the next address)")                       \
    X(dc_addr_demoted, "dials that tried an address last because it "     \
      "failed recently (worker/dc_health.c)")                             \
    X(dc_probes_ok, "probe connects (dc_probe_interval) that a DC "       \
      "address answered")                                                 \
    X(dc_probes_failed, "probe connects that failed or timed out")

/*
 * Handshake outcomes, X(name, VERDICT, help).  The refusals are the
 * handshake's verdicts: worker/handshake.h makes enum hs_verdict from
 * STATS_HS_REFUSALS (HS_<VERDICT>), its names from name, and counts each
 * verdict in the counter of its row.  The other rows are no verdict
 * (VERDICT is unused there).
 */
#define STATS_HS_ACCEPTED(X)                                                \
    X(ok_classic, OK_CLASSIC, "accepted: classic (abridged/intermediate)") \
    X(ok_secure, OK_SECURE, "accepted: secure (padded intermediate)")     \
    X(ok_tls, OK_TLS, "accepted: fake TLS")

#define STATS_HS_REFUSALS(X)                                                \
    X(bad_secret, BAD_SECRET, "refused: no user's secret matches")        \
    X(mode_disabled, MODE_DISABLED, "refused: the client's mode is off")  \
    X(timeout, TIMEOUT, "refused: handshake_timeout passed")              \
    X(eof, EOF, "refused: client closed mid-handshake")                   \
    X(not_tls, NOT_TLS, "refused: not a TLS hello (TLS-only)")            \
    X(bad_tls, BAD_TLS, "refused: malformed TLS record or hello")         \
    X(bad_digest, BAD_DIGEST, "refused: ClientHello digest mismatch")     \
    X(stale_time, STALE_TIME, "refused: ClientHello time out of window")  \
    X(bad_sni, BAD_SNI, "refused: SNI is not tls_domain")                 \
    X(bad_header, BAD_HEADER, "refused: first bytes no client sends")     \
    X(replay, REPLAY, "refused: replay of a remembered handshake")        \
    X(error, ERROR, "aborted: socket or memory error")                    \
    X(sni_drop, SNI_DROP, "closed: SNI not ours, unknown_sni_action drop") \
    X(sni_reject, SNI_REJECT, "alert sent: SNI not ours, "                 \
      "unknown_sni_action reject")

#define STATS_HS_EVICTIONS(X)                                               \
    X(evicted, EVICTED, "masked to make room (max_handshakes)")           \
    X(evicted_addr, EVICTED_ADDR, "masked: max_handshakes_per_addr")

#define STATS_HS_OUTCOMES(X)                                                \
    STATS_HS_ACCEPTED(X) STATS_HS_REFUSALS(X) STATS_HS_EVICTIONS(X)

/*
 * Why a user's client is refused after it proved its secret, or the
 * user's open connections cut, X(name, REASON, help): common/userlim.h
 * makes enum user_verdict (USER_<REASON>) from it, and each row is a
 * counter per user (Prometheus telemt_user_refused_total{reason}) and in
 * total (user_<name> in the "stats:" line).
 */
#define STATS_USER_REFUSALS(X)                                              \
    X(disabled, DISABLED, "refused or cut: the user is disabled")          \
    X(expired, EXPIRED, "refused or cut: the user's expiration passed")    \
    X(quota, QUOTA, "refused or cut: the user's data_quota_bytes is used") \
    X(conns, CONNS, "refused: the user holds max_tcp_conns connections")   \
    X(ips, IPS, "refused: a new address past the user's max_unique_ips")

/* The gauge the "stats:" line ends with. */
#define STATS_CONN_ACTIVE_HELP \
    "connections open now, summed over workers (gauge)"

#define STATS_USER_FIELDS(X)                                                \
    X(connections, "connections accepted for the user")                   \
    X(bytes_client_to_dc, "payload bytes from the user's clients")        \
    X(bytes_dc_to_client, "payload bytes to the user's clients")

#define STATS_DC_FIELDS(X)                                                  \
    X(connections, "connections established to the DC")                   \
    X(connect_failures, "dials to the DC that failed on every address")   \
    X(connect_us_sum, "microseconds spent connecting, summed")            \
    X(me_opened, "ME connections of the DC's cluster that completed the "  \
      "handshake")                                                         \
    X(me_closed, "ME connections of the cluster that ended after it")      \
    X(me_failed, "ME connections of the cluster that failed before it")

/*
 * Per DC address (each resolved address of each DC index, one slot of
 * stats_region.dc_addrs[] shared by every worker: worker/dc_health.c),
 * labels dc= and addr=.  The slot's gauges (up, connect times, failures
 * in a row) are in struct stats_dc_addr.
 */
#define STATS_DC_ADDR_FIELDS(X)                                             \
    X(connects, "connects to the address that succeeded (clients and "    \
      "probes)")                                                           \
    X(failures, "connects to the address that failed or timed out")       \
    X(probes, "probe connects made to the address (dc_probe_interval)")

#define STATS_HISTOGRAMS(X)                                                 \
    X(handshake_seconds, "time from accept to a handshake verdict")       \
    X(dc_connect_seconds, "time to connect to a DC")

/*
 * Per SOCKS5 upstream (label upstream="host:port"), X(name, help); each
 * row's slot is claimed by its address (stats_upstream_slot()).  The gauge
 * of workers holding it backed off is not a field: stats_upstream_down().
 */
#define STATS_UPSTREAM_FIELDS(X)                                            \
    X(attempts, "dials tried through the upstream")                       \
    X(failures, "dials through it that failed by its fault (refused, "    \
      "timeout, bad SOCKS5 reply, auth refused): it is backed off")        \
    X(target_failures, "dials it answered with a failure to reach the "    \
      "target (not held against it)")

/* Upper bounds of the histogram buckets, in microseconds (+Inf after). */
#define STATS_HIST_BOUNDS_US                                                \
    { 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,      \
      1000000, 2500000, 5000000, 10000000 }
#define STATS_HIST_NBOUNDS      13

#endif
