# Reports the method the application saw in a header, so HEAD shows it.
def application(environ, start_response):
    body = b'x' * 2000
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('X-Seen-Method', environ['REQUEST_METHOD'])])
    return [body]
