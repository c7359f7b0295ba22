#!/usr/bin/env bash
# Telemetry overhead benchmark, daemon mode: the hello-world app of
# bench/daemon.sh (WSGIDaemonProcess processes=2 threads=5 behind the event
# MPM front end), served by our module and by the C mod_wsgi 6.1.1, each
# with the telemetry reporter off and on. "On" adds
#     WSGITelemetryService unix:$ROOT/NAME.sock interval=1.0
# with a small receiver bound to that socket that drains (and counts) the
# datagrams, so the reporter's sendto() succeeds. One generated config;
# only the LoadModule line and that directive differ.
#
# The four servers run side by side and wrk measures them in turn, ROUNDS
# times, the order reversed every other round (ours off, ours on, C off,
# C on; then C on, C off, ours on, ours off), so drift on the shared 2-core
# machine hits both settings alike. The table gives the median of the
# rounds; each ratio is the median of the per-round ratios (the runs of a
# round are seconds apart), which drift between rounds does not move.
# Each run is preceded by 1 s of the same load. Defaults: 10 rounds of
# 4 s runs, about 4 minutes in all. Traffic goes to
# 127.0.0.1 only.
#
# Usage: bench/telemetry.sh [seconds-per-run]
#        (env: PYTHON, CONNECTIONS, THREADS, ROUNDS)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-4}
PYTHON=${PYTHON:-/usr/bin/python3.11}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-10}
source bench/lib.sh
ensure_tools
build_modules

bench_root telemetrybench
write_hello_app

# The receiver: binds the telemetry socket (mode 0666, so the www-data
# daemons may send to it), drains datagrams until SIGTERM or its time
# limit, then writes "datagrams seconds kinds" to OUT (kinds as kind:count, the
# kind being the reporter's header byte 5 after the b"WSGI" magic).
cat > "$ROOT/receiver.py" <<'PY'
import os, signal, socket, sys, time

path, limit, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if os.path.exists(path):
    os.unlink(path)
sock.bind(path)
os.chmod(path, 0o666)
sock.settimeout(0.2)
kinds = {}
bound = time.monotonic()
deadline = bound + limit
while not stop and time.monotonic() < deadline:
    try:
        data = sock.recv(65536)
    except socket.timeout:
        continue
    kind = data[5] if len(data) >= 24 and data[:4] == b"WSGI" else "bad"
    kinds[kind] = kinds.get(kind, 0) + 1
sock.close()
os.unlink(path)
with open(out, "w") as f:
    summary = ",".join("%s:%d" % (k, n) for k, n in sorted(kinds.items(), key=str))
    f.write("%d %.1f %s\n" % (sum(kinds.values()), time.monotonic() - bound, summary or "-"))
PY
chmod -R a+rX "$ROOT"

# Writes a config for MODULE on PORT into $ROOT/$NAME.conf; with telemetry
# (NAME ending in -on) it reports to $ROOT/$NAME.sock.
write_conf() {
    local name=$1 port=$2 module=$3 service=
    [ "${name##*-}" = on ] && service="WSGITelemetryService unix:$ROOT/$name.sock interval=1.0"
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
$(front_end_conf)
LoadModule wsgi_module "$module"
$service
WSGISocketPrefix "$ROOT/wsgi-$name"
WSGIDaemonProcess hello processes=2 threads=5
WSGIScriptAlias /hello "$ROOT/hello.wsgi" process-group=hello application-group=%{GLOBAL}
CONF
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
order=(ours-off ours-on cmod-off cmod-on)
declare -A URL=() RPS=() P99=()
# All four servers run side by side (the idle ones cost nothing but their
# reporters' datagrams), so the slices of one round follow each other
# seconds apart with no restart between them.
for name in "${order[@]}"; do
    case $name in ours-*) module=$OURS ;; *) module=$THEIRS ;; esac
    port=$(free_port)
    write_conf "$name" "$port" "$module"
    if [ "${name##*-}" = on ]; then
        "$PYTHON" "$ROOT/receiver.py" "$ROOT/$name.sock" $((ROUNDS * 4 * (DURATION + 2) + 120)) \
            "$ROOT/$name.count" &
        BACKGROUND_PIDS+=("$!")
        for _ in $(seq 50); do [ -S "$ROOT/$name.sock" ] && break; sleep 0.1; done
        [ -S "$ROOT/$name.sock" ] || { echo "receiver did not bind $ROOT/$name.sock" >&2; exit 1; }
    fi
    URL[$name]="http://127.0.0.1:$port/hello"
    start_server "$name" "${URL[$name]}"
    wrk -t1 -c4 -d2s "${URL[$name]}" >/dev/null 2>&1 || true   # warm-up
done

declare -A P50=()
measure_slice() { preloaded_wrk -t"$THREADS" -c"$CONNECTIONS" "${URL[$1]}"; }
run_rounds "${order[@]}"

# The receivers write their counts once stopped.
declare -A DGRAMS=() KINDS=()
for name in "${order[@]}"; do
    check_log "$name"
    stop_server "$name"
done
stop_pids "${BACKGROUND_PIDS[@]}"
BACKGROUND_PIDS=()
for name in ours-on cmod-on; do
    read -r count seconds kinds < "$ROOT/$name.count"
    DGRAMS[$name]=$(awk -v n="$count" -v t="$seconds" 'BEGIN { printf "%d in %ds (%.1f/s)", n, t, n / t }')
    KINDS[$name]=$kinds
done
DGRAMS[ours-off]=- DGRAMS[cmod-off]=-

declare -A MRPS=() MP99=()
for name in "${order[@]}"; do
    MRPS[$name]=$(median <<<"${RPS[$name]}")
    MP99[$name]=$(median <<<"${P99[$name]}")
done

row() {
    local name=$1 label=$2 setting=$3
    echo "| $label | $setting | ${MRPS[$name]} | ${MP99[$name]} | ${RPS[$name]% } |"
}
# The verdict on our goal: met when the median per-round ratio is at least
# 0.95, missed when three rounds in four are below it, otherwise within
# the round-to-round noise of this machine.
ours_rounds=$(per_round "${RPS[ours-on]}" "${RPS[ours-off]}")
ours_median=$(median <<<"$ours_rounds")
ours_q3=$(tr ' ' '\n' <<<"$ours_rounds" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((3 * NR + 3) / 4)] }')
if awk -v m="$ours_median" 'BEGIN { exit !(m >= 0.95) }'; then
    goal="met"
elif awk -v q="$ours_q3" 'BEGIN { exit !(q < 0.95) }'; then
    goal="MISSED (three rounds in four below 0.95)"
else
    goal="not shown: the median is below 0.95 but a quarter of the rounds or more reach it,"
    goal+=" so the gap is within this run's noise; rerun on a quiet machine or with more ROUNDS"
fi

{
    echo "Telemetry overhead: hello world, daemon mode (WSGIDaemonProcess processes=2 threads=5),"
    echo "front end event MPM (2 processes x 25 threads), keep-alive; \"on\" adds"
    echo "\`WSGITelemetryService unix:... interval=1.0\` with a receiver draining the socket."
    echo "The four servers run side by side; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on 127.0.0.1 measures"
    echo "each in turn, $ROUNDS rounds, order reversed every other round; $(versions); $(nproc) cores."
    echo
    echo "| server | telemetry | requests/s (median) | p99 latency (ms, median) | requests/s per round |"
    echo "|---|---|---|---|---|"
    row ours-off "mod_wsgi (Rust, this repo)" off
    row ours-on "mod_wsgi (Rust, this repo)" on
    row cmod-off "mod_wsgi 6.1.1 (C, PyPI)" off
    row cmod-on "mod_wsgi 6.1.1 (C, PyPI)" on
    echo
    echo "Ratios: median of the per-round ratios (each round's in brackets)."
    echo
    echo "| ratio | mod_wsgi (Rust) | mod_wsgi 6.1.1 (C) |"
    echo "|---|---|---|"
    echo "| requests/s, on / off | $(paired "${RPS[ours-on]}" "${RPS[ours-off]}") | $(paired "${RPS[cmod-on]}" "${RPS[cmod-off]}") |"
    echo "| p99, on / off | $(paired "${P99[ours-on]}" "${P99[ours-off]}") | $(paired "${P99[cmod-on]}" "${P99[cmod-off]}") |"
    echo
    echo "| ours / C | requests/s | p99 |"
    echo "|---|---|---|"
    echo "| telemetry off | $(paired "${RPS[ours-off]}" "${RPS[cmod-off]}") | $(paired "${P99[ours-off]}" "${P99[cmod-off]}") |"
    echo "| telemetry on | $(paired "${RPS[ours-on]}" "${RPS[cmod-on]}") | $(paired "${P99[ours-on]}" "${P99[cmod-on]}") |"
    echo
    echo "Goal for ours: telemetry on within 5% of off (median requests/s on / off >= 0.95): $goal."
    echo "Load average (1 min) before the servers started: $load_before (other work on the machine adds noise)."
    echo
    echo "Datagrams received over each receiver's lifetime (startup and warm-up included): ours ${DGRAMS[ours-on]}, C ${DGRAMS[cmod-on]}."
    echo "By kind (kind:count; 1 process, 2 request, 4 slow request, 5 started, 6 stopping,"
    echo "7 stopped, 8 gc snapshot, 9 gc event): ours ${KINDS[ours-on]}; C ${KINDS[cmod-on]}."
    if [ "${DGRAMS[ours-on]%% *}" = 0 ]; then
        echo "Our module sent no datagrams: its \"on\" figures measure a server without a reporter."
    fi
} | tee bench/telemetry-latest.md
