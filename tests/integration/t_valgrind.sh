#!/usr/bin/env bash
#
# t_valgrind.sh - the proxy (a build without sanitizers) runs under
# valgrind, children traced, while clients of every kind come and go:
# relayed, refused, garbage, silent until the handshake timeout.  After
# they are all gone and the proxy stops, every process's report must show
# no errors and no definitely lost memory.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v valgrind >/dev/null || skip "valgrind is not installed"
bin=${TELEMT_PLAIN_BIN:-$TELEMT_BIN}
if ldd "$bin" | grep 'libasan' >/dev/null; then
    skip "$bin is built with sanitizers; set TELEMT_PLAIN_BIN"
fi

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
write_config "$cfg" workers=1 handshake_timeout=3 fast_mode=false \
    thread_stack_size=1048576 modes.tls=true tls_domain=www.example.com
port=$(config_port "$cfg")
valgrind -q --trace-children=yes --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --log-file="$TEST_DIR/vg.%p.log" \
    "$bin" -f "$cfg" >"$TEST_DIR/telemt.vg.log" 2>&1 &
vg=$!
PIDS+=("$vg")
for ((i = 0; i < 300; i++)); do
    port_open "$port" && break
    sleep 0.1
done
port_open "$port" || die "telemt under valgrind did not start"
TELEMT_PORT=$port

mtc_ok -s "$ALICE" -m intermediate -t echo -b 262144 -w 60
# Past the relay's idle time: its pages go back mid-stream.
mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536 --idle 1500 -w 60
mtc_ok -s "$BOB" -m padded -t source -b 262144 -w 60
# Fake TLS: the key share comes from the worker's key thread.
mtc_ok -s "$BOB" -m padded --tls www.example.com -n 4 -t echo -b 65536 -w 60
mtc_ok -s fedcba98765432100123456789abcdef -m padded -t echo -b 1024 \
    --expect-close -w 30
mtc_ok -s "$ALICE" -m abridged -t garbage -b 2000 -w 30
mtc_ok -s "$ALICE" -m abridged -t half -w 30
mtc_ok -s "$ALICE" -m abridged -t silent -w 30
sleep 1

kill -TERM "$vg"
rc=0
wait "$vg" || rc=$?
assert_eq "$rc" 0 "telemt under valgrind: exit status"
n=0
for f in "$TEST_DIR"/vg.*.log; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if [ -s "$f" ]; then
        cat "$f" >&2
        die "valgrind reported problems in $f"
    fi
done
[ "$n" -ge 2 ] || die "expected valgrind logs for master and worker, got $n"
note "valgrind clean in $n processes"
