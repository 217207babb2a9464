#!/usr/bin/env bash
#
# t_hostile.sh - clients without a secret must not exhaust, outlast or
# unmask the proxy (issue 12).  A TLS-only proxy in front of nginx, one
# worker, and a Python attacker (hostile.py) with real OpenSSL hellos:
#  1. max_connections = 10 and ten masked connections held open: a valid
#     fake-TLS client still gets in (masked ones have their own cap), and
#     no masked socket carries TCP keepalive probes, while one that proved
#     its secret does (its timings inherited from the listener);
#  2. nginx closes a masked connection ("Connection: close"): the proxy
#     lets go of it at once (active 0 while the client still holds its
#     socket) and the client's next write meets a reset, as from nginx;
#  3. max_handshakes = 3: the evicted oldest handshake is masked with the
#     bytes it sent (nginx answers the rest of its hello), never a FIN;
#  4. past max_connections a hello is masked at once, not closed;
#  5. mask_idle_timeout, mask_max_lifetime, mask_max_bytes_up and
#     mask_max_connections end masked connections as configured;
#  6. relay_idle_timeout closes a relayed connection silent both ways,
#     while one streaming for longer than every timeout is untouched.
# Each is checked against the proxy's counters at the end.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

DOMAIN=$NGINX_DOMAIN
HOSTILE=$(dirname "${BASH_SOURCE[0]}")/hostile.py

need_nginx
[ -n "$PY" ] || skip "python3 is not installed"
start_fakedc fakedc
start_nginx nginx

# hostile ARGS...: run the attacker against the proxy; its result line.
hostile() {
    "$PY" "$HOSTILE" 127.0.0.1 "$TELEMT_PORT" "$@"
}

# field NAME LINE: NAME's value in a key=value line.
field() {
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

# proxy_config FILE [key=value ...]: TLS only, masking to nginx.
proxy_config() {
    local file=$1
    shift
    write_config "$file" workers=1 modes.classic=false modes.secure=false \
        modes.tls=true tls_domain="$DOMAIN" mask=true mask_host=127.0.0.1 \
        mask_port="$NGINX_PORT" "$@"
}

valid_client() {
    mtc -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 65536 -w 10
}

note "=== 1. ten masked connections, max_connections = 10"
admin=$(free_port)
proxy_config "$TEST_DIR/a.conf" max_connections=10 client_keepalive=1 \
    admin_listen="127.0.0.1:$admin"
start_telemt "$TEST_DIR/a.conf"
"$PY" "$HOSTILE" 127.0.0.1 "$TELEMT_PORT" hold 10 30 >"$TEST_DIR/hold.out" 2>&1 &
holder=$!
for ((i = 0; i < 50; i++)); do
    grep -q held= "$TEST_DIR/hold.out" && break
    sleep 0.1
done
note "attacker: $(cat "$TEST_DIR/hold.out")"
assert_match "$(cat "$TEST_DIR/hold.out")" "held=10 answered=10" \
    "ten masked connections answered by nginx"
valid_client || die "a valid client was locked out by masked connections"
note "valid client: $MTC_OUT"
# One client that proved its secret stays, mostly idle (1 KB/s for ~6 s):
# its socket has the keepalive the listener's timings give it.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m padded \
    --tls "$DOMAIN" -t echo -b 6k --rate 1k -n 1 -w 20 \
    >"$TEST_DIR/keep.out" 2>&1 &
keeper=$!
PIDS+=("$keeper")
sleep 1.5       # past client_keepalive = 1: a timer would show by now
timers=$(ss -tnoH state established "( sport = :$TELEMT_PORT )" || true)
n_sock=$(grep -c . <<<"$timers" || true)
n_keep=$(grep -c keepalive <<<"$timers" || true)
note "client sockets: $n_sock, with keepalive: $n_keep"
assert_between "$n_sock" 11 11 "client sockets held (10 masked, 1 valid)"
assert_eq "$n_keep" 1 "sockets with TCP keepalive (the valid client's)"
wait "$keeper" || die "the idle valid client failed: $(cat "$TEST_DIR/keep.out")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true

note "=== 2. nginx closes: the proxy lets go at once"
out=$(hostile close-mirror "http://127.0.0.1:$admin/api/v1/stats")
note "through the proxy: $out"
assert_eq "$(field status "$out")" 200 "nginx answered through the proxy"
assert_eq "$(field active "$out")" 0 "proxy connections after nginx closed"
assert_eq "$(field write_after_close "$out")" reset \
    "a write after nginx closed"
direct=$("$PY" "$HOSTILE" 127.0.0.1 "$NGINX_PORT" close-mirror \
    "http://127.0.0.1:$admin/api/v1/stats")
note "straight to nginx: $direct"
assert_eq "$(field write_after_close "$direct")" reset \
    "a write after nginx closed (direct)"
stop_telemt
stat_at_least mask_relayed 11
stat_at_least hs_ok_tls 1
assert_eq "$(stat_of conn_refused_limit)" 0 "conn_refused_limit (1, 2)"

note "=== 3. max_handshakes = 3: the oldest is masked, not closed"
proxy_config "$TEST_DIR/b.conf" max_handshakes=3
start_telemt "$TEST_DIR/b.conf"
out=$(hostile evict-first 3)
note "evicted: $out"
assert_eq "$(field first_end "$out")" open "the evicted client's end"
assert_eq "$(field answer_type "$out")" 16 \
    "nginx's answer to the rest of the evicted hello"

stop_telemt
stat_at_least hs_evicted 1

note "=== 4. past max_connections = 2: masked at once"
proxy_config "$TEST_DIR/b2.conf" max_connections=2
start_telemt "$TEST_DIR/b2.conf"
# Two handshakes that never finish hold both slots.
"$PY" - 127.0.0.1 "$TELEMT_PORT" <<'EOF' &
import socket, sys, time
s = [socket.create_connection((sys.argv[1], int(sys.argv[2])))
     for _ in range(2)]
for c in s:
    c.sendall(b"\x16\x03\x01")
time.sleep(4)
EOF
slots=$!
sleep 1
out=$(hostile masked-answer)
note "over max_connections: $out"
assert_eq "$(field answer_type "$out")" 16 "nginx answered past the cap"
wait "$slots"
stop_telemt
stat_at_least conn_refused_limit 1

note "=== 5. the limits of masked connections"
proxy_config "$TEST_DIR/c.conf" mask_idle_timeout=2 mask_max_lifetime=4 \
    mask_max_bytes_up=4096
start_telemt "$TEST_DIR/c.conf"
out=$(hostile idle 10)
note "idle: $out"
assert_eq "$(field end "$out")" eof "an idle masked connection's end"
assert_between "$(field seconds "$out" | cut -d. -f1)" 1 4 \
    "seconds until an idle masked connection is closed"
out=$(hostile trickle 10)
note "trickle: $out"
assert_match "$(field end "$out")" "eof|reset" "a trickling masked end"
assert_between "$(field seconds "$out" | cut -d. -f1)" 3 6 \
    "seconds until mask_max_lifetime ends a trickle"
out=$(hostile flood 12000)
note "flood: $out"
assert_match "$(field end "$out")" "eof|reset" "a masked flood's end"
assert_between "$(field seconds "$out" | cut -d. -f1)" 0 2 \
    "seconds until mask_max_bytes_up ends a flood"
stop_telemt
assert_eq "$(stat_of mask_idle_closed)" 1 "mask_idle_closed"
stat_at_least mask_expired 1
stat_at_least mask_capped 1
proxy_config "$TEST_DIR/c2.conf" mask_max_connections=3
start_telemt "$TEST_DIR/c2.conf"
"$PY" "$HOSTILE" 127.0.0.1 "$TELEMT_PORT" hold 3 30 >"$TEST_DIR/hold3.out" \
    2>&1 &
holder=$!
for ((i = 0; i < 50; i++)); do
    grep -q held= "$TEST_DIR/hold3.out" && break
    sleep 0.1
done
out=$(hostile masked-answer)
note "fourth masked connection: $out"
assert_eq "$(field answer_type "$out")" - "an answer past mask_max_connections"
assert_eq "$(field end "$out")" reset "the end past mask_max_connections"
valid_client || die "a valid client was locked out at mask_max_connections"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
stop_telemt
assert_eq "$(stat_of mask_refused_cap)" 1 "mask_refused_cap"

note "=== 6. relay_idle_timeout = 2"
write_config "$TEST_DIR/d.conf" relay_idle_timeout=2 handshake_timeout=3
start_telemt "$TEST_DIR/d.conf"
if mtc -s "$ALICE" -m padded -t echo -b 2097152 --idle 4000 -w 15; then
    die "a connection silent past relay_idle_timeout was not closed"
fi
note "silent for 4 s: $MTC_OUT"
# Streaming for 8 s, longer than every timeout here.
mtc_ok -s "$ALICE" -m padded -t echo -b 2097152 --rate 256k -n 4 -w 30
note "streaming: $MTC_OUT"
assert_match "$MTC_OUT" "conns=4 ok=4 failed=0" "streams across the timeouts"
stop_telemt
assert_eq "$(stat_of relay_idle_closed)" 1 "relay_idle_closed"
note "broken streams: 0, failed attempts of valid clients: 0"
