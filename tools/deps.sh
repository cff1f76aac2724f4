#!/bin/sh
# Installs the Debian packages thumbtack builds and tests with, when any is missing.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev libuv1-dev libjansson-dev libssl-dev zlib1g-dev libzmq3-dev libnghttp2-dev \
nghttp2-client python3-h2 python3-pytest python3-websockets python3-zmq python3-aiohttp python3-requests python3-prometheus-client curl chromium testssl.sh"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Node.js may come from elsewhere than Debian (with npm inside); only ask Debian when absent.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
