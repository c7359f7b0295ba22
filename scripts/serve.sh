#!/usr/bin/env bash
# Installs what is missing, builds and installs the module with pip into a
# virtualenv of Debian's Python 3.11 (pyproject.toml), then serves
# examples/hello with mod_wsgi-express on http://127.0.0.1:8000 in embedded
# mode (the module's default configuration; drop --embedded-mode for a
# daemon process group). Apache runs in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
venv=/var/tmp/mod_wsgi-serve-venv
[ -x "$venv/bin/python" ] || /usr/bin/python3.11 -m venv "$venv"
echo "Building and installing the module into $venv (first time: a few minutes)"
CARGO_TARGET_DIR="$PWD/target/serve" "$venv/bin/pip" install -q --disable-pip-version-check .
rm -rf build python/*.egg-info
# The app is copied out of the checkout, which Apache's user may not reach.
app=$(mktemp -d /tmp/mod_wsgi-hello.XXXXXX)
cp examples/hello/wsgi.py "$app/wsgi.py"
chmod -R a+rX "$app" "$venv"
identity=()
if [ "$(id -u)" = 0 ]; then
    identity=(--user www-data --group www-data)
fi
exec "$venv/bin/mod_wsgi-express" start-server "$app/wsgi.py" \
    --host 127.0.0.1 --port 8000 --embedded-mode --log-to-terminal "${identity[@]}"
