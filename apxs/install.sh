#!/usr/bin/env bash
# Installs a built mod_wsgi.so into the system Apache's module directory with
# `apxs -i -n wsgi`, and on Debian writes mods-available/wsgi.load so that
# `a2enmod wsgi` works.
#
# Usage: apxs/install.sh [path/to/libmod_wsgi.so]   (env: APXS)
set -euo pipefail
cd "$(dirname "$0")/.."
APXS=${APXS:-apxs}
SO=${1:-target/release/libmod_wsgi.so}
[ -f "$SO" ] || { echo "error: $SO not found; build first (cargo build --release)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$SO" "$stage/mod_wsgi.so"
"$APXS" -i -n wsgi "$stage/mod_wsgi.so"
libexec=$("$APXS" -q LIBEXECDIR)
sysconf=$("$APXS" -q SYSCONFDIR)
if [ -d "$sysconf/mods-available" ]; then
    echo "LoadModule wsgi_module $libexec/mod_wsgi.so" > "$sysconf/mods-available/wsgi.load"
    echo "Wrote $sysconf/mods-available/wsgi.load; enable with: a2enmod wsgi"
else
    echo "Add to httpd.conf: LoadModule wsgi_module $libexec/mod_wsgi.so"
fi
