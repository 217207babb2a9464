#!/usr/bin/env bash
#
# t_flood.sh - a flood of connections that never finish their handshake
# must not lock real clients out.  Two workers, handshake_timeout = 10,
# no masking: 500 silent connections sit in the handshake state while 20
# classic, 20 secure and 20 fake TLS clients each echo 1 MiB, quickly;
# the silent ones are closed at handshake_timeout, not before.  Then one
# worker with max_handshakes = 50: 200 silent connections, and a real
# client still gets through at once because the oldest silent ones are
# closed to make room (hs_evicted); the newest 50 stay until
# handshake_timeout.  Slow drips (a valid obfuscated2 flight and a valid
# TLS hello, one byte every 0.3 s) are closed at handshake_timeout: the
# deadline covers the whole handshake.  Every connection comes from
# 127.0.0.1, so part 1 turns max_handshakes_per_addr off (t_peraddr
# tests it).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

HT=10                   # handshake_timeout
FLOOD=500               # silent connections, part 1
SMALL_CAP=50            # max_handshakes, part 2
FLOOD2=200              # silent connections, part 2
QUICK=5                 # real clients must be done within this (s)
DOMAIN=www.example.com
DRIP=0.3                # s between two bytes of a slow drip

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
note "open files limit: $(ulimit -n)"
[ "$(ulimit -n)" -ge $((2 * FLOOD + 200)) ] ||
    skip "the open files limit $(ulimit -n) is too low for $FLOOD connections"
[ -n "$PY" ] || skip "python3 is not installed"

start_fakedc fakedc

# established PORT: TCP connections established to our port PORT (the
# proxy's side of them, accepted or still in the backlog).
established() {
    local n
    if command -v ss >/dev/null; then
        n=$(ss -Htn state established "( sport = :$1 )" | wc -l)
    else
        n=$(awk -v p="$(printf ':%04X' "$1")" \
            '$4 == "01" && substr($2, length($2) - 4) == p' \
            /proc/net/tcp | wc -l)
    fi
    echo "$n"
}

# wait_established PORT N: until at least N are established (20 s).
wait_established() {
    local i n=0
    for ((i = 0; i < 200; i++)); do
        n=$(established "$1")
        [ "$n" -ge "$2" ] && return 0
        sleep 0.1
    done
    die "only $n of $2 connections established to port $1"
}

# silent_flood NAME N: N silent mtclient connections in the background
# (its output in NAME.out, its pid in FLOOD_PID).
silent_flood() {
    note "$2 silent connections ($1)"
    "$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m abridged \
        -t silent -n "$2" -w $((HT + 20)) >"$TEST_DIR/$1.out" 2>&1 &
    FLOOD_PID=$!
    PIDS+=("$FLOOD_PID")
}

# close_times FILE: "count min max" of the "closed by peer after X s"
# lines of an mtclient output.
close_times() {
    awk '/closed by peer after/ {
        for (i = 1; i <= NF; i++) if ($i == "after") v = $(i + 1) + 0
        n++; if (n == 1 || v < lo) lo = v; if (v > hi) hi = v }
        END { printf "%d %.3f %.3f\n", n, lo, hi }' "$1"
}

# real_clients WHAT ARGS...: 20 clients echo 1 MiB each, within QUICK s.
real_clients() {
    local what=$1 secs
    shift
    mtc_ok "$@" -t echo -b 1m -n 20 -w 30
    assert_match "$MTC_OUT" 'conns=20 ok=20 failed=0' "$what during the flood"
    secs=$(sed -nE 's/.* seconds=([0-9.]+).*/\1/p' <<<"$MTC_OUT")
    assert_between "$secs" 0 "$QUICK" "$what during the flood: seconds"
}

note "=== $FLOOD silent connections, 2 workers, handshake_timeout=$HT"
write_config "$TEST_DIR/flood.conf" workers=2 handshake_timeout=$HT \
    modes.classic=true modes.secure=true modes.tls=true \
    tls_domain="$DOMAIN" mask=false max_handshakes_per_addr=0
start_telemt "$TEST_DIR/flood.conf"
t0=$(date +%s%N)
silent_flood flood1 "$FLOOD"
wait_established "$TELEMT_PORT" "$FLOOD"
note "$(established "$TELEMT_PORT") connections established"
real_clients "20 classic clients" -s "$ALICE" -m abridged
real_clients "20 secure clients" -s "$BOB" -m padded
real_clients "20 fake TLS clients" -s "$ALICE" -m padded --tls "$DOMAIN"
n=$(established "$TELEMT_PORT")
el=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
note "after the real clients ($el s into the flood): $n still established"
[ "$n" -ge "$FLOOD" ] ||
    die "silent connections were closed before handshake_timeout ($n left)"
rc=0
wait "$FLOOD_PID" || rc=$?
tail -n 1 "$TEST_DIR/flood1.out"
assert_eq "$rc" 0 "the silent clients (all closed by the proxy)"
read -r cnt lo hi <<<"$(close_times "$TEST_DIR/flood1.out")"
note "$cnt silent connections closed after $lo .. $hi s"
assert_eq "$cnt" "$FLOOD" "silent connections closed"
assert_between "$lo" $((HT - 1)) $((HT + 5)) "first silent close (s)"
assert_between "$hi" $((HT - 1)) $((HT + 5)) "last silent close (s)"
assert_eq "$(count_grep "$FAKEDC_LOG" '^conn ')" 60 \
    "fake DC connections (the real clients only)"
stop_telemt
note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
stat_at_least hs_timeout "$FLOOD"
assert_eq "$(stat_of hs_evicted)" 0 "stats hs_evicted without a cap"
assert_eq "$(stat_of hs_ok_classic)" 20 "stats hs_ok_classic"
assert_eq "$(stat_of hs_ok_secure)" 20 "stats hs_ok_secure"
assert_eq "$(stat_of hs_ok_tls)" 20 "stats hs_ok_tls"

note "=== max_handshakes=$SMALL_CAP, 1 worker: $FLOOD2 silent connections"
write_config "$TEST_DIR/cap.conf" workers=1 handshake_timeout=$HT \
    max_handshakes=$SMALL_CAP modes.classic=true modes.secure=true \
    modes.tls=true tls_domain="$DOMAIN" mask=false
start_telemt "$TEST_DIR/cap.conf"
silent_flood flood2 "$FLOOD2"
wait_established "$TELEMT_PORT" "$SMALL_CAP"
# The proxy closes the oldest ones as the newer arrive: wait until
# only the cap's worth is left.
# One count, checked as read: the flood may still be connecting, and a
# second look can catch a new arrival before it evicts the oldest.
for ((i = 0; i < 100; i++)); do
    left=$(established "$TELEMT_PORT")
    [ "$left" -le "$SMALL_CAP" ] && break
    sleep 0.1
done
note "$left silent connections left open"
assert_between "$left" 1 "$SMALL_CAP" \
    "silent connections left with max_handshakes=$SMALL_CAP"

note "a real client at the cap"
t=$(date +%s%N)
mtc_ok -s "$BOB" -m padded -t echo -b 1m -w 30
secs=$(awk -v a="$t" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
assert_between "$secs" 0 "$QUICK" "a real client at the cap: seconds"
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 1m -w 30

# Slow drips of a valid flight, started after everything else so that
# they are the newest handshakes (nothing evicts them).
note "slow drips: a valid obfuscated2 flight and a valid TLS hello"
mtc_ok -s "$ALICE" -m abridged -t echo -b 1024 \
    --dump-flight "$TEST_DIR/drip-obfs2.bin"
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 1024 \
    --dump-flight "$TEST_DIR/drip-tls.bin"
for d in obfs2 tls; do
    "$PY" "$PROBE_PY" 127.0.0.1 "$TELEMT_PORT" --send-file \
        "$TEST_DIR/drip-$d.bin" --drip $DRIP --timeout $((HT + 10)) \
        --out "$TEST_DIR/drip-$d.got" >"$TEST_DIR/drip-$d.line" 2>&1 &
    eval "drip_$d=\$!"
    PIDS+=("$!")
done

rc=0
wait "$FLOOD_PID" || rc=$?
tail -n 1 "$TEST_DIR/flood2.out"
assert_eq "$rc" 0 "the silent clients at the cap (all closed by the proxy)"
read -r cnt lo hi <<<"$(close_times "$TEST_DIR/flood2.out")"
evicted=$(awk '/closed by peer after/ {
    for (i = 1; i <= NF; i++) if ($i == "after") v = $(i + 1) + 0
    if (v < 5) n++ } END { print n + 0 }' "$TEST_DIR/flood2.out")
note "$cnt silent connections closed after $lo .. $hi s; $evicted of them" \
    "within 5 s (evicted)"
assert_eq "$cnt" "$FLOOD2" "silent connections closed at the cap"
assert_between "$evicted" $((FLOOD2 - SMALL_CAP)) $((FLOOD2 - 1)) \
    "silent connections evicted"
assert_between "$hi" $((HT - 1)) $((HT + 5)) \
    "the newest silent connections: closed at handshake_timeout"

for d in obfs2 tls; do
    pid_var=drip_$d
    wait "${!pid_var}" || die "slow drip ($d): probe.py failed"
    line=$(cat "$TEST_DIR/drip-$d.line")
    note "slow drip ($d): $line"
    assert_match "$line" ' received=0 end=(eof|reset) ' \
        "slow drip ($d): closed by the proxy without a byte"
    s=$(sed -nE 's/.* seconds=([0-9.]+).*/\1/p' <<<"$line")
    assert_between "$s" $((HT - 1)) $((HT + 2)) \
        "slow drip ($d): seconds until the proxy closed it"
done
stop_telemt
note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
ev=$(stat_of hs_evicted)
[ "$ev" -gt 0 ] || die "stats hs_evicted=0 at the cap"
assert_between "$ev" $((FLOOD2 - SMALL_CAP)) $((FLOOD2 + 10)) "stats hs_evicted"
stat_at_least hs_timeout 2
note "flood passed"
