#!/usr/bin/env bash
#
# t_admin.sh - the admin endpoint reports exactly what went through the
# proxy.  Known traffic: 3 classic (intermediate) sink connections for
# alice, 2 secure (padded) source connections for bob, 1 wrong secret.
# /api/v1/stats must show those handshakes per mode, connections and
# bytes per user (what mtclient moved plus its command frames), the DC,
# the histograms; /metrics must agree with the JSON number for number
# and pass promtool check metrics; the routes answer 404 / 405 / 413 and
# the right content types.  Then a worker carrying a connection is killed
# with -9: /healthz turns 503 until the master respawns it (a worker
# killed again within its first second is respawned after a back-off, so
# the gap is seen for sure), then 200, and the dead worker's connection
# is no longer counted.  Last, the JSON counters must equal the master's
# "stats:" line at stop.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v curl >/dev/null || {
    [ -z "${CI:-}" ] || die "curl is required when CI is set"
    skip "curl is not installed"
}
[ -n "$PY" ] || skip "python3 is not installed"
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
    [ -z "${CI:-}" ] || die "promtool (Debian: prometheus) is required " \
        "when CI is set"
    note "promtool is not installed: the metrics lint is skipped"
fi

# http METHOD PATH OUTFILE [curl args]: prints the status code.
http() {
    local method=$1 path=$2 out=$3
    shift 3
    curl -sS -X "$method" -o "$out" -D "$out.headers" -w '%{http_code}' \
        --max-time 10 -H "Authorization: Bearer $TOKEN" "$@" "$ADMIN$path"
}

# fetch PATH OUTFILE: GET must answer 200.
fetch() {
    local code
    code=$(http GET "$1" "$2") || die "curl GET $1 failed"
    assert_eq "$code" 200 "GET $1 status"
}

# header FILE NAME: the value of a response header (CR stripped).
header() {
    sed -n "s/^$2: *//Ip" "$1.headers" | tr -d '\r' | head -n 1
}

# jget FILE EXPR: a Python expression over d = the JSON in FILE.
jget() {
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval("(" + sys.argv[2] + "\n)")
print(json.dumps(v) if isinstance(v, (dict, list, tuple, bool)) or v is None
      else v)' "$1" "$2"
}

# mtc_bytes: the bytes= of the summary line in MTC_OUT.
mtc_bytes() {
    sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' <<<"$MTC_OUT" | tail -n 1
}

start_fakedc fakedc
APORT=$(free_port)
ADMIN=http://127.0.0.1:$APORT
cfg=$TEST_DIR/telemt.conf
# The token: /api/v1/users shows the links only with one (see
# t_admin_hostile.sh for the endpoint without it).
TOKEN=t_admin-token-0123456789abcdef
write_config "$cfg" workers=2 shutdown_timeout=2 admin_listen="127.0.0.1:$APORT" \
    admin_token="$TOKEN"
start_telemt "$cfg"
for ((i = 0; i < 100; i++)); do
    port_open "$APORT" && break
    sleep 0.1
done
port_open "$APORT" || die "the admin endpoint is not listening on $APORT"
assert_grep "$TELEMT_LOG" "admin.*: admin endpoint on $ADMIN/" \
    "the admin process logged its address"

# --- routes -------------------------------------------------------------

W=$TEST_DIR/http
code=$(http GET /healthz "$W") || die "curl /healthz failed"
assert_eq "$code" 200 "/healthz at start"
assert_eq "$(cat "$W")" '{"status":"ok","workers_up":2,"workers_expected":2}' \
    "/healthz body"
assert_eq "$(header "$W" Content-Type)" "application/json" "/healthz type"
code=$(http GET / "$W") || die "curl / failed"
assert_eq "$code" 200 "GET /"
assert_match "$(header "$W" Content-Type)" '^text/html; charset=utf-8$' \
    "GET / type"
cmp -s "$W" "$(dirname "${BASH_SOURCE[0]}")/../../admin/page.html" ||
    die "GET / is not admin/page.html byte for byte"
code=$(http GET /metrics "$W") || die "curl /metrics failed"
assert_eq "$code" 200 "GET /metrics"
assert_match "$(header "$W" Content-Type)" '^text/plain; version=0\.0\.4' \
    "/metrics type"
for p in /api/v1/stats /api/v1/users /api/v1/workers; do
    code=$(http GET "$p" "$W") || die "curl $p failed"
    assert_eq "$code" 200 "GET $p"
    assert_eq "$(header "$W" Content-Type)" "application/json" "$p type"
    "$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$W" ||
        die "$p is not JSON: $(head -c 300 "$W")"
done
code=$(http GET /nope "$W") || die "curl /nope failed"
assert_eq "$code" 404 "GET /nope"
code=$(http GET /api/v1/stats/x "$W") || die "curl failed"
assert_eq "$code" 404 "GET /api/v1/stats/x"
code=$(http POST / "$W") || die "curl POST / failed"
assert_eq "$code" 405 "POST /"
assert_match "$(header "$W" Allow)" '^GET, HEAD$' "405 Allow header"
code=$(http POST /metrics "$W" --data-binary 'x=1') || die "curl POST failed"
assert_eq "$code" 405 "POST /metrics with a body"
code=$(http DELETE /api/v1/users "$W") || die "curl DELETE failed"
assert_eq "$code" 405 "DELETE /api/v1/users"
code=$(http GET /metrics "$W" --data-binary 'x=1') || die "curl GET failed"
assert_eq "$code" 413 "GET with a body"
code=$(http HEAD /metrics "$W" --head) || die "curl HEAD failed"
assert_eq "$code" 200 "HEAD /metrics"
code=$(http GET /metrics "$W" -H "X-Big: $(head -c 40000 /dev/zero |
    tr '\0' a)") || true
assert_match "$code" '^(431|413|000)$' "a 40 kB header is refused"

# --- known traffic --------------------------------------------------------

# settled MIN: fetch the stats until every accepted connection has ended
# and been counted (at least MIN accepted).
S=$TEST_DIR/stats.json
settled() {
    local i
    for ((i = 0; i < 100; i++)); do
        fetch /api/v1/stats "$S"
        [ "$(jget "$S" 'd["connections"]["active"] == 0 and
            d["connections"]["accepted"] == sum(d["handshakes"].values()) +
            d["connections"]["refused_limit"] +
            d["connections"]["refused_thread"] and
            d["connections"]["accepted"] >= '"$1")" = true ] && return 0
        sleep 0.1
    done
    die "the counters did not settle: $(jget "$S" 'd["connections"]')"
}

# start_telemt's probe of the proxy port is a connection too (it ends as
# hs_eof): count from what is there before our traffic.
settled 0
base_acc=$(jget "$S" 'd["connections"]["accepted"]')
base_hs=$(jget "$S" 'd["handshakes"]')
note "before our traffic: accepted=$base_acc"
assert_eq "$(jget "$S" '[(u["connections"], u["bytes_client_to_dc"],
    u["bytes_dc_to_client"]) for u in d["users"]] +
    [sorted(d["traffic"].values())]')" '[[0, 0, 0], [0, 0, 0], [0, 0]]' \
    "no user traffic before ours"

mtc_ok -s "$ALICE" -m intermediate -t sink -b 100000 -n 3
assert_match "$MTC_OUT" "conns=3 ok=3 failed=0" "alice summary"
alice_sent=$(mtc_bytes)
assert_eq "$alice_sent" 300000 "mtclient's bytes for alice"
bob_frames=0
bob_rcvd=0
for i in 1 2; do
    mtc_ok -s "$BOB" -m padded -t source -b 50000 \
        --dump-flight "$TEST_DIR/bob$i.flight"
    assert_match "$MTC_OUT" "conns=1 ok=1 failed=0" "bob summary $i"
    bob_rcvd=$((bob_rcvd + $(mtc_bytes)))
    # The flight is the 64-byte header and the padded command frame.
    bob_frames=$((bob_frames + $(stat -c %s "$TEST_DIR/bob$i.flight") - 64))
done
assert_eq "$bob_rcvd" 100000 "mtclient's bytes for bob"
mtc -s "$WRONG" -m intermediate -t echo -b 1024 --expect-close -w 5 ||
    die "the wrong secret was not refused"
settled $((base_acc + 6))

# Per mode: exactly our handshakes on top of what was there.
assert_eq "$(jget "$S" '{k: v - b[k] for b in ['"$base_hs"']
    for k, v in d["handshakes"].items() if v != b[k]}')" \
    '{"ok_classic": 3, "ok_secure": 2, "bad_secret": 1}' "handshakes"
assert_eq "$(jget "$S" '[d["connections"][k] for k in ("active",
    "accepted", "refused_limit", "refused_thread")]')" \
    "[0, $((base_acc + 6)), 0, 0]" "connections"
assert_eq "$(jget "$S" 'd["masking"]')" \
    '{"relayed": 0, "connect_failures": 0}' "masking"

# Per user: what mtclient moved, plus its command frames upstream (an
# intermediate frame is 4 + 32 bytes; the padded ones were dumped), and
# the sink's 8-byte verdicts downstream.
alice_c2d=$((alice_sent + 3 * 36))
assert_eq "$(jget "$S" '[(u["name"], u["connections"], u["active"],
    u["bytes_client_to_dc"], u["bytes_dc_to_client"],
    u["unique_ips_recent"]) for u in d["users"]]')" \
    "[[\"alice\", 3, 0, $alice_c2d, 24, 1], [\"bob\", 2, 0, $bob_frames,\
 $bob_rcvd, 1]]" "users"
now=$(jget "$S" 'd["now"]')
for u in 0 1; do
    assert_between "$(jget "$S" "d['users'][$u]['last_seen']")" \
        $((now - 60)) "$now" "last_seen of user $u"
done
assert_eq "$(jget "$S" '[d["traffic"]["client_to_dc_bytes"],
    d["traffic"]["dc_to_client_bytes"]]')" \
    "[$((alice_c2d + bob_frames)), $((24 + bob_rcvd))]" "traffic"
assert_eq "$(jget "$S" '[(x["dc"], x["connections"], x["connect_failures"])
    for x in d["dcs"]]')" '[[2, 5, 0]]' "dcs"
assert_eq "$(jget "$S" '[d["histograms"][h]["count"]
    for h in ("handshake_seconds", "dc_connect_seconds")]')" \
    "[$((base_acc + 6)), 5]" "histogram counts"
assert_eq "$(jget "$S" 'all(
    [b["count"] for b in h["buckets"]] ==
        sorted(b["count"] for b in h["buckets"]) and
    h["buckets"][-1] == {"le": "+Inf", "count": h["count"]}
    for h in d["histograms"].values())')" true "cumulative buckets"
assert_eq "$(jget "$S" '[(w["slot"], w["state"], w["up"], w["active"],
    w["restarts"]) for w in d["workers"]]')" \
    '[[0, "running", true, 0, 0], [1, "running", true, 0, 0]]' "workers"
assert_eq "$(jget "$S" 'sum(w["total"] for w in d["workers"])')" \
    $((base_acc + 6)) \
    "connections accepted by the workers"
assert_eq "$(jget "$S" 'd["replay_entries"]')" 5 "replay entries"
assert_eq "$(jget "$S" 'd["version"] != "" and d["uptime_seconds"] >= 0 and
    d["start_time"] <= d["now"]')" true "version and times"
assert_eq "$(jget "$S" 'len(d["history"]) >= 1 and
    all(a["t"] < b["t"] for a, b in zip(d["history"], d["history"][1:])) and
    d["history"][-1]["t"] <= d["now"]')" true "history"

# /api/v1/users: the same users, with their links.
U=$TEST_DIR/users.json
fetch /api/v1/users "$U"
assert_eq "$(jget "$U" '[(u["name"], u["connections"],
    u["bytes_client_to_dc"]) for u in d["users"]]')" \
    "[[\"alice\", 3, $alice_c2d], [\"bob\", 2, $bob_frames]]" "users body"
q="proxy?server=127.0.0.1&port=$TELEMT_PORT&secret="
assert_eq "$(jget "$U" '[sorted(l) for l in d["users"][0]["links"]]')" \
    '[["mode", "tg", "tme"], ["mode", "tg", "tme"]]' "alice's link members"
assert_eq "$(jget "$U" '"\n".join(" ".join((l["mode"], l["tg"], l["tme"]))
    for l in d["users"][0]["links"])')" \
    "classic tg://$q$ALICE https://t.me/$q$ALICE
secure tg://${q}dd$ALICE https://t.me/${q}dd$ALICE" "alice's links"
# They are the links --links prints.
"$TELEMT_BIN" --links "$cfg" >"$TEST_DIR/links.txt" 2>&1 ||
    die "telemt --links failed: $(cat "$TEST_DIR/links.txt")"
assert_eq "$(jget "$U" '"\n".join("%s %s %s\n%s %s %s" % (u["name"],
    l["mode"], l["tg"], u["name"], l["mode"], l["tme"])
    for u in d["users"] for l in u["links"])')" \
    "$(cat "$TEST_DIR/links.txt")" "links as telemt --links prints them"

# /metrics agrees with the JSON, number for number.
M=$TEST_DIR/metrics.txt
fetch /api/v1/stats "$S"
fetch /metrics "$M"
if [ -n "$PROMTOOL" ]; then
    "$PROMTOOL" check metrics <"$M" >"$TEST_DIR/promtool.out" 2>&1 || {
        cat "$TEST_DIR/promtool.out" >&2
        die "promtool check metrics failed"
    }
fi
"$PY" - "$S" "$M" <<'EOF' || die "/metrics and /api/v1/stats disagree"
import json, re, sys

d = json.load(open(sys.argv[1]))
m = {}
for line in open(sys.argv[2]):
    if line.startswith("#") or not line.strip():
        continue
    r = re.match(r'^([a-z_]+)(\{(.*)\})? (\S+)$', line.rstrip("\n"))
    assert r, "bad line: " + line
    labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"',
                                     r.group(3) or "")))
    key = (r.group(1), labels)
    assert key not in m, "duplicate series: " + line
    m[key] = float(r.group(4))

bad = []
def eq(name, want, **labels):
    got = m.get((name, tuple(sorted((k, str(v)) for k, v in labels.items()))))
    if got is None or abs(got - want) > 1e-6:
        bad.append("%s%s: metrics %s, json %s" % (name, labels, got, want))

c = d["connections"]
eq("telemt_connections_accepted_total", c["accepted"])
eq("telemt_connections_refused_total", c["refused_limit"], reason="limit")
eq("telemt_connections_refused_total", c["refused_thread"], reason="thread")
eq("telemt_connections_active", c["active"])
eq("telemt_traffic_bytes_total", d["traffic"]["client_to_dc_bytes"],
   direction="client_to_dc")
eq("telemt_traffic_bytes_total", d["traffic"]["dc_to_client_bytes"],
   direction="dc_to_client")
for k, v in d["handshakes"].items():
    eq("telemt_handshakes_total", v, reason=k)
n_hs = sum(1 for (n, _) in m if n == "telemt_handshakes_total")
if n_hs != len(d["handshakes"]):
    bad.append("handshake reasons: %d in metrics, %d in json"
               % (n_hs, len(d["handshakes"])))
eq("telemt_mask_relayed_total", d["masking"]["relayed"])
eq("telemt_mask_connect_failures_total", d["masking"]["connect_failures"])
for x in d["dcs"]:
    eq("telemt_dc_connections_total", x["connections"], dc=x["dc"])
    eq("telemt_dc_connect_failures_total", x["connect_failures"], dc=x["dc"])
for u in d["users"]:
    eq("telemt_user_connections_active", u["active"], user=u["name"])
    eq("telemt_user_connections_total", u["connections"], user=u["name"])
    eq("telemt_user_bytes_total", u["bytes_client_to_dc"], user=u["name"],
       direction="client_to_dc")
    eq("telemt_user_bytes_total", u["bytes_dc_to_client"], user=u["name"],
       direction="dc_to_client")
    eq("telemt_user_unique_ips", u["unique_ips_recent"], user=u["name"])
    eq("telemt_user_last_seen_timestamp_seconds", u["last_seen"] or 0,
       user=u["name"])
for w in d["workers"]:
    eq("telemt_worker_up", 1 if w["up"] else 0, worker=w["slot"])
    eq("telemt_worker_connections_active", w["active"], worker=w["slot"])
    eq("telemt_worker_connections_total", w["total"], worker=w["slot"])
    eq("telemt_worker_restarts_total", w["restarts"], worker=w["slot"])
eq("telemt_workers_expected", d["workers_expected"])
eq("telemt_replay_entries", d["replay_entries"])
eq("telemt_start_time_seconds", d["start_time"])
eq("telemt_config_generation", d["generation"])
up = m.get(("telemt_uptime_seconds", ()))
if up is None or abs(up - d["uptime_seconds"]) > 2:
    bad.append("uptime: metrics %s, json %s" % (up, d["uptime_seconds"]))
for name, h in d["histograms"].items():
    fam = "telemt_" + name
    for b in h["buckets"]:
        le = b["le"] if b["le"] == "+Inf" else "%g" % b["le"]
        eq(fam + "_bucket", b["count"], le=le)
    eq(fam + "_count", h["count"])
    eq(fam + "_sum", h["sum"])
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("metrics agree with the JSON: %d series" % len(m))
EOF

# --- a worker dies ----------------------------------------------------------

K=$TEST_DIR/workers.json
# A long stream, so that the victim carries a connection.
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$ALICE" -m intermediate \
    -t echo -b 8192m -w 30 >"$TEST_DIR/stream.out" 2>&1 &
stream=$!
PIDS+=("$stream")
victim=""
for ((i = 0; i < 100; i++)); do
    fetch /api/v1/workers "$K"
    victim=$(jget "$K" '" ".join("%d %d" % (w["slot"], w["pid"])
        for w in d["workers"] if w["active"] == 1)')
    [ -n "$victim" ] && break
    sleep 0.1
done
[ -n "$victim" ] || die "no worker shows the stream's connection"
read -r vslot vpid <<<"$victim"
fetch /api/v1/stats "$S"
assert_eq "$(jget "$S" '(d["connections"]["active"],
    d["users"][0]["active"])')" "[1, 1]" "the stream is counted"

# kill_and_watch PID: kill -9 it; watch /healthz (and the slot's pid)
# until the slot runs a new worker.  Sets SAW_503 and NEWPID.
kill_and_watch() {
    local pid=$1 code j
    SAW_503=0
    NEWPID=""
    kill -KILL "$pid"
    for ((j = 0; j < 1500; j++)); do
        code=$(http GET /healthz "$W") || die "curl /healthz failed"
        if [ "$code" = 503 ]; then
            SAW_503=1
            assert_match "$(cat "$W")" '^\{"status":"degraded",'\
'"workers_up":[01],"workers_expected":2\}$' "/healthz body while degraded"
        elif [ "$code" = 200 ]; then
            NEWPID=$(curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
                "$ADMIN/api/v1/workers" |
                "$PY" -c 'import json, sys
w = json.load(sys.stdin)["workers"][int(sys.argv[1])]
print(w["pid"] if w["up"] else "")' "$vslot")
            [ -n "$NEWPID" ] && [ "$NEWPID" != "$pid" ] && return 0
        else
            die "/healthz answered $code"
        fi
        sleep 0.01
    done
    die "slot $vslot did not come back after killing pid $pid"
}

# The first respawn is immediate; one that dies within a second waits
# 250 ms, then 500 ms...: kill again until the gap has been seen.
kills=0
pid=$vpid
for ((k = 0; k < 5; k++)); do
    note "killing worker $vslot (pid $pid)"
    kill_and_watch "$pid"
    kills=$((kills + 1))
    note "slot $vslot: pid $NEWPID, 503 seen: $SAW_503"
    [ "$SAW_503" = 1 ] && break
    pid=$NEWPID
done
[ "$SAW_503" = 1 ] || die "/healthz never answered 503 after $kills kills"
assert_grep "$TELEMT_LOG" "worker $vslot \\(pid $vpid\\) killed by signal 9" \
    "the master saw the death"
assert_grep "$TELEMT_LOG" "worker $vslot respawned" "the master respawned it"
code=$(http GET /healthz "$W") || die "curl /healthz failed"
assert_eq "$code" 200 "/healthz after the respawn"
wait "$stream" 2>/dev/null && die "the stream survived its worker's death"

# The dead worker's connection is gone from every gauge.
fetch /api/v1/stats "$S"
assert_eq "$(jget "$S" '(d["connections"]["active"], d["users"][0]["active"],
    d["workers"][int('"$vslot"')]["active"],
    d["workers"][int('"$vslot"')]["restarts"],
    d["workers"][int('"$vslot"')]["pid"] != '"$vpid"',
    d["workers_up"])')" "[0, 0, 0, $kills, true, 2]" \
    "gauges after the respawn (active, alice, slot active, restarts, ...)"
assert_eq "$(jget "$S" '(d["handshakes"]["ok_classic"] -
    '"$base_hs"'["ok_classic"], d["connections"]["accepted"])')" \
    "[4, $((base_acc + 7))]" \
    "the stream was counted"

# --- the master's final stats line ----------------------------------------

fetch /api/v1/stats "$S"
stop_telemt
line=$(grep 'stats: ' "$TELEMT_LOG" | tail -n 1)
note "$line"
"$PY" - "$S" "$line" <<'EOF' || die "the stats line and the JSON disagree"
import json, sys

d = json.load(open(sys.argv[1]))
line = dict(kv.split("=", 1) for kv in sys.argv[2].split("stats: ", 1)[1]
            .split())
want = {k: str(v) for k, v in d["counters"].items()}
want.update(("hs_" + k, str(v)) for k, v in d["handshakes"].items())
if line != want:
    for k in sorted(set(line) | set(want)):
        if line.get(k) != want.get(k):
            print("%s: stats line %s, json %s" % (k, line.get(k),
                                                  want.get(k)))
    sys.exit(1)
print("stats line matches the JSON: %d counters" % len(line))
EOF
note "admin endpoint reported exactly what went through"
