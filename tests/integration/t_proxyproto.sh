#!/usr/bin/env bash
#
# t_proxyproto.sh - the PROXY protocol, with a real HAProxy in front of
# telemt and a real nginx behind it as the mask host.  Twice: HAProxy's
# send-proxy (v1) with mask_proxy_protocol = 1, then send-proxy-v2 with
# mask_proxy_protocol = 2.  Clients reach HAProxy from 127.0.0.5 and
# 127.0.0.6 (and ::1 when there is IPv6); HAProxy reaches telemt from
# 127.0.0.1, the one trusted source.  Each round:
#   - a client from 127.0.0.5 is served, and telemt's log names it by
#     127.0.0.5, not HAProxy's address;
#   - the user has max_unique_ips = 1: a client of it from 127.0.0.6 is
#     refused (refused[ips] = 1 in /api/v1/users), 127.0.0.5 is served
#     again; through one HAProxy address that could only be if telemt
#     counts the addresses the headers name;
#   - an IPv6 client through HAProxy's IPv4 connection is named [::1];
#   - curl (HTTPS) from 127.0.0.5 through HAProxy is masked to nginx,
#     which listens with proxy_protocol (it refuses a connection without
#     the header) and logs $proxy_protocol_addr: 127.0.0.5;
#   - 127.0.0.7 sends a valid PROXY header (curl --haproxy-protocol)
#     straight to telemt: closed without a byte, proxy_untrusted counts
#     it, nginx never sees it;
#   - 127.0.0.1 (trusted) sends HTTP without a header, a header cut
#     short (closed at handshake_timeout) and a v2 header longer than
#     telemt takes (closed at once): each closed without a byte, counted
#     in proxy_bad_header;
#   - v2 only: HAProxy's health checks (check) send LOCAL headers, taken
#     as naming no client (proxy_local).
# Last, a daemon behind HAProxy (v2), one worker, max_connections = 1:
# while a client from 127.0.0.5 streams, one from 127.0.0.6 is over
# max_connections and masked at once, and nginx logs it by 127.0.0.6;
# then the daemon is upgraded (USR2): the new binary's worker logs the
# resumed connection by 127.0.0.5, the stream ends intact, and the new
# workers refuse 127.0.0.6 for max_unique_ips as the old ones did.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

HAPROXY_BIN=${HAPROXY_BIN:-}
if [ -z "$HAPROXY_BIN" ]; then
    HAPROXY_BIN=$(command -v haproxy || true)
    [ -n "$HAPROXY_BIN" ] || [ ! -x /usr/sbin/haproxy ] ||
        HAPROXY_BIN=/usr/sbin/haproxy
fi
if [ -z "$HAPROXY_BIN" ]; then
    [ -z "${CI:-}" ] || die "haproxy is required when CI is set"
    skip "haproxy is not installed"
fi
need_nginx
command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}
[ -n "$PY" ] || skip "python3 is not installed"

IPS=1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a
V6=6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a
DOMAIN=$NGINX_DOMAIN
PAD=$(printf 'x%.0s' {1..80})           # a request well over 64 bytes
HT=4                                    # handshake_timeout

start_fakedc fakedc

# start_haproxy NAME SEND...: HAProxy in TCP mode on 127.0.0.1 (and ::1)
# at a fresh port, to telemt from 127.0.0.1 with server options SEND...
# (send-proxy or send-proxy-v2, ...).  Sets HAPORT and HAPID.
start_haproxy() {
    local name=$1 send=${*:2} port pid i bind6=""
    port=$(free_port)
    ! have_ipv6 || bind6="bind [::1]:$port"
    cat >"$TEST_DIR/$name.cfg" <<EOF
# written by tests/integration/t_proxyproto.sh
global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$port
    $bind6
    default_backend be
backend be
    server telemt 127.0.0.1:$TELEMT_PORT $send source 127.0.0.1
EOF
    "$HAPROXY_BIN" -c -f "$TEST_DIR/$name.cfg" >"$TEST_DIR/$name.check" 2>&1 ||
        { cat "$TEST_DIR/$name.check" >&2; die "haproxy -c refused $name.cfg"; }
    "$HAPROXY_BIN" -db -f "$TEST_DIR/$name.cfg" >"$TEST_DIR/$name.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || {
            cat "$TEST_DIR/$name.out" >&2
            die "haproxy exited during start-up"
        }
        if port_open "$port"; then
            HAPORT=$port
            HAPID=$pid
            note "$name (haproxy, $send) on port $port (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    die "haproxy did not listen on port $port within 10 s"
}

# get PATH: the admin answer into $TEST_DIR/get.out; prints the status.
get() {
    curl -s -m 5 -o "$TEST_DIR/get.out" -w '%{http_code}' \
        "http://127.0.0.1:$ADMIN$1" || true
}

# json PATH EXPR: EXPR (python, on d) of the JSON at PATH.
json() {
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(get "$1")" = 200 ] && break
        sleep 0.1
    done
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print('"$2"')' "$TEST_DIR/get.out"
}

# counter NAME: a counter of /api/v1/stats.
counter() {
    json /api/v1/stats "d[\"counters\"][\"$1\"]"
}

# user_field NAME EXPR: EXPR (python, on u) of user NAME.
user_field() {
    json /api/v1/users "[x for x in d[\"users\"] if x[\"name\"] == \"$1\"][0]$2"
}

# via FROM SECRET WHAT [--expect-close]: a client of SECRET from address
# FROM through HAProxy; it must be served (or closed, with the option).
via() {
    local from=$1 sec=$2 what=$3 target="127.0.0.1:$HAPORT"
    shift 3
    [ "${from#*:}" = "$from" ] || target="[::1]:$HAPORT"
    note "$what"
    "$MTCLIENT" -c "$target" --bind "$from" -s "$sec" -m padded -t echo \
        -b 16k -w 10 "$@" >"$TEST_DIR/via.out" 2>&1 || {
        cat "$TEST_DIR/via.out"
        die "$what: failed"
    }
}

# nginx takes only connections with a PROXY header, and logs the client
# it names (pp) beside the one that connected (peer).
# shellcheck disable=SC2016  # nginx's variables, not ours
fmt='pp=$proxy_protocol_addr:$proxy_protocol_port peer=$remote_addr'
NGINX_LISTEN_OPTS=proxy_protocol \
    NGINX_LOG_FORMAT="$fmt \"\$request\" \$status" start_nginx nginx
NGINX_LOG=$NGINX_DIR/logs/access.log
ADMIN=$(free_port)
cfg=$TEST_DIR/telemt.conf
for round in 1 2; do
    send="send-proxy"
    check=""
    if [ "$round" = 2 ]; then
        send="send-proxy-v2"
        check="check inter 300"
    fi
    note "=== round $round: haproxy $send, mask_proxy_protocol = $round"
    users="{ ips = { secret = \"$IPS\"; max_unique_ips = 1; };"
    users+=" v6 = \"$V6\"; }"
    write_config "$cfg" workers=2 modes.classic=false modes.secure=true \
        modes.tls=true tls_domain="$DOMAIN" mask=true mask_host=127.0.0.1 \
        mask_port="$NGINX_PORT" mask_proxy_protocol="$round" \
        proxy_protocol=true 'proxy_protocol_trusted=[ "127.0.0.1/32" ]' \
        admin_listen="127.0.0.1:$ADMIN" users="$users" \
        handshake_timeout=$HT
    start_telemt "$cfg"
    # shellcheck disable=SC2086  # server options, one word each
    start_haproxy "haproxy$round" "$send" $check

    # The client's address, not HAProxy's.
    via 127.0.0.5 "$IPS" "a client from 127.0.0.5"
    wait_grep "$TELEMT_LOG" "127\.0\.0\.5:[0-9]+: by PROXY v$round header \
from 127\.0\.0\.1:" 5 ||
        die "telemt's log does not name 127.0.0.5 by a v$round header"
    assert_grep "$TELEMT_LOG" "127\.0\.0\.5:[0-9]+: user ips tag" \
        "the user's client logged by its own address"

    # max_unique_ips = 1 counts the clients' addresses.
    via 127.0.0.6 "$IPS" "a client of the same user from 127.0.0.6" \
        --expect-close
    assert_eq "$(user_field ips '["refused"]["ips"]')" 1 "refused[ips]"
    assert_grep "$TELEMT_LOG" "127\.0\.0\.6:[0-9]+: user ips refused: a new \
address past max_unique_ips" "the refusal logged by 127.0.0.6"
    via 127.0.0.5 "$IPS" "127.0.0.5 again"
    assert_eq "$(user_field ips '["unique_ips_recent"]')" 1 \
        "unique_ips_recent"

    # An IPv6 client over HAProxy's IPv4 connection to telemt.
    if have_ipv6; then
        via ::1 "$V6" "an IPv6 client"
        wait_grep "$TELEMT_LOG" "\[::1\]:[0-9]+: by PROXY v$round header" 5 ||
            die "telemt's log does not name [::1]"
    fi

    # Masked: nginx hears of the client from telemt's header.
    mark=$(lines "$NGINX_LOG")
    note "curl from 127.0.0.5 through haproxy, masked to nginx"
    body=$(curl -sk -m 10 --interface 127.0.0.5 \
        --resolve "$DOMAIN:$HAPORT:127.0.0.1" \
        "https://$DOMAIN:$HAPORT/r$round") || die "curl through haproxy failed"
    assert_eq "$body" "hello from the mask host" "the masked answer"
    for ((i = 0; i < 50; i++)); do
        lines_since "$NGINX_LOG" "$mark" | grep -q "/r$round" && break
        sleep 0.1
    done
    line=$(lines_since "$NGINX_LOG" "$mark" | grep "/r$round" || true)
    note "nginx: $line"
    # peer is telemt, which connected; pp the client its header named.
    assert_match "$line" "^pp=127\.0\.0\.5:[0-9]+ peer=127\.0\.0\.1 \
\"GET /r$round HTTP/1\.1\" 200" "nginx's log of the masked client"

    # v2: HAProxy's health checks send LOCAL, which names no client.
    if [ "$round" = 2 ]; then
        wait_grep "$TELEMT_LOG" "127\.0\.0\.1:[0-9]+: PROXY v2 header \
without a client address" 10 || die "no health check (v2 LOCAL) seen"
        n=$(counter proxy_local)
        [ "$n" -ge 1 ] || die "proxy_local: $n"
        note "health checks: proxy_local=$n"
    fi

    # A source not trusted, with a perfectly good header: no client.
    # (The start-up checks of the ports connected too: counted as deltas.)
    mark=$(lines "$NGINX_LOG")
    untrusted=$(counter proxy_untrusted)
    bad=$(counter proxy_bad_header)
    rc=0
    out=$(curl -s -m 10 --haproxy-protocol --interface 127.0.0.7 \
        -H "X-Pad: $PAD" "http://127.0.0.1:$TELEMT_PORT/untrusted") || rc=$?
    note "untrusted 127.0.0.7: curl exit $rc, ${#out} bytes"
    if [ "$rc" = 0 ] || [ -n "$out" ]; then
        die "the untrusted source got an answer: $out"
    fi
    # A trusted source without a header: no client either.
    rc=0
    out=$(curl -s -m 10 --interface 127.0.0.1 -H "X-Pad: $PAD" \
        "http://127.0.0.1:$TELEMT_PORT/noheader") || rc=$?
    note "trusted 127.0.0.1 without a header: curl exit $rc, ${#out} bytes"
    if [ "$rc" = 0 ] || [ -n "$out" ]; then
        die "a connection without a PROXY header got an answer: $out"
    fi
    # A header cut short waits for the rest until handshake_timeout; one
    # longer than we take is refused at once.  Neither gets a byte.
    probe "partial$round" "$TELEMT_PORT" --timeout $((HT + 10)) \
        --send-hex "$(hex_of 'PROXY TCP4 192.0.2.')"
    assert_eq "$PROBE_END/$PROBE_GOT" eof/0 "a header cut short"
    assert_between "$PROBE_SECS" $((HT - 1)) $((HT + 3 * SLOW)) \
        "a header cut short: closed after (s)"
    probe "oversized$round" "$TELEMT_PORT" --timeout $((HT + 10)) \
        --send-hex "0d0a0d0a000d0a515549540a2111ffff"
    # (A reset when it had sent more than telemt read: the kernel's way.)
    assert_match "$PROBE_END/$PROBE_GOT" "^(eof|reset)/0$" \
        "an oversized v2 header"
    assert_between "$PROBE_SECS" 0 $((2 * SLOW)) \
        "an oversized v2 header: closed after (s)"
    sleep 0.5
    if lines_since "$NGINX_LOG" "$mark" | grep -Eq 'untrusted|noheader'; then
        die "nginx saw a refused connection"
    fi
    assert_eq "$(counter proxy_untrusted)" $((untrusted + 1)) "proxy_untrusted"
    assert_eq "$(counter proxy_bad_header)" $((bad + 3)) "proxy_bad_header"
    assert_grep "$TELEMT_LOG" "closed: no valid PROXY header: \
handshake_timeout passed" "the cut-short header's line"
    assert_grep "$TELEMT_LOG" "closed: no valid PROXY header: v2: longer \
than we take" "the oversized header's line"
    assert_grep "$TELEMT_LOG" "127\.0\.0\.7:[0-9]+: closed: proxy_protocol \
is on and the address is not in proxy_protocol_trusted" "the untrusted line"
    # HAProxy's start-up check may have gone through to telemt too.
    n=$(counter proxy_ok)
    want=4
    ! have_ipv6 || want=5
    if [ "$n" -lt "$want" ] || [ "$n" -gt $((want + 1)) ]; then
        die "proxy_ok (headers that named a client): $n, expected $want"
    fi
    assert_eq "$(counter mask_relayed)" 1 "mask_relayed"
    assert_eq "$(counter mask_proxy_failed)" 0 "mask_proxy_failed"

    stop_pid "$HAPID" haproxy
    stop_telemt
done

# --- a binary upgrade: the client's address moves with the connection ----

note "=== USR2 while a client of HAProxy's streams"
bindir=$TEST_DIR/bin
mkdir -p "$bindir"
cp "$TELEMT_BIN" "$bindir/telemt"
pidf=$TEST_DIR/telemt.pid
log=$TEST_DIR/telemt.daemon.log
write_config "$cfg" workers=1 max_connections=1 modes.classic=false \
    modes.secure=true modes.tls=true tls_domain="$DOMAIN" mask=true \
    mask_host=127.0.0.1 mask_port="$NGINX_PORT" mask_proxy_protocol=2 \
    proxy_protocol=true 'proxy_protocol_trusted=[ "127.0.0.1/32" ]' \
    pidfile="$pidf" log_file="$log" shutdown_timeout=5 users="$users"
TELEMT_PORT=$(config_port "$cfg")
timeout 30 "$bindir/telemt" "$cfg" 2>"$TEST_DIR/daemon.err" ||
    die "the daemon did not start"
m1=$(cat "$pidf")
track "$m1"
DAEMONS+=("$m1")
start_haproxy haproxy3 send-proxy-v2
"$MTCLIENT" -c "127.0.0.1:$HAPORT" --bind 127.0.0.5 -s "$IPS" -m padded \
    -t echo -b 96k --rate 12k -w 30 >"$TEST_DIR/stream.out" 2>&1 &
stream=$!
PIDS+=("$stream")
wait_grep "$log" "127\.0\.0\.5:[0-9]+: user ips tag" 10 ||
    die "the streaming client did not get through"
# The stream fills max_connections = 1: the next client is masked at
# once, by the client its header names.
mark=$(lines "$NGINX_LOG")
body=$(curl -sk -m 10 --interface 127.0.0.6 \
    --resolve "$DOMAIN:$HAPORT:127.0.0.1" \
    "https://$DOMAIN:$HAPORT/overflow") || die "curl over max_connections"
assert_eq "$body" "hello from the mask host" "the answer over max_connections"
for ((i = 0; i < 50; i++)); do
    lines_since "$NGINX_LOG" "$mark" | grep -q /overflow && break
    sleep 0.1
done
line=$(lines_since "$NGINX_LOG" "$mark" | grep /overflow || true)
note "nginx: $line"
assert_match "$line" "^pp=127\.0\.0\.6:[0-9]+ peer=127\.0\.0\.1 " \
    "nginx's log of the client over max_connections"
assert_grep "$log" "max_connections \(1\) reached, masking" \
    "the client over max_connections was masked"
kill -USR2 "$m1"
m2=$(new_pid "$pidf" "$m1" 10)
[ -n "$m2" ] || die "no new master within 10 s of SIGUSR2"
track "$m2"
DAEMONS+=("$m2")
note "new master $m2"
wait_grep "$log" "127\.0\.0\.5:[0-9]+: user ips dc 2: resumed after" 15 ||
    die "the resumed connection is not named by the client's address"
wait "$stream" || { cat "$TEST_DIR/stream.out"; die "the stream broke"; }
note "stream: $(cat "$TEST_DIR/stream.out")"
# The new binary's workers count the same addresses.
via 127.0.0.6 "$IPS" "from 127.0.0.6 after the upgrade" --expect-close
via 127.0.0.5 "$IPS" "from 127.0.0.5 after the upgrade"
kill -TERM "$m2"
for ((i = 0; i < 100; i++)); do
    running "$m2" || running "$m1" || break
    sleep 0.1
done
! running "$m2" || die "the new master did not stop"
sanitizer_check "$log" || die "sanitizer report in $log"
note "PASS"
