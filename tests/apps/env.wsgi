# Returns a JSON dump of the WSGI environ (non-scalar values as repr).
# POST/PUT bodies are read with wsgi.input.read() and echoed as '_body'
# (latin-1 decoded so arbitrary bytes round-trip). If the request has an
# 'X-Errors-Marker' header its value is written to wsgi.errors.
import json

APP_NAME = 'env'


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return repr(value)


def application(environ, start_response):
    out = {'app': APP_NAME}
    for key, value in environ.items():
        out[key] = _plain(value)

    if environ.get('REQUEST_METHOD') in ('POST', 'PUT'):
        data = environ['wsgi.input'].read()
        out['_body_type'] = type(data).__name__
        out['_body'] = data.decode('latin-1')

    marker = environ.get('HTTP_X_ERRORS_MARKER')
    if marker:
        errors = environ['wsgi.errors']
        errors.write(marker + '\n')
        errors.flush()

    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
