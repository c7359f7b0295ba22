# Daemon-mode test application. It reports facts about the process and
# interpreter that served the request (as JSON) and offers endpoints that
# sleep, stream, echo the request body, serve a file through
# wsgi.file_wrapper, return many/large headers, crash or hang the process.
#
# Endpoints (PATH_INFO):
#   /info            the facts below
#   /sleep?s=N       sleeps N seconds, then /info
#   ...&mark=TAG     (any endpoint) first logs "APP-START TAG" through
#                    wsgi.errors, so a test can wait for the request to be
#                    in the application instead of sleeping
#   /stream          yields FIRST-CHUNK, sleeps 1 s, yields SECOND-CHUNK
#   /echo            reads the whole body: {"length": n, "sha256": hex}
#   /file            data.bin (next to this script) via wsgi.file_wrapper
#   /headers         100 X-Many-NNN headers and a 6000-byte X-Big header
#   /crash           os._exit(1) without answering
#   /hang?s=N        sleeps N seconds (default 60) without answering
#   /busy?s=N        runs Python bytecode for N seconds (default 20)
import grp
import hashlib
import json
import locale
import os
import pwd
import sys
import threading
import time
from urllib.parse import parse_qs

VERSION = 'v1'
DATA = os.path.join(os.path.dirname(__file__), 'data.bin')

_lock = threading.Lock()
_count = 0


def _umask():
    # /proc avoids the set-and-restore race of os.umask() between threads.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def _helper():
    try:
        import daemon_helper
    except ImportError:
        return None
    return daemon_helper.VALUE


def _facts(environ, count):
    return {
        'version': VERSION,
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'uid': os.getuid(),
        'user': _name(pwd.getpwuid, os.getuid()),
        'gid': os.getgid(),
        'group': _name(grp.getgrgid, os.getgid()),
        'groups': sorted(os.getgroups()),
        'cwd': os.getcwd(),
        'umask': _umask(),
        'sys_path': list(sys.path),
        'prefix': sys.prefix,
        'lang': os.environ.get('LANG'),
        'lc_all': os.environ.get('LC_ALL'),
        'lc_ctype': locale.setlocale(locale.LC_CTYPE),
        'thread': str(threading.get_ident()),
        'process_group': environ.get('mod_wsgi.process_group'),
        'application_group': environ.get('mod_wsgi.application_group'),
        'remote_user': environ.get('REMOTE_USER'),
        'multiprocess': environ.get('wsgi.multiprocess'),
        'multithread': environ.get('wsgi.multithread'),
        'count': count,
        'helper': _helper(),
    }


def _json(start_response, data):
    body = json.dumps(data).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]


def _stream():
    yield b'FIRST-CHUNK\n'
    time.sleep(1.0)
    yield b'SECOND-CHUNK\n'


def application(environ, start_response):
    global _count
    with _lock:
        _count += 1
        count = _count
    path = environ.get('PATH_INFO', '') or '/info'
    query = parse_qs(environ.get('QUERY_STRING', ''))
    seconds = float(query.get('s', ['0'])[0])
    if 'mark' in query:
        environ['wsgi.errors'].write('APP-START %s\n' % query['mark'][0])
        environ['wsgi.errors'].flush()

    if path == '/info':
        return _json(start_response, _facts(environ, count))
    if path == '/sleep':
        time.sleep(seconds)
        return _json(start_response, _facts(environ, count))
    if path == '/stream':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return _stream()
    if path == '/echo':
        stream = environ['wsgi.input']
        digest = hashlib.sha256()
        length = 0
        while True:
            block = stream.read(65536)
            if not block:
                break
            length += len(block)
            digest.update(block)
        return _json(start_response, {
            'length': length,
            'sha256': digest.hexdigest(),
            'content_length': environ.get('CONTENT_LENGTH'),
            'process_group': environ.get('mod_wsgi.process_group'),
        })
    if path == '/file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(DATA, 'rb'), 65536)
    if path == '/headers':
        headers = [('Content-Type', 'text/plain')]
        headers += [('X-Many-%03d' % i, 'value-%03d' % i) for i in range(100)]
        headers.append(('X-Big', 'b' * 6000))
        start_response('200 OK', headers)
        return [b'headers']
    if path == '/crash':
        os._exit(1)
    if path == '/hang':
        time.sleep(seconds or 60.0)
        return _json(start_response, _facts(environ, count))
    if path == '/busy':
        deadline = time.monotonic() + (seconds or 20.0)
        n = 0
        while time.monotonic() < deadline:
            n += 1
        return _json(start_response, _facts(environ, count))
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such endpoint']
