# lib.sh - what run.sh, me.sh, mss.sh and socks.sh share: CPU ticks and
# RSS of a set of pids, the repetitions' values by name (add, median),
# ratios, table rows, and the set-up of an extra row set (bench_start).
# Sourced; defines functions and R only.
# shellcheck shell=bash disable=SC2034  # sets what its callers read

TICK=$(getconf CLK_TCK)

# cpu_ticks PID...: user + system clock ticks, dead threads included.
cpu_ticks() {
    local t=0 f
    for f in "$@"; do
        [ -r "/proc/$f/stat" ] || continue
        t=$((t + $(sed 's/^.*) //' "/proc/$f/stat" |
            awk '{ print $12 + $13 }')))
    done
    echo "$t"
}

rss_kib() {
    local t=0 f v
    for f in "$@"; do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$f/status" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# kv LINE KEY: the value of KEY in a "k=v k=v" line.
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1; }

declare -A R          # R[name] = "v1 v2 ..." (one per repetition)
add() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; }

median() {
    local v=${R[$1]:-}
    [ -n "$v" ] || { echo "-"; return; }
    tr ' ' '\n' <<<"$v" | sort -g | awk '{ a[NR] = $1 }
        END { if (NR % 2) print a[(NR + 1) / 2];
              else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) print "-";
        else printf "%.2fx", a / b }'
}

say() { echo "$*" >&2; }
row() { local IFS='|'; echo "| $* |"; }

# ------------------------------------------------------------------
# What each extra row set (me.sh, mss.sh, socks.sh) sets up the same way.

# bench_start NAME: TELEMT_BIN, TOOLS_DIR, REPS and SECRET from the
# environment, a work dir, PIDS (each one stopped at exit, then the
# caller's bench_atexit runs if it defines one) and a failure count that
# survives the subshells the measurements run in.
bench_start() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    BENCH_NAME=$1
    TELEMT_BIN=$(realpath -m "${TELEMT_BIN:-$root/telemt}")
    TOOLS_DIR=$(realpath -m "${TOOLS_DIR:-$root/build/tests/tools}")
    REPS=${BENCH_REPS:-3}
    SECRET=0123456789abcdef0123456789abcdef
    work=$(mktemp -d "${TMPDIR:-/tmp}/telemt-bench-$1.XXXXXX")
    : >"$work/failures"
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    wait 2>/dev/null
    ! declare -F bench_atexit >/dev/null || bench_atexit
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}

# bench_failed WHAT: one run failed (said, and counted by bench_failures).
bench_failed() {
    say "  $*"
    echo "$*" >>"$work/failures"
}
bench_failures() { wc -l <"$work/failures" | tr -d ' '; }

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    say "$BENCH_NAME.sh: nothing listens on port $1"
    tail -n 5 "$work"/*.log "$work"/*.out >&2
    exit 1
}

# mtc_run LABEL ARGS...: one mtclient run with ARGS; prints its summary
# line, and counts the run as failed unless it says failed=0.
mtc_run() {
    local label=$1 out
    shift
    out=$("$TOOLS_DIR/mtclient" "$@" 2>&1 | grep '^mtclient: mode=' |
        tail -n 1)
    [ "$(kv "$out" failed)" = 0 ] ||
        bench_failed "$label: ${out:-no summary}"
    echo "$out"
}

# proxy_start CONF PORT: telemt -f CONF in the background (PROXY_PID),
# once PORT listens; stop_proxy ends it; proxy_pids: it and its children.
PROXY_PID=
proxy_start() {
    "$TELEMT_BIN" -f "$1" >>"$work/telemt.log" 2>&1 &
    PROXY_PID=$!
    wait_port "$2"
    sleep 0.5
}

stop_proxy() {
    kill -TERM "$PROXY_PID" 2>/dev/null
    wait "$PROXY_PID" 2>/dev/null
    PROXY_PID=
}

proxy_pids() { echo "$PROXY_PID" $(pgrep -P "$PROXY_PID"); }

# mbps SUMMARY: MB/s of an mtclient summary line.
mbps() {
    awk -v b="$(kv "$1" bytes)" -v s="$(kv "$1" seconds)" \
        'BEGIN { printf "%.1f", s ? b / s / 1e6 : 0 }'
}
