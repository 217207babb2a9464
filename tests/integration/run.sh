#!/usr/bin/env bash
#
# run.sh - run the integration scenarios tests/integration/t_*.sh (or the
# ones named as arguments: "t_modes", "modes" or a path), each under a
# timeout with its own temp dir; print PASS/FAIL/SKIP per scenario and end
# with the line "N passed, M failed".  As root, re-runs itself inside a new
# network namespace (loopback only) when unshare works.
#
# Env: TELEMT_BIN (default ./telemt), TOOLS_DIR (default
# build/tests/tools), TEST_TIMEOUT (s, default 300), TELEMT_NO_NETNS=1 to
# stay on the host network, TELEMT_KEEP=1 to keep passing tests' dirs.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ -z "${TELEMT_IN_NETNS:-}" ] && [ -z "${TELEMT_NO_NETNS:-}" ] &&
    [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    command -v ip >/dev/null && unshare -n true 2>/dev/null; then
    exec unshare -n env TELEMT_IN_NETNS=1 bash "$here/run.sh" "$@"
fi
if [ -n "${TELEMT_IN_NETNS:-}" ]; then
    ip link set lo up || { echo "run.sh: cannot bring lo up"; exit 1; }
    echo "run.sh: in a private network namespace (loopback only)"
else
    echo "run.sh: on the host network (loopback addresses only)"
fi

TELEMT_BIN=$(realpath -m "${TELEMT_BIN:-$root/telemt}")
TOOLS_DIR=$(realpath -m "${TOOLS_DIR:-$root/build/tests/tools}")
export TELEMT_BIN TOOLS_DIR
timeout_s=${TEST_TIMEOUT:-300}

tests=()
if [ $# -eq 0 ]; then
    for f in "$here"/t_*.sh; do
        [ -e "$f" ] && tests+=("$(basename "$f" .sh)")
    done
else
    for a in "$@"; do
        a=$(basename "$a" .sh)
        [ "${a#t_}" != "$a" ] || a=t_$a
        tests+=("$a")
    done
fi

base=$(mktemp -d "${TMPDIR:-/tmp}/telemt-it.XXXXXX")
passed=0
failed=0
skipped=0
for t in "${tests[@]}"; do
    dir=$base/$t
    mkdir -p "$dir"
    if [ ! -f "$here/$t.sh" ]; then
        echo "FAIL $t (no such scenario)"
        failed=$((failed + 1))
        continue
    fi
    start=$(date +%s)
    rc=0
    TEST_DIR=$dir timeout -k 10 "$timeout_s" bash "$here/$t.sh" \
        >"$dir/output.log" 2>&1 </dev/null || rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
    0)
        echo "PASS $t (${secs}s)"
        passed=$((passed + 1))
        [ -n "${TELEMT_KEEP:-}" ] || rm -rf "$dir"
        ;;
    77)
        echo "SKIP $t: $(grep -m1 '^SKIP:' "$dir/output.log" | cut -c7-)"
        skipped=$((skipped + 1))
        [ -n "${TELEMT_KEEP:-}" ] || rm -rf "$dir"
        ;;
    *)
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            echo "FAIL $t (timed out after ${timeout_s}s)"
        else
            echo "FAIL $t (exit $rc, ${secs}s)"
        fi
        echo "---- last lines of $dir/output.log"
        tail -n 40 "$dir/output.log" | sed 's/^/    /'
        echo "----"
        failed=$((failed + 1))
        ;;
    esac
done
rmdir "$base" 2>/dev/null || true
[ "$skipped" = 0 ] || echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
