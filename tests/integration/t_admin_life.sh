#!/usr/bin/env bash
#
# t_admin_life.sh - the admin process is the master's child like the
# workers: if admin_listen cannot be bound the proxy keeps relaying, the
# error is logged, and the master retries with back-off until the port is
# free; an admin killed with -9 is started again.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_fakedc fakedc
aport=$(free_port)
# Someone else holds the admin port.
/usr/bin/python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(60)' \
    "$aport" &
holder=$!
PIDS+=("$holder")
for ((i = 0; i < 50; i++)); do
    port_open "$aport" && break
    sleep 0.1
done

cfg=$TEST_DIR/telemt.conf
write_config "$cfg" admin_listen="127.0.0.1:$aport"
start_telemt "$cfg"
wait_grep "$TELEMT_LOG" "admin.*127.0.0.1:$aport" 5 ||
    die "no log line about the admin port being taken"
mtc_ok -s "$ALICE" -m padded -t echo -b 1048576 -n 4
assert_alive "$TELEMT_PID" "master while the admin cannot bind"

# The port comes free: the admin comes up within the back-off.
kill "$holder"
wait "$holder" 2>/dev/null || true
up=0
for ((i = 0; i < 200; i++)); do
    if curl -sS -m 2 -o /dev/null "http://127.0.0.1:$aport/healthz" \
        2>/dev/null; then
        up=1
        break
    fi
    sleep 0.1
done
[ "$up" = 1 ] || die "the admin never came up after the port was freed"
note "admin serving on port $aport"

# kill -9: the master starts a new one.
admin=$(admin_pid "$aport" "$TELEMT_PID")
[ -n "$admin" ] || die "cannot find the admin process"
kill -KILL "$admin"
wait_grep "$TELEMT_LOG" "admin \\(pid $admin\\) killed by signal 9" 5 ||
    die "the master did not notice the admin's death"
up=0
for ((i = 0; i < 100; i++)); do
    code=$(curl -sS -m 2 -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$aport/healthz" 2>/dev/null) || code=000
    if [ "$code" = 200 ]; then
        up=1
        break
    fi
    sleep 0.1
done
[ "$up" = 1 ] || die "the admin was not started again"
mtc_ok -s "$BOB" -m intermediate -t echo -b 65536
