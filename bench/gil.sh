#!/usr/bin/env bash
# Per-interpreter GIL benchmark (the seed's CPU-bound workload): about 3 ms
# of pure-Python CPU, a 1 ms sleep and a 1 KB body per request. One Apache
# child (event MPM) with 10 threads; a dispatch script spreads requests
# round-robin over four named sub-interpreters. Each module runs twice,
# with WSGIPerInterpreterGIL Off (shared GIL) and On (own GIL): ours and
# the C mod_wsgi 6.1.1 (PyPI, built against the same Apache and Python) on
# the same generated configuration, in one run.
#
# The servers run side by side and wrk measures them in turn, ROUNDS
# times, the order reversed every other round, each run preceded by 1 s of
# the same load. The table gives medians over the rounds; the ours / C
# ratios are medians of the per-round ratios. Goal (issue #20): our p99 no
# worse than the C module's on each row. Traffic: 127.0.0.1 only.
#
# Usage: bench/gil.sh [seconds-per-run]
#        (env: PYTHON, CONNECTIONS, ROUNDS, MODES="shared own")
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-5}
ROUNDS=${ROUNDS:-6}
MODES=${MODES:-shared own}
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

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A URL=() RPS=() P50=() P99=() GIL=([shared]=Off [own]=On)
order=()
for mode in $MODES; do
    for module in ours c; do
        name=$module-$mode
        case $module in ours) so=$OURS ;; c) so=$THEIRS ;; esac
        port=$(free_port)
        write_conf "$name" "$port" "$so" "${GIL[$mode]}"
        URL[$name]="http://127.0.0.1:$port/cpu"
        start_server "$name" "${URL[$name]}"
        wrk -t1 -c"$CONNECTIONS" -d3s "${URL[$name]}" >/dev/null 2>&1 || true  # warm all four
        order+=("$name")
    done
done

measure_slice() { preloaded_wrk -t1 -c"$CONNECTIONS" "${URL[$1]}"; }
run_rounds "${order[@]}"
for name in "${order[@]}"; do
    check_log "$name"
    stop_server "$name"
done

{
    echo "CPU-bound workload (pure-Python loop of $LOOPS iterations, calibrated to ~3 ms in the command-line"
    echo "interpreter; 1 ms sleep; 1 KB body),"
    echo "one Apache child (event MPM) with 10 threads, dispatch round-robin over 4 sub-interpreters,"
    echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s on 127.0.0.1, $ROUNDS rounds, order reversed every other round;"
    echo "$(versions); $(nproc) cores; load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| GIL | module | req/s (median) | p50 ms | p99 ms | ours / C req/s | ours / C p99 | p99 per round (ms) |"
    echo "|---|---|---|---|---|---|---|---|"
    for mode in $MODES; do
        for module in ours c; do
            name=$module-$mode
            if [ "$module" = ours ]; then
                rps_ratio=$(paired "${RPS[ours-$mode]}" "${RPS[c-$mode]}")
                p99_ratio=$(paired "${P99[ours-$mode]}" "${P99[c-$mode]}")
                label="mod_wsgi (Rust, this repo)"
            else
                rps_ratio=; p99_ratio=; label="mod_wsgi 6.1.1 (C, PyPI)"
            fi
            echo "| $mode | $label | $(median <<<"${RPS[$name]}") | $(median <<<"${P50[$name]}") | $(median <<<"${P99[$name]}") | $rps_ratio | $p99_ratio | ${P99[$name]% } |"
        done
    done
    if [[ " $MODES " == *" shared "* && " $MODES " == *" own "* ]]; then
        echo
        echo "Own / shared GIL, median req/s: ours $(ratio "$(median <<<"${RPS[ours-own]}")" "$(median <<<"${RPS[ours-shared]}")")x, C $(ratio "$(median <<<"${RPS[c-own]}")" "$(median <<<"${RPS[c-shared]}")")x."
    fi
} | tee bench/gil-latest.md
