# A `mod_wsgi.subscribe_events` subscriber that writes down what each event
# carried; GET /log returns those records (and the ids in
# mod_wsgi.active_requests at that moment). Other paths:
#   /wrap     the request_started subscriber wraps the application
#   /boom     the application raises Boom
#   /post     the application reads the whole request body
#   /outside  mod_wsgi.request_data() called on a thread with no request
import json
import threading

import mod_wsgi

records = []
lock = threading.Lock()
# request id -> the request_data dict passed to request_started
scratch = {}


class Boom(Exception):
    pass


def _wrap(app):
    def wrapped(environ, start_response):
        environ['events.wrapped'] = True
        return app(environ, start_response)
    return wrapped


def _types(event, names):
    return {n: type(event[n]).__name__ for n in names if n in event}


@mod_wsgi.subscribe_events
def record(name, **event):
    rid = event.get('request_id')
    rec = {'event': name, 'request_id': rid, 'keys': sorted(event)}
    result = None
    if name == 'request_started':
        env = event['request_environ']
        data = event['request_data']
        data['from_subscriber'] = 'set at request_started'
        with lock:
            scratch[rid] = data
        rec.update(
            path=env.get('PATH_INFO') if isinstance(env, dict) else None,
            environ_is_dict=isinstance(env, dict),
            environ_request_id=env.get('mod_wsgi.request_id'),
            thread_id=event['thread_id'],
            request_start=event['request_start'],
            application_start=event['application_start'],
            queue_start=event.get('queue_start'),
            daemon_start=event.get('daemon_start'),
            callable_object=event['callable_object'],
            application_is_app=event['application_object'] is application,
            data_is_dict=type(data) is dict,
            types=_types(event, ['request_id', 'thread_id', 'request_start',
                                 'application_start']),
        )
        if rec['path'] == '/wrap':
            result = {'application_object': _wrap(event['application_object'])}
    elif name == 'response_started':
        rec.update(
            response_status=event['response_status'],
            response_headers=[list(h) for h in event['response_headers']],
            exception_info=repr(event['exception_info']),
        )
    elif name == 'request_finished':
        data = event['request_data']
        rec.update(
            status=event.get('status'),
            application_time=event.get('application_time'),
            output_length=event.get('output_length'),
            input_length=event.get('input_length'),
            cpu_time=event.get('cpu_time'),
            gil_wait_time=event.get('gil_wait_time'),
            types=_types(event, ['status', 'application_time', 'output_length',
                                 'input_length', 'cpu_time', 'gil_wait_time']),
            from_app=data.get('from_app'),
            same_data=data is scratch.get(rid),
        )
    elif name == 'request_exception':
        info = event['exception_info']
        rec.update(
            info_type=type(info).__name__,
            info_len=len(info),
            exception_type=info[0].__name__,
            exception_value=str(info[1]),
            has_traceback=info[2] is not None,
        )
    with lock:
        records.append(rec)
    return result


def _json(start_response, facts):
    body = json.dumps(facts).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('X-Events', 'yes')])
    return [body]


def application(environ, start_response):
    path = environ.get('PATH_INFO')
    rid = environ.get('mod_wsgi.request_id')
    if path == '/log':
        with lock:
            facts = {'records': list(records), 'request_id': rid,
                     'active': sorted(mod_wsgi.active_requests)}
        return _json(start_response, facts)
    if path == '/outside':
        result = {}

        def probe():
            try:
                mod_wsgi.request_data()
                result['error'] = None
            except Exception as e:
                result['error'] = type(e).__name__
        t = threading.Thread(target=probe)
        t.start()
        t.join()
        return _json(start_response, result)
    data = mod_wsgi.request_data()
    data['from_app'] = path
    with lock:
        seen = scratch.get(rid)
    facts = {
        'request_id': rid,
        'active': rid in mod_wsgi.active_requests,
        'same_data': data is seen,
        'stable': mod_wsgi.request_data() is data,
        'from_subscriber': data.get('from_subscriber'),
        'wrapped': environ.get('events.wrapped', False),
    }
    if path == '/boom':
        raise Boom('raised on purpose')
    if path == '/post':
        facts['read'] = len(environ['wsgi.input'].read())
    return _json(start_response, facts)
