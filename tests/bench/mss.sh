#!/usr/bin/env bash
#
# mss.sh - the benchmark's rows for the segment-size knobs (README,
# "Performance" and "Small segments"): telemt in fake-TLS mode with
# neither knob, with client_mss = 536 and with tls_first_flight_segment
# = 200, the same client (tests/tools/mtclient --tls, padded) against
# the fake DC (tests/tools/fakedc), in the same run; run.sh calls it
# after me.sh, in its network namespace, and appends the table it prints.
#
# In that namespace lo gets an Ethernet MTU (1500) and no GSO
# (gso_max_segs 1) for these rows, put back at the end: every segment
# then goes through the stack on its own, as on a link without
# segmentation offload (the worst case for a small MSS), and "off" is
# the 1448-byte segments of such a link.  Outside it lo stays as it is.
#
# The three run at once (ports 905..907) and take turns.  Loads: 16
# connections streaming 8 MiB each way (MB/s of verified
# payload, and telemt's CPU per MB), 16 clients doing connect + fake-TLS
# handshake + 32-byte echo + close in a loop for 3 s (rate, and telemt's
# CPU per handshake).
#
# Env: TELEMT_BIN, TOOLS_DIR (default build/tests/tools), BENCH_REPS.

# shellcheck disable=SC2086  # pid lists are split into words on purpose
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
bench_start mss
SNI=www.example.com
# Below 1024, as in me.sh (run.sh gives the rest to outgoing ports).
DC_PORT=904
MSS=536
SPLIT=200
# lo's settings to put back at exit (see below).
LO=
bench_atexit() { [ -z "$LO" ] || ip link set lo $LO 2>/dev/null; }

link="lo as it is"
if [ -n "${BENCH_IN_NETNS:-}" ]; then
    mtu=$(ip -d link show lo | sed -n 's/.* mtu \([0-9]*\) .*/\1/p' | head -n1)
    segs=$(ip -d link show lo |
        sed -n 's/.* gso_max_segs \([0-9]*\).*/\1/p' | head -n1)
    if [ -n "$mtu" ] && [ -n "$segs" ] &&
        ip link set lo mtu 1500 gso_max_segs 1 2>/dev/null; then
        LO="mtu $mtu gso_max_segs $segs"
        link="lo at MTU 1500 without GSO"
    fi
fi

"$TOOLS_DIR/fakedc" -l "127.0.0.1:$DC_PORT" -o /dev/null \
    >"$work/dc.out" 2>&1 &
PIDS+=($!)
wait_port "$DC_PORT"

# start_proxy NAME PORT KEY=VALUE...: a TLS-only telemt on PORT with
# these settings; its pid in PID[NAME], its port in PORT[NAME].
declare -A PID PORT
start_proxy() {
    local name=$1 port=$2 kv
    shift 2
    {
        echo "port = $port; listen_ipv4 = \"127.0.0.1\"; workers = 2;"
        echo "allow_root = true; pidfile = \"\"; log_level = \"warn\";"
        echo "mask = false; admin_listen = \"\"; fast_mode = true;"
        echo "users = { alice = \"$SECRET\"; }; tls_domain = \"$SNI\";"
        echo "modes = { classic = false; secure = false; tls = true; };"
        echo "dc_overrides = ( { dc = 2; addresses = [\"127.0.0.1:$DC_PORT\"]; } );"
        for kv in "$@"; do
            echo "${kv%%=*} = ${kv#*=};"
        done
    } >"$work/$name.conf"
    "$TELEMT_BIN" -f "$work/$name.conf" >>"$work/$name.log" 2>&1 &
    PID[$name]=$!
    PORT[$name]=$port
    PIDS+=($!)
    wait_port "$port"
}

proxy_pids() { echo "${PID[$1]}" $(pgrep -P "${PID[$1]}"); }

# mtc NAME ARGS...: one mtclient run against proxy NAME; its summary.
mtc() {
    local name=$1
    shift
    mtc_run "$name $*" -c "127.0.0.1:${PORT[$name]}" -s "$SECRET" \
        -m padded --tls "$SNI" "$@"
}

# bulk NAME WAY TEST: MB/s and telemt's CPU ms per MB of 16 x 8 MiB.
bulk() {
    local name=$1 way=$2 out c0 c1 pids
    pids=$(proxy_pids "$name")
    c0=$(cpu_ticks $pids)
    out=$(mtc "$name" -t "$3" -b 8m -n 16)
    c1=$(cpu_ticks $pids)
    add "$name.$way" "$(mbps "$out")"
    add "$name.$way.cpu" "$(awk -v a="$c0" -v c="$c1" -v t="$TICK" \
        -v b="$(kv "$out" bytes)" \
        'BEGIN { printf "%.2f", b ? (c - a) / t * 1e3 / (b / 1e6) : 0 }')"
}

# hs NAME: handshakes per second of 16 clients over 3 s, and CPU each.
hs() {
    local name=$1 out pids c0 c1 it
    pids=$(proxy_pids "$name")
    c0=$(cpu_ticks $pids)
    out=$(mtc "$name" -t echo -b 32 -n 16 --loop 3)
    c1=$(cpu_ticks $pids)
    it=$(kv "$out" iterations)
    add "$name.hs" "$(awk -v n="$it" 'BEGIN { printf "%.0f", n / 3 }')"
    add "$name.hscpu" "$(awk -v a="$c0" -v b="$c1" -v n="$it" \
        -v t="$TICK" 'BEGIN { printf "%.1f", n ? (b - a) / t * 1e6 / n : 0 }')"
}

say "bench: client_mss and tls_first_flight_segment ($link)"
KNOBS=(off mss split)
start_proxy off 905
start_proxy mss 906 client_mss=$MSS
start_proxy split 907 tls_first_flight_segment=$SPLIT
sleep 0.5
# The three take turns within each repetition, so a change in the
# machine's load falls on all of them alike, and each repetition starts
# with another one (the first after a handshake loop pays for its
# leftovers).
for ((r = 0; r < REPS; r++)); do
    order=("${KNOBS[@]:r % 3}" "${KNOBS[@]:0:r % 3}")
    for k in "${order[@]}"; do bulk "$k" down source; done
    for k in "${order[@]}"; do bulk "$k" up sink; done
    for k in "${order[@]}"; do hs "$k"; done
done

echo
echo "Segment sizes (fake TLS, $link, against the fake DC), medians of" \
    "$REPS runs; ratios are to \"off\" of the same run:"
echo
row "" off "client_mss = $MSS" "ratio" "tls_first_flight_segment = $SPLIT" \
    "ratio"
row "---" "---" "---" "---" "---" "---"
for k in down:"DC->client MB/s (16 conns)" \
    down.cpu:"telemt CPU per DC->client MB, ms" \
    up:"client->DC MB/s (16 conns)" \
    up.cpu:"telemt CPU per client->DC MB, ms" \
    hs:"handshakes/s (16 clients, with a 32-byte echo)" \
    hscpu:"telemt CPU per handshake, µs"; do
    name=${k%%:*}
    o=$(median "off.$name")
    m=$(median "mss.$name")
    s=$(median "split.$name")
    row "${k#*:}" "$o" "$m" "$(ratio "$m" "$o")" "$s" "$(ratio "$s" "$o")"
done
echo
echo "Segment-size runs with a failure: $(bench_failures)."
