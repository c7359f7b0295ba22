# shellcheck shell=bash disable=SC2034,SC2153  # sourced: OURS/THEIRS are for the caller, THREADS & co come from it
# Sourced by the bench scripts: what every benchmark needs to run our
# module and the C mod_wsgi 6.1.1 on the same generated Apache
# configuration. Expects PYTHON and ROOT (the scratch server root).

ensure_tools() {
    local tool
    for tool in wrk curl; do
        command -v "$tool" >/dev/null || { apt-get update -q && apt-get install -y -q "$tool"; }
    done
    bash scripts/deps.sh >/dev/null
}

# Builds our module and installs the C one for $PYTHON; sets OURS, THEIRS.
build_modules() {
    build_ours
    install_c
}

py_label() { "$PYTHON" -c 'import sys; print("py%d%d" % sys.version_info[:2])'; }

# Builds our module for $PYTHON; sets OURS.
build_ours() {
    local label
    label=$(py_label)
    PYO3_PYTHON="$PYTHON" CARGO_TARGET_DIR="target/$label" cargo build --release -q
    OURS="$PWD/target/$label/release/libmod_wsgi.so"
}

# Installs the C mod_wsgi 6.1.1 for $PYTHON into bench/.venv-c-pyXY; sets THEIRS.
install_c() {
    local venv
    venv="bench/.venv-c-$(py_label)"
    if [ ! -x "$venv/bin/mod_wsgi-express" ]; then
        "$PYTHON" -m venv "$venv"
        "$venv/bin/pip" install -q 'mod_wsgi==6.1.1'
    fi
    THEIRS=$("$venv/bin/mod_wsgi-express" module-location)
    # Apache's children (www-data) load the C module from the virtualenv.
    chmod -R o+rX "$venv"
}

# The framework virtualenv of the tests for $PYTHON: the packages pinned in
# tests/common/venv.rs (REQUIREMENTS, read from there so both stay the
# same), installed from PyPI once under /var/tmp/mod_wsgi-bench-venvs
# (directories 755, so the www-data children can read it; /root is not).
# The name covers the interpreter and the pins, as the tests' does. Sets
# FRAMEWORK_VENV.
framework_venv() {
    local base=/var/tmp/mod_wsgi-bench-venvs key dir
    local -a reqs
    mapfile -t reqs < <(awk '/^pub const REQUIREMENTS/,/^\];/' tests/common/venv.rs |
        grep -oE '"[A-Za-z0-9_.-]+==[^"]+"' | tr -d '"')
    [ "${#reqs[@]}" -gt 0 ] || { echo "no pinned packages found in tests/common/venv.rs" >&2; exit 1; }
    key=$({ "$PYTHON" -c 'import os, sys; print(os.path.realpath(sys.executable)); print(sys.version)'
            printf '%s\n' "${reqs[@]}"; } | sha256sum | cut -c1-16)
    dir="$base/$(py_label)-$key"
    if [ ! -e "$dir/.complete" ]; then
        rm -rf "$dir"
        mkdir -p "$base"
        chmod 755 "$base"
        "$PYTHON" -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check --no-input "${reqs[@]}"
        chmod -R o+rX "$dir"
        touch "$dir/.complete"
    fi
    FRAMEWORK_VENV=$dir
}

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The start of every generated configuration: server NAME on PORT.
conf_head() {
    local name=$1 port=$2
    cat <<CONF
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
CONF
}

# The hello-world app the benchmarks serve, as $ROOT/hello.wsgi.
write_hello_app() {
    cat > "$ROOT/hello.wsgi" <<'PY'
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello World!\n"]
PY
}

# The Apache front end of the hello-world benchmarks: event MPM with
# 2 processes x 25 threads, keep-alive, $ROOT as the document root.
front_end_conf() {
    cat <<CONF
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
CONF
}

# The Apache front end of the single-child benchmarks: event MPM, one
# process of THREADS threads, keep-alive, $ROOT readable.
one_child_conf() {
    local threads=$1
    cat <<CONF
StartServers 1
ServerLimit 1
ThreadLimit $threads
ThreadsPerChild $threads
MaxRequestWorkers $threads
KeepAlive On
MaxKeepAliveRequests 0
<Directory "$ROOT">
    Require all granted
</Directory>
CONF
}

# Starts server NAME and waits until URL answers (or shows its log and exits).
start_server() {
    local name=$1 url=$2
    /usr/sbin/apache2 -f "$ROOT/$name.conf" -k start
    for _ in $(seq 50); do
        curl -sf "$url" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -sf "$url" >/dev/null || { cat "$ROOT/$name.error.log" >&2; exit 1; }
}

stop_server() {
    local name=$1
    /usr/sbin/apache2 -f "$ROOT/$name.conf" -k stop
    for _ in $(seq 50); do [ -e "$ROOT/$name.pid" ] || break; sleep 0.2; done
}

# Makes ROOT, the scratch server root of one benchmark (/tmp/mod_wsgi-TAG.*),
# and arranges its removal on exit with every server under it and the
# background processes the script lists in BACKGROUND_PIDS. It is 0755:
# Apache's children and daemons (www-data) reach the daemon sockets the
# parent (root) makes there, and the apps.
BACKGROUND_PIDS=()
bench_root() {
    ROOT=$(mktemp -d "/tmp/mod_wsgi-$1.XXXXXX")
    trap 'stop_pids "${BACKGROUND_PIDS[@]}"; cleanup_root' EXIT
    chmod 755 "$ROOT"
}

# For an EXIT trap: stops every server under $ROOT still running (so no
# Apache or daemon process outlives the script), then removes $ROOT.
cleanup_root() {
    local conf name
    for conf in "$ROOT"/*.conf; do
        [ -e "$conf" ] || continue
        name=$(basename "$conf" .conf)
        [ -e "$ROOT/$name.pid" ] && stop_server "$name" >/dev/null 2>&1
    done
    rm -rf "$ROOT"
}

# Stops the background processes PIDS (empty ones are skipped) started by
# this shell, and reaps them.
stop_pids() {
    local pid
    for pid in "$@"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

# Fails (showing the log) if server NAME logged a crash or a Python error.
check_log() {
    local name=$1
    if grep -qE "Segmentation fault|Fatal Python error|Traceback|\[wsgi:error\]" "$ROOT/$name.error.log"; then
        echo "errors in $name:" >&2; cat "$ROOT/$name.error.log" >&2; exit 1
    fi
}

# Warms URL up, then runs wrk -t$THREADS -c$CONNECTIONS for $DURATION
# seconds; prints "requests_per_sec p99_ms".
measure() {
    local url=$1
    wrk -t1 -c4 -d2s "$url" >/dev/null 2>&1 || true   # warm-up
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url" | wrk_result
}

# Reads wrk --latency output; prints "requests_per_sec p99_ms".
wrk_result() {
    local out
    out=$(cat)
    echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(wrk_percentile 99 <<<"$out")"
}

# Reads wrk --latency output; prints "requests_per_sec p50_ms p99_ms", or
# nothing (and wrk's output on stderr) if any answer was not 2xx or 3xx.
wrk_result_p50() {
    local out
    out=$(cat)
    if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
        echo "$out" >&2
        return
    fi
    echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(wrk_percentile 50 <<<"$out") $(wrk_percentile 99 <<<"$out")"
}

# Reads wrk --latency output; prints the latency at percentile PCT (50,
# 75, 90 or 99: the lines of wrk's distribution) in ms.
wrk_percentile() {
    awk -v p="$1%" '$1==p {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# "Python X.Y.Z; Apache/..." for the report header.
versions() {
    local py apache
    py=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
    apache=$(/usr/sbin/apache2 -v | awk -F': ' '/Server version/ {print $2}')
    echo "Python $py; $apache"
}

# The seed's CPU-bound workload as $ROOT/cpu.wsgi: a pure-Python loop
# calibrated to about 3 ms of CPU in $PYTHON on this machine, a 1 ms sleep
# and a 1 KB body. Sets LOOPS.
write_cpu_app() {
    LOOPS=$("$PYTHON" - <<'PY'
import time
def work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
n = 10000
while True:
    t = time.perf_counter(); work(n); took = time.perf_counter() - t
    if took > 0.05:
        break
    n *= 2
print(int(n * 0.003 / took))
PY
)
    cat > "$ROOT/cpu.wsgi" <<PY
import time

LOOPS = $LOOPS
BODY = b"x" * 1024


def application(environ, start_response):
    total = 0
    for i in range(LOOPS):
        total += i * i % 7
    time.sleep(0.001)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]
PY
}

# One measured slice: 1 s of the same load first (the server was idle
# while the others were measured), then DURATION seconds with --latency.
# Arguments: wrk's options, then the URL. Prints "requests_per_sec p50_ms
# p99_ms".
preloaded_wrk() {
    wrk "$@" -d1s >/dev/null 2>&1 || true
    wrk "$@" -d"${DURATION}s" --latency | wrk_result_p50
}

# Measures each of the slices named in the arguments ROUNDS times: in the
# given order on odd rounds, reversed on even ones, so drift on the shared
# machine hits all alike. The caller's measure_slice NAME measures one and
# prints "requests_per_sec p50_ms p99_ms"; the figures are appended, space
# separated, to RPS[NAME], P50[NAME] and P99[NAME] (associative arrays the
# caller declares).
# shellcheck disable=SC2004  # the arrays are associative (the caller's)
run_rounds() {
    local round name rps p50 p99 i
    local -a names
    for round in $(seq "$ROUNDS"); do
        names=("$@")
        if [ $((round % 2)) -eq 0 ]; then
            names=()
            for ((i = $#; i >= 1; i--)); do names+=("${!i}"); done
        fi
        for name in "${names[@]}"; do
            read -r rps p50 p99 < <(measure_slice "$name")
            if [ -z "$rps" ] || [ -z "$p50" ] || [ -z "$p99" ]; then
                echo "no wrk result for $name" >&2; exit 1
            fi
            RPS[$name]+="$rps "
            P50[$name]+="$p50 "
            P99[$name]+="$p99 "
            echo "round $round: $name $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
        done
    done
}

# Median of the numbers on stdin (space or newline separated).
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# The runs compared come from the same round, seconds apart, so ratios
# are taken per round. per_round A B: each round's A / B.
per_round() {
    awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= n; i++) printf "%.2f ", x[i] / y[i] }'
}

# "median (round 1, round 2, ...)" of A / B.
paired() {
    local per
    per=$(per_round "$1" "$2")
    echo "$(median <<<"$per")x (${per% })"
}
