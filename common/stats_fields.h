/*
 * stats_fields.h - every counter, declared once (no .c).
 *
 * X(name, help): each line becomes an _Atomic uint64_t in struct
 * stats_counters and a "name=value" pair in the log summary; the admin
 * endpoint (a later room) renders the same list.
 */
#ifndef TELEMT_STATS_FIELDS_H
#define TELEMT_STATS_FIELDS_H

#define STATS_COUNTERS(X)                                                   \
    X(conn_accepted, "client connections accepted")                        \
    X(conn_refused_limit, "connections closed at once: max_connections")   \
    X(conn_refused_thread, "connections closed: no thread could start")    \
    X(conn_active, "client connections open now (gauge)")                 \
    X(hs_ok_classic, "handshakes accepted: classic (abridged/intermediate)") \
    X(hs_ok_secure, "handshakes accepted: secure (padded intermediate)")   \
    X(hs_ok_tls, "handshakes accepted: fake TLS")                          \
    X(hs_bad_secret, "handshakes refused: no user's secret matches")       \
    X(hs_mode_disabled, "handshakes refused: the client's mode is off")    \
    X(hs_timeout, "handshakes refused: handshake_timeout passed")          \
    X(hs_eof, "handshakes refused: client closed mid-handshake")           \
    X(hs_not_tls, "handshakes refused: not a TLS hello (TLS-only)")        \
    X(hs_bad_tls, "handshakes refused: malformed TLS record or hello")     \
    X(hs_bad_digest, "handshakes refused: ClientHello digest mismatch")    \
    X(hs_stale_time, "handshakes refused: ClientHello time out of window") \
    X(hs_bad_sni, "handshakes refused: SNI is not tls_domain")             \
    X(hs_bad_header, "handshakes refused: first bytes no client sends")    \
    X(hs_replay, "handshakes refused: replay of a remembered handshake")   \
    X(hs_evicted, "handshakes closed to make room (max_handshakes)")       \
    X(hs_error, "handshakes aborted: socket or memory error")             \
    X(mask_relayed, "refused connections relayed to the mask host")       \
    X(mask_connect_fail, "refused connections whose mask host was down")  \
    X(dc_connect_ok, "DC connections established")                        \
    X(dc_connect_fail, "DC dials that failed on every address")           \
    X(bytes_client_to_dc, "payload bytes relayed client -> DC")           \
    X(bytes_dc_to_client, "payload bytes relayed DC -> client")

#endif
