# Reports interpreter-wide Python settings. '?import=NAME' additionally
# imports module NAME and reports its VALUE attribute.
import json
import sys


def application(environ, start_response):
    out = {
        'optimize': sys.flags.optimize,
        'hash_abc': str(hash('abc')),
        'dont_write_bytecode': sys.dont_write_bytecode,
        'warnoptions': list(sys.warnoptions),
        'prefix': sys.prefix,
        'exec_prefix': sys.exec_prefix,
        'path': list(sys.path),
        'version': '%d.%d' % sys.version_info[:2],
    }
    qs = environ.get('QUERY_STRING', '')
    if qs.startswith('import='):
        name = qs[len('import='):]
        try:
            mod = __import__(name)
            out['import_value'] = getattr(mod, 'VALUE', None)
        except Exception as exc:
            out['import_error'] = '%s: %s' % (type(exc).__name__, exc)
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
