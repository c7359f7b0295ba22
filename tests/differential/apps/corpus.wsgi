# The one application of the differential suite: PATH_INFO picks a
# behaviour; both modules run it unchanged and the suite compares what
# the client and the error log see. Exceptions the app catches are
# printed in the body as "TypeName: message".
import json
import os
import sys

# Values that differ on every request or process; only their type is shown.
VOLATILE = {
    'REMOTE_PORT', 'UNIQUE_ID', 'mod_wsgi.request_id', 'mod_wsgi.request_start',
    'mod_wsgi.script_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start',
    'mod_wsgi.thread_id', 'mod_wsgi.thread_requests', 'mod_wsgi.daemon_connects',
    'mod_wsgi.daemon_restarts', 'mod_wsgi.total_requests', 'mod_wsgi.request_count',
    'SSL_SESSION_ID', 'SSL_CLIENT_VERIFY', 'SSL_SERVER_V_START', 'SSL_SERVER_V_END',
    'SSL_SERVER_M_SERIAL', 'SSL_SERVER_CERT', 'SSL_SERVER_A_KEY', 'SSL_SESSION_RESUMED',
    'mod_wsgi.application_start', 'mod_wsgi.server_pid',
}


def describe(value):
    if isinstance(value, (str, bool, int, float, type(None))):
        return value
    if isinstance(value, tuple) and all(isinstance(v, (int, str)) for v in value):
        return list(value)
    return '<%s>' % type(value).__name__


def caught(fn):
    try:
        fn()
    except BaseException as e:
        return '%s: %s' % (type(e).__name__, e)
    return 'no exception'


def env_dump(environ, start_response):
    keys = {k: type(v).__name__ for k, v in environ.items()}
    values = {k: describe(v) for k, v in environ.items() if k not in VOLATILE}
    body = json.dumps({'types': keys, 'values': values}, sort_keys=True, indent=1)
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body.encode()]


def text(start_response, lines, status='200 OK'):
    start_response(status, [('Content-Type', 'text/plain')])
    return [('\n'.join(str(l) for l in lines) + '\n').encode('utf-8', 'backslashreplace')]


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    inp = environ['wsgi.input']

    if path.startswith('/env'):
        return env_dump(environ, start_response)

    if path == '/hello':
        return text(start_response, ['hello'])

    # --- wsgi.input -------------------------------------------------------
    if path == '/input/read':
        return text(start_response, [repr(inp.read())])
    if path == '/input/read-sizes':
        parts = [inp.read(3), inp.read(5), inp.read(0), inp.read(-1), inp.read(), inp.read(4)]
        return text(start_response, [repr(p) for p in parts])
    if path == '/input/readline':
        return text(start_response, [repr(inp.readline()), repr(inp.readline()), repr(inp.readline()), repr(inp.readline())])
    if path == '/input/readline-size':
        return text(start_response, [repr(inp.readline(4)), repr(inp.readline(100)), repr(inp.readline(-1)), repr(inp.readline(0))])
    if path == '/input/readlines':
        return text(start_response, [repr(inp.readlines())])
    if path == '/input/readlines-hint':
        return text(start_response, [repr(inp.readlines(5)), repr(inp.readlines())])
    if path == '/input/iter':
        return text(start_response, [repr(line) for line in inp])
    if path == '/input/past-end':
        first = inp.read()
        return text(start_response, [repr(first), repr(inp.read()), repr(inp.read(10)), repr(inp.readline()), repr(inp.readlines())])
    if path == '/input/bad-args':
        return text(start_response, [caught(lambda: inp.read('x')), caught(lambda: inp.readline('x')), caught(lambda: inp.read(1, 2)), caught(lambda: inp.read(None)), caught(lambda: inp.readline(None)), caught(lambda: inp.close())])
    if path == '/input/attrs':
        return text(start_response, [type(inp).__name__, sorted(a for a in dir(inp) if not a.startswith('__'))])

    # --- start_response -------------------------------------------------------
    if path == '/sr/twice':
        start_response('200 OK', [('X-First', '1')])
        msg = caught(lambda: start_response('201 Created', [('X-Second', '2')]))
        return [msg.encode()]
    if path == '/sr/exc-info-before-output':
        start_response('200 OK', [('X-First', '1')])
        try:
            raise ValueError('replaced')
        except ValueError:
            start_response('500 Oops', [('Content-Type', 'text/plain'), ('X-Second', '2')], sys.exc_info())
        return [b'error page\n']
    if path == '/sr/exc-info-after-output':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'partial\n')
        try:
            raise ValueError('too late')
        except ValueError:
            start_response('500 Oops', [], sys.exc_info())
        return [b'not reached\n']
    if path == '/sr/exc-info-none':
        start_response('200 OK', [('X-First', '1')], None)
        return [b'ok\n']
    cases = {
        '/sr/status-no-reason': lambda: start_response('200', []),
        '/sr/status-int': lambda: start_response(200, []),
        '/sr/status-bytes': lambda: start_response(b'200 OK', []),
        '/sr/status-junk': lambda: start_response('abc def', []),
        '/sr/status-newline': lambda: start_response('200 OK\r\nX: y', []),
        '/sr/headers-not-list': lambda: start_response('200 OK', (('A', 'b'),)),
        '/sr/header-not-tuple': lambda: start_response('200 OK', [['A', 'b']]),
        '/sr/header-triple': lambda: start_response('200 OK', [('A', 'b', 'c')]),
        '/sr/header-name-bytes': lambda: start_response('200 OK', [(b'A', 'b')]),
        '/sr/header-value-bytes': lambda: start_response('200 OK', [('A', b'b')]),
        '/sr/header-value-int': lambda: start_response('200 OK', [('A', 1)]),
        '/sr/header-name-colon': lambda: start_response('200 OK', [('A:B', 'c')]),
        '/sr/header-name-space': lambda: start_response('200 OK', [('A B', 'c')]),
        '/sr/header-value-newline': lambda: start_response('200 OK', [('A', 'b\r\nX-Injected: 1')]),
        '/sr/header-value-latin1': lambda: start_response('200 OK', [('A', 'caf\xe9')]),
        '/sr/header-value-nonlatin1': lambda: start_response('200 OK', [('A', '\u20ac')]),
        '/sr/too-many-args': lambda: start_response('200 OK', [], None, 1),
    }
    if path in cases:
        msg = caught(cases[path])
        try:
            start_response('200 OK', [('Content-Type', 'text/plain')], sys.exc_info() if msg != 'no exception' else None)
        except BaseException as e:
            msg += ' / then %s: %s' % (type(e).__name__, e)
        return [msg.encode('utf-8', 'backslashreplace') + b'\n']
    if path == '/sr/none':
        return [b'no start_response\n']
    if path == '/sr/write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'written ')
        write(b'')
        return [b'returned\n']
    if path == '/sr/write-str':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        return [caught(lambda: write('text')).encode()]
    if path == '/sr/custom-status':
        return text(start_response, ['custom'], status='299 Something Custom')
    if path == '/sr/status-404':
        return text(start_response, ['missing'], status='404 Not Found')
    if path == '/sr/status-500':
        return text(start_response, ['app error page'], status='500 Internal Server Error')
    if path == '/sr/status-304':
        start_response('304 Not Modified', [('ETag', '"x"')])
        return []
    if path == '/sr/status-204-body':
        start_response('204 No Content', [])
        return [b'ignored body']

    # --- response headers -------------------------------------------------
    if path == '/headers/repeat':
        start_response('200 OK', [('Set-Cookie', 'a=1'), ('X-Multi', 'one'), ('Set-Cookie', 'b=2'), ('X-Multi', 'two'), ('Content-Type', 'text/plain')])
        return [b'repeat\n']
    if path == '/headers/content-length-short':
        start_response('200 OK', [('Content-Length', '100'), ('Content-Type', 'text/plain')])
        return [b'only twenty bytes!!\n']
    if path == '/headers/content-length-long':
        start_response('200 OK', [('Content-Length', '5'), ('Content-Type', 'text/plain')])
        return [b'more than five bytes\n']
    if path == '/headers/content-type-missing':
        start_response('200 OK', [])
        return [b'no content type\n']
    if path == '/headers/location-relative':
        start_response('302 Found', [('Location', '/elsewhere')])
        return [b'moved\n']
    if path == '/headers/hop-by-hop':
        start_response('200 OK', [('Connection', 'keep-alive'), ('Content-Type', 'text/plain')])
        return [b'hop\n']
    if path == '/headers/long':
        start_response('200 OK', [('X-Long', 'a' * 9000), ('Content-Type', 'text/plain')])
        return [b'long header\n']
    if path == '/headers/status-header':
        start_response('200 OK', [('Status', '404 Not Found'), ('Content-Type', 'text/plain')])
        return [b'status header\n']

    # --- iterables ------------------------------------------------------------
    if path == '/iter/generator':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return (b'part %d\n' % i for i in range(5))
    if path == '/iter/raise-first':
        def gen():
            raise RuntimeError('failed before first chunk')
            yield b''
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    if path == '/iter/raise-after-first':
        def gen():
            yield b'first chunk\n'
            raise RuntimeError('failed after first chunk')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    if path == '/iter/close':
        class Body:
            def __iter__(self):
                yield b'body with close\n'

            def close(self):
                environ['wsgi.errors'].write('close() called\n')
                environ['wsgi.errors'].flush()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Body()
    if path == '/iter/close-raises':
        class Body:
            def __iter__(self):
                yield b'body\n'

            def close(self):
                raise RuntimeError('close failed')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Body()
    if path == '/iter/close-lookup-raises':
        class Body:
            def __iter__(self):
                yield b'body\n'

            def __getattr__(self, name):
                if name == 'close':
                    raise RuntimeError('close lookup failed')
                raise AttributeError(name)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Body()
    if path == '/iter/str-item':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return ['a str, not bytes\n']
    if path == '/iter/none':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return None
    if path == '/iter/empty':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return []
    if path == '/iter/empty-chunks':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'', b'a', b'', b'b\n', b'']
    if path == '/iter/bytearray':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [bytearray(b'bytearray\n')]

    # --- file wrapper ---------------------------------------------------------
    if path.startswith('/filewrapper'):
        here = os.path.dirname(os.path.abspath(__file__))
        start_response('200 OK', [('Content-Type', 'text/plain')])
        if path == '/filewrapper/file':
            return environ['wsgi.file_wrapper'](open(os.path.join(here, 'data.txt'), 'rb'))
        if path == '/filewrapper/blksize':
            return environ['wsgi.file_wrapper'](open(os.path.join(here, 'data.txt'), 'rb'), 7)
        if path == '/filewrapper/filelike':
            import io
            return environ['wsgi.file_wrapper'](io.BytesIO(b'from a BytesIO\n' * 3))
        if path == '/filewrapper/content-length':
            f = open(os.path.join(here, 'data.txt'), 'rb')
            return environ['wsgi.file_wrapper'](f)
        if path == '/filewrapper/type':
            return [repr(environ['wsgi.file_wrapper']).split(' at ')[0].encode() + b'\n']

    # --- large and streamed responses -------------------------------------------
    if path == '/large':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return [bytes(range(256)) * 4096]
    if path == '/stream':
        import time

        def gen():
            for i in range(20):
                yield (b'%03d ' % i) * 64 + b'\n'
                time.sleep(0.005)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()

    # --- errors and logging -------------------------------------------------
    if path == '/error/raise':
        raise ValueError('application failed')
    if path == '/error/raise-after-start':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        raise ValueError('failed after start_response')
    if path == '/error/wsgi-errors':
        errors = environ['wsgi.errors']
        errors.write('line one\nline two\n')
        errors.writelines(['line three\n', 'line four\n'])
        errors.flush()
        return text(start_response, [type(errors).__name__, caught(lambda: errors.write(b'bytes'))])
    if path == '/error/print':
        print('printed to stdout')
        print('printed to stderr', file=sys.stderr)
        sys.stderr.flush()
        return text(start_response, ['printed'])
    if path == '/error/stdin':
        return text(start_response, [caught(lambda: sys.stdin.read())])
    if path == '/error/stdout-write':
        return text(start_response, [caught(lambda: sys.stdout.write('x\n'))])
    if path == '/error/exit':
        raise SystemExit(3)

    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such case: ' + path.encode('utf-8', 'backslashreplace') + b'\n']
