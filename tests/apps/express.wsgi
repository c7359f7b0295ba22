# Imports the 'mod_wsgi.express' submodule from a 'mod_wsgi' package found
# on WSGIPythonPath, while 'mod_wsgi' itself is the module's builtin.
import json

import mod_wsgi
import mod_wsgi.express


def application(environ, start_response):
    out = {
        'marker': mod_wsgi.express.MARKER,
        'application_group': getattr(mod_wsgi, 'application_group', None),
        'process_group': getattr(mod_wsgi, 'process_group', None),
    }
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
