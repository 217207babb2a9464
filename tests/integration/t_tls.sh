#!/usr/bin/env bash
#
# t_tls.sh - fake TLS (ee secrets) end to end with mtclient --tls, a
# tdlib-like client.  A TLS-only proxy (fast_mode on, then off) relays
# echo / source / sink of 4 MiB in 2878-byte records, 1-byte records and
# full 16 KiB records, a Chrome-sized and a maximal hello, a hello without
# SNI, hellos 30 s off; 100 TLS clients at once; bulk DC -> client data
# must leave in big records.  It refuses, without a byte back and without
# dialling the DC: hellos 120 s off, a wrong secret, a wrong SNI, plain
# obfuscated2, and classic tags inside TLS.  Then tls_sni_strict = false
# (deprecated, with a warning),
# tls_domains, and TLS next to classic.  Each proxy's final "stats:" line
# must count what we did under the right reasons.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HT=5                    # handshake_timeout
W=$((HT + 10))          # how long mtclient waits for a close
DOMAIN=www.example.com
BIG=4194304

note "mtclient's fake TLS code against vectors.txt B"
"$MTCLIENT" --self-test || die "mtclient --self-test failed"

start_fakedc fakedc

# tls_config FILE [key=value ...]: a TLS-only proxy config.  Masking is
# off so that a refused client is closed, not relayed somewhere.
tls_config() {
    local file=$1
    shift
    write_config "$file" modes.classic=false modes.secure=false \
        modes.tls=true tls_domain="$DOMAIN" tls_time_skew=60 \
        handshake_timeout=$HT mask=false "$@"
}

# What we did to the current proxy, checked against its stats at the end.
declare -A did=()
reset_counts() {
    did=([ok]=0 [bad_digest]=0 [stale_time]=0 [bad_sni]=0 [not_tls]=0
        [mode_disabled]=0)
}

# wait_since FILE MARK ERE [SECONDS]: a line after MARK matches ERE.
wait_since() {
    local i limit=$((${4:-5} * 10))
    for ((i = 0; i < limit; i++)); do
        lines_since "$1" "$2" | grep -Eq -- "$3" && return 0
        sleep 0.1
    done
    return 1
}

# traffic WHAT TEST BYTES [TAG [MTCLIENT ARGS...]]: one fake TLS client
# (alice, padded unless the args say otherwise) that must succeed; the fake
# DC must see its command with the tag and a clean end.
traffic() {
    local what=$1 t=$2 bytes=$3 tag=${4:-dd} mark got cmd
    shift 3
    [ $# -eq 0 ] || shift
    cmd=$(tr '[:lower:]' '[:upper:]' <<<"$t")
    mark=$(lines "$FAKEDC_LOG")
    mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t "$t" -b "$bytes" "$@"
    assert_match "$MTC_OUT" "test=$t conns=1 ok=1 failed=0" "$what"
    got=$(lines_since "$FAKEDC_LOG" "$mark" | grep '^conn ' || true)
    assert_match "$got" \
        "^conn tag=$tag dc=2 first=cmd cmd=$cmd bytes=$bytes " \
        "$what: fake DC log"
    wait_since "$FAKEDC_LOG" "$mark" \
        "^end tag=$tag dc=2 cmd=$cmd .*result=ok" 5 ||
        die "$what: the fake DC saw no clean end"
    did[ok]=$((did[ok] + 1))
}

# refused REASON WHAT MTCLIENT_ARGS...: mtclient --expect-close (or
# --expect-close=inner among the args) must pass, quickly: a refused
# hello is closed at once, not at handshake_timeout; the fake DC must not
# have been dialled.
refused() {
    local reason=$1 what=$2 mark t
    shift 2
    mark=$(lines "$FAKEDC_LOG")
    note "refused ($reason): $what"
    case " $* " in
    *" --expect-close=inner "*) mtc_ok -w "$W" "$@" ;;
    *) mtc_ok --expect-close -w "$W" "$@" ;;
    esac
    t=$(closed_after)
    assert_between "$t" 0 2 "$what: seconds until the proxy closed"
    sleep 0.2
    [ -z "$(lines_since "$FAKEDC_LOG" "$mark")" ] ||
        die "$what: the proxy dialled the DC for a refused client"
    did[$reason]=$((did[$reason] + 1))
}

# stat_of NAME: NAME's value in the last "stats:" line of $TELEMT_LOG.
stat_of() {
    local v
    v=$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1 | tr ' ' '\n' |
        sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p")
    [ -n "$v" ] || die "no $1=N in the last stats: line of $TELEMT_LOG"
    echo "$v"
}

# stop_and_check: SIGTERM the proxy (clean exit required), then its stats
# must show every accepted TLS client and at least every refusal we made,
# under its reason.
stop_and_check() {
    local r n
    stop_telemt
    note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
    assert_eq "$(stat_of hs_ok_tls)" "${did[ok]}" "stats hs_ok_tls"
    for r in bad_digest stale_time bad_sni not_tls mode_disabled; do
        n=$(stat_of "hs_$r")
        [ "$n" -ge "${did[$r]}" ] ||
            die "stats hs_$r=$n, but we made ${did[$r]} such clients"
    done
}

for fast in true false; do
    note "=== TLS only, fast_mode=$fast"
    reset_counts
    tls_config "$TEST_DIR/tls-fast-$fast.conf" fast_mode=$fast
    start_telemt "$TEST_DIR/tls-fast-$fast.conf"
    for t in echo source sink; do
        traffic "fast_mode=$fast $t, 2878-byte records" "$t" "$BIG"
    done
    for t in echo source sink; do
        traffic "fast_mode=$fast $t, 1-byte records" "$t" 65536 dd \
            --record-size 1
    done
    for t in echo sink; do
        traffic "fast_mode=$fast $t, 16384-byte records" "$t" "$BIG" dd \
            --record-size 16384
    done
    [ "$fast" = true ] || { stop_and_check; continue; }

    traffic "Chrome-sized hello (1800 bytes)" echo 1048576 dd \
        --hello-size 1800
    traffic "largest hello (record length 16384)" echo 65536 dd \
        --hello-size 16389
    traffic "hello without SNI" echo 65536 dd --no-sni
    traffic "hello 30 s in the past" echo 65536 dd --time-offset -30
    traffic "hello 30 s in the future" sink 65536 dd --time-offset 30
    traffic "SNI in other letter case" echo 65536 dd --tls WWW.Example.COM

    refused stale_time "hello 120 s in the past" \
        -s "$ALICE" -m padded --tls "$DOMAIN" --time-offset -120
    refused stale_time "hello 120 s in the future" \
        -s "$ALICE" -m padded --tls "$DOMAIN" --time-offset 120
    refused bad_digest "wrong secret" -s "$WRONG" -m padded --tls "$DOMAIN"
    refused bad_sni "wrong SNI" -s "$ALICE" -m padded --tls other.example.org
    refused not_tls "plain obfuscated2 padded" -s "$ALICE" -m padded
    refused not_tls "plain obfuscated2 abridged" -s "$BOB" -m abridged
    refused mode_disabled "abridged inside TLS, classic off" \
        -s "$ALICE" -m abridged --tls "$DOMAIN" --expect-close=inner
    refused mode_disabled "intermediate inside TLS, classic off" \
        -s "$BOB" -m intermediate --tls "$DOMAIN" --expect-close=inner

    note "100 TLS clients at once"
    mark=$(lines "$FAKEDC_LOG")
    mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" -t echo -n 100 -b 65536 \
        -w 60
    assert_match "$MTC_OUT" "conns=100 ok=100 failed=0" "100 TLS clients"
    did[ok]=$((did[ok] + 100))
    for ((i = 0; i < 50; i++)); do
        n=$(lines_since "$FAKEDC_LOG" "$mark" |
            grep -Ec '^end tag=dd dc=2 cmd=ECHO in=65[0-9]+ out=65536 result=ok' ||
            true)
        [ "$n" = 100 ] && break
        sleep 0.1
    done
    assert_eq "$n" 100 "clean ECHO ends at the fake DC for 100 TLS clients"

    note "DC -> client record sizes on a 4 MiB source"
    traffic "record sizes" source "$BIG" dd --check-record-sizes
    rec=$(grep -E '^mtclient: records from the proxy:' <<<"$MTC_OUT")
    count=$(sed -nE 's/.* count=([0-9]+) .*/\1/p' <<<"$rec")
    max=$(sed -nE 's/.* max=([0-9]+) .*/\1/p' <<<"$rec")
    avg=$(sed -nE 's/.* avg=([0-9]+)$/\1/p' <<<"$rec")
    note "proxy sent $count records, largest $max, average $avg bytes"
    assert_between "$max" 1 16401 "largest DC -> client record"
    assert_between "$avg" 8192 16384 \
        "average DC -> client record payload of a 4 MiB source"
    assert_alive "$TELEMT_PID" "telemt after the TLS clients"
    stop_and_check
done

note "=== tls_sni_strict = false (deprecated: unknown_sni_action = accept)"
reset_counts
tls_config "$TEST_DIR/tls-lax.conf" tls_sni_strict=false
start_telemt "$TEST_DIR/tls-lax.conf"
grep -q 'tls_sni_strict is deprecated; write unknown_sni_action = "accept"' \
    "$TELEMT_LOG" || die "no warning for the deprecated tls_sni_strict"
mtc_ok -s "$ALICE" -m padded --tls other.example.org -t echo -b 65536
did[ok]=$((did[ok] + 1))
mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" -t sink -b 65536
did[ok]=$((did[ok] + 1))
refused bad_digest "wrong secret, lax SNI" -s "$WRONG" -m padded \
    --tls other.example.org
stop_and_check
assert_eq "$(stat_of hs_bad_sni)" 0 "stats hs_bad_sni with tls_sni_strict off"

note "=== tls_domains"
reset_counts
tls_config "$TEST_DIR/tls-domains.conf" \
    'tls_domains=[ "cdn.example.org" ]'
start_telemt "$TEST_DIR/tls-domains.conf"
mtc_ok -s "$ALICE" -m padded --tls cdn.example.org -t echo -b 65536
did[ok]=$((did[ok] + 1))
mtc_ok -s "$BOB" -m padded --tls "$DOMAIN" -t source -b 65536
did[ok]=$((did[ok] + 1))
refused bad_sni "SNI in neither tls_domain nor tls_domains" \
    -s "$ALICE" -m padded --tls other.example.org
stop_and_check

note "=== fake TLS next to classic (secure off)"
reset_counts
tls_config "$TEST_DIR/tls-classic.conf" modes.classic=true
start_telemt "$TEST_DIR/tls-classic.conf"
traffic "abridged inside TLS" echo 65536 ef -m abridged
traffic "intermediate inside TLS" sink 65536 ee -m intermediate
traffic "padded inside TLS" source 65536 dd
mtc_ok -s "$BOB" -m abridged -t echo -b 65536
refused mode_disabled "plain padded, secure off" -s "$ALICE" -m padded
stop_and_check
assert_between "$(stat_of hs_ok_classic)" 1 1 "stats hs_ok_classic"
note "fake TLS passed"
