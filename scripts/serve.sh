#!/usr/bin/env bash
# Builds the module against Debian's Python 3.11 and serves examples/hello
# with the default (embedded mode) configuration on http://127.0.0.1:8000.
# Runs Apache in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
PYO3_PYTHON=/usr/bin/python3.11 CARGO_TARGET_DIR=target/py311 cargo build --release
root=$(mktemp -d /tmp/mod_wsgi-serve.XXXXXX)
chmod 755 "$root"
mkdir -p "$root/app"
cp examples/hello/wsgi.py "$root/app/wsgi.py"
chmod -R a+rX "$root"
sed -e "s|@ROOT@|$root|g" -e "s|@MODULE@|$PWD/target/py311/release/libmod_wsgi.so|g" \
    examples/hello/httpd.conf.in > "$root/httpd.conf"
echo "Serving examples/hello on http://127.0.0.1:8000/ (server root $root, Ctrl-C to stop)"
exec /usr/sbin/apache2 -f "$root/httpd.conf" -DFOREGROUND
