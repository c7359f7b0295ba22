# One application probing request handling; PATH_INFO's last segment picks
# the probe. Every probe answers text/plain lines, compared byte for byte
# between the C mod_wsgi and ours.
import io
import sys

# Values that differ from run to run: only their type is reported.
VOLATILE = {
    'mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start',
    'mod_wsgi.application_start', 'mod_wsgi.request_id',
    'mod_wsgi.connection_id', 'mod_wsgi.thread_id', 'mod_wsgi.server_pid',
    'REMOTE_PORT', 'UNIQUE_ID', 'wsgi.input', 'wsgi.errors',
    'wsgi.file_wrapper', 'apache.request_rec',
}


def describe(value):
    return '%s %r' % (type(value).__name__, value)


def environ_lines(environ):
    lines = []
    for key in sorted(environ):
        value = environ[key]
        if key in VOLATILE:
            lines.append('%s: %s' % (key, type(value).__name__))
        else:
            lines.append('%s: %s' % (key, describe(value)))
    return lines


def outcome(call):
    try:
        result = call()
        return 'ok %s' % (type(result).__name__ if callable(result) else repr(result))
    except BaseException as e:
        return '%s: %s' % (type(e).__name__, e)


def stream_lines(environ):
    errors = environ['wsgi.errors']
    lines = [
        'wsgi.errors %s' % type(errors).__name__,
        'wsgi.errors.buffer %s' % outcome(lambda: type(errors.buffer).__name__),
        'sys.stdin %s' % type(sys.stdin).__name__,
        'sys.stdout %s' % type(sys.stdout).__name__,
        'sys.stderr %s' % type(sys.stderr).__name__,
        'sys.stdin.read %s' % outcome(lambda: sys.stdin.read(0)),
    ]
    buffer = getattr(errors, 'buffer', None)
    for name, data in [('bytes', b'b\n'), ('bytearray', bytearray(b'ba\n')),
                       ('memoryview', memoryview(b'mv\n')), ('str', 'text\n')]:
        lines.append('buffer.write(%s) %s' % (
            name, outcome(lambda: buffer.write(data))))
        lines.append('buffer.writelines(%s) %s' % (
            name, outcome(lambda: buffer.writelines([data, data]))))
    lines.append('errors.write(bytes) %s' % outcome(lambda: errors.write(b'x\n')))
    lines.append('errors.writelines %s' % outcome(
        lambda: errors.writelines(['a\n', 'b\n'])))
    lines.append('errors.flush %s' % outcome(errors.flush))
    return lines


# start_response arguments that each module must refuse (or accept) alike.
BAD_START = [
    ('no digits', ('OK', [])),
    ('non-digits', ('2x0 OK', [])),
    ('four digits', ('2000 OK', [])),
    ('two digits', ('20 OK', [])),
    ('no space', ('200OK', [])),
    ('status only', ('200', [])),
    ('cr in status', ('200 OK\r\nX: y', [])),
    ('lf in status', ('200 OK\nX: y', [])),
    ('bytes status', (b'200 OK', [])),
    ('int status', (200, [])),
    ('non-latin-1 status', ('200 \u20ac', [])),
    ('headers tuple', ('200 OK', (('A', 'b'),))),
    ('headers dict', ('200 OK', {'A': 'b'})),
    ('header not tuple', ('200 OK', [['A', 'b']])),
    ('header 3-tuple', ('200 OK', [('A', 'b', 'c')])),
    ('header 1-tuple', ('200 OK', [('A',)])),
    ('empty name', ('200 OK', [('', 'v')])),
    ('space in name', ('200 OK', [('X Y', 'v')])),
    ('colon in name', ('200 OK', [('X:Y', 'v')])),
    ('tab in name', ('200 OK', [('X\tY', 'v')])),
    ('control in name', ('200 OK', [('X\x01Y', 'v')])),
    ('cr in name', ('200 OK', [('X\rY', 'v')])),
    ('lf in name', ('200 OK', [('X\nY', 'v')])),
    ('bytes name', ('200 OK', [(b'X', 'v')])),
    ('int name', ('200 OK', [(1, 'v')])),
    ('non-latin-1 name', ('200 OK', [('X\u20ac', 'v')])),
    ('latin-1 name', ('200 OK', [('X\xe9', 'v')])),
    ('empty value', ('200 OK', [('X', '')])),
    ('space value', ('200 OK', [('X', ' a b ')])),
    ('tab value', ('200 OK', [('X', 'a\tb')])),
    ('control value', ('200 OK', [('X', 'a\x01b')])),
    ('del value', ('200 OK', [('X', 'a\x7fb')])),
    ('cr value', ('200 OK', [('X', 'a\rb')])),
    ('lf value', ('200 OK', [('X', 'a\nb')])),
    ('crlf injection', ('200 OK', [('X', 'a\r\nSet-Cookie: evil=1')])),
    ('bytes value', ('200 OK', [('X', b'v')])),
    ('int value', ('200 OK', [('X', 1)])),
    ('none value', ('200 OK', [('X', None)])),
    ('non-latin-1 value', ('200 OK', [('X', '\u20ac')])),
    ('latin-1 value', ('200 OK', [('X', '\xe9')])),
    ('exc_info list', ('200 OK', [], [None, None, None])),
    ('exc_info string', ('200 OK', [], 'oops')),
    ('exc_info none tuple', ('200 OK', [], (None, None, None))),
    ('exc_info none', ('200 OK', [], None)),
    ('tab in status', ('200 O\tK', [])),
    ('control in status', ('200 O\x01K', [])),
    ('del in status', ('200 O\x7fK', [])),
    ('exc_info 2-tuple', ('200 OK', [], (None, None))),
    ('too few args', ('200 OK',)),
    ('too many args', ('200 OK', [], None, None)),
]


def application(environ, start_response):
    probe = environ.get('PATH_INFO', '').rsplit('/', 1)[-1]
    status, headers, body = '200 OK', [('Content-Type', 'text/plain')], None
    if probe == 'environ':
        body = environ_lines(environ)
    elif probe == 'streams':
        body = stream_lines(environ)
    elif probe == 'start_response':
        body = ['%s: %s' % (name, outcome(lambda: start_response(*args)))
                for name, args in BAD_START]
    elif probe == 'restart':
        # A second call before any output replaces status and headers.
        start_response('500 First', [('X-First', '1')])
        start_response('201 Second', [('X-Second', '2'), ('Content-Type', 'text/plain')])
        return [b'second\n']
    elif probe == 'restart_exc_info':
        start_response('500 First', [('X-First', '1')])
        try:
            raise ValueError('boom')
        except ValueError:
            start_response('202 Third', [('X-Third', '3'), ('Content-Type', 'text/plain')], sys.exc_info())
        return [b'third\n']
    elif probe == 'after_output':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'started\n')
        lines = []
        try:
            raise ValueError('late')
        except ValueError:
            lines.append(outcome(lambda: start_response('500 Late', [], sys.exc_info())))
        lines.append(outcome(lambda: start_response('500 Again', [])))
        return [('\n'.join(lines) + '\n').encode()]
    elif probe == 'duplicates':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Dup', 'one'),
                                  ('X-Other', 'between'), ('X-Dup', 'two'),
                                  ('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2'),
                                  ('x-dup', 'three'), ('WWW-Authenticate', 'Basic realm="a"'),
                                  ('WWW-Authenticate', 'Bearer'), ('Cache-Control', 'no-cache'),
                                  ('Cache-Control', 'private'), ('Vary', 'A'), ('Vary', 'B')])
        return [b'dup\n']
    elif probe == 'file_wrapper':
        wrapper = environ['wsgi.file_wrapper']
        body = [
            'bytesio close %s' % hasattr(wrapper(io.BytesIO(b'x')), 'close'),
            'plain close %s' % hasattr(wrapper(object()), 'close'),
            'plain close() %s' % outcome(lambda: wrapper(object()).close()),
            'blksize close %s' % hasattr(wrapper(io.BytesIO(b'x'), 10), 'close'),
        ]
    else:
        status, body = '404 Not Found', ['unknown probe %r' % probe]
    start_response(status, headers)
    return [('\n'.join(body) + '\n').encode('utf-8', 'backslashreplace')]
