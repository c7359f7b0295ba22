"""The smallest useful WSGI application: answers every request with a
plain-text greeting. Serve it to check that a request makes it through
Apache and the module to Python and back::

    mod_wsgi-express start-server --application-type module \\
        mod_wsgi.diagnostics.hello
"""

GREETING = b'Hello World!\n'


def application(environ, start_response):
    start_response('200 OK', [
        ('Content-Type', 'text/plain; charset=utf-8'),
        ('Content-Length', str(len(GREETING))),
    ])
    return [GREETING]
