#!/usr/bin/env bash
# Soak benchmark (a measurement, not a timed test): SOAK_ROUNDS x
# SOAK_PER_ROUND requests (default 20 x 10,000) of a mixed load against
# our module and the C mod_wsgi 6.1.1, in embedded and in daemon mode,
# sampling the resident set size of every Apache child and daemon process
# after each round. The mix (bench/soak_app.wsgi, bench/soak_client.py):
# hello world, a streamed generator response, wsgi.file_wrapper of a
# 64 KiB file, POST bodies of 2-6 KB read from wsgi.input (with a
# Content-Length, and chunked) and an application that raises (500).
# Every status and body is checked; anything unexpected fails the script.
#
# Apache keeps the same processes for the whole run: the event MPM runs
# one child (StartServers/ServerLimit 1, 8 threads, MaxSpareThreads at
# the thread count, MaxConnectionsPerChild 0) and daemon mode has one
# daemon process (WSGIDaemonProcess soak processes=1 threads=4). Growth
# is reported from the sample after SOAK_WARMUP_ROUNDS rounds to the last.
# Traffic goes to 127.0.0.1 only. Writes bench/soak-latest.md and the raw
# samples to bench/results/soak-*.json.
#
# With --valgrind: a short run of the same mix (SOAK_VALGRIND_REQUESTS,
# default 1,000) against a debug build of our module, in SOAK_MODES, with
# Apache in one process (apache2 -X) under valgrind's memcheck and
# PYTHONMALLOC=malloc, stopped with SIGTERM so the cleanups run; then the
# C module, embedded, the same way for comparison. The logs go to
# bench/results/valgrind-MODULE-MODE/; bench/soak_valgrind.py lists the
# error and "definitely lost" records that point at our code, or that
# grow with the requests, and fails if there are any.
#
# Usage: bench/soak.sh [--valgrind]
#   env: PYTHON, SOAK_ROUNDS, SOAK_PER_ROUND, SOAK_WARMUP_ROUNDS (2),
#        SOAK_CONNECTIONS (4), SOAK_MODES ("embedded daemon"),
#        SOAK_VALGRIND_REQUESTS (1000)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/root/.pyenv/versions/3.13.0/bin/python3}
ROUNDS=${SOAK_ROUNDS:-20}
PER_ROUND=${SOAK_PER_ROUND:-10000}
WARMUP=${SOAK_WARMUP_ROUNDS:-2}
CONNECTIONS=${SOAK_CONNECTIONS:-4}
MODES=${SOAK_MODES:-embedded daemon}
VALGRIND_REQUESTS=${SOAK_VALGRIND_REQUESTS:-1000}
VALGRIND=
case ${1:-} in
    --valgrind) VALGRIND=1 ;;
    "") ;;
    *) echo "usage: bench/soak.sh [--valgrind]" >&2; exit 2 ;;
esac
[ "$WARMUP" -lt "$ROUNDS" ] || { echo "SOAK_WARMUP_ROUNDS must be below SOAK_ROUNDS" >&2; exit 2; }
source bench/lib.sh
ensure_tools
if [ -n "$VALGRIND" ]; then
    command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
    # A debug build of ours: full stacks, debug assertions.
    PYO3_PYTHON="$PYTHON" CARGO_TARGET_DIR="target/$(py_label)-debug" cargo build -q
    OURS_DEBUG="$PWD/target/$(py_label)-debug/debug/libmod_wsgi.so"
    install_c
else
    build_modules
fi

bench_root soak
cp bench/soak_app.wsgi "$ROOT/soak_app.wsgi"
head -c 65536 /dev/urandom > "$ROOT/soak-data.bin"
chmod -R a+rX "$ROOT"
RESULTS=bench/results
mkdir -p "$RESULTS"

# Writes $ROOT/$name.conf: MODULE on PORT in MODE (embedded or daemon).
write_conf() {
    local name=$1 port=$2 module=$3 mode=$4
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
StartServers 1
ServerLimit 1
ThreadLimit 8
ThreadsPerChild 8
MinSpareThreads 1
MaxSpareThreads 8
MaxRequestWorkers 8
MaxConnectionsPerChild 0
KeepAlive On
KeepAliveTimeout 60
MaxKeepAliveRequests 0
<Directory "$ROOT">
    Require all granted
</Directory>
LoadModule wsgi_module "$module"
WSGISocketPrefix "$ROOT/wsgi"
WSGIScriptAlias /soak "$ROOT/soak_app.wsgi"
WSGIChunkedRequest On
CONF
    if [ "$mode" = daemon ]; then
        cat >> "$ROOT/$name.conf" <<CONF
WSGIDaemonProcess soak processes=1 threads=4 display-name=%{GROUP}
WSGIProcessGroup soak
CONF
    fi
}

# Fails (showing the end of the log) if server NAME logged a crash or a
# process replaced; the deliberate exceptions are expected there.
check_crashes() {
    local name=$1
    if grep -qE "Segmentation fault|Fatal Python error|exit signal|has died|panicked" "$ROOT/$name.error.log"; then
        echo "crash in $name:" >&2; tail -50 "$ROOT/$name.error.log" >&2; exit 1
    fi
}

# Soaks MODULE (ours or cmod) in MODE; writes $RESULTS/soak-NAME.json.
soak_one() {
    local label=$1 module=$2 mode=$3 name port status=0
    name="$label-$mode"
    port=$(free_port)
    write_conf "$name" "$port" "$module" "$mode"
    echo "== $name: $ROUNDS x $PER_ROUND requests" >&2
    start_server "$name" "http://127.0.0.1:$port/soak/hello"
    "$PYTHON" bench/soak_client.py --port "$port" --data "$ROOT/soak-data.bin" \
        --pidfile "$ROOT/$name.pid" --rounds "$ROUNDS" --per-round "$PER_ROUND" \
        --connections "$CONNECTIONS" --out "$RESULTS/soak-$name.json" || status=$?
    check_crashes "$name"
    stop_server "$name"
    [ "$status" -eq 0 ] || { echo "$name: unexpected responses, see $RESULTS/soak-$name.json" >&2; exit 1; }
}

# Runs MODULE (LABEL: ours or cmod) in MODE under valgrind (apache2 -X),
# drives $VALGRIND_REQUESTS requests of the mix, stops it with SIGTERM;
# leaves the logs in $RESULTS/valgrind-LABEL-MODE/.
valgrind_one() {
    local label=$1 module=$2 mode=$3 name port logs pid status=0
    name="valgrind-$label-$mode"
    logs="$RESULTS/$name"
    rm -rf "$logs"; mkdir -p "$logs"
    port=$(free_port)
    write_conf "$name" "$port" "$module" "$mode"
    echo "== $name: $VALGRIND_REQUESTS requests" >&2
    LD_PRELOAD="$ROOT/nodlclose.so" PYTHONMALLOC=malloc \
        valgrind --tool=memcheck --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --num-callers=40 --run-libc-freeres=no --log-file="$ROOT/vg.%p.log" \
        /usr/sbin/apache2 -X -f "$ROOT/$name.conf" &
    pid=$!
    for _ in $(seq 600); do
        curl -sf -m 60 "http://127.0.0.1:$port/soak/hello" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    "$PYTHON" bench/soak_client.py --port "$port" --data "$ROOT/soak-data.bin" \
        --rounds 1 --per-round "$VALGRIND_REQUESTS" --connections 2 --timeout 120 \
        --out "$logs/client.json" || status=$?
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    check_crashes "$name"
    mv "$ROOT"/vg.*.log "$ROOT/$name.error.log" "$logs/"
    [ "$status" -eq 0 ] || { echo "$name: unexpected responses, see $logs/client.json" >&2; exit 1; }
}

if [ -n "$VALGRIND" ]; then
    # Apache unloads the modules (and with them libpython) before the
    # process exits; memory only their static data pointed to would then
    # read as "definitely lost" and their frames as "???". A dlclose that
    # unloads nothing keeps both honest.
    printf 'int dlclose(void *handle) { (void)handle; return 0; }\n' |
        cc -shared -fPIC -x c - -o "$ROOT/nodlclose.so"
    for mode in $MODES; do
        valgrind_one ours "$OURS_DEBUG" "$mode"
    done
    # The C module under the same load, for the noise Python and Apache
    # make on their own (its findings do not fail the script).
    valgrind_one cmod "$THEIRS" embedded
    echo "== the C mod_wsgi 6.1.1, embedded, for comparison:"
    "$PYTHON" bench/soak_valgrind.py "$VALGRIND_REQUESTS" "$RESULTS"/valgrind-cmod-embedded/vg.*.log || true
    echo "== ours:"
    logs=()
    for mode in $MODES; do logs+=("$RESULTS/valgrind-ours-$mode"/vg.*.log); done
    "$PYTHON" bench/soak_valgrind.py "$VALGRIND_REQUESTS" "${logs[@]}"
    exit
fi

runs=()
for mode in $MODES; do
    soak_one ours "$OURS" "$mode"
    soak_one cmod "$THEIRS" "$mode"
    runs+=("$RESULTS/soak-ours-$mode.json" "$RESULTS/soak-cmod-$mode.json")
done
header="Soak: $ROUNDS x $PER_ROUND requests per server (mix: hello, streamed generator,
wsgi.file_wrapper 64 KiB, POST 2-6 KB with Content-Length and chunked, exception -> 500),
$CONNECTIONS keep-alive connections; event MPM, one child of 8 threads; daemon mode:
processes=1 threads=4; $(versions); $(nproc) cores; $(date -u +%Y-%m-%d)."
"$PYTHON" bench/soak_report.py "$WARMUP" "$header" "${runs[@]}" | tee bench/soak-latest.md
