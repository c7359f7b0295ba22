#!/usr/bin/env bash
# Serves one of the GIL-mode examples on http://127.0.0.1:8000 in the
# foreground (Ctrl-C stops it): one Apache child with 10 threads.
#   examples/gil-modes/serve.sh own-gil|shared-gil|mixed|free-threading [python]
# The default Python is pyenv's 3.12.1 (per-interpreter GIL needs 3.12+).
set -euo pipefail
cd "$(dirname "$0")/../.."
example=${1:?usage: $0 own-gil|shared-gil|mixed|free-threading [python]}
[ -f "examples/gil-modes/$example.conf.in" ] || { echo "no such example: $example" >&2; exit 2; }
python=${2:-$(pyenv prefix 3.12.1 2>/dev/null || echo /root/.pyenv/versions/3.12.1)/bin/python3}
bash scripts/deps.sh
label=$("$python" -c 'import sys; print("py%d%d" % sys.version_info[:2])')
PYO3_PYTHON="$python" CARGO_TARGET_DIR="target/$label" cargo build --release
root=$(mktemp -d /tmp/mod_wsgi-gil-example.XXXXXX)
cp examples/gil-modes/cpu.wsgi examples/gil-modes/dispatch.py "$root/"
chmod -R a+rX "$root"
cat > "$root/httpd.conf" <<CONF
ServerRoot "$root"
Listen 127.0.0.1:8000
ServerName 127.0.0.1
PidFile "$root/httpd.pid"
ErrorLog /dev/stderr
LogLevel warn wsgi:info
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
StartServers 1
ServerLimit 1
ThreadsPerChild 10
MaxRequestWorkers 10
<Directory "$root">
    Require all granted
</Directory>
LoadModule wsgi_module "$PWD/target/$label/release/libmod_wsgi.so"
$(sed -e "s|@DIR@|$root|g" "examples/gil-modes/$example.conf.in")
CONF
echo "Serving the $example example on http://127.0.0.1:8000/ (server root $root, Ctrl-C to stop)"
exec /usr/sbin/apache2 -f "$root/httpd.conf" -DFOREGROUND
