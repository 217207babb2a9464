#!/usr/bin/env bash
#
# t_tls_emulation.sh - tls_emulation: the proxy learns the size of the
# mask host's TLS 1.3 certificate flight and sends its fake certificate
# record at exactly that size.  We measure nginx's flight ourselves
# (probe.py sends it the browser-like hello that mtclient --dump-flight
# captured and adds up the ApplicationData records that follow the
# ServerHello), the proxy must log the same size, valid fake TLS clients
# must get answer_cert_len equal to it, and the cache file must hold it.
# Restarted with nginx gone (mask_port now closed), the proxy reads the
# size back from the cache, its new probe fails ("not learnt"), and
# clients still get that size.  With another closed mask_port (no cache
# entry for it) the sizes are random in tls_cert_len_min..max again.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

DOMAIN=$NGINX_DOMAIN
CACHE=$TEST_DIR/cache
CLIENTS=5               # fake TLS clients per check

need_nginx
[ -n "$PY" ] || skip "python3 is not installed"

start_fakedc fakedc
start_nginx nginx
mkdir -p "$CACHE"

# emu_config FILE MASK_PORT [key=value ...]: TLS only, tls_emulation on.
emu_config() {
    local file=$1 port=$2
    shift 2
    write_config "$file" modes.classic=false modes.secure=false \
        modes.tls=true tls_domain="$DOMAIN" mask=true mask_host=127.0.0.1 \
        mask_port="$port" tls_emulation=true tls_emulation_cache="\"$CACHE\"" \
        "$@"
}

# cert_lens: run CLIENTS valid fake TLS clients with --print-answer; the
# answer_cert_len values they got, one per line.
cert_lens() {
    mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 65536 \
        -n "$CLIENTS" --print-answer >/dev/null
    assert_match "$MTC_OUT" "conns=$CLIENTS ok=$CLIENTS failed=0" \
        "fake TLS clients with --print-answer"
    CERT_LENS=$(sed -nE 's/.* answer_cert_len=([0-9]+).*/\1/p' <<<"$MTC_OUT")
    assert_eq "$(wc -l <<<"$CERT_LENS")" "$CLIENTS" "answer_cert_len lines"
    note "answer_cert_len: $(tr '\n' ' ' <<<"$CERT_LENS")"
}

# all_equal LIST N WHAT: every line of LIST is N.
all_equal() {
    local v
    for v in $1; do
        assert_eq "$v" "$2" "$3"
    done
}

note "=== nginx's TLS 1.3 first flight, measured by us"
hello=$TEST_DIR/hello.bin
"$MTCLIENT" -c "127.0.0.1:$NGINX_PORT" -s "$ALICE" -m padded --tls "$DOMAIN" \
    -t echo -w 5 --dump-flight "$hello" >"$TEST_DIR/capture.out" 2>&1 || true
[ -s "$hello" ] || die "mtclient --dump-flight captured no hello"
assert_eq "$(wc -c <"$hello")" 517 "the captured hello's size"
measured=""
for i in 1 2 3; do
    probe "measure-$i" "$NGINX_PORT" --send-file "$hello" --records \
        --quiet 0.5 --timeout 5
    assert_match "$PROBE_RECORDS" '^16/[0-9]+,14/1,17/' \
        "nginx's answer: ServerHello, CCS, ApplicationData"
    m=$(sed -nE 's/.* appdata=([0-9]+).*/\1/p' <<<"$PROBE_LINE")
    [ -z "$measured" ] || assert_eq "$m" "$measured" \
        "nginx's flight size, measured again"
    measured=$m
done
assert_between "$measured" 64 16384 "nginx's certificate flight"
note "nginx's certificate flight: $measured bytes"

note "=== the proxy learns it"
emu_config "$TEST_DIR/emu.conf" "$NGINX_PORT"
start_telemt "$TEST_DIR/emu.conf"
learnt="TLS profile of 127\.0\.0\.1:$NGINX_PORT: certificate flight ([0-9]+) bytes"
wait_grep "$TELEMT_LOG" "$learnt" 10 ||
    die "no 'TLS profile ... certificate flight N bytes' line within 10 s"
n=$(sed -nE "s/.*$learnt.*/\1/p" "$TELEMT_LOG" | tail -n 1)
note "the proxy learnt $n bytes"
assert_eq "$n" "$measured" "the size the proxy learnt"
cert_lens
all_equal "$CERT_LENS" "$measured" "answer_cert_len after the probe"
cache_file=$CACHE/tls-profile-127.0.0.1-$NGINX_PORT
[ -f "$cache_file" ] || die "no cache file $cache_file (have: $(ls "$CACHE"))"
note "cache file: $(cat "$cache_file")"
assert_match "$(cat "$cache_file")" "^cert_len $measured( |$)" \
    "the cache file's cert_len"
stop_telemt
assert_eq "$(stat_of hs_ok_tls)" "$CLIENTS" "stats hs_ok_tls"

note "=== nginx stopped: mask_port $NGINX_PORT is closed now"
stop_pid "$NGINX_PID" nginx
port_open "$NGINX_PORT" && die "nginx's port is still open"
start_telemt "$TEST_DIR/emu.conf"
from="TLS profile of 127\.0\.0\.1:$NGINX_PORT from [^ ]+: certificate flight ([0-9]+) bytes"
assert_grep "$TELEMT_LOG" "$from" "the size read from the cache"
n=$(sed -nE "s/.*$from.*/\1/p" "$TELEMT_LOG" | tail -n 1)
assert_eq "$n" "$measured" "the size read from the cache"
wait_grep "$TELEMT_LOG" "TLS profile of 127\.0\.0\.1:$NGINX_PORT not learnt" 15 ||
    die "no 'not learnt' line for the failed probe within 15 s"
note "$(grep -E 'not learnt' "$TELEMT_LOG" | tail -n 1)"
cert_lens
all_equal "$CERT_LENS" "$measured" "answer_cert_len from the cache"
assert_match "$(cat "$cache_file")" "^cert_len $measured( |$)" \
    "the cache file after the failed probe"
stop_telemt

note "=== another closed mask_port: no cache entry for it"
closed=$(free_port)
emu_config "$TEST_DIR/other.conf" "$closed" tls_cert_len_min=2500 \
    tls_cert_len_max=4500
start_telemt "$TEST_DIR/other.conf"
wait_grep "$TELEMT_LOG" "TLS profile of 127\.0\.0\.1:$closed not learnt" 15 ||
    die "no 'not learnt' line for port $closed within 15 s"
grep -Eq "TLS profile of .* from " "$TELEMT_LOG" &&
    die "a cache entry was read for port $closed"
cert_lens
for v in $CERT_LENS; do
    assert_between "$v" 2500 4500 "answer_cert_len without a profile"
done
stop_telemt
note "TLS emulation passed"
