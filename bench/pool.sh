#!/usr/bin/env bash
# WSGIInterpreterPool benchmark: the seed's CPU-bound workload (about 3 ms
# of pure-Python CPU, a 1 ms sleep, a 1 KB body) in daemon mode, four
# ways on the same front end, all in one run:
#   ours-pool     one daemon process, 4 threads, WSGIInterpreterPool 2
#   ours-procs    two daemon processes of 2 threads, main interpreter
#   c-dispatch    the C mod_wsgi 6.1.1: one daemon process, 4 threads, the
#                 seed's recipe (WSGIPerInterpreterGIL On and a dispatch
#                 script spreading requests over 2 named sub-interpreters)
#   c-procs       the C module, two daemon processes of 2 threads
# The four servers run side by side; wrk measures each in turn, ROUNDS
# rounds, the order reversed every other round. Ratios are medians of the
# per-round ratios. Goal (issue #17): ours-pool at least 0.9x ours-procs.
# Traffic: 127.0.0.1 only.
#
# Usage: bench/pool.sh [seconds-per-run]   (env: PYTHON, ROUNDS, MEMBERS)
# MEMBERS (default 2) sets the pool size, the process count and the
# dispatch script's interpreters alike; threads are 2 per member.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
MEMBERS=${MEMBERS:-2}
PYTHON=${PYTHON:-$(bash -c 'source scripts/pythons.sh; for p in "${PYTHONS[@]}"; do case $(python_label "$p") in py313) echo "$p";; esac; done')}
source bench/lib.sh
ensure_tools
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 12), "own-GIL pools need Python 3.12+"'

build_modules

bench_root poolbench
write_cpu_app
THREADS_TOTAL=$((2 * MEMBERS))
CONNECTIONS=$THREADS_TOTAL
cat > "$ROOT/dispatch.py" <<PY
# The seed's recipe: round-robin over named own-GIL sub-interpreters.
import itertools
import threading

_lock = threading.Lock()
_counter = itertools.count()
INTERPRETERS = ["member_%d" % k for k in range($MEMBERS)]


def application_group(environ):
    with _lock:
        n = next(_counter)
    return INTERPRETERS[n % len(INTERPRETERS)]
PY
chmod -R a+rX "$ROOT"

# Writes $ROOT/$name.conf: the front end, then the daemon set-up of NAME.
write_conf() {
    local name=$1 port=$2 module=$3
    {
        conf_head "$name" "$port"
        one_child_conf 25
        cat <<CONF
LoadModule wsgi_module "$module"
WSGISocketPrefix "$ROOT/$name"
WSGIProcessGroup bench
CONF
        case $name in
        ours-pool) cat <<CONF ;;
WSGIDaemonProcess bench processes=1 threads=$THREADS_TOTAL
WSGIScriptAlias /cpu "$ROOT/cpu.wsgi" application-group=pooled
<WSGIInterpreterOptions application-group=pooled>
    WSGIInterpreterPool $MEMBERS
</WSGIInterpreterOptions>
CONF
        c-dispatch) cat <<CONF ;;
WSGIDaemonProcess bench processes=1 threads=$THREADS_TOTAL
WSGIPerInterpreterGIL On
WSGIDispatchScript "$ROOT/dispatch.py"
WSGIScriptAlias /cpu "$ROOT/cpu.wsgi" application-group=%{ENV:APPLICATION_GROUP}
CONF
        *-procs) cat <<CONF ;;
WSGIDaemonProcess bench processes=$MEMBERS threads=2
WSGIScriptAlias /cpu "$ROOT/cpu.wsgi" application-group=%{GLOBAL}
CONF
        esac
    } > "$ROOT/$name.conf"
}

order=(ours-pool ours-procs c-dispatch c-procs)
declare -A URL=() RPS=() P99=()
for name in "${order[@]}"; do
    case $name in ours-*) module=$OURS ;; *) module=$THEIRS ;; esac
    port=$(free_port)
    write_conf "$name" "$port" "$module"
    URL[$name]="http://127.0.0.1:$port/cpu"
    start_server "$name" "${URL[$name]}"
    # Every member, process and interpreter imports the script now.
    wrk -t1 -c"$CONNECTIONS" -d3s "${URL[$name]}" >/dev/null 2>&1 || true
done

declare -A P50=()
measure_slice() { preloaded_wrk -t1 -c"$CONNECTIONS" "${URL[$1]}"; }
run_rounds "${order[@]}"

for name in "${order[@]}"; do
    check_log "$name"
    stop_server "$name"
done

declare -A MRPS=() MP99=()
for name in "${order[@]}"; do
    MRPS[$name]=$(median <<<"${RPS[$name]}")
    MP99[$name]=$(median <<<"${P99[$name]}")
done
pool_vs_procs=$(median <<<"$(per_round "${RPS[ours-pool]}" "${RPS[ours-procs]}")")
if awk -v m="$pool_vs_procs" 'BEGIN { exit !(m >= 0.9) }'; then goal="met"; else goal="MISSED"; fi

row() {
    local name=$1 label=$2
    echo "| $label | ${MRPS[$name]} | ${MP99[$name]} | ${RPS[$name]% } |"
}
{
    echo "Interpreter pool: the seed's CPU workload (loop of $LOOPS iterations, ~3 ms; 1 ms sleep; 1 KB body),"
    echo "daemon mode behind one event-MPM child; $MEMBERS members / processes / interpreters, 2 threads each;"
    echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s on 127.0.0.1, $ROUNDS rounds, order reversed every other round;"
    echo "$(versions); $(nproc) cores."
    echo
    echo "| configuration | requests/s (median) | p99 ms (median) | requests/s per round |"
    echo "|---|---|---|---|"
    row ours-pool "ours: 1 process, WSGIInterpreterPool $MEMBERS"
    row ours-procs "ours: $MEMBERS processes"
    row c-dispatch "C 6.1.1: 1 process, dispatch script over $MEMBERS own-GIL interpreters"
    row c-procs "C 6.1.1: $MEMBERS processes"
    echo
    echo "Pool / processes (ours): $(paired "${RPS[ours-pool]}" "${RPS[ours-procs]}"); goal 0.9x: $goal."
    echo "Pool (ours) / dispatch recipe (C): $(paired "${RPS[ours-pool]}" "${RPS[c-dispatch]}")."
    echo "Processes, ours / C: $(paired "${RPS[ours-procs]}" "${RPS[c-procs]}")."
} | tee bench/pool-latest.md
