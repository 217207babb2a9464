#!/usr/bin/env bash
#
# t_admin_browser.sh - the admin stats page (admin/page.html) in headless
# Chromium against a live proxy.  The page is served at GET / as is; once
# its script has run, the DOM has body[data-loaded=1], a row per user
# (alice, bob) and per worker, with the numbers of /api/v1/stats.  After
# alice's traffic (3 echo connections of 1 MiB) a second load shows her new
# connections and byte counters, equal to the JSON fetched around it, and
# the charts have history points.  A screenshot (1280x900) is kept in
# tests/integration/output/admin-page.png.  Then, with admin_token set, the
# page shows its error banner without the token and loads with #token=.
# Without admin_token the links panel says links need it and the QR route
# answers 404.  Last, users with limits (alice: a quota partly used by a
# transfer, max_tcp_conns, max_unique_ips, an expiration ahead; bob
# disabled and refused once; carol expired) and admin_token: the rows show
# each status, "N / MAX", the quota bar's bytes and percentage (equal to
# the JSON), the expiry and the refusals; the links panel shows a QR code
# per link, and zbarimg decodes each code of the qr.svg route (rendered to
# PNG by rsvg-convert) and the page's own screenshot
# (output/admin-qr.png) to exactly the users' tg:// links.  Without
# zbarimg or rsvg-convert that part is skipped with a SKIPPED line, or
# fails when CI is set.
#
# Chromium only ever opens http://127.0.0.1:PORT/ (run.sh also runs the
# scenarios in a loopback-only network namespace).  Without chromium, curl
# or python3 the scenario is skipped, or fails when CI is set.
#
# Env: CHROMIUM (the browser binary; default: chromium from PATH).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT_DIR=$here/output
PAGE_SRC=$here/../../admin/page.html
MIB=1048576

# need WHY: skip the scenario, or fail it under CI.
need() {
    [ -z "${CI:-}" ] || die "$1 (and CI is set)"
    skip "$1"
}

if [ -z "${CHROMIUM:-}" ]; then
    for c in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then
            CHROMIUM=$(command -v "$c")
            break
        fi
    done
fi
if [ -z "${CHROMIUM:-}" ] || [ ! -x "$CHROMIUM" ]; then
    need "chromium is not installed"
fi
command -v curl >/dev/null 2>&1 || need "curl is not installed"
[ -n "$PY" ] || need "python3 is not installed"

# --- helpers ---------------------------------------------------------------

CHROME_N=0
CHROME_LOG=$TEST_DIR/chromium.log

# browse URL ARGS...: headless Chromium with a fresh profile on URL, which
# must be on 127.0.0.1; ARGS are e.g. --dump-dom (the DOM on stdout).
# --virtual-time-budget lets the page's timers and fetches run (about 3
# refreshes) before the dump or screenshot.
browse() {
    local url=$1 prof rc=0
    shift
    case $url in
    http://127.0.0.1:[0-9]*/*) ;;
    *) die "browse: will not open '$url' (127.0.0.1 only)" ;;
    esac
    CHROME_N=$((CHROME_N + 1))
    prof=$TEST_DIR/chromium-profile.$CHROME_N
    mkdir -p "$prof"
    echo "--- chromium #$CHROME_N $* $url" >>"$CHROME_LOG"
    timeout -k 5 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-dev-shm-usage --no-first-run --no-default-browser-check \
        --disable-background-networking --disable-component-update \
        --disable-sync --disable-extensions --disable-default-apps \
        --disable-breakpad --no-proxy-server --mute-audio --hide-scrollbars \
        --user-data-dir="$prof" --virtual-time-budget=5000 "$@" "$url" \
        2>>"$CHROME_LOG" || rc=$?
    rm -rf "$prof"
    if [ "$rc" != 0 ]; then
        tail -n 20 "$CHROME_LOG" >&2
        die "chromium $* $url exited with status $rc"
    fi
}

# dump_dom URL FILE: the DOM after the page's script ran, as key=value
# facts in FILE (see dom_facts); the raw DOM is kept in FILE.html.
dump_dom() {
    browse "$1" --dump-dom >"$2.html"
    [ -s "$2.html" ] || die "chromium dumped an empty DOM for $1"
    dom_facts "$2.html" >"$2"
}

# dom_facts HTML: one "key=value" line per number the page shows:
#   body.loaded, body.refreshes, body.error   body[data-*]
#   id.ID, id.ID.value                        text and data-value of #ID
#   hidden.ID=1                               #ID has the hidden attribute
#   points.ID                                 svg#ID[data-points]
#   KIND.KEY.FIELD, KIND.KEY.FIELD.value      tr[data-KIND=KEY] td[data-field]
#   rows.KIND                                 the KEYs of KIND, in order
#   qr.USER.I.state, qr.USER.I.src, qr.USER.I.tg   img[data-link=I] in
#                                             div[data-links-user=USER]
#                                             (src: "blob" for a blob: URL)
dom_facts() {
    "$PY" - "$1" <<'EOF'
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "param", "source", "track", "wbr"}
KINDS = ("user", "worker", "dc", "handshake", "histogram")


class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []         # (tag, collector or None)
        self.open = []          # collectors: [key, [text], value]
        self.row = None
        self.rows = {k: [] for k in KINDS}
        self.facts = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "body":
            for k, v in a.items():
                if k.startswith("data-"):
                    self.facts.append(("body." + k[5:], v))
        if tag == "tr":
            for k in KINDS:
                if "data-" + k in a:
                    self.row = (k, a["data-" + k])
                    self.rows[k].append(a["data-" + k])
        if "data-links-user" in a:
            self.links_user = a["data-links-user"]
        if tag == "img" and "data-link" in a:
            k = "qr.%s.%s" % (getattr(self, "links_user", "?"), a["data-link"])
            src = a.get("src", "")
            self.facts.append((k + ".state", a.get("data-state", "")))
            self.facts.append((k + ".src", "blob" if src.startswith("blob:")
                               else src[:40]))
            self.facts.append((k + ".tg", a.get("data-tg", "")))
        coll = None
        if tag == "td" and self.row and "data-field" in a:
            coll = ["%s.%s.%s" % (self.row[0], self.row[1], a["data-field"]),
                    [], a.get("data-value")]
        elif "id" in a:
            coll = ["id." + a["id"], [], a.get("data-value")]
            if "hidden" in a:
                self.facts.append(("hidden." + a["id"], "1"))
            if "data-points" in a:
                self.facts.append(("points." + a["id"], a["data-points"]))
        if tag in VOID:
            return
        self.stack.append((tag, coll))
        if coll:
            self.open.append(coll)

    def handle_endtag(self, tag):
        if tag not in [t for t, _ in self.stack]:
            return
        while self.stack:
            t, coll = self.stack.pop()
            if coll:
                self.open.remove(coll)
                self.facts.append((coll[0], " ".join("".join(coll[1]).split())))
                if coll[2] is not None:
                    self.facts.append((coll[0] + ".value", coll[2]))
            if t == "tr":
                self.row = None
            if t == tag:
                break

    def handle_data(self, data):
        for c in self.open:
            c[1].append(data)


d = Dom()
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    d.feed(f.read())
d.close()
for k in KINDS:
    d.facts.append(("rows." + k, " ".join(d.rows[k])))
for k, v in d.facts:
    print("%s=%s" % (k, v.replace("\n", " ")))
EOF
}

# json_facts JSON: /api/v1/stats as key=value lines named like the page's:
#   conn.active, conn.accepted, traffic.client_to_dc_bytes, hs.ok_classic,
#   user.NAME.FIELD, worker.SLOT.FIELD, history.len, rows.user, ...
json_facts() {
    "$PY" - "$1" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
out = []
for k, v in s["connections"].items():
    out.append(("conn." + k, v))
for k, v in s["traffic"].items():
    out.append(("traffic." + k, v))
for k, v in s["handshakes"].items():
    out.append(("hs." + k, v))
for k in ("version", "uptime_seconds", "generation", "replay_entries"):
    out.append((k, s.get(k)))
for u in s["users"]:
    for k, v in u.items():
        out.append(("user.%s.%s" % (u["name"], k), v))
for w in s["workers"]:
    for k, v in w.items():
        out.append(("worker.%s.%s" % (w["slot"], k), v))
out.append(("rows.user", " ".join(u["name"] for u in s["users"])))
out.append(("rows.worker", " ".join(str(w["slot"]) for w in s["workers"])))
out.append(("history.len", len(s["history"])))
out.append(("hs_refused", sum(v for k, v in s["handshakes"].items()
                              if not k.startswith("ok_"))))
for k, v in out:
    if v is None:
        v = ""
    elif v is True or v is False:
        v = "true" if v else "false"
    print("%s=%s" % (k, v))
EOF
}

# fact FILE KEY: the value of KEY in a facts file ("" if absent).
fact() {
    awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2);
        exit }' "$1"
}

# get_stats FILE [CURL ARGS...]: GET /api/v1/stats into FILE, and its
# facts into FILE.facts.
get_stats() {
    local file=$1
    shift
    curl -sS --max-time 5 -o "$file" "$@" "$ADMIN_URL/api/v1/stats" ||
        die "GET /api/v1/stats failed"
    json_facts "$file" >"$file.facts" ||
        die "GET /api/v1/stats: not the expected JSON: $(head -c 300 "$file")"
}

# stable FACTS: the facts that do not move while no client is connected.
stable() {
    grep -E '^(conn\.(accepted|active|refused_.*)|traffic\.|hs\.|user\.[^.]+\.(active|connections|bytes_.*|last_seen)|worker\.[0-9]+\.(pid|state|total|active|restarts))=' \
        "$1"
}

# wait_admin: until GET / answers (10 s); it must be 200, the page as is.
wait_admin() {
    local i code=""
    for ((i = 0; i < 100; i++)); do
        code=$(curl -s -o "$TEST_DIR/page.served" -w '%{http_code}' \
            --max-time 2 "$ADMIN_URL/" 2>/dev/null) || true
        [ "$code" = 200 ] && break
        # Anything but "no answer yet" (000) or 5xx is the final word.
        case $code in 000 | 5??) ;; *) break ;; esac
        sleep 0.1
    done
    case $code in
    200) ;;
    401)
        die "GET / answered 401 without a token: a browser cannot load" \
            "the page, so the #token= fragment cannot work; GET / (the" \
            "static page, no data) must be served without the token"
        ;;
    *)
        tail -n 30 "$TELEMT_LOG" >&2
        die "GET $ADMIN_URL/ did not answer 200 within 10 s (last: '$code')"
        ;;
    esac
    ctype=$(curl -sS --max-time 5 -o /dev/null -w '%{content_type}' \
        "$ADMIN_URL/")
    assert_match "$ctype" '^text/html' "GET / Content-Type"
    cmp -s "$TEST_DIR/page.served" "$PAGE_SRC" ||
        die "GET / does not serve admin/page.html as is (stale build?)"
}

# check_user_cells DOMFACTS JSONFACTS USER: every number of the user's row
# equals the JSON's.
check_user_cells() {
    local f
    for f in active connections bytes_client_to_dc bytes_dc_to_client \
        unique_ips_recent last_seen; do
        assert_eq "$(fact "$1" "user.$3.$f.value")" \
            "$(fact "$2" "user.$3.$f")" "page: $3's $f (data-value)"
    done
}

# --- the proxy with the admin endpoint ----------------------------------------

start_fakedc fakedc
ADMIN_PORT=$(free_port)
ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=2 admin_listen="127.0.0.1:$ADMIN_PORT"
start_telemt "$cfg"
wait_admin
note "GET / answers 200 on port $ADMIN_PORT"

# --- first load: rows for every user and worker --------------------------------

get_stats "$TEST_DIR/stats.0.json"
dump_dom "$ADMIN_URL/" "$TEST_DIR/dom.1"
d1=$TEST_DIR/dom.1
j0=$TEST_DIR/stats.0.json.facts
assert_eq "$(fact "$d1" body.loaded)" 1 "page: body[data-loaded]"
assert_match "$(fact "$d1" body.refreshes)" '^[1-9][0-9]*$' "page: refreshes"
assert_eq "$(fact "$d1" hidden.error)" 1 "page: the error banner is hidden"
assert_match "$(fact "$d1" id.updated-at)" '^[0-9]{2}:[0-9]{2}:[0-9]{2}$' \
    "page: #updated-at"
assert_eq "$(fact "$d1" id.version)" "v$(fact "$j0" version)" "page: #version"
assert_eq "$(fact "$d1" rows.user)" "alice bob" "page: user rows"
assert_eq "$(fact "$d1" rows.worker)" "0 1" "page: worker rows"
assert_match "$(fact "$d1" id.links-note)" '^no links: .*admin_token' \
    "page without admin_token: the links panel says why it has none"
assert_eq "$(fact "$d1" body.links)" omitted "page: body[data-links]"
assert_eq "$(fact "$d1" qr.alice.0.state)" "" "page: no QR code without links"
code=$(curl -s -o "$TEST_DIR/qr.notoken" -w '%{http_code}' --max-time 5 \
    "$ADMIN_URL/api/v1/users/alice/qr.svg")
assert_eq "$code" 404 "GET qr.svg without admin_token configured"
assert_grep "$TEST_DIR/qr.notoken" '"error".*only when admin_token is set' \
    "qr.svg without admin_token: the JSON error"
for u in alice bob; do
    assert_eq "$(fact "$d1" "user.$u.name")" "$u" "page: $u's name cell"
    assert_eq "$(fact "$d1" "user.$u.connections.value")" 0 \
        "page: $u's connections before any traffic"
    assert_eq "$(fact "$d1" "user.$u.last_seen")" never "page: $u last seen"
done
kids=" $(descendants "$TELEMT_PID" | tr '\n' ' ') "
for w in 0 1; do
    assert_eq "$(fact "$d1" "worker.$w.state")" running "page: worker $w state"
    pid=$(fact "$d1" "worker.$w.pid")
    assert_eq "$pid" "$(fact "$j0" "worker.$w.pid")" "page: worker $w pid"
    case $kids in
    *" $pid "*) ;;
    *) die "page: worker $w pid $pid is not a process of telemt $TELEMT_PID" ;;
    esac
done
for k in ok_classic ok_secure ok_tls; do
    assert_eq "$(fact "$d1" "handshake.$k.count.value")" 0 \
        "page: handshake row $k"
done
note "first load: users '$(fact "$d1" rows.user)'," \
    "workers '$(fact "$d1" rows.worker)', $(fact "$d1" body.refreshes) refreshes"

# --- traffic, then a second load ---------------------------------------------

mtc_ok -s "$ALICE" -m intermediate -t echo -n 3 -b "$MIB" -w 30
# Wait until the counters show it all (alice's connections closed and the
# history holds a few samples), then some more for the next sample.
for ((i = 0; i < 100; i++)); do
    get_stats "$TEST_DIR/stats.1.json"
    j1=$TEST_DIR/stats.1.json.facts
    if [ "$(fact "$j1" user.alice.connections)" = 3 ] &&
        [ "$(fact "$j1" user.alice.active)" = 0 ] &&
        [ "$(fact "$j1" conn.active)" = 0 ] &&
        [ "$(fact "$j1" history.len)" -ge 3 ]; then
        break
    fi
    sleep 0.1
done
assert_eq "$(fact "$j1" user.alice.connections)" 3 "JSON: alice's connections"
assert_eq "$(fact "$j1" user.alice.active)" 0 "JSON: alice's active"
sleep 2.5

# The JSON before and after the dump must agree on every counter the page
# shows, so that the page's values can be checked against it.
for ((try = 0; ; try++)); do
    get_stats "$TEST_DIR/stats.2.json"
    dump_dom "$ADMIN_URL/" "$TEST_DIR/dom.2"
    get_stats "$TEST_DIR/stats.3.json"
    if diff <(stable "$TEST_DIR/stats.2.json.facts") \
        <(stable "$TEST_DIR/stats.3.json.facts") >"$TEST_DIR/stable.diff"; then
        break
    fi
    [ "$try" -lt 2 ] || die "the stats keep moving: $(cat "$TEST_DIR/stable.diff")"
done
d2=$TEST_DIR/dom.2
j2=$TEST_DIR/stats.2.json.facts
assert_eq "$(fact "$d2" body.loaded)" 1 "page (2nd): body[data-loaded]"
assert_eq "$(fact "$d2" hidden.error)" 1 "page (2nd): the error banner is hidden"
assert_eq "$(fact "$d2" rows.user)" "$(fact "$j2" rows.user)" "page (2nd): user rows"
assert_eq "$(fact "$d2" rows.worker)" "$(fact "$j2" rows.worker)" \
    "page (2nd): worker rows"

# alice: the changed cells, their human form, and equality with the JSON.
assert_eq "$(fact "$d2" user.alice.connections.value)" 3 \
    "page: alice's connections after 3 clients"
assert_eq "$(fact "$d2" user.alice.connections)" 3 "page: alice's connections text"
up=$(fact "$d2" user.alice.bytes_client_to_dc.value)
down=$(fact "$d2" user.alice.bytes_dc_to_client.value)
assert_between "$up" $((3 * MIB)) $((3 * MIB + 3 * MIB / 20)) \
    "page: alice's bytes client -> DC"
assert_between "$down" $((3 * MIB)) $((3 * MIB + 3 * MIB / 20)) \
    "page: alice's bytes DC -> client"
assert_match "$(fact "$d2" user.alice.bytes_client_to_dc)" '^3\.[0-9] MiB$' \
    "page: alice's bytes up, human-readable"
assert_match "$(fact "$d2" user.alice.bytes_dc_to_client)" '^3\.[0-9] MiB$' \
    "page: alice's bytes down, human-readable"
assert_match "$(fact "$d2" user.alice.last_seen)" '^[0-9]+ s ago$' \
    "page: alice's last seen"
assert_match "$(fact "$d2" user.alice.unique_ips_recent.value)" '^[1-9]' \
    "page: alice's unique IPs"
check_user_cells "$d2" "$j2" alice
check_user_cells "$d2" "$j2" bob
assert_eq "$(fact "$d2" user.bob.connections.value)" 0 "page: bob's connections"

# The cards and the other tables.
assert_eq "$(fact "$d2" id.conn-active.value)" "$(fact "$j2" conn.active)" \
    "page: #conn-active"
assert_eq "$(fact "$d2" id.conn-accepted.value)" "$(fact "$j2" conn.accepted)" \
    "page: #conn-accepted"
# (start_telemt's port probe is one more accepted connection, an "eof".)
assert_eq "$(($(fact "$d2" id.conn-accepted.value) - \
    $(fact "$j0" conn.accepted)))" 3 "page: #conn-accepted, new since the first load"
assert_eq "$(fact "$d2" id.traffic-in.value)" \
    "$(fact "$j2" traffic.client_to_dc_bytes)" "page: #traffic-in"
assert_eq "$(fact "$d2" id.traffic-out.value)" \
    "$(fact "$j2" traffic.dc_to_client_bytes)" "page: #traffic-out"
assert_match "$(fact "$d2" id.rate-in.value)" '^[0-9]+$' "page: #rate-in"
assert_match "$(fact "$d2" id.rate-out)" '/s$' "page: #rate-out"
assert_eq "$(fact "$d2" handshake.ok_classic.count.value)" \
    "$(fact "$j2" hs.ok_classic)" "page: handshake row ok_classic"
assert_eq "$(fact "$d2" handshake.ok_classic.count.value)" 3 \
    "page: handshake row ok_classic"
assert_eq "$(fact "$d2" id.hs-refused.value)" "$(fact "$j2" hs_refused)" \
    "page: #hs-refused"
for w in 0 1; do
    for f in pid active total restarts; do
        assert_eq "$(fact "$d2" "worker.$w.$f.value")" \
            "$(fact "$j2" "worker.$w.$f")" "page: worker $w $f"
    done
done
assert_eq "$(($(fact "$d2" worker.0.total.value) + \
    $(fact "$d2" worker.1.total.value)))" "$(fact "$j2" conn.accepted)" \
    "page: workers' totals add up to the accepted connections"
assert_match "$(fact "$d2" rows.dc)" '(^| )2( |$)' "page: a row for DC 2"
assert_match "$(fact "$d2" points.chart-active)" '^([2-9]|[1-9][0-9]+)$' \
    "page: points of the active connections chart"
assert_match "$(fact "$d2" points.chart-traffic)" '^[1-9][0-9]*$' \
    "page: points of the throughput chart"
note "second load: alice connections=3 up=$up down=$down," \
    "chart points $(fact "$d2" points.chart-active)"

# --- the screenshot -----------------------------------------------------------

mkdir -p "$OUT_DIR"
png=$OUT_DIR/admin-page.png
rm -f "$png"
browse "$ADMIN_URL/" --window-size=1280,900 --screenshot="$png" >/dev/null
[ -f "$png" ] || die "chromium wrote no screenshot $png"
size=$(wc -c <"$png")
[ "$size" -gt 10240 ] || die "screenshot $png is only $size bytes"
dims=$("$PY" - "$png" <<'EOF'
import struct, sys
b = open(sys.argv[1], "rb").read(24)
if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
    print("not-a-png")
else:
    print("%dx%d" % struct.unpack(">II", b[16:24]))
EOF
)
assert_eq "$dims" 1280x900 "screenshot dimensions"
note "screenshot $png: $size bytes, $dims"

stop_telemt

# --- admin_token: the banner without it, the data with #token= ---------------

TOKEN='page+test/token=42&x'
TOKEN_URL='page%2Btest%2Ftoken%3D42%26x'
ADMIN_PORT=$(free_port)
ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
write_config "$cfg" workers=1 admin_listen="127.0.0.1:$ADMIN_PORT" \
    admin_token="$TOKEN"
start_telemt "$cfg"
wait_admin
note "GET / answers 200 without the token"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    "$ADMIN_URL/api/v1/stats")
assert_match "$code" '^40[13]$' "GET /api/v1/stats without the token"
get_stats "$TEST_DIR/stats.tok.json" -H "Authorization: Bearer $TOKEN"

dump_dom "$ADMIN_URL/" "$TEST_DIR/dom.notoken"
d3=$TEST_DIR/dom.notoken
assert_eq "$(fact "$d3" hidden.error)" "" "page without token: #error shown"
assert_match "$(fact "$d3" id.error)" "HTTP 40[13]" "page without token: #error"
assert_eq "$(fact "$d3" body.loaded)" 0 "page without token: data-loaded"
assert_eq "$(fact "$d3" rows.user)" "" "page without token: user rows"

dump_dom "$ADMIN_URL/#token=$TOKEN_URL" "$TEST_DIR/dom.token"
d4=$TEST_DIR/dom.token
assert_eq "$(fact "$d4" body.loaded)" 1 "page with #token=: data-loaded"
assert_eq "$(fact "$d4" hidden.error)" 1 "page with #token=: #error hidden"
assert_eq "$(fact "$d4" rows.user)" "alice bob" "page with #token=: user rows"
assert_eq "$(fact "$d4" rows.worker)" 0 "page with #token=: worker rows"
note "admin_token: banner '$(fact "$d3" id.error)' without it, data with it"

stop_telemt

# --- per-user limits and the links' QR codes -----------------------------------

CAROL=0f1e2d3c4b5a69788796a5b4c3d2e1f0
QLIMIT=$((8 * MIB))
ADMIN_PORT=$(free_port)
ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
mkdir -p "$TEST_DIR/state"
write_config "$cfg" workers=2 admin_listen="127.0.0.1:$ADMIN_PORT" \
    admin_token="$TOKEN" state_dir="\"$TEST_DIR/state\"" \
    users="{ alice = { secret = \"$ALICE\"; data_quota_bytes = $QLIMIT;
        quota_reset_day = 1; max_tcp_conns = 4; max_unique_ips = 2;
        expiration = \"2099-01-01T00:00:00Z\"; };
      bob = { secret = \"$BOB\"; enabled = false; };
      carol = { secret = \"$CAROL\"; expiration = \"2020-01-01T00:00:00Z\"; }; }"
start_telemt "$cfg"
wait_admin
auth=(-H "Authorization: Bearer $TOKEN")
mtc_ok -s "$ALICE" -m intermediate -t echo -n 1 -b "$MIB" -w 30
mtc -s "$BOB" -m intermediate -t echo -b 4k -w 5 --expect-close >/dev/null ||
    die "bob (enabled = false) was served"
for ((i = 0; i < 100; i++)); do
    get_stats "$TEST_DIR/stats.lim.json" "${auth[@]}"
    jl=$TEST_DIR/stats.lim.json.facts
    used=$(fact "$jl" user.alice.quota_used_bytes)
    [ "$used" -lt $((2 * MIB)) ] || break
    sleep 0.1
done
assert_between "$used" $((2 * MIB)) $((2 * MIB + MIB / 5)) \
    "JSON: alice's quota_used_bytes after 1 MiB each way"
"$PY" - "$TEST_DIR/stats.lim.json" >"$TEST_DIR/lim.want" <<'PYEOF'
import json, sys, time
s = json.load(open(sys.argv[1]))
u = {x["name"]: x for x in s["users"]}
a = u["alice"]
print("alice.pct=%.4f" % (100.0 * a["quota_used_bytes"] / a["data_quota_bytes"]))
print("alice.since=" + time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                     time.gmtime(a["quota_period_start"])))
print("bob.refused.disabled=%d" % u["bob"]["refused"]["disabled"])
PYEOF
assert_eq "$(fact "$TEST_DIR/lim.want" bob.refused.disabled)" 1 \
    "JSON: bob's refused.disabled"
curl -sS --max-time 5 "${auth[@]}" -o "$TEST_DIR/users.json" \
    "$ADMIN_URL/api/v1/users" || die "GET /api/v1/users failed"
"$PY" -c 'import json, sys
for u in json.load(open(sys.argv[1]))["users"]:
    for i, l in enumerate(u["links"]):
        print("%s %d %s" % (u["name"], i, l["tg"]))' "$TEST_DIR/users.json" \
    >"$TEST_DIR/links.want" || die "GET /api/v1/users: no links"
assert_eq "$(wc -l <"$TEST_DIR/links.want")" 6 \
    "links: classic and secure for each of 3 users"

dump_dom "$ADMIN_URL/#token=$TOKEN_URL" "$TEST_DIR/dom.lim"
d5=$TEST_DIR/dom.lim
assert_eq "$(fact "$d5" body.loaded)" 1 "page (limits): data-loaded"
assert_eq "$(fact "$d5" rows.user)" "alice bob carol" "page (limits): user rows"
assert_eq "$(fact "$d5" user.alice.status)" enabled "page: alice's status"
assert_eq "$(fact "$d5" user.bob.status)" disabled "page: bob's status"
assert_eq "$(fact "$d5" user.carol.status)" expired "page: carol's status"
assert_eq "$(fact "$d5" user.alice.active)" "0 / 4" \
    "page: alice's active of max_tcp_conns"
assert_match "$(fact "$d5" user.alice.unique_ips_recent)" '^1 / 2$' \
    "page: alice's unique IPs of max_unique_ips"
assert_eq "$(fact "$d5" user.bob.active)" 0 "page: bob's active, no maximum"
assert_eq "$(fact "$d5" user.alice.quota.value)" "$used" \
    "page: alice's quota used (data-value)"
q=$(fact "$d5" user.alice.quota)
# (The facts join a cell's lines without a space.)
assert_match "$q" '^2\.[0-9] MiB of 8\.0 MiB · [0-9.]+% ?since ' \
    "page: alice's quota bar text"
pct=$(sed -n 's/.* · \([0-9.]*\)% \{0,1\}since .*/\1/p' <<<"$q")
want=$(fact "$TEST_DIR/lim.want" alice.pct)
"$PY" -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 0.051)' \
    "$pct" "$want" || die "page: alice's quota $pct% (the JSON says $want%)"
assert_eq "${q##*since }" "$(fact "$TEST_DIR/lim.want" alice.since)" \
    "page: alice's quota period start"
assert_eq "$(fact "$d5" user.bob.quota)" "no quota" "page: bob has no quota"
assert_match "$(fact "$d5" user.alice.expiration)" \
    '^2099-01-01 00:00:00 UTC ?in ' "page: alice's expiration"
assert_match "$(fact "$d5" user.carol.expiration)" \
    '^expired ?2020-01-01 00:00:00 UTC$' "page: carol's expiration"
assert_eq "$(fact "$d5" user.bob.refused)" "disabled 1" "page: bob's refusals"
assert_eq "$(fact "$d5" user.bob.refused.value)" 1 "page: bob's refusals (value)"
assert_eq "$(fact "$d5" user.alice.refused)" "–" "page: alice's refusals"
assert_eq "$(fact "$d5" body.qr-loaded)" 6 "page: QR codes shown"
assert_eq "$(fact "$d5" hidden.links-note)" 1 "page: no links note"
while read -r u i tg; do
    assert_eq "$(fact "$d5" "qr.$u.$i.state")" ok "page: $u's QR code $i"
    assert_eq "$(fact "$d5" "qr.$u.$i.src")" blob "page: $u's QR code $i src"
    assert_eq "$(fact "$d5" "qr.$u.$i.tg")" "$tg" "page: $u's link $i"
done <"$TEST_DIR/links.want"
note "limits: alice quota '$q', bob '$(fact "$d5" user.bob.status)'" \
    "refused '$(fact "$d5" user.bob.refused)', carol" \
    "'$(fact "$d5" user.carol.expiration)', $(fact "$d5" body.qr-loaded) QR codes"

# The route itself: the token, the type, the errors.
qr=$ADMIN_URL/api/v1/users/alice/qr.svg
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$qr")
assert_eq "$code" 401 "GET qr.svg without the token"
read -r code ctype < <(curl -s -o "$TEST_DIR/alice.0.svg" "${auth[@]}" \
    -w '%{http_code} %{content_type}\n' --max-time 5 "$qr")
assert_eq "$code $ctype" "200 image/svg+xml" "GET qr.svg"
assert_grep "$TEST_DIR/alice.0.svg" '^<svg .*viewBox="0 0 [0-9]+ [0-9]+".*<path ' \
    "qr.svg: an SVG with a path"
for bad in "nobody/qr.svg" "alice/qr.svg?link=2" "alice/qr.svg?link=x"; do
    read -r code ctype < <(curl -s -o "$TEST_DIR/qr.err" "${auth[@]}" \
        -w '%{http_code} %{content_type}\n' --max-time 5 \
        "$ADMIN_URL/api/v1/users/$bad")
    assert_match "$code $ctype" '^40[04] application/json' "GET .../$bad"
    assert_grep "$TEST_DIR/qr.err" '^\{"error":\{"code":' "GET .../$bad: body"
done

# The codes decode to the links: each qr.svg, and the page's screenshot.
mkdir -p "$OUT_DIR"
png=$OUT_DIR/admin-qr.png
rm -f "$png"
browse "$ADMIN_URL/#token=$TOKEN_URL" --window-size=1280,1500 \
    --screenshot="$png" >/dev/null
[ -s "$png" ] || die "chromium wrote no screenshot $png"
if ! command -v zbarimg >/dev/null 2>&1 ||
    ! command -v rsvg-convert >/dev/null 2>&1; then
    [ -z "${CI:-}" ] || die "zbarimg or rsvg-convert is missing (and CI is set)"
    note "SKIPPED: decoding the QR codes: zbarimg (zbar-tools) or" \
        "rsvg-convert (librsvg2-bin) is not installed; scripts/deps.sh has them"
else
    while read -r u i tg; do
        curl -sS --max-time 5 "${auth[@]}" -o "$TEST_DIR/$u.$i.svg" \
            "$ADMIN_URL/api/v1/users/$u/qr.svg?link=$i" || die "GET $u's qr $i"
        rsvg-convert -w 400 -o "$TEST_DIR/$u.$i.png" "$TEST_DIR/$u.$i.svg" ||
            die "rsvg-convert: $u's QR code $i is not a valid SVG"
        got=$(zbarimg -q --raw "$TEST_DIR/$u.$i.png" 2>/dev/null) ||
            die "zbarimg finds no QR code in $u's qr.svg?link=$i"
        assert_eq "$got" "$tg" "zbarimg: $u's QR code $i"
    done <"$TEST_DIR/links.want"
    zbarimg -q --raw "$png" 2>/dev/null | sort >"$TEST_DIR/page.codes" || true
    cut -d' ' -f3 "$TEST_DIR/links.want" | sort >"$TEST_DIR/links.sorted"
    diff "$TEST_DIR/links.sorted" "$TEST_DIR/page.codes" >&2 ||
        die "zbarimg on the page's screenshot $png: not exactly the links"
    note "zbarimg: 6 qr.svg codes and the page's 6 codes are the users' links"
fi
stop_telemt
