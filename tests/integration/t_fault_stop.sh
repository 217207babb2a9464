#!/usr/bin/env bash
#
# t_fault_stop.sh - one of three workers stopped with SIGSTOP: its pid and
# row look alive, so only its heartbeat in the shared region shows it.
# /healthz must turn 503 "degraded" naming it within a few seconds; the
# streams on the other workers go on; new clients that SO_REUSEPORT hashes
# to the stopped worker's socket wait in its backlog (counted here, not
# hidden), and are served once SIGCONT lets it run again, when /healthz
# is back to 200.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || skip "curl is not installed"
HT=2                    # handshake_timeout
IT=3                    # relay_idle_timeout

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
admin=$(free_port)
write_config "$cfg" workers=3 handshake_timeout=$HT relay_idle_timeout=$IT \
    dc_connect_timeout=2 log_level=info admin_listen="127.0.0.1:$admin"
start_telemt "$cfg"
health() {
    curl -s -o "$TEST_DIR/health.json" -w '%{http_code}' \
        "http://127.0.0.1:$admin/healthz" || true
}
for ((i = 0; i < 50; i++)); do
    [ "$(health)" = 200 ] && break
    sleep 0.1
done
assert_eq "$(health)" 200 "/healthz before the fault"

# Streams that outlive every timeout above (~14 s, paced, never idle).
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 1400k --rate 100k -n 2 -w 40 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
sleep 1
workers=$(listener_pids "$TELEMT_PORT" | grep -vx "$TELEMT_PID" |
    grep -vx "$(admin_pid "$admin" "$TELEMT_PID" || true)" || true)
carriers=$(ss -Htnp state established "( sport = :$TELEMT_PORT )" |
    sed -n 's/.*pid=\([0-9]*\).*/\1/p' | sort -u)
victim=$(grep -vxF "$carriers" <<<"$workers" | head -n 1)
[ -n "$victim" ] || die "no worker without a stream (workers: $workers)"
note "streams on $(tr '\n' ' ' <<<"$carriers"); stopping worker $victim"

kill -STOP "$victim"
t0=$(date +%s%N)
code=""
for ((i = 0; i < 100; i++)); do
    code=$(health)
    [ "$code" = 503 ] && break
    sleep 0.1
done
seen_ms=$((($(date +%s%N) - t0) / 1000000))
note "/healthz: $code after ${seen_ms} ms: $(cat "$TEST_DIR/health.json")"
assert_eq "$code" 503 "/healthz with a stopped worker"
assert_grep "$TEST_DIR/health.json" "\"status\":\"degraded\"" "health status"
assert_grep "$TEST_DIR/health.json" "\"pid\":$victim," "the stale worker named"
assert_between "$seen_ms" 0 6000 "ms until /healthz saw the stale worker"

# New clients while it is stopped: each waits at most 3 s.
rc=0
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 30 -w 3 >"$TEST_DIR/during.out" 2>&1 || rc=$?
ok=$(sed -n 's/^mtclient: mode=.* ok=\([0-9]*\) failed=\([0-9]*\).*/\1/p' \
    "$TEST_DIR/during.out")
stuck=$(sed -n 's/^mtclient: mode=.* ok=\([0-9]*\) failed=\([0-9]*\).*/\2/p' \
    "$TEST_DIR/during.out")
note "while stopped: $ok of 30 new clients served, $stuck left in the" \
    "stopped worker's backlog"
assert_between "$ok" 1 30 "new clients served by the live workers"

# Clients queued on the stopped worker, served after SIGCONT.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 12 -w 20 >"$TEST_DIR/queued.out" 2>&1 &
queued=$!
PIDS+=("$queued")
sleep 1
kill -CONT "$victim"
t1=$(date +%s%N)
rc_q=0
wait "$queued" || rc_q=$?
served_ms=$((($(date +%s%N) - t1) / 1000000))
for ((i = 0; i < 30; i++)); do
    [ "$(health)" = 200 ] && break
    sleep 0.1
done
healthy_ms=$((($(date +%s%N) - t1) / 1000000))
assert_eq "$(health)" 200 "/healthz after SIGCONT"
assert_eq "$rc_q" 0 "clients queued while the worker was stopped"
note "after SIGCONT: queued clients done in ${served_ms} ms, /healthz 200" \
    "after ${healthy_ms} ms"

rc_s=0
wait "$streams" || rc_s=$?
broken=$(summary_field "$TEST_DIR/streams.out" failures)
echo "broken streams: ${broken:-?} (of 2)"
echo "failed connection attempts: ${stuck:-?} (of 30, all hashed to the" \
    "stopped worker)"
assert_eq "$rc_s" 0 "streams on the live workers"
assert_eq "${broken:-?}" 0 "broken streams"
assert_alive "$TELEMT_PID" "master"
echo "fault results: /healthz 503 naming pid $victim after ${seen_ms} ms;" \
    "while stopped $ok/30 new clients served, $stuck waited on its socket;" \
    "after SIGCONT queued clients served in ${served_ms} ms; broken streams: 0"
