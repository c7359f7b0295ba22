# wsgi.file_wrapper cases: real files (sent from the descriptor), an
# offset, a declared Content-Length, and file-likes without a descriptor.
import io
import os

DATA = os.path.join(os.path.dirname(__file__), 'data.bin')
last = {}


class Chunks:
    """A file-like with read() and close() but no fileno()."""

    def __init__(self, data):
        self.data = data
        self.reads = []
        self.closed = False

    def read(self, size):
        self.reads.append(size)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    def close(self):
        self.closed = True


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    wrapper = environ['wsgi.file_wrapper']
    headers = [('Content-Type', 'application/octet-stream')]
    if path == '/real':
        f = open(DATA, 'rb')
        last['file'] = f
        start_response('200 OK', headers)
        return wrapper(f, 4096)
    if path == '/offset':
        f = open(DATA, 'rb')
        f.seek(1000)
        last['file'] = f
        start_response('200 OK', headers)
        return wrapper(f)
    if path == '/declared':
        f = open(DATA, 'rb')
        last['file'] = f
        start_response('200 OK', headers + [('Content-Length', '5')])
        return wrapper(f)
    if path == '/chunks':
        c = Chunks(b'abcdefghij' * 10)
        last['file'] = c
        start_response('200 OK', headers)
        return wrapper(c, 7)
    if path == '/bytesio':
        start_response('200 OK', headers)
        return wrapper(io.BytesIO(b'in memory'))
    if path == '/last':
        f = last.get('file')
        body = repr({
            'closed': getattr(f, 'closed', None),
            'reads': getattr(f, 'reads', None),
            'is_class': isinstance(wrapper, type),
        }).encode()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [body]
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such case']
