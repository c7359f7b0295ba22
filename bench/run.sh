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
source bench/lib.sh
ensure_tools
build_modules

bench_root bench
write_hello_app
printf 'Hello World!\n' > "$ROOT/static.txt"
chmod -R a+rX "$ROOT"

# Writes a config for MODULE (or none) on PORT into $ROOT/$NAME.conf.
write_conf() {
    local name=$1 port=$2 module=$3
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
$(front_end_conf)
${module:+LoadModule wsgi_module "$module"}
${module:+WSGIScriptAlias /hello "$ROOT/hello.wsgi"}
${module:+WSGIApplicationGroup %\{GLOBAL\}}
CONF
}

run_one() {
    local name=$1 module=$2 path=$3 port
    port=$(free_port)
    write_conf "$name" "$port" "$module"
    start_server "$name" "http://127.0.0.1:$port$path"
    measure "http://127.0.0.1:$port$path"
    stop_server "$name"
}

read -r ours_rps ours_p99 < <(run_one ours "$OURS" /hello)
read -r c_rps c_p99 < <(run_one cmod "$THEIRS" /hello)
read -r st_rps st_p99 < <(run_one static "" /static.txt)

{
    echo "Hello world, embedded mode, event MPM (2 processes x 25 threads), keep-alive,"
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on 127.0.0.1; $(versions); $(nproc) cores."
    echo
    echo "| server | requests/s | p99 latency (ms) | requests/s vs C mod_wsgi | p99 vs C mod_wsgi |"
    echo "|---|---|---|---|---|"
    echo "| mod_wsgi (Rust, this repo) | $ours_rps | $ours_p99 | $(ratio "$ours_rps" "$c_rps")x | $(ratio "$ours_p99" "$c_p99")x |"
    echo "| mod_wsgi 6.1.1 (C, PyPI) | $c_rps | $c_p99 | 1.00x | 1.00x |"
    echo "| Apache static file, same bytes | $st_rps | $st_p99 | $(ratio "$st_rps" "$c_rps")x | $(ratio "$st_p99" "$c_p99")x |"
} | tee bench/latest.md
