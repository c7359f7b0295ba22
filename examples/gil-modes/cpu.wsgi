# A CPU-bound request: about a few milliseconds of pure Python, then a
# short sleep standing in for I/O. Reports where it ran.
import sys
import time

import mod_wsgi


def application(environ, start_response):
    total = 0
    for i in range(30000):
        total += i * i % 7
    time.sleep(0.001)
    body = ("group=%r switch_interval=%s\n" % (
        mod_wsgi.application_group, sys.getswitchinterval())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
