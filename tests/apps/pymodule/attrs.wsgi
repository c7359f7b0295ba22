# Reports the attributes of the built-in `mod_wsgi` module and of its
# companion `apache` module, as seen from the interpreter serving the
# request, for tests/python_module.rs.
import json
import threading

import apache
import mod_wsgi


def _own_gil():
    # An interpreter with its own GIL refuses daemon threads (PEP 684's
    # isolated configuration); the others accept them.
    try:
        t = threading.Thread(target=lambda: None, daemon=True)
        t.start()
        t.join()
        return False
    except RuntimeError:
        return True


def _triple(value):
    return {
        'type': type(value).__name__,
        'ints': isinstance(value, tuple) and all(type(v) is int for v in value),
        'value': list(value) if isinstance(value, tuple) else repr(value),
    }


def application(environ, start_response):
    facts = {
        'version': _triple(mod_wsgi.version),
        'environ_version': _triple(environ.get('mod_wsgi.version')),
        'process_group': mod_wsgi.process_group,
        'application_group': mod_wsgi.application_group,
        'maximum_processes': mod_wsgi.maximum_processes,
        'threads_per_process': mod_wsgi.threads_per_process,
        'apache': {
            'version': _triple(apache.version),
            'description': apache.description,
            'mpm_name': apache.mpm_name,
            'build_date': apache.build_date,
            'maximum_processes': apache.maximum_processes,
            'threads_per_process': apache.threads_per_process,
        },
        'own_gil': _own_gil(),
    }
    body = json.dumps(facts).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
