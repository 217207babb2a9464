#!/usr/bin/env bash
#
# t_fault_thread.sh - thread creation failing: an LD_PRELOAD shim
# (nothread.c, compiled here) makes pthread_create() fail with EAGAIN
# while a flag file exists.  Clients arriving then must be reset (what an
# overloaded server's client sees), counted in conn_refused_thread, logged
# once; the workers survive, the streams already running go on, and
# clients are served again as soon as threads can start.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"   # stat_of

CC=${CC:-cc}
command -v "$CC" >/dev/null || skip "no C compiler for the shim"
"$CC" -shared -fPIC -O2 -o "$TEST_DIR/nothread.so" \
    "$(dirname "${BASH_SOURCE[0]}")/nothread.c" -ldl ||
    die "cannot build the shim"
flag=$TEST_DIR/nothread.flag
export NOTHREAD_FLAG=$flag
# A sanitizer runtime wants to be first; the shim forwards to it.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

HT=2                    # handshake_timeout
IT=3                    # relay_idle_timeout
N=20                    # clients while no thread can start

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=2 handshake_timeout=$HT relay_idle_timeout=$IT \
    dc_connect_timeout=2 log_level=info
LD_PRELOAD=$TEST_DIR/nothread.so start_telemt "$cfg"
workers=$(pgrep -P "$TELEMT_PID" | sort)

# Streams that outlive every timeout above (~10 s, paced, never idle).
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 1m --rate 100k -n 4 -w 30 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
sleep 1

touch "$flag"
t0=$(date +%s%N)
rc=0
# Paced (1 s each), so a thread that serves one stays busy with it and
# does not come back for the next while the others arrive.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k --rate 16k -n "$N" -w 5 >"$TEST_DIR/refused.out" 2>&1 || rc=$?
t1=$(date +%s%N)
refused_ms=$(((t1 - t0) / 1000000))
[ "$rc" != 0 ] || die "clients were served while no thread could start"
nrefused=$(sed -n 's/^mtclient: mode=.* failed=\([0-9]*\).*/\1/p' \
    "$TEST_DIR/refused.out")
note "no threads: $nrefused of $N clients refused in ${refused_ms} ms"
# A worker's thread waiting for clients from before the shim took effect
# serves one (the thread that accepts serves; it fails to start a spare).
assert_between "$nrefused" $((N - 2)) "$N" \
    "clients refused while no thread could start"
# mtclient prints the first ten failures: each must be a reset.
assert_eq "$(grep ' failed: ' "$TEST_DIR/refused.out" | grep -vc 'reset' ||
    true)" 0 "refused clients that saw no reset"
assert_between "$refused_ms" 0 3000 "ms to refuse them (no hanging)"

rm -f "$flag"
t2=$(date +%s%N)
mtc_ok -s "$BOB" -m intermediate -t echo -b 16k -n 4 >/dev/null
back_ms=$((($(date +%s%N) - t2) / 1000000))
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 4 -w 10 --loop 3 >"$TEST_DIR/loop.out" 2>&1 ||
    die "clients failed after threads could start again"

rc_s=0
wait "$streams" || rc_s=$?
broken=$(summary_field "$TEST_DIR/streams.out" failures)
failed=$(summary_field "$TEST_DIR/loop.out" failures)
echo "broken streams: ${broken:-?} (of 4)"
echo "failed connection attempts: ${failed:-?} (of" \
    "$(summary_field "$TEST_DIR/loop.out" iterations) after; $N refused" \
    "by the fault)"
assert_eq "$rc_s" 0 "streams across the fault"
assert_eq "${broken:-?}" 0 "broken streams"
assert_eq "$(pgrep -P "$TELEMT_PID" | sort | tr '\n' ' ')" \
    "$(tr '\n' ' ' <<<"$workers")" "workers (same pids: none died)"
logged=$(count_grep "$TELEMT_LOG" 'cannot start a connection thread')
assert_between "$logged" 1 2 "log lines for the refusals (once per worker)"
stop_telemt
assert_eq "$(stat_of conn_refused_thread)" "$nrefused" "conn_refused_thread"
echo "fault results: $N clients reset in ${refused_ms} ms and counted," \
    "logged $logged time(s); served again ${back_ms} ms after threads" \
    "could start; workers survived; broken streams: 0"
