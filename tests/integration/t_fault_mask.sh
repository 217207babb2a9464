#!/usr/bin/env bash
#
# t_fault_mask.sh - the mask host failing: refusing (nginx stopped, its
# port closed) and black-holed (its address taken off lo and routed to lo,
# where SYNs to a non-local address are dropped without an answer, as in
# t_fault_dc).  A prober (curl over HTTPS, plain HTTP bytes, random bytes)
# must then see what a dead server's client sees: a reset, at once when
# the host refuses, after mask_connect_timeout when it is black-holed,
# never a hang; a black-holed dial holds a mask_max_connections slot only
# until then (after recovery as many masked connections as the cap are
# relayed at once), and the worker's log gets at most CONN_LOG_BURST
# "unreachable" lines.  Valid clients (classic, secure, fake TLS) never
# touch the mask host: streams that outlive every timeout in the config
# and clients in a loop go on unharmed.  Once nginx is back the next
# prober is relayed to it; the time to that is printed.
#
# Last, mask_host as a name with two addresses (an /etc/hosts of ours,
# bind-mounted in a private mount namespace): both black-holed, the
# client is reset at mask_connect_timeout in all, not at twice it; one
# black-holed and one live, it is relayed within half of it (whichever
# of the two the resolver puts first).
#
if [ "${TELEMT_IN_MNTNS:-}" != 1 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
        ! unshare -m --propagation private true 2>/dev/null; then
        echo "SKIP: needs root and unshare -m"
        exit 77
    fi
    exec unshare -m --propagation private env TELEMT_IN_MNTNS=1 \
        bash "${BASH_SOURCE[0]}" "$@"
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

[ "${TELEMT_IN_NETNS:-}" = 1 ] || skip "needs run.sh's private network namespace"
need_nginx
command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}
[ -n "$PY" ] || skip "python3 is not installed"

MCT=2                   # mask_connect_timeout
HT=3                    # handshake_timeout
IT=5                    # relay_idle_timeout, mask_idle_timeout
CAP=6                   # mask_max_connections (one worker)
QUICK=2                 # "at once": within this many seconds
MIP=10.99.0.3           # the mask host's address
DOMAIN=$NGINX_DOMAIN
HTTP_REQ='GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n'
BURST=5                 # CONN_LOG_BURST (worker/conn.h)

ip route del "$MIP/32" dev lo 2>/dev/null || true
ip addr add "$MIP/32" dev lo || die "cannot add $MIP to lo"

start_fakedc fakedc
# nginx.sh's nginx, moved from 127.0.0.1 to $MIP so that it can be
# black-holed; nginx_up starts it again on the same port.
start_nginx nginx
stop_pid "$NGINX_PID" nginx
sed -i "s/listen 127\.0\.0\.1:$NGINX_PORT /listen $MIP:$NGINX_PORT /" \
    "$NGINX_DIR/nginx.conf"
nginx_up() {
    local i
    "$NGINX_BIN" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
        -e "$NGINX_DIR/logs/error.log" >>"$NGINX_DIR/nginx.out" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    for ((i = 0; i < 100; i++)); do
        port_open "$NGINX_PORT" "$MIP" && return 0
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$NGINX_DIR/logs/error.log" >&2 || true
    die "nginx did not listen on $MIP:$NGINX_PORT"
}
nginx_up

cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=1 modes.tls=true tls_domain="$DOMAIN" \
    mask=true mask_host="$MIP" mask_port="$NGINX_PORT" \
    mask_connect_timeout=$MCT mask_max_connections=$CAP \
    mask_idle_timeout=$IT handshake_timeout=$HT relay_idle_timeout=$IT \
    dc_connect_timeout=2 log_level=info
start_telemt "$cfg"

# curl_proxy: curl https://DOMAIN/ through the proxy; prints the HTTP
# status ("000" when the connection failed), returns curl's status.
curl_proxy() {
    curl --resolve "$DOMAIN:$TELEMT_PORT:127.0.0.1" -k -s -m 10 \
        -o /dev/null -w '%{http_code}' "https://$DOMAIN:$TELEMT_PORT/"
}

# probe_many NAME N [probe.py options]: N probes at once, in the
# background; their summary lines go to NAME.N.line.  Sets MANY_PIDS.
probe_many() {
    local name=$1 n=$2 i
    shift 2
    MANY_PIDS=()
    for ((i = 0; i < n; i++)); do
        "$PY" "$PROBE_PY" 127.0.0.1 "$TELEMT_PORT" \
            --out "$TEST_DIR/$name.$i.bin" "$@" \
            >"$TEST_DIR/$name.$i.line" 2>&1 &
        MANY_PIDS+=("$!")
        PIDS+=("$!")
    done
}

# many_ends NAME: "END SECONDS" of each probe of probe_many NAME.
many_ends() {
    local f
    for f in "$TEST_DIR/$1".*.line; do
        sed -n 's/.* end=\([a-z]*\) seconds=\([0-9.]*\).*/\1 \2/p' "$f"
    done
}

code=$(curl_proxy) || true
assert_eq "$code" 200 "curl through the proxy, mask host up"

# Valid clients all along: paced streams of ~30 s (longer than every
# timeout above, and than the whole fault), clients in a loop, classic,
# secure and fake TLS.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded -t echo \
    -b 3000k --rate 100k -n 4 -w 60 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$BOB" -m intermediate -t echo \
    -b 16k -n 3 -w 10 --loop 22 >"$TEST_DIR/loop.out" 2>&1 &
loop=$!
PIDS+=("$loop")
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" --tls "$DOMAIN" \
    -m padded -t echo -b 16k -n 2 -w 10 --loop 22 \
    >"$TEST_DIR/tlsloop.out" 2>&1 &
tlsloop=$!
PIDS+=("$tlsloop")
sleep 1

note "=== mask host refusing (nginx stopped)"
stop_pid "$NGINX_PID" nginx
t0=$(date +%s%N)
rc=0
code=$(curl_proxy) || rc=$?
curl_ms=$((($(date +%s%N) - t0) / 1000000))
note "curl: exit $rc, HTTP $code, after $curl_ms ms"
[ "$rc" != 0 ] || die "curl through the proxy succeeded with the mask host down"
# 35: TLS connect error, 56: failure receiving (a reset).
assert_match "$rc" '^(35|56)$' "curl's exit status (connection reset)"
assert_between "$curl_ms" 0 $((QUICK * 1000)) "ms until curl failed"
probe refused-http "$TELEMT_PORT" --send-hex "$(hex_of "$HTTP_REQ")" \
    --timeout $((HT + 5))
assert_eq "$PROBE_END" reset "refusing mask host, HTTP: how it ended"
assert_eq "$PROBE_GOT" 0 "refusing mask host, HTTP: bytes received"
assert_between "$PROBE_SECS" 0 "$QUICK" "refusing mask host, HTTP: seconds"
# Random bytes: a header that proves no secret (one failed search: a
# few more would slow this address's searches, srcguard.c).
probe refused-random "$TELEMT_PORT" --send-random 300 --timeout $((HT + 5))
assert_eq "$PROBE_END" reset "refusing mask host, random bytes: how it ended"
assert_between "$PROBE_SECS" 0 "$QUICK" "refusing mask host, random: seconds"
probe_many refused 20 --send-hex "$(hex_of "$HTTP_REQ")" --timeout $((HT + 5))
for p in "${MANY_PIDS[@]}"; do wait "$p" || die "a probe failed to connect"; done
ends=$(many_ends refused)
assert_eq "$(grep -c '^reset ' <<<"$ends")" 20 "refused: probes reset"
slow=$(awk -v q="$QUICK" '$2 > q' <<<"$ends" | wc -l)
assert_eq "$slow" 0 "refused: probes reset later than $QUICK s"
note "refusing: curl failed after $curl_ms ms, 22 probes reset within $QUICK s"

note "=== mask host black-holed"
ip addr del "$MIP/32" dev lo
ip route add "$MIP/32" dev lo
t0=$(date +%s%N)
rc=0
code=$(curl_proxy) || rc=$?
bh_curl_ms=$((($(date +%s%N) - t0) / 1000000))
note "curl: exit $rc, HTTP $code, after $bh_curl_ms ms"
assert_match "$rc" '^(35|56)$' "black-holed: curl's exit status (reset)"
assert_between "$bh_curl_ms" $((MCT * 1000 - 300)) $(((MCT + 3) * 1000)) \
    "black-holed: ms until curl failed"
# One more than the cap at once: the cap's worth wait for the dial and are
# reset at mask_connect_timeout, the rest at once (mask_refused_cap).
probe_many bh $((CAP + 2)) --send-hex "$(hex_of "$HTTP_REQ")" \
    --timeout $((MCT + 8))
for p in "${MANY_PIDS[@]}"; do wait "$p" || die "a probe failed to connect"; done
ends=$(many_ends bh)
note "black-holed probes (end seconds): $(tr '\n' ' ' <<<"$ends")"
assert_eq "$(grep -c '^reset ' <<<"$ends")" $((CAP + 2)) \
    "black-holed: probes reset (none hung)"
waited=$(awk -v lo="$MCT" '$2 >= lo - 0.3' <<<"$ends" | wc -l)
late=$(awk -v hi="$MCT" '$2 > hi + 3' <<<"$ends" | wc -l)
assert_eq "$waited" "$CAP" "black-holed: probes that waited for the dial"
assert_eq "$late" 0 "black-holed: probes reset after mask_connect_timeout + 3 s"

note "=== mask host back"
ip route del "$MIP/32" dev lo
ip addr add "$MIP/32" dev lo
nginx_up
t0=$(date +%s%N)
for ((i = 0; i < 100; i++)); do
    code=$(curl_proxy) || true
    [ "$code" != 200 ] || break
    sleep 0.1
done
recovery_ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "$code" 200 "curl through the proxy once nginx is back"
note "mask host back: relayed again after $recovery_ms ms ($((i + 1)) tries)"
assert_between "$recovery_ms" 0 $((QUICK * 1000)) "ms to relay again"
# Every slot the black-holed dials held is free: the cap's worth of
# masked connections (a request nginx waits to see the end of) stay open.
probe_many held "$CAP" --send-hex "$(hex_of 'GET / HTTP/1.1\r\n')" \
    --timeout 2
for p in "${MANY_PIDS[@]}"; do wait "$p" || die "a probe failed to connect"; done
ends=$(many_ends held)
assert_eq "$(grep -c '^timeout ' <<<"$ends")" "$CAP" \
    "masked connections held open after the fault (slots all free)"
probe back-http "$TELEMT_PORT" --send-hex "$(hex_of "$HTTP_REQ")" \
    --timeout $((HT + 5))
assert_eq "$PROBE_END" eof "mask host back, HTTP: how it ended"
assert_grep "$PROBE_OUT" '^HTTP/1\.1 400' "mask host back: nginx's answer"

rc_s=0 rc_l=0 rc_t=0
wait "$streams" || rc_s=$?
wait "$loop" || rc_l=$?
wait "$tlsloop" || rc_t=$?
note "streams:  $(grep '^mtclient: mode=' "$TEST_DIR/streams.out" | tail -n 1)"
note "loop:     $(grep '^mtclient: mode=' "$TEST_DIR/loop.out" | tail -n 1)"
note "tls loop: $(grep '^mtclient: mode=' "$TEST_DIR/tlsloop.out" | tail -n 1)"
broken=$(summary_field "$TEST_DIR/streams.out" failures)
failed=$(summary_field "$TEST_DIR/loop.out" failures)
failed_tls=$(summary_field "$TEST_DIR/tlsloop.out" failures)
echo "broken streams: ${broken:-?} (of 4)"
echo "failed connection attempts: ${failed:-?} (of $(summary_field \
    "$TEST_DIR/loop.out" iterations)), fake TLS: ${failed_tls:-?} (of \
$(summary_field "$TEST_DIR/tlsloop.out" iterations))"
assert_eq "$rc_s" 0 "streams exit status"
assert_grep "$TEST_DIR/streams.out" "ok=4 failed=0" "streams"
assert_eq "${broken:-?}" 0 "broken streams"
assert_eq "${failed:-?}" 0 "failed connection attempts"
assert_eq "${failed_tls:-?}" 0 "failed fake TLS connection attempts"
assert_eq "$rc_l" 0 "loop exit status"
assert_eq "$rc_t" 0 "fake TLS loop exit status"

assert_alive "$TELEMT_PID" "master"
warns=$(count_grep "$TELEMT_LOG" 'mask host .* unreachable')
stop_telemt
note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
fails=$(stat_of mask_connect_fail)
capped=$(stat_of mask_refused_cap)
note "mask_connect_fail=$fails mask_refused_cap=$capped; 'unreachable'" \
    "log lines: $warns"
# 1 curl + 2 + 20 probes refused; 1 curl + CAP probes black-holed.
assert_eq "$fails" $((23 + 1 + CAP)) "mask_connect_fail"
assert_eq "$capped" 2 "mask_refused_cap (over the cap while black-holed)"
assert_between "$warns" 1 "$BURST" "'mask host unreachable' log lines"
assert_eq "$(stat_of hs_ok_tls)" "$(summary_field "$TEST_DIR/tlsloop.out" \
    iterations)" "hs_ok_tls (every fake TLS client served)"

note "=== mask_host a name of two addresses"
BH1=10.99.0.5
BH2=10.99.0.6
ip route add "$BH1/32" dev lo
ip route add "$BH2/32" dev lo
cp /etc/hosts "$TEST_DIR/hosts"
printf '%s two.mask.test\n' "$BH1" "$BH2" >>"$TEST_DIR/hosts"
printf '%s mix.mask.test\n' "$BH1" "$MIP" >>"$TEST_DIR/hosts"
mount --bind "$TEST_DIR/hosts" /etc/hosts || die "cannot mount our /etc/hosts"
[ "$(getent ahostsv4 two.mask.test | awk '$2 == "STREAM"' | wc -l)" = 2 ] ||
    die "two.mask.test does not resolve to 2 addresses"
for name in two mix; do
    write_config "$TEST_DIR/$name.conf" workers=1 modes.tls=true \
        tls_domain="$DOMAIN" mask=true mask_host="$name.mask.test" \
        mask_port="$NGINX_PORT" mask_connect_timeout=$MCT \
        handshake_timeout=$HT log_level=info
    start_telemt "$TEST_DIR/$name.conf"
    probe "$name-http" "$TELEMT_PORT" --send-hex "$(hex_of "$HTTP_REQ")" \
        --timeout $((3 * MCT + 2))
    if [ "$name" = two ]; then
        two_s=$PROBE_SECS
        assert_eq "$PROBE_END" reset "both addresses black-holed: end"
        assert_between "$PROBE_SECS" $((MCT - 1)).7 $((MCT + 1)) \
            "both addresses black-holed: seconds to the reset"
    else
        mix_s=$PROBE_SECS
        assert_eq "$PROBE_END" eof "one address black-holed: end"
        assert_grep "$PROBE_OUT" '^HTTP/1\.1 400' \
            "one address black-holed: nginx's answer"
        assert_between "$PROBE_SECS" 0 $((MCT / 2)).8 \
            "one address black-holed: seconds to nginx's answer"
    fi
    stop_telemt
done
umount /etc/hosts
ip route del "$BH1/32" dev lo
ip route del "$BH2/32" dev lo
ip route del "$MIP/32" dev lo 2>/dev/null || true
ip addr del "$MIP/32" dev lo 2>/dev/null || true
echo "fault results: refusing: curl reset after ${curl_ms} ms, 22 probes" \
    "reset at once; black-holed: curl reset after ${bh_curl_ms} ms" \
    "(mask_connect_timeout=${MCT}s), $CAP probes reset at the timeout and" \
    "2 over the cap at once, no slot kept; relayed again ${recovery_ms} ms" \
    "after nginx was back; broken streams: 0, failed attempts: 0;" \
    "log lines for $fails failed dials: $warns; a name of 2 black-holed" \
    "addresses: reset after ${two_s}s; of 1 black-holed and 1 live:" \
    "relayed after ${mix_s}s"
