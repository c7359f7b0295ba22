import json, os, threading
import mod_wsgi

def application(environ, start_response):
    if environ.get('PATH_INFO') == '/crash':
        os._exit(3)
    body = environ['wsgi.input'].read() if environ['REQUEST_METHOD'] == 'POST' else b''
    out = json.dumps({
        'pid': os.getpid(), 'ppid': os.getppid(), 'uid': os.getuid(),
        'group': environ['mod_wsgi.process_group'],
        'app_group': environ['mod_wsgi.application_group'],
        'thread': threading.get_ident(), 'body_len': len(body),
        'multithread': environ['wsgi.multithread'],
        'maximum_processes': mod_wsgi.maximum_processes,
        'threads_per_process': mod_wsgi.threads_per_process,
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [out]
