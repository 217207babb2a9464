#!/usr/bin/env bash
#
# t_tls_probe.sh - active probes against a TLS-only proxy (masking off,
# so a refused client is simply closed).  Real TLS clients (openssl
# s_client, curl) send hellos without our digest: each must be closed at
# once, well before handshake_timeout, without a byte back.  Raw probes:
# a record header with length 0xffff or 0x4001, a hello-sized record of
# random bytes, "16 03 01 00 10" + 16 random bytes, an alert, an HTTP
# request, random garbage (all closed at once); a hello header alone and
# half a valid hello (closed at handshake_timeout).  Afterwards the same
# worker processes are alive, a valid fake TLS client still gets through,
# the log holds no sanitizer report and the stats count the refusals.
# openssl and curl probes are skipped if the tool is missing, unless CI
# is set.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HT=4                    # handshake_timeout
QUICK=1.5               # "closed at once" means within this many seconds
DOMAIN=www.example.com

start_fakedc fakedc
write_config "$TEST_DIR/telemt.conf" modes.classic=false \
    modes.secure=false modes.tls=true tls_domain="$DOMAIN" \
    handshake_timeout=$HT mask=false
start_telemt "$TEST_DIR/telemt.conf"
workers=$(descendants "$TELEMT_PID" | sort | tr '\n' ' ')
[ -n "$workers" ] || die "telemt has no worker processes"
note "workers: $workers"

declare -A did=([bad_digest]=0 [bad_tls]=0 [timeout]=0 [not_tls]=0)

# have_tool NAME: 0 if NAME is installed; without it, a note (or a
# failure when CI is set) and 1.
have_tool() {
    command -v "$1" >/dev/null && return 0
    [ -z "${CI:-}" ] || die "$1 is not installed (required when CI is set)"
    note "$1 is not installed: skipping its probe"
    return 1
}

# secs_since T0: seconds since T0 = $(date +%s%N), three decimals.
secs_since() {
    awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

# raw_probe REASON WHAT DATA [RANDOM_BYTES]: connect, send DATA (printf %b
# escapes) and then RANDOM_BYTES random bytes, and read until the proxy
# closes.  It must send nothing back.  Sets PROBE_SECS (connect to close).
raw_probe() {
    local reason=$1 what=$2 data=$3 rnd=${4:-0} fd t0 rc=0 got
    local out=$TEST_DIR/probe.out
    note "probe ($reason): $what"
    exec {fd}<>"/dev/tcp/127.0.0.1/$TELEMT_PORT" ||
        die "$what: cannot connect"
    t0=$(date +%s%N)
    # A subshell: if the proxy closes before all is written, SIGPIPE must
    # not kill this script.
    (
        printf '%b' "$data"
        [ "$rnd" = 0 ] || head -c "$rnd" /dev/urandom
    ) 1>&"$fd" 2>/dev/null || true
    timeout $((HT + 10)) cat <&"$fd" >"$out" 2>/dev/null || rc=$?
    PROBE_SECS=$(secs_since "$t0")
    exec {fd}>&-
    [ "$rc" != 124 ] || die "$what: not closed within $((HT + 10)) s"
    got=$(wc -c <"$out")
    assert_eq "$got" 0 "$what: bytes the proxy sent back"
    note "closed after $PROBE_SECS s"
    did[$reason]=$((did[$reason] + 1))
}

# --- real TLS clients -----------------------------------------------------

if have_tool openssl; then
    for args in "-servername $DOMAIN" "-tls1_2 -noservername"; do
        note "probe (bad_digest): openssl s_client $args"
        t0=$(date +%s%N)
        rc=0
        # shellcheck disable=SC2086  # args is two words on purpose
        out=$(timeout 15 openssl s_client -connect "127.0.0.1:$TELEMT_PORT" \
            $args </dev/null 2>&1) || rc=$?
        t=$(secs_since "$t0")
        printf '%s\n' "$out" | grep -E 'handshake has read|errno|error' |
            head -n 5 || true
        note "openssl exited with $rc after $t s"
        if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
            die "openssl s_client $args: exit status $rc"
        fi
        assert_between "$t" 0 "$QUICK" "openssl s_client $args: seconds"
        assert_match "$out" 'handshake has read 0 bytes' \
            "openssl s_client $args must get no byte back"
        did[bad_digest]=$((did[bad_digest] + 1))
    done
fi

if have_tool curl; then
    note "probe (bad_digest): curl https://$DOMAIN:$TELEMT_PORT/"
    t0=$(date +%s%N)
    rc=0
    curl -sS -o /dev/null --resolve "$DOMAIN:$TELEMT_PORT:127.0.0.1" -k \
        "https://$DOMAIN:$TELEMT_PORT/" -m 10 || rc=$?
    t=$(secs_since "$t0")
    note "curl exited with $rc after $t s"
    if [ "$rc" = 0 ] || [ "$rc" = 28 ]; then
        die "curl: exit status $rc"
    fi
    assert_between "$t" 0 "$QUICK" "curl: seconds until it gave up"
    did[bad_digest]=$((did[bad_digest] + 1))
fi

# --- raw probes -----------------------------------------------------------

raw_probe bad_tls "record header with length 0xffff" '\x16\x03\x01\xff\xff'
assert_between "$PROBE_SECS" 0 "$QUICK" "length 0xffff: seconds"
raw_probe bad_tls "record header with length 0x4001" '\x16\x03\x01\x40\x01'
assert_between "$PROBE_SECS" 0 "$QUICK" "length 0x4001: seconds"
raw_probe bad_tls "16 03 01 00 10 + 16 random bytes" '\x16\x03\x01\x00\x10' 16
assert_between "$PROBE_SECS" 0 "$QUICK" "length 16: seconds"
raw_probe bad_tls "hello header + 512 random bytes" '\x16\x03\x01\x02\x00' 512
assert_between "$PROBE_SECS" 0 "$QUICK" "random hello body: seconds"
raw_probe not_tls "TLS alert record" '\x15\x03\x01\x00\x02\x02\x28'
assert_between "$PROBE_SECS" 0 "$QUICK" "alert: seconds"
raw_probe not_tls "HTTP request" \
    "GET / HTTP/1.1\r\nHost: $DOMAIN\r\nUser-Agent: probe\r\n\r\n"
assert_between "$PROBE_SECS" 0 "$QUICK" "HTTP request: seconds"
raw_probe timeout "hello header, then nothing" '\x16\x03\x01\x02\x00'
assert_between "$PROBE_SECS" $((HT - 1)) $((HT + 3)) \
    "hello header alone: seconds (handshake_timeout=$HT)"

note "probe (timeout): half a valid hello"
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t half -w $((HT + 10))
assert_between "$(closed_after)" $((HT - 1)) $((HT + 3)) \
    "half a hello: seconds (handshake_timeout=$HT)"
did[timeout]=$((did[timeout] + 1))

note "probe (not_tls): 20 clients sending 1000 random bytes"
mtc_ok -s "$ALICE" -m padded -t garbage -b 1000 -n 20 -w $((HT + 10))
assert_between "$(closed_after)" 0 "$QUICK" "garbage: seconds"
did[not_tls]=$((did[not_tls] + 20))

# --- the proxy afterwards -----------------------------------------------

assert_alive "$TELEMT_PID" "telemt after the probes"
for pid in $workers; do
    assert_alive "$pid" "telemt worker after the probes"
done
sanitizer_check "$TELEMT_LOG" || die "sanitizer report in $TELEMT_LOG"
note "a valid fake TLS client after the probes"
mark=$(lines "$FAKEDC_LOG")
mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" -t echo -b 1048576
assert_match "$(lines_since "$FAKEDC_LOG" "$mark" | grep '^conn ' || true)" \
    '^conn tag=dd dc=2 first=cmd cmd=ECHO bytes=1048576 ' \
    "fake DC log of the valid client"
[ "$(lines_since "$FAKEDC_LOG" 0 | grep -c '^conn ')" = 1 ] ||
    die "the proxy dialled the DC for a probe"

stop_telemt
line=$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)
note "$line"
for r in bad_digest bad_tls timeout not_tls; do
    n=$(tr ' ' '\n' <<<"$line" | sed -n "s/^hs_$r=\([0-9][0-9]*\)\$/\1/p")
    [ -n "$n" ] || die "no hs_$r=N in the stats line"
    [ "$n" -ge "${did[$r]}" ] ||
        die "stats hs_$r=$n, but we sent ${did[$r]} such probes"
done
n=$(tr ' ' '\n' <<<"$line" | sed -n 's/^hs_ok_tls=\([0-9][0-9]*\)$/\1/p')
assert_eq "$n" 1 "stats hs_ok_tls"
note "probes passed"
