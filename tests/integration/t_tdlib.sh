#!/usr/bin/env bash
#
# t_tdlib.sh - TDLib, Telegram's official client library (npm's
# prebuilt-tdlib, driven by tests/tdlib/probe.js through tdl), connects
# through the proxy with a fake TLS (ee), a secure (dd) and a classic
# secret.  The fake DC answers its req_pq_multi with a valid resPQ of
# RESPQ_BYTES bytes (several TLS records, full-size ones among them) whose
# last fingerprint is one of the keys built into that libtdjson; TDLib
# then factors pq and sends req_DH_params (d712e4be), which proves that it
# accepted everything the proxy sent it: for ee the ServerHello, the
# records and their sizes.  Skipped if tests/tdlib/node_modules is absent
# (scripts/deps.sh runs npm ci there), except when CI is set: then that is
# a failure.  TDLib must reach nothing but the proxy, so this runs only in
# a network namespace with loopback alone (run.sh makes one as root).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tdir=$(cd "$here/../tdlib" && pwd)
DOMAIN=www.example.com
RESPQ_BYTES=40000

need() {
    [ -z "${CI:-}" ] || die "$1, and CI is set"
    skip "$1"
}
command -v node >/dev/null || need "no node (apt-get install nodejs)"
for m in tdl prebuilt-tdlib; do
    [ -d "$tdir/node_modules/$m" ] ||
        need "no $tdir/node_modules/$m (cd tests/tdlib && npm ci)"
done
# Any link but loopback would let TDLib's own fallbacks reach the world.
links=$(ip -o link show) || need "ip -o link show failed"
if [ -n "$(awk -F': ' '$2 != "lo"' <<<"$links")" ]; then
    need "not in a loopback-only network namespace (run.sh as root makes one)"
fi

fps=$(node "$tdir/probe.js" --fingerprints) || die "probe.js --fingerprints"
[ -n "$fps" ] || die "no RSA public key found in libtdjson"
note "TDLib's RSA key fingerprints: $(echo "$fps" | tr '\n' ' ')"
# start_fakedc runs $FAKEDC: a wrapper adds the resPQ options.
realdc=$FAKEDC
FAKEDC=$TEST_DIR/fakedc-respq
{
    printf '#!/bin/sh\nexec %q --respq-bytes %d' "$realdc" "$RESPQ_BYTES"
    for f in $fps; do printf ' --respq-fp %s' "$f"; done
    printf ' "$@"\n'
} >"$FAKEDC"
chmod +x "$FAKEDC"
start_fakedc fakedc
write_config "$TEST_DIR/telemt.conf" modes.classic=true modes.secure=true \
    modes.tls=true tls_domain="$DOMAIN" tls_time_skew=60
start_telemt "$TEST_DIR/telemt.conf"

hexdomain=$(printf '%s' "$DOMAIN" | od -An -tx1 | tr -d ' \n')
respq=$((76 + (RESPQ_BYTES - 76) / 8 * 8))    # what fakedc makes of it
n=0

# tdlib WHAT TAG SECRET: one fresh TDLib through the proxy with SECRET; the
# fake DC must see its req_pq_multi, send our resPQ and get req_DH_params,
# all on connections with TAG towards the DC.
tdlib() {
    local what=$1 tag=$2 secret=$3 mark since rc=0
    n=$((n + 1))
    mark=$(lines "$FAKEDC_LOG")
    note "TDLib, $what secret"
    timeout -k 5 60 node "$tdir/probe.js" --port "$TELEMT_PORT" \
        --secret "$secret" --log "$FAKEDC_LOG" --db "$TEST_DIR/td$n" \
        --timeout 30 || rc=$?
    since=$(lines_since "$FAKEDC_LOG" "$mark")
    note "fake DC: $(head -n 6 <<<"$since")"
    if [ "$rc" != 0 ]; then
        tail -n 30 "$TEST_DIR/td$n/tdlib.log" >&2 || true
        die "TDLib $what: probe.js exit $rc"
    fi
    assert_match "$since" \
        "^conn tag=$tag dc=[1-5] first=mtproto constructor=be7e8ef1 ok=1" \
        "TDLib $what: req_pq_multi"
    assert_match "$since" "^resp tag=$tag dc=[1-5] sent=resPQ bytes=$respq " \
        "TDLib $what: our resPQ"
    assert_match "$since" "^next tag=$tag dc=[1-5] constructor=d712e4be " \
        "TDLib $what: req_DH_params after our resPQ"
}

# stat_is NAME VALUE: NAME=VALUE in the last "stats:" line of the log.
stat_is() {
    local line
    line=$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)
    assert_match "$line" " $1=$2( |\$)" "telemt's final stats: $1"
}

tls=ee$ALICE$hexdomain
tdlib tls dd "$tls"
tdlib secure dd "dd$BOB"
tdlib classic ee "$ALICE"
assert_alive "$TELEMT_PID" "telemt after the TDLib clients"
stop_telemt
stat_is hs_ok_tls 1
stat_is hs_ok_secure 1
stat_is hs_ok_classic 1

# The same for fake TLS when the proxy re-encrypts DC data (fast_mode off).
write_config "$TEST_DIR/telemt2.conf" modes.classic=false \
    modes.secure=false modes.tls=true tls_domain="$DOMAIN" tls_time_skew=60 \
    fast_mode=false
start_telemt "$TEST_DIR/telemt2.conf"
tdlib "tls (fast_mode off)" dd "$tls"
assert_alive "$TELEMT_PID" "telemt after the TDLib client"
stop_telemt
stat_is hs_ok_tls 1
