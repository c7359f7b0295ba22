# The request mix of bench/soak.sh and bench/valgrind.sh, selected by
# PATH_INFO. soak-data.bin (next to this file) is written by the script.
import hashlib
import os

DATA = os.path.join(os.path.dirname(__file__), 'soak-data.bin')


def _hello(environ, start_response):
    body = b'Hello World!\n'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]


def _chunks():
    for i in range(8):
        yield (b'chunk %d ' % i) * 64


def _stream(environ, start_response):
    # A generator of several chunks, no Content-Length: streamed.
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return _chunks()


def _file(environ, start_response):
    f = open(DATA, 'rb')
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return environ['wsgi.file_wrapper'](f, 8192)


def _post(environ, start_response):
    # Reads wsgi.input to the end in pieces (works for a Content-Length
    # and for a chunked body) and answers with its length and digest.
    stream = environ['wsgi.input']
    digest = hashlib.sha256()
    size = 0
    while True:
        piece = stream.read(1000)
        if not piece:
            break
        digest.update(piece)
        size += len(piece)
    body = b'%d %s' % (size, digest.hexdigest().encode())
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]


def _raise(environ, start_response):
    raise RuntimeError('soak: deliberate failure')


ROUTES = {
    '/hello': _hello,
    '/stream': _stream,
    '/file': _file,
    '/post': _post,
    '/raise': _raise,
}


def application(environ, start_response):
    return ROUTES.get(environ.get('PATH_INFO', ''), _hello)(environ, start_response)
