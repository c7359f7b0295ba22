# A `mod_wsgi.subscribe_shutdown` subscriber (registered as a decorator)
# appends one JSON line per call to evidence/stopping-<pid>.log next to
# this script: event name, shutdown_reason, interpreter and pid.
import json
import os

import mod_wsgi

EVIDENCE = os.path.join(os.path.dirname(__file__), 'evidence')


@mod_wsgi.subscribe_shutdown
def stopping(name, **event):
    line = json.dumps({'event': name, 'reason': event.get('shutdown_reason'),
                       'group': mod_wsgi.application_group,
                       'process_group': mod_wsgi.process_group,
                       'pid': os.getpid()})
    with open(os.path.join(EVIDENCE, 'stopping-%d.log' % os.getpid()), 'a') as f:
        f.write(line + '\n')


def application(environ, start_response):
    facts = {'pid': os.getpid(), 'group': mod_wsgi.application_group,
             'decorated_name': getattr(stopping, '__name__', None)}
    body = json.dumps(facts).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
