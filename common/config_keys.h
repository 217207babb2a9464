/*
 * config_keys.h - every configuration key, listed once (no .c).
 *
 * config.c expands CONFIG_KEYS() into the parse table, the defaults, the
 * unknown-key check and config_print_keys() (the README table), and
 * config.h makes each key's field in struct config from its type, so a
 * new key is one entry here.  The list is in README order.  Names with a
 * dot ("modes.tls") are members of a group of that name; USERS, USERDEFS
 * and DCLIST keys are compound and parsed by hand.
 */
#ifndef TELEMT_CONFIG_KEYS_H
#define TELEMT_CONFIG_KEYS_H

/*
 * X(name, type, field, apply, min, max, default, help)
 *
 *   name     the key as written in the file
 *   type     INT     int field; min..max inclusive; default an integer
 *            BOOL    bool field; default true or false
 *            IPV4    char * field; "" (off) or an IPv4 literal
 *            IPV6    char * field; "" (off) or an IPv6 literal
 *            HOST    char * field; "" or a DNS host name
 *            ADDR    char * field; "" or a host name or an IP literal
 *            LOGLVL  int field, written as a level name; default a name
 *            SNIACT  int field (enum config_sni_action), written as mask,
 *                    drop, reject or accept; default a name
 *            USERS   the users group; min..max is the number of users
 *            USERDEFS  the user_defaults group: CONFIG_USER_FIELDS, parsed
 *                    before users wherever it is in the file
 *            DCLIST  the dc_overrides list; min..max bounds each dc
 *            HOSTLIST  array of DNS host names; min..max bounds the count
 *            PATH    char * field; "" or a file system path
 *            HOSTPORT  char * field; "" or "IPv4:port" / "[IPv6]:port"
 *            TOKEN   char * field; "" or 16..256 printable characters
 *            CIDRLIST  array of "address/prefix" strings; max = count
 *            UNAME   char * field; "" or a user/group name
 *            ADTAG   char * field; "" or 32 hex digits (an ad tag)
 *            URL     char * field; "" or an http:// or https:// URL
 *            IFNAME  char * field; "" or a network interface name
 *            UPSTREAMS  the upstreams list; min..max bounds each weight
 *   field    member of struct config
 *   apply    LIVE: a reload (SIGHUP) applies it in the running workers;
 *            RESTART: it needs new sockets, a new region or the start-up
 *            sequence, so a reload keeps the running value and warns
 *   min/max  bounds as above; 0 where they do not apply
 *   default  as above; for USERS, USERDEFS and DCLIST the text shown in
 *            the table
 *   help     one line for the README; no '|' (it would split the row)
 */
#define CONFIG_KEYS(X)                                                      \
    X("port", INT, port, RESTART, 1, 65535, 443,                            \
      "TCP port clients connect to")                                        \
    X("listen_ipv4", IPV4, listen_ipv4, RESTART, 0, 0, "0.0.0.0",           \
      "IPv4 address to listen on; \"\" turns IPv4 off")                     \
    X("listen_ipv6", IPV6, listen_ipv6, RESTART, 0, 0, "",                  \
      "IPv6 address to listen on; \"\" turns IPv6 off; at least one of "    \
      "the two must be set")                                                \
    X("workers", INT, workers, RESTART, 0, 64, 0,                           \
      "worker processes; 0 means one per online CPU")                       \
    X("max_connections", INT, max_connections, LIVE, 1, 1000000, 10000,     \
      "client connections each worker serves at once, masked ones apart; "  \
      "past it a new one is masked")                                        \
    X("thread_stack_size", INT, thread_stack_size, RESTART, 131072,         \
      67108864, 262144,                                                     \
      "stack size of each connection thread, in bytes")                     \
    X("backlog", INT, backlog, RESTART, 1, 65535, 4096,                     \
      "listen(2) backlog of each listening socket")                         \
    X("proxy_protocol", BOOL, proxy_protocol, LIVE, 0, 0, false,           \
      "every client connection starts with a PROXY protocol header (v1 "    \
      "or v2) from a load balancer in proxy_protocol_trusted, and the "     \
      "client it names is the client; a connection from anywhere else "     \
      "is closed")                                                          \
    X("proxy_protocol_trusted", CIDRLIST, proxy_protocol_trusted, LIVE, 0,  \
      64, "[]", "networks of the load balancers allowed to send PROXY "     \
      "headers (\"10.0.0.0/8\", \"::1/128\"); required with "               \
      "proxy_protocol")                                                     \
    X("users_file", PATH, users_file, LIVE, 0, 0, "",                       \
      "a file holding users = { ... }; instead of this one (the users API " \
      "writes it; the master reads it, never through a symbolic link)")   \
    X("users", USERS, users, LIVE, 1, CONFIG_MAX_USERS, "(required)",       \
      "group of name = \"secret\" or name = { secret = \"secret\"; "       \
      "fields... } (the per-user fields below); each secret is 32 hex "     \
      "digits; no two users may share a secret")                            \
    X("user_defaults", USERDEFS, user_defaults, LIVE, 0, 0, "{ }",          \
      "group of per-user fields (below, no secret) every user gets unless " \
      "its own entry sets them")                                            \
    X("unique_ips_window", INT, unique_ips_window, LIVE, 1, 86400, 300,     \
      "seconds over which max_unique_ips counts distinct addresses")        \
    X("state_dir", PATH, state_dir, RESTART, 0, 0, "/var/lib/telemt",      \
      "directory the master keeps quota usage in (created 0700 if "         \
      "missing); used only when some user has data_quota_bytes, and then "  \
      "it must be an absolute path")                                        \
    X("quota_save_interval", INT, quota_save_interval, LIVE, 1, 3600, 60,   \
      "how often, in seconds, the quota usage is written to state_dir; a "  \
      "crash loses at most this much")                                      \
    X("modes.classic", BOOL, mode_classic, LIVE, 0, 0, false,               \
      "accept plain obfuscated2 clients (secret as is)")                    \
    X("modes.secure", BOOL, mode_secure, LIVE, 0, 0, false,                 \
      "accept padded-intermediate clients (dd secret)")                     \
    X("modes.tls", BOOL, mode_tls, LIVE, 0, 0, true,                        \
      "accept fake-TLS clients (ee secret); at least one mode must be on")  \
    X("tls_domain", HOST, tls_domain, LIVE, 0, 0, "",                       \
      "host name fake-TLS clients send as SNI; required when modes.tls "    \
      "is on")                                                              \
    X("tls_domains", HOSTLIST, tls_domains, LIVE, 0, 64, "[]",              \
      "more SNI names to accept besides tls_domain; each gets its own ee "  \
      "link")                                                               \
    X("tls_sni_strict", BOOL, tls_sni_strict, LIVE, 0, 0, true,             \
      "deprecated (a warning): false is unknown_sni_action = \"accept\", "  \
      "true changes nothing")                                               \
    X("unknown_sni_action", SNIACT, unknown_sni_action, LIVE, 0, 0, "mask", \
      "a fake-TLS hello whose SNI is not tls_domain or one of tls_domains, " \
      "whatever its digest: \"mask\" (relayed to mask_host), \"drop\" "    \
      "(closed after 0.2..1.5 s), \"reject\" (a fatal unrecognized_name "  \
      "alert, as nginx's ssl_reject_handshake), \"accept\" (SNI not "      \
      "checked); a hello without SNI is served if its digest is valid and " \
      "else gets this action")                                              \
    X("tls_time_skew", INT, tls_time_skew, LIVE, 1, 86400, 120,             \
      "seconds a fake-TLS hello's timestamp may differ from our clock")     \
    X("tls_accept_boot_time", BOOL, tls_accept_boot_time, LIVE, 0, 0, false, \
      "accept hellos whose timestamp is below 172800, the time-since-boot " \
      "form of clients without a synced clock (a replay of such a hello "   \
      "older than replay_window is not caught)")                            \
    X("tls_cert_len_min", INT, tls_cert_len_min, LIVE, 64, 16384, 2500,     \
      "smallest size of the fake certificate record in the ServerHello")    \
    X("tls_cert_len_max", INT, tls_cert_len_max, LIVE, 64, 16384, 4500,     \
      "largest size of the fake certificate record; a random size in "      \
      "min..max is sent each time")                                         \
    X("tls_emulation", BOOL, tls_emulation, LIVE, 0, 0, false,              \
      "learn the size of mask_host's TLS certificate flight (by a real "    \
      "TLS hello to it, at start and every tls_emulation_interval) and "    \
      "send the fake certificate record at that size")                      \
    X("tls_emulation_interval", INT, tls_emulation_interval, LIVE, 10, 604800, \
      3600, "seconds between two probes of mask_host")                      \
    X("tls_emulation_cache", PATH, tls_emulation_cache, LIVE, 0, 0, "",     \
      "directory where the learnt size is kept across restarts (the "      \
      "workers' user writes it; the master reads only a regular file "      \
      "there, never through a link); \"\" keeps it in memory only")        \
    X("mask", BOOL, mask, LIVE, 0, 0, true,                                 \
      "relay clients that fail the handshake to mask_host")                 \
    X("mask_host", ADDR, mask_host, LIVE, 0, 0, "",                         \
      "host refused clients are relayed to; \"\" means tls_domain")         \
    X("mask_port", INT, mask_port, LIVE, 1, 65535, 443,                     \
      "port on mask_host")                                                  \
    X("mask_connect_timeout", INT, mask_connect_timeout, LIVE, 1, 60, 5,    \
      "seconds to wait for a connection to mask_host, over all of its "     \
      "addresses (each gets an equal share of the time left)")              \
    X("mask_idle_timeout", INT, mask_idle_timeout, LIVE, 1, 86400, 75,      \
      "seconds a masked connection may stay silent both ways before both "  \
      "ends are closed (nginx's keepalive_timeout is 75)")                  \
    X("mask_max_lifetime", INT, mask_max_lifetime, LIVE, 1, 86400, 900,     \
      "seconds a masked connection may last in all")                        \
    X("mask_max_bytes_up", INT, mask_max_bytes_up, LIVE, 1, 2147483647,     \
      16777216, "bytes a masked client may send to mask_host; past it "     \
      "both ends are closed")                                               \
    X("mask_max_bytes_down", INT, mask_max_bytes_down, LIVE, 1, 2147483647, \
      134217728, "bytes mask_host may send a masked client; past it "       \
      "both ends are closed")                                               \
    X("mask_max_connections", INT, mask_max_connections, LIVE, 1, 1000000,  \
      1024, "masked connections each worker relays at once, apart from "    \
      "max_connections; past it a new one is reset")                        \
    X("mask_proxy_protocol", INT, mask_proxy_protocol, LIVE, 0, 2, 0,       \
      "send a PROXY protocol header (1: v1 text, 2: v2 binary; 0: none) "   \
      "with the client's address first on each connection to mask_host, "  \
      "so its logs show the client, not telemt")                            \
    X("replay_window", INT, replay_window, RESTART, 10, 604800, 600,        \
      "seconds a handshake is remembered; at least twice tls_time_skew")    \
    X("replay_capacity", INT, replay_capacity, RESTART, 1024, 16777216, 65536, \
      "handshakes remembered at most (shared by all workers); the oldest "  \
      "are forgotten first")                                                \
    X("max_handshakes", INT, max_handshakes, LIVE, 1, 1000000, 4096,        \
      "connections each worker keeps in the handshake state; past it the "  \
      "oldest one is masked to make room")                                  \
    X("max_handshakes_per_addr", INT, max_handshakes_per_addr, LIVE, 0,   \
      1000000, 256, "connections one client address (an IPv6 /64 counts "    \
      "as one) keeps in the handshake state, over all workers; past it "    \
      "that address's oldest one is masked if it is over a second old; "    \
      "0 is no limit")                                                      \
    X("search_per_addr", INT, search_per_addr, LIVE, 1, 64, 1,              \
      "searches of every user's secret (for a hello or header its "         \
      "address has not proved before) one client address runs at once, "   \
      "over all workers, once it failed more than 4 times lately; more "    \
      "wait their turn")                                                    \
    X("fail_delay_max", INT, fail_delay_max, LIVE, 0, 60000, 1000,          \
      "the longest wait, in ms, an address's next secret search gets after " \
      "repeated failures (4 are free, then 25 ms doubling, halving every "  \
      "minute); below half of handshake_timeout; unset, at most a quarter " \
      "of it; 0 is no wait")                                                \
    X("prefer_ipv6", BOOL, prefer_ipv6, LIVE, 0, 0, false,                  \
      "try a DC's IPv6 addresses before its IPv4 ones")                     \
    X("fast_mode", BOOL, fast_mode, LIVE, 0, 0, true,                       \
      "let the DC encrypt straight to the client, saving one "              \
      "re-encryption")                                                      \
    X("client_keepalive", INT, client_keepalive, LIVE, 0, 86400, 60,        \
      "TCP keepalive idle time on client sockets once they proved a "       \
      "secret (masked ones never get it), in seconds; 0 is off")            \
    X("client_ack_timeout", INT, client_ack_timeout, LIVE, 0, 86400, 300,   \
      "TCP user timeout on client sockets: drop a client whose data "       \
      "stays unacknowledged this many seconds; 0 is off")                   \
    X("handshake_timeout", INT, handshake_timeout, LIVE, 1, 300, 10,        \
      "seconds a client has to complete its handshake")                     \
    X("relay_idle_timeout", INT, relay_idle_timeout, LIVE, 0, 604800, 1800, \
      "seconds a relayed connection may stay silent both ways before it "   \
      "is closed; 0 is never")                                              \
    X("dc_connect_timeout", INT, dc_connect_timeout, LIVE, 1, 300, 10,      \
      "seconds to wait for a connection to a DC")                           \
    X("default_dc", INT, default_dc, LIVE, 1, 5, 2,                         \
      "DC used when a client asks for one we do not know")                  \
    X("dc_retry_after", INT, dc_retry_after, LIVE, 1, 3600, 30,            \
      "seconds a DC address whose connect failed is tried after the "       \
      "others (doubling with each failure in a row, up to 16 times); "      \
      "then one dial tries it first again, unless dc_probe_interval is on") \
    X("dc_probe_interval", INT, dc_probe_interval, LIVE, 0, 86400, 0,      \
      "seconds between probes (a TCP connect, closed at once) of the DC "   \
      "addresses no client used that long, failed ones included: a "        \
      "probe, not a client, finds a dead address back; 0 is off")           \
    X("dc_overrides", DCLIST, dc_overrides, LIVE, -32768, 32767, "()",      \
      "list of { dc = N; addresses = [\"host:port\", \"[v6]:port\"]; }; "   \
      "replaces the built-in addresses of DC N; N non-zero, no repeats")   \
    X("dc_bind_ipv4", IPV4, dc_bind_ipv4, RESTART, 0, 0, "",                   \
      "source address of outgoing IPv4 connections (DCs, MEs, upstreams); " \
      "\"\" lets the kernel choose")                                        \
    X("dc_bind_ipv6", IPV6, dc_bind_ipv6, RESTART, 0, 0, "",                   \
      "source address of outgoing IPv6 connections; \"\" lets the kernel "  \
      "choose")                                                             \
    X("dc_bind_interface", IFNAME, dc_bind_interface, RESTART, 0, 0, "",    \
      "network interface outgoing connections leave by (SO_BINDTODEVICE);" \
      " checked at start as the workers' user; \"\" = any")                 \
    X("upstreams", UPSTREAMS, upstreams, LIVE, 1, 1000, "()",               \
      "list of { type = \"socks5\"; address = \"host:port\"; weight = N; " \
      "username = \"...\"; password = \"...\"; }: SOCKS5 proxies DC and ME " \
      "connections go through, picked by weight; () = connect directly")   \
    X("use_middle_proxy", BOOL, use_middle_proxy, LIVE, 0, 0, false,        \
      "relay clients through Telegram's middle-end proxies (ME), which "    \
      "ad tags need, instead of straight to the DCs")                       \
    X("ad_tag", ADTAG, ad_tag, LIVE, 0, 0, "",                              \
      "the ad tag from @MTProxybot (32 hex digits) sent with every "        \
      "user's traffic in ME mode unless the user has its own; \"\" = none") \
    X("me_secret_file", PATH, me_secret_file, LIVE, 0, 0, "",               \
      "file holding the ME proxy secret (getProxySecret's bytes)")          \
    X("me_config_file", PATH, me_config_file, LIVE, 0, 0, "",               \
      "file holding the IPv4 ME list (getProxyConfig's proxy-multi.conf)")  \
    X("me_config_v6_file", PATH, me_config_v6_file, LIVE, 0, 0, "",         \
      "file holding the IPv6 ME list (getProxyConfigV6)")                   \
    X("me_secret_url", URL, me_secret_url, LIVE, 0, 0, "",                  \
      "URL to fetch the proxy secret from every me_refresh_interval "       \
      "(https://core.telegram.org/getProxySecret, or a mirror); cached in " \
      "state_dir; used when me_secret_file is \"\"")                        \
    X("me_config_url", URL, me_config_url, LIVE, 0, 0, "",                  \
      "URL of the IPv4 ME list (https://core.telegram.org/getProxyConfig)," \
      " fetched and cached the same way; used when me_config_file is \"\"") \
    X("me_config_v6_url", URL, me_config_v6_url, LIVE, 0, 0, "",            \
      "URL of the IPv6 ME list (https://core.telegram.org/"                 \
      "getProxyConfigV6)")                                                  \
    X("me_refresh_interval", INT, me_refresh_interval, LIVE, 10, 604800,    \
      86400, "seconds between two fetches of the ME URLs (and two reads "   \
      "of the ME files)")                                                   \
    X("me_nat_ipv4", IPV4, me_nat_ipv4, LIVE, 0, 0, "",                     \
      "public IPv4 address of this machine behind a 1:1 NAT, used in the "  \
      "ME key derivation instead of the local address")                     \
    X("me_nat_ipv6", IPV6, me_nat_ipv6, LIVE, 0, 0, "",                     \
      "the same for IPv6")                                                  \
    X("me_min_connections", INT, me_min_connections, LIVE, 1, 64, 2,        \
      "ME connections each worker keeps open per DC cluster once it has "   \
      "served a client of it")                                              \
    X("me_max_connections", INT, me_max_connections, LIVE, 1, 64, 8,        \
      "ME connections each worker opens per cluster at most (one more "     \
      "per 256 clients above the minimum)")                                 \
    X("me_ping_interval", INT, me_ping_interval, LIVE, 0, 3600, 10,         \
      "seconds between pings on an idle ME connection; one silent for "     \
      "three intervals is closed and its clients move; 0 = no pings")       \
    X("me_client_queue_bytes", INT, me_client_queue_bytes, LIVE, 65536,     \
      67108864, 1048576,                                                    \
      "bytes from the ME queued for one client before the proxy stops "     \
      "reading that client's requests; at 16 times this, or over it for "    \
      "me_slow_client_timeout, the client is closed")                       \
    X("me_slow_client_timeout", INT, me_slow_client_timeout, LIVE, 1, 3600, \
      10, "seconds a client may stay over me_client_queue_bytes")           \
    X("me_fallback_direct", BOOL, me_fallback_direct, LIVE, 0, 0, true,     \
      "with no ME reachable for a client's cluster (or no ME list), "       \
      "relay it straight to the DC, without ad tag; false closes it")       \
    X("public_host", ADDR, public_host, LIVE, 0, 0, "",                     \
      "host name or IP address put in tg:// links")                         \
    X("public_port", INT, public_port, LIVE, 0, 65535, 0,                   \
      "port put in tg:// links; 0 means port")                              \
    X("admin_listen", HOSTPORT, admin_listen, LIVE, 0, 0, "127.0.0.1:9091", \
      "address:port of the admin web endpoint (stats page, JSON, "          \
      "Prometheus); bound by the master and held across reloads and "       \
      "upgrades; \"\" turns it off")                                        \
    X("admin_token", TOKEN, admin_token, LIVE, 0, 0, "",                    \
      "if set, requests for data must carry Authorization: Bearer TOKEN "   \
      "(the page itself loads without it); without it /api/v1/users omits " \
      "the links (they hold the secrets); admin_listen on a non-loopback "  \
      "address needs this or admin_whitelist")                              \
    X("admin_whitelist", CIDRLIST, admin_whitelist, LIVE, 0, 64, "[]",      \
      "client networks allowed to reach the admin endpoint (\"10.0.0.0/8\"," \
      " \"2001:db8::/32\"); enforced whenever set")                          \
    X("admin_max_per_ip", INT, admin_max_per_ip, RESTART, 1, 64, 8,         \
      "connections one client address may hold on the admin endpoint at "  \
      "once (of 64 in all); more are closed at accept")                    \
    X("admin_request_timeout", INT, admin_request_timeout, LIVE, 1, 300, 10, \
      "seconds an admin connection gets for each request, from accept (or " \
      "the previous answer) to the end of the answer; sending more does "   \
      "not extend it")                                                      \
    X("log_level", LOGLVL, log_level, LIVE, 0, 0, "info",                   \
      "one of error, warn, info, debug")                                    \
    X("log_file", PATH, log_file, RESTART, 0, 0, "",                        \
      "file to append log lines to (SIGUSR1 reopens it); only a regular "   \
      "file with one link is opened, never through a symbolic link; \"\" "  \
      "means stderr with -f, syslog otherwise")                             \
    X("pidfile", PATH, pidfile, RESTART, 0, 0, "/run/telemt.pid",           \
      "pid file written once the workers run (not with -f), through a "     \
      "new temporary file renamed over it, never through a link; \"\" = "   \
      "none")                                                               \
    X("user", UNAME, user, RESTART, 0, 0, "",                               \
      "user the workers and the admin process run as, when started as "     \
      "root")                                                               \
    X("group", UNAME, group, RESTART, 0, 0, "",                             \
      "group they run as; \"\" means the user's primary group")             \
    X("allow_root", BOOL, allow_root, RESTART, 0, 0, false,                 \
      "let the workers run as root when user is not set")                   \
    X("max_open_files", INT, max_open_files, RESTART, 0, 16777216, 0,       \
      "RLIMIT_NOFILE to raise to (two per client); 0 means the hard limit") \
    X("shutdown_timeout", INT, shutdown_timeout, LIVE, 0, 86400, 30,        \
      "seconds open connections may keep relaying after SIGTERM or an "     \
      "upgrade before they are cut")                                        \
    X("upgrade_drain_timeout", INT, upgrade_drain_timeout, LIVE, 0,         \
      31536000, 0,                                                          \
      "seconds a connection that cannot be handed to the new binary at an " \
      "upgrade (USR2) may keep relaying in the old one; 0 = until it ends") \
    X("reload_drop_removed_users", BOOL, reload_drop_removed_users, LIVE,   \
      0, 0,                                                                 \
      true, "on reload, close the open connections of users that were "     \
      "removed from the config")                                            \
    X("client_mss", INT, client_mss, LIVE, 0, 32767, 0,                     \
      "TCP MSS (TCP_MAXSEG) of the client listening sockets: the largest "  \
      "segment either side sends on a new client connection, for the "      \
      "whole connection; 0 is off (the path's own), else 88..32767; a "     \
      "reload applies it to new connections")                               \
    X("tls_first_flight_segment", INT, tls_first_flight_segment, LIVE, 0,   \
      16384, 0,                                                             \
      "bytes per TCP segment of the fake-TLS answer (ServerHello, "         \
      "ChangeCipherSpec, first ApplicationData): each piece is sent alone " \
      "once the previous one left; the relay after it keeps full-size "     \
      "segments; 0 is off, else 64..16384")

/*
 * Every per-user setting, listed once: the group form of a users entry
 * (bob = { secret = "hex"; max_tcp_conns = 20; };) and user_defaults
 * take these names (Telemt's, so operators moving over recognise them),
 * struct config_user gets one field each, and `telemt --user-fields`
 * prints the README table from here.  0 means "no limit" for every limit.
 *
 * X(name, type, field, min, max, default, help)
 *
 *   type     BOOL    bool field; default true or false
 *            COUNT   int64_t field, an integer min..max (a 64-bit "L"
 *                    literal is accepted where the value needs one)
 *            TIME    int64_t field, unix seconds; written as an RFC 3339
 *                    UTC time "2027-03-01T00:00:00Z"; "" (0) = never
 *            TAG     struct config_ad_tag; "" (inherit), 32 hex digits
 *                    or "direct"
 */
/* stats.h keeps twice as many recent addresses per user (checked). */
#define CONFIG_MAX_UNIQUE_IPS   32
#define CONFIG_USER_FIELDS(X)                                               \
    X("enabled", BOOL, enabled, 0, 0, true,                                 \
      "false refuses the user's new connections and closes open ones "      \
      "within a second")                                                    \
    X("max_tcp_conns", COUNT, max_tcp_conns, 0, 1000000, 0,                 \
      "connections the user may hold at once, across all workers")          \
    X("max_unique_ips", COUNT, max_unique_ips, 0, CONFIG_MAX_UNIQUE_IPS, 0, \
      "distinct client addresses (IPv6 by /64) the user may connect from "  \
      "within unique_ips_window")                                          \
    X("data_quota_bytes", COUNT, data_quota_bytes, 0, INT64_MAX, 0,         \
      "bytes relayed both ways per quota period; past it the user is "      \
      "refused and cut (above 2147483647 write an L suffix: 53687091200L)") \
    X("quota_reset_day", COUNT, quota_reset_day, 0, 28, 0,                  \
      "day of the month (UTC) the quota usage starts again from 0; 0 = "    \
      "never")                                                              \
    X("expiration", TIME, expiration, 0, 0, 0,                              \
      "when the user stops working: refused and cut")                       \
    X("rate_limit_up_bps", COUNT, rate_limit_up_bps, 0, INT64_MAX, 0,      \
      "bytes per second client -> DC, shared by all the user's "            \
      "connections")                                                        \
    X("rate_limit_down_bps", COUNT, rate_limit_down_bps, 0, INT64_MAX, 0,  \
      "bytes per second DC -> client, shared by all the user's "            \
      "connections") \
    X("ad_tag", TAG, ad_tag, 0, 0, 0,                                       \
      "in ME mode (use_middle_proxy): the user's own ad tag (32 hex "       \
      "digits), \"direct\" to relay the user straight to the DCs without "  \
      "one, or \"\" for the global ad_tag")

#endif
