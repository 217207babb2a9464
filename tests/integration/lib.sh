# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are used by the scenarios
#
# lib.sh - helpers sourced by every integration scenario (t_*.sh): free
# ports, the fake DC, proxy configs, starting and stopping telemt, and
# assertions that print a clear message and exit 1.
#
# Env: TELEMT_BIN (the proxy binary), TOOLS_DIR (holds fakedc and mtclient),
# TEST_DIR (scratch directory; run.sh gives each scenario its own).  Every
# process listens and connects on 127.0.0.1 / ::1 only.  Exit status 77
# means "skipped".  TELEMT_SLOW=N (default 1) multiplies the bounds a
# scenario puts on the proxy's own latency: make tsan sets it, as
# ThreadSanitizer runs every memory access through its runtime.

set -euo pipefail

SLOW=${TELEMT_SLOW:-1}

# Known users; scenarios refer to them by these variables.
ALICE=00112233445566778899aabbccddeeff
BOB=fedcba9876543210fedcba9876543210
WRONG=0badc0de0badc0de0badc0de0badc0de

PIDS=()                 # every background process we started
TELEMT_PIDS=()          # the telemt ones among them
TELEMT_N=0
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)

# --- messages and assertions -------------------------------------------

note() {
    printf '%s %s\n' "$(date +%H:%M:%S)" "$*"
}

die() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

skip() {
    printf 'SKIP: %s\n' "$*"
    exit 77
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
    [ "$1" = "$2" ] || die "$3: got '$1', expected '$2'"
}

# assert_match STRING ERE WHAT
assert_match() {
    grep -Eq -- "$2" <<<"$1" || die "$3: '$1' !~ /$2/"
}

# assert_between VALUE LOW HIGH WHAT  (decimal numbers)
assert_between() {
    awk -v v="$1" -v lo="$2" -v hi="$3" \
        'BEGIN { exit !(v + 0 >= lo + 0 && v + 0 <= hi + 0) }' ||
        die "$4: $1 is not within [$2, $3]"
}

# assert_grep FILE ERE WHAT: some line of FILE matches.
assert_grep() {
    grep -Eq -- "$2" "$1" || {
        tail -n 20 "$1" >&2 || true
        die "$3: no line matching /$2/ in $1"
    }
}

# assert_alive PID WHAT
assert_alive() {
    kill -0 "$1" 2>/dev/null || die "$2: process $1 is gone"
}

# wait_grep FILE ERE [SECONDS]: wait until a line of FILE matches.
wait_grep() {
    local i limit=$((${3:-5} * 10))
    for ((i = 0; i < limit; i++)); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# count_grep FILE ERE: how many lines match (0 if none or no file).
count_grep() {
    local n
    n=$(grep -Ec -- "$2" "$1" 2>/dev/null) || true
    echo "${n:-0}"
}

# lines FILE: number of lines so far (a mark for lines_since).
lines() {
    local n
    n=$(wc -l <"$1" 2>/dev/null) || true
    echo "${n:-0}"
}

# lines_since FILE MARK: the lines added after MARK = $(lines FILE).
lines_since() {
    tail -n "+$(($2 + 1))" "$1" 2>/dev/null || true
}

# --- environment ---------------------------------------------------------

[ -n "${TELEMT_BIN:-}" ] || die "TELEMT_BIN is not set"
[ -n "${TOOLS_DIR:-}" ] || die "TOOLS_DIR is not set"
[ -x "$TELEMT_BIN" ] || die "TELEMT_BIN=$TELEMT_BIN is not executable"
FAKEDC=$TOOLS_DIR/fakedc
MTCLIENT=$TOOLS_DIR/mtclient
[ -x "$FAKEDC" ] || die "$FAKEDC is not executable"
[ -x "$MTCLIENT" ] || die "$MTCLIENT is not executable"
if [ -z "${TEST_DIR:-}" ]; then
    TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/telemt-test.XXXXXX")
fi
mkdir -p "$TEST_DIR"
: >"$TEST_DIR/ports"

# have_ipv6: 0 if the loopback interface has ::1.
have_ipv6() {
    grep -qE '^0{31}1 ' /proc/net/if_inet6 2>/dev/null
}

# free_port: a TCP port that is free on 127.0.0.1 (and ::1 if present),
# below the kernel's ephemeral range so that no outgoing connection takes
# it meanwhile, and never handed out twice in one scenario.
free_port() {
    local p i
    for ((i = 0; i < 50; i++)); do
        if [ -z "$PY" ]; then
            p=$(_free_port_nopy) || true
        else
            p=$("$PY" - <<'EOF'
import random, socket
lo = 32768
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    pass
for _ in range(200):
    port = random.randint(10000, lo - 1) if lo > 11000 else 0
    socks = []
    try:
        s = socket.socket()
        socks.append(s)
        s.bind(("127.0.0.1", port))
        port = s.getsockname()[1]
        try:
            s6 = socket.socket(socket.AF_INET6)
            socks.append(s6)
            s6.bind(("::1", port))
        except OSError as e:
            if e.errno == 98:           # EADDRINUSE; else no IPv6 here
                continue
        print(port)
        break
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
EOF
            ) || true
        fi
        if [ -n "$p" ] && ! grep -qx "$p" "$TEST_DIR/ports"; then
            echo "$p" >>"$TEST_DIR/ports"
            echo "$p"
            return 0
        fi
    done
    die "free_port: no free port found"
}

# _free_port_nopy: without python, a port where nothing accepts yet.
_free_port_nopy() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((10000 + RANDOM % 22000))
        port_open "$p" && continue
        port_open "$p" ::1 && continue
        echo "$p"
        return 0
    done
    return 1
}

# port_open PORT [HOST]: 0 if something accepts TCP connections there.
port_open() {
    (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# --- processes -----------------------------------------------------------

# listener_pids PORT: every process holding a TCP socket listening on
# PORT, one pid a line (the admin port: the master and its admin process).
listener_pids() {
    ss -Hltnp "( sport = :$1 )" | grep -o 'pid=[0-9]*' | cut -d= -f2 |
        sort -un
}

# admin_pid PORT MASTER: the admin process serving PORT (the master keeps
# a copy of that socket, so it is the other holder).
admin_pid() {
    listener_pids "$1" | grep -vx "$2" | head -n 1 || true
}

# descendants PID: the pids of every live descendant of PID (from /proc).
descendants() {
    local f line rest pid ppid
    local -A parent=()
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        pid=${f#/proc/}
        pid=${pid%/stat}
        rest=${line##*) }
        read -r _ ppid _ <<<"$rest"
        parent[$pid]=$ppid
    done
    _descend() {
        local p
        for p in "${!parent[@]}"; do
            if [ "${parent[$p]}" = "$1" ]; then
                echo "$p"
                _descend "$p"
            fi
        done
    }
    _descend "$1"
}

# stop_pid PID NAME: TERM, wait up to 10 s, then KILL.  Sets STOP_RC.
stop_pid() {
    local pid=$1 i
    STOP_RC=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "$2 (pid $pid) ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

# start_fakedc NAME: start a fake DC on 127.0.0.1:P (and [::1]:P), its
# files named after NAME.  Sets FAKEDC_PORT, FAKEDC_LOG (its connection
# log) and FAKEDC_PID.
start_fakedc() {
    local name=$1 port pid i want=1
    local -a args
    port=$(free_port)
    args=(-l "127.0.0.1:$port")
    if have_ipv6; then
        args+=(-l "[::1]:$port")
        want=2
    fi
    : >"$TEST_DIR/$name.log"
    "$FAKEDC" "${args[@]}" -o "$TEST_DIR/$name.log" \
        >"$TEST_DIR/$name.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        if [ "$(count_grep "$TEST_DIR/$name.out" '^fakedc: listening')" \
            -ge "$want" ]; then
            FAKEDC_PORT=$port
            FAKEDC_LOG=$TEST_DIR/$name.log
            FAKEDC_PID=$pid
            note "$name listening on port $port (pid $pid)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$TEST_DIR/$name.out" >&2
    die "$name did not start"
}

# --- proxy configuration ------------------------------------------------

# dc_override DC ADDR...: one dc_overrides list element.
dc_override() {
    local dc=$1 a list=""
    shift
    for a in "$@"; do
        list+="${list:+, }\"$a\""
    done
    printf '{ dc = %s; addresses = [ %s ]; }' "$dc" "$list"
}

# dc_overrides_all PORT: DCs 1..5 and -1..-5 all at 127.0.0.1:PORT.
dc_overrides_all() {
    local dc out=""
    for dc in 1 2 3 4 5 -1 -2 -3 -4 -5; do
        out+="${out:+,
    }$(dc_override "$dc" "127.0.0.1:$1")"
    done
    printf '(\n    %s\n)' "$out"
}

# write_config FILE [key=value ...]: a telemt config with users alice and
# bob, every DC at the fake DC ($FAKEDC_PORT), a fresh port, and the given
# settings replaced or added.  Values are libconfig literals, except that
# the string keys below are quoted when given bare.  Nested mode keys are
# written modes.classic=false etc.
write_config() {
    local file=$1 kv key val k
    shift
    local -A v=(
        [port]=""
        [listen_ipv4]='"127.0.0.1"'
        [listen_ipv6]='""'
        [workers]=2
        [users]="{ alice = \"$ALICE\"; bob = \"$BOB\"; }"
        [modes.classic]=true
        [modes.secure]=true
        [modes.tls]=false
        [fast_mode]=true
        [handshake_timeout]=10
        [default_dc]=2
        [prefer_ipv6]=false
        [log_level]='"debug"'
        [mask]=false
        [admin_listen]='""'
        [allow_root]=true
        [pidfile]='""'
    )
    # mask defaults to false: masking must only ever dial a loopback mask
    # host that a test starts (mask_host defaults to tls_domain).
    local -a order=(port listen_ipv4 listen_ipv6 workers users fast_mode
        handshake_timeout default_dc prefer_ipv6 log_level mask admin_listen
        allow_root pidfile)
    if [ -n "${FAKEDC_PORT:-}" ]; then
        v[dc_overrides]=$(dc_overrides_all "$FAKEDC_PORT")
    fi
    for kv in "$@"; do
        key=${kv%%=*}
        val=${kv#*=}
        [ "$key" != "$kv" ] || die "write_config: '$kv' is not key=value"
        case $key in
        listen_ipv4 | listen_ipv6 | log_level | tls_domain | mask_host | \
            public_host | admin_listen | admin_token | tls_emulation_cache | \
            pidfile | log_file | user | group)
            [ "${val:0:1}" = '"' ] || val="\"$val\""
            ;;
        esac
        if [ -z "${v[$key]+set}" ]; then
            case $key in
            modes.* | dc_overrides) ;;
            *) order+=("$key") ;;
            esac
        fi
        v[$key]=$val
    done
    # Only when not given: it costs a python start.
    [ -n "${v[port]}" ] || v[port]=$(free_port)
    {
        echo "# written by tests/integration/lib.sh write_config"
        for k in "${order[@]}"; do
            echo "$k = ${v[$k]};"
        done
        printf 'modes = { classic = %s; secure = %s; tls = %s; };\n' \
            "${v[modes.classic]}" "${v[modes.secure]}" "${v[modes.tls]}"
        if [ -n "${v[dc_overrides]+set}" ]; then
            echo "dc_overrides = ${v[dc_overrides]};"
        fi
    } >"$file"
}

# config_port FILE: the port a config written by write_config listens on.
config_port() {
    sed -n 's/^port = \([0-9]*\);$/\1/p' "$1"
}

# start_telemt CONFIG: run "$TELEMT_BIN -f CONFIG" in the background, wait
# up to 10 s until its port accepts connections.  Sets TELEMT_PID,
# TELEMT_PORT and TELEMT_LOG (its stdout and stderr).
start_telemt() {
    local cfg=$1 port pid i rc
    port=$(config_port "$cfg")
    [ -n "$port" ] || die "start_telemt: no 'port = N;' line in $cfg"
    TELEMT_N=$((TELEMT_N + 1))
    TELEMT_LOG=$TEST_DIR/telemt.$TELEMT_N.log
    "$TELEMT_BIN" -f "$cfg" >"$TELEMT_LOG" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    TELEMT_PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rc=0
            wait "$pid" || rc=$?
            note "config $cfg:"
            cat "$cfg"
            note "telemt log:"
            tail -n 50 "$TELEMT_LOG"
            die "telemt exited with status $rc during start-up"
        fi
        if port_open "$port"; then
            TELEMT_PID=$pid
            TELEMT_PORT=$port
            note "telemt #$TELEMT_N listening on port $port (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    tail -n 50 "$TELEMT_LOG"
    die "telemt did not accept connections on port $port within 10 s"
}

# sanitizer_check LOG: fail if a sanitizer reported anything in LOG.
sanitizer_check() {
    if grep -Eq 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' \
        "$1" 2>/dev/null; then
        grep -E -A 30 'Sanitizer|runtime error:' "$1" | head -n 60 >&2
        return 1
    fi
    return 0
}

# _stop_telemt PID: stop one proxy; prints why and returns 1 unless it
# exited cleanly (status 0, no worker left behind, no sanitizer report).
_stop_telemt() {
    local pid=$1 kids k left="" i log="" bad=0
    kids=$(descendants "$pid")
    stop_pid "$pid" telemt
    for ((i = 0; i < 50; i++)); do
        left=""
        for k in $kids; do
            if kill -0 "$k" 2>/dev/null; then
                left+=" $k"
            fi
        done
        [ -n "$left" ] || break
        sleep 0.1
    done
    for k in $left; do
        kill -KILL "$k" 2>/dev/null || true
    done
    for ((i = 0; i < ${#PIDS[@]}; i++)); do
        if [ "${PIDS[$i]}" = "$pid" ]; then
            PIDS[i]=""
        fi
    done
    for ((i = 0; i < ${#TELEMT_PIDS[@]}; i++)); do
        if [ "${TELEMT_PIDS[$i]}" = "$pid" ]; then
            TELEMT_PIDS[i]=""
            log=$TEST_DIR/telemt.$((i + 1)).log
        fi
    done
    if [ -n "$left" ]; then
        printf 'FAIL: telemt pid %s left processes behind:%s\n' "$pid" \
            "$left" >&2
        bad=1
    fi
    if [ -n "$log" ] && ! sanitizer_check "$log"; then
        printf 'FAIL: sanitizer report in %s\n' "$log" >&2
        bad=1
    fi
    if [ "$STOP_RC" != 0 ]; then
        [ -z "$log" ] || tail -n 20 "$log" >&2
        printf 'FAIL: telemt (pid %s) exited with status %s after SIGTERM\n' \
            "$pid" "$STOP_RC" >&2
        bad=1
    fi
    [ "$bad" = 0 ] && note "telemt pid $pid stopped cleanly"
    return "$bad"
}

# stop_telemt: SIGTERM the last proxy started; require a clean exit.
stop_telemt() {
    _stop_telemt "$TELEMT_PID" || exit 1
}

# stop_all: stop every telemt (checked), then everything else.
stop_all() {
    local pid f ok=0
    for pid in "${TELEMT_PIDS[@]}"; do
        [ -n "$pid" ] || continue
        _stop_telemt "$pid" || ok=1
    done
    for pid in "${PIDS[@]}"; do
        [ -n "$pid" ] || continue
        kill -0 "$pid" 2>/dev/null || continue
        stop_pid "$pid" "process"
    done
    PIDS=()
    for f in "$TEST_DIR"/*.out; do
        [ -e "$f" ] || continue
        sanitizer_check "$f" || {
            printf 'FAIL: sanitizer report in %s\n' "$f" >&2
            ok=1
        }
    done
    return "$ok"
}

# --- processes we do not parent ----------------------------------------

# PIDs wrap quickly here (pid_max is often 32768 and the proxy runs a
# thread per connection), so a pid we poll is identified by its start time:
# track PID records it, running PID checks it.
declare -A PSTART=()

# _pstat PID: the fields of /proc/PID/stat from the state on (field 3).
_pstat() {
    local line
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    echo "${line##*) }"
}

# track PID...: remember the start time of each pid (call it at once).
track() {
    local p f
    for p in "$@"; do
        f=$(_pstat "$p") || continue
        read -r -a f <<<"$f"
        PSTART[$p]=${f[19]}
    done
}

# running PID: the (tracked) process still exists and is not a zombie.
running() {
    local f
    f=$(_pstat "$1") || return 1
    read -r -a f <<<"$f"
    [ "${f[0]}" != Z ] || return 1
    [ -z "${PSTART[$1]:-}" ] || [ "${f[19]}" = "${PSTART[$1]}" ]
}

# Daemons (started without -f: not our children, so stop_all cannot stop
# them): register their master's pid in DAEMONS; killed with their
# children at exit.
DAEMONS=()

_daemon_cleanup() {
    local p kids
    for p in "${DAEMONS[@]}"; do
        running "$p" || continue
        kids=$(descendants "$p")
        note "cleanup: killing daemon $p and its children" "$kids"
        # shellcheck disable=SC2086  # a list of pids
        kill -KILL "$p" $kids 2>/dev/null || true
    done
}

# --- continuous load (lifecycle scenarios) -------------------------------

# load_start PORT LOOP_S STREAM_S: in the background, 8 clients of alice
# connecting in a loop for LOOP_S seconds and 4 paced ~10 s streams
# started until STREAM_S.  Sets LOAD_LOOP_PID and LOAD_STREAMS_PID.
load_start() {
    "$MTCLIENT" -c "127.0.0.1:$1" -s "$ALICE" -m intermediate -t echo \
        -b 16k -n 8 -w 10 --loop "$2" >"$TEST_DIR/loop.out" 2>&1 &
    LOAD_LOOP_PID=$!
    PIDS+=("$LOAD_LOOP_PID")
    "$MTCLIENT" -c "127.0.0.1:$1" -s "$ALICE" -m padded -t echo \
        -b 1m --rate 100k -n 4 -w 10 --loop "$3" \
        >"$TEST_DIR/streams.out" 2>&1 &
    LOAD_STREAMS_PID=$!
    PIDS+=("$LOAD_STREAMS_PID")
    note "load: 8 looping clients (pid $LOAD_LOOP_PID), 4 paced streams" \
        "(pid $LOAD_STREAMS_PID)"
}

# summary_field FILE NAME: NAME= of mtclient's last summary line in FILE.
summary_field() {
    grep '^mtclient: mode=' "$1" | tail -n 1 |
        sed -n "s/.* $2=\\([0-9]*\\).*/\\1/p"
}

# load_finish: wait for the load, print "failed connection attempts: N"
# and "broken streams: N", and require both to be 0.  Sets LOAD_ITERS and
# LOAD_STREAM_ITERS.
load_finish() {
    local rc_loop=0 rc_streams=0 failed broken
    wait "$LOAD_LOOP_PID" || rc_loop=$?
    wait "$LOAD_STREAMS_PID" || rc_streams=$?
    note "loop:    $(grep '^mtclient: mode=' "$TEST_DIR/loop.out" | tail -n 1)"
    note "streams: $(grep '^mtclient: mode=' "$TEST_DIR/streams.out" |
        tail -n 1)"
    failed=$(summary_field "$TEST_DIR/loop.out" failures)
    broken=$(summary_field "$TEST_DIR/streams.out" failures)
    LOAD_ITERS=$(summary_field "$TEST_DIR/loop.out" iterations)
    LOAD_STREAM_ITERS=$(summary_field "$TEST_DIR/streams.out" iterations)
    echo "failed connection attempts: ${failed:-?} (of ${LOAD_ITERS:-?})"
    echo "broken streams: ${broken:-?} (of ${LOAD_STREAM_ITERS:-?})"
    grep ' failed after ' "$TEST_DIR/loop.out" "$TEST_DIR/streams.out" |
        head -n 20 || true
    assert_eq "$failed" 0 "failed connection attempts"
    assert_eq "$broken" 0 "broken streams"
    assert_eq "$rc_loop" 0 "loop client exit status"
    assert_eq "$rc_streams" 0 "stream client exit status"
}

# new_pid FILE OLD SECONDS: wait until the pid file FILE names a pid
# other than OLD (a new master after USR2); print it, or nothing if none
# came within SECONDS.
new_pid() {
    local p i
    for ((i = 0; i < $3 * 20; i++)); do
        p=$(cat "$1" 2>/dev/null || true)
        if [ -n "$p" ] && [ "$p" != "$2" ]; then
            echo "$p"
            return 0
        fi
        sleep 0.05
    done
}

_lib_on_exit() {
    local rc=$? f
    trap - EXIT
    _daemon_cleanup
    stop_all || { [ "$rc" != 0 ] || rc=1; }
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
        for f in "$TEST_DIR"/telemt.*.log "$TEST_DIR"/*.out; do
            [ -s "$f" ] || continue
            echo "--- tail of $f" >&2
            tail -n 15 "$f" >&2
        done
        echo "--- files kept in $TEST_DIR" >&2
    fi
    exit "$rc"
}
trap _lib_on_exit EXIT
trap 'exit 143' TERM INT

# clockstep_setup: build the clockstep.c shim into $TEST_DIR/clockstep.so
# (start telemt with LD_PRELOAD=$TEST_DIR/clockstep.so) and point it at
# $off ($TEST_DIR/clock.offset, 0 for now): echo SECONDS >"$off" steps
# the wall clock of that process tree.  Skips without a C compiler.
clockstep_setup() {
    CC=${CC:-cc}
    command -v "$CC" >/dev/null || skip "no C compiler for the clock shim"
    "$CC" -shared -fPIC -O2 -o "$TEST_DIR/clockstep.so" \
        "$(dirname "${BASH_SOURCE[0]}")/clockstep.c" -ldl ||
        die "cannot build the shim"
    off=$TEST_DIR/clock.offset
    echo 0 >"$off"
    export CLOCKSTEP_FILE=$off
    # A sanitizer runtime wants to be first; the shim forwards to it.
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
}

# --- the test client ---------------------------------------------------

# mtc ARGS...: run mtclient against the last started proxy; prints its
# output and returns its status.  The output is also in MTC_OUT.
mtc() {
    local rc=0
    MTC_OUT=$("$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" "$@" 2>&1) || rc=$?
    printf '%s\n' "$MTC_OUT"
    return "$rc"
}

# mtc_ok ARGS...: mtclient must succeed.
mtc_ok() {
    note "mtclient $*"
    mtc "$@" || die "mtclient $* failed"
}

# closed_after: the largest "closed by peer after X s" in MTC_OUT.
closed_after() {
    printf '%s\n' "$MTC_OUT" | awk '/closed by peer after/ {
        for (i = 1; i <= NF; i++) if ($i == "after") v = $(i + 1) + 0
        if (v > m) m = v } END { print m + 0 }'
}

# closed_after_min: the smallest such time.
closed_after_min() {
    printf '%s\n' "$MTC_OUT" | awk 'BEGIN { m = -1 } /closed by peer after/ {
        for (i = 1; i <= NF; i++) if ($i == "after") v = $(i + 1) + 0
        if (m < 0 || v < m) m = v } END { print m }'
}
