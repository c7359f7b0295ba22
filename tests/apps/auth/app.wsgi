# WSGI app behind the auth scripts of tests/auth_scripts.rs: reports who
# Apache authenticated, where it runs, and what the auth script left in the
# '_auth_test_shared' module of this interpreter (None if the auth script
# never ran in this interpreter).
import json
import os
import sys


def application(environ, start_response):
    shared = sys.modules.get('_auth_test_shared')
    out = {
        'REMOTE_USER': environ.get('REMOTE_USER'),
        'AUTH_TYPE': environ.get('AUTH_TYPE'),
        'HTTP_AUTHORIZATION': environ.get('HTTP_AUTHORIZATION'),
        'AUTH_TEST_SETENV': environ.get('AUTH_TEST_SETENV'),
        'SCRIPT_NAME': environ.get('SCRIPT_NAME'),
        'PATH_INFO': environ.get('PATH_INFO'),
        'process_group': environ.get('mod_wsgi.process_group'),
        'application_group': environ.get('mod_wsgi.application_group'),
        'pid': os.getpid(),
        'shared_calls': getattr(shared, 'calls', None),
    }
    body = json.dumps(out, sort_keys=True).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]
