#!/usr/bin/env bash
#
# t_ipv6.sh - listen_ipv6: the proxy serves clients on [::1] and on
# 127.0.0.1 at once (one socket per family per worker), and on IPv6 alone.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

have_ipv6 || skip "no IPv6 loopback"
start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" listen_ipv6=::1
start_telemt "$cfg"
for i in 1 2; do
    note "round $i over IPv6 and IPv4"
    out=$("$MTCLIENT" -c "[::1]:$TELEMT_PORT" -s "$ALICE" -m padded \
        -t echo -b 1048576 -n 4 2>&1) || die "IPv6 client: $out"
    mtc_ok -s "$BOB" -m intermediate -t echo -b 1048576 -n 4
done
stop_telemt

write_config "$cfg" listen_ipv4= listen_ipv6=::1
port=$(config_port "$cfg")
"$TELEMT_BIN" -f "$cfg" >"$TEST_DIR/v6only.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for ((i = 0; i < 100; i++)); do
    out=$("$MTCLIENT" -c "[::1]:$port" -s "$ALICE" -m padded -t echo \
        -b 65536 2>&1) && break
    sleep 0.1
done
assert_match "$out" "ok=1 failed=0" "IPv6-only proxy"
stop_pid "$pid" telemt
assert_eq "$STOP_RC" 0 "IPv6-only proxy exit status"
