# Fails at import until the file ready.marker exists next to it (for the
# startup-timeout= test); then answers its pid as JSON.
import json
import os

MARKER = os.path.join(os.path.dirname(__file__), 'ready.marker')
if not os.path.exists(MARKER):
    raise RuntimeError('boot.wsgi: marker file missing (pid %d)' % os.getpid())


def application(environ, start_response):
    body = json.dumps({'pid': os.getpid(), 'ppid': os.getppid()}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
