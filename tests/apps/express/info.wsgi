# Reports where and how the request ran, for tests/express.rs.
#   /sleep/SECONDS   sleeps first (request-timeout)
#   ?import=NAME     imports NAME and reports its VALUE
#   /metrics         adds what mod_wsgi.server_metrics() and
#                    request_metrics() give
import json
import os
import sys
import time


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path.startswith('/sleep/'):
        time.sleep(float(path[len('/sleep/'):]))
    out = {
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'uid': os.getuid(),
        'cwd': os.getcwd(),
        'process_group': environ.get('mod_wsgi.process_group'),
        'application_group': environ.get('mod_wsgi.application_group'),
        'multithread': environ['wsgi.multithread'],
        'multiprocess': environ['wsgi.multiprocess'],
        'script_name': environ.get('SCRIPT_NAME'),
        'path_info': path,
        'url_scheme': environ['wsgi.url_scheme'],
        'env': {name: environ.get(name)
                for name in ('EXPRESS_FOO', 'EXPRESS_PASSED', 'INCLUDED')},
        'sys_path': sys.path,
        'lc_all': os.environ.get('LC_ALL'),
    }
    if path == '/metrics':
        import mod_wsgi
        mod_wsgi.start_recording_metrics()
        out['server_limit'] = (mod_wsgi.server_metrics() or {}).get(
            'server_limit')
        out['request_metrics_withheld'] = mod_wsgi.request_metrics() is None
    query = environ.get('QUERY_STRING', '')
    if query.startswith('import='):
        module = __import__(query[len('import='):])
        out['imported'] = getattr(module, 'VALUE', None)
    body = json.dumps(out).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]


# For --callable-object.
app = application
