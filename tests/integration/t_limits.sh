#!/usr/bin/env bash
#
# t_limits.sh - max_connections: past the cap a new client is closed at
# once and counted, clients under it are untouched, and the slot frees up
# when a connection ends.  The counters come from the master's "stats:"
# line at stop.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=1 max_connections=3 handshake_timeout=4
start_telemt "$cfg"

# Three silent clients fill the worker until the handshake timeout.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
    -t silent -n 3 -w 10 >"$TEST_DIR/silent.out" 2>&1 &
silent=$!
sleep 1
start=$(date +%s%N)
mtc -s "$ALICE" -m intermediate -t echo -b 1024 --expect-close -w 2 ||
    die "the fourth client was not closed at once"
took_ms=$((($(date +%s%N) - start) / 1000000))
assert_between "$took_ms" 0 1500 "fourth client closed within (ms)"
wait "$silent" || die "silent clients: $(cat "$TEST_DIR/silent.out")"
# The slots are free again.
mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536

stop_telemt
line=$(grep 'stats: ' "$TELEMT_LOG" | tail -n 1)
note "$line"
refused=$(sed -n 's/.* conn_refused_limit=\([0-9]*\).*/\1/p' <<<"$line")
timeouts=$(sed -n 's/.* hs_timeout=\([0-9]*\).*/\1/p' <<<"$line")
ok=$(sed -n 's/.* hs_ok_classic=\([0-9]*\).*/\1/p' <<<"$line")
assert_eq "$refused" 1 "conn_refused_limit"
assert_eq "$timeouts" 3 "hs_timeout"
assert_eq "$ok" 1 "hs_ok_classic"
