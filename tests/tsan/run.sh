#!/usr/bin/env bash
# run.sh - make tsan's runner: the unit tests and the given integration
# scenarios against a ThreadSanitizer build in DIR (default build-tsan).
# Every process (proxy, workers, admin, test tools) writes its reports to
# DIR/reports/tsan.PID rather than to a log a scenario may not read, so
# a race counts even where a scenario passes.  Exits non-zero on a failed
# unit test or scenario, or on any report; prints the reports' first lines.
set -uo pipefail
dir=$(realpath -m "${TSAN_DIR:-build-tsan}")
here=$(cd "$(dirname "$0")" && pwd)
reports=$dir/reports
rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error=0: one race must not hide the next; second_deadlock_stack
# makes lock-order reports name both acquisitions.
export TSAN_OPTIONS="log_path=$reports/tsan second_deadlock_stack=1 \
halt_on_error=0 suppressions=$here/tsan.supp ${TSAN_OPTIONS:-}"
fail=0

echo "tsan: unit tests ($dir/tests/unit/check_telemt)"
"$dir/tests/unit/check_telemt" | tail -n 1 || fail=1

echo "tsan: scenarios: $*"
# TELEMT_SLOW: latency bounds x3 (lib.sh); the verdicts on bytes, counts
# and broken streams are unchanged.
TELEMT_SLOW=${TELEMT_SLOW:-3} TELEMT_BIN=$dir/telemt TOOLS_DIR=$dir/tests/tools \
    TELEMT_ALT_BIN=$dir/tests/upgrade/telemt-b \
    TELEMT_REC2_BIN=$dir/tests/upgrade/telemt-rec2 \
    bash "$here/../integration/run.sh" "$@" || fail=1

n=$(find "$reports" -type f | wc -l)
races=$(cat "$reports"/* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer')
echo "tsan: $races report(s) in $n file(s) under $reports"
if [ "$n" -gt 0 ]; then
    grep -h -A 12 '^WARNING: ThreadSanitizer\|^FATAL\|ThreadSanitizer:' \
        "$reports"/* | head -n 80
    fail=1
fi
exit $fail
