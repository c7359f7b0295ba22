# What each benchmark app costs on its own: loads the WSGI scripts named on
# the command line (as label=path), calls each application in-process with
# a made-up environ (no server, one thread) and prints, a line per app,
# "label cpu_ms_per_request" (process CPU time, median of 5 batches).
# The api app is called with the body wrk POSTs (given as --body FILE).
import io
import runpy
import statistics
import sys
import time


def environ(method, body):
    return {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "/app", "PATH_INFO": "/",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }


def call(app, method, body):
    status = []
    result = app(environ(method, body), lambda s, h, e=None: status.append(s))
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    if not status or status[0][:1] != "2":
        raise SystemExit("unexpected status %r" % status)


def main():
    args = sys.argv[1:]
    body = b""
    if args[:1] == ["--body"]:
        with open(args[1], "rb") as f:
            body = f.read()
        args = args[2:]
    for arg in args:
        label, path = arg.split("=", 1)
        app = runpy.run_path(path)["application"]
        method = "POST" if label == "api" else "GET"
        for _ in range(50):
            call(app, method, body)
        batches = []
        for _ in range(5):
            start = time.process_time()
            for _ in range(100):
                call(app, method, body)
            batches.append((time.process_time() - start) * 1000 / 100)
        print("%s %.3f" % (label, statistics.median(batches)))


main()
