# Reports the interpreter's GIL-related facts for the GIL-mode tests.
#   ?import=NAME   import a module first (to show extension refusals)
#   ?spin=PATH     rendezvous with another request through a shared file
import json
import mmap
import os
import sys
import threading
import time
from urllib.parse import parse_qs

import mod_wsgi

imports_seen = []

# Differs between two loads of this script, so it tells the interpreters
# (pool members) that served two requests apart.
LOAD_TOKEN = os.urandom(8).hex()


def _daemon_threads_refused():
    # Interpreters with their own GIL are created without daemon-thread
    # support (PEP 684's isolated configuration).
    try:
        t = threading.Thread(target=lambda: None, daemon=True)
        t.start()
        t.join()
        return False
    except RuntimeError:
        return True


def _rendezvous(path, slot, peer):
    # Marks our slot, then busy-waits (holding our GIL, never sleeping)
    # until the peer's slot is marked or the deadline passes. With a
    # switch interval far longer than the deadline, the peer can only mark
    # its slot meanwhile if it runs on another GIL.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        with open(path, 'r+b') as f:
            m = mmap.mmap(f.fileno(), 2)
            m[slot] = 1
            deadline = time.monotonic() + 3.0
            seen = False
            while time.monotonic() < deadline:
                if m[peer] == 1:
                    seen = True
                    break
            m.close()
            return seen
    finally:
        sys.setswitchinterval(old)


def application(environ, start_response):
    query = parse_qs(environ.get('QUERY_STRING', ''))
    out = {
        'application_group': mod_wsgi.application_group,
        'switch_interval': sys.getswitchinterval(),
        'daemon_threads_refused': _daemon_threads_refused(),
        'gil_enabled': getattr(sys, '_is_gil_enabled', lambda: True)(),
        'pid': os.getpid(),
        'callable': environ.get('mod_wsgi.callable_object'),
        'load_token': LOAD_TOKEN,
    }
    status = '200 OK'
    if 'import' in query:
        name = query['import'][0]
        __import__(name)
        imports_seen.append(name)
        out['imported'] = name
    if 'spin' in query:
        slot = int(query['slot'][0])
        out['saw_peer'] = _rendezvous(query['spin'][0], slot, 1 - slot)
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))])
    return [body]


def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'other callable in ' + mod_wsgi.application_group.encode()]
