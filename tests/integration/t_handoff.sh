#!/usr/bin/env bash
#
# t_handoff.sh - SIGUSR2 hands every live connection to the new binary.
# A daemon (pid file, log_file) with classic, secure and fake TLS on and
# fast mode off (all four ciphers of a relay move) carries, for the whole
# scenario, 500 streams echoing a verified pattern both ways for ~40 s
# (longer than every timeout in the config) and 4 clients connecting in
# a loop.  Ten upgrades in a row alternate two builds (TELEMT_BIN and
# TELEMT_ALT_BIN, which differs in its version string): each old master
# is gone within 2 s of its successor being ready, its workers having
# handed their connections over.  A flight recorded before the upgrades
# is refused as a replay after them (the replay table lives on), and the
# last master's counters count every connection ever made.  Then an
# upgrade to TELEMT_REC2_BIN, whose state record has another version:
# the old master says so and drains instead, and leaves only once its
# streams have ended.  At the end: "failed connection attempts: 0",
# "broken streams: 0", the connections handed over, and the longest
# pause a streaming client saw.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UPGRADES=10
STREAM_BYTES=96k                # at 2.4 KB/s: ~40 s
DOMAIN=www.example.com

# The plain builds when make check made them: the 2-s bound is the
# product's, and the sanitizers make starting and ending 500 threads many
# times dearer (t_upgrade hands connections over under them).
if [ -x "${TELEMT_PLAIN_BIN:-}" ] && [ -x "${TELEMT_PLAIN_ALT_BIN:-}" ] &&
    [ -x "${TELEMT_PLAIN_REC2_BIN:-}" ]; then
    TELEMT_BIN=$TELEMT_PLAIN_BIN
    TELEMT_ALT_BIN=$TELEMT_PLAIN_ALT_BIN
    TELEMT_REC2_BIN=$TELEMT_PLAIN_REC2_BIN
fi
[ -x "${TELEMT_ALT_BIN:-}" ] || die "TELEMT_ALT_BIN is not executable"
[ -x "${TELEMT_REC2_BIN:-}" ] || die "TELEMT_REC2_BIN is not executable"
note "binaries: $TELEMT_BIN, $TELEMT_ALT_BIN, $TELEMT_REC2_BIN"

bindir=$TEST_DIR/bin
bin=$bindir/telemt
mkdir -p "$bindir"
install_bin() {
    cp "$1" "$bindir/.telemt.new"
    chmod 0755 "$bindir/.telemt.new"
    mv -f "$bindir/.telemt.new" "$bin"
}
install_bin "$TELEMT_BIN"

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
pidf=$TEST_DIR/telemt.pid
log=$TEST_DIR/telemt.log
write_config "$cfg" workers=2 pidfile="$pidf" log_file="$log" \
    log_level=info fast_mode=false modes.tls=true tls_domain="$DOMAIN" \
    shutdown_timeout=3 handshake_timeout=3 dc_connect_timeout=3 \
    upgrade_drain_timeout=0 max_connections=2000
port=$(config_port "$cfg")
TELEMT_PORT=$port

timeout 30 "$bin" "$cfg" 2>"$TEST_DIR/daemon.err" ||
    die "the daemon did not start"
cur=$(cat "$pidf")
track "$cur"
DAEMONS+=("$cur")
note "first master $cur"

# stats_field PID NAME: NAME= of master PID's last "stats:" line.
stats_field() {
    grep -E "master\\[$1\\] info: stats: " "$log" | tail -n 1 |
        sed -n "s/.*[ :]$2=\\([0-9]*\\).*/\\1/p"
}

# --- the flight to replay later, and the load --------------------------

flight=$TEST_DIR/flight.bin
mtc_ok -s "$ALICE" -m padded -t echo -b 4096 --dump-flight "$flight"
made=1

stream() {                      # stream NAME N ARGS...: N verified echoes
    local name=$1 n=$2
    shift 2
    "$MTCLIENT" -c "127.0.0.1:$port" -s "$ALICE" -t echo -b "$STREAM_BYTES" \
        --rate 2400 -n "$n" -w 30 "$@" >"$TEST_DIR/$name.out" 2>&1 &
    PIDS+=("$!")
    STREAM_PIDS+=("$!")
}
STREAM_PIDS=()
stream secure 300 -m padded
stream classic 100 -m intermediate
stream tls 100 -m padded --tls "$DOMAIN"
"$MTCLIENT" -c "127.0.0.1:$port" -s "$ALICE" -m intermediate -t echo \
    -b 16k -n 4 -w 10 --loop 30 >"$TEST_DIR/loop.out" 2>&1 &
loop=$!
PIDS+=("$loop")
note "load: 500 streams (300 secure, 100 classic, 100 fake TLS), 4 looping"
sleep 4

# --- ten upgrades in a row ---------------------------------------------

worst_gone=0
for ((k = 1; k <= UPGRADES; k++)); do
    if ((k % 2)); then
        install_bin "$TELEMT_ALT_BIN"
        tag='\+b'
    else
        install_bin "$TELEMT_BIN"
        tag=''
    fi
    old=$cur
    kill -USR2 "$old"
    new=$(new_pid "$pidf" "$old" 10)
    [ -n "$new" ] || die "upgrade $k: no new pid in the pid file in 10 s"
    t_ready=$(date +%s%N)
    track "$new"
    DAEMONS+=("$new")
    for ((i = 0; i < 400; i++)); do
        running "$old" || break
        sleep 0.01
    done
    gone_ms=$((($(date +%s%N) - t_ready) / 1000000))
    running "$old" && die "upgrade $k: the old master $old still runs 4 s" \
        "after its successor was ready"
    assert_grep "$log" "master\\[$new\\] info: telemt [0-9.]*$tag started \\(upgrade\\)" \
        "upgrade $k: the new binary's start line"
    handed=$(grep -E "worker [0-9]\\[[0-9]+\\] info: upgrade: handing" "$log" |
        tail -n 2 | sed -n 's/.*handing \([0-9]*\) .*/\1/p' |
        awk '{ s += $1 } END { print s + 0 }')
    note "upgrade $k: $old -> $new; old gone ${gone_ms} ms after the new" \
        "one was ready; ${handed:-0} connection(s) handed over"
    assert_between "$gone_ms" 0 2000 \
        "upgrade $k: old master gone after its successor was ready (ms)"
    [ "$gone_ms" -gt "$worst_gone" ] && worst_gone=$gone_ms
    cur=$new
done
for p in "${STREAM_PIDS[@]}"; do
    assert_alive "$p" "the streams after $UPGRADES upgrades"
done

# --- the replay table lived on -------------------------------------------

exec 3<>"/dev/tcp/127.0.0.1/$port"
cat "$flight" >&3
timeout 5 cat <&3 >/dev/null || true
exec 3>&-
made=$((made + 1))
mtc_ok -s "$ALICE" -m padded -t echo -b 65536 -n 2
made=$((made + 2))

# --- another state record version: drain instead ---------------------

install_bin "$TELEMT_REC2_BIN"
old=$cur
kill -USR2 "$old"
new=$(new_pid "$pidf" "$old" 10)
[ -n "$new" ] || die "the record-version upgrade did not start"
track "$new"
DAEMONS+=("$new")
wait_grep "$log" "master\\[$old\\] warn: upgrade: the new binary's connection state record has another version; this binary's connections drain here instead until they end" 5 ||
    die "the old master did not say it drains"
assert_grep "$log" "master\\[$old\\] warn: upgrade: state record version [0-9]+ there, [0-9]+ here" \
    "the versions named"
sleep 2
assert_alive "$old" "the old master draining its streams"
mtc_ok -s "$ALICE" -m padded -t echo -b 65536 -n 2
made=$((made + 2))
note "another record version: $old drains while $new serves"

# --- the load ends: count --------------------------------------------------

broken=0 total=0 stall=0
for name in secure classic tls; do
    p=${STREAM_PIDS[0]}
    STREAM_PIDS=("${STREAM_PIDS[@]:1}")
    rc=0
    wait "$p" || rc=$?
    line=$(grep '^mtclient: mode=' "$TEST_DIR/$name.out" | tail -n 1)
    note "$name: $line"
    grep ' failed' "$TEST_DIR/$name.out" | head -n 5 || true
    f=$(summary_field "$TEST_DIR/$name.out" failures)
    s=$(summary_field "$TEST_DIR/$name.out" max_stall_ms)
    n=$(summary_field "$TEST_DIR/$name.out" iterations)
    broken=$((broken + ${f:-1} + (rc != 0)))
    total=$((total + ${n:-0}))
    [ "${s:-0}" -gt "$stall" ] && stall=${s:-0}
done
rc=0
wait "$loop" || rc=$?
failed=$(summary_field "$TEST_DIR/loop.out" failures)
iters=$(summary_field "$TEST_DIR/loop.out" iterations)
made=$((made + total + ${iters:-0}))
for ((i = 0; i < 100; i++)); do
    running "$old" || break
    sleep 0.1
done
running "$old" && die "the draining master $old outlived its streams by 10 s"

echo "failed connection attempts: ${failed:-?} (of ${iters:-?})"
echo "broken streams: $broken (of $total, across $UPGRADES upgrades)"
echo "longest pause seen by a streaming client: ${stall} ms;" \
    "slowest old master: gone ${worst_gone} ms after its successor was ready"
assert_eq "$broken" 0 "broken streams"
assert_eq "$total" 500 "streams"
assert_eq "${failed:-?}" 0 "failed connection attempts"
assert_eq "$rc" 0 "loop client exit status"

# --- stop; the counters span every binary -----------------------------

kill -TERM "$new"
for ((i = 0; i < 100; i++)); do
    running "$new" || break
    sleep 0.1
done
running "$new" && die "the last master ignored SIGTERM"
acc=$(stats_field "$new" conn_accepted)
replays=$(stats_field "$new" hs_replay)
hin=$(stats_field "$new" conn_handed_in)
hout=$(stats_field "$new" conn_handed_out)
hfail=$(stats_field "$new" conn_handoff_failed)
drained=$(grep -E "worker [0-9]\[[0-9]+\] info: upgrade: draining [0-9]+ connection" \
    "$log" | sed -n 's/.*draining \([0-9]*\) .*/\1/p' |
    awk '{ s += $1 } END { print s + 0 }')
echo "connections handed over: $hout out, $hin in, $hfail not" \
    "($drained kept by the old binary of another record version)"
assert_eq "$acc" "$made" "conn_accepted across $((UPGRADES + 1)) upgrades"
assert_eq "$replays" 1 "the flight replayed after the upgrades"
assert_eq "$hin" "$hout" "handed in = handed out"
assert_eq "$hfail" "$drained" "failed hand-overs (the drained ones)"
[ "$drained" -ge 400 ] || die "only $drained connections drained at the" \
    "record-version upgrade"
[ "$hout" -ge $((UPGRADES * 400)) ] ||
    die "only $hout connections handed over in $UPGRADES upgrades"
sanitizer_check "$log" || die "sanitizer report in $log"
