#!/usr/bin/env bash
# Installs a built mod_wsgi.so into an Apache's module directory with
# `apxs -i -n wsgi`. Where Apache keeps Debian-style mods-available/, it also
# writes wsgi.load (the LoadModule line) and wsgi.conf (module-wide settings,
# all commented out), so `a2enmod wsgi` enables the module.
#
# Usage: apxs/install.sh [path/to/libmod_wsgi.so]
#   APXS        the apxs to use (default: apxs on PATH)
#   LIBEXECDIR  install the module here instead of apxs's module directory
#   SYSCONFDIR  write mods-available/ files here instead of apxs's
set -euo pipefail
cd "$(dirname "$0")/.."
APXS=${APXS:-apxs}
SO=${1:-target/release/libmod_wsgi.so}
[ -f "$SO" ] || { echo "error: $SO not found; build first (cargo build --release)" >&2; exit 1; }
libexec=${LIBEXECDIR:-$("$APXS" -q LIBEXECDIR)}
sysconf=${SYSCONFDIR:-$("$APXS" -q SYSCONFDIR)}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$SO" "$stage/mod_wsgi.so"
mkdir -p "$libexec"
"$APXS" -S LIBEXECDIR="$libexec" -i -n wsgi "$stage/mod_wsgi.so"
if [ -d "$sysconf/mods-available" ]; then
    echo "LoadModule wsgi_module $libexec/mod_wsgi.so" > "$sysconf/mods-available/wsgi.load"
    if [ ! -e "$sysconf/mods-available/wsgi.conf" ]; then
        cat > "$sysconf/mods-available/wsgi.conf" <<'CONF'
# Module-wide mod_wsgi settings, read when the module is enabled. Each line
# shows the default; see docs/directives.md in the mod_wsgi (Rust) sources.
<IfModule mod_wsgi.c>
    # Python installation (a virtualenv works too):
    #WSGIPythonHome /usr
    # Extra directories on sys.path of every interpreter:
    #WSGIPythonPath /srv/app
    # Where daemon-process sockets go (relative to ServerRoot):
    #WSGISocketPrefix ${APACHE_RUN_DIR}/wsgi
    # Refuse to run applications inside the Apache children:
    #WSGIRestrictEmbedded Off
</IfModule>
CONF
    fi
    echo "Wrote $sysconf/mods-available/wsgi.load and wsgi.conf; enable with: a2enmod wsgi"
else
    echo "Add to httpd.conf: LoadModule wsgi_module $libexec/mod_wsgi.so"
fi
