#!/usr/bin/env bash
#
# t_cli.sh - the command line as an operator meets it: -V, -h, usage
# errors, -t on every good and bad config (the binary's message must equal
# the golden .err), --links, TELEMT_LOG, start-up without -f (the
# starting process exits 0 only once the workers run, 1 on failure), and
# the malloc tunables it starts itself with (an operator's own kept).
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || die "cannot cd to $root"

out=$("$TELEMT_BIN" -V) || die "-V failed"
assert_match "$out" '^telemt [0-9]+\.[0-9]+\.[0-9]+$' "-V output"
out=$("$TELEMT_BIN" -h) || die "-h failed"
assert_match "$out" 'usage: telemt' "-h output"
rc=0
"$TELEMT_BIN" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "no arguments: exit status"
rc=0
"$TELEMT_BIN" --bogus x.conf >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "unknown flag: exit status"

for f in tests/data/good/*.conf etc/telemt.conf; do
    "$TELEMT_BIN" -t "$f" 2>"$TEST_DIR/t.err" ||
        die "-t $f: $(cat "$TEST_DIR/t.err")"
done
n=0
for f in tests/data/bad/*.conf; do
    rc=0
    "$TELEMT_BIN" -t "$f" 2>"$TEST_DIR/t.err" || rc=$?
    assert_eq "$rc" 1 "-t $f: exit status"
    assert_eq "$(cat "$TEST_DIR/t.err")" "$(cat "${f%.conf}.err")" \
        "-t $f: message"
    n=$((n + 1))
done
note "$n bad configs refused with their golden messages"

# --links: every user and enabled mode, the ee secret carries the domain.
cfg=$TEST_DIR/links.conf
write_config "$cfg" modes.tls=true tls_domain=www.example.com \
    public_host=proxy.example.net public_port=443
out=$("$TELEMT_BIN" --links "$cfg") || die "--links failed"
assert_eq "$(printf '%s\n' "$out" | wc -l)" 12 "--links line count"
assert_match "$out" \
    "alice classic tg://proxy\\?server=proxy.example.net&port=443&secret=$ALICE" \
    "classic link"
assert_match "$out" \
    "bob secure https://t.me/proxy\\?server=proxy.example.net&port=443&secret=dd$BOB" \
    "secure link"
assert_match "$out" \
    "alice tls tg://proxy\\?server=proxy.example.net&port=443&secret=ee${ALICE}7777772e6578616d706c652e636f6d" \
    "tls link"
# A wildcard listen address and no public_host: a clear error.
write_config "$cfg" listen_ipv4=0.0.0.0
rc=0
"$TELEMT_BIN" --links "$cfg" >/dev/null 2>"$TEST_DIR/t.err" || rc=$?
assert_eq "$rc" 1 "--links without public_host: exit status"
assert_grep "$TEST_DIR/t.err" "public_host" "--links without public_host"

# TELEMT_LOG must be a level name.
write_config "$cfg"
rc=0
TELEMT_LOG=loud "$TELEMT_BIN" -f "$cfg" 2>"$TEST_DIR/t.err" || rc=$?
assert_eq "$rc" 1 "TELEMT_LOG=loud: exit status"
assert_grep "$TEST_DIR/t.err" "TELEMT_LOG=loud" "TELEMT_LOG=loud message"

# Without -f: the starter exits 0 once workers run; the daemon serves.
start_fakedc fakedc
write_config "$cfg" workers=1
port=$(config_port "$cfg")
rc=0
timeout 20 "$TELEMT_BIN" "$cfg" 2>"$TEST_DIR/daemon.log" || rc=$?
assert_eq "$rc" 0 "daemon start: exit status"
port_open "$port" || die "daemon is not listening on $port"
daemon=$(pgrep -f -- "$TELEMT_BIN $cfg" | head -n 1)
[ -n "$daemon" ] || die "no daemon process found"
[ "$(ps -o sid= -p "$daemon" | tr -d ' ')" = "$daemon" ] ||
    die "daemon $daemon is not a session leader"
TELEMT_PORT=$port
mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536
kill -TERM "$daemon"
for ((i = 0; i < 100; i++)); do
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$daemon" 2>/dev/null && die "daemon ignored SIGTERM"
sanitizer_check "$TEST_DIR/daemon.log" || die "sanitizer report (daemon)"

# A start-up failure (port taken) is reported with a non-zero exit.
write_config "$cfg" workers=1
port=$(config_port "$cfg")
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen()
time.sleep(30)' "$port" &
holder=$!
PIDS+=("$holder")
for ((i = 0; i < 50; i++)); do
    port_open "$port" && break
    sleep 0.1
done
rc=0
timeout 20 "$TELEMT_BIN" "$cfg" 2>"$TEST_DIR/busy.err" || rc=$?
assert_eq "$rc" 1 "start on a busy port: exit status"
assert_grep "$TEST_DIR/busy.err" "listen on 127.0.0.1:$port" \
    "start on a busy port: message"
kill "$holder" 2>/dev/null || true

# GLIBC_TUNABLES: telemt re-executes itself once (same pid) with its three
# malloc tunables; one the operator set stays as set.
# (glibc cuts the string in place at each ':' as it parses it, so what
# /proc shows is the variable and the rest as separate pieces.)
tunables_of() {
    tr '\0' '\n' <"/proc/$1/environ" | sed 's/^GLIBC_TUNABLES=//' |
        grep '^glibc\.' | paste -sd: -
}
write_config "$cfg" workers=1
for own in "" "glibc.malloc.tcache_count=3"; do
    want=0
    [ -z "$own" ] || want=3
    GLIBC_TUNABLES=$own start_telemt "$cfg"
    worker=$(pgrep -P "$TELEMT_PID" | head -n 1)
    [ -n "$worker" ] || die "no worker"
    for p in "$TELEMT_PID" "$worker"; do
        t=$(tunables_of "$p")
        note "pid $p: GLIBC_TUNABLES=$t"
        assert_match "$t" "glibc\.malloc\.arena_max=[0-9]+" "arena_max set"
        assert_match "$t" "glibc\.pthread\.stack_cache_size=2097152" \
            "stack_cache_size set"
        assert_match "$t" "glibc\\.malloc\\.tcache_count=$want" \
            "tcache_count (the operator's own kept)"
        assert_eq "$(grep -o 'tcache_count' <<<"$t" | wc -l)" 1 \
            "tcache_count given once"
    done
    mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536
    stop_telemt
done
note "command line ok"
