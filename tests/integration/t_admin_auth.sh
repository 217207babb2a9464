#!/usr/bin/env bash
#
# t_admin_auth.sh - the admin endpoint's access control on a non-loopback
# address.  Inside run.sh's private network namespace a dummy interface
# gets 198.18.0.1/24 (the benchmarking range; nothing leaves the
# namespace) and the endpoint listens there.  With admin_token: no token,
# a wrong one, another scheme -> 401 with WWW-Authenticate: Bearer; the
# right one -> 200 on every route.  With admin_whitelist not covering the
# client (198.18.0.1 itself) the connection is closed at accept, before
# any answer, even with the token; covering it ->
# 200 (and still 401 without the token when both are set); a whitelist
# alone lets the client in without a token.  The config loader refuses
# the address with neither token nor whitelist (telemt -t exits 1).
# Skipped (exit 77) when not root, not in a private namespace, or the
# address cannot be added (to a dummy link, else to lo), unless CI is
# set.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ADDR=198.18.0.1
LINK=adm0
TOKEN=t0k3n-for-the-admin-endpoint-test
WRONG_TOKEN=t0k3n-for-the-admin-endpoint-tesT

# cannot WHY: skip, or fail when CI is set.
cannot() {
    [ -z "${CI:-}" ] || die "$1, and CI is set"
    skip "$1"
}

command -v curl >/dev/null || cannot "curl is not installed"
command -v ip >/dev/null || cannot "ip (iproute2) is not installed"
[ "$(id -u)" = 0 ] || cannot "not root: cannot make a dummy interface"
# Never add interfaces to the host's own network.
[ -n "${TELEMT_IN_NETNS:-}" ] ||
    cannot "not in run.sh's private network namespace"
# A dummy link; where the kernel has no dummy driver (some containers),
# the address goes on lo instead: it is just as much not a loopback
# address, and the namespace is ours alone either way.
if ip link add "$LINK" type dummy 2>"$TEST_DIR/ip.err"; then
    # Remove it at exit, then let lib.sh clean up with our status.
    trap 'rc=$?; ip link del "$LINK" 2>/dev/null || true; (exit $rc);
        _lib_on_exit' EXIT
    ip addr add "$ADDR/24" dev "$LINK" || die "cannot add $ADDR to $LINK"
    ip link set "$LINK" up || die "cannot bring $LINK up"
else
    note "no dummy link ($(cat "$TEST_DIR/ip.err")): using lo"
    LINK=lo
    ip addr add "$ADDR/24" dev lo 2>"$TEST_DIR/ip.err" ||
        cannot "cannot make a dummy link or add $ADDR to lo: $(cat \
            "$TEST_DIR/ip.err")"
    trap 'rc=$?; ip addr del "$ADDR/24" dev lo 2>/dev/null || true;
        (exit $rc); _lib_on_exit' EXIT
fi
# grep reads all of it: with pipefail, grep -q could SIGPIPE ip.
ip -o addr show dev "$LINK" | grep "inet $ADDR/24" >/dev/null ||
    die "$ADDR is not on $LINK"

start_fakedc fakedc
APORT=$(free_port)
ADMIN=http://$ADDR:$APORT

# code PATH [curl args]: the status of GET PATH.
code() {
    local path=$1
    shift
    curl -sS -o "$TEST_DIR/body" -D "$TEST_DIR/headers" -w '%{http_code}' \
        --max-time 10 "$@" "$ADMIN$path" || die "curl $path failed"
}

# closed PATH [curl args]: the server closes without an answer.
closed() {
    local c path=$1
    shift
    c=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$@" \
        "$ADMIN$path" 2>/dev/null) || true
    [ "$c" = 000 ]
}

# start_admin [key=value ...]: a proxy with the endpoint on $ADDR:$APORT.
start_admin() {
    local cfg=$TEST_DIR/telemt.$((TELEMT_N + 1)).conf i
    write_config "$cfg" admin_listen="$ADDR:$APORT" "$@"
    start_telemt "$cfg"
    for ((i = 0; i < 100; i++)); do
        port_open "$APORT" "$ADDR" && return 0
        sleep 0.1
    done
    die "the admin endpoint is not listening on $ADDR:$APORT"
}

# --- the config loader -----------------------------------------------------

cfg=$TEST_DIR/open.conf
write_config "$cfg" admin_listen="$ADDR:$APORT"
rc=0
"$TELEMT_BIN" -t "$cfg" >"$TEST_DIR/t.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "telemt -t with an open non-loopback admin_listen"
assert_grep "$TEST_DIR/t.out" \
    "admin_listen: $ADDR:$APORT is not a loopback address; set admin_token" \
    "the loader's message"
write_config "$cfg" admin_listen="127.0.0.1:$APORT"
"$TELEMT_BIN" -t "$cfg" >"$TEST_DIR/t.out" 2>&1 ||
    die "telemt -t refused a loopback admin_listen: $(cat "$TEST_DIR/t.out")"

# --- bearer token ----------------------------------------------------------

start_admin admin_token="$TOKEN"
assert_eq "$(code /api/v1/stats)" 401 "no token"
assert_grep "$TEST_DIR/headers" '^WWW-Authenticate: Bearer' \
    "401 names the Bearer scheme"
assert_eq "$(code /api/v1/stats -H "Authorization: Bearer $WRONG_TOKEN")" \
    401 "wrong token of the same length"
assert_eq "$(code /api/v1/stats -H "Authorization: Bearer ${TOKEN}x")" \
    401 "token with a byte more"
assert_eq "$(code /api/v1/stats -H "Authorization: Bearer ${TOKEN%?}")" \
    401 "token with a byte less"
assert_eq "$(code /api/v1/stats -H "Authorization: Bearer")" 401 \
    "empty token"
assert_eq "$(code /api/v1/stats -H "Authorization: Basic $TOKEN")" 401 \
    "another scheme"
assert_eq "$(code /nope)" 401 "no token on an unknown path"
assert_eq "$(code / -X POST)" 401 "no token with another method"
for p in / /metrics /api/v1/stats /api/v1/users /api/v1/workers /healthz; do
    assert_eq "$(code "$p" -H "Authorization: Bearer $TOKEN")" 200 \
        "GET $p with the token"
done
assert_eq "$(code /api/v1/stats -H "Authorization: bearer  $TOKEN")" 200 \
    "the scheme is case-insensitive"
assert_eq "$(code /nope -H "Authorization: Bearer $TOKEN")" 404 \
    "unknown path with the token"
stop_telemt

# --- whitelist -------------------------------------------------------------

start_admin admin_token="$TOKEN" 'admin_whitelist=[ "10.9.0.0/16" ]'
closed /api/v1/stats -H "Authorization: Bearer $TOKEN" ||
    die "client outside the whitelist, with the token: not closed at accept"
closed /api/v1/stats || die "client outside the whitelist: not closed at accept"
stop_telemt

start_admin admin_token="$TOKEN" \
    'admin_whitelist=[ "10.9.0.0/16", "198.18.0.0/24" ]'
assert_eq "$(code /api/v1/stats -H "Authorization: Bearer $TOKEN")" 200 \
    "client inside the whitelist, with the token"
assert_eq "$(code /api/v1/stats)" 401 \
    "client inside the whitelist, without the token"
stop_telemt

start_admin 'admin_whitelist=[ "198.18.0.1" ]'
assert_eq "$(code /api/v1/stats)" 200 "whitelist alone: client inside"
assert_eq "$(code /healthz)" 200 "whitelist alone: /healthz"
stop_telemt

start_admin 'admin_whitelist=[ "198.18.0.2/32", "2001:db8::/32" ]'
closed /api/v1/stats ||
    die "whitelist alone: client outside: not closed at accept"
stop_telemt
note "token and whitelist enforced"
