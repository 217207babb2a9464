#!/usr/bin/env bash
#
# t_client_mss.sh - the TCP segments a fake-TLS client and telemt
# exchange, as tcpdump sees them on loopback, under client_mss and
# tls_first_flight_segment.  lo gets an Ethernet MTU (1500) and no GSO
# (gso_max_segs 1), so every captured packet is one segment and a full
# one carries 1448 bytes; both are put back at the end.  Each case runs
# one mtclient --tls connection (an 1800-byte hello, then 1 MiB DC ->
# client) under its own capture:
#   - neither knob: the answer leaves in full-size segments (the baseline
#     that shows the checks below can fail);
#   - a reload from off to client_mss = 300 applies to the next
#     connection (the key is LIVE): every segment of both sides <= 300;
#     and one back to off gives full-size segments again;
#   - client_mss = 536: every segment either side sends is at most 536
#     bytes, the client's hello included (the SYN-ACK carried the MSS);
#   - tls_first_flight_segment = 200, with lo rate-limited (tbf, 20
#     Mbit/s) so that segments wait in its queue as on a real link: the
#     answer leaves in segments of at most 200 bytes that add up to the
#     whole answer, then the relayed data in full-size ones (without the
#     wait for each piece to leave, the queued pieces merge: measured);
#     then 50 such clients at once.
# The network namespace is run.sh's; the scenario changes lo only there.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOMAIN=www.example.com
BYTES=1048576
FULL=1448               # 1500 - 20 (IPv4) - 20 (TCP) - 12 (timestamps)

[ -n "${TELEMT_IN_NETNS:-}" ] ||
    skip "changes lo's MTU: only inside run.sh's network namespace"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"

lo_mtu=$(ip -d link show lo | sed -n 's/.* mtu \([0-9]*\) .*/\1/p' |
    head -n 1)
lo_segs=$(ip -d link show lo | sed -n 's/.* gso_max_segs \([0-9]*\).*/\1/p' |
    head -n 1)
{ [ -n "$lo_mtu" ] && [ -n "$lo_segs" ]; } || die "cannot read lo's mtu and gso"
restore_lo() {
    tc qdisc del dev lo root 2>/dev/null || true
    ip link set lo mtu "$lo_mtu" gso_max_segs "$lo_segs" || true
}
trap 'rc=$?; restore_lo; (exit "$rc"); _lib_on_exit' EXIT
ip link set lo mtu 1500 gso_max_segs 1 ||
    skip "cannot set lo's mtu and gso_max_segs"

start_fakedc fakedc

# capture NAME MTCLIENT_ARGS...: one fake-TLS source client under tcpdump
# (port $TELEMT_PORT); the packets go to $TEST_DIR/NAME.txt, one line
# each: "S LEN" from the proxy, "C LEN" from the client (payload only).
# Sets ANSWER_LEN from the client's --print-answer.
capture() {
    local name=$1 pcap=$TEST_DIR/$1.pcap pid
    shift
    tcpdump --immediate-mode -U -Z root -i lo -n -s 96 -w "$pcap" \
        "tcp port $TELEMT_PORT" 2>"$TEST_DIR/$name.tcpdump" &
    pid=$!
    PIDS+=("$pid")
    wait_grep "$TEST_DIR/$name.tcpdump" 'listening on' 10 ||
        die "tcpdump did not start: $(cat "$TEST_DIR/$name.tcpdump")"
    mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" --hello-size 1800 \
        --print-answer -t source -b "$BYTES" "$@"
    ANSWER_LEN=$(sed -nE 's/.* answer_len=([0-9]+) .*/\1/p' <<<"$MTC_OUT")
    [ -n "$ANSWER_LEN" ] || die "$name: mtclient printed no answer_len"
    # The last packets (FIN, ACK) reach the capture within a moment.
    sleep 0.5
    kill -INT "$pid"
    wait "$pid" || true
    # "TIME IP 127.0.0.1.SPORT > 127.0.0.1.DPORT: Flags [...], ... length N"
    tcpdump -n -r "$pcap" 2>/dev/null | awk -v port="$TELEMT_PORT" '
        $2 == "IP" && $(NF - 1) == "length" && $NF + 0 > 0 {
            k = split($3, a, ".")
            print (a[k] == port ? "S" : "C"), $NF + 0
        }' >"$TEST_DIR/$name.txt"
    [ -s "$TEST_DIR/$name.txt" ] || die "$name: tcpdump captured nothing"
}

# stat_seg NAME WHO FIELD: over the segments from WHO (S or C) of the
# capture NAME: max, count or sum of their payload sizes; phase "first"
# (the proxy's segments before the client's first byte after its hello,
# i.e. the answer) or "rest" (the proxy's after it), WHO = S only.
seg() {
    local name=$1 who=$2 what=$3 phase=${4:-all}
    awk -v who="$who" -v what="$what" -v phase="$phase" \
        -v hello=1800 '
        $1 == "C" { cbytes += $2; if (cbytes > hello) after = 1 }
        $1 == who {
            if (phase == "first" && after) next
            if (phase == "rest" && !after) next
            n++; s += $2; if ($2 > m) m = $2
        }
        END { print (what == "max" ? m : what == "count" ? n : s) + 0 }' \
        "$TEST_DIR/$name.txt"
}

tls_config() {
    local file=$1
    shift
    write_config "$file" modes.classic=false modes.secure=false \
        modes.tls=true tls_domain="$DOMAIN" mask=false "$@"
}

note "=== neither knob: full-size segments"
tls_config "$TEST_DIR/off.conf"
start_telemt "$TEST_DIR/off.conf"
capture off
note "answer $ANSWER_LEN bytes in $(seg off S count first) segments," \
    "largest $(seg off S max first); client's largest $(seg off C max)"
assert_eq "$(seg off S max first)" "$FULL" "largest answer segment, off"
assert_eq "$(seg off C max)" "$FULL" "largest client segment, off"
assert_eq "$(seg off S sum first)" "$ANSWER_LEN" "answer bytes, off"

note "=== a reload to client_mss = 300 applies to the next connection"
tls_config "$TEST_DIR/off.conf" port="$TELEMT_PORT" client_mss=300
mark=$(lines "$TELEMT_LOG")
kill -HUP "$TELEMT_PID"
wait_grep_since() {
    local i
    for ((i = 0; i < 100; i++)); do
        lines_since "$TELEMT_LOG" "$mark" | grep -Eq -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
wait_grep_since 'client_mss 300 on [0-9]+ listening sockets' ||
    die "no 'client_mss 300' line after the reload"
capture reload
note "largest segment: proxy $(seg reload S max), client $(seg reload C max)"
assert_between "$(seg reload S max)" 1 300 "proxy segments after the reload"
assert_between "$(seg reload C max)" 1 300 "client segments after the reload"
note "=== and a reload back to off"
tls_config "$TEST_DIR/off.conf" port="$TELEMT_PORT"
mark=$(lines "$TELEMT_LOG")
kill -HUP "$TELEMT_PID"
wait_grep_since 'client_mss off on [0-9]+ listening sockets' ||
    die "no 'client_mss off' line after the reload"
capture reload-off
assert_eq "$(seg reload-off S max)" "$FULL" "largest proxy segment, off again"
assert_eq "$(seg reload-off C max)" "$FULL" "largest client segment, off again"
stop_telemt

note "=== client_mss = 536"
tls_config "$TEST_DIR/mss.conf" client_mss=536
start_telemt "$TEST_DIR/mss.conf"
assert_grep "$TELEMT_LOG" 'client_mss 536 on [0-9]+ listening sockets' \
    "the master's client_mss line"
capture mss
note "answer $ANSWER_LEN bytes in $(seg mss S count first) segments;" \
    "largest segment: proxy $(seg mss S max), client $(seg mss C max)"
assert_between "$(seg mss S max)" 400 536 "largest proxy segment, client_mss"
assert_between "$(seg mss C max)" 400 536 \
    "largest client segment (the hello's), client_mss"
assert_eq "$(seg mss S sum first)" "$ANSWER_LEN" "answer bytes, client_mss"
stop_telemt

note "=== tls_first_flight_segment = 200"
# A rate limit on lo holds segments in its queue, as a real link does:
# a piece written before the one ahead of it left would be merged with it.
command -v tc >/dev/null || skip "tc is not installed"
tc qdisc replace dev lo root tbf rate 20mbit burst 3000 latency 500ms ||
    skip "no tbf queueing discipline for lo"
tls_config "$TEST_DIR/split.conf" tls_first_flight_segment=200
start_telemt "$TEST_DIR/split.conf"
capture split
n=$(seg split S count first)
note "answer $ANSWER_LEN bytes in $n segments, largest" \
    "$(seg split S max first); then $(seg split S count rest) segments," \
    "largest $(seg split S max rest)"
assert_eq "$(seg split S max first)" 200 "largest answer segment, split"
assert_eq "$(seg split S sum first)" "$ANSWER_LEN" "answer bytes, split"
assert_eq "$n" "$(((ANSWER_LEN + 199) / 200))" "answer segments, split"
assert_eq "$(seg split S max rest)" "$FULL" \
    "largest data-phase segment, split"
assert_eq "$(seg split C max)" "$FULL" "largest client segment, split"
note "50 clients at once through the split answer"
mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" -t echo -b 65536 -n 50 -w 60
assert_match "$MTC_OUT" "conns=50 ok=50 failed=0" "50 clients, split"
assert_alive "$TELEMT_PID" "telemt after the split answers"
stop_telemt
note "client_mss and tls_first_flight_segment passed"
