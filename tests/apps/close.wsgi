# The returned iterable's close() creates OUT_DIR/closed-<QUERY_STRING>
# and writes a marker to wsgi.errors. OUT_DIR is substituted by the test.
import os

OUT_DIR = '@OUT_DIR@'


class Body(object):
    def __init__(self, environ):
        self.environ = environ
        self.tag = environ.get('QUERY_STRING', '') or 'none'

    def __iter__(self):
        yield b'close '
        yield b'test'

    def close(self):
        with open(os.path.join(OUT_DIR, 'closed-' + self.tag), 'w') as fh:
            fh.write('closed\n')
        errors = self.environ['wsgi.errors']
        errors.write('CLOSE-CALLED-%s\n' % self.tag)
        errors.flush()


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Body(environ)
