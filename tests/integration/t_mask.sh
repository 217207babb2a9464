#!/usr/bin/env bash
#
# t_mask.sh - masking: a refused client must get exactly what the real
# site (an nginx on loopback, the mask host) would give it.  A TLS-only
# proxy with mask = true in front of nginx: curl over HTTPS gets nginx's
# status, headers (but Date) and body; a plain HTTP request gets nginx's
# 400 byte for byte and at once (well under handshake_timeout); random
# bytes, a TLS record header with an impossible length, an alert and a
# hello cut short by a half-close get the same bytes and the same end as
# straight from nginx; openssl s_client completes a real TLS handshake
# with nginx's certificate for another SNI, for ours and without SNI (no
# digest); a hello with a valid digest but another SNI gets nginx's real
# TLS answer, record for record; a silent client is handed to nginx at
# handshake_timeout instead of being cut; a valid fake TLS client still
# works.  Then: the mask host down (the client is reset at once,
# mask_connect_fail), mask = false (closed without a byte), and secure +
# TLS (an HTTP request is masked at once as hs_bad_header, an obfuscated2
# header with a wrong secret is masked and gets nginx's 400).  Last,
# 32000 bytes of garbage that nginx answers with a reset must be reset
# through the proxy too.  Each proxy's stats line must count what we did.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

HT=8                    # handshake_timeout
QUICK=2                 # "at once": within this many seconds
DOMAIN=$NGINX_DOMAIN    # www.example.com
HTTP_REQ='GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n'

need_nginx
command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}
[ -n "$PY" ] || skip "python3 is not installed"

start_fakedc fakedc
start_nginx nginx

# mask_config FILE [key=value ...]: a TLS-only proxy masking to nginx.
mask_config() {
    local file=$1
    shift
    write_config "$file" modes.classic=false modes.secure=false \
        modes.tls=true tls_domain="$DOMAIN" handshake_timeout=$HT \
        mask=true mask_host=127.0.0.1 mask_port="$NGINX_PORT" "$@"
}

# What we did to the current proxy, checked against its stats at the end.
declare -A did=()
reset_counts() {
    did=([masked]=0 [bad_digest]=0 [bad_sni]=0 [not_tls]=0 [timeout]=0
        [bad_header]=0 [bad_secret]=0 [bad_tls]=0 [eof]=0)
}

# check_stats: stop the proxy; its stats must count at least what we did.
check_stats() {
    local r
    stop_telemt
    note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
    stat_at_least mask_relayed "${did[masked]}"
    for r in bad_digest bad_sni not_tls timeout bad_header bad_secret \
        bad_tls eof; do
        stat_at_least "hs_$r" "${did[$r]}"
    done
}

# compare_raw NAME WHY PROBE_ARGS...: the same probe straight to nginx and
# through the proxy must get the same bytes (Date lines dropped) and the
# same end; through the proxy they must arrive at once.
compare_raw() {
    local name=$1 why=$2 dend dgot
    shift 2
    probe "$name-direct" "$NGINX_PORT" "$@"
    dend=$PROBE_END
    dgot=$PROBE_GOT
    no_date "$PROBE_OUT"
    probe "$name-proxy" "$TELEMT_PORT" "$@"
    no_date "$PROBE_OUT"
    same_file "$TEST_DIR/$name-direct.bin.nodate" \
        "$TEST_DIR/$name-proxy.bin.nodate" "$name"
    assert_eq "$PROBE_END" "$dend" "$name: how the connection ended"
    assert_eq "$PROBE_GOT" "$dgot" "$name: bytes received"
    assert_between "$PROBE_SECS" 0 "$QUICK" "$name: seconds until it ended"
    if [ "$PROBE_GOT" != 0 ]; then
        assert_between "$PROBE_FIRST" 0 "$QUICK" "$name: seconds to the answer"
    fi
    did[masked]=$((did[masked] + 1))
    did[$why]=$((did[$why] + 1))
}

# random_file FILE N FIRST_LO FIRST_HI: N random bytes whose first byte is
# in [FIRST_LO, FIRST_HI] and is not 0x16 (a TLS handshake record).  With
# the top bit set, the third byte is not 01: that would be an SSLv2
# ClientHello, and nginx would wait for the rest of its length.
random_file() {
    "$PY" - "$@" <<'EOF'
import os, sys
path, n, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0), int(sys.argv[4], 0)
b = bytearray(os.urandom(n))
while True:
    b[0] = lo + os.urandom(1)[0] % (hi - lo + 1)
    if b[0] != 0x16:
        break
if b[0] & 0x80 and b[2] == 0x01:
    b[2] = 0x02
open(path, "wb").write(b)
EOF
}

# s_client NAME ARGS...: openssl s_client through the proxy must complete
# a TLS handshake and get nginx's own certificate.
s_client() {
    local name=$1 out rc=0 got want
    shift
    note "openssl s_client through the proxy: $*"
    out=$(timeout 15 openssl s_client -connect "127.0.0.1:$TELEMT_PORT" \
        "$@" </dev/null 2>&1) || rc=$?
    printf '%s\n' "$out" >"$TEST_DIR/$name.txt"
    printf '%s\n' "$out" | grep -E '^(subject=|New, |Verify return)' || true
    assert_eq "$rc" 0 "openssl s_client $*: exit status"
    assert_match "$out" 'subject=.*CN ?= ?www\.example\.com' \
        "openssl s_client $*: certificate subject"
    assert_match "$out" 'New, TLSv1\.[23], Cipher is [A-Z]' \
        "openssl s_client $*: a handshake was completed"
    got=$(sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' \
        "$TEST_DIR/$name.txt" | openssl x509 -noout -fingerprint -sha256)
    want=$(openssl x509 -noout -fingerprint -sha256 -in "$NGINX_DIR/cert.pem")
    assert_eq "$got" "$want" "openssl s_client $*: certificate fingerprint"
    did[masked]=$((did[masked] + 1))
    # A name not ours is refused for it before the digest is looked at.
    case " $* " in
    *" -servername $DOMAIN "* | *" -noservername "*)
        did[bad_digest]=$((did[bad_digest] + 1)) ;;
    *) did[bad_sni]=$((did[bad_sni] + 1)) ;;
    esac
}

# curl_get NAME PORT: curl https://www.example.com:PORT/ (resolved to
# loopback), headers into NAME.hdrs, body into NAME.body.
curl_get() {
    local rc=0
    curl --resolve "$DOMAIN:$2:127.0.0.1" -k -sS -m 10 \
        -D "$TEST_DIR/$1.hdrs" -o "$TEST_DIR/$1.body" \
        "https://$DOMAIN:$2/" || rc=$?
    assert_eq "$rc" 0 "curl https://$DOMAIN:$2/ ($1): exit status"
    no_date "$TEST_DIR/$1.hdrs"
}

note "=== TLS only, masking to nginx on port $NGINX_PORT"
reset_counts
mask_config "$TEST_DIR/mask.conf"
start_telemt "$TEST_DIR/mask.conf"

# (e) first, in the background: a silent client.  At handshake_timeout the
# proxy must hand it to nginx (which waits for a hello far longer), not
# close it: it must still be open at handshake_timeout + 3 s.
note "a silent client (in the background, $((HT + 3)) s)"
"$PY" "$PROBE_PY" 127.0.0.1 "$TELEMT_PORT" --timeout $((HT + 3)) \
    --out "$TEST_DIR/silent.bin" >"$TEST_DIR/silent.line" 2>&1 &
silent_pid=$!
PIDS+=("$silent_pid")
did[masked]=$((did[masked] + 1))
did[timeout]=$((did[timeout] + 1))

# (a) HTTPS.
note "curl over HTTPS: straight to nginx and through the proxy"
curl_get curl-direct "$NGINX_PORT"
curl_get curl-proxy "$TELEMT_PORT"
assert_match "$(head -n 1 "$TEST_DIR/curl-proxy.hdrs")" '^HTTP/1\.1 200 ' \
    "curl through the proxy: status line"
same_file "$TEST_DIR/curl-direct.hdrs.nodate" \
    "$TEST_DIR/curl-proxy.hdrs.nodate" "curl: headers without Date"
same_file "$TEST_DIR/curl-direct.body" "$TEST_DIR/curl-proxy.body" \
    "curl: body"
assert_eq "$(cat "$TEST_DIR/curl-proxy.body")" "hello from the mask host" \
    "curl through the proxy: body"
did[masked]=$((did[masked] + 1))
did[bad_digest]=$((did[bad_digest] + 1))

# (b) plain HTTP.
note "plain HTTP request"
compare_raw http not_tls --send-hex "$(hex_of "$HTTP_REQ")" --timeout $((HT + 5))
assert_grep "$TEST_DIR/http-proxy.bin" '^HTTP/1\.1 400 ' \
    "plain HTTP through the proxy: nginx's status line"
assert_grep "$TEST_DIR/http-proxy.bin" \
    'The plain HTTP request was sent to HTTPS port' \
    "plain HTTP through the proxy: nginx's page"

# (c) random bytes: first byte below 0x80 (nginx parses it as plain HTTP
# and answers 400) and from 0x80 (nginx takes it for SSLv2 and closes).
note "500 random bytes"
random_file "$TEST_DIR/random-lo" 500 0x00 0x7f
compare_raw random-lo not_tls --send-file "$TEST_DIR/random-lo" \
    --timeout $((HT + 5))
random_file "$TEST_DIR/random-hi" 500 0x80 0xff
compare_raw random-hi not_tls --send-file "$TEST_DIR/random-hi" \
    --timeout $((HT + 5))
note "500 random bytes, then a half-close"
random_file "$TEST_DIR/random-half" 500 0x00 0x7f
compare_raw random-half not_tls --send-file "$TEST_DIR/random-half" \
    --half-close --timeout $((HT + 5))

# TLS-looking probes: a record header with an impossible length, an
# alert, and a hello cut short by a half-close.
note "TLS-looking probes"
compare_raw tls-len-ffff bad_tls --send-hex 160301ffff --timeout $((HT + 5))
compare_raw tls-alert not_tls --send-hex 15030100020228 --timeout $((HT + 5))
compare_raw hello-cut eof --send-hex \
    "1603010200$(head -c 195 /dev/urandom | od -An -v -tx1 | tr -d ' \n')" \
    --half-close --timeout $((HT + 5))

# (d) real TLS clients without our digest.
s_client sclient-other -servername other.example.org
s_client sclient-ours -servername "$DOMAIN"
s_client sclient-nosni -noservername

# A hello with a valid digest but another SNI: nginx's real answer (so
# our client finds no HMAC in it), the same records as nginx gives the
# same hello straight.
note "a valid hello for another SNI"
rc=0
mtc -s "$ALICE" -m padded --tls other.example.org -t echo -w 5 \
    --dump-flight "$TEST_DIR/hello-other.bin" || rc=$?
[ "$rc" != 0 ] || die "a hello with another SNI was accepted"
assert_match "$MTC_OUT" 'bad answer to the hello .*server random is not HMAC' \
    "valid hello, other SNI: answered by nginx, not by the proxy"
did[masked]=$((did[masked] + 1))
did[bad_sni]=$((did[bad_sni] + 1))
probe hello-other-direct "$NGINX_PORT" --send-file \
    "$TEST_DIR/hello-other.bin" --records --quiet 1 --timeout 5
direct_records=$PROBE_RECORDS
probe hello-other-proxy "$TELEMT_PORT" --send-file \
    "$TEST_DIR/hello-other.bin" --records --quiet 1 --timeout 5
assert_eq "$PROBE_RECORDS" "$direct_records" \
    "valid hello, other SNI: TLS records through the proxy"
assert_match "$PROBE_RECORDS" '^16/[0-9]+,14/1,17/[0-9]+,17/' \
    "valid hello, other SNI: a real TLS 1.3 server flight"
did[masked]=$((did[masked] + 1))
did[bad_sni]=$((did[bad_sni] + 1))

# (h) a real fake TLS client still works.
note "a valid fake TLS client through the masking proxy"
mark=$(lines "$FAKEDC_LOG")
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 1048576
assert_match "$(lines_since "$FAKEDC_LOG" "$mark" | grep '^conn ' || true)" \
    '^conn tag=dd dc=2 first=cmd cmd=ECHO bytes=1048576 ' \
    "fake DC log of the valid client"

# (e) the silent client.
rc=0
wait "$silent_pid" || rc=$?
silent_line=$(cat "$TEST_DIR/silent.line")
note "silent client: $silent_line"
assert_eq "$rc" 0 "silent probe: exit status"
assert_match "$silent_line" ' received=0 end=timeout ' \
    "silent client: still open at handshake_timeout + 3 s (handed to nginx)"
assert_grep "$TELEMT_LOG" 'handshake refused: timeout after 0 bytes' \
    "silent client: refused at handshake_timeout"
sleep 0.5
[ "$(count_grep "$FAKEDC_LOG" '^conn ')" = 1 ] ||
    die "the proxy dialled the DC for a refused client"
check_stats
assert_eq "$(stat_of hs_ok_tls)" 1 "stats hs_ok_tls"
assert_eq "$(stat_of mask_connect_fail)" 0 "stats mask_connect_fail"

note "=== mask host down"
reset_counts
down=$(free_port)
mask_config "$TEST_DIR/down.conf" mask_port="$down"
start_telemt "$TEST_DIR/down.conf"
probe down-http "$TELEMT_PORT" --send-hex "$(hex_of "$HTTP_REQ")" \
    --timeout $((HT + 5))
assert_eq "$PROBE_END" reset "mask host down: how the client's connection ended"
assert_eq "$PROBE_GOT" 0 "mask host down: bytes received"
assert_between "$PROBE_SECS" 0 "$QUICK" "mask host down: seconds to the reset"
probe down-random "$TELEMT_PORT" --send-file "$TEST_DIR/random-hi" \
    --timeout $((HT + 5))
assert_eq "$PROBE_END" reset "mask host down, random bytes: end"
assert_between "$PROBE_SECS" 0 "$QUICK" "mask host down, random bytes: seconds"
check_stats
stat_at_least mask_connect_fail 2
assert_eq "$(stat_of mask_relayed)" 0 "mask host down: stats mask_relayed"

note "=== mask = false"
reset_counts
mask_config "$TEST_DIR/nomask.conf" mask=false
start_telemt "$TEST_DIR/nomask.conf"
probe nomask-http "$TELEMT_PORT" --send-hex "$(hex_of "$HTTP_REQ")" \
    --timeout $((HT + 5))
assert_eq "$PROBE_GOT" 0 "mask = false: bytes received"
assert_match "$PROBE_END" '^(eof|reset)$' "mask = false: closed"
assert_between "$PROBE_SECS" 0 "$QUICK" "mask = false: seconds to the close"
did[not_tls]=1
check_stats
assert_eq "$(stat_of mask_relayed)" 0 "mask = false: stats mask_relayed"
assert_eq "$(stat_of mask_connect_fail)" 0 "mask = false: stats mask_connect_fail"

note "=== secure + TLS, masking to nginx"
reset_counts
mask_config "$TEST_DIR/secure.conf" modes.secure=true
start_telemt "$TEST_DIR/secure.conf"
compare_raw secure-http bad_header --send-hex "$(hex_of "$HTTP_REQ")" \
    --timeout $((HT + 5))
assert_grep "$TEST_DIR/secure-http-proxy.bin" '^HTTP/1\.1 400 ' \
    "plain HTTP, secure on: nginx's status line"

# An obfuscated2 header (and command frame) made with a wrong secret,
# captured from mtclient talking to nginx itself; its first byte below
# 0x80 so that nginx reads it as plain HTTP.
flight=$TEST_DIR/wrong-secret.bin
for ((i = 0; i < 40; i++)); do
    "$MTCLIENT" -c "127.0.0.1:$NGINX_PORT" -s "$WRONG" -m padded -t sink \
        -b 1 -w 3 --dump-flight "$flight" >/dev/null 2>&1 || true
    [ -s "$flight" ] || die "mtclient --dump-flight wrote nothing"
    first=$(od -An -tu1 -N1 "$flight" | tr -d ' ')
    [ "$first" -ge 128 ] || [ "$first" = 22 ] || break
done
assert_between "$(wc -c <"$flight")" 64 200 "obfuscated2 flight size"
note "obfuscated2 header with a wrong secret (first byte $first)"
compare_raw wrong-secret bad_secret --send-file "$flight" --timeout $((HT + 5))
if [ "$first" -lt 128 ] && [ "$first" != 22 ]; then
    assert_grep "$TEST_DIR/wrong-secret-proxy.bin" '^HTTP/1\.1 400 ' \
        "wrong secret: nginx's 400"
fi
mtc_ok -s "$BOB" -m padded -t echo -b 65536
check_stats
assert_eq "$(stat_of hs_ok_secure)" 1 "secure + TLS: stats hs_ok_secure"

# Last, as its own proxy: 32000 random bytes that nginx takes for a TLS
# record of an unknown type.  nginx gives up after its first read (16 KiB)
# and closes with the rest unread, so its kernel resets the connection:
# the client must see that reset through the proxy as well, not a clean
# close.  Three times, each with its own bytes.
note "=== a reset from the mask host"
reset_counts
mask_config "$TEST_DIR/reset.conf"
start_telemt "$TEST_DIR/reset.conf"
for ((i = 1; i <= 3; i++)); do
    random_file "$TEST_DIR/random-big-$i" 32000 0x80 0xff
    compare_raw "random-big-$i" not_tls --send-file \
        "$TEST_DIR/random-big-$i" --timeout $((HT + 5))
done
check_stats
note "masking passed"
