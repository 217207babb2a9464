#!/usr/bin/env bash
#
# t_me.sh - middle-end proxy mode (use_middle_proxy) against fake MEs of
# our own (tests/tools/fakeme, the server side of docs/protocol.md 8),
# each check by what the fake ME received:
#   - Telethon's three connection classes reach the ME with the right
#     flags and the global ad tag, get our resPQ back and send their
#     second request (skipped without Telethon, unless CI is set);
#   - fake TLS and all three framings stream echo/source/sink patterns;
#   - ad tags: global (alice), the user's own (carol), opted out (bob:
#     straight to the fake DC, nothing at the ME);
#   - 200 concurrent clients over the worker's 2 ME connections;
#   - a client that never reads while others stream: closed and counted
#     (me_queue_overflow), the others unharmed;
#   - one fake ME killed and restarted while its clients pause: they move
#     to the other connection (me_migrated) and their streams go on; one
#     killed mid-stream under clients that resend what gets no answer
#     (mtclient --rpc, as MTProto clients do): all their streams complete;
#   - paced streams that outlive every timeout in the config across a
#     list change (SIGHUP) that moves the cluster to new addresses: new
#     connections go to the new ME, no stream breaks;
#   - an ME whose clock is 60 s off: refused with a clear log line, the
#     client sent straight to its DC; every ME down: straight to the DC
#     (me_fallback_direct).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAKEME=$TOOLS_DIR/fakeme
[ -x "$FAKEME" ] || die "$FAKEME is not executable"
TPY=/usr/bin/python3
command -v curl >/dev/null || skip "curl is not installed"
"$TPY" -c 'import cryptography' 2>/dev/null ||
    skip "/usr/bin/python3 has no cryptography module"
CAROL=0f1e2d3c4b5a69788796a5b4c3d2e1f0
GTAG=1375fba02752e3043f7e85dfcded3b1d
CTAG=c0ffee00c0ffee00c0ffee00c0ffee00

head -c 128 /dev/urandom >"$TEST_DIR/secret"
FP=0
if "$TPY" -c 'import telethon' 2>/dev/null; then
    # A key Telethon knows, so it goes on past our resPQ.
    FP=$("$TPY" -c 'import telethon.crypto.rsa as r
print(next(iter(r._server_keys)))')
fi

# start_fakeme NAME PORT [ARGS...]: a fake ME on 127.0.0.1:PORT.
start_fakeme() {
    local name=$1 port=$2 pid i
    shift 2
    : >"$TEST_DIR/$name.log"
    "$FAKEME" -l "127.0.0.1:$port" --secret-file "$TEST_DIR/secret" \
        --log "$TEST_DIR/$name.log" --rsa-fingerprint "$FP" "$@" \
        >"$TEST_DIR/$name.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        grep -q '^fakeme: listening' "$TEST_DIR/$name.out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    grep -q '^fakeme: listening' "$TEST_DIR/$name.out" ||
        die "$name did not start: $(cat "$TEST_DIR/$name.out")"
    eval "${name}_PID=$pid"
    note "$name on port $port (pid $pid)"
}

# me_list FILE PORT...: cluster 2 (the default) at the ports, cluster 4
# at $SKEW_PORT.
me_list() {
    local f=$1 p
    shift
    {
        echo "# written by t_me.sh"
        echo "default 2;"
        for p in "$@"; do
            echo "proxy_for 2 127.0.0.1:$p;"
        done
        echo "proxy_for 4 127.0.0.1:$SKEW_PORT;"
    } >"$f.tmp"
    mv "$f.tmp" "$f"
}

# counter NAME: the counter of /api/v1/stats.
counter() {
    curl -s -m 5 "http://127.0.0.1:$ADMIN_PORT/api/v1/stats" |
        "$TPY" -c "import json, sys
print(json.load(sys.stdin)['counters']['$1'])"
}

MELOGS=()
me_logs() { cat "${MELOGS[@]}"; }

start_fakedc fakedc
PA=$(free_port)
PB=$(free_port)
PC=$(free_port)
SKEW_PORT=$(free_port)
start_fakeme mea "$PA"
start_fakeme meb "$PB"
start_fakeme meskew "$SKEW_PORT" --clock-offset 60
MELOGS=("$TEST_DIR/mea.log" "$TEST_DIR/meb.log")
me_list "$TEST_DIR/proxy-multi.conf" "$PA" "$PB"
ADMIN_PORT=$(free_port)
write_config "$TEST_DIR/telemt.conf" workers=1 modes.tls=true \
    tls_domain=www.example.com fast_mode=true \
    admin_listen="127.0.0.1:$ADMIN_PORT" \
    "users={ alice = \"$ALICE\"; bob = { secret = \"$BOB\"; ad_tag = \"direct\"; }; carol = { secret = \"$CAROL\"; ad_tag = \"$CTAG\"; }; }" \
    use_middle_proxy=true ad_tag="\"$GTAG\"" \
    me_secret_file="\"$TEST_DIR/secret\"" \
    me_config_file="\"$TEST_DIR/proxy-multi.conf\"" \
    me_min_connections=2 me_max_connections=2 me_ping_interval=2 \
    me_client_queue_bytes=262144 me_slow_client_timeout=2 \
    dc_connect_timeout=3 handshake_timeout=5 relay_idle_timeout=8
start_telemt "$TEST_DIR/telemt.conf"
wait_grep "$TELEMT_LOG" 'ME inputs: secret 128 bytes' 10 ||
    die "the master did not announce the ME inputs"

# --- Telethon, three connection classes --------------------------------
if [ "$FP" != 0 ]; then
    for spec in abridged:4002100a intermediate:2002100a \
        randomized:2802100a; do
        IFS=: read -r conn flags <<<"$spec"
        secret=$ALICE
        [ "$conn" != randomized ] || secret=dd$ALICE
        cat "${MELOGS[@]}" >"$TEST_DIR/me.all"
        mark=$(lines "$TEST_DIR/me.all")
        note "telethon $conn"
        rc=0
        for i in 1 2 3; do
            rc=0
            timeout 60 "$TPY" -I "$here/telethon_probe.py" \
                --port "$TELEMT_PORT" --secret "$secret" \
                --connection "$conn" --log "$TEST_DIR/mea.log" \
                --log "$TEST_DIR/meb.log" \
                --wait-for 'constructor=d712e4be' --timeout 8 || rc=$?
            [ "$rc" != 3 ] ||
                die "telethon $conn dialled something besides the proxy"
            new=$(cat "${MELOGS[@]}" | tail -n "+$((mark + 1))")
            grep -q 'constructor=d712e4be' <<<"$new" && break
        done
        req=$(grep '^req conn=' <<<"$new" | tail -n 1)
        note "fake ME: ${req:-nothing}"
        assert_match "$req" "flags=$flags tag=$GTAG .* first=mtproto" \
            "telethon $conn: its req_pq_multi at the ME"
        grep -q 'constructor=d712e4be' <<<"$new" ||
            die "telethon $conn: no req_DH_params after our resPQ"
    done
elif [ -n "${CI:-}" ]; then
    die "/usr/bin/python3 cannot import telethon, and CI is set"
else
    note "SKIP telethon part: no python3-telethon"
fi

# --- fake TLS and every framing ------------------------------------------
for m in abridged intermediate padded; do
    mtc_ok -s "$ALICE" -m "$m" --tls www.example.com -t echo -b 1m \
        --framed -n 4
    mtc_ok -s "$ALICE" -m "$m" -t source -b 1m --framed -n 2
    mtc_ok -s "$ALICE" -m "$m" --tls www.example.com -t sink -b 1m \
        --framed -n 2
done
mtc_ok -s "$ALICE" -m intermediate -t echo -b 64k --framed --quickack -n 2
q=$(summary_field <(printf '%s\n' "$MTC_OUT") quickacks)
[ "${q:-0}" -gt 0 ] || die "no quick ack came back to a --quickack client"

# --- ad tags: global, own, opted out --------------------------------------
mark=$(lines "$FAKEDC_LOG")
mtc_ok -s "$CAROL" -m intermediate -t echo -b 4k --framed
mtc_ok -s "$BOB" -m intermediate -t echo -b 4k
assert_grep <(me_logs) "tag=$CTAG .*first=cmd" "carol's own ad tag"
assert_grep <(me_logs) "tag=$GTAG .*first=cmd" "alice's global ad tag"
[ "$(lines_since "$FAKEDC_LOG" "$mark" | grep -c '^conn ')" = 1 ] ||
    die "bob (ad_tag = \"direct\") did not go straight to the DC"

# --- 200 clients over 2 ME connections -----------------------------------
mtc_ok -s "$ALICE" -m padded -t echo -b 64k --framed -n 200
n=$(me_logs | grep -c '^me-conn ')
note "ME connections opened so far: $n"
assert_eq "$n" 2 "ME connections for 200 clients (me_max_connections 2)"

# --- a client that never reads --------------------------------------------
before=$(counter me_queue_overflow)
"$TPY" "$here/me_slow.py" --port "$TELEMT_PORT" --secret "$ALICE" \
    --hold 12 &
slow=$!
mtc_ok -s "$ALICE" -m intermediate -t echo -b 2m --rate 400k --framed -n 4
wait "$slow" || die "me_slow.py failed"
after=$(counter me_queue_overflow)
note "me_queue_overflow $before -> $after"
[ "$after" -gt "$before" ] || die "the client that never reads was not closed"
assert_grep "$TELEMT_LOG" 'closed: more than me_client_queue_bytes' \
    "the slow client's log line"

# --- one ME killed and restarted while its clients pause ------------------
before=$(counter me_migrated)
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
    -t echo -b 1m --rate 200k --idle 4000 --framed -n 8 \
    >"$TEST_DIR/pause.out" 2>&1 &
pause=$!
sleep 3.5
note "kill -9 mea (pid $mea_PID) while its clients pause"
kill -KILL "$mea_PID"
sleep 0.5
mv "$TEST_DIR/mea.log" "$TEST_DIR/mea.1.log"
MELOGS=("$TEST_DIR/mea.1.log" "$TEST_DIR/mea.log" "$TEST_DIR/meb.log")
start_fakeme mea "$PA"
rc=0
wait "$pause" || rc=$?
cat "$TEST_DIR/pause.out"
after=$(counter me_migrated)
note "me_migrated $before -> $after"
assert_eq "$rc" 0 "streams across the ME's restart"
[ "$after" -gt "$before" ] || die "no client moved to another ME connection"
wait_grep "$TELEMT_LOG" "ME 127.0.0.1:$PA \\(cluster 2\\): connection [0-9]+ up" \
    10 || die "no new connection to the restarted ME"

# --- one ME killed mid-stream under clients that resend like MTProto -----
before=$(counter me_migrated)
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m abridged -t echo \
    -b 32m --framed --rpc -n 8 -w 30 >"$TEST_DIR/rpc.out" 2>&1 &
rpc=$!
sleep 2
note "kill -9 meb (pid $meb_PID) mid-stream"
kill -KILL "$meb_PID"
sleep 0.5
mv "$TEST_DIR/meb.log" "$TEST_DIR/meb.1.log"
MELOGS+=("$TEST_DIR/meb.1.log")
start_fakeme meb "$PB"
rc=0
wait "$rpc" || rc=$?
cat "$TEST_DIR/rpc.out"
after=$(counter me_migrated)
note "me_migrated $before -> $after," \
    "$(summary_field "$TEST_DIR/rpc.out" retransmits) packets resent"
assert_eq "$rc" 0 "request/response streams across an ME killed mid-stream"
[ "$after" -gt "$before" ] || die "no client moved off the killed ME"

# --- a list change under paced streams that outlive every timeout ---------
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 1200k --rate 80k --framed -n 4 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
    -t echo -b 16k --framed -n 4 --loop 20 >"$TEST_DIR/loop.out" 2>&1 &
loop=$!
sleep 3
start_fakeme mec "$PC"
MELOGS+=("$TEST_DIR/mec.log")
me_list "$TEST_DIR/proxy-multi.conf" "$PC"
kill -HUP "$TELEMT_PID"
wait_grep "$TELEMT_LOG" "IPv4 list 2 entries in 2 clusters" 10 ||
    die "the master did not announce the new list"
wait_grep "$TEST_DIR/mec.log" '^req conn=.*first=cmd' 15 ||
    die "no new client reached the new ME"
rc_s=0
rc_l=0
wait "$streams" || rc_s=$?
wait "$loop" || rc_l=$?
broken=$(summary_field "$TEST_DIR/streams.out" failures)
failed=$(summary_field "$TEST_DIR/loop.out" failures)
echo "broken streams: ${broken:-?} (of 4, each ~15 s, past relay_idle_timeout 8)"
echo "failed connection attempts: ${failed:-?} (of $(summary_field \
    "$TEST_DIR/loop.out" iterations))"
assert_eq "$broken" 0 "broken streams across the list change"
assert_eq "$failed" 0 "failed connection attempts across the list change"
assert_eq "$rc_s$rc_l" 00 "mtclient exit statuses"
wait_grep "$TELEMT_LOG" "ME 127.0.0.1:($PA|$PB) \\(cluster 2\\): connection [0-9]+ closed: retired" 20 ||
    die "the old ME connections were not retired"

# --- clock skew, then every ME down --------------------------------------
mark=$(lines "$FAKEDC_LOG")
before=$(counter me_fallback_direct)
mtc_ok -s "$ALICE" -m intermediate -t echo -b 4k -d 4
assert_grep "$TELEMT_LOG" 'its clock and ours differ by 60 s .*fix this machine.s time' \
    "the clock skew line"
[ "$(counter me_fail_clock_skew)" -gt 0 ] || die "me_fail_clock_skew is 0"
kill -KILL "$mea_PID" "$meb_PID" "$mec_PID" \
    2>/dev/null || true
sleep 1
mtc_ok -s "$ALICE" -m intermediate -t echo -b 4k
after=$(counter me_fallback_direct)
note "me_fallback_direct $before -> $after"
[ "$after" -ge $((before + 2)) ] ||
    die "clients were not sent straight to the DC"
[ "$(lines_since "$FAKEDC_LOG" "$mark" | grep -c '^conn ')" -ge 2 ] ||
    die "the fallback clients did not reach the fake DC"
assert_alive "$TELEMT_PID" "telemt at the end"
sanitizer_check "$TELEMT_LOG" || die "sanitizer reports"
