#!/usr/bin/env bash
# deps.sh - install everything telemt needs to build and to run its tests
# on Debian 12 (run as root).  Used by the README's first command and by CI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# The test tools: nginx (mask host), haproxy (PROXY protocol in front),
# microsocks (SOCKS5 upstreams, also in make bench), tcpdump (record and
# segment sizes on loopback), nftables (a black-holed DC address),
# chromium (the page), prometheus (promtool), zbar/rsvg (the QR codes).
apt-get install -y --no-install-recommends \
    build-essential pkg-config libssl-dev libconfig-dev check \
    libmicrohttpd-dev libqrencode-dev libcurl4-openssl-dev \
    python3 python3-telethon iproute2 util-linux procps \
    valgrind systemd clang libclang-rt-dev llvm \
    nginx-light openssl curl ca-certificates chromium prometheus \
    haproxy microsocks tcpdump nftables \
    zbar-tools librsvg2-bin
# TDLib for tests/integration/t_tdlib.sh: node and npm (Debian's, unless a
# node with its own npm is installed already), then the pinned npm packages
# of tests/tdlib (tdl ships its addon prebuilt, so no install scripts).
# The TDLib package there is the x86-64 one; elsewhere t_tdlib skips.
command -v npm >/dev/null ||
    apt-get install -y --no-install-recommends nodejs npm
if [ "$(uname -m)" = x86_64 ]; then
    (cd "$(dirname "$0")/../tests/tdlib" &&
        npm ci --ignore-scripts --no-audit --no-fund)
fi
