#!/usr/bin/env bash
# CPU per request as instructions, which noise cannot move: each app
# served by our module and by the C mod_wsgi 6.1.1 (same Apache, Python and
# generated configuration), in embedded and daemon mode. The apps: hello
# world, the JSON API of bench/frameworks (a POST read from wsgi.input)
# and its Django page (an ORM query on SQLite and a template); the
# frameworks come from the virtualenv bench/frameworks.sh uses, which
# both modules get as WSGIPythonHome. Apache runs as one
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
# Usage: bench/instructions.sh   (env: PYTHON, N1, N2, MODES, APPS; the
#        django app uses N1/10 and N2/10 requests, for valgrind's sake)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3.11}
N1=${N1:-100}
N2=${N2:-400}
MODES=${MODES:-"embedded daemon"}
APPS=${APPS:-"hello api django"}
source bench/lib.sh
ensure_tools
command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
build_modules
framework_venv

bench_root instr
write_hello_app
cp -r bench/frameworks "$ROOT/apps"
"$FRAMEWORK_VENV/bin/python" "$ROOT/apps/django/make_db.py" "$ROOT/apps/django/bench.sqlite3"
chmod -R a+rX "$ROOT"
chown -R www-data:www-data "$ROOT"

write_conf() {
    local name=$1 port=$2 module=$3 mode=$4
    {
        conf_head "$name" "$port"
        one_child_conf 4
        cat <<CONF
LoadModule wsgi_module "$module"
WSGIPythonHome "$FRAMEWORK_VENV"
WSGISocketPrefix "$ROOT/$name"
WSGIApplicationGroup %{GLOBAL}
WSGIScriptAlias /hello "$ROOT/hello.wsgi"
WSGIScriptAlias /api "$ROOT/apps/api.wsgi"
WSGIScriptAlias /django "$ROOT/apps/django/django_page.wsgi"
CONF
        if [ "$mode" = daemon ]; then
            echo "WSGIDaemonProcess hello processes=1 threads=2"
            echo "WSGIProcessGroup hello"
        fi
    } > "$ROOT/$name.conf"
}

# The path of APP.
app_path() {
    case $1 in hello) echo /hello ;; api) echo /api ;; django) echo /django/ ;; esac
}

# Sends COUNT sequential requests to APP on one keep-alive connection,
# checking each answer.
send() {
    "$PYTHON" - "$1" "$2" "$3" "$ROOT/apps/order.json" <<'PY'
import http.client, sys
port, count, app, order = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
body = open(order, "rb").read()
for _ in range(count):
    if app == "api":
        conn.request("POST", "/api", body, {"Content-Type": "application/json"})
    else:
        conn.request("GET", {"hello": "/hello", "django": "/django/"}[app])
    r = conn.getresponse()
    data = r.read()
    expected = {"hello": 200, "api": 201, "django": 200}[app]
    assert r.status == expected, (app, r.status, data[:200])
    assert app != "hello" or data == b"Hello World!\n", data
PY
}

# Runs NAME under callgrind for COUNT requests to APP; prints "child
# daemon" instruction totals.
count_one() {
    local label=$1 module=$2 mode=$3 count=$4 app=$5 name port pid
    name="$label-$app-$mode-$count"
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
    # The probe imported hello; the first request to APP imports it, and
    # counts in both runs alike.
    send "$port" "$count" "$app"
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

per_request() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%d", (b - a) / n }'; }

rows=()
for app in $APPS; do
    n1=$N1 n2=$N2
    if [ "$app" = django ]; then n1=$((N1 / 10)) n2=$((N2 / 10)); fi
    for mode in $MODES; do
        declare -A CHILD=() DAEMON=()
        for label in ours cmod; do
            case $label in ours) module=$OURS ;; *) module=$THEIRS ;; esac
            read -r c1 d1 < <(count_one "$label" "$module" "$mode" "$n1" "$app")
            read -r c2 d2 < <(count_one "$label" "$module" "$mode" "$n2" "$app")
            CHILD[$label]=$(per_request "$c1" "$c2" $((n2 - n1)))
            DAEMON[$label]=$(per_request "$d1" "$d2" $((n2 - n1)))
            echo "$app $mode $label: child $c1 -> $c2, daemon $d1 -> $d2" >&2
        done
        if [ "$mode" = daemon ]; then
            total_ours=$((CHILD[ours] + DAEMON[ours])) total_c=$((CHILD[cmod] + DAEMON[cmod]))
            rows+=("| $app | daemon | $((n2 - n1)) | ${CHILD[ours]} + ${DAEMON[ours]} = $total_ours | ${CHILD[cmod]} + ${DAEMON[cmod]} = $total_c | $(ratio "$total_ours" "$total_c")x |")
        else
            rows+=("| $app | embedded | $((n2 - n1)) | ${CHILD[ours]} | ${CHILD[cmod]} | $(ratio "${CHILD[ours]}" "${CHILD[cmod]}")x |")
        fi
        unset CHILD DAEMON
    done
done

{
    echo "Instructions per request (callgrind, apache2 -X, event MPM; daemon mode:"
    echo "processes=1 threads=2; child + daemon process), the difference of two runs of sequential"
    echo "keep-alive requests ($N1 and $N2; django $((N1 / 10)) and $((N2 / 10))) over the requests between them; $(versions)."
    echo
    echo "| app | mode | requests counted | ours | C mod_wsgi 6.1.1 | ours / C |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} | tee bench/instructions-latest.md
