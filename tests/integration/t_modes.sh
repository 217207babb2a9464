#!/usr/bin/env bash
#
# t_modes.sh - bulk traffic through the proxy in every plain mode: classic
# (abridged, intermediate) and secure (padded intermediate), echo / source
# / sink of 4 MiB each, once with fast_mode on and once with it off.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
for fast in true false; do
    cfg=$TEST_DIR/telemt-fast-$fast.conf
    write_config "$cfg" fast_mode=$fast
    start_telemt "$cfg"
    # mode:tag:user:dc
    for spec in abridged:ef:ALICE:2 intermediate:ee:BOB:-2 padded:dd:ALICE:4
    do
        IFS=: read -r mode tag user dc <<<"$spec"
        for t in echo source sink; do
            cmd=$(echo "$t" | tr '[:lower:]' '[:upper:]')
            mark=$(lines "$FAKEDC_LOG")
            mtc_ok -s "${!user}" -m "$mode" -d "$dc" -t "$t" -b 4194304
            assert_match "$MTC_OUT" "test=$t conns=1 ok=1 failed=0" \
                "fast_mode=$fast $mode $t summary"
            got=$(lines_since "$FAKEDC_LOG" "$mark" | grep '^conn ' || true)
            assert_match "$got" \
                "^conn tag=$tag dc=$dc first=cmd cmd=$cmd bytes=4194304 " \
                "fast_mode=$fast $mode $t: fake DC log"
            wait_grep "$FAKEDC_LOG" \
                "^end tag=$tag dc=$dc cmd=$cmd .*result=ok" 5 ||
                die "fast_mode=$fast $mode $t: fake DC saw no clean end"
        done
    done
    stop_telemt
done
note "all modes passed"
