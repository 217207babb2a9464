#!/usr/bin/env bash
# run.sh - runs each libFuzzer target SECONDS on its committed seeds plus a
# working corpus, and prints one line per target: execs, crashes, the
# working corpus's size (files) and libFuzzer's final coverage.  Exits
# non-zero if any target crashed (the reproducer stays in $FUZZ_DIR).
set -uo pipefail
secs=$1; shift
dir=${FUZZ_DIR:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
fail=0
printf '%-12s %12s %8s %8s %6s\n' target execs crashes corpus cov
for t in "$@"; do
    rm -rf "$dir/crash-$t"
    mkdir -p "$dir/corpus-$t" "$dir/crash-$t"
    seeds=$here/corpus/$t
    [ -d "$seeds" ] || seeds=
    log=$dir/fuzz-$t.log
    LSAN_OPTIONS=suppressions=$here/lsan.supp "$dir/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$dir/crash-$t/" -rss_limit_mb=2048 \
        "$dir/corpus-$t" $seeds >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    crashes=$(find "$dir/crash-$t" -type f | wc -l)
    corpus=$(find "$dir/corpus-$t" -type f | wc -l)
    cov=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    printf '%-12s %12s %8s %8s %6s\n' "$t" "${execs:-?}" "$crashes" \
        "$corpus" "${cov:-?}"
    if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
        fail=1
    fi
done
exit $fail
