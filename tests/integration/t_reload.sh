#!/usr/bin/env bash
#
# t_reload.sh - SIGHUP reloads the config without dropping a connection.
# For the whole scenario alice keeps 8 clients connecting in a loop (short
# echo tests) and 4 long paced streams (1 MiB at 100 KiB/s, ~10 s each,
# repeated) open, while: a reload adds carol (who is refused before and
# served after); a reload of a broken file is logged with FILE:LINE and
# changes nothing (same workers, same admin process, carol still served);
# a reload that removes bob while bob has a long stream open cuts that
# stream at once (reload_drop_removed_users) and refuses bob afterwards.
# The admin process is replaced by good reloads only.  At the end:
# "failed connection attempts: 0" and "broken streams: 0" for alice.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


CAROL=c0ffee00c0ffee00c0ffee00c0ffee00
LOAD_S=20                       # the loop clients run this long
STREAM_LOOP_S=12                # streams start until then (~10 s each)

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
port=$(free_port)
aport=$(free_port)

# conf USERS [key=value...]: the config, the same but for the users.
conf() {
    local users=$1
    shift
    write_config "$cfg" port="$port" workers=2 log_level=info \
        shutdown_timeout=30 reload_drop_removed_users=true \
        admin_listen="127.0.0.1:$aport" users="{ $users }" "$@"
}
u_alice="alice = \"$ALICE\";"
u_bob="bob = \"$BOB\";"
u_carol="carol = \"$CAROL\";"

conf "$u_alice $u_bob"
start_telemt "$cfg"
for ((i = 0; i < 100; i++)); do
    port_open "$aport" && break
    sleep 0.1
done
port_open "$aport" || die "the admin endpoint does not listen on $aport"

children() { pgrep -P "$TELEMT_PID" | sort; }   # sorted for comm

# reload: SIGHUP; wait for the master's verdict (a line after the mark).
reload() {
    local mark i
    mark=$(lines "$TELEMT_LOG")
    kill -HUP "$TELEMT_PID"
    for ((i = 0; i < 100; i++)); do
        RELOAD_LINES=$(lines_since "$TELEMT_LOG" "$mark")
        grep -Eq 'master\[[0-9]+\] (info|error): reload: ' \
            <<<"$RELOAD_LINES" && return 0
        sleep 0.1
    done
    die "no reload line in the log after SIGHUP"
}

# --- the load, for the whole scenario -------------------------------------

load_start "$port" "$LOAD_S" "$STREAM_LOOP_S"
sleep 1.5

# --- 1. add carol ----------------------------------------------------

note "carol before the reload: refused"
mtc -s "$CAROL" -m intermediate -t echo --expect-close -w 15 ||
    die "carol was not refused before she was added"
admin0=$(admin_pid "$aport" "$TELEMT_PID")
kids0=$(children)
conf "$u_alice $u_bob $u_carol"
reload
printf '%s\n' "$RELOAD_LINES"
assert_match "$RELOAD_LINES" \
    'reload: generation [0-9]+: 3 users \(0 removed\), 2 workers' \
    "reload adding carol"
mtc_ok -s "$CAROL" -m intermediate -t echo -b 65536 -n 2
mtc_ok -s "$CAROL" -m padded -t sink -b 65536
new=$(comm -13 <(printf '%s\n' "$kids0") <(children))
assert_eq "$(grep -c . <<<"$new" || true)" 3 \
    "new children after the reload (2 workers and the admin)"
for ((i = 0; i < 50; i++)); do
    admin1=$(admin_pid "$aport" "$TELEMT_PID")
    [ -n "$admin1" ] && [ "$admin1" != "$admin0" ] && break
    sleep 0.1
done
if [ -z "$admin1" ] || [ "$admin1" = "$admin0" ]; then
    die "the admin process was not replaced ($admin0 -> ${admin1:-none})"
fi
note "admin process replaced: $admin0 -> $admin1"
sleep 1

# --- 2. a broken file: logged, nothing changes ------------------------

kids1=$(children)
conf "$u_alice $u_bob $u_carol"
echo 'oops = ;' >>"$cfg"
badline=$(wc -l <"$cfg")
reload
printf '%s\n' "$RELOAD_LINES"
want="error: reload: $cfg:$badline: syntax error;"
want+=" still running on the previous config"
assert_match "$RELOAD_LINES" "$want" "reload of a broken file"
grep -q 'reload: generation' <<<"$RELOAD_LINES" &&
    die "a broken file started a new generation"
sleep 0.5
extra=$(comm -13 <(printf '%s\n' "$kids1") <(children))
[ -z "$extra" ] || die "a broken file started processes: $extra"
assert_eq "$(admin_pid "$aport" "$TELEMT_PID")" "$admin1" \
    "admin process after a broken file"
mtc_ok -s "$CAROL" -m intermediate -t echo -b 65536
mtc_ok -s "$BOB" -m intermediate -t echo -b 65536
"$TELEMT_BIN" -t "$cfg" >/dev/null 2>&1 && die "the broken file passes -t"

# --- 3. remove bob while bob streams ------------------------------------

"$MTCLIENT" -c "127.0.0.1:$port" -s "$BOB" -m intermediate -t echo \
    -b 4m --rate 100k -w 10 >"$TEST_DIR/bob.out" 2>&1 &
bob=$!
PIDS+=("$bob")
track "$bob"
sleep 1.5
assert_alive "$bob" "bob's stream before the reload"
conf "$u_alice $u_carol"
t0=$(date +%s%N)
reload
printf '%s\n' "$RELOAD_LINES"
assert_match "$RELOAD_LINES" \
    'reload: generation [0-9]+: 2 users \(1 removed\), 2 workers' \
    "reload removing bob"
rc=0
for ((i = 0; i < 50; i++)); do
    running "$bob" || break
    sleep 0.1
done
running "$bob" &&
    die "bob's stream still runs 5 s after the reload"
wait "$bob" || rc=$?
cut_ms=$((($(date +%s%N) - t0) / 1000000))
cat "$TEST_DIR/bob.out"
[ "$rc" != 0 ] || die "bob's stream was not cut"
assert_grep "$TEST_DIR/bob.out" 'failed: echo: early (EOF|reset)' \
    "bob's stream: cut by the proxy"
assert_between "$cut_ms" 0 3000 "bob's stream cut within (ms of SIGHUP)"
wait_grep "$TELEMT_LOG" \
    'reload: closed [0-9]+ connection\(s\) of removed users' 2 ||
    die "no worker logged closing bob's connection"
note "bob's stream cut ${cut_ms} ms after SIGHUP"
mtc -s "$BOB" -m intermediate -t echo --expect-close -w 15 ||
    die "bob was not refused after his removal"
mtc_ok -s "$CAROL" -m intermediate -t echo -b 65536

# --- the load ends: count ---------------------------------------------

load_finish
iters=$LOAD_ITERS
siters=$LOAD_STREAM_ITERS
[ "${siters:-0}" -ge 8 ] || die "only ${siters:-0} streams ran"
[ "${iters:-0}" -ge 100 ] || die "only ${iters:-0} loop connections ran"

stop_telemt
