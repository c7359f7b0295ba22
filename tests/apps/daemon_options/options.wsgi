# Test application for tests/daemon_options.rs: WSGIDaemonProcess options
# and the daemon-related directives. Answers JSON unless said otherwise.
#
# Endpoints (PATH_INFO):
#   /info            pid, parent pid, group, resource limits, priority,
#                    PYTHON_EGG_CACHE, the mod_wsgi.*_start environ times
#   /sleep?s=N       sleeps N seconds, then /info
#   ...&mark=TAG     (/sleep, /read) first logs "APP-START TAG" through
#                    wsgi.errors, so a test can wait for the request to be
#                    in the application instead of sleeping
#   /cpu?s=N         runs Python until the process has used N seconds of
#                    CPU time (at most 15 s of wall time), then /info
#   /notfound        404 with the application's own body
#   /bigheader?n=N   200 with an X-Long header of N bytes
#   /stream          FIRST-CHUNK, a 1 s pause, SECOND-CHUNK (text)
#   /holdgil?s=N     calls libc sleep(N) through ctypes.PyDLL, which keeps
#                    the GIL held for the whole call
#   /leak?mb=N       keeps N MB more alive for the life of the process
#                    (written, so resident), then /info
import json
import os
import resource
import time
from urllib.parse import parse_qs

_leaked = []


def _facts(environ):
    return {
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'process_group': environ.get('mod_wsgi.process_group'),
        'rlimit_data': resource.getrlimit(resource.RLIMIT_DATA)[0],
        'rlimit_as': resource.getrlimit(resource.RLIMIT_AS)[0],
        'rlimit_cpu': resource.getrlimit(resource.RLIMIT_CPU)[0],
        'priority': os.getpriority(os.PRIO_PROCESS, 0),
        'egg_cache': os.environ.get('PYTHON_EGG_CACHE'),
        'request_start': environ.get('mod_wsgi.request_start'),
        'queue_start': environ.get('mod_wsgi.queue_start'),
        'daemon_start': environ.get('mod_wsgi.daemon_start'),
        'now': time.time(),
        'cpu': time.process_time(),
    }


def _json(start_response, data, status='200 OK'):
    body = json.dumps(data).encode('utf-8')
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
    return [body]


def _stream():
    yield b'FIRST-CHUNK\n'
    time.sleep(1.0)
    yield b'SECOND-CHUNK\n'


def application(environ, start_response):
    path = environ.get('PATH_INFO', '') or '/info'
    query = parse_qs(environ.get('QUERY_STRING', ''))
    if 'mark' in query:
        environ['wsgi.errors'].write('APP-START %s\n' % query['mark'][0])
        environ['wsgi.errors'].flush()

    def number(name, default):
        return float(query.get(name, [str(default)])[0])

    if path == '/info':
        return _json(start_response, _facts(environ))
    if path == '/sleep':
        time.sleep(number('s', 1))
        return _json(start_response, _facts(environ))
    if path == '/cpu':
        target = number('s', 2)
        deadline = time.monotonic() + 15.0
        n = 0
        while time.process_time() < target and time.monotonic() < deadline:
            n += 1
        return _json(start_response, _facts(environ))
    if path == '/notfound':
        body = b'APP-404-BODY'
        start_response('404 Not Found', [('Content-Type', 'text/plain'),
                                         ('Content-Length', str(len(body)))])
        return [body]
    if path == '/bigheader':
        n = int(number('n', 1000))
        start_response('200 OK', [('Content-Type', 'text/plain'),
                                  ('X-Long', 'h' * n)])
        return [b'big header']
    if path == '/stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return _stream()
    if path == '/read':
        data = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'read %d bytes' % len(data)]
    if path == '/leak':
        _leaked.append(b'x' * int(number('mb', 1) * 1024 * 1024))
        return _json(start_response, _facts(environ))
    if path == '/holdgil':
        import ctypes
        ctypes.PyDLL(None).sleep(int(number('s', 30)))
        return _json(start_response, _facts(environ))
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such endpoint']
