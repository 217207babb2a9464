#!/usr/bin/env bash
#
# t_fault_dc.sh - a DC that fails in the three ways a network fails:
# refusing (nothing listens on its port), black-holed (SYNs silently
# dropped: a route sends them to lo, where a non-local address is neither
# accepted nor forwarded, so nothing ever answers) and resetting mid-stream
# (resetdc.py sends an RST after N bytes).  Each client of such a DC is
# closed and counted, the proxy does not crash, and streams to a healthy DC
# that outlive every timeout in the config go on unharmed throughout.
# A dead DC fails every client: the log gets a few lines, not one each.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"   # stat_of

[ "${TELEMT_IN_NETNS:-}" = 1 ] || skip "needs run.sh's private network namespace"

CT=2                    # dc_connect_timeout
HT=2                    # handshake_timeout
IT=4                    # relay_idle_timeout
BH=10.99.0.2            # the black-holed DC
ip route add "$BH/32" dev lo || die "cannot add the black-hole route"

start_fakedc fakedc
refused_port=$(free_port)
reset_port=$(free_port)
"$PY" "$(dirname "${BASH_SOURCE[0]}")/resetdc.py" "$reset_port" 3000 \
    >"$TEST_DIR/resetdc.out" 2>&1 &
PIDS+=("$!")
wait_grep "$TEST_DIR/resetdc.out" '^listening' 5 || die "resetdc.py did not start"

cfg=$TEST_DIR/telemt.conf
write_config "$cfg" dc_connect_timeout=$CT handshake_timeout=$HT \
    relay_idle_timeout=$IT log_level=info \
    dc_overrides="( $(dc_override 2 "127.0.0.1:$FAKEDC_PORT"),
    $(dc_override 3 "127.0.0.1:$refused_port"),
    $(dc_override 4 "$BH:443"),
    $(dc_override 5 "127.0.0.1:$reset_port") )"
start_telemt "$cfg"

# Healthy traffic all along: paced streams of ~14 s (longer than every
# timeout above) with idle pauses longer than none of them fires on, and
# short clients in a loop.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo -d 2 \
    -b 1400k --rate 100k -n 4 -w 30 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -d 2 -b 16k -n 4 -w 10 --loop 14 >"$TEST_DIR/loop.out" 2>&1 &
loop=$!
PIDS+=("$loop")

note "DC 3 refusing: 20 clients"
t0=$(date +%s.%N)
mtc --expect-close -w 10 -s "$ALICE" -m abridged -d 3 -n 20 -t echo \
    -b 1024 >/dev/null || die "refusing DC: clients were not closed: $MTC_OUT"
t1=$(date +%s.%N)
refused_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
note "refusing DC: 20 clients closed in $refused_s s"
assert_between "${refused_s%.*}" 0 3 "seconds for 20 refused dials"

note "DC 4 black-holed: 4 clients, dc_connect_timeout=$CT"
t0=$(date +%s.%N)
mtc --expect-close -w 15 -s "$ALICE" -m intermediate -d 4 -n 4 -t echo \
    -b 1024 >/dev/null || die "black-holed DC: clients not closed: $MTC_OUT"
t1=$(date +%s.%N)
bh_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
note "black-holed DC: clients closed after $bh_s s"
assert_between "${bh_s%.*}" $((CT - 1)) $((CT + 3)) \
    "seconds until a black-holed dial gave up"

note "DC 5 resetting after 3000 bytes: 10 clients"
rc=0
mtc -w 10 -s "$BOB" -m padded -d 5 -n 10 -t echo -b 64k >/dev/null || rc=$?
[ "$rc" != 0 ] || die "clients of a resetting DC all succeeded"
for ((i = 0; i < 50; i++)); do
    resets=$(count_grep "$TEST_DIR/resetdc.out" '^reset after')
    [ "$resets" -lt 10 ] || break
    sleep 0.1
done
note "resetting DC: $resets connection(s) reset"
assert_between "$resets" 10 10 "connections the resetting DC reset"

rc_s=0 rc_l=0
wait "$streams" || rc_s=$?
wait "$loop" || rc_l=$?
note "streams: $(grep '^mtclient: mode=' "$TEST_DIR/streams.out" | tail -n 1)"
note "loop:    $(grep '^mtclient: mode=' "$TEST_DIR/loop.out" | tail -n 1)"
broken=$(summary_field "$TEST_DIR/streams.out" failures)
failed=$(summary_field "$TEST_DIR/loop.out" failures)
echo "broken streams: $broken (of 4)"
echo "failed connection attempts: ${failed:-?} (of $(summary_field \
    "$TEST_DIR/loop.out" iterations))"
assert_eq "$rc_s" 0 "healthy streams exit status"
assert_grep "$TEST_DIR/streams.out" "ok=4 failed=0" "healthy streams"
assert_eq "${broken:-?}" 0 "broken healthy streams"
assert_eq "${failed:-?}" 0 "failed healthy connection attempts"
assert_eq "$rc_l" 0 "healthy loop exit status"

assert_alive "$TELEMT_PID" "master"
warns=$(count_grep "$TELEMT_LOG" 'cannot reach DC')
warns3=$(count_grep "$TELEMT_LOG" 'cannot reach DC 3 ')
warns4=$(count_grep "$TELEMT_LOG" 'cannot reach DC 4 ')
stop_telemt
fails=$(stat_of dc_connect_fail)
note "dc_connect_fail=$fails; 'cannot reach DC' log lines: $warns"
assert_between "$fails" 24 24 "dc_connect_fail (20 refused + 4 black-holed)"
# CONN_LOG_BURST (worker/conn.h) lines a minute for each DC in each of
# the 2 workers: DC 3's 20 failures are cut short, DC 4's 4 all shown.
assert_between "$warns3" 1 $((2 * 5)) "'cannot reach DC 3' log lines"
assert_eq "$warns4" 4 "'cannot reach DC 4' log lines"
echo "fault results: refusing: 20 closed in ${refused_s}s; black-holed:" \
    "closed after ${bh_s}s; resetting: $resets reset; lost healthy: 0;" \
    "log lines for 24 failed dials: $warns"
