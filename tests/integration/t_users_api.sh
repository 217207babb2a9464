#!/usr/bin/env bash
#
# t_users_api.sh - the users API, every call good and bad, each effect
# checked by a real client connecting (2 workers, users in users_file):
# add with a made secret and with a given one, the same name or secret
# again (409), bad JSON, an unknown field, a wrong type, a value out of
# range (400, the loader's FILE:LINE), no token (401), a wrong content
# type (415), unknown users (404); PATCH to max_tcp_conns = 1 (a second
# connection refused), disable (an open stream cut, new ones refused) and
# enable, rotate-secret (the old secret refused, the new one served), a
# quota used up and reset-quota, DELETE; users_file holds what the API
# wrote and the main config is untouched; without admin_token every
# write is 403.  Meanwhile alice's streams, longer than every timeout in
# the config, run through every write untouched: "broken streams: 0",
# "failed connection attempts: 0".
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || skip "curl is not installed"

TOKEN=api-token-0123456789abcdef
HT=3                    # handshake_timeout
IT=8                    # relay_idle_timeout
start_fakedc fakedc
admin=$(free_port)
ufile=$TEST_DIR/users.conf
printf 'users = {\n  alice = "%s";\n};\n' "$ALICE" >"$ufile"
cfg=$TEST_DIR/telemt.conf
conf() {
    write_config "$cfg" workers=2 handshake_timeout=$HT \
        relay_idle_timeout=$IT log_level=info \
        admin_listen="127.0.0.1:$admin" public_host=127.0.0.1 \
        users_file="\"$ufile\"" state_dir="\"$TEST_DIR/state\"" \
        ${1:+admin_token=$1} ${port:+port=$port}
    # write_config always writes users; the users are users_file's here.
    sed -i '/^users = /d' "$cfg"
}
port=""
conf "$TOKEN"
port=$(config_port "$cfg")
start_telemt "$cfg"
main_sum=$(sha256sum <"$cfg")

# api METHOD PATH [BODY [CURL ARGS...]]: the status in CODE, the body in
# $TEST_DIR/api.out.
api() {
    local method=$1 path=$2 body=${3:-}
    shift 3 2>/dev/null || shift $#
    local -a args=(-s -m 10 -o "$TEST_DIR/api.out" -w '%{http_code}'
        -X "$method" -H "Authorization: Bearer $TOKEN")
    [ -z "$body" ] || args+=(-H 'Content-Type: application/json' \
        --data-binary "$body")
    CODE=$(curl "${args[@]}" "$@" "http://127.0.0.1:$admin$path") || true
}
# expect CODE ERRCODE WHAT: the status, and the error code if ERRCODE.
expect() {
    assert_eq "$CODE" "$1" "$3: status"
    if [ -n "$2" ]; then
        assert_eq "$(jfield '["error"]["code"]')" "$2" "$3: error code"
    fi
    note "$3: $CODE $(head -c 160 "$TEST_DIR/api.out")"
}
jfield() {
    "$PY" -c 'import json, sys
print(json.load(open(sys.argv[1]))'"$1"')' "$TEST_DIR/api.out"
}
for ((i = 0; i < 50; i++)); do
    curl -s -o /dev/null "http://127.0.0.1:$admin/healthz" && break
    sleep 0.1
done

attempts=0 failed=0
served() {
    attempts=$((attempts + 1))
    mtc -s "$1" -m intermediate -t echo -b 64k -w 10 >/dev/null || {
        failed=$((failed + 1))
        printf '%s\n' "$MTC_OUT"
        die "$2: not served"
    }
}
refused() {
    mtc -s "$1" -m intermediate -t echo -b 4k -w 5 --expect-close \
        >/dev/null || die "$2: the client was not closed"
}

# Alice's streams: ~30 s each, through every write below.
"$MTCLIENT" -c "127.0.0.1:$port" -s "$ALICE" -m padded -t echo \
    -b 3000k --rate 100k -n 4 -w 90 >"$TEST_DIR/streams.out" 2>&1 &
streams=$!
PIDS+=("$streams")

# --- adding ----------------------------------------------------------------

api POST /api/v1/users '{"username": "carol", "max_tcp_conns": 5}'
expect 201 "" "add carol (a secret made)"
CAROL=$(jfield '["secret"]')
assert_match "$CAROL" '^[0-9a-f]{32}$' "carol's secret"
assert_match "$(jfield '["links"][0]["tg"]')" "secret=$CAROL" "carol's link"
served "$CAROL" "carol, added"
DAVE=d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0
api POST /api/v1/users "{\"username\": \"dave\", \"secret\": \"$DAVE\","`
    `" \"expiration\": \"2099-01-01T00:00:00Z\"}"
expect 201 "" "add dave (his secret)"
assert_eq "$(jfield '["expiration"]')" 2099-01-01T00:00:00Z "dave's expiry"
served "$DAVE" "dave, added"
api POST /api/v1/users '{"username": "carol"}'
expect 409 exists "carol again"
api POST /api/v1/users "{\"username\": \"erin\", \"secret\": \"$ALICE\"}"
expect 409 duplicate_secret "alice's secret for erin"
api POST /api/v1/users '{"username": "erin",'
expect 400 bad_json "bad JSON"
api POST /api/v1/users '{"username": "erin", "max_conns": 3}'
expect 400 unknown_field "an unknown field"
api POST /api/v1/users '{"username": "erin", "enabled": "yes"}'
expect 400 invalid_field "a wrong type"
api POST /api/v1/users '{"username": "erin", "quota_reset_day": 40}'
expect 400 invalid "out of range"
assert_match "$(jfield '["error"]["message"]')" \
    "users.conf:[0-9]+: users.erin.quota_reset_day: 40 is out of range" \
    "out of range: the loader's message"
api POST /api/v1/users '{"username": "9lives"}'
expect 400 invalid_field "a bad name"
# raw TOKEN TYPE: POST {"username": "erin"} with these headers.
raw() {
    CODE=$(curl -s -m 5 -o "$TEST_DIR/api.out" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $1" -H "Content-Type: $2" \
        --data-binary '{"username": "erin"}' \
        "http://127.0.0.1:$admin/api/v1/users") || true
}
raw wrong-token application/json
expect 401 unauthorized "a wrong token"
raw "$TOKEN" text/plain
expect 415 unsupported_media_type "a text/plain body"
api GET /api/v1/users/erin
expect 404 not_found "GET an unknown user"
api PATCH /api/v1/users/erin '{"max_tcp_conns": 1}'
expect 404 not_found "PATCH an unknown user"
api DELETE /api/v1/users/erin
expect 404 not_found "DELETE an unknown user"
api PUT /api/v1/users/carol
expect 405 method_not_allowed "PUT"


# --- changing ----------------------------------------------------------------

api PATCH /api/v1/users/carol '{"max_tcp_conns": 1}'
expect 200 "" "carol to max_tcp_conns 1"
assert_eq "$(jfield '["max_tcp_conns"]')" 1 "carol's max_tcp_conns"
"$MTCLIENT" -c "127.0.0.1:$port" -s "$CAROL" -m intermediate -t echo \
    -b 600k --rate 100k -w 30 >"$TEST_DIR/carol.out" 2>&1 &
c1=$!
PIDS+=("$c1")
sleep 1
refused "$CAROL" "carol's second connection"
note "carol's second connection: closed (max_tcp_conns 1)"
api POST /api/v1/users/carol/disable '{}'
expect 200 "" "disable carol"
assert_eq "$(jfield '["enabled"]')" False "carol disabled"
rc=0
wait "$c1" || rc=$?
[ "$rc" != 0 ] || die "carol's stream was not cut when disabled"
assert_grep "$TEST_DIR/carol.out" 'early (EOF|reset)' "carol's stream cut"
refused "$CAROL" "carol, disabled"
api POST /api/v1/users/carol/enable
expect 200 "" "enable carol (no body)"
served "$CAROL" "carol, enabled"

api POST /api/v1/users/dave/rotate-secret
expect 200 "" "rotate dave's secret"
DAVE2=$(jfield '["secret"]')
[ "$DAVE2" != "$DAVE" ] || die "rotate-secret kept the secret"
refused "$DAVE" "dave's old secret"
served "$DAVE2" "dave's new secret"

api PATCH /api/v1/users/dave '{"data_quota_bytes": 200000}'
expect 200 "" "dave to a quota of 200000"
rc=0
mtc -s "$DAVE2" -m intermediate -t echo -b 1m -w 10 >/dev/null || rc=$?
[ "$rc" != 0 ] || die "dave's transfer past the quota was not cut"
refused "$DAVE2" "dave past his quota"
api POST /api/v1/users/dave/reset-quota
expect 200 "" "reset dave's quota"
assert_eq "$(jfield '["quota_used_bytes"]')" 0 "dave's usage after reset"
served "$DAVE2" "dave after reset-quota"

api DELETE /api/v1/users/carol
expect 200 "" "delete carol"
assert_eq "$(jfield '["deleted"]')" carol "deleted"
assert_eq "$(jfield '["user"]["name"]')" carol "the deleted user's last state"
assert_eq "$(jfield '["user"]["connections"] > 0')" True \
    "the deleted user's usage"
refused "$CAROL" "carol, deleted"
api GET /api/v1/users/carol
expect 404 not_found "GET carol after the delete"
api GET /api/v1/users/dave
expect 200 "" "GET dave"
assert_eq "$(jfield '["data_quota_bytes"]')" 200000 "dave's quota"

# --- the files ---------------------------------------------------------------

note "users_file now: $(tr '\n' ' ' <"$ufile")"
assert_grep "$ufile" "dave = \\{ secret = \"$DAVE2\"; data_quota_bytes = 200000;" \
    "users_file holds dave"
grep -q carol "$ufile" && die "users_file still names carol"
assert_eq "$(sha256sum <"$cfg")" "$main_sum" "the main config, untouched"
assert_grep "$TELEMT_LOG" 'users API: delete carol' "the master logged it"

# --- without admin_token ---------------------------------------------------------

conf ""
mark=$(lines "$TELEMT_LOG")
kill -HUP "$TELEMT_PID"
for ((i = 0; i < 100; i++)); do
    lines_since "$TELEMT_LOG" "$mark" | grep -q 'admin\[[0-9]*\] info: reload: generation' && break
    sleep 0.05
done
api POST /api/v1/users '{"username": "erin"}'
expect 403 no_admin_token "a write without admin_token"
served "$ALICE" "alice after the token went"

rc=0
wait "$streams" || rc=$?
broken=$(summary_field "$TEST_DIR/streams.out" failures)
echo "broken streams: ${broken:-?} (of 4, each longer than every timeout)"
echo "failed connection attempts: $failed (of $attempts)"
assert_eq "$rc" 0 "the streams' exit status"
assert_eq "${broken:-?}" 0 "broken streams"
stop_telemt
