#!/usr/bin/env bash
# Hello-world benchmark, embedded mode: our module vs the C mod_wsgi 6.1.1
# (built from PyPI against the same Apache and Python), plus Apache serving
# the same bytes as a static file. One generated config; only the
# LoadModule line differs. Traffic goes to 127.0.0.1 only.
#
# Usage: bench/run.sh [seconds-per-run]   (env: PYTHON, CONNECTIONS, THREADS)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
PYTHON=${PYTHON:-/usr/bin/python3.11}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
bash scripts/deps.sh >/dev/null

label=$("$PYTHON" -c 'import sys; print("py%d%d" % sys.version_info[:2])')
PYO3_PYTHON="$PYTHON" CARGO_TARGET_DIR="target/$label" cargo build --release -q
OURS="$PWD/target/$label/release/libmod_wsgi.so"

VENV="bench/.venv-c-$label"
if [ ! -x "$VENV/bin/mod_wsgi-express" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q 'mod_wsgi==6.1.1'
fi
THEIRS=$("$VENV/bin/mod_wsgi-express" module-location)

ROOT=$(mktemp -d /tmp/mod_wsgi-bench.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
chmod 755 "$ROOT"
chmod o+rx "$PWD/bench/.venv-c-$label" 2>/dev/null || true
cat > "$ROOT/hello.wsgi" <<'PY'
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello World!\n"]
PY
printf 'Hello World!\n' > "$ROOT/static.txt"
chmod -R a+rX "$ROOT"

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Writes a config for MODULE (or none) on PORT into $ROOT/$NAME.conf.
write_conf() {
    local name=$1 port=$2 module=$3
    cat > "$ROOT/$name.conf" <<CONF
ServerRoot "$ROOT"
Listen 127.0.0.1:$port
ServerName 127.0.0.1
PidFile "$ROOT/$name.pid"
ErrorLog "$ROOT/$name.error.log"
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig /etc/mime.types
StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
KeepAlive On
MaxKeepAliveRequests 0
DocumentRoot "$ROOT"
<Directory "$ROOT">
    Require all granted
</Directory>
${module:+LoadModule wsgi_module "$module"}
${module:+WSGIScriptAlias /hello "$ROOT/hello.wsgi"}
${module:+WSGIApplicationGroup %\{GLOBAL\}}
CONF
}

# Runs wrk against URL; prints "requests_per_sec p99_ms".
measure() {
    local url=$1 out
    wrk -t1 -c4 -d2s "$url" >/dev/null 2>&1 || true   # warm-up
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url")
    local rps p99
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
    echo "$rps $p99"
}

run_one() {
    local name=$1 module=$2 path=$3 port
    port=$(free_port)
    write_conf "$name" "$port" "$module"
    /usr/sbin/apache2 -f "$ROOT/$name.conf" -k start
    for _ in $(seq 50); do
        curl -sf "http://127.0.0.1:$port$path" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -sf "http://127.0.0.1:$port$path" >/dev/null || { cat "$ROOT/$name.error.log" >&2; exit 1; }
    measure "http://127.0.0.1:$port$path"
    /usr/sbin/apache2 -f "$ROOT/$name.conf" -k stop
    for _ in $(seq 50); do [ -e "$ROOT/$name.pid" ] || break; sleep 0.2; done
}

command -v curl >/dev/null || { apt-get update -q && apt-get install -y -q curl; }
read -r ours_rps ours_p99 < <(run_one ours "$OURS" /hello)
read -r c_rps c_p99 < <(run_one cmod "$THEIRS" /hello)
read -r st_rps st_p99 < <(run_one static "" /static.txt)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
py_version=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
apache_version=$(/usr/sbin/apache2 -v | awk -F': ' '/Server version/ {print $2}')
{
    echo "Hello world, embedded mode, event MPM (2 processes x 25 threads), keep-alive,"
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on 127.0.0.1; Python $py_version; $apache_version; $(nproc) cores."
    echo
    echo "| server | requests/s | p99 latency (ms) | requests/s vs C mod_wsgi | p99 vs C mod_wsgi |"
    echo "|---|---|---|---|---|"
    echo "| mod_wsgi (Rust, this repo) | $ours_rps | $ours_p99 | $(ratio "$ours_rps" "$c_rps")x | $(ratio "$ours_p99" "$c_p99")x |"
    echo "| mod_wsgi 6.1.1 (C, PyPI) | $c_rps | $c_p99 | 1.00x | 1.00x |"
    echo "| Apache static file, same bytes | $st_rps | $st_p99 | $(ratio "$st_rps" "$c_rps")x | $(ratio "$st_p99" "$c_p99")x |"
} | tee bench/latest.md
