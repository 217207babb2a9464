# shellcheck shell=bash
#
# nginx.sh - a real HTTPS server on loopback to be the proxy's mask host,
# sourced by the masking scenarios after lib.sh.
#
# start_nginx [NAME]: a self-signed certificate for www.example.com and an
# nginx (daemon off, master_process off) on 127.0.0.1:PORT that answers
# every HTTPS request with 200 "hello from the mask host".  Everything it
# writes (pid, logs, temp paths, the certificate) stays in
# $TEST_DIR/NAME.  Sets NGINX_PORT, NGINX_PID, NGINX_DIR and registers the
# pid in PIDS, so lib.sh's exit handler stops it.  Skips the scenario
# (exit 77) when nginx or openssl is missing, unless CI is set.

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
    access_log $dir/logs/access.log;
$(_nginx_temp_paths "$dir")
    server {
        listen 127.0.0.1:$port ssl;
        server_name $NGINX_DOMAIN;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
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
