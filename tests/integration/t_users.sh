#!/usr/bin/env bash
#
# t_users.sh - users' limits, enforced across 2 workers through the
# shared region, each checked by real clients:
#   - max_tcp_conns = 5: five connections of one user are served, the
#     sixth closed (user_conns); one closed makes room again;
#   - max_unique_ips = 2: clients from 127.0.0.2 and .3 are served, one
#     from .4 is closed (user_ips), .2 again is served;
#   - data_quota_bytes: an echo stops within one buffer a direction of
#     the quota (the usage is read from /api/v1/users), the next client
#     is closed (user_quota); kill -9 of every process and a restart keep
#     the usage (state_dir, quota_save_interval = 1); the clock stepped
#     to the user's quota_reset_day starts a new period and the user is
#     served again (clockstep.c shifts CLOCK_REALTIME, as in
#     t_fault_clock);
#   - expiration: a stream open when the user expires is cut within a
#     second, a new client is closed (user_expired);
#   - rate limits: 4 connections of one user share rate_limit_*_bps,
#     each within 10 % of a quarter and together within 10 % of the rate,
#     while another user's transfer runs unlimited alongside;
#   - enabled = false by a reload cuts the user's open stream within a
#     second.
# Throughout, streams of an unlimited user outlive every timeout in the
# config (verified echo, paced) and must end intact: "broken streams: 0"
# and "failed connection attempts: 0".
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || skip "curl is not installed"
clockstep_setup

CONNS=c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0
IPS=1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a
QUOTA=9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a
EXP=e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0
RATE=7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a
OFF=0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f
QLIMIT=4194304          # 4 MiB
BUF=16384               # a relay buffer: one read
RBPS=400000             # rate_limit_*_bps
RBYTES=1000000          # each rate-limited client's echo
HT=3                    # handshake_timeout
IT=8                    # relay_idle_timeout

start_fakedc fakedc
state=$TEST_DIR/state
admin=$(free_port)
exp_at=$(($(date +%s) + 86400))         # moved closer by a reload below
exp_str=$(date -u -d "@$exp_at" +%Y-%m-%dT%H:%M:%SZ)

# users_conf OFF_ENABLED: the users group.
users_conf() {
    cat <<EOF
{ alice = "$ALICE";
  conns = { secret = "$CONNS"; max_tcp_conns = 5; };
  ips = { secret = "$IPS"; max_unique_ips = 2; };
  quota = { secret = "$QUOTA"; data_quota_bytes = $QLIMIT;
            quota_reset_day = 1; };
  exp = { secret = "$EXP"; expiration = "$exp_str"; };
  rate = { secret = "$RATE"; rate_limit_up_bps = $RBPS;
           rate_limit_down_bps = $RBPS; };
  off = { secret = "$OFF"; enabled = $1; }; }
EOF
}
cfg=$TEST_DIR/telemt.conf
conf() {
    write_config "$cfg" workers=2 handshake_timeout=$HT \
        relay_idle_timeout=$IT dc_connect_timeout=2 log_level=info \
        admin_listen="127.0.0.1:$admin" state_dir="\"$state\"" \
        quota_save_interval=1 unique_ips_window=300 \
        users="$(users_conf "$1")" ${port:+port=$port}
}
port=""
conf true
port=$(config_port "$cfg")
LD_PRELOAD=$TEST_DIR/clockstep.so start_telemt "$cfg"

# get PATH: the admin answer into $TEST_DIR/get.out; prints the status.
get() {
    curl -s -m 5 -o "$TEST_DIR/get.out" -w '%{http_code}' \
        "http://127.0.0.1:$admin$1" || true
}
# user_field NAME EXPR: a value of user NAME in /api/v1/users (python
# expression on u).
user_field() {
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(get /api/v1/users)" = 200 ] && break
        sleep 0.1
    done
    "$PY" -c 'import json, sys
u = [x for x in json.load(open(sys.argv[1]))["users"]
     if x["name"] == sys.argv[2]][0]
print('"$2"')' "$TEST_DIR/get.out" "$1"
}
# refused SECRET WHAT [ARGS]: the proxy closes this client at once.
refused() {
    local sec=$1 what=$2
    shift 2
    mtc -s "$sec" -m intermediate -t echo -b 4k -w 5 --expect-close "$@" \
        >/dev/null || die "$what: the client was not closed"
    note "$what: closed, as it should be"
}

attempts=0 failed=0
# served SECRET WHAT [ARGS]: a client is served (an echo of 64 KiB).
served() {
    local sec=$1 what=$2
    shift 2
    attempts=$((attempts + 1))
    if ! mtc -s "$sec" -m intermediate -t echo -b 64k -w 10 "$@" \
        >/dev/null; then
        failed=$((failed + 1))
        printf '%s\n' "$MTC_OUT"
        die "$what: not served"
    fi
}

# --- max_tcp_conns ---------------------------------------------------------

note "=== max_tcp_conns = 5"
"$MTCLIENT" -c "127.0.0.1:$port" -s "$CONNS" -m intermediate -t echo \
    -b 400k --rate 40k -n 5 -w 30 >"$TEST_DIR/conns5.out" 2>&1 &
c5=$!
PIDS+=("$c5")
for ((i = 0; i < 50; i++)); do
    [ "$(user_field conns 'u["active"]')" = 5 ] && break
    sleep 0.1
done
assert_eq "$(user_field conns 'u["active"]')" 5 "conns: connections open"
refused "$CONNS" "conns: the 6th connection"
refused "$CONNS" "conns: the 7th connection"
rows=$(curl -s "http://127.0.0.1:$admin/api/v1/workers" | "$PY" -c '
import json, sys
print(sum(1 for w in json.load(sys.stdin)["workers"] if w["active"] > 0))')
note "conns: the 5 are in $rows worker(s) (alice's streams too)"
wait "$c5" || die "conns: the 5 connections did not finish intact"
assert_match "$(cat "$TEST_DIR/conns5.out")" "ok=5 failed=0" "conns: the 5"
served "$CONNS" "conns: a connection after the 5 ended"
assert_eq "$(user_field conns 'u["refused"]["conns"]')" 2 \
    "conns: refused[conns]"

# --- max_unique_ips --------------------------------------------------------

note "=== max_unique_ips = 2"
served "$IPS" "ips: from 127.0.0.2" --bind 127.0.0.2
served "$IPS" "ips: from 127.0.0.3" --bind 127.0.0.3
for k in 1 2 3 4 5; do
    refused "$IPS" "ips: from 127.0.0.4 ($k)" --bind 127.0.0.4
done
served "$IPS" "ips: from 127.0.0.2 again" --bind 127.0.0.2
assert_eq "$(user_field ips 'u["unique_ips_recent"]')" 2 "ips: recent"
assert_eq "$(user_field ips 'u["refused"]["ips"]')" 5 "ips: refused[ips]"
# Logged once a minute, not per attempt.
assert_eq "$(grep -c 'user ips refused' "$TELEMT_LOG")" 1 \
    "ips: lines about 5 refusals"

# --- data_quota_bytes -------------------------------------------------------

note "=== data_quota_bytes = $QLIMIT"
rc=0
mtc -s "$QUOTA" -m intermediate -t echo -b 8m -w 20 >/dev/null || rc=$?
[ "$rc" != 0 ] || die "quota: an echo of twice the quota was not cut"
used=$(user_field quota 'u["quota_used_bytes"]')
over=$((used - QLIMIT))
note "quota: cut with $used bytes used of $QLIMIT ($over over)"
assert_between "$over" 0 $((2 * BUF)) "quota: bytes over the quota"
refused "$QUOTA" "quota: a client past the quota"
assert_eq "$(user_field quota 'u["refused"]["quota"]')" 2 \
    "quota: refused or cut for quota"
sleep 1.5                               # one quota_save_interval and more

note "=== kill -9 of every process, then a restart"
read -ra victims <<<"$(descendants "$TELEMT_PID" | tr '\n' ' ')"
kill -KILL "$TELEMT_PID" "${victims[@]}" 2>/dev/null || true
wait "$TELEMT_PID" 2>/dev/null || true
TELEMT_PIDS=()
for ((i = 0; i < 50; i++)); do
    port_open "$port" || break
    sleep 0.1
done
sleep 0.5
LD_PRELOAD=$TEST_DIR/clockstep.so start_telemt "$cfg"
after=$(user_field quota 'u["quota_used_bytes"]')
note "quota: $after bytes used after the restart (was $used)"
assert_eq "$after" "$used" "quota: usage across kill -9 and a restart"
refused "$QUOTA" "quota: after the restart"

# The streams that outlive every timeout (from here on: kill -9 above
# ended the first proxy): alice, paced, ~30 s.
"$MTCLIENT" -c "127.0.0.1:$port" -s "$ALICE" -m padded -t echo \
    -b 3000k --rate 100k -n 4 -w 90 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")

# --- expiration --------------------------------------------------------------

# reload_conf ENABLED: rewrite the config, SIGHUP, wait until both
# workers applied it.
reload_conf() {
    local mark
    conf "$1"
    mark=$(lines "$TELEMT_LOG")
    kill -HUP "$TELEMT_PID"
    for ((i = 0; i < 100; i++)); do
        [ "$(lines_since "$TELEMT_LOG" "$mark" |
            grep -c 'worker [0-9]\[[0-9]*\] info: reload: generation [0-9]* applied')" = 2 ] &&
            return 0
        sleep 0.05
    done
    die "the reload was not applied"
}

exp_at=$(($(date +%s) + 4))
exp_str=$(date -u -d "@$exp_at" +%Y-%m-%dT%H:%M:%SZ)
note "=== expiration $exp_str (by a reload)"
reload_conf true
"$MTCLIENT" -c "127.0.0.1:$port" -s "$EXP" -m intermediate -t echo \
    -b 2m --rate 100k -w 30 >"$TEST_DIR/exp.out" 2>&1 &
e1=$!
PIDS+=("$e1")
sleep 1
assert_alive "$e1" "exp: the stream before its expiration"
rc=0
wait "$e1" || rc=$?
[ "$rc" != 0 ] || die "exp: the stream was not cut"
stamp=$(sed -n 's/.* failed: .* (at \([0-9:.]*\), .*/\1/p' "$TEST_DIR/exp.out")
[ -n "$stamp" ] || { cat "$TEST_DIR/exp.out"; die "exp: no failure time"; }
cut_ms=$(($(date -d "$(date -d "@$exp_at" +%F) $stamp" +%s%3N) - exp_at * 1000))
note "exp: the stream was cut $cut_ms ms after the expiration"
assert_between "$cut_ms" 0 $((1000 * SLOW)) "exp: cut after expiry (ms)"
refused "$EXP" "exp: a client after the expiration"

# --- rate limits -------------------------------------------------------------

note "=== rate_limit_up_bps = rate_limit_down_bps = $RBPS, 4 connections"
for k in 1 2 3 4; do
    "$MTCLIENT" -c "127.0.0.1:$port" -s "$RATE" -m intermediate -t echo \
        -b "$RBYTES" -w 60 >"$TEST_DIR/rate.$k.out" 2>&1 &
    rp[k]=$!
    PIDS+=("${rp[k]}")
done
rc=0
mtc -s "$ALICE" -m intermediate -t echo -b 16m -w 30 >/dev/null || rc=$?
# seconds=S.SSS of an mtclient summary line (file $1).
secs_of() {
    grep '^mtclient: mode=' "$1" | tail -n 1 |
        sed -n 's/.* seconds=\([0-9.]*\).*/\1/p'
}
free_s=$(secs_of <(printf '%s\n' "$MTC_OUT"))
[ "$rc" = 0 ] || die "rate: alice's transfer alongside failed"
for k in 1 2 3 4; do
    wait "${rp[k]}" || die "rate: client $k failed"
done
secs=()
for k in 1 2 3 4; do
    secs[k]=$(secs_of "$TEST_DIR/rate.$k.out")
done
note "rate: the 4 took ${secs[*]} s; alice's 16 MiB alongside ${free_s} s"
"$PY" - "$RBPS" "$RBYTES" "$free_s" "${secs[@]:1}" <<'EOF' || die "rate: not fair or not at the rate"
import sys
bps, n, free = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
secs = [float(x) for x in sys.argv[4:]]
# Each gets a quarter: n bytes each way at bps / 4.
want = n / (bps / 4)
rates = [n / s for s in secs]
share = sum(rates) / len(rates)
print("rate: each %s B/s (want %.0f), together %.0f B/s of %d" % (
    ["%.0f" % r for r in rates], bps / 4, sum(rates), bps))
ok = all(abs(r - share) <= 0.10 * share for r in rates)
ok = ok and abs(sum(rates) - bps) <= 0.10 * bps
# The unlimited user is not held to the rate: 16 MiB each way.
print("rate: alice at %.0f B/s" % (16 * 1048576 / free))
ok = ok and 16 * 1048576 / free > 4 * bps
sys.exit(0 if ok else 1)
EOF

# --- enabled = false by a reload ------------------------------------------------

note "=== enabled = false by a reload"
"$MTCLIENT" -c "127.0.0.1:$port" -s "$OFF" -m intermediate -t echo \
    -b 2m --rate 100k -w 30 >"$TEST_DIR/off.out" 2>&1 &
o1=$!
PIDS+=("$o1")
sleep 1
assert_alive "$o1" "off: the stream before the reload"
t_hup=$(date +%s%3N)
reload_conf false
rc=0
wait "$o1" || rc=$?
[ "$rc" != 0 ] || die "off: the stream was not cut"
stamp=$(sed -n 's/.* failed: .* (at \([0-9:.]*\), .*/\1/p' "$TEST_DIR/off.out")
off_ms=$(($(date -d "$(date +%F) $stamp" +%s%3N) - t_hup))
note "off: cut $off_ms ms after the SIGHUP"
assert_between "$off_ms" 0 $((1000 * SLOW)) "off: cut after the reload (ms)"
refused "$OFF" "off: a client of the disabled user"

# --- the quota's reset day ----------------------------------------------------

note "=== the clock stepped to the next quota_reset_day"
next=$("$PY" -c 'import datetime, sys
t = datetime.datetime.fromtimestamp(int(sys.argv[1]), datetime.timezone.utc)
y, m = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
n = datetime.datetime(y, m, 1, 0, 0, 5, tzinfo=datetime.timezone.utc)
print(int(n.timestamp()) - int(sys.argv[1]))' "$(date +%s)")
echo "$next" >"$off"
for ((i = 0; i < 50; i++)); do
    [ "$(user_field quota 'u["quota_used_bytes"]')" = 0 ] && break
    sleep 0.1
done
assert_eq "$(user_field quota 'u["quota_used_bytes"]')" 0 \
    "quota: usage after the reset day"
assert_grep "$TELEMT_LOG" 'quota: user quota: a new period' \
    "quota: the new period logged"
served "$QUOTA" "quota: a client in the new period"
echo 0 >"$off"

# --- the streams ---------------------------------------------------------------

rc=0
wait "$streams" || rc=$?
broken=$(summary_field "$TEST_DIR/streams.out" failures)
echo "broken streams: ${broken:-?} (of 4, each longer than every timeout)"
echo "failed connection attempts: $failed (of $attempts)"
assert_eq "$rc" 0 "the streams' exit status"
assert_eq "${broken:-?}" 0 "broken streams"
assert_grep "$TELEMT_LOG" 'user quota refused: data_quota_bytes' \
    "a refusal logged"
stop_telemt
