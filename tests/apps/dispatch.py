# Round-robin dispatch over four named sub-interpreters, as in the
# per-interpreter GIL recipe, plus path-driven overrides for tests.
import itertools
import threading

_lock = threading.Lock()
_counter = itertools.count()

INTERPRETERS = ['interp_0', 'interp_1', 'interp_2', 'interp_3']


def application_group(environ):
    path = environ.get('PATH_INFO', '')
    if path.startswith('/pinned/'):
        return path.split('/')[2]
    if path.startswith('/keep'):
        return None
    with _lock:
        n = next(_counter)
    return INTERPRETERS[n % len(INTERPRETERS)]


def callable_object(environ):
    if environ.get('PATH_INFO', '').startswith('/other'):
        return 'other'
    return None


def process_group(environ):
    if environ.get('PATH_INFO', '').startswith('/daemon'):
        return 'nonexistent'
    return None
