# mod_wsgi.LogHandler and the subscriber lists, as the C module has them.
import json
import logging

import mod_wsgi

logger = logging.getLogger("loghandler-test")
logger.addHandler(mod_wsgi.LogHandler())
logger.setLevel(1)
logger.propagate = False

seen = []


def late_subscriber(name, **kwargs):
    seen.append(name)


mod_wsgi.event_callbacks.append(late_subscriber)


def application(environ, start_response):
    logger.log(5, "record-level-5")
    logger.info("record-info")
    logger.warning("record-warning\nsecond-line")
    logger.log(45, "record-level-45")
    logger.critical("record-critical")
    filtered = logging.getLogger("loghandler-filtered")
    filtered.addHandler(mod_wsgi.LogHandler(logging.ERROR))
    filtered.propagate = False
    filtered.warning("record-below-handler-level")
    body = {
        "mro": [c.__module__ + "." + c.__name__ for c in mod_wsgi.LogHandler.__mro__],
        "lists": [
            type(getattr(mod_wsgi, n)).__name__
            for n in ("event_callbacks", "shutdown_callbacks", "signal_callbacks")
        ],
        "seen": seen,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
