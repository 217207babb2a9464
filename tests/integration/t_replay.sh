#!/usr/bin/env bash
#
# t_replay.sh - replay protection.  A proxy with all three modes, two
# workers and masking to nginx: for classic (intermediate), secure
# (padded) and fake TLS, a valid client's first flight (mtclient
# --dump-flight) is sent again on 10 new connections while that client
# runs a long echo.  Every replay must be masked: an obfuscated2 flight
# gets exactly what nginx gives those bytes straight, a replayed hello
# gets nginx's real TLS 1.3 flight (the same records as straight from
# nginx, not our three-record answer); the fake DC sees no connection for
# them, both workers catch some (the table is shared), the original
# client finishes its echo intact, and hs_replay counts them.  Then the
# window: with tls_time_skew = 5 and replay_window = 10, a hello replayed
# at once is a replay, and replayed again 12 s later (its table entry may
# be gone) it is still refused, by its timestamp (hs_stale_time), and
# masked.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

DOMAIN=$NGINX_DOMAIN
REPLAYS=10              # replays per flight
QUICK=2                 # a masked replay is answered within this
SKEW=5                  # the window proxy's tls_time_skew
WINDOW=10               # and its replay_window
ECHO_SECS=4             # how long the original client's echo should run

need_nginx
[ -n "$PY" ] || skip "python3 is not installed"

start_fakedc fakedc
start_nginx nginx

# replay_config FILE [key=value ...]: every mode on, masking to nginx.
replay_config() {
    local file=$1
    shift
    write_config "$file" modes.classic=true modes.secure=true \
        modes.tls=true tls_domain="$DOMAIN" workers=2 handshake_timeout=10 \
        mask=true mask_host=127.0.0.1 mask_port="$NGINX_PORT" "$@"
}

# wait_file FILE: until FILE exists (5 s).
wait_file() {
    local i
    for ((i = 0; i < 50; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    die "$1 did not appear"
}

# tls_records_real RECORDS WHAT: a real TLS 1.3 server flight (ServerHello,
# CCS, several ApplicationData records), not our three-record answer.
tls_records_real() {
    assert_match "$1" '^16/[0-9]+,14/1,17/[0-9]+,17/[0-9]+' "$2"
}

# --- the window proxy, started first so that its 12 s pass meanwhile ------

note "=== window: tls_time_skew=$SKEW replay_window=$WINDOW"
replay_config "$TEST_DIR/window.conf" tls_time_skew=$SKEW \
    replay_window=$WINDOW replay_capacity=1024
start_telemt "$TEST_DIR/window.conf"
W_PID=$TELEMT_PID
W_PORT=$TELEMT_PORT
W_LOG=$TELEMT_LOG
w_hello=$TEST_DIR/window-hello.bin
mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" -t echo -b 65536 \
    --dump-flight "$w_hello"
w_t0=$(date +%s)
assert_eq "$(wc -c <"$w_hello")" 517 "the dumped hello's size"
probe window-direct "$NGINX_PORT" --send-file "$w_hello" --records \
    --quiet 0.2 --timeout 5
w_direct=$PROBE_RECORDS
tls_records_real "$w_direct" "nginx's answer to the hello"
probe window-replay-now "$W_PORT" --send-file "$w_hello" --records \
    --quiet 0.2 --timeout 5
assert_eq "$PROBE_RECORDS" "$w_direct" "hello replayed at once: records"

# --- replays while the original client runs --------------------------------

note "=== replays of classic, secure and fake TLS flights"
replay_config "$TEST_DIR/replay.conf"
start_telemt "$TEST_DIR/replay.conf"

# How many echo bytes take about ECHO_SECS here (sanitizer builds are
# slower), between 16 MiB and 2 GiB.
mtc_ok -s "$ALICE" -m padded -t echo -b 16m
secs=$(sed -nE 's/.* seconds=([0-9.]+).*/\1/p' <<<"$MTC_OUT")
LONG=$(awk -v s="$secs" -v w=$ECHO_SECS 'BEGIN {
    b = 16 * 1048576 * w / (s > 0.001 ? s : 0.001)
    if (b < 16 * 1048576) b = 16 * 1048576
    if (b > 2048 * 1048576) b = 2048 * 1048576
    printf "%d", b }')
note "16 MiB echo took $secs s: the original clients echo $LONG bytes"

replays_sent=0
# replay_flight NAME MTCLIENT_ARGS...: see the header.
replay_flight() {
    local name=$1 flight=$TEST_DIR/$1-flight.bin opid rc=0 mark i tls=0
    local out=$TEST_DIR/$1-orig.out direct_end direct_records=""
    local -a pargs=(--timeout 3)
    shift
    case " $* " in *" --tls "*) tls=1 ;; esac
    [ "$tls" = 0 ] || pargs+=(--records --quiet 0.2)
    note "--- $name: mtclient $* -t echo -b $LONG --dump-flight"
    mark=$(lines "$FAKEDC_LOG")
    "$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" "$@" -t echo -b "$LONG" -w 60 \
        --dump-flight "$flight" >"$out" 2>&1 &
    opid=$!
    PIDS+=("$opid")
    wait_file "$flight"
    wait_since_line "$FAKEDC_LOG" "$mark" '^conn ' ||
        die "$name: the fake DC never saw the original client"
    mark=$(lines "$FAKEDC_LOG")
    note "$name: flight of $(wc -c <"$flight") bytes, first byte" \
        "$(od -An -tx1 -N1 "$flight" | tr -d ' ')"

    probe "$name-direct" "$NGINX_PORT" --send-file "$flight" "${pargs[@]}"
    direct_end=$PROBE_END
    direct_records=$PROBE_RECORDS
    no_date "$PROBE_OUT"
    [ "$tls" = 0 ] || tls_records_real "$direct_records" \
        "$name: nginx's answer to the hello"
    for ((i = 1; i <= REPLAYS; i++)); do
        probe "$name-replay-$i" "$TELEMT_PORT" --send-file "$flight" \
            "${pargs[@]}"
        replays_sent=$((replays_sent + 1))
        if [ "$tls" = 1 ]; then
            assert_eq "$PROBE_RECORDS" "$direct_records" \
                "$name replay $i: TLS records (nginx's, as straight)"
            assert_between "$PROBE_FIRST" 0 "$QUICK" \
                "$name replay $i: seconds to the answer"
        else
            no_date "$PROBE_OUT"
            same_file "$TEST_DIR/$name-direct.bin.nodate" \
                "$PROBE_OUT.nodate" "$name replay $i"
            assert_eq "$PROBE_END" "$direct_end" "$name replay $i: end"
            # (A random header can look like the start of an SSLv2 hello
            # that nginx waits on; then both wait until --timeout.)
            [ "$direct_end" = timeout ] || assert_between "$PROBE_SECS" 0 \
                "$QUICK" "$name replay $i: seconds"
        fi
    done
    if kill -0 "$opid" 2>/dev/null; then
        note "$name: the original client is still running after the replays"
    else
        note "$name: the original client finished before the last replay"
    fi
    wait "$opid" || rc=$?
    cat "$out"
    assert_eq "$rc" 0 "$name: the original client's exit status"
    assert_match "$(cat "$out")" "conns=1 ok=1 failed=0" \
        "$name: the original client"
    sleep 0.2
    [ -z "$(lines_since "$FAKEDC_LOG" "$mark" | grep '^conn ' || true)" ] ||
        die "$name: the fake DC saw a connection for a replay"
}

# wait_since_line FILE MARK ERE: a line after MARK matches within 5 s.
wait_since_line() {
    local i
    for ((i = 0; i < 50; i++)); do
        lines_since "$1" "$2" | grep -Eq -- "$3" && return 0
        sleep 0.1
    done
    return 1
}

replay_flight classic -s "$ALICE" -m intermediate
replay_flight secure -s "$BOB" -m padded
replay_flight tls -s "$ALICE" -m padded --tls "$DOMAIN"

workers=$(grep -E 'handshake refused: replay' "$TELEMT_LOG" |
    sed -nE 's/.* (worker [0-9]+)\[.*/\1/p' | sort -u | wc -l)
note "replays were caught by $workers worker(s)"
assert_eq "$workers" 2 "workers that caught a replay"
stop_telemt
note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
stat_at_least hs_replay "$replays_sent"
stat_at_least mask_relayed "$replays_sent"
assert_eq "$(stat_of hs_ok_classic)" 1 "stats hs_ok_classic"
assert_eq "$(stat_of hs_ok_secure)" 2 "stats hs_ok_secure"
assert_eq "$(stat_of hs_ok_tls)" 1 "stats hs_ok_tls"

# --- the window, continued -------------------------------------------------

left=$((w_t0 + WINDOW + 2 - $(date +%s)))
if [ "$left" -gt 0 ]; then
    note "waiting $left s until the hello is $((WINDOW + 2)) s old"
    sleep "$left"
fi
probe window-replay-late "$W_PORT" --send-file "$w_hello" --records \
    --quiet 0.2 --timeout 5
assert_eq "$PROBE_RECORDS" "$w_direct" \
    "hello replayed after the window: records (masked to nginx)"
# At least WINDOW + 2 s old; more when the flights above ran slowly (a
# loaded CI machine took 33 s).
late=$(sed -nE 's/.*hello time [0-9]+ is -([0-9]+) s from ours.*/\1/p' \
    "$W_LOG" | tail -n 1)
[ -n "$late" ] || die "the late replay: no 'hello time ... from ours' line"
assert_between "$late" $((WINDOW + 1)) 100000 \
    "the late replay refused by its timestamp, its age (s)"
_stop_telemt "$W_PID" || exit 1
note "$(grep -E 'stats: ' "$W_LOG" | tail -n 1)"
assert_eq "$(stat_of hs_ok_tls "$W_LOG")" 1 "window: stats hs_ok_tls"
assert_eq "$(stat_of hs_replay "$W_LOG")" 1 "window: stats hs_replay"
assert_eq "$(stat_of hs_stale_time "$W_LOG")" 1 "window: stats hs_stale_time"
assert_eq "$(stat_of mask_relayed "$W_LOG")" 2 "window: stats mask_relayed"
note "replay protection passed"
