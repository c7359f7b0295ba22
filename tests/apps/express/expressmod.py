# An application given to mod_wsgi-express as a module
# (--application-type module expressmod --callable-object app).
import json
import os

import expresshelper


def app(environ, start_response):
    body = json.dumps({
        'pid': os.getpid(),
        'helper': expresshelper.VALUE,
        'script_name': environ.get('SCRIPT_NAME'),
        'path_info': environ.get('PATH_INFO'),
        'process_group': environ.get('mod_wsgi.process_group'),
    }).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
