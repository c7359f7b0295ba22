# Misbehaving applications, selected by PATH_INFO.


def _raise(environ, start_response):
    raise RuntimeError('boom-raise-marker from errors.wsgi')


def _twice(environ, start_response):
    # Before any output a second call replaces the first (as in C mod_wsgi).
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-First', '1')])
    start_response('201 Created', [('Content-Type', 'text/plain')])
    return [b'second call wins']


def _noniter(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return 42


def _yieldstr(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield 'this is str, not bytes'


def _ok(environ, start_response):
    body = b'errors.wsgi ok'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]


ROUTES = {
    '/raise': _raise,
    '/twice': _twice,
    '/noniter': _noniter,
    '/yieldstr': _yieldstr,
    '/ok': _ok,
}


def application(environ, start_response):
    handler = ROUTES.get(environ.get('PATH_INFO', ''), _ok)
    return handler(environ, start_response)
