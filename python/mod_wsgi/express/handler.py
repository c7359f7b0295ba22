"""The scripts mod_wsgi-express writes into the server root for the module
to load: the handler that wraps a module, Paste or reloading application,
and the placeholder application served when no entry point is given.

The generated files only use the standard library, so they work whichever
``sys.path`` the daemon processes end up with; the settings are written at
the top as Python literals.
"""

import pprint

HANDLER_NAME = 'handler.wsgi'
PLACEHOLDER_NAME = 'placeholder.wsgi'

# The name of the WSGIHandlerScript used when a --document-root is served at
# the same URL space as the application (--mount-point /).
RESOURCE_HANDLER = 'express-resource'

_HANDLER_HEADER = '''\
# Written by mod_wsgi-express. Every setup-server or start-server run
# writes it again: change the command line options, not this file.
#
# It loads the application named below and hands requests to it.
'''

_HANDLER_BODY = r'''
import os
import signal
import sys
import threading
import time
import types


def _load_script(path):
    """Run a WSGI script file as a module of its own, the way the module
    loads WSGIScriptAlias targets."""
    import zlib
    name = '_mod_wsgi_express_script_%08x' % zlib.crc32(
        path.encode('utf-8', 'surrogateescape'))
    module = types.ModuleType(name)
    module.__file__ = path
    with open(path, 'rb') as source:
        code = compile(source.read(), path, 'exec')
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load_paste(path):
    import configparser
    parser = configparser.ConfigParser()
    parser.read(path)
    if parser.has_section('loggers'):
        import logging.config
        logging.config.fileConfig(
            path, {'__file__': path, 'here': os.path.dirname(path)},
            disable_existing_loggers=False)
    from paste.deploy import loadapp
    return loadapp('config:' + path)


def _find_application():
    kind = SETTINGS['application_type']
    entry_point = SETTINGS['entry_point']
    if kind == 'paste':
        return _load_paste(entry_point)
    if kind == 'module':
        import importlib
        target = importlib.import_module(entry_point)
    else:
        target = _load_script(entry_point)
    name = SETTINGS['callable_object']
    try:
        return getattr(target, name)
    except AttributeError:
        raise AttributeError(
            'mod_wsgi-express: %s has no WSGI callable named %r '
            '(choose another with --callable-object)'
            % (entry_point, name)) from None


def _watch_for_changes(extra_files, interval):
    """Restart this daemon process when a source file changes.

    A thread looks at the modification time of every file that a loaded
    module came from (and of extra_files) once per interval. On the first
    change it logs the file name and sends SIGINT to its own process: the
    daemon process stops and Apache starts a fresh one, which imports the
    new code. Only meant for development."""
    import mod_wsgi
    if not getattr(mod_wsgi, 'process_group', ''):
        return  # Only daemon processes may restart themselves.
    thread_name = 'mod_wsgi-express reloader'
    if any(t.name == thread_name for t in threading.enumerate()):
        return
    known = {}

    def first_change():
        files = [getattr(m, '__file__', None)
                 for m in list(sys.modules.values())]
        files.extend(extra_files)
        for path in files:
            if not isinstance(path, str):
                continue
            try:
                stamp = os.stat(path).st_mtime_ns
            except OSError:
                continue
            if known.setdefault(path, stamp) != stamp:
                return path
        return None

    def watch():
        while True:
            time.sleep(interval)
            changed = first_change()
            if changed:
                print('mod_wsgi-express: %s changed, restarting daemon '
                      'process %d' % (changed, os.getpid()),
                      file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGINT)
                return

    first_change()
    threading.Thread(target=watch, name=thread_name, daemon=True).start()


_application = _find_application()

if SETTINGS['reload_on_changes']:
    _watch_for_changes(SETTINGS['watch_files'], 1.0)

if SETTINGS['resource_handler']:
    def application(environ, start_response):
        # Reached through WSGIHandlerScript for a URL with no file under
        # the document root: the module then reports the URL as
        # SCRIPT_NAME. The application is mounted at the root, so give it
        # back the whole path as PATH_INFO.
        if environ.get('mod_wsgi.request_handler') == \
                SETTINGS['resource_handler']:
            environ['PATH_INFO'] = (environ.get('SCRIPT_NAME', '') +
                                    environ.get('PATH_INFO', ''))
            environ['SCRIPT_NAME'] = ''
        return _application(environ, start_response)
else:
    application = _application

if SETTINGS.get('recorder_directory'):
    import io
    import itertools
    import pprint
    import traceback

    _recorded = application
    _record_numbers = itertools.count(1)

    def application(environ, start_response):
        # --enable-recorder: KEY.iheaders (the environ), .icontent (the
        # request body), .oheaders (status and headers), .ocontent (the
        # response body) and .oaexcept/.orexcept/.ofexcept (a traceback
        # from the call, the iteration or close(), else empty).
        key = '%d-%d-%d' % (int(time.time() * 1000000), os.getpid(),
                            next(_record_numbers))
        base = os.path.join(SETTINGS['recorder_directory'], key)
        body = environ['wsgi.input'].read()
        with open(base + '.icontent', 'wb') as out:
            out.write(body)
        with open(base + '.iheaders', 'w') as out:
            pprint.pprint(environ, stream=out)
        environ['wsgi.input'] = io.BytesIO(body)
        content = open(base + '.ocontent', 'wb')
        failures = {stage: open(base + stage, 'w')
                    for stage in ('.oaexcept', '.orexcept', '.ofexcept')}

        def recording_start_response(status, headers, *exc_info):
            with open(base + '.oheaders', 'w') as out:
                pprint.pprint((status, headers) + exc_info, stream=out)
            write = start_response(status, headers, *exc_info)

            def recording_write(data):
                content.write(data)
                return write(data)
            return recording_write

        def finish():
            content.close()
            for out in failures.values():
                out.close()

        try:
            result = _recorded(environ, recording_start_response)
        except BaseException:
            traceback.print_exc(file=failures['.oaexcept'])
            finish()
            raise
        return _recorded_iterable(result, content, failures, finish)

    def _recorded_iterable(result, content, failures, finish):
        try:
            try:
                for chunk in result:
                    content.write(chunk)
                    yield chunk
            except BaseException:
                traceback.print_exc(file=failures['.orexcept'])
                raise
            finally:
                close = getattr(result, 'close', None)
                if close is not None:
                    try:
                        close()
                    except BaseException:
                        traceback.print_exc(file=failures['.ofexcept'])
                        raise
        finally:
            finish()

if SETTINGS.get('profiler_directory'):
    import atexit
    import cProfile

    _profile = cProfile.Profile()
    _profiled = application

    # One file per process, named when it starts profiling. It is
    # rewritten after each request as well as at exit, so the data is
    # there even when the process is stopped without running its exit
    # functions.
    _profile_path = os.path.join(
        SETTINGS['profiler_directory'],
        '%d-%d.pstats' % (int(time.time() * 1000000), os.getpid()))

    def _write_profile():
        _profile.dump_stats(_profile_path)

    atexit.register(_write_profile)

    def _profiled_iterable(result):
        _profile.enable()
        try:
            for chunk in result:
                _profile.disable()
                yield chunk
                _profile.enable()
        finally:
            _profile.disable()
            close = getattr(result, 'close', None)
            if close is not None:
                close()
            _write_profile()

    def application(environ, start_response):
        # --enable-profiler: every request (in debug mode there is one at
        # a time), added up, written as pstats data after each request and
        # when the process exits.
        _profile.enable()
        try:
            result = _profiled(environ, start_response)
        finally:
            _profile.disable()
        return _profiled_iterable(result)

if SETTINGS.get('enable_debugger'):
    import pdb

    class _PostMortem:
        """--enable-debugger: an exception out of the application (or
        its iterable) stops in pdb on the terminal, then goes on up."""

        def __init__(self, wrapped):
            self.wrapped = wrapped
            if SETTINGS.get('debugger_startup'):
                self._debugger().set_trace(sys._getframe())

        @staticmethod
        def _debugger():
            return pdb.Pdb(stdin=sys.__stdin__, stdout=sys.__stdout__)

        def _post_mortem(self):
            debugger = self._debugger()
            debugger.reset()
            debugger.interaction(None, sys.exc_info()[2])

        def __call__(self, environ, start_response):
            try:
                result = self.wrapped(environ, start_response)
            except Exception:
                self._post_mortem()
                raise
            return self._iterate(result)

        def _iterate(self, result):
            try:
                for chunk in result:
                    yield chunk
            except Exception:
                self._post_mortem()
                raise
            finally:
                close = getattr(result, 'close', None)
                if close is not None:
                    close()

    application = _PostMortem(application)

# The entry point of a WSGIHandlerScript.
handle_request = application
'''


def handler_script(settings):
    """Text of the handler script for ``settings``: a dict with
    application_type, entry_point, callable_object, reload_on_changes,
    watch_files and resource_handler."""
    return (_HANDLER_HEADER + '\nSETTINGS = ' +
            pprint.pformat(settings, sort_dicts=True) + '\n' + _HANDLER_BODY)


PLACEHOLDER_SCRIPT = r'''# Written by mod_wsgi-express: served when no WSGI application was named.

_PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>mod_wsgi-express</title></head>
<body>
<h1>mod_wsgi-express is running</h1>
<p>Apache and the mod_wsgi module are up, but no WSGI application was
given. Name one on the command line, for example
<code>mod_wsgi-express start-server wsgi.py</code> or
<code>mod_wsgi-express start-server --application-type module
mod_wsgi.diagnostics.hello</code>.</p>
</body></html>
"""


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'),
                              ('Content-Length', str(len(_PAGE)))])
    return [_PAGE]


handle_request = application
'''
