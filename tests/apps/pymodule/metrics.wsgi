# Calls the metrics accessors of the `mod_wsgi` module on request:
#   /peek     request_metrics() and process_metrics() together
#   /start    start_recording_metrics()
#   /request  request_metrics()      /process  process_metrics()
#   /server   server_metrics()
#   /missing  answers 404            /fail     raises (500)
# Every answer carries the serving pid and the Apache child's pid.
import json
import os

import mod_wsgi


def application(environ, start_response):
    path = environ.get('PATH_INFO')
    facts = {'pid': os.getpid(), 'server_pid': environ.get('mod_wsgi.server_pid')}
    status = '200 OK'
    if path == '/peek':
        facts['request'] = mod_wsgi.request_metrics()
        facts['process'] = mod_wsgi.process_metrics()
    elif path == '/start':
        facts['started'] = mod_wsgi.start_recording_metrics()
    elif path == '/request':
        facts['metrics'] = mod_wsgi.request_metrics()
    elif path == '/process':
        facts['metrics'] = mod_wsgi.process_metrics()
    elif path == '/server':
        facts['metrics'] = mod_wsgi.server_metrics()
    elif path == '/missing':
        status = '404 Not Found'
    elif path == '/fail':
        raise RuntimeError('failing on purpose')
    body = json.dumps(facts, default=repr).encode()
    start_response(status, [('Content-Type', 'application/json')])
    return [body]
