"""The command line: sub-commands and the options of start-server and
setup-server. Every option is documented in docs/express.md."""

import argparse
import math

PROG = 'mod_wsgi-express'

APPLICATION_TYPES = ('script', 'module', 'paste', 'static')
MPM_CHOICES = ('event', 'worker', 'prefork')
LOG_LEVELS = ('emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info',
              'debug', 'trace1', 'trace2', 'trace3', 'trace4', 'trace5',
              'trace6', 'trace7', 'trace8')

# (option, default, help) for the daemon process timeouts and limits, all
# whole seconds (or a count) passed to WSGIDaemonProcess under the same
# name without the leading dashes. 0 turns a limit off.
DAEMON_LIMITS = (
    ('--request-timeout', 60,
     'restart a daemon process whose request has been running longer than '
     'this many seconds (scaled up with the thread count; 0: never)'),
    ('--queue-timeout', 45,
     'answer 504 for a request that waited longer than this for a free '
     'daemon thread (0: wait as long as it takes)'),
    ('--socket-timeout', 60,
     'bound on each read and write between Apache and the daemon; also '
     'Apache\'s own Timeout'),
    ('--connect-timeout', 15,
     'how long an Apache child keeps trying to reach the daemon socket '
     'before answering 503'),
    ('--inactivity-timeout', 0,
     'restart a daemon process idle for this long (0: never)'),
    ('--startup-timeout', 15,
     'restart a daemon process whose WSGI application has been failing to '
     'load for this long (0: never)'),
    ('--shutdown-timeout', 5,
     'how long a stopping daemon process waits for its requests and exit '
     'functions before it is killed'),
    ('--graceful-timeout', 15,
     'when a limit such as --maximum-requests triggers a restart, keep '
     'serving the requests in flight for up to this long first (0: restart '
     'at once)'),
    ('--eviction-timeout', 0,
     'like --graceful-timeout, for a restart asked for with SIGUSR1 '
     '(0: use --graceful-timeout)'),
    ('--deadlock-timeout', 60,
     'restart a daemon process whose Python GIL looks stuck for this long '
     '(0: never)'),
    ('--restart-interval', 0,
     'restart each daemon process after this many seconds (0: never)'),
    ('--maximum-requests', 0,
     'restart a daemon process after it has served this many requests '
     '(0: never). In embedded mode: Apache\'s MaxConnectionsPerChild'),
    ('--interrupt-timeout', 0,
     'with --request-timeout, first raise mod_wsgi.RequestTimeout in the '
     'late request and restart only if it is still running this many '
     'seconds later (0: restart at once)'),
)


def _bounded_int(low, high=None):
    def convert(text):
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                'expected a whole number, got %r' % text) from None
        if value < low or (high is not None and value > high):
            if high is None:
                raise argparse.ArgumentTypeError(
                    'must be at least %d, got %d' % (low, value))
            raise argparse.ArgumentTypeError(
                'must be from %d to %d, got %d' % (low, high, value))
        return value
    return convert


def _seconds(low, high, low_allowed=False):
    """A number of seconds above ``low`` (or equal to it with
    ``low_allowed``) and at most ``high``, kept as the text given so the
    generated configuration shows exactly what was typed."""
    def convert(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                'expected a number of seconds, got %r' % text) from None
        too_low = value < low if low_allowed else value <= low
        if not math.isfinite(value) or too_low or value > high:
            raise argparse.ArgumentTypeError(
                'must be %s %g and at most %g, got %r'
                % ('at least' if low_allowed else 'more than', low, high,
                   text))
        return text.strip()
    return convert


port_number = _bounded_int(1, 65535)


def _add_server_options(parser):
    add = parser.add_argument
    group = parser.add_argument_group('application')
    add = group.add_argument
    add('entry_point', nargs='?', metavar='ENTRY-POINT',
        help='the WSGI application: a script file (default), a module name '
             'with --application-type module, a Paste .ini file with '
             '--application-type paste, or a directory with '
             '--application-type static. Without it a placeholder page is '
             'served')
    add('--application-type', choices=APPLICATION_TYPES, default='script',
        help='how ENTRY-POINT is interpreted (default: script)')
    add('--callable-object', metavar='NAME', default='application',
        help='name of the WSGI callable in the script or module '
             '(default: application)')
    add('--mount-point', metavar='URL-PATH', default='/',
        help='URL path the application is mounted at (default: /)')
    add('--application-group', metavar='NAME', default='%{GLOBAL}',
        help='interpreter the application runs in: %%{GLOBAL} (default, the '
             'main interpreter), a sub-interpreter name, or %%{ENV:VAR}')
    add('--process-group', metavar='NAME',
        help='name of the daemon process group (default: HOST:PORT)')
    add('--working-directory', metavar='DIRECTORY',
        help='current directory of the daemon processes, also put on '
             'sys.path (default: the directory the command runs in)')
    add('--python-path', metavar='DIRECTORY', action='append', default=[],
        help='extra directory for sys.path; repeatable')
    add('--reload-on-changes', action='store_true',
        help='restart the daemon processes when a loaded Python module or '
             'the entry point changes on disk (development only)')

    group = parser.add_argument_group('network')
    add = group.add_argument
    add('--host', metavar='ADDRESS',
        help='address to listen on (default: every interface); also the '
             'server name')
    add('--port', type=port_number, default=8000,
        help='HTTP port (default: 8000)')
    add('--https-port', type=port_number, metavar='PORT',
        help='also serve HTTPS on this port; needs a certificate and key')
    add('--ssl-certificate-file', metavar='FILE',
        help='PEM certificate for --https-port')
    add('--ssl-certificate-key-file', metavar='FILE',
        help='PEM private key for --https-port')
    add('--ssl-certificate', metavar='PATH-PREFIX',
        help='shorthand: PATH-PREFIX.crt is the certificate and '
             'PATH-PREFIX.key the key')
    add('--listen-backlog', type=_bounded_int(1), default=500,
        metavar='NUMBER',
        help='Apache\'s ListenBacklog (default: 500)')

    group = parser.add_argument_group('processes and threads')
    add = group.add_argument
    add('--processes', type=_bounded_int(1, 10000), default=1,
        metavar='NUMBER',
        help='daemon processes (default: 1); in embedded mode, Apache '
             'child processes')
    add('--threads', type=_bounded_int(1, 10000), default=5,
        metavar='NUMBER',
        help='threads per daemon process (default: 5); in embedded mode, '
             'threads per Apache child')
    add('--max-clients', type=_bounded_int(1), metavar='NUMBER',
        help='daemon mode: Apache worker threads that take connections and '
             'hand requests to the daemons (default: twice processes x '
             'threads, at least 20)')
    add('--daemon-backlog', type=_bounded_int(1), default=100,
        metavar='NUMBER',
        help='listen queue of the daemon socket (default: 100)')
    add('--embedded-mode', action='store_true',
        help='run the application inside the Apache child processes '
             'instead of a daemon process group')
    add('--server-mpm', choices=MPM_CHOICES,
        help='Apache MPM (default: event, else worker, else prefork)')
    add('--user', metavar='USERNAME',
        help='account Apache\'s children and the daemon processes run as; '
             'required when started as root, ignored otherwise')
    add('--group', metavar='GROUP',
        help='group to run as; required when started as root')
    add('--switch-interval', type=_seconds(0, 1), metavar='SECONDS',
        help='Python\'s thread switch interval (sys.setswitchinterval)')
    add('--free-threading', action='store_true',
        help='run Python without the GIL (WSGIFreeThreading On); needs a '
             'free-threaded Python build')
    add('--server-metrics', action='store_true',
        help='allow mod_wsgi.server_metrics() (WSGIServerMetrics On and '
             'server-metrics=On)')

    group = parser.add_argument_group('daemon timeouts and limits (seconds)')
    for option, default, text in DAEMON_LIMITS:
        group.add_argument(option, type=_bounded_int(0, 2147483647),
                           default=default, metavar='NUMBER',
                           help='%s (default: %d)' % (text, default))

    group = parser.add_argument_group('static files')
    add = group.add_argument
    add('--document-root', metavar='DIRECTORY',
        help='directory Apache serves files from; with --mount-point / a '
             'request goes to the application only when no such file '
             'exists')
    add('--url-alias', nargs=2, action='append', default=[],
        metavar=('URL-PATH', 'FILE-PATH'),
        help='serve a file or directory at a URL path; repeatable')
    add('--directory-index', metavar='FILE-NAME',
        help='file served for a request that maps to a directory')

    group = parser.add_argument_group('server files')
    add = group.add_argument
    add('--server-root', metavar='DIRECTORY',
        help='where the configuration, scripts, sockets and logs go '
             '(default: /tmp/mod_wsgi-HOST:PORT:UID)')
    add('--httpd-executable', metavar='FILE',
        help='Apache binary (default: httpd or apache2 on PATH, then '
             '/usr/sbin/apache2)')
    add('--modules-directory', metavar='DIRECTORY',
        help='directory of Apache modules (default: apxs -q LIBEXECDIR)')
    add('--include-file', metavar='FILE', action='append', default=[],
        help='Apache configuration file included at the end; repeatable')
    add('--envvars-script', metavar='FILE',
        help='shell script sourced by apachectl before Apache starts')

    group = parser.add_argument_group('logging')
    add = group.add_argument
    add('--log-level', choices=LOG_LEVELS, default='warn', metavar='LEVEL',
        help='Apache LogLevel (default: warn)')
    add('--log-to-terminal', action='store_true',
        help='error log to standard error, access log to standard output')
    add('--log-directory', metavar='DIRECTORY',
        help='directory for the log files (default: the server root); '
             'wins over --log-to-terminal')
    add('--access-log', action='store_true',
        help='write an access log')
    add('--access-log-format', metavar='FORMAT', default='common',
        help='common (default), combined, or an Apache LogFormat string')
    add('--access-log-name', metavar='FILE-NAME', default='access_log',
        help='access log file name (default: access_log)')
    add('--error-log-name', metavar='FILE-NAME', default='error_log',
        help='error log file name (default: error_log)')

    group = parser.add_argument_group('environment')
    add = group.add_argument
    add('--setenv', nargs=2, action='append', default=[],
        metavar=('NAME', 'VALUE'),
        help='add NAME=VALUE to every request\'s WSGI environ; repeatable')
    add('--passenv', action='append', default=[], metavar='NAME',
        help='copy the environment variable NAME into every request\'s '
             'WSGI environ; repeatable')
    add('--locale', metavar='NAME',
        help='LANG and LC_ALL for Apache and Python (default: the '
             'inherited locale, or C.UTF-8 instead of C/POSIX)')

    group = parser.add_argument_group('telemetry')
    add = group.add_argument
    add('--telemetry-service', metavar='unix:PATH',
        help='send telemetry to an ingester listening on this UNIX socket '
             '(WSGITelemetryService)')
    add('--telemetry-interval', type=_seconds(0.5, 3600, True),
        metavar='SECONDS',
        help='telemetry sampling interval (default: the module\'s, 1)')
    add('--telemetry-options', action='append', default=[],
        metavar='FLAGS',
        help='WSGITelemetryOptions line, e.g. +CaptureUserAgent; '
             'repeatable')
    add('--slow-requests', type=_seconds(0, 86400, True),
        metavar='SECONDS',
        help='report requests running longer than this (WSGISlowRequests); '
             'needs --telemetry-service')
    add('--enable-telemetry', action='store_true',
        help='run the mod_wsgi-telemetry ingester and its web UI as a '
             'service-script daemon of this server, and report to it')
    add('--telemetry-ui-port', type=port_number, metavar='PORT',
        help='port of the telemetry web UI on 127.0.0.1 (default 8888; '
             'goes with --enable-telemetry)')


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Run a WSGI application under Apache httpd and the '
                    'mod_wsgi module, with a configuration generated from '
                    'the options.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

    usage = '%(prog)s [OPTION ...] [ENTRY-POINT]'
    start = commands.add_parser(
        'start-server', usage=usage,
        help='generate the configuration and run Apache in the foreground',
        description='Generate the server root, then run Apache in the '
                    'foreground until it is stopped (Ctrl-C or SIGINT/'
                    'SIGTERM).')
    _add_server_options(start)

    setup = commands.add_parser(
        'setup-server', usage=usage,
        help='generate the configuration and an apachectl script only',
        description='Generate the server root (httpd.conf, apachectl, '
                    'envvars, scripts) without starting Apache. Use '
                    'SERVER-ROOT/apachectl start|stop|restart|configtest|'
                    'foreground afterwards.')
    _add_server_options(setup)

    commands.add_parser(
        'module-config',
        help='print the LoadModule and WSGIPythonHome lines for a system '
             'Apache',
        description='Print the directives that load this package\'s Apache '
                    'module into an existing Apache configuration.')
    install = commands.add_parser(
        'install-module',
        help='copy the Apache module into Apache\'s modules directory',
        description='Copy this package\'s Apache module into Apache\'s '
                    'modules directory as mod_wsgi-pyXY.so and print the '
                    'LoadModule and WSGIPythonHome lines that use it.')
    install.add_argument(
        '--modules-directory', metavar='DIRECTORY-PATH',
        help='install here instead of the directory apxs reports')
    commands.add_parser(
        'module-location',
        help='print the path of the Apache module',
        description='Print the absolute path of this package\'s Apache '
                    'module file.')
    return parser
