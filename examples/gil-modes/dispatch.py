# Round-robin over four named sub-interpreters. Each Apache child keeps its
# own counter, so across children the spread is only roughly even.
import itertools
import threading

_lock = threading.Lock()
_counter = itertools.count()

INTERPRETERS = ["interp_0", "interp_1", "interp_2", "interp_3"]


def application_group(environ):
    with _lock:
        n = next(_counter)
    return INTERPRETERS[n % len(INTERPRETERS)]
