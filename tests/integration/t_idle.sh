#!/usr/bin/env bash
#
# t_idle.sh - a relayed connection that goes idle gives its buffers and
# the unused part of its thread stack back (worker/relay.c, RELAY_IDLE_MS)
# and must then carry on byte for byte: echo 2 MiB with a 1.5 s pause
# half-way, in every mode, fast mode on and off, 20 clients at once.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
for fast in true false; do
    cfg=$TEST_DIR/telemt-fast-$fast.conf
    write_config "$cfg" fast_mode=$fast modes.tls=true \
        tls_domain=www.example.com
    start_telemt "$cfg"
    for args in "-m abridged" "-m padded" \
        "-m padded --tls www.example.com --record-size 16384"; do
        # shellcheck disable=SC2086
        mtc_ok -s "$ALICE" $args -n 20 -t echo -b 2097152 --idle 1500
        assert_match "$MTC_OUT" "test=echo conns=20 ok=20 failed=0" \
            "fast_mode=$fast $args: echo across an idle pause"
    done
    stop_telemt
done
note "idle connections carry on after their pages were given back"
