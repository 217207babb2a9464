#!/usr/bin/env bash
#
# t_fault_log.sh - log_file on a full filesystem: a 256 KB tmpfs, mounted
# in a private mount namespace, filled to the last block.  The proxy must
# keep serving (streams that outlive every timeout, a loop of clients),
# not spin or crash, and, once space is freed, log again, starting with a
# note of how many lines the full disk swallowed.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
if [ "${TELEMT_IN_MNTNS:-}" != 1 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
        ! unshare -m --propagation private true 2>/dev/null; then
        echo "SKIP: needs root and unshare -m"
        exit 77
    fi
    exec unshare -m --propagation private env TELEMT_IN_MNTNS=1 \
        bash "${BASH_SOURCE[0]}" "$@"
fi
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HT=2                    # handshake_timeout
IT=3                    # relay_idle_timeout

fs=$TEST_DIR/logfs
mkdir -p "$fs"
mount -t tmpfs -o size=256k tmpfs "$fs" || die "cannot mount a tmpfs"
log=$fs/telemt.log

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=2 handshake_timeout=$HT relay_idle_timeout=$IT \
    dc_connect_timeout=2 log_level=debug log_file="$log"
start_telemt "$cfg"
wait_grep "$log" 'started' 5 || die "nothing logged to $log"

# Fill the filesystem: what is left after this is not one block.
dd if=/dev/zero of="$fs/fill" bs=4k 2>/dev/null || true
dd if=/dev/zero of="$fs/fill2" bs=1 2>/dev/null || true
size_full=$(stat -c %s "$log")
note "log file $size_full bytes, filesystem full: $(df -h "$fs" | tail -n 1)"

# Streams that outlive every timeout above (~8 s, paced, never idle), and
# short clients in a loop, each of them logging debug lines into the void.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 800k --rate 100k -n 4 -w 30 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 4 -w 10 --loop 8 >"$TEST_DIR/loop.out" 2>&1 &
loop=$!
PIDS+=("$loop")

# Not spinning: the proxy's CPU over 2 s, every thread of every process,
# against the clients' (the load itself costs CPU; a spinning logger would
# cost a whole core).
hz=$(getconf CLK_TCK)
pticks() {
    local p t=0
    for p in $TELEMT_PID $(pgrep -P "$TELEMT_PID"); do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}
sleep 1
c0=$(pticks)
sleep 2
c1=$(pticks)
cpu_pct=$(((c1 - c0) * 100 / (2 * hz)))
note "proxy CPU while the log disk is full: $cpu_pct% (2 cores)"
assert_between "$cpu_pct" 0 150 "proxy CPU % with a full log disk"

rc_s=0 rc_l=0
wait "$streams" || rc_s=$?
wait "$loop" || rc_l=$?
size_after=$(stat -c %s "$log")
note "log file $size_after bytes after the load (was $size_full)"
assert_alive "$TELEMT_PID" "master"
failed=$(summary_field "$TEST_DIR/loop.out" failures)
broken=$(summary_field "$TEST_DIR/streams.out" failures)
echo "broken streams: ${broken:-?} (of 4)"
echo "failed connection attempts: ${failed:-?} (of" \
    "$(summary_field "$TEST_DIR/loop.out" iterations))"
assert_eq "$rc_s" 0 "streams with the log disk full"
assert_eq "${broken:-?}" 0 "broken streams"
assert_eq "$rc_l" 0 "loop with the log disk full"
assert_eq "${failed:-?}" 0 "failed attempts"

rm -f "$fs/fill" "$fs/fill2"
t0=$(date +%s%N)
mtc_ok -s "$ALICE" -m abridged -t echo -b 4096 -n 2 >/dev/null
wait_grep "$log" 'log line\(s\) lost: No space left on device' 5 ||
    die "no 'lines lost' note after space was freed"
back_ms=$((($(date +%s%N) - t0) / 1000000))
lost=$(grep -Eo '[0-9]+ log line\(s\) lost' "$log" |
    awk '{ s += $1 } END { print s + 0 }')
note "logging again ${back_ms} ms after space was freed; lost lines: $lost"
assert_between "$lost" 1 100000000 "lines counted as lost"
tail -n 3 "$log"
stop_telemt
echo "fault results: full log disk: served 4 streams + $(summary_field \
    "$TEST_DIR/loop.out" iterations) clients, none lost; CPU $cpu_pct%;" \
    "logging again ${back_ms} ms after space freed, $lost lines reported lost"
