# A well-behaved application wrapped in wsgiref.validate.validator. Any
# violation by the server (environ, wsgi.input, wsgi.errors,
# start_response, write) raises AssertionError, and every WSGIWarning is
# turned into an error, so a server fault shows up as a 500 with a
# traceback in the error log.
import hashlib
import os
import warnings
from wsgiref.validate import validator, WSGIWarning

warnings.simplefilter('error', WSGIWarning)

DATA = os.path.join(os.path.dirname(__file__), 'validate-data.txt')
TEXT = [('Content-Type', 'text/plain')]


def inner(environ, start_response):
    path = environ.get('PATH_INFO', '')
    errors = environ['wsgi.errors']
    errors.write('VALIDATE-RAN %s %s\n' % (environ['REQUEST_METHOD'], path))
    errors.writelines(['VALIDATE-WRITELINES %s\n' % path])
    errors.flush()

    if path == '/get':
        body = ('query=%s' % environ['QUERY_STRING']).encode()
        start_response('200 OK', TEXT + [('Content-Length', str(len(body)))])
        return [body]

    if path == '/post':
        f = environ['wsgi.input']
        length = int(environ.get('CONTENT_LENGTH') or 0)
        first = f.readline()
        part = f.read(min(10, length - len(first)))
        rest = b''.join(line for line in f)
        data = first + part + rest
        body = ('length=%d sha256=%s' % (
            len(data), hashlib.sha256(data).hexdigest())).encode()
        start_response('200 OK', TEXT + [('Content-Length', str(len(body)))])
        return [body]

    if path == '/readlines':
        lines = environ['wsgi.input'].readlines()
        body = ('lines=%d' % len(lines)).encode()
        start_response('200 OK', TEXT)
        return [body]

    if path == '/stream':
        start_response('200 OK', TEXT)

        def gen():
            for i in range(3):
                yield ('part%d;' % i).encode()
        return gen()

    if path == '/write':
        write = start_response('200 OK', TEXT)
        write(b'written;')
        return [b'returned']

    if path == '/file':
        start_response('200 OK', TEXT)
        return environ['wsgi.file_wrapper'](open(DATA, 'rb'), 1024)

    if path == '/nocontent':
        start_response('204 No Content', [])
        return []

    start_response('404 Not Found', TEXT)
    return [b'no such case']


application = validator(inner)
