#!/usr/bin/env bash
#
# t_dc.sh - DC selection: the DC header carries the dc index the client
# asked for (normal and media), an unknown dc goes to default_dc, an
# override whose first address is a closed port falls through to the
# second one, and prefer_ipv6 with an [::1] + 127.0.0.1 override works.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc_b           # default_dc (3) lives here
B_PORT=$FAKEDC_PORT
B_LOG=$FAKEDC_LOG
start_fakedc fakedc_a           # every other DC
A_PORT=$FAKEDC_PORT
A_LOG=$FAKEDC_LOG
CLOSED=$(free_port)             # nothing listens here

dc1=("127.0.0.1:$A_PORT")
if have_ipv6; then
    dc1=("[::1]:$A_PORT" "127.0.0.1:$A_PORT")
fi
overrides="(
    $(dc_override 1 "${dc1[@]}"),
    $(dc_override -1 "127.0.0.1:$A_PORT"),
    $(dc_override 2 "127.0.0.1:$A_PORT"),
    $(dc_override -2 "127.0.0.1:$A_PORT"),
    $(dc_override 3 "127.0.0.1:$B_PORT"),
    $(dc_override -3 "127.0.0.1:$B_PORT"),
    $(dc_override 4 "127.0.0.1:$A_PORT"),
    $(dc_override -4 "127.0.0.1:$A_PORT"),
    $(dc_override 5 "127.0.0.1:$CLOSED" "127.0.0.1:$A_PORT"),
    $(dc_override -5 "127.0.0.1:$A_PORT")
)"

# via LOG DC [MODE]: echo with -d DC must land in LOG; prints the line.
via() {
    local log=$1 dc=$2 mode=${3:-intermediate} mark line
    mark=$(lines "$log")
    mtc_ok -s "$ALICE" -m "$mode" -d "$dc" -t echo -b 65536
    line=$(lines_since "$log" "$mark" | grep '^conn ' || true)
    [ -n "$line" ] || die "dc $dc: no connection at $log"
    note "dc $dc -> $line"
    DC_LINE=$line
}

for v6 in false true; do
    if [ "$v6" = true ] && ! have_ipv6; then
        note "no IPv6 loopback here: prefer_ipv6 part skipped"
        break
    fi
    note "prefer_ipv6 = $v6"
    write_config "$TEST_DIR/telemt-$v6.conf" default_dc=3 prefer_ipv6=$v6 \
        "dc_overrides=$overrides"
    start_telemt "$TEST_DIR/telemt-$v6.conf"

    for dc in 2 -2 4; do
        via "$A_LOG" "$dc"
        assert_match "$DC_LINE" "^conn tag=ee dc=$dc first=cmd" "dc $dc"
    done
    via "$B_LOG" 3 abridged
    assert_match "$DC_LINE" "^conn tag=ef dc=3 first=cmd" "dc 3"
    via "$B_LOG" 99 padded
    assert_match "$DC_LINE" "^conn tag=dd dc=-?[0-9]+ first=cmd" \
        "unknown dc 99 -> default_dc 3"
    via "$A_LOG" 5
    assert_match "$DC_LINE" "^conn tag=ee dc=5 first=cmd" \
        "dc 5 falls through a closed port"
    via "$A_LOG" 1 abridged
    assert_match "$DC_LINE" "^conn tag=ef dc=1 first=cmd" "dc 1"
    if [ "$v6" = true ]; then
        case $DC_LINE in
        *"via=[::1]"*) note "dc 1 went over IPv6 as preferred" ;;
        *) note "note: dc 1 went over IPv4 although prefer_ipv6 = true" ;;
        esac
    fi
    via "$A_LOG" -1
    assert_match "$DC_LINE" "^conn tag=ee dc=-1 first=cmd" "dc -1"
    stop_telemt
done
note "dc selection passed"
