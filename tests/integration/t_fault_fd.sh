#!/usr/bin/env bash
#
# t_fault_fd.sh - descriptors exhausted: with the worker's RLIMIT_NOFILE
# lowered (prlimit) to exactly what its open streams use, accept() fails
# with EMFILE.  The worker must not spin (its CPU over 2 s
# while clients wait in the backlog), must log the condition once, and
# must serve the waiting clients as soon as the streams end and free
# their descriptors.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v prlimit >/dev/null || skip "no prlimit (util-linux)"
HT=2                    # handshake_timeout
IT=3                    # relay_idle_timeout

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=1 handshake_timeout=$HT relay_idle_timeout=$IT \
    dc_connect_timeout=2 log_level=info
start_telemt "$cfg"
# workers=1 and no admin endpoint: the master's only child.
worker=$(pgrep -P "$TELEMT_PID" | head -n 1)
[ -n "$worker" ] || die "cannot find the worker"
note "worker pid $worker"

# Streams that outlive every timeout above (~9 s, paced, never idle).
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 900k --rate 100k -n 3 -w 30 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
for ((i = 0; i < 50; i++)); do
    [ "$(ss -Htn state established "( sport = :$TELEMT_PORT )" |
        wc -l)" -ge 3 ] && break
    sleep 0.1
done
sleep 0.5
# The limit bounds descriptor numbers: at the lowest free one, every new
# descriptor is refused.
nfd=0
while [ -e "/proc/$worker/fd/$nfd" ]; do
    nfd=$((nfd + 1))
done
note "worker's lowest free descriptor with 3 streams is $nfd; limit set there"
# Only the soft limit: the worker may not raise a hard one again.
old_soft=$(prlimit --pid "$worker" --nofile -o SOFT --noheadings | tr -d ' ')
prlimit --pid "$worker" --nofile="$nfd:" || die "prlimit failed"
t_limited=$(date +%s%N)

# Clients that arrive while no descriptor is free: they wait in the
# backlog (the kernel completed their TCP handshake) until the worker can
# accept again: as many as the streams will free room for.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 3 -w 30 >"$TEST_DIR/waiting.out" 2>&1 &
waiting=$!
PIDS+=("$waiting")
wait_grep "$TELEMT_LOG" 'accept \(pausing' 5 ||
    die "the worker never reported EMFILE"

# The worker's CPU while at the limit (utime + stime of all its threads,
# in ticks): its connection threads accept, the 3 paced streams cost ~1%.
ticks() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }
hz=$(getconf CLK_TCK)
c0=$(ticks)
sleep 2
c1=$(ticks)
cpu_pct=$(((c1 - c0) * 100 / (2 * hz)))
note "accept loop at the limit: $((c1 - c0)) ticks in 2 s ($cpu_pct% CPU)"
assert_between "$cpu_pct" 0 10 "CPU % of the accept loop at the limit"

rc_s=0 rc_w=0
wait "$streams" || rc_s=$?
t_freed=$(date +%s%N)
wait "$waiting" || rc_w=$?
t_served=$(date +%s%N)
recovery_ms=$(((t_served - t_freed) / 1000000))
held_ms=$(((t_freed - t_limited) / 1000000))
note "streams: $(grep '^mtclient: mode=' "$TEST_DIR/streams.out")"
note "waiting: $(grep '^mtclient: mode=' "$TEST_DIR/waiting.out")"
assert_eq "$rc_s" 0 "the streams across the limit"
assert_grep "$TEST_DIR/streams.out" "ok=3 failed=0" "streams"
assert_eq "$rc_w" 0 "clients that waited for a descriptor"
assert_grep "$TEST_DIR/waiting.out" "ok=3 failed=0" "waiting clients"
logged=$(count_grep "$TELEMT_LOG" 'accept \(pausing')
note "EMFILE logged $logged time(s) over $held_ms ms at the limit"
assert_eq "$logged" 1 "log lines for one spell of EMFILE"
assert_grep "$TELEMT_LOG" 'accept works again after' "the recovery line"

# Back to normal: a loop of clients, none may fail.
prlimit --pid "$worker" --nofile="$old_soft:" || die "prlimit failed"
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate -t echo \
    -b 16k -n 4 -w 10 --loop 3 >"$TEST_DIR/loop.out" 2>&1 ||
    die "clients failed after the recovery"
failed=$(summary_field "$TEST_DIR/loop.out" failures)
echo "broken streams: 0 (of 3)"
echo "failed connection attempts: ${failed:-?} (of 3 waiting +" \
    "$(summary_field "$TEST_DIR/loop.out" iterations) after)"
assert_alive "$TELEMT_PID" "master"
echo "fault results: EMFILE for $held_ms ms; main thread CPU $cpu_pct%;" \
    "logged $logged time(s); waiting clients served ${recovery_ms} ms" \
    "after descriptors freed; lost: 0"
