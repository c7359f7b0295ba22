# Imports, when the script is loaded, the extension module named in the
# REFUSED_MODULE line below (the test writes it in), which refuses to load
# in an interpreter with its own GIL; then reports where it runs and how
# many interpreters of the process fell back to the shared GIL.
import json
import threading

import mod_wsgi

REFUSED_MODULE = None  # replaced by the test
__import__(REFUSED_MODULE)


def _daemon_threads_refused():
    # Own-GIL interpreters are created without daemon-thread support.
    try:
        t = threading.Thread(target=lambda: None, daemon=True)
        t.start()
        t.join()
        return False
    except RuntimeError:
        return True


def application(environ, start_response):
    mod_wsgi.start_recording_metrics()
    metrics = mod_wsgi.process_metrics()
    out = {
        'application_group': mod_wsgi.application_group,
        'process_group': mod_wsgi.process_group,
        'own_gil_fallbacks': metrics['own_gil_fallbacks'],
        'daemon_threads_refused': _daemon_threads_refused(),
    }
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
