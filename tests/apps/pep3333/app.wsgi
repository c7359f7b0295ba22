# PEP 3333 request-input / response-output cases, selected by PATH_INFO.
# OUT_DIR (a directory www-data can write) is substituted by the test.
# Markers written to wsgi.errors let the test see what ran.
import hashlib
import json
import os
import sys
import time

OUT_DIR = '@OUT_DIR@'

_ops = {}
exec(open(os.path.join(os.path.dirname(__file__), 'input_ops.py')).read(),
     _ops)
INPUT_OPS = _ops['OPS']

TEXT = [('Content-Type', 'text/plain')]


def _query(environ):
    out = {}
    for part in environ.get('QUERY_STRING', '').split('&'):
        if '=' in part:
            k, v = part.split('=', 1)
            out[k] = v
    return out


def _log(environ, text):
    errors = environ['wsgi.errors']
    errors.write(text + '\n')
    errors.flush()


def _record(name, text):
    # Written aside and renamed: a test that waits for the file to exist
    # must never read it half written.
    path = os.path.join(OUT_DIR, name)
    with open(path + '.tmp', 'w') as fh:
        fh.write(text)
    os.replace(path + '.tmp', path)


def _json(start_response, obj, status='200 OK'):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
    return [body]


# ---- input ----

def input_op(environ, start_response):
    op = _query(environ)['op']
    result = INPUT_OPS[op](environ['wsgi.input'])
    body = repr(result).encode()
    start_response('200 OK', TEXT + [('Content-Length', str(len(body)))])
    return [body]


def big_read(environ, start_response):
    f = environ['wsgi.input']
    h = hashlib.sha256()
    sizes = []
    while True:
        data = f.read(8192)
        if not data:
            break
        sizes.append(len(data))
        h.update(data)
    return _json(start_response, {
        'length': sum(sizes),
        'reads': len(sizes),
        'oversized': sum(1 for s in sizes if s > 8192),
        'short_before_last': sum(1 for s in sizes[:-1] if s != 8192),
        'sha256': h.hexdigest(),
        'after_eof': repr(f.read(8192)),
    })


def terminated(environ, start_response):
    value = environ.get('wsgi.input_terminated', 'MISSING')
    return _json(start_response, {
        'present': 'wsgi.input_terminated' in environ,
        'repr': repr(value),
        'is_true': value is True,
    })


def body_echo(environ, start_response):
    tag = _query(environ).get('tag', '')
    _log(environ, 'BODY-APP-CALLED %s' % tag)
    data = environ['wsgi.input'].read()
    start_response('200 OK', TEXT + [
        ('Content-Length', str(len(data))),
        ('X-Env-Content-Length', repr(environ.get('CONTENT_LENGTH'))),
        ('X-Env-Transfer-Encoding',
         repr(environ.get('HTTP_TRANSFER_ENCODING'))),
    ])
    return [data]


def body_pieces(environ, start_response):
    """De-chunked body read with read(n) and readline()."""
    f = environ['wsgi.input']
    first = f.readline()
    rest = []
    while True:
        data = f.read(1000)
        if not data:
            break
        rest.append(data)
    return _json(start_response, {
        'first': first.decode('latin-1'),
        'rest_length': sum(len(r) for r in rest),
        'sha256': hashlib.sha256(first + b''.join(rest)).hexdigest(),
    })


def partial(environ, start_response):
    tag = _query(environ).get('tag', '')
    _log(environ, 'PARTIAL-START %s' % tag)
    f = environ['wsgi.input']
    got = 0
    started = time.time()
    try:
        while True:
            data = f.read(8192)
            if not data:
                break
            got += len(data)
        outcome = 'PARTIAL-NO-ERROR %s got=%d' % (tag, got)
    except Exception as e:
        outcome = 'PARTIAL-READ-ERROR %s %s isOSError=%s got=%d msg=%s' % (
            tag, type(e).__name__, isinstance(e, OSError), got, e)
    outcome += ' after=%.1fs' % (time.time() - started)
    _log(environ, outcome)
    _record('partial-' + tag, outcome)
    body = outcome.encode()
    start_response('200 OK', TEXT + [('Content-Length', str(len(body)))])
    return [body]


# ---- write() and the iterable ----

def write_then_yield(environ, start_response):
    write = start_response('200 OK', TEXT)
    write(b'one-')
    write(b'two-')

    def rest():
        yield b'three-'
        yield b''
        yield b'four'
    return rest()


def write_then_single(environ, start_response):
    write = start_response('200 OK', TEXT)
    write(b'AB')
    return [b'CD']


def write_str(environ, start_response):
    write = start_response('200 OK', TEXT)
    results = []
    for value in ('text', 42):
        try:
            write(value)
            results.append('%s:no-error' % type(value).__name__)
        except TypeError:
            results.append('%s:TypeError' % type(value).__name__)
    return [' '.join(results).encode()]


# ---- exc_info ----

def exc_replace(environ, start_response):
    start_response('200 OK', TEXT + [('X-First', '1')])
    try:
        raise ValueError('replace-marker')
    except ValueError:
        start_response('503 Service Unavailable',
                       TEXT + [('X-Second', '2')], sys.exc_info())
    return [b'replacement body']


def exc_after_sent(environ, start_response):
    start_response('200 OK', TEXT)
    yield b'partial-'
    try:
        raise ValueError('late-error-marker')
    except ValueError:
        start_response('500 Internal Server Error', TEXT, sys.exc_info())
    # Only reached if start_response() did not re-raise.
    yield b'START-RESPONSE-DID-NOT-RAISE'


# ---- start_response validation ----

def _bad(status, headers):
    def app(environ, start_response):
        start_response(status, headers)
        return [b'BAD-RESPONSE-WAS-SENT']
    return app


# ---- iterable rules ----

def list_int_first(environ, start_response):
    start_response('200 OK', TEXT)
    return [42, b'BAD-RESPONSE-WAS-SENT']


def list_int_later(environ, start_response):
    start_response('200 OK', TEXT)
    return [b'ok-', 42, b'AFTER-INT']


class RaisingBody(object):
    def __init__(self, environ):
        self.environ = environ
        self.tag = _query(environ).get('tag', '')

    def __iter__(self):
        yield b'first-chunk-'
        raise RuntimeError('gen-raise-marker')

    def close(self):
        _record('closed-' + self.tag, 'closed')
        _log(self.environ, 'RAISING-BODY-CLOSED %s' % self.tag)


def gen_raises(environ, start_response):
    start_response('200 OK', TEXT)
    return RaisingBody(environ)


# ---- Content-Length ----

def cl_over(environ, start_response):
    start_response('200 OK', TEXT + [('Content-Length', '10')])
    return [b'0123456789', b'ABCDEFGHIJ']


def cl_under(environ, start_response):
    start_response('200 OK', TEXT + [('Content-Length', '20')])
    return [b'0123456789', b'']


# ---- streaming ----

def stream_yield(environ, start_response):
    start_response('200 OK', TEXT)
    yield b'FIRST-CHUNK\n'
    time.sleep(1)
    yield b'SECOND-CHUNK\n'


def stream_write(environ, start_response):
    write = start_response('200 OK', TEXT)
    write(b'FIRST-CHUNK\n')
    time.sleep(1)
    write(b'SECOND-CHUNK\n')
    return []


class BigStream(object):
    """1000 chunks of 64 KB with small pauses; close() records how many
    chunks were produced."""

    def __init__(self, environ):
        self.environ = environ
        self.tag = _query(environ).get('tag', '')
        self.produced = 0

    def __iter__(self):
        chunk = b'x' * 65536
        for _ in range(1000):
            self.produced += 1
            yield chunk
            time.sleep(0.002)

    def close(self):
        text = 'BIGSTREAM-CLOSED %s produced=%d' % (self.tag, self.produced)
        _record('bigstream-' + self.tag, text)
        _log(self.environ, text)


def big_stream(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return BigStream(environ)


# ---- HEAD ----

def head_cl(environ, start_response):
    _log(environ, 'HEAD-APP-RAN %s %s' % (environ['REQUEST_METHOD'],
                                          _query(environ).get('tag', '')))
    body = b'thirteen byte'
    start_response('200 OK', TEXT + [('Content-Length', str(len(body))),
                                     ('X-Head-Test', 'yes')])
    return [body]


def head_gen(environ, start_response):
    _log(environ, 'HEAD-APP-RAN %s %s' % (environ['REQUEST_METHOD'],
                                          _query(environ).get('tag', '')))
    start_response('200 OK', TEXT + [('X-Head-Test', 'gen')])
    yield b'generated '
    yield b'body'


def ok(environ, start_response):
    body = b'pep3333 ok'
    start_response('200 OK', TEXT + [('Content-Length', str(len(body)))])
    return [body]


ROUTES = {
    '/input': input_op,
    '/bigread': big_read,
    '/terminated': terminated,
    '/echo': body_echo,
    '/chunked/echo': body_echo,
    '/chunked/pieces': body_pieces,
    '/limit': body_echo,
    '/partial': partial,
    '/write_then_yield': write_then_yield,
    '/write_then_single': write_then_single,
    '/write_str': write_str,
    '/exc_replace': exc_replace,
    '/exc_after_sent': exc_after_sent,
    '/bad/status_bytes': _bad(b'200 OK', TEXT),
    '/bad/status_no_reason': _bad('200', TEXT),
    '/bad/header_name_space': _bad('200 OK', TEXT + [('Bad Name', 'x')]),
    '/bad/header_value_crlf': _bad(
        '200 OK', TEXT + [('X-Injected', 'a\r\nSet-Cookie: evil=1')]),
    '/bad/header_value_int': _bad('200 OK', TEXT + [('X-Number', 42)]),
    '/bad/hop_by_hop': _bad('200 OK', TEXT + [('Connection', 'close')]),
    '/bad/headers_tuple': _bad('200 OK', tuple(TEXT)),
    '/list_int_first': list_int_first,
    '/list_int_later': list_int_later,
    '/gen_raises': gen_raises,
    '/cl_over': cl_over,
    '/cl_under': cl_under,
    '/stream_yield': stream_yield,
    '/stream_write': stream_write,
    '/big_stream': big_stream,
    '/head_cl': head_cl,
    '/head_gen': head_gen,
    '/ok': ok,
}


def application(environ, start_response):
    handler = ROUTES.get(environ.get('PATH_INFO', ''))
    if handler is None:
        start_response('404 Not Found', TEXT)
        return [b'no such case']
    return handler(environ, start_response)
