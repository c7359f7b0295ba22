# Routes for tests/hostile.rs: reading request bodies, very large and
# slow responses, and processes that die in the middle of a response.
import ctypes
import os
import time

MIB = b'x' * (1 << 20)


def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/read':
        try:
            data = environ['wsgi.input'].read()
            body = ('read %d bytes' % len(data)).encode()
        except Exception as e:
            body = ('%s: %s' % (type(e).__name__, e)).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    if path == '/huge':
        # 100 MiB, streamed in 1 MiB chunks.
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(100 << 20))])
        return (MIB for _ in range(100))
    if path.startswith('/die/'):
        how = path[len('/die/'):]

        def body():
            yield b'first chunk\n'
            time.sleep(0.2)
            if how == 'exit':
                os._exit(3)
            elif how == 'abort':
                os.abort()
            elif how == 'segv':
                ctypes.string_at(0)
            yield b'never sent\n'
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return body()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello\n']
