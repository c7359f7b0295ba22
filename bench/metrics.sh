#!/usr/bin/env bash
# Metrics page overhead: the hello-world app of bench/telemetry.sh (daemon
# mode, WSGIDaemonProcess processes=2 threads=5 behind the event MPM front
# end), served by our module with its wsgi-metrics page scraped once a
# second and not scraped, and by the C mod_wsgi 6.1.1 (which has no such
# page) as the reference, all on the same generated config.
#
# The three servers run side by side and wrk measures them in turn, ROUNDS
# times, the order reversed every other round. The scraper (curl, once a
# second) runs for the whole benchmark against "ours-scraped" only. The
# ratios are medians of the per-round ratios. Defaults: 10 rounds of 4 s
# runs, about 3 minutes. Traffic goes to 127.0.0.1 only.
#
# Usage: bench/metrics.sh [seconds-per-run]
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

bench_root metricsbench
write_hello_app
chmod -R a+rX "$ROOT"

# A config for MODULE on PORT in $ROOT/$NAME.conf; ours mounts the page.
write_conf() {
    local name=$1 port=$2 module=$3 page=
    [ "$module" = "$OURS" ] && page="<Location /metrics>
    SetHandler wsgi-metrics
</Location>"
    { conf_head "$name" "$port"; cat <<CONF; } > "$ROOT/$name.conf"
$(front_end_conf)
LoadModule wsgi_module "$module"
WSGISocketPrefix "$ROOT/wsgi-$name"
WSGIDaemonProcess hello processes=2 threads=5
WSGIScriptAlias /hello "$ROOT/hello.wsgi" process-group=hello application-group=%{GLOBAL}
$page
CONF
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
order=(ours-quiet ours-scraped cmod)
declare -A URL=() RPS=() P99=()
for name in "${order[@]}"; do
    case $name in ours-*) module=$OURS ;; *) module=$THEIRS ;; esac
    port=$(free_port)
    write_conf "$name" "$port" "$module"
    URL[$name]="http://127.0.0.1:$port/hello"
    start_server "$name" "${URL[$name]}"
    wrk -t1 -c4 -d2s "${URL[$name]}" >/dev/null 2>&1 || true   # warm-up
done

# The scraper: a page a second for as long as the rounds can last.
scrape_url="${URL[ours-scraped]%/hello}/metrics"
curl -sf "$scrape_url" | grep -q '^mod_wsgi_requests_total{' || {
    echo "no metrics page at $scrape_url" >&2
    exit 1
}
(
    for _ in $(seq $((ROUNDS * 3 * (DURATION + 2) + 60))); do
        curl -sf -o /dev/null "$scrape_url" && echo ok
        sleep 1
    done
) > "$ROOT/scrapes" &
BACKGROUND_PIDS+=("$!")

declare -A P50=()
measure_slice() { preloaded_wrk -t"$THREADS" -c"$CONNECTIONS" "${URL[$1]}"; }
run_rounds "${order[@]}"

scrapes=$(wc -l < "$ROOT/scrapes")
page_bytes=$(curl -sf "$scrape_url" | wc -c)
stop_pids "${BACKGROUND_PIDS[@]}"
BACKGROUND_PIDS=()
for name in "${order[@]}"; do
    check_log "$name"
    stop_server "$name"
done

declare -A MRPS=() MP99=()
for name in "${order[@]}"; do
    MRPS[$name]=$(median <<<"${RPS[$name]}")
    MP99[$name]=$(median <<<"${P99[$name]}")
done
row() {
    local name=$1 label=$2
    echo "| $label | ${MRPS[$name]} | ${MP99[$name]} | ${RPS[$name]% } |"
}
ours_median=$(median <<<"$(per_round "${RPS[ours-scraped]}" "${RPS[ours-quiet]}")")
if awk -v m="$ours_median" 'BEGIN { exit !(m >= 0.98) }'; then goal="met"; else goal="not met (median $ours_median)"; fi

{
    echo "Metrics page overhead: hello world, daemon mode (WSGIDaemonProcess processes=2 threads=5),"
    echo "front end event MPM (2 processes x 25 threads), keep-alive. \"scraped\" has its wsgi-metrics"
    echo "page read once a second throughout ($scrapes scrapes, $page_bytes bytes a page)."
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on 127.0.0.1 measures each server in turn, $ROUNDS rounds,"
    echo "order reversed every other round; $(versions); $(nproc) cores."
    echo
    echo "| server | requests/s (median) | p99 latency (ms, median) | requests/s per round |"
    echo "|---|---|---|---|"
    row ours-quiet "mod_wsgi (Rust), not scraped"
    row ours-scraped "mod_wsgi (Rust), scraped every second"
    row cmod "mod_wsgi 6.1.1 (C, PyPI), no metrics page"
    echo
    echo "Ratios: median of the per-round ratios (each round's in brackets)."
    echo
    echo "| ratio | requests/s | p99 |"
    echo "|---|---|---|"
    echo "| ours scraped / ours not scraped | $(paired "${RPS[ours-scraped]}" "${RPS[ours-quiet]}") | $(paired "${P99[ours-scraped]}" "${P99[ours-quiet]}") |"
    echo "| ours not scraped / C | $(paired "${RPS[ours-quiet]}" "${RPS[cmod]}") | $(paired "${P99[ours-quiet]}" "${P99[cmod]}") |"
    echo
    echo "Goal: scraped within 2% of not scraped (median ratio >= 0.98): $goal."
    echo "Load average (1 min) before the servers started: $load_before."
} | tee bench/metrics-latest.md
