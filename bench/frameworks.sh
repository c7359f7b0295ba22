#!/usr/bin/env bash
# Real-application benchmark (issue #20): three applications, each in
# embedded and in daemon mode, served by our module and by the C mod_wsgi
# 6.1.1 from one generated config per mode (only the LoadModule line
# differs between the two modules). Python: /root/.pyenv/versions/3.13.0
# unless PYTHON says otherwise; the frameworks come from a virtualenv of it
# with the packages pinned for the tests (tests/common/venv.rs), given to
# both modules as WSGIPythonHome. The applications (bench/frameworks/):
#   flask    GET  a Flask page rendering a Jinja template over 50 items
#   django   GET  a Django page: an ORM query against SQLite (50 of 200
#                 rows) rendered through a Django template
#   api      POST a JSON API in plain WSGI: a 10-line order is read from
#                 wsgi.input, priced and answered as JSON
# Embedded: the event MPM front end of the hello-world benchmarks
# (2 processes x 25 threads), the apps in the main interpreter.
# Daemon: the same front end, the apps in WSGIDaemonProcess processes=2
# threads=5, main interpreter.
#
# The four servers (ours and C, embedded and daemon) run side by side, all
# three apps in each; wrk measures the twelve app x server slices in turn,
# ROUNDS rounds, the order reversed every other round, each run preceded by
# 1 s of the same load. Figures are medians over the rounds; ratios are
# medians of the per-round ratios (as bench/telemetry.sh and bench/pool.sh).
# Goal (issue #20): ours at least 1.1x the C module's requests/s and p99
# no worse (ratio <= 1.00) on every row.
# Defaults: 6 rounds of 4 s runs, about 6 minutes of measuring.
# Traffic goes to 127.0.0.1 only.
#
# APPS="flask django api" picks the apps. APPLICATION_GROUP=per-script
# drops the WSGIApplicationGroup %{GLOBAL} line, so each app runs in a
# sub-interpreter of its own, the default of both modules (and the entry
# queue's, see docs/gil-modes.md); the tables then say so.
#
# Usage: bench/frameworks.sh [seconds-per-run]
#        (env: PYTHON, ROUNDS, CONNECTIONS, THREADS, APPS, APPLICATION_GROUP)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-4}
PYTHON=${PYTHON:-/root/.pyenv/versions/3.13.0/bin/python3}
ROUNDS=${ROUNDS:-6}
CONNECTIONS=${CONNECTIONS:-10}
THREADS=${THREADS:-2}
APPLICATION_GROUP=${APPLICATION_GROUP:-%{GLOBAL\}}
case $APPLICATION_GROUP in
%{GLOBAL}) GROUP_LINE="WSGIApplicationGroup %{GLOBAL}" INTERPRETER="main interpreter" ;;
per-script) GROUP_LINE="" INTERPRETER="one sub-interpreter per app (no WSGIApplicationGroup)" ;;
*) echo "APPLICATION_GROUP: %{GLOBAL} or per-script, not '$APPLICATION_GROUP'" >&2; exit 2 ;;
esac
source bench/lib.sh
ensure_tools
build_modules
framework_venv

bench_root frameworksbench
cp -r bench/frameworks "$ROOT/apps"
"$FRAMEWORK_VENV/bin/python" "$ROOT/apps/django/make_db.py" "$ROOT/apps/django/bench.sqlite3"
chmod -R a+rX "$ROOT"
# What each app costs alone (in-process, one thread, no server): the floor
# under every figure below, which no module can lower.
declare -A APP_MS=()
while read -r app ms; do APP_MS[$app]=$ms; done < <(
    "$FRAMEWORK_VENV/bin/python" "$ROOT/apps/app_cost.py" --body "$ROOT/apps/order.json" \
        flask="$ROOT/apps/flask_page.wsgi" django="$ROOT/apps/django/django_page.wsgi" api="$ROOT/apps/api.wsgi")

# Writes $ROOT/$name.conf: NAME is ours-MODE or c-MODE.
write_conf() {
    local name=$1 port=$2 module=$3 daemon=
    [ "${name#*-}" = daemon ] && daemon="WSGIDaemonProcess apps processes=2 threads=5
WSGIProcessGroup apps"
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
$(front_end_conf)
LoadModule wsgi_module "$module"
WSGIPythonHome "$FRAMEWORK_VENV"
WSGISocketPrefix "$ROOT/wsgi-$name"
$daemon
$GROUP_LINE
WSGIScriptAlias /flask "$ROOT/apps/flask_page.wsgi"
WSGIScriptAlias /django "$ROOT/apps/django/django_page.wsgi"
WSGIScriptAlias /api "$ROOT/apps/api.wsgi"
CONF
}

read -r -a APPS <<<"${APPS:-flask django api}"
SERVERS=(ours-embedded c-embedded ours-daemon c-daemon)
declare -A URL=() RPS=() P50=() P99=()
# Calls FUNC APP MODE for each row of the tables, app x mode.
each_row() {
    local app mode
    for app in "${APPS[@]}"; do
        for mode in embedded daemon; do "$1" "$app" "$mode"; done
    done
}
# The URL of APP on a server at PORT.
app_url() {
    case $1 in
    flask) echo "http://127.0.0.1:$2/flask/" ;;
    django) echo "http://127.0.0.1:$2/django/" ;;
    api) echo "http://127.0.0.1:$2/api" ;;
    esac
}
# wrk's options for APP with N wrk threads (app_opts APP N), into APP_OPTS: the
# API is measured with POSTs.
app_opts() {
    local threads=$2
    APP_OPTS=(-t"$threads" -c"$CONNECTIONS")
    if [ "$1" = api ]; then APP_OPTS+=(-s "$ROOT/apps/post.lua"); fi
}
# One slice, APP:SERVER.
measure_slice() {
    app_opts "${1%%:*}" "$THREADS"
    preloaded_wrk "${APP_OPTS[@]}" "${URL[$1]}"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
SLICES=()
for server in "${SERVERS[@]}"; do
    case $server in ours-*) module=$OURS ;; *) module=$THEIRS ;; esac
    port=$(free_port)
    write_conf "$server" "$port" "$module"
    start_server "$server" "$(app_url api "$port")"
    for app in "${APPS[@]}"; do
        URL[$app:$server]=$(app_url "$app" "$port")
        # Every process imports the app now; a page that fails stops here.
        app_opts "$app" 1
        wrk "${APP_OPTS[@]}" -d2s "${URL[$app:$server]}" >/dev/null 2>&1 || true
        status=$(curl -s -o /dev/null -w '%{http_code}' "${URL[$app:$server]}")
        if [ "$status" != 200 ]; then
            echo "$app on $server answers $status" >&2; cat "$ROOT/$server.error.log" >&2; exit 1
        fi
    done
done
# The slices of one row (app x mode) follow each other, ours then C.
add_slices() { SLICES+=("$1:ours-$2" "$1:c-$2"); }
each_row add_slices

run_rounds "${SLICES[@]}"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

for server in "${SERVERS[@]}"; do
    check_log "$server"
    stop_server "$server"
done

declare -A MRPS=() MP50=() MP99=()
for slice in "${SLICES[@]}"; do
    MRPS[$slice]=$(median <<<"${RPS[$slice]}")
    MP50[$slice]=$(median <<<"${P50[$slice]}")
    MP99[$slice]=$(median <<<"${P99[$slice]}")
done

# Rows: app x mode, ours against C; the goal column judges the medians of
# the per-round ratios.
row() {
    local app=$1 mode=$2 ours=$1:ours-$2 c=$1:c-$2 rps_ratio p99_ratio goal
    rps_ratio=$(median <<<"$(per_round "${RPS[$ours]}" "${RPS[$c]}")")
    p99_ratio=$(median <<<"$(per_round "${P99[$ours]}" "${P99[$c]}")")
    local -a missed=()
    awk -v r="$rps_ratio" 'BEGIN { exit !(r < 1.1) }' && missed+=(throughput)
    awk -v r="$p99_ratio" 'BEGIN { exit !(r > 1.0) }' && missed+=(p99)
    goal=met
    [ "${#missed[@]}" -eq 0 ] || goal="missed: ${missed[*]}"
    echo "| $app | $mode | ${APP_MS[$app]} | ${MRPS[$ours]} | ${MRPS[$c]} | ${rps_ratio}x | ${MP50[$ours]} / ${MP99[$ours]} | ${MP50[$c]} / ${MP99[$c]} | ${p99_ratio}x | $goal |"
}
details() {
    local app=$1 mode=$2 ours=$1:ours-$2 c=$1:c-$2
    echo "| $app | $mode | $(paired "${RPS[$ours]}" "${RPS[$c]}") | $(paired "${P99[$ours]}" "${P99[$c]}") | ${RPS[$ours]% } | ${RPS[$c]% } |"
}
{
    echo "Real applications: a Flask page (Jinja template, 50 items), a Django page (ORM query against"
    echo "SQLite, 50 rows, Django template) and a JSON API in plain WSGI (POST of a 10-line order);"
    echo "embedded: event MPM, 2 processes x 25 threads; daemon: WSGIDaemonProcess processes=2 threads=5"
    echo "behind the same front end; $INTERPRETER; keep-alive. The four servers run side by side;"
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on 127.0.0.1 measures each slice in turn, $ROUNDS rounds,"
    echo "order reversed every other round; $(versions); Flask $("$FRAMEWORK_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("flask"))'),"
    echo "Django $("$FRAMEWORK_VENV/bin/python" -c 'import django; print(django.get_version())'); $(nproc) cores."
    echo
    echo "| app | mode | app alone, CPU ms | ours req/s | C req/s | req/s ours / C | ours p50 / p99 ms | C p50 / p99 ms | p99 ours / C | goal (>= 1.1x, p99 <= 1.0x) |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    each_row row
    echo
    echo "Requests/s and latencies are medians over the rounds; the ratios are medians of the"
    echo "per-round ratios (each round's in brackets below). \"App alone\": process CPU time per request"
    echo "of the app called in-process (one thread, no server, median of 5 batches of 100)."
    echo
    echo "| app | mode | req/s ours / C | p99 ours / C | ours req/s per round | C req/s per round |"
    echo "|---|---|---|---|---|---|"
    each_row details
    echo
    echo "Load average (1, 5, 15 min) before the servers started: $load_before; after the last run: $load_after."
} | tee bench/frameworks-latest.md
