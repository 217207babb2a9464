#!/usr/bin/env bash
#
# t_refused.sh - the proxy closes connections it must refuse without
# sending a byte and without dialling the DC: an unknown secret, classic
# tags on a secure-only proxy, the padded tag on a classic-only proxy;
# the allowed combinations still work.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HT=3                    # handshake_timeout
W=$((HT + 12))          # how long mtclient waits for the close

start_fakedc fakedc

# refused CONTEXT ARGS...: mtclient --expect-close must pass and the fake
# DC must not have been dialled.
refused() {
    local what=$1 mark
    shift
    mark=$(lines "$FAKEDC_LOG")
    mtc_ok --expect-close -w "$W" "$@"
    sleep 0.2
    [ -z "$(lines_since "$FAKEDC_LOG" "$mark")" ] ||
        die "$what: the proxy dialled the DC for a refused client"
}

note "both modes on, wrong secret"
write_config "$TEST_DIR/both.conf" handshake_timeout=$HT
start_telemt "$TEST_DIR/both.conf"
for m in abridged intermediate padded; do
    refused "wrong secret $m" -s "$WRONG" -m "$m"
done
mtc_ok -s "$ALICE" -m abridged -t echo -b 1024
stop_telemt

note "secure only"
write_config "$TEST_DIR/secure.conf" handshake_timeout=$HT \
    modes.classic=false modes.secure=true
start_telemt "$TEST_DIR/secure.conf"
refused "secure-only abridged" -s "$ALICE" -m abridged
refused "secure-only intermediate" -s "$BOB" -m intermediate
mtc_ok -s "$ALICE" -m padded -t echo -b 65536
mtc_ok -s "$BOB" -m padded -t sink -b 65536
stop_telemt

note "classic only"
write_config "$TEST_DIR/classic.conf" handshake_timeout=$HT \
    modes.classic=true modes.secure=false
start_telemt "$TEST_DIR/classic.conf"
refused "classic-only padded" -s "$ALICE" -m padded
mtc_ok -s "$ALICE" -m abridged -t echo -b 65536
mtc_ok -s "$BOB" -m intermediate -t source -b 65536
stop_telemt
note "refusals passed"
