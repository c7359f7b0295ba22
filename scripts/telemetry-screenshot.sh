#!/usr/bin/env bash
# Screenshot of the mod_wsgi-telemetry 1.1.0 live UI fed by a real run:
# the ingester (PyPI mod-wsgi-telemetry==1.1.0, in a virtualenv under
# /var/tmp) listens on a UNIX socket; Apache with the module under test
# serves a small app in daemon mode with WSGITelemetryService and
# WSGISlowRequests 1.0 while wrk and curl drive a mix of fast, CPU-bound,
# slow (1.5-3 s), 404 and 500 requests. Once /api/state shows samples,
# headless Chromium shoots the UI with the load still running. Everything
# started here is stopped on exit. Traffic goes to 127.0.0.1 only.
#
# Usage: scripts/telemetry-screenshot.sh
#   MOD_WSGI_SO      module to load (default: our build for MOD_WSGI_PYTHON,
#                    target/pyXY/release/libmod_wsgi.so, built if needed)
#   MOD_WSGI_PYTHON  the Python that module is built against
#                    (default /usr/bin/python3.11); also runs the ingester
#   LOAD_SECONDS     load before the screenshot (default 30)
#   OUTPUT           the PNG (default docs/images/telemetry-ui.png); a
#                    second one, OUTPUT with -gil-wait before .png, shows
#                    the GIL wait distribution
#
# E.g. against the C mod_wsgi 6.1.1 that bench/daemon.sh installs:
#   MOD_WSGI_SO=$(bench/.venv-c-py311/bin/mod_wsgi-express module-location) \
#   OUTPUT=/tmp/telemetry-ui-c.png scripts/telemetry-screenshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${MOD_WSGI_PYTHON:-/usr/bin/python3.11}
LOAD_SECONDS=${LOAD_SECONDS:-30}
OUTPUT=${OUTPUT:-docs/images/telemetry-ui.png}
# The load keeps going this long past LOAD_SECONDS, covering the
# /api/state checks and the screenshot; it is stopped as soon as both are done.
TAIL_SECONDS=45
source bench/lib.sh
ensure_tools
if ! command -v chromium >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

if [ -n "${MOD_WSGI_SO:-}" ]; then
    MODULE=$MOD_WSGI_SO
else
    build_ours
    MODULE=$OURS
fi
[ -f "$MODULE" ] || { echo "no module at $MODULE" >&2; exit 1; }

VENV=/var/tmp/mod_wsgi-telemetry-1.1.0-$(py_label)
if [ ! -x "$VENV/bin/mod_wsgi-telemetry" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q 'mod-wsgi-telemetry==1.1.0' aiohttp
fi

ROOT=$(mktemp -d /tmp/mod_wsgi-telemetryshot.XXXXXX)
INGESTER_PID='' WRK_PID='' SLOW_PID=''
cleanup() {
    stop_pids "$SLOW_PID" "$WRK_PID" "$INGESTER_PID"
    cleanup_root
}
trap cleanup EXIT
# The daemons (www-data) reach the app, their sockets and the ingester's.
chmod 755 "$ROOT"

cat > "$ROOT/app.wsgi" <<'PY'
import time


def respond(start_response, status, body):
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        return respond(start_response, "200 OK", b"Hello World!\n")
    if path == "/work":
        total = 0
        for i in range(20000):
            total += i * i % 7
        return respond(start_response, "200 OK", b"%d\n" % total)
    if path.startswith("/slow/"):
        time.sleep(min(float(path[len("/slow/"):]), 5.0))
        return respond(start_response, "200 OK", b"slow\n")
    if path == "/error":
        return respond(start_response, "500 Internal Server Error", b"error\n")
    return respond(start_response, "404 Not Found", b"not found\n")
PY
# wrk's request mix: mostly fast and CPU-bound requests, some 404s and
# 500s; each connection pauses 10 ms between requests to leave the CPU
# for the UI and Chromium.
cat > "$ROOT/mix.lua" <<'LUA'
local paths = {"/", "/", "/", "/", "/", "/", "/work", "/work", "/work",
               "/missing", "/error"}
request = function()
    return wrk.format("GET", paths[math.random(#paths)])
end
delay = function()
    return 10
end
LUA
chmod -R a+rX "$ROOT"

PORT=$(free_port)
UI_PORT=$(free_port)
{ conf_head ui "$PORT"; cat <<CONF; } > "$ROOT/ui.conf"
$(front_end_conf)
LoadModule wsgi_module "$MODULE"
WSGITelemetryService unix:$ROOT/telemetry.sock interval=1.0
WSGISlowRequests 1.0
WSGITelemetryOptions +CaptureUserAgent
WSGISocketPrefix "$ROOT/wsgi"
WSGIDaemonProcess demo processes=2 threads=5
WSGIScriptAlias / "$ROOT/app.wsgi" process-group=demo application-group=%{GLOBAL}
CONF

# The ingester runs as root; mode 0666 lets the www-data daemons send.
"$VENV/bin/mod_wsgi-telemetry" serve --listen "unix:$ROOT/telemetry.sock" \
    --socket-mode 0666 --http-host 127.0.0.1 --http-port "$UI_PORT" \
    > "$ROOT/ingester.log" 2>&1 &
INGESTER_PID=$!
for _ in $(seq 50); do
    [ -S "$ROOT/telemetry.sock" ] && curl -sf "http://127.0.0.1:$UI_PORT/api/state" >/dev/null && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$UI_PORT/api/state" >/dev/null || { cat "$ROOT/ingester.log" >&2; exit 1; }

start_server ui "http://127.0.0.1:$PORT/"
echo "Apache on 127.0.0.1:$PORT with $MODULE; ingester UI on http://127.0.0.1:$UI_PORT/" >&2

wrk -t1 -c4 -d"$((LOAD_SECONDS + TAIL_SECONDS))s" -s "$ROOT/mix.lua" "http://127.0.0.1:$PORT/" \
    > "$ROOT/wrk.log" 2>&1 &
WRK_PID=$!
# A slow request (1.5 to 3 s) every 2 s, while the load lasts.
slow_requests() {
    local i durations=(1.5 2.0 2.5 3.0)
    for i in $(seq $(((LOAD_SECONDS + TAIL_SECONDS) / 2))); do
        curl -s -o /dev/null -m 10 -A "telemetry-screenshot/1.0" \
            "http://127.0.0.1:$PORT/slow/${durations[i % 4]}" &
        sleep 2
    done
    wait
}
slow_requests &
SLOW_PID=$!

echo "Driving load for $LOAD_SECONDS s..." >&2
for _ in $(seq "$LOAD_SECONDS"); do
    kill -0 "$WRK_PID" 2>/dev/null || { cat "$ROOT/wrk.log" >&2; exit 1; }
    sleep 1
done

# What the ingester holds: processes, samples, requests by class, slow
# records, and which fields the UI's Overview charts read that no sample
# carried. Fails until some process has sent at least 10 samples with
# requests in them.
cat > "$ROOT/check_state.py" <<'PY'
import json, sys, urllib.request

OVERVIEW_FIELDS = [
    "request_count", "request_throughput", "capacity_utilization",
    "cpu_utilization", "memory_rss", "server_time", "queue_time",
    "daemon_time", "application_time", "request_time_buckets",
    "request_time_min", "request_time_max", "status_2xx_total",
    "status_4xx_total", "status_5xx_total", "sample_period",
    "input_bytes_total", "output_bytes_total", "request_threads_maximum",
    "request_threads_busy_time", "hostname", "process_group",
]

with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    state = json.load(r)
procs = [p for p in state["processes"] if p["samples"]]
samples = [s for p in procs for s in p["samples"]]
busy = [s for s in samples if s["fields"].get("request_count")]
seen = set()
for s in samples:
    seen.update(s["fields"])


def total(name):
    return sum(s["fields"].get(name) or 0 for s in samples)


groups = sorted({p["process_group"] or "(embedded)" for p in procs})
print("ingester: %d processes (%s), %d samples (%d with requests), %d requests "
      "(%d 2xx, %d 4xx, %d 5xx), %d slow-request records, %d datagrams, "
      "%d decode errors" % (
          len(procs), ", ".join(groups) or "-", len(samples), len(busy),
          total("request_count"), total("status_2xx_total"),
          total("status_4xx_total"), total("status_5xx_total"),
          len(state["slow_requests"]), state["total_received"],
          state["decode_errors"]))
missing = [f for f in OVERVIEW_FIELDS if f not in seen]
if missing:
    print("fields the UI's Overview reads that no sample carried: "
          + " ".join(missing))
if not state["slow_requests"]:
    print("no slow-request records: the Slow requests tab will be empty")
sys.exit(0 if len(busy) >= 10 else 1)
PY
for attempt in $(seq 10); do
    if "$PYTHON" "$ROOT/check_state.py" "http://127.0.0.1:$UI_PORT/api/state" > "$ROOT/state.txt"; then
        break
    fi
    if [ "$attempt" = 10 ]; then
        cat "$ROOT/state.txt" >&2
        echo "the ingester has too few samples to show; not taking a screenshot" >&2
        exit 1
    fi
    sleep 1
done
cat "$ROOT/state.txt" >&2

# The UI opens its websocket, takes the snapshot and redraws every
# 500 ms; a short virtual-time budget lets that happen while keeping
# the page's clock (which places the charts' right edge) near real time.
shoot() {
    timeout 90 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$ROOT/chromium" --window-size=1600,1200 \
        --virtual-time-budget=2500 "$@" "http://127.0.0.1:$UI_PORT/"
}
shoot --dump-dom > "$ROOT/dom.html" 2> "$ROOT/chromium.log"
if ! grep -q 'class="headline">[1-9]' "$ROOT/dom.html"; then
    echo "the UI shows no requests per minute in its totals; see $OUTPUT anyway" >&2
fi
shoot --screenshot="$ROOT/shot.png" >> "$ROOT/chromium.log" 2>&1
[ -s "$ROOT/shot.png" ] || { cat "$ROOT/chromium.log" >&2; exit 1; }

# A second shot with the Overview's phase pickers on "GIL wait": the
# distribution of the time request threads waited for the GIL. The
# pickers are set through the DevTools protocol (aiohttp's websocket
# client, from the ingester's virtualenv).
cat > "$ROOT/shoot_gil.py" <<'PY'
import asyncio, base64, sys
import aiohttp

devtools, page, output = sys.argv[1:4]
PICK = """
for (const [id, value] of [["dist_field", "gil_wait_time_buckets"],
                           ["phase_field", "gil_wait_time"]]) {
  const element = document.getElementById(id);
  element.value = value;
  element.dispatchEvent(new Event("change"));
}
"""


async def main():
    async with aiohttp.ClientSession() as session:
        target = None
        for _ in range(100):
            try:
                async with session.put(devtools + "/json/new?" + page) as r:
                    target = await r.json()
                    break
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        async with session.ws_connect(target["webSocketDebuggerUrl"],
                                      max_msg_size=0) as ws:
            sent = 0

            async def call(method, **params):
                nonlocal sent
                sent += 1
                await ws.send_json({"id": sent, "method": method,
                                    "params": params})
                while True:
                    message = await ws.receive_json()
                    if message.get("id") == sent:
                        return message.get("result", {})

            await asyncio.sleep(4)  # load, websocket snapshot, first draws
            await call("Runtime.evaluate", expression=PICK)
            await asyncio.sleep(1.5)
            shot = await call("Page.captureScreenshot", format="png")
            with open(output, "wb") as f:
                f.write(base64.b64decode(shot["data"]))

asyncio.run(main())
PY
DEVTOOLS_PORT=$(free_port)
timeout 90 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$ROOT/chromium-gil" --window-size=1600,1200 \
    --remote-debugging-port="$DEVTOOLS_PORT" about:blank >> "$ROOT/chromium.log" 2>&1 &
CHROMIUM_PID=$!
timeout 60 "$VENV/bin/python" "$ROOT/shoot_gil.py" "http://127.0.0.1:$DEVTOOLS_PORT" \
    "http://127.0.0.1:$UI_PORT/" "$ROOT/gil.png" || true
stop_pids "$CHROMIUM_PID"
[ -s "$ROOT/gil.png" ] || { cat "$ROOT/chromium.log" >&2; exit 1; }

check_log ui
mkdir -p "$(dirname "$OUTPUT")"
cp "$ROOT/shot.png" "$OUTPUT"
GIL_OUTPUT="${OUTPUT%.png}-gil-wait.png"
cp "$ROOT/gil.png" "$GIL_OUTPUT"
echo "wrote $OUTPUT and $GIL_OUTPUT" >&2
