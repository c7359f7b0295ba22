#!/usr/bin/env bash
# Installs the system packages the build and tests need (Debian 12, as root).
set -euo pipefail
need=()
for pkg in apache2 apache2-dev libclang-dev python3.11 python3.11-dev python3.11-venv openssl curl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "Installing: ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
# The Apache children run as www-data and must be able to reach the Python
# installations under root's home (0700 by default).
for dir in /root /root/.pyenv /root/.pyenv/versions; do
    [ -d "$dir" ] && chmod o+x "$dir"
done
exit 0
