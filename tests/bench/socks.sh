#!/usr/bin/env bash
#
# socks.sh - the benchmark's SOCKS5 rows (README, "Performance"): telemt
# relaying to the fake DC through a SOCKS5 upstream (microsocks, no auth)
# next to telemt dialling the fake DC directly, the same client
# (tests/tools/mtclient, intermediate framing) and the same loads, in the
# same run; run.sh calls it after me.sh, in its network namespace, and
# appends the table it prints.
#
# Loads: 16 connections streaming 32 MiB each way (MB/s of verified
# payload) and 16 clients doing connect + handshake + 32-byte echo +
# close in a loop for 3 s (rate, and telemt's own CPU per handshake: the
# upstream's is not counted).  The upstream side pays for one more hop
# (microsocks copies every byte once more, on the same 2 cores) and, per
# client, the SOCKS5 greeting and CONNECT round trips before the DC's
# first byte.
#
# Env: TELEMT_BIN, TOOLS_DIR (default build/tests/tools), BENCH_REPS.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
bench_start socks
# Below 1024, as in me.sh: run.sh opens 1024..65535 to outgoing ports.
DC_PORT=911
SOCKS_PORT=912
PROXY_PORT=913

if ! command -v microsocks >/dev/null; then
    echo
    echo "SOCKS5 rows skipped: microsocks is not installed (scripts/deps.sh)."
    exit 0
fi

"$TOOLS_DIR/fakedc" -l "127.0.0.1:$DC_PORT" -o /dev/null \
    >"$work/dc.out" 2>&1 &
PIDS+=($!)
microsocks -i 127.0.0.1 -p "$SOCKS_PORT" >/dev/null 2>"$work/socks.out" &
PIDS+=($!)
wait_port "$DC_PORT"
wait_port "$SOCKS_PORT"

start_proxy() {
    local via=$1
    {
        echo "port = $PROXY_PORT; listen_ipv4 = \"127.0.0.1\"; workers = 2;"
        echo "allow_root = true; pidfile = \"\"; log_level = \"warn\";"
        echo "mask = false; admin_listen = \"\"; fast_mode = true;"
        echo "users = { alice = \"$SECRET\"; };"
        echo "modes = { classic = true; secure = true; tls = false; };"
        echo "dc_overrides = ( { dc = 2; addresses = [\"127.0.0.1:$DC_PORT\"]; } );"
        if [ "$via" = socks ]; then
            echo "upstreams = ( { type = \"socks5\";" \
                "address = \"127.0.0.1:$SOCKS_PORT\"; } );"
        fi
    } >"$work/telemt.conf"
    proxy_start "$work/telemt.conf" "$PROXY_PORT"
}

# mtc VIA ARGS...: mtclient against the proxy; its summary line.
mtc() {
    local via=$1
    shift
    mtc_run "$via $*" -c "127.0.0.1:$PROXY_PORT" -s "$SECRET" \
        -m intermediate "$@"
}

run_via() {
    local via=$1 out c0 c1 it
    local -a pids
    start_proxy "$via"
    read -r -a pids <<<"$(proxy_pids)"
    for _ in $(seq "$REPS"); do
        out=$(mtc "$via" -t source -b 32m -n 16)
        add "$via.down" "$(mbps "$out")"
        out=$(mtc "$via" -t sink -b 32m -n 16)
        add "$via.up" "$(mbps "$out")"
        c0=$(cpu_ticks "${pids[@]}")
        out=$(mtc "$via" -t echo -b 32 -n 16 --loop 3)
        c1=$(cpu_ticks "${pids[@]}")
        it=$(kv "$out" iterations)
        add "$via.hs" "$(awk -v n="$it" 'BEGIN { printf "%.0f", n / 3 }')"
        add "$via.hscpu" "$(awk -v a="$c0" -v b="$c1" -v n="$it" -v t="$TICK" \
            'BEGIN { printf "%.1f", n ? (b - a) / t * 1e6 / n : 0 }')"
    done
    stop_proxy
}

say "bench: through a SOCKS5 upstream against direct"
run_via direct
run_via socks

echo
echo "Through a SOCKS5 upstream (microsocks on loopback, no auth) next to" \
    "dialling the fake DC directly, same client (intermediate), medians" \
    "of $REPS runs; ratio is SOCKS5 to direct:"
echo
row "" direct "SOCKS5 upstream" "ratio"
row "---" "---" "---" "---"
for k in down:"DC->client MB/s (16 conns)" up:"client->DC MB/s (16 conns)" \
    hs:"handshakes/s (16 clients, with a 32-byte echo)" \
    hscpu:"telemt CPU per handshake, µs"; do
    name=${k%%:*}
    d=$(median "direct.$name")
    s=$(median "socks.$name")
    row "${k#*:}" "$d" "$s" "$(ratio "$s" "$d")"
done
echo
echo "SOCKS5 runs with a failure: $(bench_failures)."
