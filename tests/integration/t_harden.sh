#!/usr/bin/env bash
#
# t_harden.sh - a master that a compromised worker cannot use.  The master
# runs as root and the workers as nobody:nogroup; every attack is made by
# a process running as nobody (setpriv), on what that user can write:
#   log      log_file swapped for a symbolic link to a root-owned file, a
#            second hard link to it, a FIFO, then SIGUSR1: the file keeps
#            its owner and its bytes, the master warns, keeps running and
#            serving, and reopens once a regular file is back;
#   cache    a FIFO planted as the tls_emulation_cache file: the master
#            starts at once and logs it; the TLS probe holds none of the
#            master's descriptors and a TERM ends it at once;
#   daemon   symbolic links planted under the pid file's temporary names
#            and a FIFO as the pid file: the start follows and waits on
#            nothing; no child holds a descriptor that is not its own (the
#            region, a pipe's write end, another slot's socket); a burst of
#            HUP+USR1 kills no freshly forked child;
#   admin    binding the admin port while HUPs restart the admin process
#            fails every time and every scrape succeeds; a reload moves
#            admin_listen, and one to a taken port keeps the old address;
#   upgrade  64 workers on 127.0.0.1 and ::1 upgraded by SIGUSR2 (the
#            descriptor list used to overflow) with the admin port held
#            throughout; a malformed TELEMT_INHERIT, or one whose
#            descriptors are not what it says, is refused.
# HARDEN_SECTIONS="log cache ..." runs a subset.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root: a root master and a worker user"
if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null
then
    skip "no user nobody or group nogroup"
fi
command -v setpriv >/dev/null || skip "setpriv is not installed"
[ -n "$PY" ] || skip "python3 is not installed"
command -v curl >/dev/null || skip "curl is not installed"

TOKEN=harden-scraper-token-0123456789
SECTIONS=${HARDEN_SECTIONS:-log cache daemon admin upgrade inherit}

# as_worker CMD...: run CMD as the workers' user, as a compromised worker.
as_worker() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# nobody cannot reach TEST_DIR (run.sh makes its directories 0700), so the
# files of the attacks live in a directory of their own, copied into
# TEST_DIR at the end for a post-mortem.
HDIR=$(mktemp -d "${TMPDIR:-/tmp}/telemt-harden.XXXXXX")
chmod 0755 "$HDIR"
_harden_on_exit() {
    local rc=$?
    cp -a "$HDIR" "$TEST_DIR/hdir" 2>/dev/null || true
    rm -rf "$HDIR"
    (exit "$rc")
    _lib_on_exit
}
trap _harden_on_exit EXIT
as_worker test -x "$HDIR/." || skip "nobody cannot reach $HDIR (TMPDIR?)"

# worker_dir NAME: a directory under HDIR that the workers' user owns.
worker_dir() {
    mkdir -p "$HDIR/$1"
    chown nobody:nogroup "$HDIR/$1"
    echo "$HDIR/$1"
}

# root_file NAME: a root-owned file (0600) with known bytes; its copy is
# NAME.orig.
root_file() {
    printf 'root only: %s\n' "$1" >"$HDIR/$1"
    chmod 0600 "$HDIR/$1"
    cp -p "$HDIR/$1" "$HDIR/$1.orig"
    echo "$HDIR/$1"
}

# untouched FILE WHAT: owner, mode and bytes as root_file left them.
untouched() {
    assert_eq "$(stat -c %U:%G:%a "$1")" root:root:600 "$2: owner and mode"
    cmp -s "$1" "$1.orig" || die "$2: its bytes changed: $(head -c 300 "$1")"
}

# hconf FILE [key=value...]: a config whose workers run as nobody.
hconf() {
    local f=$1
    shift
    write_config "$f" user=nobody group=nogroup allow_root=false \
        log_level=info "$@"
}

# What this shell inherited (and so every telemt it starts): not the
# master's, whatever a child does with them.
declare -A OUTSIDE=()
for _fd in "/proc/$$/fd/"*; do
    _l=$(readlink "$_fd" 2>/dev/null) && OUTSIDE[$_l]=1
done

# child_fds_ok PID WHAT NLISTEN: PID holds none of the master's
# descriptors but its own: not the shared region's memfd, no pipe's write
# end (death pipe, readiness pipe), exactly NLISTEN listening sockets.
child_fds_ok() {
    local pid=$1 what=$2 want=$3 fd link flags n
    for fd in /proc/"$pid"/fd/*; do
        link=$(readlink "$fd" 2>/dev/null) || continue
        [ -z "${OUTSIDE[$link]:-}" ] || continue
        case $link in
        /memfd:telemt-region*)
            die "$what (pid $pid) holds the shared region (fd ${fd##*/})"
            ;;
        pipe:*)
            flags=$(awk '$1 == "flags:" { print $2 }' \
                "/proc/$pid/fdinfo/${fd##*/}")
            [ $((8#$flags & 3)) = 0 ] ||
                die "$what (pid $pid) holds a pipe's write end (fd ${fd##*/})"
            ;;
        esac
    done
    n=$(ss -Hltnp | grep -c "pid=$pid," || true)
    assert_eq "$n" "$want" "$what (pid $pid): listening sockets it holds"
}

# ids PID: "uid gid" (real) of PID.
ids() {
    awk '$1 == "Uid:" { u = $2 } $1 == "Gid:" { g = $2 }
        END { print u, g }' "/proc/$1/status"
}

# wait_port_closed PORT SECONDS: 0 once nothing accepts on PORT.
wait_port_closed() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        port_open "$1" || return 0
        sleep 0.1
    done
    return 1
}

# curl_code PORT PATH: the HTTP status of a scrape with the token.
curl_code() {
    curl -sS -m 3 -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1$2" \
        2>/dev/null || echo 000
}

# wait_admin PORT SECONDS: 0 once /healthz answers 200 there.
wait_admin() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [ "$(curl_code "$1" /healthz)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

# grabber PORT SECONDS OUT: as nobody, try to bind and listen on
# 127.0.0.1:PORT (SO_REUSEADDR, and SO_REUSEPORT every other time) for
# SECONDS; OUT gets "tries=N grabbed=0", or what it got if it won.
grabber() {
    as_worker "$PY" - "$1" "$2" >"$3" 2>&1 <<'EOF' &
import errno, socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + secs
tries = 0
while time.monotonic() < end:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if tries % 2:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    tries += 1
    try:
        s.bind(("127.0.0.1", port))
        s.listen(16)
    except OSError as e:
        s.close()
        if e.errno != errno.EADDRINUSE:
            print("unexpected error:", e, flush=True)
        time.sleep(0.0005)
        continue
    print("GRABBED the admin port after %d tries" % tries, flush=True)
    s.settimeout(3)
    try:
        c, _ = s.accept()
        c.settimeout(2)
        data = c.recv(4096)
        if b"Bearer" in data:
            print("and read a scraper's token:", data, flush=True)
    except OSError:
        pass
    sys.exit(1)
print("tries=%d grabbed=0" % tries, flush=True)
EOF
    GRABBER_PID=$!
    PIDS+=("$GRABBER_PID")
}

# grabber_lost OUT: the grabber ran, tried, and never got the port.
grabber_lost() {
    wait "$GRABBER_PID" || true
    cat "$1"
    assert_grep "$1" '^tries=[0-9]+ grabbed=0$' "the port grabber's result"
    ! grep -q unexpected "$1" || die "the grabber saw an unexpected error"
}

start_fakedc fakedc

# --- log: a planted link or FIFO as log_file, then USR1 -------------------

# reopen_refused MASTER LOG WHAT: USR1; within 5 s the master warns in LOG
# (its old file) that it did not reopen, and still serves.
reopen_refused() {
    local m=$1 log=$2 what=$3 mark i
    mark=$(lines "$log")
    kill -USR1 "$m"
    for ((i = 0; i < 50; i++)); do
        lines_since "$log" "$mark" |
            grep "master\\[$m\\] warn: cannot reopen the log file" \
            >/dev/null && break
        sleep 0.1
    done
    lines_since "$log" "$mark" | grep "master\\[$m\\] warn" ||
        die "$what: no warning from the master within 5 s of SIGUSR1"
    assert_alive "$m" "$what: the master"
    mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536 >/dev/null
    note "$what: refused, the master keeps its old log and serves"
}

section_log() {
    local L cfg=$HDIR/log.conf target m
    L=$(worker_dir log)
    target=$(root_file log-target)
    hconf "$cfg" log_file="$L/telemt.log"
    start_telemt "$cfg"
    m=$TELEMT_PID
    wait_grep "$L/telemt.log" "master\\[$m\\] info: telemt .* started" 5 ||
        die "no start line in $L/telemt.log"
    assert_eq "$(stat -c %U:%G "$L/telemt.log")" nobody:nogroup \
        "log_file given to the workers' user"

    # shellcheck disable=SC2016  # expanded by that sh
    as_worker sh -c 'mv "$1/telemt.log" "$1/old.log" &&
        ln -s "$2" "$1/telemt.log"' _ "$L" "$target"
    reopen_refused "$m" "$L/old.log" "log_file a symbolic link"
    untouched "$target" "the symbolic link's target"

    # What fs.protected_hardlinks = 0 lets the worker do; made by root.
    rm -f "$L/telemt.log"
    ln "$target" "$L/telemt.log"
    reopen_refused "$m" "$L/old.log" "log_file a second hard link"
    rm -f "$L/telemt.log"
    untouched "$target" "the hard link's file"

    as_worker mkfifo "$L/telemt.log"
    reopen_refused "$m" "$L/old.log" "log_file a FIFO"
    rm -f "$L/telemt.log"

    kill -USR1 "$m"
    wait_grep "$L/telemt.log" "master\\[$m\\] info: log file reopened" 5 ||
        die "SIGUSR1 with log_file gone: no fresh file"
    assert_eq "$(stat -c %U:%G "$L/telemt.log")" nobody:nogroup \
        "the fresh log_file's owner"
    untouched "$target" "the root-owned file at the end"
    stop_telemt
}

# --- cache: a FIFO as the TLS profile cache ----------------------------

section_cache() {
    local C cfg=$HDIR/cache.conf mport t0 ms probe i
    C=$(worker_dir cache)
    # The "mask host" accepts and never answers: the probe waits for it.
    mport=$(free_port)
    "$PY" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
conns = []
while True:
    conns.append(s.accept()[0])' "$mport" >/dev/null 2>&1 &
    PIDS+=("$!")
    for ((i = 0; i < 50; i++)); do
        port_open "$mport" && break
        sleep 0.1
    done
    as_worker mkfifo "$C/tls-profile-127.0.0.1-$mport"
    hconf "$cfg" modes.classic=false modes.secure=false modes.tls=true \
        tls_domain=example.com mask=true mask_host=127.0.0.1 \
        mask_port="$mport" tls_emulation=true tls_emulation_cache="$C"
    t0=$(date +%s%N)
    start_telemt "$cfg"
    ms=$((($(date +%s%N) - t0) / 1000000))
    note "started in $ms ms with a FIFO as the cache file"
    assert_between "$ms" 0 5000 "start-up time with a FIFO in the cache (ms)"
    local fifo="tls-profile-127\\.0\\.0\\.1-$mport is not a regular file"
    assert_grep "$TELEMT_LOG" "master\\[$TELEMT_PID\\] warn: .*$fifo" \
        "the master logged the FIFO"
    probe=""
    for ((i = 0; i < 50; i++)); do
        probe=$(ss -Htnp state established "( dport = :$mport )" |
            sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
        [ -n "$probe" ] && break
        sleep 0.1
    done
    [ -n "$probe" ] || die "the TLS probe never connected to the mask host"
    assert_eq "$(ids "$probe")" "$(id -u nobody) $(id -g nobody)" \
        "the probe's uid and gid"
    child_fds_ok "$probe" "the TLS probe" 0
    t0=$(date +%s%N)
    kill -TERM "$probe"
    for ((i = 0; i < 30; i++)); do
        running "$probe" || break
        sleep 0.1
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    assert_between "$ms" 0 2000 "the probe's exit after TERM (ms)"
    mtc_ok -s "$ALICE" -m padded --tls example.com -t echo -b 65536 \
        >/dev/null
    stop_telemt
}

# --- daemon: the pid file's names; every child's descriptors -----------

section_daemon() {
    local P cfg=$HDIR/daemon.conf pf target next rc m kids k n aport w=0
    P=$(worker_dir run)
    pf=$P/telemt.pid
    target=$(root_file pid-target)
    aport=$(free_port)
    # A FIFO as the pid file: reading it must not hold up the start.
    as_worker mkfifo "$pf"
    # The temporary name is "<pidfile>.tmp<pid>": links for the next pids.
    next=$(sh -c 'echo $$')
    as_worker "$PY" -c 'import os, sys
for p in range(int(sys.argv[1]), int(sys.argv[1]) + 3000):
    os.symlink(sys.argv[2], "%s.tmp%d" % (sys.argv[3], p))' \
        "$next" "$target" "$pf"
    hconf "$cfg" workers=2 pidfile="$pf" log_file="$HDIR/daemon.log" \
        admin_listen="127.0.0.1:$aport" admin_token="$TOKEN"
    TELEMT_PORT=$(config_port "$cfg")
    rc=0
    timeout 20 "$TELEMT_BIN" "$cfg" 2>"$TEST_DIR/daemon.err" || rc=$?
    if [ ! -s "$pf" ] || [ -L "$pf" ] || [ ! -f "$pf" ]; then
        die "no regular pid file after the start (status $rc)"
    fi
    m=$(cat "$pf")
    track "$m"
    DAEMONS+=("$m")
    assert_eq "$rc" 0 "daemon start: exit status"
    untouched "$target" "the pid links' target"
    if [ "$m" -ge "$next" ] && [ "$m" -lt $((next + 3000)) ]; then
        assert_grep "$HDIR/daemon.log" \
            "master\\[$m\\] warn: pid file: removing $pf\\.tmp$m" \
            "the master removed the link in its way"
    else
        note "NOTE: the master's pid $m is outside the planted range"
    fi
    wait_admin "$aport" 10 || die "the admin endpoint did not come up"

    kids=$(pgrep -P "$m" | sort -n)
    assert_eq "$(wc -l <<<"$kids")" 3 "children: 2 workers and the admin"
    for k in $kids; do
        if grep -Eq "admin\\[$k\\] " "$HDIR/daemon.log"; then
            child_fds_ok "$k" "the admin process" 1
        else
            child_fds_ok "$k" "worker" 1
            w=$((w + 1))
        fi
    done
    assert_eq "$w" 2 "workers checked"
    mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536 >/dev/null

    # USR1 right behind each fork of a reload: no child may die of it.
    for ((n = 0; n < 20; n++)); do
        kill -HUP "$m"
        kill -USR1 "$m"
        sleep 0.2
    done
    sleep 1
    assert_alive "$m" "the master after 20 HUP+USR1"
    if grep -E 'killed by signal' "$HDIR/daemon.log"; then
        die "a child was killed by a signal during HUP+USR1 bursts"
    fi
    assert_eq "$(pgrep -P "$m" | wc -l)" 3 "children after the bursts"
    wait_admin "$aport" 10 || die "the admin endpoint after the bursts"
    mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536 >/dev/null
    note "20 HUP+USR1 bursts: every child lived"

    kill -TERM "$m"
    for ((n = 0; n < 100; n++)); do
        running "$m" || break
        sleep 0.1
    done
    running "$m" && die "the master ignored SIGTERM"
    [ -e "$pf" ] && die "the pid file outlived the master"
    untouched "$target" "the pid links' target after the stop"
    sanitizer_check "$TEST_DIR/daemon.err" || die "sanitizer report (daemon)"
    sanitizer_check "$HDIR/daemon.log" || die "sanitizer report (log)"
}

# --- admin: the port during reloads; moving it ------------------------

# hup MASTER LOG: SIGHUP and wait for the master's verdict.
hup() {
    local mark i
    mark=$(lines "$2")
    kill -HUP "$1"
    for ((i = 0; i < 100; i++)); do
        HUP_LINES=$(lines_since "$2" "$mark")
        grep -Eq 'master\[[0-9]+\] (info|error): reload: ' \
            <<<"$HUP_LINES" && return 0
        sleep 0.1
    done
    die "no reload line after SIGHUP"
}

section_admin() {
    local cfg=$HDIR/admin.conf aport aport2 aport3 port a0 a1 i ok bad
    local code holder
    aport=$(free_port)
    aport2=$(free_port)
    aport3=$(free_port)
    port=$(free_port)
    hconf "$cfg" port="$port" admin_listen="127.0.0.1:$aport" \
        admin_token="$TOKEN"
    start_telemt "$cfg"
    wait_admin "$aport" 10 || die "the admin endpoint did not come up"
    a0=$(admin_pid "$aport" "$TELEMT_PID")

    grabber "$aport" 9 "$HDIR/grab.out"
    (
        ok=0 bad=0
        end=$((SECONDS + 9))
        while ((SECONDS < end)); do
            code=$(curl_code "$aport" /metrics)
            if [ "$code" = 200 ]; then
                ok=$((ok + 1))
            else
                bad=$((bad + 1))
                echo "$(date +%T.%N) HTTP $code"
            fi
            sleep 0.05
        done
        echo "scrapes ok=$ok bad=$bad"
    ) >"$HDIR/scrape.out" 2>&1 &
    local scraper=$!
    PIDS+=("$scraper")
    for ((i = 0; i < 15; i++)); do
        hup "$TELEMT_PID" "$TELEMT_LOG"
        assert_match "$HUP_LINES" 'reload: generation' "reload $i"
        sleep 0.4
    done
    wait "$scraper" || true
    grabber_lost "$HDIR/grab.out"
    cat "$HDIR/scrape.out"
    assert_grep "$HDIR/scrape.out" '^scrapes ok=[0-9]+ bad=0$' \
        "scrapes during 15 reloads"
    ok=$(sed -n 's/^scrapes ok=\([0-9]*\).*/\1/p' "$HDIR/scrape.out")
    [ "$ok" -ge 40 ] || die "only $ok scrapes ran"
    # Reloads reach the admin process in place (it is never restarted).
    a1=$(admin_pid "$aport" "$TELEMT_PID")
    assert_eq "$a1" "$a0" "the admin process after 15 reloads"
    assert_grep "$TELEMT_LOG" "admin\\[$a0\\] info: reload: generation [0-9]+ applied" \
        "the admin process applied the reloads"
    note "15 reloads: the admin port stayed bound, $ok scrapes answered," \
        "the same admin process ($a0)"

    # A reload moves admin_listen: bound before the old one goes.
    hconf "$cfg" port="$port" admin_listen="127.0.0.1:$aport2" \
        admin_token="$TOKEN"
    hup "$TELEMT_PID" "$TELEMT_LOG"
    wait_admin "$aport2" 10 || die "admin_listen moved: nothing on $aport2"
    wait_port_closed "$aport" 5 || die "the old admin port $aport stays open"
    note "admin_listen moved from $aport to $aport2"

    # To a port someone holds: the running address stays.
    "$PY" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
time.sleep(60)' "$aport3" &
    holder=$!
    PIDS+=("$holder")
    for ((i = 0; i < 50; i++)); do
        port_open "$aport3" && break
        sleep 0.1
    done
    hconf "$cfg" port="$port" admin_listen="127.0.0.1:$aport3" \
        admin_token="$TOKEN"
    hup "$TELEMT_PID" "$TELEMT_LOG"
    printf '%s\n' "$HUP_LINES"
    local kept="warn: reload: admin_listen: .*127\\.0\\.0\\.1:$aport3"
    kept+=".*keeping \"127\\.0\\.0\\.1:$aport2\""
    assert_match "$HUP_LINES" "$kept" "a reload to a taken admin port"
    sleep 0.5
    wait_admin "$aport2" 10 || die "the admin endpoint left $aport2"
    kill "$holder" 2>/dev/null || true
    stop_telemt
}

# --- upgrade: 64 workers, both families; TELEMT_INHERIT refused ------

section_upgrade() {
    local cfg=$HDIR/up.conf pf=$HDIR/up.pid log=$HDIR/up.log aport rc
    local m1 m2 i n out
    if ! have_ipv6; then
        [ -z "${CI:-}" ] || die "no IPv6 loopback on CI"
        note "NOTE: no IPv6 loopback: the 64-worker upgrade was not run"
        return 0
    fi
    aport=$(free_port)
    hconf "$cfg" workers=64 listen_ipv6=::1 pidfile="$pf" log_file="$log" \
        admin_listen="127.0.0.1:$aport" admin_token="$TOKEN" \
        shutdown_timeout=5
    TELEMT_PORT=$(config_port "$cfg")
    rc=0
    timeout 60 "$TELEMT_BIN" "$cfg" 2>"$TEST_DIR/up.err" || rc=$?
    assert_eq "$rc" 0 "64 workers: start"
    m1=$(cat "$pf")
    track "$m1"
    DAEMONS+=("$m1")
    wait_admin "$aport" 10 || die "the admin endpoint did not come up"
    assert_eq "$(pgrep -P "$m1" | wc -l)" 65 "children: 64 workers, admin"
    assert_eq "$(ss -Hltn "( sport = :$TELEMT_PORT )" | wc -l)" 128 \
        "listening sockets (64 x IPv4 and IPv6)"

    grabber "$aport" 12 "$HDIR/grab-up.out"
    kill -USR2 "$m1"
    m2=$(new_pid "$pf" "$m1" 30)
    [ -n "$m2" ] || {
        tail -n 30 "$log" >&2
        die "no new master within 30 s of SIGUSR2"
    }
    track "$m2"
    DAEMONS+=("$m2")
    for ((i = 0; i < 150; i++)); do
        running "$m1" || break
        sleep 0.1
    done
    running "$m1" && die "the old master $m1 still runs 15 s after USR2"
    assert_grep "$log" "master\\[$m2\\] info: telemt .* started \\(upgrade\\)" \
        "the new master's start line"
    local v6="listening on 64 socket\\(s\\) for address 1: 64 inherited"
    assert_grep "$log" "master\\[$m2\\] info: $v6" "IPv6 sockets inherited"
    assert_grep "$log" "master\\[$m2\\] info: admin endpoint: .*inherited" \
        "the admin socket inherited"
    for ((i = 0; i < 100; i++)); do
        n=$(pgrep -P "$m2" | wc -l)
        [ "$n" = 65 ] && break
        sleep 0.1
    done
    assert_eq "$n" 65 "the new master's children"
    mtc_ok -s "$ALICE" -m intermediate -t echo -b 65536 -n 4 >/dev/null
    out=$("$MTCLIENT" -c "[::1]:$TELEMT_PORT" -s "$BOB" -m padded -t echo \
        -b 65536 -n 4 2>&1) || die "IPv6 client after the upgrade: $out"
    [ "$(curl_code "$aport" /metrics)" = 200 ] ||
        die "no scrape after the upgrade"
    grabber_lost "$HDIR/grab-up.out"
    note "64 workers x 2 families upgraded: old $m1 gone, new $m2 serves"
    kill -TERM "$m2"
    for ((i = 0; i < 150; i++)); do
        running "$m2" || break
        sleep 0.1
    done
    running "$m2" && die "the new master ignored SIGTERM"
    sanitizer_check "$TEST_DIR/up.err" || die "sanitizer report (upgrade)"
    sanitizer_check "$log" || die "sanitizer report (upgrade log)"
}

# refused WHAT: the last inherit_run was refused: status 1, a message
# naming TELEMT_INHERIT, nothing bound.
refused() {
    assert_eq "$INHERIT_RC" 1 "$1: exit status"
    assert_grep "$HDIR/inherit.out" 'TELEMT_INHERIT' "$1: the message"
    port_open "$INHERIT_PORT" && die "$1: the port was bound"
    note "$1: refused ($(grep -m1 TELEMT_INHERIT "$HDIR/inherit.out" |
        sed 's/.*error: //'))"
}

# inherit_run VALUE [FD-SPEC...]: start the proxy with TELEMT_INHERIT set
# to VALUE ({0}, {1}... name the descriptors made from the specs:
# tcp-listen, udp, file, memfd:NAME, pipe-w, pipe-r).  INHERIT_RC.
inherit_run() {
    INHERIT_RC=0
    timeout 10 "$PY" - "$TELEMT_BIN" "$HDIR/inherit.conf" "$@" \
        >"$HDIR/inherit.out" 2>&1 <<'EOF' || INHERIT_RC=$?
import os, socket, sys
binary, cfg, value, specs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
fds, keep = [], []
for spec in specs:
    if spec == "tcp-listen":
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
        keep.append(s); fd = s.fileno()
    elif spec == "udp":
        s = socket.socket(type=socket.SOCK_DGRAM); keep.append(s)
        fd = s.fileno()
    elif spec == "file":
        fd = os.open(cfg, os.O_RDONLY)
    elif spec.startswith("memfd:"):
        fd = os.memfd_create(spec[6:], 0); os.ftruncate(fd, 4096)
    elif spec in ("pipe-w", "pipe-r"):
        r, w = os.pipe(); fd = w if spec == "pipe-w" else r
    os.set_inheritable(fd, True)
    fds.append(fd)
os.environ["TELEMT_INHERIT"] = value.format(*fds)
os.execv(binary, [binary, "-f", cfg])
EOF
}

section_inherit() {
    local v
    hconf "$HDIR/inherit.conf"
    INHERIT_PORT=$(config_port "$HDIR/inherit.conf")
    for v in 'listen=3,3;shm=4;ready=5' 'listen=3;shm=4;ready=5x' \
        'listen=2;shm=4;ready=5' 'listen=3;shm=4' 'listen=;shm=4;ready=5' \
        'listen=3;shm=4;ready=5;bogus=6' 'listen=3;shm=4;shm=5;ready=6' \
        'listen=-3;shm=4;ready=5' 'listen= 3;shm=4;ready=5' 'garbage'; do
        inherit_run "$v"
        refused "TELEMT_INHERIT=\"$v\""
    done
    inherit_run 'listen={0};shm={1};ready={2}' file memfd:telemt-region \
        pipe-w
    refused "a file as a listening socket"
    inherit_run 'listen={0};shm={1};ready={2}' udp memfd:telemt-region \
        pipe-w
    refused "a UDP socket as a listening socket"
    inherit_run 'listen={0};shm={1};ready={2}' tcp-listen file pipe-w
    refused "a file as the region"
    inherit_run 'listen={0};shm={1};ready={2}' tcp-listen memfd:other \
        pipe-w
    refused "another memfd as the region"
    inherit_run 'listen={0};shm={1};ready={2}' tcp-listen \
        memfd:telemt-region pipe-r
    refused "a pipe's read end as the ready pipe"
    inherit_run 'listen={0};shm={1};ready={2};admin={3}' tcp-listen \
        memfd:telemt-region pipe-w udp
    refused "a UDP socket as the admin socket"
}

for s in $SECTIONS; do
    note "=== $s"
    "section_$s"
done
