#!/usr/bin/env bash
#
# t_respawn.sh - the master respawns a worker that dies: kill -9 one
# worker while another client streams through the other; the stream is
# unaffected, a new worker appears on the same slot, and clients keep
# being served on the port (the master kept the slot's socket).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=2
start_telemt "$cfg"

workers() { pgrep -P "$TELEMT_PID" | sort; }
before=$(workers)
assert_eq "$(wc -l <<<"$before")" 2 "workers at start"
victim=$(head -n 1 <<<"$before")

# A long stream; the worker that does not carry it is the victim.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 256m -w 60 >"$TEST_DIR/stream.out" 2>&1 &
stream=$!
for ((i = 0; i < 50; i++)); do
    carrier=$(ss -Htnp state established "( sport = :$TELEMT_PORT )" |
        sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$carrier" ] && break
    sleep 0.1
done
[ -n "$carrier" ] || die "cannot tell which worker carries the stream"
victim=$(grep -vx "$carrier" <<<"$before" | head -n 1)
note "stream on worker $carrier; killing worker $victim"
kill -KILL "$victim"
for ((i = 0; i < 50; i++)); do
    after=$(workers)
    [ "$(wc -l <<<"$after")" = 2 ] && ! grep -qx "$victim" <<<"$after" &&
        break
    sleep 0.1
done
assert_eq "$(wc -l <<<"$after")" 2 "workers after the kill"
grep -qx "$victim" <<<"$after" && die "killed worker $victim still listed"
assert_grep "$TELEMT_LOG" "worker [01] \\(pid $victim\\) killed by signal 9" \
    "the master saw the death"
assert_grep "$TELEMT_LOG" "worker [01] respawned" "the master respawned it"
wait "$stream" || die "the stream on the other worker broke: $(cat \
    "$TEST_DIR/stream.out")"
assert_grep "$TEST_DIR/stream.out" "ok=1 failed=0" "stream summary"

# Both slots serve again (SO_REUSEPORT spreads these over both).
mtc_ok -s "$BOB" -m intermediate -t echo -b 65536 -n 40
assert_alive "$TELEMT_PID" "master"
