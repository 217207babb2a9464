#!/usr/bin/env bash
#
# t_upstream.sh - outgoing connections: dc_bind_ipv4 and
# dc_bind_interface (checked at start as the workers' user, nobody),
# bad upstreams entries refused with FILE:LINE, and two real SOCKS5
# upstreams (microsocks, one with RFC 1929 username/password).  Streams
# started through the authenticated one keep going across a reload that
# adds the other and the death of that other; once it is killed, new
# clients fail over (none fails), and its failures and back-off are
# counted per upstream in /metrics and the JSON.  Wrong credentials are
# a counted failure; with every upstream down a dial fails and says so.
# ME connections go through an upstream that says its BND address, and
# fail clearly through one that does not (then the DC fallback serves).
# The fake DC's from= shows which address each connection came from:
# each microsocks binds its own (127.0.0.3, 127.0.0.4).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v microsocks >/dev/null || {
    [ -z "${CI:-}" ] || die "microsocks is required when CI is set"
    skip "microsocks is not installed (scripts/deps.sh)"
}
command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}

start_fakedc fakedc
DC_LOG=$FAKEDC_LOG

# start_socks NAME PORT ARGS...: microsocks on 127.0.0.1:PORT; SOCKS_PID.
start_socks() {
    local name=$1 port=$2 i
    shift 2
    microsocks -i 127.0.0.1 -p "$port" "$@" >"$TEST_DIR/$name.out" 2>&1 &
    SOCKS_PID=$!
    PIDS+=("$SOCKS_PID")
    for ((i = 0; i < 100; i++)); do
        port_open "$port" && {
            note "$name (microsocks) on port $port (pid $SOCKS_PID)"
            return 0
        }
        sleep 0.05
    done
    die "$name did not start"
}

# metric NAME UPSTREAM: the value of NAME{upstream="UPSTREAM"} in /metrics.
metric() {
    curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
        sed -n "s/^$1{upstream=\"$2\"} \\([0-9]*\\)$/\\1/p"
}

# reload CONFIG_FROM: copy it over the running config, SIGHUP, wait
# until both workers applied it.
reload() {
    local mark i
    mark=$(lines "$TELEMT_LOG")
    cp "$1" "$CONF"
    kill -HUP "$TELEMT_PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(lines_since "$TELEMT_LOG" "$mark" | grep -Ec \
            'worker [0-9]\[[0-9]+\] info: reload: generation [0-9]+ applied')" \
            -ge 2 ] && return 0
        sleep 0.1
    done
    die "the workers did not apply the reload"
}

# --- source address and interface --------------------------------------

mark=$(lines "$DC_LOG")
write_config "$TEST_DIR/bind.conf" dc_bind_ipv4='"127.0.0.2"' \
    dc_bind_interface='"lo"' user=nobody allow_root=false
start_telemt "$TEST_DIR/bind.conf"
mtc_ok -s "$ALICE" -m intermediate -d 2 -t echo -b 65536
line=$(lines_since "$DC_LOG" "$mark" | grep '^conn ' | tail -n 1)
note "fake DC: $line"
assert_match "$line" ' from=127\.0\.0\.2:[0-9]+$' \
    "the DC connection comes from dc_bind_ipv4"
stop_telemt

# check_refused CONFIG PATTERN WHAT: telemt must refuse to start with it.
check_refused() {
    local out rc=0
    out=$(timeout 20 "$TELEMT_BIN" -f "$1" 2>&1) || rc=$?
    [ "$rc" != 0 ] || die "$3: telemt started"
    assert_match "$out" "$2" "$3"
    note "$3: $(printf '%s\n' "$out" | grep -E "$2" | head -n 1)"
}
write_config "$TEST_DIR/noif.conf" dc_bind_interface='"tmnoif0"' \
    user=nobody allow_root=false
check_refused "$TEST_DIR/noif.conf" \
    'dc_bind_interface: cannot bind sockets to .tmnoif0.*no such' \
    "an interface that does not exist"
write_config "$TEST_DIR/noaddr.conf" dc_bind_ipv4='"192.0.2.1"'
check_refused "$TEST_DIR/noaddr.conf" \
    "dc_bind_ipv4: cannot bind to '192\\.0\\.2\\.1'" \
    "a source address that is not this machine's"

# --- bad upstreams entries: FILE:LINE ----------------------------------

bad_entry() {
    local out rc=0
    write_config "$TEST_DIR/bad.conf" "upstreams=( $1 )"
    out=$("$TELEMT_BIN" -t "$TEST_DIR/bad.conf" 2>&1) || rc=$?
    [ "$rc" != 0 ] || die "accepted: $1"
    assert_match "$out" "^$TEST_DIR/bad\\.conf:[0-9]+: $2" "refused: $1"
}
bad_entry '{ type = "socks4"; address = "127.0.0.1:1"; }' \
    'upstreams\[0\]\.type: only "socks5"'
bad_entry '{ type = "socks5"; }' 'upstreams\[0\]: address is missing'
bad_entry '{ type = "socks5"; address = "127.0.0.1"; }' \
    "upstreams\\[0\\]\\.address: '127\\.0\\.0\\.1' has no port"
bad_entry '{ type = "socks5"; address = "127.0.0.1:1"; username = "u"; }' \
    'upstreams\[0\]: username and password go together'
bad_entry '{ type = "socks5"; address = "127.0.0.1:1"; weight = 0; }' \
    'upstreams\[0\]\.weight: 0 is out of range'
bad_entry '{ type = "socks5"; address = "127.0.0.1:1"; },
    { type = "socks5"; address = "127.0.0.1:1"; }' \
    "upstreams\\[1\\]: '127\\.0\\.0\\.1:1' is already upstreams\\[0\\]"
bad_entry '{ type = "socks5"; address = "127.0.0.1:1"; port = 2; }' \
    "unknown key 'upstreams\\[0\\]\\.port'"
note "bad upstreams entries are refused with FILE:LINE"

# --- two upstreams ------------------------------------------------------

PA=$(free_port)
PB=$(free_port)
UA=127.0.0.1:$PA
UB=127.0.0.1:$PB
start_socks socks_a "$PA" -b 127.0.0.3
SA_PID=$SOCKS_PID
start_socks socks_b "$PB" -b 127.0.0.4 -u tmuser -P tm-secret-pw
SB_PID=$SOCKS_PID
UPB="{ type = \"socks5\"; address = \"$UB\"; weight = 2;
    username = \"tmuser\"; password = \"tm-secret-pw\"; }"
UPA="{ type = \"socks5\"; address = \"$UA\"; weight = 2; }"
ADMIN_PORT=$(free_port)
PORT=$(free_port)
CONF=$TEST_DIR/telemt.conf
common=(port="$PORT" admin_listen="127.0.0.1:$ADMIN_PORT"
    dc_bind_ipv4='"127.0.0.2"')
write_config "$TEST_DIR/one.conf" "${common[@]}" "upstreams=( $UPB )"
write_config "$TEST_DIR/two.conf" "${common[@]}" "upstreams=( $UPA, $UPB )"
cp "$TEST_DIR/one.conf" "$CONF"
start_telemt "$CONF"

# Streams through B alone (the only upstream yet): ~16 s each.
mark=$(lines "$DC_LOG")
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 1600k --rate 100k -n 4 -w 30 >"$TEST_DIR/streams.out" 2>&1 &
STREAMS_PID=$!
PIDS+=("$STREAMS_PID")
for ((i = 0; i < 100; i++)); do
    [ "$(lines_since "$DC_LOG" "$mark" | grep -c '^conn ')" -ge 4 ] && break
    sleep 0.1
done
assert_eq "$(lines_since "$DC_LOG" "$mark" | grep '^conn ' |
    grep -c ' from=127\.0\.0\.4:')" 4 "the 4 streams go through B"
assert_grep "$TEST_DIR/socks_b.out" '127\.0\.0\.2' \
    "B sees telemt's connections from dc_bind_ipv4"

reload "$TEST_DIR/two.conf"
note "reloaded: upstreams A ($UA) and B ($UB), weight 2 each"

mark=$(lines "$DC_LOG")
rc=0
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
    -t echo -b 16k -n 4 -w 10 --loop 3 >"$TEST_DIR/before.out" 2>&1 || rc=$?
note "both up: $(grep '^mtclient: mode=' "$TEST_DIR/before.out")"
assert_eq "$rc" 0 "clients with both upstreams up"
via_a=$(lines_since "$DC_LOG" "$mark" | grep -c ' from=127\.0\.0\.3:' || true)
via_b=$(lines_since "$DC_LOG" "$mark" | grep -c ' from=127\.0\.0\.4:' || true)
note "connections through A: $via_a, through B: $via_b"
if [ "$via_a" = 0 ] || [ "$via_b" = 0 ]; then
    die "the weights did not spread connections over both upstreams"
fi
fail_a0=$(metric telemt_upstream_failures_total "$UA")
assert_eq "$fail_a0" 0 "A's failures while it is up"

{ kill -KILL "$SA_PID"; wait "$SA_PID"; } 2>/dev/null || true
note "killed upstream A (microsocks pid $SA_PID)"
mark=$(lines "$DC_LOG")
rc=0
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
    -t echo -b 16k -n 4 -w 10 --loop 4 >"$TEST_DIR/after.out" 2>&1 || rc=$?
note "A dead: $(grep '^mtclient: mode=' "$TEST_DIR/after.out")"
grep ' failed after ' "$TEST_DIR/after.out" | head -n 5 || true
echo "failed connection attempts: $(summary_field "$TEST_DIR/after.out" \
    failures)"
assert_eq "$rc" 0 "clients after A died (each fails over to B)"
assert_eq "$(lines_since "$DC_LOG" "$mark" | grep -c ' from=127\.0\.0\.3:' ||
    true)" 0 "no connection through the dead A"
fail_a=$(metric telemt_upstream_failures_total "$UA")
att_a=$(metric telemt_upstream_attempts_total "$UA")
att_b=$(metric telemt_upstream_attempts_total "$UB")
off_a=$(metric telemt_upstream_backed_off "$UA")
off_b=$(metric telemt_upstream_backed_off "$UB")
note "A: attempts $att_a failures $fail_a backed off in $off_a workers;" \
    "B: attempts $att_b, backed off in $off_b"
[ "${fail_a:-0}" -ge 1 ] || die "A's failures are not counted"
[ "${off_a:-0}" -ge 1 ] || die "A is not shown backed off"
assert_eq "$off_b" 0 "B is not backed off"
assert_eq "$(metric telemt_upstream_failures_total "$UB")" 0 "B's failures"
json=$(curl -s "http://127.0.0.1:$ADMIN_PORT/api/v1/stats")
assert_match "$json" "\"upstreams\":\\[\\{\"address\":\"$UB\"" \
    "the JSON lists the upstreams"
assert_match "$json" "\"address\":\"$UA\",\"attempts\":$att_a,\"failures\":$fail_a" \
    "the JSON has A's counts"
assert_grep "$TELEMT_LOG" "upstream $UA: .*left out for [0-9]+ ms" \
    "A's failure is logged"

rc=0
wait "$STREAMS_PID" || rc=$?
note "streams: $(grep '^mtclient: mode=' "$TEST_DIR/streams.out")"
echo "broken streams: $(summary_field "$TEST_DIR/streams.out" failures)"
assert_eq "$rc" 0 "the streams through B lived through A's death"

# Every upstream down: the dial fails and the log says why.
{ kill -KILL "$SB_PID"; wait "$SB_PID"; } 2>/dev/null || true
note "killed upstream B too"
mtc -s "$ALICE" -m intermediate -t echo -b 16k -w 10 >/dev/null &&
    die "a client got through with every upstream down"
wait_grep "$TELEMT_LOG" 'all 2 upstreams are down; cannot reach' 10 ||
    die "no 'all upstreams are down' line"
stop_telemt

# --- ME connections through an upstream ---------------------------------
# The ME keys bind the addresses the ME sees: socks5_bnd.py says them in
# its CONNECT reply (the ME then sees 127.0.0.1, where a direct
# connection would come from dc_bind_ipv4's 127.0.0.2); microsocks says
# 0.0.0.0:0, so the ME dial through it fails with a clear line and the
# client goes straight to its DC (me_fallback_direct) - through the
# upstream too.

FAKEME=$TOOLS_DIR/fakeme
head -c 128 /dev/urandom >"$TEST_DIR/secret"
PM=$(free_port)
"$FAKEME" -l "127.0.0.1:$PM" --secret-file "$TEST_DIR/secret" \
    --log "$TEST_DIR/me.log" >"$TEST_DIR/me.out" 2>&1 &
PIDS+=($!)
wait_grep "$TEST_DIR/me.out" '^fakeme: listening' 5 || die "fakeme did not start"
printf 'default 2;\nproxy_for 2 127.0.0.1:%s;\n' "$PM" \
    >"$TEST_DIR/proxy-multi.conf"
PS=$(free_port)
python3 "$(dirname "${BASH_SOURCE[0]}")/socks5_bnd.py" "$PS" \
    >"$TEST_DIR/socks_bnd.out" 2>&1 &
PIDS+=($!)
wait_grep "$TEST_DIR/socks_bnd.out" '^socks5_bnd: listening' 5 ||
    die "socks5_bnd.py did not start"
PD=$(free_port)
start_socks socks_d "$PD"
me=(port="$PORT" admin_listen="127.0.0.1:$ADMIN_PORT"
    dc_bind_ipv4='"127.0.0.2"' use_middle_proxy=true
    me_secret_file="\"$TEST_DIR/secret\""
    me_config_file="\"$TEST_DIR/proxy-multi.conf\"" workers=1)
write_config "$TEST_DIR/me.conf" "${me[@]}" me_fallback_direct=false \
    "upstreams=( { type = \"socks5\"; address = \"127.0.0.1:$PS\"; } )"
start_telemt "$TEST_DIR/me.conf"
wait_grep "$TELEMT_LOG" 'ME inputs: secret 128 bytes' 10 ||
    die "the master did not announce the ME inputs"
mtc_ok -s "$ALICE" -m intermediate -t echo -b 256k --framed -n 2
assert_grep "$TELEMT_LOG" "ME 127\\.0\\.0\\.1:$PM \\(cluster 2\\): connection [0-9]+ up" \
    "an ME connection up through the upstream"
assert_grep "$TEST_DIR/me.log" '^me-conn id=[0-9]+ peer=127\.0\.0\.1:' \
    "the fake ME sees the upstream's address"
[ "$(count_grep "$TEST_DIR/me.log" 'peer=127\.0\.0\.2:')" = 0 ] ||
    die "an ME connection went around the upstream"
stop_telemt

write_config "$TEST_DIR/me-ms.conf" "${me[@]}" me_fallback_direct=true \
    "upstreams=( { type = \"socks5\"; address = \"127.0.0.1:$PD\"; } )"
mark=$(lines "$DC_LOG")
start_telemt "$TEST_DIR/me-ms.conf"
wait_grep "$TELEMT_LOG" 'ME inputs: secret 128 bytes' 10 ||
    die "the master did not announce the ME inputs"
mtc_ok -s "$ALICE" -m intermediate -t echo -b 64k
wait_grep "$TELEMT_LOG" 'did not say which address it connects from' 10 ||
    die "no line for the upstream that hides its address"
note "$(grep -m1 'did not say which address' "$TELEMT_LOG")"
assert_match "$(lines_since "$DC_LOG" "$mark" | grep '^conn ' | tail -n 1)" \
    ' from=127\.0\.0\.1:' "the fallback reached the DC through microsocks"
stop_telemt

# --- wrong credentials --------------------------------------------------

PC=$(free_port)
start_socks socks_c "$PC" -u tmuser -P right-pw
write_config "$TEST_DIR/auth.conf" port="$PORT" \
    admin_listen="127.0.0.1:$ADMIN_PORT" "upstreams=( { type = \"socks5\";
    address = \"127.0.0.1:$PC\"; username = \"tmuser\";
    password = \"wrong-pw\"; } )"
start_telemt "$TEST_DIR/auth.conf"
mtc -s "$ALICE" -m intermediate -t echo -b 16k -w 10 >/dev/null &&
    die "a client got through an upstream that refused our credentials"
wait_grep "$TELEMT_LOG" "upstream 127.0.0.1:$PC: it refused our username" \
    10 || die "the auth failure is not logged"
assert_eq "$(metric telemt_upstream_failures_total "127.0.0.1:$PC")" 1 \
    "the auth failure is counted"
stop_telemt
note "ok"
