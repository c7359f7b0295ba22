# WSGIDispatchScript for tests/express.rs: spreads requests over four named
# sub-interpreters in turn (each Apache child keeps its own count).
import itertools
import threading

_NAMES = ['interp_0', 'interp_1', 'interp_2', 'interp_3']
_count = itertools.count()
_lock = threading.Lock()


def application_group(environ):
    with _lock:
        n = next(_count)
    return _NAMES[n % len(_NAMES)]
