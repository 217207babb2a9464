#!/usr/bin/env bash
#
# t_tls_prefix.sh - plain obfuscated2 clients whose random first header
# bytes look like a TLS record (16 03 01 00, 16 03 01 ff, 16 03 03 01 00,
# 16 03 03 40 00: a record length too short, too long, or plausible) next
# to fake TLS.  With classic, secure and TLS on (fast_mode on, then off)
# every tag of alice and bob gets through at once (well before
# handshake_timeout), and so do real fake TLS clients (tdlib's 517-byte
# hello and a 1000-byte one, whose first bytes could be a header); the
# same prefixes with TLS off too.  Then, masking to a recorder on
# loopback: TLS-looking bytes that are no client (a short record with 64
# bytes, a short record alone, a whole record of random bytes; a partial
# one at handshake_timeout, as before), a prefixed header with a wrong
# secret and a replayed prefixed flight reach the mask host byte for byte.
# The stats count all of it.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HT=10                   # handshake_timeout: the wait the bug caused
QUICK=3                 # "at once": within this many seconds
MASK_HT=3               # handshake_timeout of the masking proxy
DOMAIN=www.example.com
PREFIXES="16030100 160301ff 1603030100 1603034000"
N=10                    # connections per mtclient run (fresh headers)

[ -n "$PY" ] || skip "python3 is not installed"

start_fakedc fakedc

# stat_of NAME: NAME's value in the last "stats:" line of $TELEMT_LOG.
stat_of() {
    local v
    v=$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1 | tr ' ' '\n' |
        sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p")
    [ -n "$v" ] || die "no $1=N in the last stats: line of $TELEMT_LOG"
    echo "$v"
}

# quick_ok WHAT ARGS...: $N connections of mtclient must succeed within
# QUICK seconds (its own count: the shell's clock would add start-up
# time on a loaded machine; -w makes every wait fail after QUICK s too).
quick_ok() {
    local what=$1 t
    shift
    mtc_ok -w "$QUICK" "$@"
    assert_match "$MTC_OUT" "conns=$N ok=$N failed=0" "$what: summary"
    t=$(sed -n 's/^mtclient: mode=.* seconds=\([0-9.]*\).*/\1/p' \
        <<<"$MTC_OUT")
    assert_between "$t" 0 "$QUICK" "$what: seconds for $N connections"
}

# prefixed WHAT: every tag of alice and bob with every prefix, $N
# connections each; the fake DC must see the right tag and DC.  Adds to
# ok_classic and ok_secure.
prefixed() {
    local what=$1 p spec mode tag user dc mark got n i
    for p in $PREFIXES; do
        # mode:tag:user:dc
        for spec in abridged:ef:ALICE:2 intermediate:ee:BOB:-2 \
            padded:dd:ALICE:4 padded:dd:BOB:2; do
            IFS=: read -r mode tag user dc <<<"$spec"
            mark=$(lines "$FAKEDC_LOG")
            quick_ok "$what: $mode $user prefix $p" -s "${!user}" \
                -m "$mode" -d "$dc" -t echo -b 4096 -n "$N" \
                --header-prefix "$p"
            for ((i = 0; i < 100; i++)); do
                got=$(lines_since "$FAKEDC_LOG" "$mark" |
                    grep -c "^end tag=$tag dc=$dc cmd=ECHO .*result=ok" ||
                    true)
                [ "$got" = "$N" ] && break
                sleep 0.1
            done
            assert_eq "$got" "$N" \
                "$what: $mode $user prefix $p: clean ends at the fake DC"
            n=$(lines_since "$FAKEDC_LOG" "$mark" | grep -c '^conn ' || true)
            assert_eq "$n" "$N" "$what: $mode $user prefix $p: DC dials"
            if [ "$tag" = dd ]; then
                ok_secure=$((ok_secure + N))
            else
                ok_classic=$((ok_classic + N))
            fi
        done
    done
}

note "mtclient refuses a prefix no client sends"
if "$MTCLIENT" -c 127.0.0.1:1 -s "$ALICE" -m padded \
    --header-prefix 16030102 >/dev/null 2>&1; then
    die "mtclient --header-prefix 16030102 was accepted"
fi

for fast in true false; do
    note "=== classic + secure + TLS, fast_mode=$fast"
    ok_classic=0
    ok_secure=0
    cfg=$TEST_DIR/mixed-fast-$fast.conf
    write_config "$cfg" modes.tls=true tls_domain="$DOMAIN" \
        handshake_timeout=$HT mask=false fast_mode=$fast
    start_telemt "$cfg"
    prefixed "fast_mode=$fast"
    quick_ok "fake TLS, 517-byte hello" -s "$ALICE" -m padded \
        --tls "$DOMAIN" -t echo -b 65536 -n "$N"
    quick_ok "fake TLS, 1000-byte hello" -s "$BOB" -m padded \
        --tls "$DOMAIN" -t sink -b 65536 -n "$N" --hello-size 1000
    quick_ok "no prefix" -s "$BOB" -m intermediate -t echo -b 4096 -n "$N"
    ok_classic=$((ok_classic + N))
    stop_telemt
    note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
    assert_eq "$(stat_of hs_ok_classic)" "$ok_classic" "stats hs_ok_classic"
    assert_eq "$(stat_of hs_ok_secure)" "$ok_secure" "stats hs_ok_secure"
    assert_eq "$(stat_of hs_ok_tls)" $((2 * N)) "stats hs_ok_tls"
    assert_eq "$(stat_of hs_bad_tls)" 0 "stats hs_bad_tls"
    assert_eq "$(stat_of hs_timeout)" 0 "stats hs_timeout"
done

note "=== classic + secure, TLS off"
ok_classic=0
ok_secure=0
write_config "$TEST_DIR/plain.conf" handshake_timeout=$HT mask=false
start_telemt "$TEST_DIR/plain.conf"
prefixed "TLS off"
stop_telemt
assert_eq "$(stat_of hs_ok_classic)" "$ok_classic" "TLS off: hs_ok_classic"
assert_eq "$(stat_of hs_ok_secure)" "$ok_secure" "TLS off: hs_ok_secure"

# The mask host: records what each connection sent (until the sender is
# quiet for 0.5 s or closes) in mask.K.bin, answers "mask-host\n", closes.
note "=== masking: TLS-looking bytes that are no client"
MASK_PORT=$(free_port)
"$PY" - "$MASK_PORT" "$TEST_DIR" >"$TEST_DIR/mask.out" 2>&1 <<'EOF' &
import socket, sys, threading
port, out = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
print("mask: listening", flush=True)
lock, count = threading.Lock(), [0]
def serve(s):
    got = bytearray()
    s.settimeout(0.5)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        pass
    with lock:
        count[0] += 1
        k = count[0]
    with open("%s/mask.%d.bin" % (out, k), "wb") as f:
        f.write(got)
    print("mask: conn %d got %d bytes" % (k, len(got)), flush=True)
    try:
        s.sendall(b"mask-host\n")
    except OSError:
        pass
    s.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
PIDS+=("$!")
wait_grep "$TEST_DIR/mask.out" '^mask: listening' 5 ||
    die "the recorder did not start"
write_config "$TEST_DIR/mask.conf" modes.tls=true tls_domain="$DOMAIN" \
    handshake_timeout=$MASK_HT mask=true mask_host=127.0.0.1 \
    mask_port="$MASK_PORT"
start_telemt "$TEST_DIR/mask.conf"
masked=0

# tls_file FILE N HEX: N bytes, HEX first, the rest random.
tls_file() {
    "$PY" - "$@" <<'EOF'
import binascii, os, sys
path, n, head = sys.argv[1], int(sys.argv[2]), binascii.unhexlify(sys.argv[3])
open(path, "wb").write(head + os.urandom(n - len(head)))
EOF
}

# masked_probe NAME FILE LOW HIGH: the probe must get the recorder's
# answer and an EOF within [LOW, HIGH] seconds, and the recorder must have
# got exactly FILE.
masked_probe() {
    local name=$1 file=$2 lo=$3 hi=$4 line secs
    masked=$((masked + 1))
    note "probe $name: $(wc -c <"$file") bytes, $(od -An -tx1 -N5 "$file")"
    line=$("$PY" "$(dirname "${BASH_SOURCE[0]}")/probe.py" 127.0.0.1 \
        "$TELEMT_PORT" --send-file "$file" --timeout $((MASK_HT + 8)) \
        --out "$TEST_DIR/$name.got")
    note "$line"
    assert_match "$line" ' end=eof ' "$name: how the probe ended"
    assert_eq "$(cat "$TEST_DIR/$name.got")" mask-host "$name: the answer"
    secs=$(sed -n 's/.* seconds=\([0-9.]*\) .*/\1/p' <<<"$line")
    assert_between "$secs" "$lo" "$hi" "$name: seconds until it ended"
    wait_grep "$TEST_DIR/mask.out" "^mask: conn $masked got" 5 ||
        die "$name: the mask host saw no connection $masked"
    cmp "$file" "$TEST_DIR/mask.$masked.bin" ||
        die "$name: the mask host did not get every byte the probe sent"
}

tls_file "$TEST_DIR/short64" 64 1603010010
masked_probe short-record-64 "$TEST_DIR/short64" 0 "$QUICK"
tls_file "$TEST_DIR/short21" 21 1603010010
masked_probe short-record-alone "$TEST_DIR/short21" 0 "$QUICK"
tls_file "$TEST_DIR/long64" 64 160303ffff
masked_probe long-record-64 "$TEST_DIR/long64" 0 "$QUICK"
# Handshake type 2, so that it cannot parse as a hello.
tls_file "$TEST_DIR/whole" 261 160303010002
masked_probe whole-random-record "$TEST_DIR/whole" 0 "$QUICK"
tls_file "$TEST_DIR/partial" 105 1603030100
masked_probe partial-record "$TEST_DIR/partial" "$MASK_HT" $((MASK_HT + 3))
"$MTCLIENT" -c "127.0.0.1:$TELEMT_PORT" -s "$WRONG" -m padded -t sink \
    -b 1 -w 3 --header-prefix 1603010010 --dump-flight "$TEST_DIR/wrong" \
    >/dev/null 2>&1 || true
[ -s "$TEST_DIR/wrong" ] || die "mtclient --dump-flight wrote nothing"
masked=$((masked + 1))      # mtclient's own connection was masked too
wait_grep "$TEST_DIR/mask.out" "^mask: conn $masked got" 5 ||
    die "wrong secret: the mask host saw no connection"
masked_probe wrong-secret "$TEST_DIR/wrong" 0 "$QUICK"
# A valid prefixed flight sent again: the replay check still applies.
mtc_ok -s "$BOB" -m intermediate -t echo -b 4096 --header-prefix 1603030100 \
    --dump-flight "$TEST_DIR/valid"
assert_match "$MTC_OUT" "conns=1 ok=1 failed=0" "the flight to replay"
masked_probe replay "$TEST_DIR/valid" 0 "$QUICK"
quick_ok "prefixed header, masking on" -s "$ALICE" -m padded -t echo \
    -b 4096 -n "$N" --header-prefix 1603030100
quick_ok "fake TLS, masking on" -s "$BOB" -m padded --tls "$DOMAIN" \
    -t echo -b 4096 -n "$N"
stop_telemt
note "$(grep -E 'stats: ' "$TELEMT_LOG" | tail -n 1)"
assert_eq "$(stat_of hs_bad_tls)" 6 "masking: stats hs_bad_tls"
assert_eq "$(stat_of hs_timeout)" 1 "masking: stats hs_timeout"
assert_eq "$(stat_of hs_replay)" 1 "masking: stats hs_replay"
assert_eq "$(stat_of hs_ok_classic)" 1 "masking: stats hs_ok_classic"
assert_eq "$(stat_of hs_ok_secure)" "$N" "masking: stats hs_ok_secure"
assert_eq "$(stat_of hs_ok_tls)" "$N" "masking: stats hs_ok_tls"
note "TLS-looking obfuscated2 headers passed"
