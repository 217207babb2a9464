#!/usr/bin/env bash
#
# t_silent.sh - handshake_timeout: a client that sends nothing, or half a
# header, is closed after about 2 s; garbage instead of a header is closed;
# afterwards the proxy is alive and still serves a normal client.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
write_config "$TEST_DIR/telemt.conf" handshake_timeout=2
start_telemt "$TEST_DIR/telemt.conf"

mtc_ok -s "$ALICE" -m abridged -t silent -w 10
t=$(closed_after)
note "silent client closed after $t s"
assert_between "$t" 1.5 5 "silent client close time"

mtc_ok -s "$ALICE" -m intermediate -t half -w 10
t=$(closed_after)
note "half-header client closed after $t s"
assert_between "$t" 1.5 5 "half-header client close time"

mtc_ok -s "$ALICE" -m abridged -t garbage -b 1000 -w 10
note "garbage client closed after $(closed_after) s"

note "20 silent clients at once"
mtc_ok -s "$ALICE" -m abridged -t silent -n 20 -w 10
assert_between "$(closed_after_min)" 1.5 5 "first of 20 silent clients"
assert_between "$(closed_after)" 1.5 5 "last of 20 silent clients"

assert_eq "$(count_grep "$FAKEDC_LOG" '^conn ')" 0 \
    "fake DC connections for clients without a handshake"
assert_alive "$TELEMT_PID" "telemt after the silent clients"
mtc_ok -s "$BOB" -m padded -t echo -b 1048576
assert_alive "$TELEMT_PID" "telemt at the end"
