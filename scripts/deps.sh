#!/usr/bin/env bash
# deps.sh - install everything telemt needs to build and to run its tests
# on Debian 12 (run as root).  Used by the README's first command and by CI.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
# tcpdump: t_tls_shape reads the TLS records on loopback from a capture.
apt-get install -y --no-install-recommends tcpdump
apt-get install -y --no-install-recommends \
    build-essential pkg-config libssl-dev libconfig-dev check \
    libmicrohttpd-dev libqrencode-dev libcurl4-openssl-dev python3 python3-telethon iproute2 util-linux procps \
    valgrind systemd clang libclang-rt-dev llvm \
    nginx-light openssl curl ca-certificates chromium prometheus \
    zbar-tools librsvg2-bin
