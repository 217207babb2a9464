#!/usr/bin/env bash
#
# t_upgrade.sh - SIGUSR2 replaces the running binary without dropping a
# connection, nginx style.  A copy of telemt in $TEST_DIR/bin runs as a
# daemon (pid file, log_file).  Under load (8 clients connecting in a loop
# and 4 paced 10 s streams, started before the upgrade and lasting past
# it) the binary at that path is replaced (copy to a temporary name, then
# mv, as an installer does) and the master gets SIGUSR2: the pid file
# names the new master, <pidfile>.oldbin the old one while it hands its
# connections over, and disappears with it; the old master is gone
# within shutdown_timeout plus a margin (t_handoff.sh holds it to 2 s
# under a heavier load); the counters live on in the shared region (the new master's
# final conn_accepted counts every connection made, before the upgrade
# too).  Then SIGUSR2 with a binary that fails to start (a script that
# exits 1, then a file that is not executable): "upgrade failed" is
# logged, the master keeps serving, the pid file still names it, no
# .oldbin.  Both ends: "failed connection attempts: 0", "broken streams: 0".
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOAD_S=20                       # the loop clients run this long
STREAM_LOOP_S=11                # two rounds of 10 s streams
SHUTDOWN_TIMEOUT=15


bindir=$TEST_DIR/bin
bin=$bindir/telemt
mkdir -p "$bindir"
cp "$TELEMT_BIN" "$bin"

# install_bin SOURCE [MODE]: replace $bin as an installer does.
install_bin() {
    cp "$1" "$bindir/.telemt.new"
    chmod "${2:-0755}" "$bindir/.telemt.new"
    mv -f "$bindir/.telemt.new" "$bin"
}

# stats_accepted PID: conn_accepted of master PID's "stats:" line.
stats_accepted() {
    grep -E "master\\[$1\\] info: stats: " "$log" | tail -n 1 |
        sed -n 's/.*[ :]conn_accepted=\([0-9]*\).*/\1/p'
}

CLIENT_CONNS=0                  # connections made outside the load
mtc_count() {
    mtc_ok "$@"
    CLIENT_CONNS=$((CLIENT_CONNS + $(sed -n \
        's/.* iterations=\([0-9]*\).*/\1/p' <<<"$MTC_OUT")))
}

start_fakedc fakedc
cfg=$TEST_DIR/telemt.conf
pidf=$TEST_DIR/telemt.pid
oldbin=$pidf.oldbin
log=$TEST_DIR/telemt.log
write_config "$cfg" workers=2 pidfile="$pidf" log_file="$log" \
    log_level=info shutdown_timeout="$SHUTDOWN_TIMEOUT"
port=$(config_port "$cfg")
TELEMT_PORT=$port

rc=0
timeout 30 "$bin" "$cfg" 2>"$TEST_DIR/daemon.err" || rc=$?
assert_eq "$rc" 0 "daemon start: exit status"
[ -s "$pidf" ] || die "no pid file after the start"
m1=$(cat "$pidf")
track "$m1"
DAEMONS+=("$m1")
assert_alive "$m1" "the first master"
assert_eq "$(readlink "/proc/$m1/exe")" "$bin" "the first master's binary"
note "first master $m1 running $bin"
mtc_count -s "$ALICE" -m intermediate -t echo -b 65536 -n 4

# --- the load, across both upgrades ---------------------------------------

load_start "$port" "$LOAD_S" "$STREAM_LOOP_S"
sleep 2

# --- 1. a good upgrade ----------------------------------------------------

install_bin "$TELEMT_BIN"
case $(readlink "/proc/$m1/exe") in
*" (deleted)") ;;
*) die "the old master's binary was not replaced on disk" ;;
esac
t0=$(date +%s%N)
kill -USR2 "$m1"
m2=$(new_pid "$pidf" "$m1" 10)
[ -n "$m2" ] || {
    tail -n 20 "$log" >&2
    die "the pid file did not get a new pid within 10 s of SIGUSR2"
}
track "$m2"
DAEMONS+=("$m2")
ready_ms=$((($(date +%s%N) - t0) / 1000000))
note "new master $m2 wrote the pid file ${ready_ms} ms after SIGUSR2"
assert_alive "$m2" "the new master"
assert_eq "$(readlink "/proc/$m2/exe")" "$bin" "the new master's binary"
assert_grep "$log" "master\\[$m1\\] info: SIGUSR2: started $bin as pid $m2" \
    "the old master started the new binary"
# Logged before the new master opens log_file: it may be on stderr.
cat "$log" "$TEST_DIR/daemon.err" >"$TEST_DIR/both.log"
assert_grep "$TEST_DIR/both.log" \
    "master\\[$m2\\] info: upgrade: keeping the shared region" \
    "the new master kept the shared region"
assert_grep "$log" "master\\[$m2\\] info: telemt .* started \\(upgrade\\)" \
    "the new master's start line"
# .oldbin names the old master until it has logged its final "stats:"
# line (it removes the file right after that, then exits).
saw_oldbin=0
for ((i = 0; i < (SHUTDOWN_TIMEOUT + 6) * 10; i++)); do
    running "$m1" || break
    if ob=$(cat "$oldbin" 2>/dev/null); then
        assert_eq "$ob" "$m1" ".oldbin names the old master"
        saw_oldbin=1
    elif ! grep -Eq "master\\[$m1\\] info: stats: " "$log"; then
        die ".oldbin is missing while the old master $m1 drains"
    fi
    assert_eq "$(cat "$pidf")" "$m2" "the pid file while the old one drains"
    sleep 0.1
done
gone_ms=$((($(date +%s%N) - t0) / 1000000))
running "$m1" &&
    die "the old master $m1 still runs $((SHUTDOWN_TIMEOUT + 6)) s" \
        "after SIGUSR2"
# It may hand over so fast that the file came and went between looks.
[ "$saw_oldbin" = 1 ] ||
    assert_grep "$log" "master\\[$m1\\] info: pid file renamed to .oldbin" \
        "<pidfile>.oldbin while the old master handed over"
for ((i = 0; i < 10; i++)); do
    [ -e "$oldbin" ] || break
    sleep 0.1
done
[ -e "$oldbin" ] && die "$oldbin outlived the old master"
assert_eq "$(cat "$pidf")" "$m2" "the pid file after the old master left"
note "old master $m1 gone ${gone_ms} ms after SIGUSR2; .oldbin removed"
assert_grep "$log" "master\\[$m1\\] info: upgrade done: stopping" \
    "the old master stopped for the upgrade"
assert_grep "$log" "master\\[$m1\\] info: stopped$" \
    "the old master's last line"
acc1=$(stats_accepted "$m1")
[ -n "$acc1" ] || die "no conn_accepted in the old master's stats line"
note "old master's stats: conn_accepted=$acc1"
kids=$(pgrep -P "$m2" | sort -n)
assert_eq "$(wc -l <<<"$kids")" 2 "the new master's workers"
mtc_count -s "$BOB" -m intermediate -t echo -b 65536 -n 4

# --- 2. upgrades to binaries that cannot start --------------------------

upgrade_fails() {
    local what=$1 mark i failed="master\\[$m2\\] error: upgrade failed"
    mark=$(lines "$log")
    kill -USR2 "$m2"
    for ((i = 0; i < 100; i++)); do
        lines_since "$log" "$mark" | grep "$failed" >/dev/null && break
        sleep 0.1
    done
    lines_since "$log" "$mark"
    lines_since "$log" "$mark" | grep "$failed" >/dev/null ||
        die "$what: no 'upgrade failed' from the master"
    sleep 0.3
    assert_alive "$m2" "$what: the master"
    assert_eq "$(cat "$pidf" 2>/dev/null)" "$m2" "$what: the pid file"
    [ -e "$oldbin" ] && die "$what: $oldbin remains"
    assert_eq "$(pgrep -P "$m2" | sort -n)" "$kids" "$what: the same workers"
    mtc_count -s "$ALICE" -m intermediate -t echo -b 65536 -n 4
    note "$what: refused, still serving as $m2"
}

printf '#!/bin/sh\nexit 1\n' >"$TEST_DIR/fail.sh"
install_bin "$TEST_DIR/fail.sh"
upgrade_fails "a binary that exits 1"
install_bin "$TELEMT_BIN" 0644
upgrade_fails "a file that is not executable"

# The real binary back before the stop.
install_bin "$TELEMT_BIN"
cmp -s "$bin" "$TELEMT_BIN" || die "the real binary was not restored"

# --- the load ends: count ---------------------------------------------

load_finish
iters=$LOAD_ITERS
siters=$LOAD_STREAM_ITERS
[ "${siters:-0}" -ge 8 ] || die "only ${siters:-0} streams ran"

# --- stop the new master; the counters span both binaries -------------

kill -TERM "$m2"
for ((i = 0; i < 100; i++)); do
    running "$m2" || break
    sleep 0.1
done
running "$m2" && die "the new master ignored SIGTERM"
[ -e "$pidf" ] && die "the pid file outlived the new master"
assert_grep "$log" "master\\[$m2\\] info: stopped$" \
    "the new master's last line"
acc2=$(stats_accepted "$m2")
total=$((CLIENT_CONNS + iters + siters))
note "conn_accepted: old master $acc1, new master $acc2;" \
    "connections made: $total"
[ -n "$acc2" ] || die "no conn_accepted in the new master's stats line"
[ "$acc2" -ge "$acc1" ] ||
    die "conn_accepted went down across the upgrade: $acc1 -> $acc2"
# Every connection made was accepted and counted once, by either binary.
assert_eq "$acc2" "$total" "conn_accepted at the end vs connections made"
sanitizer_check "$TEST_DIR/daemon.err" || die "sanitizer report (daemon)"
sanitizer_check "$log" || die "sanitizer report in the log"
