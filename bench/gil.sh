#!/usr/bin/env bash
# Per-interpreter GIL benchmark (the seed's CPU-bound workload): about 3 ms
# of pure-Python CPU, a 1 ms sleep and a 1 KB body per request. One Apache
# child (event MPM) with 10 threads; a dispatch script spreads requests
# round-robin over four named sub-interpreters. Each module runs twice,
# with WSGIPerInterpreterGIL Off (shared GIL) and On (own GIL): ours and
# the C mod_wsgi 6.1.1 (PyPI, built against the same Apache and Python) on
# the same generated configuration, in one run. Traffic: 127.0.0.1 only.
#
# Usage: bench/gil.sh [seconds-per-run]   (env: PYTHON, CONNECTIONS)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
PYTHON=${PYTHON:-$(bash -c 'source scripts/pythons.sh; for p in "${PYTHONS[@]}"; do case $(python_label "$p") in py312) echo "$p";; esac; done')}
CONNECTIONS=${CONNECTIONS:-10}
source bench/lib.sh
ensure_tools
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 12), "per-interpreter GIL needs Python 3.12+"'

build_modules

bench_root gilbench

write_cpu_app
# The same round-robin over four interpreters as the example.
cp examples/gil-modes/dispatch.py "$ROOT/dispatch.py"
chmod -R a+rX "$ROOT"

# Writes $ROOT/$name.conf for MODULE with WSGIPerInterpreterGIL $gil.
write_conf() {
    local name=$1 port=$2 module=$3 gil=$4
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
StartServers 1
ServerLimit 1
ThreadLimit 10
ThreadsPerChild 10
MinSpareThreads 1
MaxSpareThreads 10
MaxRequestWorkers 10
KeepAlive On
MaxKeepAliveRequests 0
<Directory "$ROOT">
    Require all granted
</Directory>
LoadModule wsgi_module "$module"
WSGIPerInterpreterGIL $gil
WSGIDispatchScript "$ROOT/dispatch.py"
WSGIScriptAlias /cpu "$ROOT/cpu.wsgi" application-group=%{ENV:APPLICATION_GROUP}
CONF
}

# Prints "requests_per_sec p99_ms" for one configuration.
run_one() {
    local name=$1 module=$2 gil=$3 port result
    port=$(free_port)
    write_conf "$name" "$port" "$module" "$gil"
    start_server "$name" "http://127.0.0.1:$port/cpu"
    wrk -t1 -c"$CONNECTIONS" -d3s "http://127.0.0.1:$port/cpu" >/dev/null 2>&1 || true  # warm all four
    result=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/cpu" | wrk_result)
    check_log "$name"
    stop_server "$name"
    echo "$result"
}

read -r ours_shared ours_shared_p99 < <(run_one ours-shared "$OURS" Off)
read -r ours_own ours_own_p99 < <(run_one ours-own "$OURS" On)
read -r c_shared c_shared_p99 < <(run_one c-shared "$THEIRS" Off)
read -r c_own c_own_p99 < <(run_one c-own "$THEIRS" On)

{
    echo "CPU-bound workload (pure-Python loop of $LOOPS iterations, calibrated to ~3 ms in the command-line"
    echo "interpreter; 1 ms sleep; 1 KB body),"
    echo "one Apache child (event MPM) with 10 threads, dispatch round-robin over 4 sub-interpreters,"
    echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s on 127.0.0.1; $(versions); $(nproc) cores."
    echo
    echo "| module | shared GIL req/s | own GIL req/s | own / shared | shared p99 (ms) | own p99 (ms) |"
    echo "|---|---|---|---|---|---|"
    echo "| mod_wsgi (Rust, this repo) | $ours_shared | $ours_own | $(ratio "$ours_own" "$ours_shared")x | $ours_shared_p99 | $ours_own_p99 |"
    echo "| mod_wsgi 6.1.1 (C, PyPI) | $c_shared | $c_own | $(ratio "$c_own" "$c_shared")x | $c_shared_p99 | $c_own_p99 |"
    echo
    echo "Own GIL, ours vs C: $(ratio "$ours_own" "$c_own")x requests/s."
} | tee bench/gil-latest.md
