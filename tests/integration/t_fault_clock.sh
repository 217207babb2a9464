#!/usr/bin/env bash
#
# t_fault_clock.sh - the wall clock stepped by an hour, forward and back
# (an LD_PRELOAD shim, clockstep.c, compiled here, adds the offset in a
# file to the proxy's CLOCK_REALTIME only; its monotonic clock runs on,
# as with a real step).  Streams that outlive every timeout in the config
# (paced ones, and ones idle for most of relay_idle_timeout) must go on
# through both steps with nothing dropped; new classic and secure clients
# are served after each step.  Fake TLS checks the hello's timestamp
# against the wall clock (tls_time_skew): after each step a client whose
# clock disagrees by the hour is masked (hs_stale_time, relayed to the
# mask host) and one whose clock matches the stepped one is served.
# /healthz stays 200, the counters go on counting, uptime does not jump
# with the clock and a user's recent addresses are still counted.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

command -v curl >/dev/null || skip "curl is not installed"
need_nginx
clockstep_setup

HT=3                    # handshake_timeout
IT=5                    # relay_idle_timeout, mask_idle_timeout
SKEW=120                # tls_time_skew
STEP=3600
DOMAIN=$NGINX_DOMAIN

start_fakedc fakedc
start_nginx nginx
cfg=$TEST_DIR/telemt.conf
admin=$(free_port)
write_config "$cfg" workers=2 modes.tls=true tls_domain="$DOMAIN" \
    tls_time_skew=$SKEW mask=true mask_host=127.0.0.1 \
    mask_port="$NGINX_PORT" mask_idle_timeout=$IT handshake_timeout=$HT \
    relay_idle_timeout=$IT dc_connect_timeout=2 log_level=info \
    admin_listen="127.0.0.1:$admin"
LD_PRELOAD=$TEST_DIR/clockstep.so start_telemt "$cfg"

# get PATH: the admin endpoint's answer into $TEST_DIR/get.out; prints
# the HTTP status.
get() {
    curl -s -m 5 -o "$TEST_DIR/get.out" -w '%{http_code}' \
        "http://127.0.0.1:$admin$1" || true
}
# jnum EXPR: a number from /api/v1/stats (python expression on j).
jnum() {
    [ "$(get /api/v1/stats)" = 200 ] || die "/api/v1/stats failed"
    "$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
print('"$1"')' "$TEST_DIR/get.out"
}
for ((i = 0; i < 50; i++)); do
    [ "$(get /healthz)" = 200 ] && break
    sleep 0.1
done
assert_eq "$(get /healthz)" 200 "/healthz before the steps"

# Streams of ~25 s, paced, through both steps: secure, and fake TLS (its
# hello was checked before the first step); and ones silent across a
# step for most of relay_idle_timeout.  All as alice; the clients below
# are bob, so alice's addresses were last seen before the steps.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 2500k --rate 100k -n 3 -w 60 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    --tls "$DOMAIN" -b 2500k --rate 100k -n 2 -w 60 \
    >"$TEST_DIR/tlsstreams.out" 2>&1 &
tlsstreams=$!
# idle_streams NAME: 2 streams that send for 2 s, stay silent for 4 s
# (of relay_idle_timeout=$IT), then send for 2 s more; the step comes
# 2.5 s after the start, in the silence.
idle_streams() {
    "$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
        -t echo -b 400k --rate 100k --idle 4000 -n 2 -w 30 \
        >"$TEST_DIR/$1.out" 2>&1 &
    IDLE_PID=$!
    PIDS+=("$IDLE_PID")
}
idle_streams idle1
idle1=$IDLE_PID
PIDS+=("$streams" "$tlsstreams")
sleep 1
uptime0=$(jnum 'j["uptime_seconds"]')
accepted0=$(jnum 'j["connections"]["accepted"]')

declare -A did=([stale]=0 [tls]=0)
# after_step WHAT OFFSET: the checks after the proxy's clock went to
# real time + OFFSET.
after_step() {
    local what=$1 o=$2 wrong rc now up acc ips stale0 relayed0
    sleep 0.5                           # the shim re-reads every 100 ms
    now=$(jnum 'j["now"]')
    note "$what: the proxy's clock says $now (real $(date +%s))"
    assert_between $((now - $(date +%s))) $((o - 5)) $((o + 5)) \
        "$what: the proxy's clock offset"
    stale0=$(jnum 'j["handshakes"]["stale_time"]')
    relayed0=$(jnum 'j["masking"]["relayed"]')
    mtc_ok -s "$BOB" -m abridged -t echo -b 16k -n 4 >/dev/null
    mtc_ok -s "$BOB" -m intermediate -t echo -b 16k -n 4 >/dev/null
    mtc_ok -s "$BOB" -m padded -t echo -b 16k -n 4 >/dev/null
    # A hello by the stepped clock is served...
    mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" --time-offset "$o" \
        -t echo -b 16k -n 2 >/dev/null
    did[tls]=$((did[tls] + 2))
    # ...one by the clock before the step is masked: the mask host's
    # TLS answers it, not ours.
    wrong=$((o == 0 ? STEP : 0))
    rc=0
    mtc -s "$BOB" -m padded --tls "$DOMAIN" --time-offset "$wrong" \
        -t echo -b 16k -n 1 -w 5 >/dev/null || rc=$?
    [ "$rc" != 0 ] || die "$what: a hello an hour off was served"
    did[stale]=$((did[stale] + 1))
    assert_eq "$(jnum 'j["handshakes"]["stale_time"]')" \
        $((stale0 + 1)) "$what: hs_stale_time"
    assert_eq "$(jnum 'j["masking"]["relayed"]')" $((relayed0 + 1)) \
        "$what: mask_relayed (the stale hello went to the mask host)"
    assert_eq "$(get /healthz)" 200 "$what: /healthz"
    up=$(jnum 'j["uptime_seconds"]')
    acc=$(jnum 'j["connections"]["accepted"]')
    ips=$(jnum '[u["unique_ips_recent"] for u in j["users"]
        if u["name"] == "alice"][0]')
    note "$what: uptime $up s (was $uptime0), accepted $acc (was" \
        "$accepted0), alice's recent addresses: $ips"
    assert_between "$up" "$uptime0" $((uptime0 + 60)) \
        "$what: uptime_seconds (must not jump with the clock)"
    [ "$acc" -gt "$accepted0" ] || die "$what: connections.accepted stuck"
    assert_eq "$ips" 1 "$what: alice's unique_ips_recent"
    accepted0=$acc
}

sleep 1.5
note "=== clock +1 h"
echo "$STEP" >"$off"
after_step "clock +1 h" "$STEP"
idle_streams idle2
idle2=$IDLE_PID
sleep 2.5
note "=== clock back by 1 h"
echo 0 >"$off"
after_step "clock -1 h" 0

rc_s=0 rc_t=0 rc_i=0
wait "$streams" || rc_s=$?
wait "$tlsstreams" || rc_t=$?
wait "$idle1" || rc_i=$?
wait "$idle2" || rc_i=$?
broken=0
for f in streams tlsstreams idle1 idle2; do
    note "$f: $(grep '^mtclient: mode=' "$TEST_DIR/$f.out" | tail -n 1)"
    broken=$((broken + $(summary_field "$TEST_DIR/$f.out" failures)))
done
echo "broken streams: $broken (of 9)"
echo "failed connection attempts: 0 (of $((2 * (12 + 2))) after the steps;" \
    "mtc_ok stops the test at the first)"
assert_eq "$rc_s" 0 "secure streams across the steps"
assert_eq "$rc_t" 0 "fake TLS streams across the steps"
assert_eq "$rc_i" 0 "idle streams across the steps"
assert_eq "$broken" 0 "broken streams"
assert_eq "$(get /healthz)" 200 "/healthz at the end"
stop_telemt
assert_eq "$(stat_of relay_idle_closed)" 0 \
    "relay_idle_closed (no timeout fired)"
assert_eq "$(stat_of hs_stale_time)" "${did[stale]}" "hs_stale_time"
assert_eq "$(stat_of hs_ok_tls)" $((did[tls] + 2)) "hs_ok_tls"
echo "fault results: clock +1 h and back: 9 streams (3 paced, 2 fake" \
    "TLS, 4 silent for 4 s of ${IT} across a step) unbroken, no timeout" \
    "fired; classic/secure/TLS served after each step; a hello by the" \
    "old clock masked (hs_stale_time=${did[stale]}); /healthz 200;" \
    "uptime and recent addresses unaffected"
