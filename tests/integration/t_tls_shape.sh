#!/usr/bin/env bash
#
# t_tls_shape.sh - what a censor sees of fake TLS on the wire, next to
# real TLS 1.3 servers (README "TLS shaping").  Record sizes: the same
# number of bytes streamed by the fake DC through telemt to mtclient --tls
# and by OpenSSL's TLS 1.3 server (tls13_send.py) to `openssl s_client`,
# both captured with tcpdump on loopback and walked record by record
# (tlsrecs.py): the largest record of both is a full TLS 1.3 one (16,401
# bytes), ours is never longer nor shorter than a TLS 1.3 record can be,
# and the bulk of both travels in full records.  unknown_sni_action
# against `openssl s_client -servername other.example.org`: mask (nginx,
# the mask host, answers with its certificate), drop (nothing back, a close
# after 0.2..1.5 s) and reject (byte for byte the alert that nginx with
# ssl_reject_handshake on sends the same client, also for a hello without
# SNI and for a client with a valid secret and a wrong SNI), while a client
# with the right SNI is still served.  Each action is counted.
# tls_emulation against nginx with http/1.1 and with h2: the probe learns
# nginx's ALPN choice and the length of its encrypted flight, and our flight
# to mtclient (offering h2 and http/1.1, as TDLib does) is exactly as long
# as nginx's to openssl s_client offering the same.  Skipped without
# tcpdump, nginx or openssl, unless CI is set.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/nginx.sh"

DOMAIN=www.example.com
OTHER=other.example.org
N=300000                # bytes streamed to the client in each run
FULL=16401              # a full TLS 1.3 record: 2^14 + 1 + 16
MIN=18                  # the least a TLS 1.3 record of data can be
SUITES=TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
TLSRECS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tlsrecs.py

need_nginx
TCPDUMP=$(command -v tcpdump || true)
[ -n "$TCPDUMP" ] || [ ! -x /usr/sbin/tcpdump ] || TCPDUMP=/usr/sbin/tcpdump
if [ -z "$TCPDUMP" ]; then
    [ -z "${CI:-}" ] || die "tcpdump is required when CI is set"
    skip "tcpdump is not installed"
fi
[ -n "$PY" ] || die "python3 is needed"

# capture_start NAME PORT: tcpdump on lo for TCP port PORT into
# $TEST_DIR/NAME.pcap, once it is listening.  capture_stop PORT ends it
# once the server side of each connection to PORT has closed.
CAP_PID=
capture_start() {
    local i
    CAP_FILE=$TEST_DIR/$1.pcap
    # -Z root: the capture file is written as the user running the test,
    # not tcpdump's own user, who may not write into TEST_DIR.
    # A large buffer (-B, KiB): a loaded machine schedules tcpdump late,
    # and the kernel drops what does not fit.
    "$TCPDUMP" -i lo -U --immediate-mode -B 65536 -n -s 0 -Z root -w "$CAP_FILE" "tcp port $2" \
        2>"$TEST_DIR/$1.tcpdump" &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    for ((i = 0; i < 100; i++)); do
        grep -q 'listening on' "$TEST_DIR/$1.tcpdump" && return 0
        kill -0 "$CAP_PID" 2>/dev/null ||
            die "tcpdump exited: $(cat "$TEST_DIR/$1.tcpdump")"
        sleep 0.1
    done
    die "tcpdump did not start within 10 s"
}

capture_stop() {
    local i size last=-1 same=0 port=$1
    # tcpdump lags on a loaded machine, and what it has not written when
    # it is stopped is lost: wait until every connection's FIN from the
    # server is in the file with all it sent before, then until the file
    # has not grown for 1 s.
    for ((i = 0; i < 100; i++)); do
        "$PY" "$TLSRECS" "$CAP_FILE" "$port" 2>/dev/null |
            awk '$NF != "fin" { bad = 1 } END { exit bad || NR == 0 }' &&
            break
        sleep 0.2
    done
    for ((i = 0; i < 80 && same < 4; i++)); do
        sleep 0.25
        size=$(stat -c %s "$CAP_FILE" 2>/dev/null || echo 0)
        if [ "$size" = "$last" ] && [ "$size" != 0 ]; then
            same=$((same + 1))
        else
            same=0
        fi
        last=$size
    done
    kill -INT "$CAP_PID" 2>/dev/null || true
    wait "$CAP_PID" 2>/dev/null || true
    CAP_PID=
    if grep -Eq '^[1-9][0-9]* packets dropped by kernel' \
        "${CAP_FILE%.pcap}.tcpdump"; then
        die "tcpdump lost packets: $(tr '\n' ' ' <"${CAP_FILE%.pcap}.tcpdump")"
    fi
}

# recs PORT [--hex]: tlsrecs.py's line for the first connection to PORT
# in $CAP_FILE.
recs() {
    local port=$1
    shift
    "$PY" "$TLSRECS" "$CAP_FILE" "$port" "$@" | head -n 1
}

# appdata LINE: the lengths of the ApplicationData records of a
# tlsrecs.py line, one a line (the callers cut off the server's flight).
appdata() {
    sed -n 's/.* records=\([^ ]*\).*/\1/p' <<<"$1" | tr ',' '\n' |
        sed -n 's/^23://p'
}

# shape LENGTHS...: run-length form for the log ("16401x18 5105").
shape() {
    awk '{ if ($1 == p) n++; else { if (n) printf "%s%s ", p,
        (n > 1 ? "x" n : ""); p = $1; n = 1 } }
        END { if (n) printf "%s%s", p, (n > 1 ? "x" n : "") }'
}

# bulk_share: of the lengths on stdin, the share of bytes in full records.
bulk_share() {
    awk -v full=$FULL '{ t += $1; if ($1 == full) f += $1 }
        END { printf "%.2f", t ? f / t : 0 }'
}

start_fakedc fakedc
start_nginx mask

note "=== record sizes: $N bytes through telemt (fake TLS)"
write_config "$TEST_DIR/shape.conf" modes.classic=false modes.secure=false \
    modes.tls=true tls_domain="$DOMAIN" mask=false
start_telemt "$TEST_DIR/shape.conf"
capture_start ours "$TELEMT_PORT"
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t source -b "$N"
capture_stop "$TELEMT_PORT"
ours=$(recs "$TELEMT_PORT")
[ -n "$ours" ] || die "no connection to telemt in the capture"
# Our flight is one ApplicationData record (the certificate's stand-in);
# the data follows it.
mapfile -t o < <(appdata "$ours" | tail -n +2)
note "telemt, DC -> client records: $(printf '%s\n' "${o[@]}" | shape)"
stop_telemt

note "=== record sizes: $N bytes from OpenSSL's TLS 1.3 server"
head -c "$N" /dev/zero | tr '\0' x >"$TEST_DIR/payload.bin"
# OpenSSL through Python's ssl module (tls13_send.py says why not
# openssl s_server): one write of all N bytes, then close_notify.
SPORT=$(free_port)
"$PY" "$(dirname "$TLSRECS")/tls13_send.py" "$NGINX_DIR/cert.pem" \
    "$NGINX_DIR/key.pem" "$SPORT" "$TEST_DIR/payload.bin" \
    >"$TEST_DIR/tls13_send.out" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
    [ -z "$(ss -Hltn "sport = :$SPORT")" ] || break
    sleep 0.1
done
capture_start real "$SPORT"
timeout 30 openssl s_client -connect "127.0.0.1:$SPORT" -tls1_3 -quiet \
    -servername "$DOMAIN" </dev/null >"$TEST_DIR/s_client.bin" \
    2>"$TEST_DIR/s_client.err" || true
capture_stop "$SPORT"
assert_eq "$(stat -c %s "$TEST_DIR/s_client.bin")" "$N" \
    "bytes s_client got from the OpenSSL server"
real=$(recs "$SPORT")
# OpenSSL's flight: EncryptedExtensions, Certificate, CertificateVerify,
# Finished, then two NewSessionTickets; its data after them, and a
# close_notify (19 bytes) at the end.
mapfile -t r < <(appdata "$real" | tail -n +7 | head -n -1)
note "OpenSSL server, data records: $(printf '%s\n' "${r[@]}" | shape)"

rmax=$(printf '%s\n' "${r[@]}" | sort -n | tail -n 1)
omax=$(printf '%s\n' "${o[@]}" | sort -n | tail -n 1)
omin=$(printf '%s\n' "${o[@]}" | sort -n | head -n 1)
assert_eq "$rmax" "$FULL" "largest record of the OpenSSL server"
assert_eq "$omax" "$FULL" "largest DC -> client record of telemt"
assert_between "$omin" "$MIN" "$FULL" "shortest DC -> client record"
rsum=$(printf '%s\n' "${r[@]}" | awk '{ t += $1 } END { print t }')
osum=$(printf '%s\n' "${o[@]}" | awk '{ t += $1 } END { print t }')
# OpenSSL's records carry 17 bytes of AEAD each; ours carry the client's
# stream (obfuscated2 framing included) as it is.
assert_eq "$rsum" "$((N + 17 * ${#r[@]}))" "the OpenSSL server's data records"
assert_between "$osum" "$N" "$((N + N / 10))" "telemt's data records"
rshare=$(printf '%s\n' "${r[@]}" | bulk_share)
oshare=$(printf '%s\n' "${o[@]}" | bulk_share)
note "share of bytes in full records: OpenSSL $rshare, telemt $oshare"
awk -v r="$rshare" -v o="$oshare" 'BEGIN { exit !(r >= 0.9 && o >= 0.5) }' ||
    die "bulk data must travel in full records (OpenSSL $rshare, telemt $oshare)"

# A second nginx: a default server that refuses every name it does not
# serve (ssl_reject_handshake on), and www.example.com, both with h2
# (the mask nginx speaks http/1.1 only).
RDIR=$TEST_DIR/reject
RPORT=$(free_port)
mkdir -p "$RDIR/tmp" "$RDIR/logs"
cat >"$RDIR/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $RDIR/nginx.pid;
lock_file $RDIR/nginx.lock;
error_log $RDIR/logs/error.log info;
events {
    worker_connections 64;
}
http {
    access_log $RDIR/logs/access.log;
$(_nginx_temp_paths "$RDIR")
    server {
        listen 127.0.0.1:$RPORT ssl http2 default_server;
        ssl_reject_handshake on;
        ssl_protocols TLSv1.2 TLSv1.3;
    }
    server {
        listen 127.0.0.1:$RPORT ssl http2;
        server_name $DOMAIN;
        ssl_certificate $NGINX_DIR/cert.pem;
        ssl_certificate_key $NGINX_DIR/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        return 200 "hello\n";
    }
}
EOF
"$NGINX_BIN" -p "$RDIR" -c "$RDIR/nginx.conf" -e "$RDIR/logs/error.log" \
    >"$RDIR/nginx.out" 2>&1 &
PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
    port_open "$RPORT" && break
    sleep 0.1
done
port_open "$RPORT" || die "the reject nginx did not listen"

# s_client_to PORT NAME [s_client options]: one `openssl s_client` that
# sends nothing; its output in S_OUT, seconds taken in S_SECS.
s_client_to() {
    local port=$1 name=$2 t0
    shift 2
    t0=$(date +%s%N)
    S_OUT=$(timeout 20 openssl s_client -connect "127.0.0.1:$port" \
        -tls1_3 "$@" </dev/null 2>&1 || true)
    S_SECS=$(awk -v a="$t0" -v b="$(date +%s%N)" \
        'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    note "s_client $name: $S_SECS s"
}

# flight_of LINE: the ApplicationData total of a server's first flight
# in a tlsrecs.py line: the records between the ChangeCipherSpec and the
# first NewSessionTicket-sized gap are not told apart by a capture, so
# the caller says how many (COUNT) make the flight.
flight_of() {
    appdata "$1" | head -n "$2" | awk '{ t += $1 } END { print t }'
}

# emulation PORT ALPN: telemt with tls_emulation against nginx on PORT
# must learn ALPN and a flight as long as nginx's own to a client
# offering h2 and http/1.1 (openssl s_client here; its EncryptedExtensions,
# Certificate, CertificateVerify and Finished), and send mtclient, whose
# hello offers the same, a flight of that length.
emulation() {
    local port=$1 alpn=$2 real_flight learnt got
    note "=== tls_emulation against nginx on $port (ALPN $alpn)"
    capture_start "flight-$port" "$port"
    # The suites in the probe's order: the Finished message is as long as
    # the suite's hash, and nginx takes the client's first choice.
    s_client_to "$port" "-alpn h2,http/1.1" -servername "$DOMAIN" \
        -alpn h2,http/1.1 -ciphersuites "$SUITES"
    capture_stop "$port"
    assert_match "$S_OUT" "ALPN protocol: $alpn" "nginx's ALPN choice"
    real_flight=$(flight_of "$(recs "$port")" 4)
    write_config "$TEST_DIR/emu-$port.conf" modes.classic=false \
        modes.secure=false modes.tls=true tls_domain="$DOMAIN" \
        mask=true mask_host=127.0.0.1 mask_port="$port" tls_emulation=true
    start_telemt "$TEST_DIR/emu-$port.conf"
    wait_grep "$TELEMT_LOG" "TLS profile of 127\.0\.0\.1:$port: " 20 ||
        die "no TLS profile of nginx on $port within 20 s"
    learnt=$(grep -E "TLS profile of 127\.0\.0\.1:$port: " "$TELEMT_LOG" |
        tail -n 1)
    note "${learnt#*info: }"
    assert_match "$learnt" "certificate flight $real_flight bytes, ALPN $alpn\$" \
        "what the probe learnt (nginx's flight: $real_flight bytes)"
    capture_start "emu-$port" "$TELEMT_PORT"
    mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 4096
    capture_stop "$TELEMT_PORT"
    got=$(appdata "$(recs "$TELEMT_PORT")" | head -n 1)
    assert_eq "$got" "$real_flight" "our flight, next to nginx's"
    stop_telemt
}

emulation "$NGINX_PORT" http/1.1
emulation "$RPORT" h2

note "=== what nginx with ssl_reject_handshake on sends"
capture_start nginx_reject "$RPORT"
s_client_to "$RPORT" "-servername $OTHER" -servername "$OTHER"
capture_stop "$RPORT"
want=$(recs "$RPORT" --hex | sed -n 's/.* hex=//p')
note "nginx: $want"
assert_eq "$want" 15030300020270 "nginx's answer to an unknown name"

# sni_proxy ACTION: a TLS-only telemt masking to the mask nginx.
sni_proxy() {
    write_config "$TEST_DIR/sni-$1.conf" modes.classic=false \
        modes.secure=false modes.tls=true tls_domain="$DOMAIN" \
        handshake_timeout=5 mask=true mask_host=127.0.0.1 \
        mask_port="$NGINX_PORT" unknown_sni_action="\"$1\""
    start_telemt "$TEST_DIR/sni-$1.conf"
}

note "=== unknown_sni_action = mask"
sni_proxy mask
s_client_to "$TELEMT_PORT" "-servername $OTHER" -servername "$OTHER"
assert_match "$S_OUT" "CN ?= ?$DOMAIN" "the mask host's certificate"
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 65536
stop_telemt
assert_eq "$(stat_of hs_bad_sni)" 1 "stats hs_bad_sni"
assert_eq "$(stat_of hs_ok_tls)" 1 "stats hs_ok_tls"

note "=== unknown_sni_action = drop"
sni_proxy drop
capture_start drop "$TELEMT_PORT"
s_client_to "$TELEMT_PORT" "-servername $OTHER" -servername "$OTHER"
capture_stop "$TELEMT_PORT"
got=$(recs "$TELEMT_PORT")
assert_match "$got" " bytes=0 " "telemt's answer under drop"
assert_between "$(awk -v s="$S_SECS" 'BEGIN { print int(s * 1000) }')" \
    180 4500 "ms until a dropped hello is closed"
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 65536
stop_telemt
assert_eq "$(stat_of hs_sni_drop)" 1 "stats hs_sni_drop"
assert_eq "$(stat_of hs_bad_sni)" 0 "stats hs_bad_sni under drop"

note "=== unknown_sni_action = reject"
sni_proxy reject
capture_start reject "$TELEMT_PORT"
s_client_to "$TELEMT_PORT" "-servername $OTHER" -servername "$OTHER"
s_client_to "$TELEMT_PORT" "without SNI" -noservername
capture_stop "$TELEMT_PORT"
mapfile -t answers < <("$PY" "$TLSRECS" "$CAP_FILE" "$TELEMT_PORT" --hex |
    sed -n 's/.* hex=//p')
assert_eq "${#answers[@]}" 2 "connections answered under reject"
assert_eq "${answers[0]}" "$want" "telemt's answer to $OTHER, next to nginx's"
assert_eq "${answers[1]}" "$want" "telemt's answer to a hello without SNI"
assert_match "$S_OUT" "alert number 112" "s_client's view of the alert"
note "a client with a valid secret and a wrong SNI is rejected too"
mtc -s "$ALICE" -m padded --tls "$OTHER" -t echo -b 1024 >/dev/null || true
mtc_ok -s "$ALICE" -m padded --tls "$DOMAIN" -t echo -b 65536
stop_telemt
assert_eq "$(stat_of hs_sni_reject)" 3 "stats hs_sni_reject"
assert_eq "$(stat_of hs_ok_tls)" 1 "stats hs_ok_tls under reject"
sanitizer_check "$TELEMT_LOG"
note "TLS shaping passed"
