#!/usr/bin/env bash
#
# t_fault_master.sh - kill -9 of the master: nothing is left to stop the
# children, so they must notice on their own (EOF on the death pipe) and
# exit within a second, freeing the port; a new telemt then binds the
# same port and serves.  The streams the dead proxy carried are the ones
# the fault kills; the streams through the new one must all pass.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HT=2                    # handshake_timeout
IT=3                    # relay_idle_timeout

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
admin=$(free_port)
write_config "$cfg" workers=2 handshake_timeout=$HT relay_idle_timeout=$IT \
    dc_connect_timeout=2 admin_listen="127.0.0.1:$admin"
start_telemt "$cfg"
master=$TELEMT_PID
kids=$(descendants "$master")
note "master $master, children: $(tr '\n' ' ' <<<"$kids")"
[ "$(wc -w <<<"$kids")" -ge 3 ] || die "expected 2 workers and the admin"

# Streams that outlive every timeout above (paced ~8 s, never idle), cut
# by the kill at ~5 s.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 800k --rate 100k -n 4 -w 20 >"$TEST_DIR/cut.out" 2>&1 &
cut=$!
PIDS+=("$cut")
sleep 5

kill -KILL "$master"
t0=$(date +%s%N)
left=$kids
for ((i = 0; i < 100; i++)); do
    left=""
    for k in $kids; do
        # A zombie has exited (and freed its sockets): whoever adopted it
        # reaps it in its own time.
        st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$k/stat" \
            2>/dev/null || true)
        [ -n "$st" ] && [ "$st" != Z ] && left+=" $k"
    done
    [ -n "$left" ] || break
    sleep 0.02
done
gone_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$master" 2>/dev/null || true
# Already dead: nothing for the exit trap to stop.
TELEMT_PIDS=()
[ -z "$left" ] || die "children$left still alive ${gone_ms} ms after kill -9"
note "all children gone ${gone_ms} ms after kill -9 of the master"
assert_between "$gone_ms" 0 1000 "ms until the children exited"
port_open "$TELEMT_PORT" && die "port $TELEMT_PORT still accepts connections"
rc=0
wait "$cut" || rc=$?
[ "$rc" != 0 ] || die "streams through the killed proxy did not notice"
cut_failed=$(count_grep "$TEST_DIR/cut.out" '^mtclient: conn [0-9]+ failed')
assert_eq "$cut_failed" 4 "streams the kill cut"

t1=$(date +%s%N)
start_telemt "$cfg"
up_ms=$((($(date +%s%N) - t1) / 1000000))
note "new telemt (pid $TELEMT_PID) serving ${up_ms} ms after start"
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 800k --rate 100k -n 4 -w 20 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 4 -w 10 --loop 8 >"$TEST_DIR/loop.out" 2>&1 &
loop=$!
PIDS+=("$loop")
rc_s=0 rc_l=0
wait "$streams" || rc_s=$?
wait "$loop" || rc_l=$?
note "streams: $(grep '^mtclient: mode=' "$TEST_DIR/streams.out" | tail -n 1)"
failed=$(summary_field "$TEST_DIR/loop.out" failures)
echo "broken streams: $([ "$rc_s" = 0 ] && echo 0 || echo "?") (of 4, new proxy)"
echo "failed connection attempts: ${failed:-?} (of" \
    "$(summary_field "$TEST_DIR/loop.out" iterations), new proxy)"
assert_eq "$rc_s" 0 "streams through the new proxy"
assert_grep "$TEST_DIR/streams.out" "ok=4 failed=0" "new proxy's streams"
assert_eq "${failed:-?}" 0 "failed attempts on the new proxy"
assert_eq "$rc_l" 0 "loop exit status"
echo "fault results: children gone ${gone_ms} ms after kill -9; port free;" \
    "restart serving after ${up_ms} ms; streams cut by the kill:" \
    "$cut_failed of 4; lost on the new proxy: 0"
