# The shutdown seed scenario: at import the application starts a
# non-daemon thread that loops until a threading.Event is set. The hook
# that sets it depends on the script's file name: seed_atexit*.wsgi uses
# atexit, any other name mod_wsgi.subscribe_shutdown. Evidence lines go to
# evidence/seed-<pid>.log next to the script.
import atexit
import json
import os
import threading

import mod_wsgi

EVIDENCE = os.path.join(os.path.dirname(__file__), 'evidence')
HOOK = ('atexit' if os.path.basename(__file__).startswith('seed_atexit')
        else 'subscribe_shutdown')


def note(what):
    with open(os.path.join(EVIDENCE, 'seed-%d.log' % os.getpid()), 'a') as f:
        f.write(what + '\n')


stop = threading.Event()


def worker():
    while not stop.wait(0.05):
        pass
    note('worker stopped')


# Explicitly non-daemon: a thread started from a request thread would
# otherwise inherit that thread's daemon flag.
worker_thread = threading.Thread(target=worker, name='seed-worker', daemon=False)
worker_thread.start()


def stop_worker(*args, **kwargs):
    note('%s callback ran' % HOOK)
    stop.set()


if HOOK == 'atexit':
    atexit.register(stop_worker)
else:
    mod_wsgi.subscribe_shutdown(stop_worker)


def _own_gil():
    try:
        t = threading.Thread(target=lambda: None, daemon=True)
        t.start()
        t.join()
        return False
    except RuntimeError:
        return True


def application(environ, start_response):
    facts = {'pid': os.getpid(), 'hook': HOOK, 'own_gil': _own_gil(),
             'group': mod_wsgi.application_group,
             'worker_alive': worker_thread.is_alive()}
    body = json.dumps(facts).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
