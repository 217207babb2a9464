# lib.sh - what run.sh and me.sh both use to measure and to report:
# CPU ticks and RSS of a set of pids, the repetitions' values by name
# (add, median) and ratios.  Sourced; defines functions and R only.

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
