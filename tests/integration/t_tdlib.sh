#!/usr/bin/env bash
#
# t_tdlib.sh - TDLib, Telegram's official client library (npm's
# @prebuilt-tdlib/linux-x64-glibc, driven by tests/tdlib/probe.js through
# tdl), connects through the proxy with a fake TLS (ee), a secure (dd) and
# a classic secret, then with fake TLS again with fast_mode off.  The fake
# DC answers its req_pq_multi with a valid resPQ of RESPQ_BYTES bytes whose
# last fingerprints are those of the RSA keys built into that libtdjson; TDLib
# then factors pq and sends req_DH_params (d712e4be), which proves that it
# accepted everything the proxy sent it.  For ee, probe.js's tap logs the
# TLS records TDLib was shown: ServerHello, ChangeCipherSpec, the fake
# flight, then the resPQ in several records, full-size ones among them.
# Skipped if tests/tdlib/node_modules is absent (scripts/deps.sh runs npm
# ci there), except when CI is set: then that is a failure.  TDLib must
# reach nothing but the proxy, so this runs only in a network namespace
# with loopback alone (run.sh makes one as root).
#
# Env: TDLIB_RESPQ_BYTES (default 131072) sets RESPQ_BYTES.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tdir=$(cd "$here/../tdlib" && pwd)
DOMAIN=www.example.com
RESPQ_BYTES=${TDLIB_RESPQ_BYTES:-131072}

need() {
    [ -z "${CI:-}" ] || die "$1, and CI is set"
    skip "$1"
}
command -v node >/dev/null || need "no node (apt-get install nodejs)"
for m in tdl @prebuilt-tdlib/linux-x64-glibc; do
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
    local -a tap=()
    n=$((n + 1))
    [ "${secret:0:2}" != ee ] || tap=(--records "$TEST_DIR/td$n.records")
    mark=$(lines "$FAKEDC_LOG")
    note "TDLib, $what secret"
    timeout -k 5 60 node "$tdir/probe.js" --port "$TELEMT_PORT" \
        --secret "$secret" --log "$FAKEDC_LOG" --db "$TEST_DIR/td$n" \
        --timeout 30 "${tap[@]}" || rc=$?
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
    [ ${#tap[@]} = 0 ] || records "$what" "$TEST_DIR/td$n.records"
}

# records WHAT FILE: the TLS records the proxy sent on the connection that
# carried most data (probe.js --records) were a ServerHello, a
# ChangeCipherSpec, the fake flight's ApplicationData and then our resPQ
# (its frame: 4 bytes more) in several ApplicationData records, full-size
# ones (2^14 bytes or more) among them and none over TLS's 2^14 + 256.
records() {
    local what=$1 file=$2 got
    got=$(awk -v want=$((respq + 4)) '
        match($0, /^conn=[0-9]+ type=[0-9]+ len=[0-9]+$/) {
            split($0, f, /[ =]/)
            c = f[2]; t = f[4]; l = f[6]
            k[c]++
            if (k[c] <= 3) seq[c] = seq[c] t ","
            if (t == 23 && k[c] > 3) {
                sum[c] += l; n[c]++
                if (l > max[c]) max[c] = l
            }
        }
        END {
            best = ""
            for (c in k) if (best == "" || sum[c] > sum[best]) best = c
            if (best == "") { print "none"; exit }
            printf "seq=%s n=%d bytes=%d max=%d full=%s\n", seq[best],
                n[best], sum[best], max[best],
                (max[best] >= 16384 && max[best] <= 16640 &&
                 sum[best] >= want) ? "yes" : "no"
        }' "$file")
    note "TDLib $what: records from the proxy: $got"
    assert_match "$got" "^seq=22,20,23, n=([3-9]|[1-9][0-9]+) .* full=yes$" \
        "TDLib $what: TLS records"
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
