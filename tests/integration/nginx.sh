# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are used by the scenarios
#
# nginx.sh - a real HTTPS server on loopback to be the proxy's mask host,
# sourced by the masking scenarios after lib.sh.
#
# start_nginx [NAME]: a self-signed certificate for www.example.com and an
# nginx (daemon off, master_process off) on 127.0.0.1:PORT that answers
# every HTTPS request with 200 "hello from the mask host" (TLS 1.2 and
# 1.3, like a real site).  Everything it
# writes (pid, logs, temp paths, the certificate) stays in
# $TEST_DIR/NAME.  Sets NGINX_PORT, NGINX_PID, NGINX_DIR and registers the
# pid in PIDS, so lib.sh's exit handler stops it.  Skips the scenario
# (exit 77) when nginx or openssl is missing, unless CI is set.
# NGINX_LISTEN_OPTS, if set, go on its listen line (proxy_protocol);
# NGINX_LOG_FORMAT, if set, is its access log's format (nginx variables,
# no single quote).

NGINX_BIN=${NGINX_BIN:-}
if [ -z "$NGINX_BIN" ]; then
    NGINX_BIN=$(command -v nginx || true)
    [ -n "$NGINX_BIN" ] || [ ! -x /usr/sbin/nginx ] || NGINX_BIN=/usr/sbin/nginx
fi
NGINX_DOMAIN=www.example.com

# need_nginx: nginx and openssl must be installed (a skip otherwise).
need_nginx() {
    local t
    for t in "$NGINX_BIN" openssl; do
        if [ -z "$t" ] || ! command -v "$t" >/dev/null; then
            [ -z "${CI:-}" ] ||
                die "nginx and openssl are required when CI is set"
            skip "nginx or openssl is not installed"
        fi
    done
}

# _nginx_temp_paths DIR: the *_temp_path directives of the modules this
# nginx has (Debian's nginx-light lacks some of them), all inside DIR.
_nginx_temp_paths() {
    local dir=$1 m v
    v=$("$NGINX_BIN" -V 2>&1 || true)
    echo "    client_body_temp_path $dir/tmp/body;"
    for m in proxy fastcgi uwsgi scgi; do
        case $v in
        *"--without-http_${m}_module"*) ;;
        *) echo "    ${m}_temp_path $dir/tmp/$m;" ;;
        esac
    done
}

start_nginx() {
    local name=${1:-nginx} dir port pid i
    need_nginx
    dir=$TEST_DIR/$name
    mkdir -p "$dir/tmp" "$dir/logs"
    port=$(free_port)
    if [ ! -s "$dir/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes \
            -subj "/CN=$NGINX_DOMAIN" \
            -addext "subjectAltName=DNS:$NGINX_DOMAIN" -days 2 \
            -keyout "$dir/key.pem" -out "$dir/cert.pem" \
            >"$dir/openssl.out" 2>&1 || {
            cat "$dir/openssl.out" >&2
            die "start_nginx: openssl could not make a certificate"
        }
    fi
    cat >"$dir/nginx.conf" <<EOF
# written by tests/integration/nginx.sh
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
lock_file $dir/nginx.lock;
error_log $dir/logs/error.log info;
events {
    worker_connections 4096;
}
http {
$([ -z "${NGINX_LOG_FORMAT:-}" ] ||
    printf "    log_format t '%s';\n" "$NGINX_LOG_FORMAT")
    access_log $dir/logs/access.log${NGINX_LOG_FORMAT:+ t};
$(_nginx_temp_paths "$dir")
    server {
        listen 127.0.0.1:$port ssl${NGINX_LISTEN_OPTS:+ $NGINX_LISTEN_OPTS};
        server_name $NGINX_DOMAIN;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        # nginx 1.22 leaves TLS 1.3 out by default; a real site has it,
        # and tls_emulation learns the size of a TLS 1.3 flight.
        ssl_protocols TLSv1.2 TLSv1.3;
        server_tokens off;
        location / {
            return 200 "hello from the mask host\n";
        }
    }
}
EOF
    "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
        >"$dir/nginx.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/nginx.out" "$dir/logs/error.log" >&2 2>/dev/null || true
            die "nginx exited during start-up"
        fi
        if port_open "$port"; then
            NGINX_PORT=$port
            NGINX_PID=$pid
            NGINX_DIR=$dir
            note "$name (nginx) listening on 127.0.0.1:$port (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    cat "$dir/logs/error.log" >&2 2>/dev/null || true
    die "nginx did not listen on 127.0.0.1:$port within 10 s"
}

# --- helpers shared by the masking scenarios ------------------------------

PROBE_PY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/probe.py

# probe NAME PORT [probe.py options...]: run probe.py against
# 127.0.0.1:PORT; the bytes received go to $TEST_DIR/NAME.bin.  Sets
# PROBE_LINE (its summary), PROBE_END (eof/reset/timeout/quiet),
# PROBE_GOT (bytes received), PROBE_SECS, PROBE_FIRST (s to the first
# byte, or -), PROBE_RECORDS (with --records) and PROBE_OUT (the file).
probe() {
    local name=$1 port=$2
    shift 2
    [ -n "$PY" ] || die "probe: python3 is needed"
    PROBE_OUT=$TEST_DIR/$name.bin
    PROBE_LINE=$("$PY" "$PROBE_PY" 127.0.0.1 "$port" --out "$PROBE_OUT" \
        "$@") || die "probe $name: probe.py failed: $PROBE_LINE"
    note "$name: $PROBE_LINE"
    PROBE_END=$(_probe_field end)
    PROBE_GOT=$(_probe_field received)
    PROBE_SECS=$(_probe_field seconds)
    PROBE_FIRST=$(_probe_field first_byte)
    PROBE_RECORDS=$(_probe_field records)
}

_probe_field() {
    tr ' ' '\n' <<<"$PROBE_LINE" | sed -n "s/^$1=//p"
}

# hex_of STRING: STRING's bytes in hex (printf %b escapes allowed).
hex_of() {
    printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'
}

# no_date FILE: FILE without its Date: header line(s), into FILE.nodate.
no_date() {
    grep -a -v -i '^date: ' "$1" >"$1.nodate" || true
}

# same_file A B WHAT: the two files must be identical.
same_file() {
    cmp -s "$1" "$2" || {
        note "$3: $1 and $2 differ:"
        diff <(od -An -c "$1") <(od -An -c "$2") | head -n 20 >&2 || true
        die "$3: the answers differ"
    }
}

# stat_of NAME [LOG]: NAME's value in the last "stats:" line of LOG
# (default $TELEMT_LOG).
stat_of() {
    local v
    v=$(grep -E 'stats: ' "${2:-$TELEMT_LOG}" | tail -n 1 | tr ' ' '\n' |
        sed -n "s/^$1=\([0-9][0-9]*\)\$/\1/p")
    [ -n "$v" ] || die "no $1=N in the last stats: line of ${2:-$TELEMT_LOG}"
    echo "$v"
}

# stat_at_least NAME MIN: the stat must be >= MIN.
stat_at_least() {
    local n
    n=$(stat_of "$1")
    [ "$n" -ge "$2" ] || die "stats $1=$n, expected at least $2"
}
