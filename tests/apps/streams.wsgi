# Output from print(), sys.stdout/sys.stderr and background threads, and
# the WSGIRestrict* behaviours, selected by PATH_INFO.
import json
import signal
import sys
import threading

print('streams-module-import-line', file=sys.stderr)

_marker_handler_calls = []


def _handler(signum, frame):
    _marker_handler_calls.append(signum)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    tag = environ.get('QUERY_STRING', '')
    out = {}
    if path == '/print':
        print('stdout-line-' + tag)
        print('stderr-line-' + tag, file=sys.stderr)
        print('partial-' + tag, end='')
        out['ok'] = True
    elif path == '/thread':
        t = threading.Thread(target=lambda: print('thread-line-' + tag))
        t.start()
        t.join()
        out['ok'] = True
    elif path == '/stdout':
        try:
            sys.stdout.write('restricted?\n')
            out['stdout'] = 'allowed'
        except OSError as e:
            out['stdout'] = 'OSError: %s' % e
    elif path == '/stdin':
        try:
            data = sys.stdin.read()
            out['stdin'] = 'read %d' % len(data)
        except OSError as e:
            out['stdin'] = 'OSError: %s' % e
        except Exception as e:
            out['stdin'] = '%s: %s' % (type(e).__name__, e)
    elif path == '/signal':
        try:
            result = signal.signal(signal.SIGUSR2, _handler)
            out['result'] = repr(result)
            out['installed'] = signal.getsignal(signal.SIGUSR2) is _handler
        except Exception as e:
            out['error'] = '%s: %s' % (type(e).__name__, e)
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
