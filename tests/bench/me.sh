#!/usr/bin/env bash
#
# me.sh - the benchmark's ME-mode rows (README, "Performance"): telemt in
# middle-end proxy mode against our fake ME (tests/tools/fakeme) next to
# telemt in direct mode against the fake DC (tests/tools/fakedc), the
# same client (tests/tools/mtclient, intermediate framing, classic
# secret) and the same loads, in the same run; run.sh calls it last, in
# its network namespace, and appends the table it prints.
#
# Loads: 16 connections streaming 32 MiB each way (MB/s of verified
# payload), 16 clients doing connect + handshake + 32-byte echo + close
# in a loop for 3 s (rate, and telemt's CPU per handshake), and 2,000
# connections idle after one round trip (telemt's RSS per connection).
# The ME side pays for the frame parsing, RPC_PROXY_REQ, AES-CBC and the
# multiplexing; the fake ME itself is a test tool, not Telegram's.
#
# Env: TELEMT_BIN, TOOLS_DIR (default build/tests/tools), BENCH_REPS.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
bench_start me
# Below 1024: run.sh opens the whole 1024..65535 range to outgoing
# connections, and one may hold a higher port when we bind.
DC_PORT=901
ME_PORT=902
PROXY_PORT=903
IDLE_N=2000




head -c 128 /dev/urandom >"$work/secret"
printf 'default 2;\nproxy_for 2 127.0.0.1:%s;\n' "$ME_PORT" >"$work/list"
"$TOOLS_DIR/fakedc" -l "127.0.0.1:$DC_PORT" -o "$work/dc.log" \
    >"$work/dc.out" 2>&1 &
PIDS+=($!)
"$TOOLS_DIR/fakeme" -l "127.0.0.1:$ME_PORT" --secret-file "$work/secret" \
    --log /dev/null >"$work/me.out" 2>&1 &
PIDS+=($!)
wait_port "$DC_PORT"
wait_port "$ME_PORT"

start_proxy() {
    local me=$1
    {
        echo "port = $PROXY_PORT; listen_ipv4 = \"127.0.0.1\"; workers = 2;"
        echo "allow_root = true; pidfile = \"\"; log_level = \"warn\";"
        echo "mask = false; admin_listen = \"\"; fast_mode = true;"
        echo "users = { alice = \"$SECRET\"; };"
        echo "modes = { classic = true; secure = true; tls = false; };"
        echo "dc_overrides = ( { dc = 2; addresses = [\"127.0.0.1:$DC_PORT\"]; } );"
        echo "use_middle_proxy = $me; me_secret_file = \"$work/secret\";"
        echo "me_config_file = \"$work/list\"; me_fallback_direct = false;"
    } >"$work/telemt.conf"
    proxy_start "$work/telemt.conf" "$PROXY_PORT"
}

# framing MODE: ME mode parses the client's frames, so its bytes go in
# them (an unquoted word: nothing in direct mode).
framing() { [ "$1" != me ] || echo --framed; }

# mtc MODE ARGS...: mtclient against the proxy (framed in ME mode).
mtc() {
    local mode=$1
    shift
    mtc_run "$mode $*" -c "127.0.0.1:$PROXY_PORT" -s "$SECRET" \
        -m intermediate $(framing "$mode") "$@"
}

run_mode() {
    local mode=$1 out pids c0 c1 r0 r1 it
    start_proxy "$([ "$mode" = me ] && echo true || echo false)"
    pids=$(proxy_pids)
    for _ in $(seq "$REPS"); do
        out=$(mtc "$mode" -t source -b 32m -n 16)
        add "$mode.down" "$(mbps "$out")"
        out=$(mtc "$mode" -t sink -b 32m -n 16)
        add "$mode.up" "$(mbps "$out")"
        c0=$(cpu_ticks $pids)
        out=$(mtc "$mode" -t echo -b 32 -n 16 --loop 3)
        c1=$(cpu_ticks $pids)
        it=$(kv "$out" iterations)
        add "$mode.hs" "$(awk -v n="$it" 'BEGIN { printf "%.0f", n / 3 }')"
        add "$mode.hscpu" "$(awk -v a="$c0" -v b="$c1" -v n="$it" -v t="$TICK" \
            'BEGIN { printf "%.1f", n ? (b - a) / t * 1e6 / n : 0 }')"
    done
    # Idle: every connection echoes 4 bytes, then waits 8 s.
    sleep 1
    r0=$(rss_kib $pids)
    "$TOOLS_DIR/mtclient" -c "127.0.0.1:$PROXY_PORT" -s "$SECRET" \
        -m intermediate $(framing "$mode") -t echo -b 8 \
        --idle 8000 -n "$IDLE_N" >"$work/idle.$mode" 2>&1 &
    local cl=$!
    sleep 6
    r1=$(rss_kib $pids)
    wait "$cl" || bench_failed "$mode idle: $(tail -n 1 "$work/idle.$mode")"
    add "$mode.idle" "$(awk -v a="$r0" -v b="$r1" -v n="$IDLE_N" \
        'BEGIN { printf "%.1f", (b - a) / n }')"
    stop_proxy
}

say "bench: ME mode against direct mode"
run_mode direct
run_mode me

echo
echo "ME mode (use_middle_proxy, against our fake ME) next to direct mode" \
    "(against the fake DC), same client (intermediate), medians of $REPS" \
    "runs; ratio is ME to direct:"
echo
row "" direct "ME mode" "ratio"
row "---" "---" "---" "---"
for k in down:"DC->client MB/s (16 conns)" up:"client->DC MB/s (16 conns)" \
    hs:"handshakes/s (16 clients, with a 32-byte echo)" \
    hscpu:"telemt CPU per handshake, µs" \
    idle:"RSS per idle connection ($IDLE_N), KiB"; do
    name=${k%%:*}
    d=$(median "direct.$name")
    m=$(median "me.$name")
    row "${k#*:}" "$d" "$m" "$(ratio "$m" "$d")"
done
echo
echo "ME-mode runs with a failure: $(bench_failures)."
