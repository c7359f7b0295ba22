#!/usr/bin/env bash
# Hello-world benchmark, daemon mode: our module vs the C mod_wsgi 6.1.1
# (built from PyPI against the same Apache and Python). The application
# runs in a daemon process group (2 processes x 5 threads) behind the same
# event MPM front end as bench/run.sh. One generated config; only the
# LoadModule line differs. Traffic goes to 127.0.0.1 only.
#
# Usage: bench/daemon.sh [seconds-per-run]
#   env: PYTHON, CONNECTIONS, THREADS, and ACCEPT_MUTEX (a WSGIAcceptMutex
#   method given to both modules; unset: no directive, each module's default)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
PYTHON=${PYTHON:-/usr/bin/python3.11}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
ACCEPT_MUTEX=${ACCEPT_MUTEX:-}
source bench/lib.sh
ensure_tools
build_modules

bench_root daemonbench
write_hello_app
chmod -R a+rX "$ROOT"

# Writes a config for MODULE on PORT into $ROOT/$NAME.conf.
write_conf() {
    local name=$1 port=$2 module=$3
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
$(front_end_conf)
LoadModule wsgi_module "$module"
WSGISocketPrefix "$ROOT/wsgi"
${ACCEPT_MUTEX:+WSGIAcceptMutex $ACCEPT_MUTEX}
WSGIDaemonProcess hello processes=2 threads=5
WSGIScriptAlias /hello "$ROOT/hello.wsgi" process-group=hello application-group=%{GLOBAL}
CONF
}

# Prints "requests_per_sec p99_ms" for MODULE.
run_one() {
    local name=$1 module=$2 port result
    port=$(free_port)
    write_conf "$name" "$port" "$module"
    start_server "$name" "http://127.0.0.1:$port/hello"
    result=$(measure "http://127.0.0.1:$port/hello")
    check_log "$name"
    stop_server "$name"
    echo "$result"
}

read -r ours_rps ours_p99 < <(run_one ours "$OURS")
read -r c_rps c_p99 < <(run_one cmod "$THEIRS")

{
    echo "Hello world, daemon mode (WSGIDaemonProcess processes=2 threads=5${ACCEPT_MUTEX:+, WSGIAcceptMutex $ACCEPT_MUTEX}), front end event MPM"
    echo "(2 processes x 25 threads), keep-alive,"
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on 127.0.0.1; $(versions); $(nproc) cores."
    echo
    echo "| server | requests/s | p99 latency (ms) | requests/s vs C mod_wsgi | p99 vs C mod_wsgi |"
    echo "|---|---|---|---|---|"
    echo "| mod_wsgi (Rust, this repo) | $ours_rps | $ours_p99 | $(ratio "$ours_rps" "$c_rps")x | $(ratio "$ours_p99" "$c_p99")x |"
    echo "| mod_wsgi 6.1.1 (C, PyPI) | $c_rps | $c_p99 | 1.00x | 1.00x |"
} | tee bench/daemon-latest.md
