#!/usr/bin/env bash
#
# t_me_fetch.sh - the ME inputs (use_middle_proxy): the proxy secret and
# the IPv4 ME list fetched from a loopback HTTP server every
# me_refresh_interval (10 s, the minimum) by the master's fetching child:
#   - good files are announced ("ME inputs: secret 128 bytes (from URL
#     ...), IPv4 list 3 entries in 2 clusters ..."), counted
#     (me_fetch_ok) and cached in state_dir (mode 0600, the bytes
#     served); the same files fetched again announce nothing new;
#   - a list that does not parse, a 20-byte secret, a 404, a redirect
#     (never followed) and the server stopped are each logged with the URL and why, counted
#     (me_inputs_rejected, me_fetch_failed), and the previous inputs and
#     the cache stay;
#   - a restart with the server still down starts from the cache;
#   - files instead of URLs are read again at a reload; a symbolic link
#     is refused;
#   - a fetching child that hangs (stopped while the server is slow) is
#     killed after 40 s, reaped, and the next fetch goes on;
#   - with use_middle_proxy = false the server sees no request at all.
# The counters come from the admin endpoint's /metrics
# (telemt_me_fetches_total{result}).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

WWW=$TEST_DIR/www
STATE=$TEST_DIR/state
mkdir -p "$WWW"
# Every file the server has is www/NAME; www/NAME.status, if present,
# is the status it answers with instead (and an empty body).  A name
# starting with "slow" is answered after 5 s.
cat >"$TEST_DIR/serve.py" <<'PY'
import http.server, os, sys, time
root = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = os.path.join(root, os.path.basename(self.path))
        sys.stderr.write("GET %s\n" % self.path)
        sys.stderr.flush()
        if os.path.basename(self.path).startswith("slow"):
            time.sleep(5)
        try:
            status = int(open(name + ".status").read())
            body = b""
        except OSError:
            status = 200
            try:
                body = open(name, "rb").read()
            except OSError:
                status, body = 404, b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H) \
    .serve_forever()
PY
HTTP_N=0
# start_http: the server on $HTTP_PORT, its request log in $HTTP_LOG.
start_http() {
    HTTP_N=$((HTTP_N + 1))
    HTTP_LOG=$TEST_DIR/http.$HTTP_N.log
    python3 "$TEST_DIR/serve.py" "$HTTP_PORT" "$WWW" 2>"$HTTP_LOG" &
    HTTP_PID=$!
    PIDS+=("$HTTP_PID")
    local i
    for ((i = 0; i < 100; i++)); do
        port_open "$HTTP_PORT" && return 0
        sleep 0.1
    done
    die "the HTTP server did not start"
}
stop_http() {
    kill "$HTTP_PID" 2>/dev/null || true
    wait "$HTTP_PID" 2>/dev/null || true
}

HTTP_PORT=$(free_port)
admin=$(free_port)
BASE=http://127.0.0.1:$HTTP_PORT
head -c 128 /dev/urandom >"$WWW/secret"
cat >"$WWW/list" <<'L'
# force_probability 10 10
default 2;
proxy_for 1 127.0.0.1:18881;
proxy_for 2 127.0.0.1:18882;
proxy_for 2 127.0.0.1:18883;
L
cp "$WWW/secret" "$TEST_DIR/secret.good"
cp "$WWW/list" "$TEST_DIR/list.good"

cfg=$TEST_DIR/telemt.conf
conf() {
    write_config "$cfg" workers=2 admin_listen="127.0.0.1:$admin" \
        use_middle_proxy="$1" me_refresh_interval=10 \
        me_secret_url="\"$BASE/secret\"" me_config_url="\"$BASE/list\"" \
        state_dir="\"$STATE\"" ${port:+port=$port}
}
# counter RESULT: telemt_me_fetches_total{result="RESULT"} on /metrics
# (ok = me_fetch_ok, failed = me_fetch_failed, rejected =
# me_inputs_rejected).
counter() {
    curl -s -m 5 "http://127.0.0.1:$admin/metrics" |
        sed -n "s/^telemt_me_fetches_total{result=\"$1\"} \([0-9]*\)$/\1/p"
}
# wait_new REGEX SECONDS WHAT: a log line after $mark matches.
wait_new() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        lines_since "$TELEMT_LOG" "$mark" | grep -Eq -- "$1" && return 0
        sleep 0.1
    done
    tail -n 30 "$TELEMT_LOG" >&2
    die "$3: no line matching /$1/ within $2 s"
}
# shellcheck disable=SC2001,SC2016  # a sed class, single-quoted on purpose
esc() { sed 's/[.[\*^$()+?{|]/\\&/g' <<<"$1"; }
S_URL=$(esc "$BASE/secret")
L_URL=$(esc "$BASE/list")

start_http
port=""
conf true
port=$(config_port "$cfg")
start_telemt "$cfg"
mark=0
GOOD="ME inputs: secret 128 bytes \(from URL $S_URL\), IPv4 list 3 entries in 2 clusters \(from URL $L_URL\), IPv6 list none"
wait_new "$GOOD" 20 "good inputs announced"
note "announced: $(grep -E "$GOOD" "$TELEMT_LOG" | head -1)"
for f in me_secret me_config; do
    assert_eq "$(stat -c %a "$STATE/$f.cache")" 600 "$f.cache mode"
done
cmp -s "$STATE/me_secret.cache" "$TEST_DIR/secret.good" ||
    die "me_secret.cache is not the secret served"
cmp -s "$STATE/me_config.cache" "$TEST_DIR/list.good" ||
    die "me_config.cache is not the list served"
[ ! -e "$STATE/me_config_v6.cache" ] || die "a v6 cache without a v6 URL"
ok=$(counter ok)
assert_eq "$ok" 2 "me_fetch_ok after the first round"

# The next round fetches the same files: counted, not announced again.
mark=$(lines "$TELEMT_LOG")
for ((i = 0; i < 250; i++)); do
    [ "$(counter ok)" -ge 4 ] && break
    sleep 0.1
done
assert_eq "$(counter ok)" 4 "me_fetch_ok after the second round"
assert_eq "$(count_grep "$TELEMT_LOG" "info: ME inputs: secret 128")" 1 \
    "announcements of unchanged inputs"

# A list that does not parse (line 3) and a secret that is too short.
rej0=$(counter rejected)
mark=$(lines "$TELEMT_LOG")
sed -i '3s/.*/proxy_for 2 not-an-address;/' "$WWW/list"
head -c 20 /dev/urandom >"$WWW/secret"
wait_new "ME IPv4 list from URL $L_URL ignored: line 3: .*; keeping the previous one" 25 "broken list"
wait_new "ME proxy secret from URL $S_URL ignored: 20 bytes, not 32\.\.256; keeping the previous one" 25 "short secret"
note "$(lines_since "$TELEMT_LOG" "$mark" | grep -E 'ignored' | head -2)"
assert_eq "$(counter rejected)" $((rej0 + 2)) "me_inputs_rejected"

# A redirect and a 404, then the server gone.
fail0=$(counter failed)
mark=$(lines "$TELEMT_LOG")
echo 301 >"$WWW/secret.status"
echo 404 >"$WWW/list.status"
wait_new "ME proxy secret from URL $S_URL ignored: fetch failed: HTTP status 301 \(redirects are not followed\); keeping the previous one" 25 "301"
wait_new "ME IPv4 list from URL $L_URL ignored: fetch failed: HTTP status 404; keeping" 25 "404 list"
stop_http
mark=$(lines "$TELEMT_LOG")
wait_new "ME proxy secret from URL $S_URL ignored: fetch failed: .*(connect|Connection refused).*; keeping the previous one" 25 "server down"
wait_new "ME IPv4 list from URL $L_URL ignored: fetch failed: " 25 "server down list"
note "$(lines_since "$TELEMT_LOG" "$mark" | grep -E 'ignored' | head -1)"
assert_between "$(counter failed)" $((fail0 + 4)) $((fail0 + 6)) \
    "me_fetch_failed"
assert_eq "$(count_grep "$TELEMT_LOG" "info: ME inputs: ")" 2 \
    "announcements (the empty start and the good inputs)"
cmp -s "$STATE/me_secret.cache" "$TEST_DIR/secret.good" ||
    die "a bad fetch replaced the secret cache"
cmp -s "$STATE/me_config.cache" "$TEST_DIR/list.good" ||
    die "a bad fetch replaced the list cache"
stop_telemt "$TELEMT_PID"

# A restart with the server still down: the cache.
start_telemt "$cfg"
mark=0
FROM_CACHE="ME inputs: secret 128 bytes \(from cache $(esc "$STATE")/me_secret\.cache\), IPv4 list 3 entries in 2 clusters \(from cache $(esc "$STATE")/me_config\.cache\)"
wait_new "$FROM_CACHE" 10 "start from the cache"
wait_new "ME proxy secret from URL $S_URL ignored: fetch failed: .*; keeping the previous one" 25 "fetch at start"
note "from the cache: $(grep -E "$FROM_CACHE" "$TELEMT_LOG")"
assert_eq "$(count_grep "$TELEMT_LOG" "info: ME inputs: ")" 1 \
    "announcements on a start from the cache"
stop_telemt "$TELEMT_PID"

# Files instead of URLs, read again at a reload (SIGHUP): a new list is
# announced; a symbolic link in its place is refused, the list kept.
SFILE=$TEST_DIR/me_secret
LFILE=$TEST_DIR/me_list
cp "$TEST_DIR/secret.good" "$SFILE"
printf 'proxy_for 4 127.0.0.1:18884;\n' >"$LFILE"
fcfg=$TEST_DIR/files.conf
write_config "$fcfg" workers=2 use_middle_proxy=true \
    me_secret_file="\"$SFILE\"" me_config_file="\"$LFILE\"" \
    state_dir="\"$STATE\""
start_telemt "$fcfg"
mark=0
wait_new "info: ME inputs: secret 128 bytes \(from file $(esc "$SFILE")\), IPv4 list 1 entry in 1 cluster \(from file $(esc "$LFILE")\)" 10 "inputs from files"
printf 'proxy_for 4 127.0.0.1:18884;\nproxy_for -4 127.0.0.1:18885;\n' \
    >"$LFILE.new"
mv "$LFILE.new" "$LFILE"
mark=$(lines "$TELEMT_LOG")
kill -HUP "$TELEMT_PID"
wait_new "info: ME inputs: secret 128 bytes \(from file $(esc "$SFILE")\), IPv4 list 2 entries in 2 clusters" 10 "a new list file at a reload"
mv "$LFILE" "$LFILE.real"
ln -s "$LFILE.real" "$LFILE"
mark=$(lines "$TELEMT_LOG")
kill -HUP "$TELEMT_PID"
wait_new "ME IPv4 list from file $(esc "$LFILE") ignored: cannot open it: .*symbolic link is never followed.*; keeping the previous one" 10 "a symbolic link"
note "$(lines_since "$TELEMT_LOG" "$mark" | grep -E 'ignored')"
assert_eq "$(lines_since "$TELEMT_LOG" "$mark" | grep -c 'info: ME inputs')" \
    0 "announcements after a refused file"
stop_telemt "$TELEMT_PID"

# A fetching child that hangs: killed at its 40 s deadline, reaped; the
# list is fetched after it.
rm -f "$WWW"/*.status
cp "$TEST_DIR/secret.good" "$WWW/slowsecret"
cp "$TEST_DIR/list.good" "$WWW/list"
start_http
hcfg=$TEST_DIR/hang.conf
write_config "$hcfg" workers=1 use_middle_proxy=true \
    me_secret_url="\"$BASE/slowsecret\"" me_config_url="\"$BASE/list\"" \
    state_dir="\"$TEST_DIR/state2\""
start_telemt "$hcfg"
mark=0
wait_new "ME fetch of the proxy secret from $(esc "$BASE/slowsecret") started" 10 "slow fetch started"
child=$(sed -n 's/.*ME fetch of the proxy secret from .* started (pid \([0-9]*\)).*/\1/p' "$TELEMT_LOG" | head -1)
[ -n "$child" ] || die "no pid of the fetching child"
kill -STOP "$child"
stopped_at=$(date +%s)
wait_new "ME proxy secret from URL $(esc "$BASE/slowsecret") ignored: fetch failed: no answer within 40 s \(the fetch was killed\); none yet" 50 "a hung fetch killed"
assert_between $(($(date +%s) - stopped_at)) 38 46 "seconds until the kill"
wait_new "info: ME inputs: secret none, IPv4 list 3 entries in 2 clusters \(from URL $L_URL\)" 10 "the next fetch after a kill"
for ((i = 0; i < 50; i++)); do
    kill -0 "$child" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$child" 2>/dev/null && die "the killed fetching child $child was not reaped"
stop_telemt "$TELEMT_PID"
stop_http

# ME off: nothing is fetched, nothing is read.
start_http
conf false
start_telemt "$cfg"
# With ME on the first fetch starts within a loop round; 3 s is plenty.
for ((i = 0; i < 30; i++)); do
    [ -s "$HTTP_LOG" ] && break
    sleep 0.1
done
assert_eq "$(count_grep "$HTTP_LOG" GET)" 0 "requests with ME off"
assert_eq "$(count_grep "$TELEMT_LOG" "ME inputs|ME .* from ")" 0 \
    "ME lines with ME off"
stop_telemt "$TELEMT_PID"
stop_http
note "ME inputs fetched, validated, cached, kept; nothing with ME off"
