# Registers two `mod_wsgi.subscribe_signals` subscribers (one by a plain
# call, one as a decorator) that write down each process_signal event and
# also report it on sys.stderr; every request returns what they received.
import json
import os
import sys
import threading

import mod_wsgi

received = []
lock = threading.Lock()


def _note(who, name, event):
    with lock:
        received.append({'subscriber': who, 'event': name,
                         'signame': event.get('signame'),
                         'signum': event.get('signum'), 'pid': os.getpid()})
    sys.stderr.write('signal subscriber %s got %s in pid %d\n'
                     % (who, event.get('signame'), os.getpid()))
    sys.stderr.flush()


def on_signal(name, **event):
    _note('plain', name, event)


returned = mod_wsgi.subscribe_signals(on_signal)


@mod_wsgi.subscribe_signals
def decorated(name, **event):
    _note('decorated', name, event)


def application(environ, start_response):
    with lock:
        facts = {
            'pid': os.getpid(),
            'process_group': mod_wsgi.process_group,
            'returned_same': returned is on_signal,
            'decorated_name': getattr(decorated, '__name__', None),
            'decorated_callable': callable(decorated),
            'received': list(received),
        }
    body = json.dumps(facts).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
