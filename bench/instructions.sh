#!/usr/bin/env bash
# CPU per request as instructions, which noise cannot move: hello world
# served by our module and by the C mod_wsgi 6.1.1 (same Apache, Python and
# generated configuration), in embedded and daemon mode. Apache runs as one
# process (apache2 -X) under valgrind's callgrind, which counts every
# instruction of that process and of the daemon processes it forks. Each
# server is run twice, with N1 and N2 sequential keep-alive requests;
# instructions per request = (count(N2) - count(N1)) / (N2 - N1), so start-up,
# the first request's script import and shutdown cancel out. The Apache
# process (the "child") and the daemon process are counted separately.
# The machine this was written on has no hardware counters in its VM, so
# `perf stat -e instructions` is not an option there. Apache runs as
# www-data from the start: callgrind writes its counts at exit, and a
# process that has switched from root to www-data could no longer open the
# file it created at start.
#
# Usage: bench/instructions.sh   (env: PYTHON, N1, N2, MODES)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3.11}
N1=${N1:-100}
N2=${N2:-400}
MODES=${MODES:-"embedded daemon"}
source bench/lib.sh
ensure_tools
command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
build_modules

bench_root instr
write_hello_app
chmod -R a+rX "$ROOT"
chown -R www-data:www-data "$ROOT"

write_conf() {
    local name=$1 port=$2 module=$3 mode=$4
    {
        conf_head "$name" "$port"
        one_child_conf 4
        cat <<CONF
LoadModule wsgi_module "$module"
WSGISocketPrefix "$ROOT/$name"
WSGIScriptAlias /hello "$ROOT/hello.wsgi" application-group=%{GLOBAL}
CONF
        if [ "$mode" = daemon ]; then
            echo "WSGIDaemonProcess hello processes=1 threads=2"
            echo "WSGIProcessGroup hello"
        fi
    } > "$ROOT/$name.conf"
}

# Sends COUNT sequential requests on one keep-alive connection.
send() {
    "$PYTHON" - "$1" "$2" <<'PY'
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    conn.request("GET", "/hello")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200 and body == b"Hello World!\n", (r.status, body)
PY
}

# Runs NAME under callgrind for COUNT requests; prints "child daemon"
# instruction totals.
count_one() {
    local label=$1 module=$2 mode=$3 count=$4 name port pid
    name="$label-$mode-$count"
    port=$(free_port)
    write_conf "$name" "$port" "$module" "$mode"
    mkdir -p "$ROOT/$name.cg"
    chown www-data:www-data "$ROOT/$name.cg"
    runuser -u www-data -- valgrind --tool=callgrind \
        --callgrind-out-file="$ROOT/$name.cg/out.%p" --log-file="$ROOT/$name.cg/log.%p" \
        /usr/sbin/apache2 -X -f "$ROOT/$name.conf" &
    local runner=$!
    for _ in $(seq 600); do
        curl -sf -m 60 "http://127.0.0.1:$port/hello" >/dev/null 2>&1 && break
        kill -0 "$runner" 2>/dev/null || { cat "$ROOT/$name.error.log" >&2; exit 1; }
        sleep 0.5
    done
    pid=$(cat "$ROOT/$name.pid")
    # The probe above was the first request: COUNT - 1 more.
    send "$port" $((count - 1))
    kill -TERM "$pid"
    wait "$runner" || true
    check_log "$name"
    local child daemon=0 file total
    child=$(awk '/^(summary|totals):/ {print $2; exit}' "$ROOT/$name.cg/out.$pid")
    for file in "$ROOT/$name.cg"/out.*; do
        [ "$file" = "$ROOT/$name.cg/out.$pid" ] && continue
        total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
        daemon=$((daemon + ${total:-0}))
    done
    echo "$child $daemon"
}

per_request() { awk -v a="$1" -v b="$2" -v n=$((N2 - N1)) 'BEGIN { printf "%d", (b - a) / n }'; }

rows=()
for mode in $MODES; do
    declare -A CHILD=() DAEMON=()
    for label in ours cmod; do
        case $label in ours) module=$OURS ;; *) module=$THEIRS ;; esac
        read -r c1 d1 < <(count_one "$label" "$module" "$mode" "$N1")
        read -r c2 d2 < <(count_one "$label" "$module" "$mode" "$N2")
        CHILD[$label]=$(per_request "$c1" "$c2")
        DAEMON[$label]=$(per_request "$d1" "$d2")
        echo "$mode $label: child $c1 -> $c2, daemon $d1 -> $d2" >&2
    done
    if [ "$mode" = daemon ]; then
        total_ours=$((CHILD[ours] + DAEMON[ours])) total_c=$((CHILD[cmod] + DAEMON[cmod]))
        rows+=("| daemon | ${CHILD[ours]} + ${DAEMON[ours]} = $total_ours | ${CHILD[cmod]} + ${DAEMON[cmod]} = $total_c | $(ratio "$total_ours" "$total_c")x |")
    else
        rows+=("| embedded | ${CHILD[ours]} | ${CHILD[cmod]} | $(ratio "${CHILD[ours]}" "${CHILD[cmod]}")x |")
    fi
    unset CHILD DAEMON
done

{
    echo "Instructions per hello-world request (callgrind, apache2 -X, event MPM; daemon mode:"
    echo "processes=1 threads=2; child + daemon process), from runs of $N1 and $N2 sequential"
    echo "keep-alive requests; $(versions)."
    echo
    echo "| mode | ours | C mod_wsgi 6.1.1 | ours / C |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee bench/instructions-latest.md
