#!/usr/bin/env bash
#
# t_admin_hostile.sh - the admin endpoint under a local attacker.  The
# endpoint listens on 127.0.0.1 with admin_whitelist 127.0.0.1 and
# 127.0.0.3, admin_max_per_ip 4 and admin_request_timeout 3:
#  - 150 connections from 127.0.0.2 (not whitelisted), each sending a
#    byte every 6 s, are all closed at once, and meanwhile the
#    whitelisted client gets every answer fast; the admin logs at most
#    10 warnings for all of them (rate-limited);
#  - 20 idle connections from 127.0.0.3 (whitelisted): only 4 stay open,
#    and the whitelisted 127.0.0.1 is still served;
#  - a whitelisted client sending a request a byte every 0.5 s is cut
#    after admin_request_timeout although it never stops sending;
#  - Host: a foreign name gets 421 (DNS rebinding), localhost, 127.0.0.1
#    and [::1] with or without a port get 200;
#  - /api/v1/users without admin_token has no links and no secret and
#    says why in "links_omitted"; after a reload that sets admin_token
#    it has them with the token and is 401 without it.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}
[ -n "$PY" ] || skip "python3 is not installed"

TOKEN=hostile-admin-token-0123456789

# The attacker: connections to the endpoint from a chosen loopback
# address; prints what the server did to them.
cat >"$TEST_DIR/attack.py" <<'EOF'
import select, socket, sys, time

mode, src, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

def conn():
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def closed(s):
    # The server closed or reset it (no data is ever expected here
    # before the request is complete).
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(4096) == b""
    except OSError:
        return True

if mode in ("slow", "hold"):
    # slow SRC PORT N SECS: N connections, a byte each every 6 s (hold:
    # none); after SECS, how many are still open.
    n, secs = int(sys.argv[4]), float(sys.argv[5])
    socks, refused = [], 0
    for _ in range(n):
        try:
            socks.append(conn())
        except OSError:
            refused += 1
    req = b"GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    end, sent, nxt = time.time() + secs, 0, 0.0
    while time.time() < end:
        if mode == "slow" and time.time() >= nxt:
            for s in socks:
                try:
                    s.send(req[sent % len(req):sent % len(req) + 1])
                except OSError:
                    pass
            sent += 1
            nxt = time.time() + 6
        time.sleep(0.1)
    still = sum(1 for s in socks if not closed(s))
    print("open=%d attempted=%d refused=%d" % (still, n, refused))
elif mode == "drip":
    # drip SRC PORT GIVEUP: one request, a byte every 0.5 s, forever;
    # prints the seconds until the server closed it, or "open".
    giveup = float(sys.argv[4])
    s = conn()
    t0 = time.time()
    data = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10000
    i = 0
    while time.time() - t0 < giveup:
        try:
            s.send(data[i:i + 1])
        except OSError:
            break
        i += 1
        time.sleep(0.5)
        if closed(s):
            break
    else:
        print("open")
        sys.exit(0)
    print("%.1f" % (time.time() - t0))
EOF

APORT=$(free_port)
ADMIN=http://127.0.0.1:$APORT
cfg=$TEST_DIR/telemt.conf
conf() {
    write_config "$cfg" port="${TELEMT_PORT:-$(free_port)}" workers=1 admin_listen="127.0.0.1:$APORT" \
        'admin_whitelist=["127.0.0.1/32", "127.0.0.3/32"]' \
        admin_max_per_ip=4 admin_request_timeout=3 "$@"
}
conf
start_telemt "$cfg"
for ((i = 0; i < 100; i++)); do
    port_open "$APORT" && break
    sleep 0.1
done
port_open "$APORT" || die "the admin endpoint is not listening on $APORT"

# code PATH [curl args]: the status (000 when there was no answer).
code() {
    local path=$1
    shift
    curl -sS -o "$TEST_DIR/body" -w '%{http_code}' --max-time 5 "$@" \
        "$ADMIN$path" 2>/dev/null || true
}

# served WHAT: five whitelisted requests, each answered 200 within 3 s.
served() {
    local t c i
    for ((i = 0; i < 5; i++)); do
        t=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' \
            --max-time 5 "$ADMIN/healthz" 2>/dev/null) || true
        c=${t%% *}
        assert_eq "$c" 200 "$1: a whitelisted request (try $i)"
        assert_between "${t#* }" 0 3 "$1: seconds for a whitelisted answer"
        sleep 0.3
    done
}

# --- outsiders trickling bytes ------------------------------------------
mark=$(lines "$TELEMT_LOG")
"$PY" "$TEST_DIR/attack.py" slow 127.0.0.2 "$APORT" 150 8 \
    >"$TEST_DIR/slow.out" 2>&1 &
apid=$!
PIDS+=("$apid")
sleep 2
served "150 slow outsiders"
wait "$apid" || die "the slow attacker failed: $(cat "$TEST_DIR/slow.out")"
note "outsiders: $(cat "$TEST_DIR/slow.out")"
assert_match "$(cat "$TEST_DIR/slow.out")" '^open=0 attempted=150' \
    "outsiders' connections left open"
warns=$(lines_since "$TELEMT_LOG" "$mark" | grep -c 'admin.*warn' || true)
note "admin warnings during the attack: $warns"
assert_between "$warns" 1 10 "admin warnings about 150 refused clients"
lines_since "$TELEMT_LOG" "$mark" | grep -q 'refused admin client 127.0.0.2' ||
    die "no line about the refused client 127.0.0.2"

# --- one whitelisted address hogging slots -------------------------------
"$PY" "$TEST_DIR/attack.py" hold 127.0.0.3 "$APORT" 20 1.5 \
    >"$TEST_DIR/hold.out" 2>&1 &
apid=$!
PIDS+=("$apid")
sleep 0.5
served "20 idle connections from 127.0.0.3"
wait "$apid" || die "the hogging client failed: $(cat "$TEST_DIR/hold.out")"
note "one address: $(cat "$TEST_DIR/hold.out")"
assert_match "$(cat "$TEST_DIR/hold.out")" '^open=4 attempted=20' \
    "connections one address keeps (admin_max_per_ip 4)"

# --- a whitelisted slow-drip request -------------------------------------
t=$("$PY" "$TEST_DIR/attack.py" drip 127.0.0.1 "$APORT" 20)
note "a byte every 0.5 s: closed after $t s (admin_request_timeout 3)"
[ "$t" != open ] || die "a slow-drip request was still open after 20 s"
assert_between "$t" 2.5 7 "seconds until a slow-drip request was cut"
served "after the slow drip"

# --- Host ----------------------------------------------------------------
assert_eq "$(code /healthz -H "Host: evil.example:$APORT")" 421 \
    "a foreign Host (DNS rebinding)"
assert_eq "$(code /healthz -H "Host: 127.0.0.1.evil.example")" 421 \
    "a look-alike Host"
for h in "localhost:$APORT" localhost "127.0.0.1:$APORT" "[::1]:$APORT"; do
    assert_eq "$(code /healthz -H "Host: $h")" 200 "Host: $h"
done

# --- secrets -------------------------------------------------------------
assert_eq "$(code /api/v1/users)" 200 "/api/v1/users without a token"
users=$(cat "$TEST_DIR/body")
for s in "$ALICE" "$BOB" '"links"' 'secret='; do
    case $users in *"$s"*) die "/api/v1/users without a token shows $s" ;; esac
done
assert_match "$users" '"links_omitted":"[^"]*admin_token' \
    "/api/v1/users says why the links are missing"
assert_match "$users" '"name":"alice"' "/api/v1/users still lists alice"

mark=$(lines "$TELEMT_LOG")
conf admin_token="$TOKEN"
kill -HUP "$TELEMT_PID"
for ((i = 0; i < 100; i++)); do
    lines_since "$TELEMT_LOG" "$mark" |
        grep -q 'admin.*reload: generation .* applied.*bearer token' && break
    sleep 0.1
done
[ "$i" -lt 100 ] ||
    die "the admin process did not apply the reload with admin_token"
assert_eq "$(code /api/v1/users)" 401 "/api/v1/users, token set, none sent"
assert_eq "$(code /api/v1/users -H "Authorization: Bearer ${TOKEN}x")" 401 \
    "/api/v1/users with a wrong token"
assert_eq "$(code /api/v1/users -H "Authorization: Bearer $TOKEN")" 200 \
    "/api/v1/users with the token"
users=$(cat "$TEST_DIR/body")
case $users in *"secret=dd$ALICE"*) ;; *) die "no alice link with the token: $users" ;; esac
case $users in *links_omitted*) die "links_omitted with the token" ;; esac

stop_telemt
