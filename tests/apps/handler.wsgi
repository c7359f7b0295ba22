# A WSGIHandlerScript: handle_request is the fixed entry point, and
# reload_required(resource) may ask for the script to be reloaded.
import builtins
import json

# Counted outside the module, which is replaced on reload.
builtins._handler_loads = getattr(builtins, '_handler_loads', 0) + 1


def reload_required(resource):
    return resource.endswith('reload.tmpl')


def handle_request(environ, start_response):
    with open(environ['SCRIPT_FILENAME'], 'rb') as f:
        content = f.read().decode()
    body = json.dumps({
        'loads': builtins._handler_loads,
        'content': content,
        'handler': environ['mod_wsgi.request_handler'],
        'handler_script': environ['mod_wsgi.handler_script'],
        'script_name': environ['SCRIPT_NAME'],
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
