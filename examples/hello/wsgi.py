import sys

import mod_wsgi


def application(environ, start_response):
    body = (
        "Hello from mod_wsgi (Rust) %s, Python %s, application group %r\n"
        % (".".join(map(str, mod_wsgi.version)), sys.version.split()[0], mod_wsgi.application_group)
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]
