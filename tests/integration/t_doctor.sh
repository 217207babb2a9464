#!/usr/bin/env bash
#
# t_doctor.sh - telemt --doctor CONFIG against loopback fakes: the fake
# DC (tests/tools/fakedc) for every DC index, nginx with TLS as the mask
# host (nginx.sh).  An all-good run: every line "ok", no fix, exit 0, in
# bounded time.  Then one run with the problems: a mask host of the
# test's own (python's ssl, nginx's certificate) whose Date is an hour
# ahead, DC 2's only address down, DC 3's first address down, DC 4
# silent (a listener whose queue is full: the connect times out), telemt
# not running (public_host:public_port refused), RLIMIT_NOFILE below what
# max_connections needs: each is a FAIL or warn line followed by its fix,
# exit 1, still in bounded time.  Then warnings alone (exit 0), a mask
# host that is telemt itself and one without TLS (FAILs), a host name
# whose lookup hangs (a FAIL, in bounded time), and a bad config
# (FILE:LINE, exit 1).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

MAXSECS=$((12 * SLOW))          # the doctor's own bound is 8 s

[ -n "$PY" ] || skip "python3 is needed for the fake servers"
# shellcheck disable=SC2034  # nginx.sh's certificate name
NGINX_DOMAIN=localhost          # tls_domain: resolves here, in /etc/hosts
start_nginx mask
start_fakedc fakedc
DEAD=$(free_port)               # nothing listens there
SILENT=$(free_port)

v6=""
if have_ipv6; then
    v6=", \"[::1]:$FAKEDC_PORT\""
fi

# dcs DC2 DC3 DC4: the dc_overrides list, every DC at the fake DC but
# 2, 3 and 4 as given (each a list of quoted addresses).
dcs() {
    local out="" dc
    for dc in 1 5 -1 -2 -3 -4 -5 203; do
        out+="{ dc = $dc; addresses = [ \"127.0.0.1:$FAKEDC_PORT\"$v6 ]; },
    "
    done
    printf '(\n    %s{ dc = 2; addresses = [ %s ]; },\n    { dc = 3; addresses = [ %s ]; },\n    { dc = 4; addresses = [ %s ]; }\n)' \
        "$out" "$1" "$2" "$3"
}

GOOD_DC="\"127.0.0.1:$FAKEDC_PORT\"$v6"
# config FILE DC2 DC3 DC4 [key=value...]
config() {
    local file=$1 d2=$2 d3=$3 d4=$4
    shift 4
    write_config "$file" modes.classic=false modes.secure=false \
        modes.tls=true tls_domain=localhost mask=true mask_host=127.0.0.1 \
        mask_port="$NGINX_PORT" public_host=127.0.0.1 max_connections=100 \
        mask_max_connections=16 dc_overrides="$(dcs "$d2" "$d3" "$d4")" "$@"
}

# doctor CONFIG [prlimit args...]: run the doctor; sets OUT (its output),
# RC and SECS.
doctor() {
    local cfg=$1 t0
    shift
    local -a pre=()
    [ $# -eq 0 ] || pre=(prlimit "$@" --)
    t0=$(date +%s%N)
    RC=0
    OUT=$("${pre[@]}" "$TELEMT_BIN" --doctor "$cfg" 2>"$TEST_DIR/doctor.err") ||
        RC=$?
    SECS=$(awk -v a="$t0" -v b="$(date +%s%N)" \
        'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    printf '%s\n' "$OUT"
    note "doctor exited $RC after $SECS s"
    sanitizer_check "$TEST_DIR/doctor.err" ||
        die "sanitizer report from the doctor"
    assert_between "$SECS" 0 "$MAXSECS" "seconds the doctor took"
}

# line ERE: the one output line matching ERE (a check's line).
line() {
    grep -E -- "$1" <<<"$OUT" | head -n 1
}

# has STATUS ERE WHAT: a line with STATUS whose text matches ERE.
has() {
    assert_match "$(line "^$1 +$2" || true)" "^$1 " "$3"
}

# fixed ERE FIXERE WHAT: the line matching ERE is followed by a fix line
# matching FIXERE.
fixed() {
    local fix
    fix=$(grep -E -A1 -- "$1" <<<"$OUT" | sed -n 2p)
    assert_match "$fix" "^      fix: .*$2" "$3"
}

# --- all good ---------------------------------------------------------

config "$TEST_DIR/good.conf" "$GOOD_DC" "$GOOD_DC" "$GOOD_DC"
start_telemt "$TEST_DIR/good.conf"
note "an all-good run"
doctor "$TEST_DIR/good.conf"
assert_eq "$RC" 0 "exit status of an all-good run"
! grep -Eqv '^(ok  |telemt doctor: |doctor: )' <<<"$OUT" ||
    die "a line that is not ok in an all-good run"
has ok 'clock: [0-9]+ s (ahead of|behind) 127\.0\.0\.1:[0-9]+.s Date' \
    "the clock line"
has ok "mask host 127\.0\.0\.1:$NGINX_PORT: .* TLSv1\.3 .*certificate for localhost \(valid for tls_domain" \
    "the mask host line"
has ok 'tls_domain localhost: resolves to .*127\.0\.0\.1 \(this machine\)' \
    "the tls_domain line"
for dc in 1 2 3 4 5 -1 -5 203; do
    has ok "dc $dc \(dc_overrides\): 127\.0\.0\.1:$FAKEDC_PORT [0-9.]+ ms" \
        "the line of DC $dc"
done
has ok "public 127\.0\.0\.1:$TELEMT_PORT .*: 127\.0\.0\.1:$TELEMT_PORT [0-9.]+ ms" \
    "the public_host line"
has ok 'descriptors: each worker needs 361 ' "the descriptors line"
has ok 'threads: 2 workers x 132 ' "the threads line"
has ok 'thread stacks: 132 per worker' "the stacks line"
assert_match "$(tail -n 1 <<<"$OUT")" '^doctor: [0-9]+ ok, 0 warn, 0 FAIL$' \
    "the summary"

# --- a warning alone --------------------------------------------------

# The same port: telemt still runs there, for the public_host check.
config "$TEST_DIR/warn.conf" "$GOOD_DC" "\"127.0.0.1:$DEAD\", $GOOD_DC" \
    "$GOOD_DC" port="$TELEMT_PORT" tls_domains='[ "nx.invalid" ]'
note "DC 3's first address down, a tls_domains name that does not resolve:"
note "warnings, exit 0"
doctor "$TEST_DIR/warn.conf"
assert_eq "$RC" 0 "exit status with warnings alone"
has warn "dc 3 \(dc_overrides\): 127\.0\.0\.1:$DEAD refused, 127\.0\.0\.1:$FAKEDC_PORT [0-9.]+ ms" \
    "DC 3 with its first address down"
fixed '^warn +dc 3 ' "127\.0\.0\.1:$DEAD refused: comes before the address that answers.*back-off ends" \
    "DC 3's fix"
has warn 'tls_domains nx\.invalid: does not resolve' "an SNI name with no site"
fixed '^warn +tls_domains ' 'use the name of a real HTTPS site' \
    "the unresolved name's fix"
assert_match "$(tail -n 1 <<<"$OUT")" '^doctor: [0-9]+ ok, 2 warn, 0 FAIL$' \
    "the summary"
stop_telemt

# --- every problem at once --------------------------------------------

# A listener whose accept queue is full: more SYNs are dropped, so a
# connect to it waits until the doctor gives up on it.
"$PY" - "$SILENT" <<'EOF' >"$TEST_DIR/silent.out" 2>&1 &
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket()
s.bind(("127.0.0.1", port))
s.listen(0)
held = []
for _ in range(4):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    held.append(c)
print("silent", flush=True)
time.sleep(600)
EOF
PIDS+=("$!")
wait_grep "$TEST_DIR/silent.out" '^silent' 10 || die "no silent listener"
sleep 0.5

# A mask host whose clock is an hour ahead: its Date says so.
SKEWED=$(free_port)
"$PY" - "$SKEWED" "$NGINX_DIR" <<'EOF' >"$TEST_DIR/skewed.out" 2>&1 &
import email.utils, http.server, ssl, sys, time
port, d = int(sys.argv[1]), sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() + 3600, usegmt=True)

    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
ctx.sni_callback = lambda sock, name, c: print("sni", name, flush=True)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("skewed", flush=True)
srv.serve_forever()
EOF
PIDS+=("$!")
wait_grep "$TEST_DIR/skewed.out" '^skewed' 10 || die "no skewed mask host"

config "$TEST_DIR/bad.conf" "\"127.0.0.1:$DEAD\"" \
    "\"127.0.0.1:$DEAD\", $GOOD_DC" "\"127.0.0.1:$SILENT\"" \
    mask_port="$SKEWED"
note "the problems: skewed clock, DCs down, telemt not running, low RLIMIT_NOFILE"
doctor "$TEST_DIR/bad.conf" --nofile=256:256
assert_eq "$RC" 1 "exit status with failures"
has FAIL 'clock: 36[0-9][0-9] s behind 127\.0\.0\.1:[0-9]+.s Date' \
    "the clock an hour off"
fixed '^FAIL +clock: ' 'timedatectl set-ntp true' "the clock's fix"
fixed '^FAIL +clock: ' 'more than tls_time_skew' "the clock's fix says why"
has FAIL "dc 2 \(dc_overrides\): 127\.0\.0\.1:$DEAD refused$" "DC 2 down"
fixed '^FAIL +dc 2 ' 'no address of DC 2 answers.*dc_overrides' "DC 2's fix"
has warn "dc 3 \(dc_overrides\): 127\.0\.0\.1:$DEAD refused" \
    "DC 3's first address down"
has FAIL "dc 4 \(dc_overrides\): 127\.0\.0\.1:$SILENT no answer within 3 s" \
    "DC 4 silent"
has ok "dc 5 \(dc_overrides\): 127\.0\.0\.1:$FAKEDC_PORT " "DC 5 still up"
has FAIL "public 127\.0\.0\.1:[0-9]+ .*refused" "telemt not running"
fixed '^FAIL +public ' 'start telemt' "the public_host fix"
has FAIL 'descriptors: each worker needs 361 .* RLIMIT_NOFILE 256 ' \
    "RLIMIT_NOFILE 256"
fixed '^FAIL +descriptors: ' 'LimitNOFILE=361.*max_connections to 47$' \
    "the descriptors' fix ((256 - 129) / 2 - 16 = 47)"
has ok "mask host 127\.0\.0\.1:$SKEWED: .*TLSv1\.3" \
    "the mask host itself is fine"
assert_grep "$TEST_DIR/skewed.out" '^sni localhost$' \
    "the doctor's SNI (tls_domain)"
# Every problem line is followed by its fix.
n_bad=$(grep -cE '^(FAIL|warn) ' <<<"$OUT")
n_fix=$(grep -A1 -E '^(FAIL|warn) ' <<<"$OUT" | grep -cE '^      fix: ')
assert_eq "$n_fix" "$n_bad" "fix lines for the $n_bad problem lines"
assert_match "$(tail -n 1 <<<"$OUT")" '^doctor: [0-9]+ ok, 1 warn, 5 FAIL$' \
    "the summary"

# --- the mask host is telemt itself -----------------------------------

config "$TEST_DIR/loop.conf" "$GOOD_DC" "$GOOD_DC" "$GOOD_DC"
port=$(config_port "$TEST_DIR/loop.conf")
sed -i "s/^mask_port = .*/mask_port = $port;/" "$TEST_DIR/loop.conf"
note "mask_host:mask_port is telemt's own address"
doctor "$TEST_DIR/loop.conf"
assert_eq "$RC" 1 "exit status with a masking loop"
has FAIL "mask host 127\.0\.0\.1:$port: that is this machine on telemt's own port" \
    "the masking loop"
fixed '^FAIL +mask host ' 'relay every refused client back into telemt' \
    "the loop's fix"

# --- the mask host speaks no TLS --------------------------------------

config "$TEST_DIR/notls.conf" "$GOOD_DC" "$GOOD_DC" "$GOOD_DC" \
    mask_port="$FAKEDC_PORT"
note "mask_port is the fake DC's (no TLS there)"
doctor "$TEST_DIR/notls.conf"
assert_eq "$RC" 1 "exit status with a mask host without TLS"
has FAIL "mask host 127\.0\.0\.1:$FAKEDC_PORT: TCP to .* but no TLS" \
    "the mask host without TLS"
fixed '^FAIL +mask host ' 'expect a real HTTPS site there' \
    "the fix for a mask host without TLS"

# --- a name lookup that hangs -----------------------------------------

# A resolver on loopback that never answers (this mount namespace's
# /etc/resolv.conf names it): DC 2's host name hangs in getaddrinfo(),
# and the doctor still ends in bounded time, naming the resolver.
if unshare -m true 2>/dev/null; then
    "$PY" - <<'EOF' >"$TEST_DIR/deaf.out" 2>&1 &
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("deaf", flush=True)
while True:
    s.recv(4096)                # and never a word back
EOF
    PIDS+=("$!")
    wait_grep "$TEST_DIR/deaf.out" '^deaf' 10 || die "no deaf resolver"
    printf 'nameserver 127.0.0.1\noptions timeout:30 attempts:1\n' \
        >"$TEST_DIR/resolv.conf"
    config "$TEST_DIR/hang.conf" '"slow.example.com:443"' "$GOOD_DC" \
        "$GOOD_DC"
    note "DC 2 is a name whose lookup hangs"
    t0=$(date +%s%N)
    RC=0
    # shellcheck disable=SC2016  # expanded by that sh, from its arguments
    OUT=$(unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf &&
        exec "$2" --doctor "$3"' sh "$TEST_DIR/resolv.conf" "$TELEMT_BIN" \
        "$TEST_DIR/hang.conf" 2>"$TEST_DIR/doctor.err") || RC=$?
    SECS=$(awk -v a="$t0" -v b="$(date +%s%N)" \
        'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    printf '%s\n' "$OUT"
    note "doctor exited $RC after $SECS s"
    assert_eq "$RC" 1 "exit status with a lookup that hangs"
    assert_between "$SECS" 0 "$MAXSECS" "seconds with a lookup that hangs"
    has FAIL 'dc: did not finish within 8 s' "the check that hung"
    fixed '^FAIL +dc: ' 'resolver' "its fix"
    has ok 'descriptors: ' "the other checks are still there"
else
    note "no mount namespace here: the hanging lookup is not tried"
fi

# --- a bad config ------------------------------------------------------

sed 's/^max_connections = .*/max_connections = 0;/' "$TEST_DIR/good.conf" \
    >"$TEST_DIR/broken.conf"
rc=0
err=$("$TELEMT_BIN" --doctor "$TEST_DIR/broken.conf" 2>&1) || rc=$?
assert_eq "$rc" 1 "exit status with a bad config"
assert_match "$err" "^$TEST_DIR/broken.conf:[0-9]+: " "the bad config's error"
note "doctor passed"
