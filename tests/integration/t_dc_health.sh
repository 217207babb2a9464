#!/usr/bin/env bash
#
# t_dc_health.sh - DC address health: DC 2 has two addresses, fake DC A
# (listed first) and fake DC B.  A is black-holed with nftables in the
# scenario's network namespace (its SYNs dropped, so a connect hangs
# until dc_connect_timeout, no RST).  The first client may pay that
# timeout; after it, new clients of both workers go straight to B (A's
# failures stay where they were), and the JSON and /metrics show A down.
# Then A comes back: once dc_retry_after has passed one dial tries it
# again and it is up and used.  Second run with dc_probe_interval: a
# probe, not a client, finds A back, and no client's dial tries A while
# it is down.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "${TELEMT_IN_NETNS:-}" = 1 ] || skip "needs run.sh's private network namespace"
command -v nft >/dev/null || {
    [ -z "${CI:-}" ] || die "nft (Debian: nftables) is required when CI is set"
    skip "nft is not installed"
}
command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}

CT=2                    # dc_connect_timeout
# dc_retry_after: the clients that must all skip A run well within it
RA=10
TOKEN=t_dc_health-token-0123456789abcdef
NFT_TABLE=telemt_dc_health

start_fakedc fakedc_b
B_PORT=$FAKEDC_PORT
B_LOG=$FAKEDC_LOG
start_fakedc fakedc_a
A_PORT=$FAKEDC_PORT
A_LOG=$FAKEDC_LOG
A=127.0.0.1:$A_PORT
B=127.0.0.1:$B_PORT

# blackhole / unblackhole: drop (or stop dropping) the SYNs to A.
blackhole() {
    if ! { nft add table inet "$NFT_TABLE" &&
        nft add chain inet "$NFT_TABLE" out \
            '{ type filter hook output priority 0; policy accept; }' &&
        nft add rule inet "$NFT_TABLE" out ip daddr 127.0.0.1 \
            tcp dport "$A_PORT" 'tcp flags & (syn | ack) == syn' drop; }; then
        die "cannot black-hole $A with nft"
    fi
    note "black-holed $A"
}
unblackhole() {
    nft delete table inet "$NFT_TABLE" || die "cannot remove the nft table"
    note "$A answers again"
}
trap 'rc=$?; nft delete table inet "$NFT_TABLE" 2>/dev/null || true;
    (exit $rc); _lib_on_exit' EXIT

# http PATH OUTFILE: GET from the admin endpoint, must answer 200.
http() {
    local code
    code=$(curl -sS -o "$2" -w '%{http_code}' --max-time 10 \
        -H "Authorization: Bearer $TOKEN" "$ADMIN$1") ||
        die "curl GET $1 failed"
    assert_eq "$code" 200 "GET $1 status"
}

# addr FIELD [ADDR]: FIELD of ADDR's (default A) entry in dc_addrs.
addr() {
    http /api/v1/stats "$TEST_DIR/stats.json"
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
e = [a for a in d["dc_addrs"] if a["addr"] == sys.argv[3]]
v = e[0][sys.argv[2]] if e else "absent"
print(json.dumps(v) if isinstance(v, (bool, type(None))) else v)' \
        "$TEST_DIR/stats.json" "$1" "${2:-$A}"
}

# counter NAME: a process-wide counter from the JSON.
counter() {
    http /api/v1/stats "$TEST_DIR/stats.json"
    "$PY" -c 'import json, sys
print(json.load(open(sys.argv[1]))["counters"][sys.argv[2]])' \
        "$TEST_DIR/stats.json" "$1"
}

# wait_addr FIELD VALUE SECONDS [ADDR]: poll until it holds.
wait_addr() {
    local i v
    for ((i = 0; i < $3 * 5; i++)); do
        v=$(addr "$1" "${4:-}")
        [ "$v" = "$2" ] && return 0
        sleep 0.2
    done
    die "${4:-$A} $1 is '$v', not '$2', after $3 s"
}

# conns LOG: connections a fake DC accepted (probes included).
conns() {
    count_grep "$1" '^(conn|drop) '
}

# client: one echo client of DC 2; its seconds in CLIENT_S.
client() {
    local t0 t1
    t0=$(date +%s.%N)
    mtc -w 20 -s "$ALICE" -m intermediate -d 2 -n 1 -t echo -b 4096 \
        >/dev/null || die "a DC 2 client failed: $MTC_OUT"
    t1=$(date +%s.%N)
    CLIENT_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

# run_proxy [key=value ...]: a fresh proxy, DC 2 (and -2) at A then B.
run_proxy() {
    APORT=$(free_port)
    ADMIN=http://127.0.0.1:$APORT
    write_config "$TEST_DIR/telemt.conf" workers=2 \
        dc_connect_timeout=$CT dc_retry_after=$RA log_level=info \
        admin_listen="127.0.0.1:$APORT" admin_token="$TOKEN" \
        dc_overrides="( $(dc_override 2 "$A" "$B"),
        $(dc_override -2 "$A" "$B") )" "$@"
    start_telemt "$TEST_DIR/telemt.conf"
    for ((i = 0; i < 100; i++)); do
        port_open "$APORT" && break
        sleep 0.1
    done
    port_open "$APORT" || die "the admin endpoint is not listening"
}

# --- without probes: a client's trial finds A back ---------------------

run_proxy
note "both up: the first listed address, A, serves"
client
assert_eq "$(conns "$A_LOG")" 1 "connections A saw"
assert_eq "$(addr state)" up "A's state"

blackhole
client
note "first client with A black-holed: $CLIENT_S s"
wait_addr state down 10
assert_eq "$(addr failures_in_row)" 1 "A's failures in a row"
fails=$(addr failures)
b_before=$(conns "$B_LOG")
t0=$(date +%s)
for ((k = 0; k < 8; k++)); do
    client
    note "client $k: $CLIENT_S s"
done
t1=$(date +%s)
# A stays down (last in the order) until a dial tries it again, so the
# checks below see it down though it answers from here on.
unblackhole
assert_eq "$(addr failures)" "$fails" \
    "A's failures after 8 more clients (none tried it)"
assert_eq "$(($(conns "$B_LOG") - b_before))" 8 "clients B served"
assert_between $((t1 - t0)) 0 $((8 * CT - 1)) \
    "seconds for 8 clients that skip A"
[ "$(counter dc_addr_demoted)" -ge 8 ] ||
    die "dc_addr_demoted is $(counter dc_addr_demoted), not >= 8"
http /metrics "$TEST_DIR/metrics"
assert_grep "$TEST_DIR/metrics" \
    "^telemt_dc_addr_up{dc=\"2\",addr=\"$A\"} 0\$" "A down in /metrics"
assert_grep "$TEST_DIR/metrics" \
    "^telemt_dc_addr_up{dc=\"2\",addr=\"$B\"} 1\$" "B up in /metrics"
assert_grep "$TEST_DIR/metrics" \
    "^telemt_dc_addr_failures_total{dc=\"2\",addr=\"$A\"} $fails\$" \
    "A's failures in /metrics"
assert_grep "$TEST_DIR/metrics" \
    "^telemt_dc_addr_connect_seconds{dc=\"2\",addr=\"$B\"} 0\.[0-9]*\$" \
    "B's last connect time in /metrics"
if command -v promtool >/dev/null; then
    promtool check metrics <"$TEST_DIR/metrics" ||
        die "promtool check metrics failed"
fi
http / "$TEST_DIR/page.html"
assert_grep "$TEST_DIR/page.html" 'id="dc-addrs"' "the page's DC address table"

assert_eq "$(addr state)" down "A's state before a dial tries it"
a_before=$(conns "$A_LOG")
note "A back: clients until one tries it (dc_retry_after=$RA)"
for ((k = 0; k < 60; k++)); do
    client
    [ "$(conns "$A_LOG")" -gt "$a_before" ] && break
    sleep 0.5
done
[ "$(conns "$A_LOG")" -gt "$a_before" ] ||
    die "A was not used again after it came back"
note "A used again after $k client(s)"
wait_addr state up 10
assert_eq "$(addr failures_in_row)" 0 "A's failures in a row when back"
# One line each way (in whichever worker saw the change).
assert_eq "$(count_grep "$TELEMT_LOG" "address $A down")" 1 "'down' lines"
assert_eq "$(count_grep "$TELEMT_LOG" "address $A answers again")" 1 \
    "'answers again' lines"
stop_telemt

# --- with probes: a probe finds A back, clients never try it ------------

run_proxy dc_probe_interval=1
client
blackhole
client
wait_addr state down 10
note "A down; clients while probes try it"
c0=$(counter dc_addr_failed)
for ((k = 0; k < 4; k++)); do
    client
    sleep 1
done
assert_eq "$(counter dc_addr_failed)" "$c0" \
    "client dials that failed on A while it was down (probes on)"
[ "$(counter dc_probes_failed)" -ge 1 ] ||
    die "no probe of the black-holed A failed"
a_before=$(conns "$A_LOG")
unblackhole
wait_addr state up 20
[ "$(addr probes)" -ge 2 ] || die "A's probes: $(addr probes)"
[ "$(counter dc_probes_ok)" -ge 1 ] || die "no probe succeeded"
[ "$(conns "$A_LOG")" -gt "$a_before" ] || die "A saw no probe"
assert_grep "$TELEMT_LOG" "address $A answers again to a probe" \
    "the probe's log line"
note "a probe found A back before any client tried it"
stop_telemt
sanitizer_check "$TELEMT_LOG" || die "sanitizer report in the telemt log"
note "ok"
