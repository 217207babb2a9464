#!/usr/bin/env bash
#
# t_concurrent.sh - 200 concurrent connections, each echoing 64 KiB
# through the proxy (two batches: intermediate and padded), and the fake
# DC must have seen every one of them finish cleanly.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
write_config "$TEST_DIR/telemt.conf"
start_telemt "$TEST_DIR/telemt.conf"

mtc_ok -s "$ALICE" -m intermediate -t echo -n 200 -b 65536 -w 60
assert_match "$MTC_OUT" "conns=200 ok=200 failed=0" "intermediate batch"
mtc_ok -s "$BOB" -m padded -t echo -n 200 -b 65536 -w 60
assert_match "$MTC_OUT" "conns=200 ok=200 failed=0" "padded batch"

n=$(count_grep "$FAKEDC_LOG" '^conn tag=(ee|dd) dc=2 first=cmd cmd=ECHO')
assert_eq "$n" 400 "connections seen by the fake DC"
ends='^end .*cmd=ECHO in=65[0-9]+ out=65536 result=ok'
for ((i = 0; i < 50; i++)); do
    n=$(count_grep "$FAKEDC_LOG" "$ends")
    [ "$n" = 400 ] && break
    sleep 0.1
done
assert_eq "$n" 400 "clean ECHO ends at the fake DC"
assert_alive "$TELEMT_PID" "telemt after the load"
