#!/usr/bin/env bash
#
# run.sh - the benchmark behind `make bench` (README, "Performance").
#
# Starts the fake DC, the no-crypto relay (both from tests/bench/bench)
# and telemt on loopback, drives the same loads through each of them with
# `bench load`, and prints medians over BENCH_REPS runs with every proxy
# figure as a ratio to the relay's, measured in the same run.  It asserts
# nothing: the figures are for reading (and for the README's table).
#
# The ME-mode rows come from me.sh, run last (see there).
# The segment-size rows (client_mss, tls_first_flight_segment) come from
# mss.sh, after it, and the SOCKS5 rows from socks.sh, last.
#
# Targets: "direct" is the load client straight to the fake DC (the
# tool's own ceiling), "relay" the baseline, "classic", "secure" and
# "tls" telemt in that client mode (fast mode on, 2 workers).  "mini-M"
# is the second baseline, `bench mini` (mini.c: the same client protocol
# and fast mode, nothing else) in client mode M; "tls1800" and
# "mini-tls1800" send 1,800-byte hellos, as current clients do.  The
# handshake cost table compares telemt with mini, with context switches
# and syscalls per handshake from `perf stat` when perf is there.
#
# Env: TELEMT_BIN, BENCH_BIN, BENCH_REPS (default 3), BENCH_SECONDS (bulk
# and handshake run length, default 0.7), BENCH_OUT (the table is also
# written there, default build/bench/results.md), BENCH_NO_NETNS=1 to stay
# on the host network.  As root it re-runs itself in a private network
# namespace, so the sysctls it sets (port range, TIME_WAIT reuse) and all
# its traffic stay inside it.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

if [ -z "${BENCH_IN_NETNS:-}" ] && [ -z "${BENCH_NO_NETNS:-}" ] &&
    [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -n true 2>/dev/null; then
    exec unshare -n env BENCH_IN_NETNS=1 bash "$here/run.sh" "$@"
fi
if [ -n "${BENCH_IN_NETNS:-}" ]; then
    ip link set lo up || { echo "run.sh: cannot bring lo up" >&2; exit 1; }
    sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" \
        net.ipv4.tcp_tw_reuse=1 >/dev/null 2>&1 || true
fi

TELEMT_BIN=$(realpath -m "${TELEMT_BIN:-$root/telemt}")
BENCH_BIN=$(realpath -m "${BENCH_BIN:-$root/build/tests/bench/bench}")
REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECONDS:-0.7}
OUT=$(realpath -m "${BENCH_OUT:-$root/build/bench/results.md}")
WORKERS=2
SECRET=0123456789abcdef0123456789abcdef
SNI=www.example.com
DC_PORT=19000
RELAY_PORT=19001
MINI_PORT=19002
PROXY_PORT=19443
ADMIN_PORT=19091
TARGETS=(direct relay classic secure tls)
PROXIES=(classic secure tls)
# The handshake cost table: each of these and its mini- twin.
COSTS=(classic secure tls tls1800)

for b in "$TELEMT_BIN" "$BENCH_BIN"; do
    [ -x "$b" ] || { echo "run.sh: $b is missing (make first)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d "${TMPDIR:-/tmp}/telemt-bench.XXXXXX")
mkdir -p "$(dirname "$OUT")"
DC_PID= RELAY_PID= MINI_PID= PROXY_PID=

stop_pid() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

cleanup() {
    stop_pid "$PROXY_PID"
    stop_pid "$MINI_PID"
    stop_pid "$RELAY_PID"
    stop_pid "$DC_PID"
    # The logs stay beside the table: failures are explained there.
    mkdir -p "$(dirname "$OUT")/logs"
    cp "$work"/*.log "$(dirname "$OUT")/logs/" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() { echo "run.sh: $*" >&2; exit 1; }

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on port $1 (see $work/*.log)"
}

# A config with NUSERS users, the benchmark's own secret last (the worst
# place for the per-user loop), and every DC at the fake DC.  LIMITS
# "limits": our user has every per-user limit set, none of them binding
# (so each connection pays for every check: admission under the user's
# lock, quota and rate per read).
write_proxy_config() {
    local nusers=$1 workers=$2 limits=${3:-} i dcs=""
    for dc in 1 2 3 4 5 -1 -2 -3 -4 -5; do
        dcs+="${dcs:+, }{ dc = $dc; addresses = [\"127.0.0.1:$DC_PORT\"]; }"
    done
    {
        echo "port = $PROXY_PORT;"
        echo "listen_ipv4 = \"127.0.0.1\";"
        echo "workers = $workers;"
        echo "allow_root = true;"
        echo "pidfile = \"\";"
        echo "log_level = \"warn\";"
        echo "mask = false;"
        echo "fast_mode = true;"
        echo "admin_listen = \"127.0.0.1:$ADMIN_PORT\";"
        echo "tls_domain = \"$SNI\";"
        echo "modes = { classic = true; secure = true; tls = true; };"
        echo "users = {"
        for ((i = 1; i < nusers; i++)); do
            printf '  u%04d = "%s";\n' "$i" "$(printf '%032x' "$i")"
        done
        if [ "$limits" = limits ]; then
            echo "  alice = { secret = \"$SECRET\"; max_tcp_conns = 1000000;"
            echo "    max_unique_ips = 32; data_quota_bytes = 9000000000000000000L;"
            echo "    quota_reset_day = 1; expiration = \"2099-01-01T00:00:00Z\";"
            echo "    rate_limit_up_bps = 100000000000L;"
            echo "    rate_limit_down_bps = 100000000000L; };"
        else
            echo "  alice = \"$SECRET\";"
        fi
        echo "};"
        echo "dc_overrides = ( $dcs );"
    } >"$work/telemt.conf"
}

start_proxy() {
    write_proxy_config "$1" "$2" "${3:-}"
    "$TELEMT_BIN" -f "$work/telemt.conf" >>"$work/telemt.log" 2>&1 &
    PROXY_PID=$!
    wait_port "$PROXY_PORT"
    wait_port "$ADMIN_PORT"
}

start_fixtures() {
    "$BENCH_BIN" dc --listen "127.0.0.1:$DC_PORT" >"$work/dc.log" 2>&1 &
    DC_PID=$!
    "$BENCH_BIN" relay --listen "127.0.0.1:$RELAY_PORT" \
        --to "127.0.0.1:$DC_PORT" --workers "$WORKERS" \
        >"$work/relay.log" 2>&1 &
    RELAY_PID=$!
    "$BENCH_BIN" mini --listen "127.0.0.1:$MINI_PORT" \
        --to "127.0.0.1:$DC_PORT" --secret "$SECRET" --workers "$WORKERS" \
        >"$work/mini.log" 2>&1 &
    MINI_PID=$!
    wait_port "$DC_PORT"
    wait_port "$RELAY_PORT"
    wait_port "$MINI_PORT"
}

# pids_of TARGET: the processes whose CPU and memory count for it.
pids_of() {
    local p
    case $1 in
    relay) p=$RELAY_PID ;;
    mini-*) p=$MINI_PID ;;
    direct) p=$DC_PID ;;
    *) p=$PROXY_PID ;;
    esac
    echo "$p" $(pgrep -P "$p")
}



fd_count() {
    local t=0 f
    for f in "$@"; do
        t=$((t + $(ls "/proc/$f/fd" 2>/dev/null | wc -l)))
    done
    echo "$t"
}

mem_available_kib() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
# meminfo_kib KEY...: those /proc/meminfo fields (kB), space-separated.
meminfo_kib() {
    local k
    for k in "$@"; do
        awk -v k="$k:" '$1 == k { printf "%s ", $2 }' /proc/meminfo
    done
}
KMEM=(KernelStack SUnreclaim PageTables)


target_args() {
    local port=$PROXY_PORT m=$1
    case $m in
    direct) echo --target "127.0.0.1:$DC_PORT" --mode direct; return ;;
    relay) echo --target "127.0.0.1:$RELAY_PORT" --mode direct; return ;;
    mini-*) port=$MINI_PORT m=${m#mini-} ;;
    esac
    case $m in
    tls) echo --target "127.0.0.1:$port" --mode tls \
        --secret "$SECRET" --sni "$SNI" ;;
    tls1800) echo --target "127.0.0.1:$port" --mode tls \
        --secret "$SECRET" --sni "$SNI" --hello-len 1800 ;;
    *) echo --target "127.0.0.1:$port" --mode "$m" \
        --secret "$SECRET" ;;
    esac
}

total() {
    local v=${R[$1]:-}
    [ -n "$v" ] || { echo "-"; return; }
    tr ' ' '\n' <<<"$v" | awk '{ s += $1 } END { print s }'
}




FAILS=0
# load TARGET ARGS...: run one load, record the proxy-side CPU seconds in
# LAST_CPU and the tool's result line in LAST.
load() {
    local t=$1 pids c0 c1
    shift
    pids=$(pids_of "$t")
    c0=$(cpu_ticks $pids)
    LAST=$("$BENCH_BIN" load $(target_args "$t") "$@" 2>>"$work/load.log")
    c1=$(cpu_ticks $pids)
    LAST_CPU=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" \
        'BEGIN { printf "%.3f", (b - a) / t }')
    local f
    f=$(kv "$LAST" fail)
    if [ -z "$LAST" ] || [ "${f:-1}" != 0 ]; then
        FAILS=$((FAILS + 1))
        say "  $t $*: ${LAST:-no result} (see $(dirname "$OUT")/logs/load.log)"
    fi
}


# ---------------------------------------------------------------- perf
# perf stat attached to a target's processes counts their threads too,
# and (inherit) every thread and process they start while it counts:
# perf_check compares it with the kernel's own count.  It starts with
# its events off and is switched on and off through its control fifo,
# so that it counts exactly while a load runs.

PERF_EVENTS=context-switches,raw_syscalls:sys_enter
HAVE_PERF=
if command -v perf >/dev/null &&
    perf stat -x, -e "$PERF_EVENTS" -o /dev/null true 2>/dev/null; then
    HAVE_PERF=1
fi
PERF_PID=

# perf_begin EVENTS PID...: count EVENTS in those processes from now on;
# 1 (and nothing runs) if perf did not start.
perf_begin() {
    local events=$1 pids
    shift
    [ -n "$HAVE_PERF" ] || return 1
    pids=$(tr ' ' ',' <<<"$*")
    rm -f "$work/perf.ctl" "$work/perf.ack" "$work/perf.out"
    mkfifo "$work/perf.ctl" "$work/perf.ack" || return 1
    perf stat -x, -e "$events" -p "$pids" -D -1 \
        --control "fifo:$work/perf.ctl,$work/perf.ack" \
        -o "$work/perf.out" >>"$work/perf.log" 2>&1 &
    PERF_PID=$!
    # Read-write opens of a fifo do not wait for the other end.
    exec 5<>"$work/perf.ctl" 6<>"$work/perf.ack"
    echo enable >&5
    if ! read -r -t 10 _ <&6; then
        say "  perf stat did not start (see $(dirname "$OUT")/logs/perf.log)"
        perf_end
        return 1
    fi
}

perf_end() {
    echo disable >&5
    read -r -t 5 _ <&6
    kill -INT "$PERF_PID" 2>/dev/null
    wait "$PERF_PID" 2>/dev/null
    PERF_PID=
    exec 5>&- 6>&-
}

# perf_count EVENT...: the sum of those events' counts in the last run.
perf_count() {
    local e
    for e in "$@"; do
        awk -F, -v e="$e" '$3 == e { print $1 }' "$work/perf.out"
    done | awk '$1 ~ /^[0-9]+$/ { s += $1; n++ }
        END { if (n) print s; else print "-" }'
}

# per A B: A / B to three decimals, "-" if either is missing.
per() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || a == "" || b + 0 == 0) print "-";
        else printf "%.3f", a / b }'
}

# io_calls PID...: read- and write-family syscalls the kernel counted
# (/proc/PID/io syscr + syscw: the whole process, dead threads too).
io_calls() {
    local t=0 f v
    for f in "$@"; do
        v=$(awk '/^sysc[rw]:/ { s += $2 } END { print s + 0 }' \
            "/proc/$f/io" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# ---------------------------------------------------------------- runs

bulk() {
    local rep n dir t up down
    for rep in $(seq "$REPS"); do
        for n in 1 16; do
            for dir in up down both; do
                for t in "${TARGETS[@]}"; do
                    load "$t" bulk --conns "$n" --dir "$dir" --seconds "$SECS"
                    up=$(kv "$LAST" up_mbps)
                    down=$(kv "$LAST" down_mbps)
                    [ "$dir" = down ] || add "bulk.$n.$dir.up.$t" "${up:-0}"
                    [ "$dir" = up ] || add "bulk.$n.$dir.down.$t" "${down:-0}"
                    # CPU nanoseconds per payload byte, both directions.
                    if [ "$n" = 16 ] && [ "$dir" = both ]; then
                        add "cpu_byte.$t" "$(awk -v c="$LAST_CPU" \
                            -v u="$(kv "$LAST" up_bytes)" \
                            -v d="$(kv "$LAST" down_bytes)" 'BEGIN {
                            printf "%.3f", (u + d) ? c * 1e9 / (u + d) : 0 }')"
                    fi
                done
            done
        done
    done
}

handshakes() {
    local rep n t hs suffix=${1:-}
    shift || true
    local targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
    for rep in $(seq "$REPS"); do
        for n in 16 64; do
            for t in "${targets[@]}"; do
                load "$t" hs --clients "$n" --seconds "$SECS"
                hs=$(kv "$LAST" handshakes)
                add "hs$suffix.$n.rate.$t" "$(kv "$LAST" rate)"
                add "hs$suffix.$n.p50.$t" "$(kv "$LAST" p50_ms)"
                add "hs$suffix.$n.p99.$t" "$(kv "$LAST" p99_ms)"
                add "hs$suffix.$n.fail.$t" "$(kv "$LAST" fail)"
                add "hs$suffix.$n.cpu.$t" "$(awk -v c="$LAST_CPU" -v h="$hs" \
                    'BEGIN { printf "%.1f", h ? c * 1e6 / h : 0 }')"
            done
        done
    done
}

# hs_perf TARGET...: one handshake run (16, 64 clients) of each under
# perf stat, for context switches and syscalls per handshake.  Apart from
# the other figures: perf slows telemt's handshakes by some 5% and
# mini's by 1% (it costs per syscall), so those come from runs without.
hs_perf() {
    local n t hs pids
    for n in 16 64; do
        for t in "$@"; do
            read -ra pids <<<"$(pids_of "$t")"
            perf_begin "$PERF_EVENTS" "${pids[@]}" || return 0
            load "$t" hs --clients "$n" --seconds "$SECS"
            perf_end
            hs=$(kv "$LAST" handshakes)
            add "hs.$n.ctx.$t" "$(per "$(perf_count context-switches)" "$hs")"
            add "hs.$n.sys.$t" \
                "$(per "$(perf_count raw_syscalls:sys_enter)" "$hs")"
        done
    done
}

# perf_check: is what perf counts all of telemt, with the threads it
# starts and ends during a run?  The read/write-family syscalls perf
# counted against those the kernel counted for the processes (dead
# threads too).  telemt's idle threads wait 2 s for another connection
# (worker/threads.c), so the count starts after they are gone and goes
# on until the run's threads are gone too.
PERF_CHECK=
perf_check() {
    local pids io0 io1 rw cl ex
    local ev=syscalls:sys_enter_read,syscalls:sys_enter_write
    ev+=,syscalls:sys_enter_readv,syscalls:sys_enter_writev
    ev+=,syscalls:sys_enter_pread64,syscalls:sys_enter_pwrite64
    ev+=,syscalls:sys_enter_clone,syscalls:sys_enter_clone3
    ev+=,syscalls:sys_enter_exit
    read -ra pids <<<"$(pids_of tls)"
    sleep 2.5
    io0=$(io_calls "${pids[@]}")
    perf_begin "$ev" "${pids[@]}" || return 0
    load tls hs --clients 64 --seconds "$SECS"
    sleep 2.5
    perf_end
    io1=$(io_calls "${pids[@]}")
    rw=$(perf_count syscalls:sys_enter_read syscalls:sys_enter_write \
        syscalls:sys_enter_readv syscalls:sys_enter_writev \
        syscalls:sys_enter_pread64 syscalls:sys_enter_pwrite64)
    cl=$(perf_count syscalls:sys_enter_clone syscalls:sys_enter_clone3)
    ex=$(perf_count syscalls:sys_enter_exit)
    PERF_CHECK="perf check (telemt, tls, 64 clients: $(kv "$LAST" \
handshakes) handshakes; $cl threads started, $ex ended while counted): \
read/write-family syscalls $rw counted by perf, $((io1 - io0)) by the \
kernel (/proc/PID/io)."
}

latency() {
    local t
    for t in "${TARGETS[@]}"; do
        load "$t" latency --conns 100 --rate 2000 --seconds 2.5
        add "lat.p50.$t" "$(kv "$LAST" p50_ms)"
        add "lat.p99.$t" "$(kv "$LAST" p99_ms)"
        add "lat.p999.$t" "$(kv "$LAST" p999_ms)"
    done
}

# hold TARGET N: open N connections (one round trip each), let them go
# idle, measure, close, measure again.
hold() {
    local t=$1 n=$2 pids rss0 ma0 fd0 rss1 ma1 fd1 rss2 line fifo pid
    local km0 km1
    pids=$(pids_of "$t")
    sleep 1
    rss0=$(rss_kib $pids) ma0=$(mem_available_kib) fd0=$(fd_count $pids)
    km0=$(meminfo_kib "${KMEM[@]}")
    fifo=$work/hold.$t.$n
    mkfifo "$fifo"
    "$BENCH_BIN" load $(target_args "$t") hold --conns "$n" \
        <"$fifo" >"$fifo.out" 2>>"$work/load.log" &
    pid=$!
    exec 7>"$fifo"
    for _ in $(seq 600); do
        grep -q '^HELD' "$fifo.out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # Past the relay's idle time, so what is measured is an idle client.
    sleep 2.5
    rss1=$(rss_kib $pids) ma1=$(mem_available_kib) fd1=$(fd_count $pids)
    km1=$(meminfo_kib "${KMEM[@]}")
    exec 7>&-
    wait "$pid"
    # Past a parked thread's wait (2 s) and a worker's trim period (1 s).
    sleep 3.5
    rss2=$(rss_kib $pids)
    line=$(tail -n1 "$fifo.out")
    if [ "$(kv "$line" fail)" != 0 ] || [ "$(kv "$line" alive)" != "$n" ]; then
        FAILS=$((FAILS + 1))
        say "  hold $t $n: $(cat "$fifo.out")"
    fi
    M[$t.$n.rss]=$(awk -v a="$rss0" -v b="$rss1" -v n="$n" \
        'BEGIN { printf "%.1f", (b - a) / n }')
    M[$t.$n.sys]=$(awk -v a="$ma0" -v b="$ma1" -v n="$n" \
        'BEGIN { printf "%.1f", (a - b) / n }')
    M[$t.$n.fds]=$(awk -v a="$fd0" -v b="$fd1" -v n="$n" \
        'BEGIN { printf "%.2f", (b - a) / n }')
    M[$t.$n.after]=$(awk -v a="$rss0" -v c="$rss2" \
        'BEGIN { printf "%+.1f%%", a ? (c - a) * 100 / a : 0 }')
    # Kernel stacks, unreclaimable slab (sockets, epoll, the tasks of
    # threads), page tables: "sum = stack + slab + page tables".
    M[$t.$n.kernel]=$(awk -v a="$km0" -v b="$km1" -v n="$n" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= 3; i++) d[i] = (y[i] - x[i]) / n
        printf "%.1f = %.1f + %.1f + %.2f", d[1] + d[2] + d[3], d[1], d[2],
            d[3] }')
    M[$t.$n.start]=$rss0
    M[$t.$n.alive]="$(kv "$line" alive)/$n"
}
declare -A M

# --------------------------------------------------------------- table

# pair_cell FORMAT A B: "A / B (A's ratio to B)", A and B printed with
# FORMAT, the ratio of them as they are.
pair_cell() {
    awk -v f="$1" -v a="$2" -v b="$3" -v r="$(ratio "$2" "$3")" '
        function p(v) { return v == "-" ? v : sprintf(f, v) }
        BEGIN { printf "%s / %s (%s)\n", p(a), p(b), r }'
}

report_costs() {
    local n m label cells k
    echo "Handshake cost, telemt against mini (bench mini: the same client" \
        "protocol and fast mode, nothing else; $WORKERS prefork epoll" \
        "workers), in the same run; each cell is telemt / mini" \
        "(telemt's ratio to mini).  Context switches and syscalls per" \
        "handshake come from one more run of each under perf stat" \
        "(server processes, their threads included):"
    echo
    row "clients" "mode" "per second" "p50 ms" "p99 ms" \
        "server CPU us each" "context switches each" "syscalls each" \
        "failures (all runs)"
    row "---" "---" "---" "---" "---" "---" "---" "---" "---"
    for n in 16 64; do
        for m in "${COSTS[@]}"; do
            label=$m
            [ "$m" != tls1800 ] || label="tls, 1,800-byte hello"
            cells=()
            for k in rate:%.0f p50:%.3f p99:%.3f cpu:%.1f ctx:%.2f \
                sys:%.1f; do
                cells+=("$(pair_cell "${k#*:}" \
                    "$(median "hs.$n.${k%:*}.$m")" \
                    "$(median "hs.$n.${k%:*}.mini-$m")")")
            done
            row "$n" "$label" "${cells[@]}" \
                "$(total "hs.$n.fail.$m") / $(total "hs.$n.fail.mini-$m")"
        done
    done
    echo
    if [ -z "$HAVE_PERF" ]; then
        echo "No perf stat here (or no raw_syscalls tracepoint): no" \
            "context switch or syscall counts."
    elif [ -n "$PERF_CHECK" ]; then
        echo "$PERF_CHECK"
    fi
}

report() {
    local n dir way t v base cells
    echo "telemt benchmark: $(date -u +%Y-%m-%d), $(nproc) cores," \
        "$WORKERS workers, fast mode, medians of $REPS runs;" \
        "ratios are to the no-crypto relay of the same run."
    echo
    echo "Throughput, MB/s of verified payload (ratio to relay):"
    echo
    row "conns, direction" "${TARGETS[@]}"
    row "---" "---" "---" "---" "---" "---"
    for n in 1 16; do
        for dir in up down both; do
            for way in up down; do
                [ "$dir" != up ] || [ "$way" = up ] || continue
                [ "$dir" != down ] || [ "$way" = down ] || continue
                base=$(median "bulk.$n.$dir.$way.relay")
                cells=()
                for t in "${TARGETS[@]}"; do
                    v=$(median "bulk.$n.$dir.$way.$t")
                    case $t in
                    direct | relay) cells+=("$v") ;;
                    *) cells+=("$v ($(ratio "$v" "$base"))") ;;
                    esac
                done
                local label="client->DC"
                [ "$way" = up ] || label="DC->client"
                [ "$dir" != both ] || label="$label (both at once)"
                row "$n, $label" "${cells[@]}"
            done
        done
    done
    echo
    echo "CPU per payload byte (16 conns, both ways), ns/B:"
    echo
    row "" "${TARGETS[@]:1}"
    row "---" "---" "---" "---" "---"
    cells=()
    for t in "${TARGETS[@]:1}"; do cells+=("$(median "cpu_byte.$t")"); done
    row "proxy CPU" "${cells[@]}"
    echo
    echo "Handshakes (connect, handshake, 32-byte round trip, close):"
    echo
    row "clients" "metric" "${TARGETS[@]}"
    row "---" "---" "---" "---" "---" "---" "---"
    for n in 16 64; do
        base=$(median "hs.$n.rate.relay")
        cells=()
        for t in "${TARGETS[@]}"; do
            v=$(median "hs.$n.rate.$t")
            case $t in
            direct | relay) cells+=("$v") ;;
            *) cells+=("$v ($(ratio "$v" "$base"))") ;;
            esac
        done
        row "$n" "per second" "${cells[@]}"
        for m in p50 p99 cpu fail; do
            cells=()
            for t in "${TARGETS[@]}"; do
                if [ "$m" = fail ]; then
                    cells+=("$(total "hs.$n.$m.$t")")
                else
                    cells+=("$(median "hs.$n.$m.$t")")
                fi
            done
            case $m in
            p50) row "$n" "p50 ms" "${cells[@]}" ;;
            p99) row "$n" "p99 ms" "${cells[@]}" ;;
            cpu) row "$n" "server CPU us each" "${cells[@]}" ;;
            fail) row "$n" "failures (all runs)" "${cells[@]}" ;;
            esac
        done
    done
    echo
    echo "Handshakes with 1,000 users (ours last), with every per-user" \
        "limit set (none binding) and with 4 workers, 64 clients:"
    echo
    row "proxy" "per second" "p99 ms" "server CPU us each" "failures (all runs)"
    row "---" "---" "---" "---" "---"
    for t in secure tls; do
        row "$t, 1 user, 2 workers" "$(median "hs.64.rate.$t")" \
            "$(median "hs.64.p99.$t")" "$(median "hs.64.cpu.$t")" \
            "$(total "hs.64.fail.$t")"
        row "$t, 1,000 users, 2 workers" "$(median "hs_users.64.rate.$t")" \
            "$(median "hs_users.64.p99.$t")" "$(median "hs_users.64.cpu.$t")" \
            "$(total "hs_users.64.fail.$t")"
        row "$t, 1 user with every limit set" \
            "$(median "hs_lim.64.rate.$t")" "$(median "hs_lim.64.p99.$t")" \
            "$(median "hs_lim.64.cpu.$t")" "$(total "hs_lim.64.fail.$t")"
    done
    row "tls, 1 user, 4 workers" "$(median "hs_w4.64.rate.tls")" \
        "$(median "hs_w4.64.p99.tls")" "$(median "hs_w4.64.cpu.tls")" \
        "$(total "hs_w4.64.fail.tls")"
    echo
    report_costs
    echo
    echo "Latency, open loop (100 conns, 2,000 msgs/s of 64 bytes), ms" \
        "from the scheduled send:"
    echo
    row "" "${TARGETS[@]}"
    row "---" "---" "---" "---" "---" "---"
    for m in p50 p99 p999; do
        cells=()
        for t in "${TARGETS[@]}"; do cells+=("$(median "lat.$m.$t")"); done
        row "$m" "${cells[@]}"
    done
    base=$(median "lat.p99.direct")
    cells=()
    for t in "${TARGETS[@]}"; do
        cells+=("$(awk -v a="$(median "lat.p99.$t")" -v b="$base" \
            'BEGIN { printf "%+.3f", a - b }')")
    done
    row "p99 added" "${cells[@]}"
    echo
    echo "Memory per idle relayed connection (after one round trip), KiB;" \
        "\"system\" is the drop in MemAvailable (kernel memory, both ends" \
        "and the tool included; under direct, the fake DC's own);" \
        "\"kernel\" the rise in /proc/meminfo's KernelStack + SUnreclaim" \
        "+ PageTables (as wide: sockets of both ends, epoll, threads);" \
        "mini is bench mini in tls mode:"
    echo
    row "conns" "what" "direct" "relay" "tls" "mini"
    row "---" "---" "---" "---" "---" "---"
    for n in 1000 9000; do
        local what key
        for what in "server RSS:rss" "system:sys" \
            "kernel: stack + slab + page tables:kernel" "server fds:fds" \
            "RSS after close vs before:after" "alive at the end:alive"; do
            key=${what##*:}
            row "$n" "${what%:*}" "${M[direct.$n.$key]:-}" \
                "${M[relay.$n.$key]:-}" "${M[tls.$n.$key]:-}" \
                "${M[mini-tls.$n.$key]:-}"
        done
    done
    echo
    echo "telemt RSS before the loads: ${M[tls.1000.start]:-?} KiB" \
        "(master + workers + admin). Runs with a failure: $FAILS."
}

# ---------------------------------------------------------------- main

t0=$(date +%s)
start_fixtures
start_proxy 1 "$WORKERS"
say "bench: bulk ($REPS x 6 loads x ${#TARGETS[@]} targets)"
bulk
say "bench: handshakes"
costs=()
for m in "${COSTS[@]}"; do costs+=("$m" "mini-$m"); done
# telemt's rows with mini's and the 1,800-byte hellos, interleaved.
handshakes "" "${TARGETS[@]}" mini-classic mini-secure mini-tls \
    tls1800 mini-tls1800
if [ -n "$HAVE_PERF" ]; then
    say "bench: handshake costs under perf stat"
    hs_perf "${costs[@]}"
    perf_check
fi
say "bench: latency"
latency
say "bench: memory"
for n in 1000 9000; do
    for t in direct relay tls mini-tls; do
        hold "$t" "$n"
    done
done
say "bench: 1,000 users"
stop_pid "$PROXY_PID"
start_proxy 1000 "$WORKERS"
handshakes _users secure tls
say "bench: every user limit set"
stop_pid "$PROXY_PID"
start_proxy 1 "$WORKERS" limits
handshakes _lim secure tls
say "bench: 4 workers"
stop_pid "$PROXY_PID"
start_proxy 1 4
REPS=1 handshakes _w4 tls
stop_pid "$PROXY_PID"
PROXY_PID=
report | tee "$OUT"
TELEMT_BIN=$TELEMT_BIN BENCH_REPS=$REPS bash "$here/me.sh" | tee -a "$OUT"
TELEMT_BIN=$TELEMT_BIN BENCH_REPS=$REPS bash "$here/mss.sh" | tee -a "$OUT"
TELEMT_BIN=$TELEMT_BIN BENCH_REPS=$REPS bash "$here/socks.sh" | tee -a "$OUT"
say "bench: $(($(date +%s) - t0)) s; table in $OUT"
