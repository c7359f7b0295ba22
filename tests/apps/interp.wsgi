# Reports which interpreter the request runs in, a module-level request
# counter and the attributes of the builtin 'mod_wsgi' module.
import json
import os

import mod_wsgi

counter = 0


def _interp_ids():
    for name in ('_interpreters', '_xxsubinterpreters'):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        try:
            cur, main = mod.get_current(), mod.get_main()
        except Exception:
            return None, None
        if isinstance(cur, tuple):
            cur = cur[0]
        if isinstance(main, tuple):
            main = main[0]
        return int(cur), int(main)
    return None, None


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return repr(value)


def application(environ, start_response):
    global counter
    counter += 1
    cur, main = _interp_ids()
    version = getattr(mod_wsgi, 'version', None)
    out = {
        'counter': counter,
        'pid': os.getpid(),
        'interp_id': cur,
        'main_id': main,
        'is_main': None if cur is None else cur == main,
        'application_group': _plain(getattr(mod_wsgi, 'application_group', None)),
        'process_group': _plain(getattr(mod_wsgi, 'process_group', None)),
        'version': _plain(version),
        'version_is_int_tuple': isinstance(version, tuple) and len(version) > 0
                                and all(isinstance(v, int) for v in version),
        'environ_application_group': environ.get('mod_wsgi.application_group'),
        'environ_process_group': environ.get('mod_wsgi.process_group'),
    }
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
