# Deliberately has no 'application' callable.
def myapp(environ, start_response):
    body = b'callable myapp'
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]
