#!/usr/bin/env bash
# install.sh - install telemt as a systemd service on Debian 12 (as root):
# a system user "telemt", the binary in /usr/local/bin, the unit, a config
# in /etc/telemt (kept if it exists), then enable and start the service.
#
#   sudo bash scripts/install.sh            # after `make`
#   DESTDIR=/tmp/stage NO_SYSTEMCTL=1 bash scripts/install.sh   # staging
set -euo pipefail
cd "$(dirname "$0")/.."
DESTDIR=${DESTDIR:-}
NO_SYSTEMCTL=${NO_SYSTEMCTL:-}

[ -x ./telemt ] || { echo "install.sh: run make first" >&2; exit 1; }
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (or set DESTDIR to stage)" >&2
    exit 1
fi

if [ -z "$DESTDIR" ] && ! getent passwd telemt >/dev/null; then
    useradd --system --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin --user-group telemt
fi
# The files (binary, unit, README) are make install's, for ./telemt: not
# for whatever build a make that runs us (make check: O=build-san SAN=1)
# passes down in MAKEFLAGS.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make --no-print-directory install O=build DESTDIR="$DESTDIR" \
    PREFIX=/usr/local
install -d "$DESTDIR/etc/telemt" "$DESTDIR/var/log/telemt"
if [ ! -e "$DESTDIR/etc/telemt/telemt.conf" ]; then
    # The example, made fit for a service: public port, pid file under
    # RuntimeDirectory, the service user, the probe cache directory.
    sed -e 's/^port = .*/port = 443;/' \
        -e 's/^listen_ipv4 = .*/listen_ipv4 = "0.0.0.0";/' \
        -e 's/^user = .*/user = "telemt";/' \
        -e 's/^group = .*/group = "telemt";/' \
        -e 's|^pidfile = .*|pidfile = "/run/telemt/telemt.pid";|' \
        -e 's|^tls_emulation_cache = .*|tls_emulation_cache = "/var/cache/telemt";|' \
        etc/telemt.conf >"$DESTDIR/etc/telemt/telemt.conf"
    chmod 0640 "$DESTDIR/etc/telemt/telemt.conf"
    echo "install.sh: wrote $DESTDIR/etc/telemt/telemt.conf;" \
        "set public_host and your users' secrets there"
fi
if [ -z "$DESTDIR" ]; then
    chown root:telemt /etc/telemt/telemt.conf
    chown telemt:telemt /var/log/telemt
fi
if [ -z "$NO_SYSTEMCTL" ] && [ -z "$DESTDIR" ]; then
    systemctl daemon-reload
    systemctl enable telemt.service
    systemctl restart telemt.service
    systemctl --no-pager status telemt.service || true
fi
echo "install.sh: done"
