# Daemon fault-test application: small, cheap answers under steady load.
#
# Endpoints (PATH_INFO):
#   /fast            {"pid", "ppid", "group"} at once
#   /sleep?s=N       sleeps N seconds, then the same answer
#   /sleep?s=N&mark=NAME
#                    first creates marks/NAME next to this script (so a test
#                    knows the request reached the application), then sleeps
import json
import os
import time
from urllib.parse import parse_qs

MARKS = os.path.join(os.path.dirname(__file__), 'marks')


def _answer(environ, start_response):
    body = json.dumps({
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'group': environ.get('mod_wsgi.process_group'),
    }).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    query = parse_qs(environ.get('QUERY_STRING', ''))
    if path == '/fast':
        return _answer(environ, start_response)
    if path == '/sleep':
        mark = query.get('mark', [''])[0]
        if mark:
            with open(os.path.join(MARKS, os.path.basename(mark)), 'w') as f:
                f.write(str(os.getpid()))
        time.sleep(float(query.get('s', ['0'])[0]))
        return _answer(environ, start_response)
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'no such endpoint']
