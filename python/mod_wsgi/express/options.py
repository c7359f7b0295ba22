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
    ('--cpu-time-limit', 0,
     'restart a daemon process once it has used this many seconds of CPU '
     'time (0: never)'),
)

# (option, default, help) for the sizes and delays of the daemon socket,
# passed to WSGIDaemonProcess under the same name when they differ from
# the default (the module's own default is then the same).
DAEMON_SOCKET_OPTIONS = (
    ('--send-buffer-size', 0,
     'socket buffer, in bytes, for sending to the daemon (0: the system\'s)'),
    ('--receive-buffer-size', 0,
     'socket buffer, in bytes, for reading from the daemon (0: the '
     'system\'s)'),
    ('--header-buffer-size', 0,
     'largest block of response headers read from the daemon, in bytes '
     '(0: 32768)'),
    ('--response-buffer-size', 0,
     'most response bytes passed on without a flush, in bytes '
     '(0: 8388608)'),
    ('--response-socket-timeout', 0,
     'bound, in seconds, on each write of the response to the client '
     '(0: --socket-timeout)'),
    ('--response-flush-delay', 5,
     'milliseconds to wait for more response data from the daemon before '
     'flushing to the client'),
)

# The C package's development helpers that need its debug mode (Apache as
# a single process in the terminal); each of them turns debug mode on.
DEBUG_MODE_OPTIONS = (
    ('--debug-mode', 'run Apache as a single process with one thread in '
     'the terminal (httpd -DONE_PROCESS), the application in it, without '
     'reloading: for debuggers'),
    ('--enable-debugger', 'debug mode, and an exception raised by the '
     'application opens pdb post-mortem in the terminal'),
    ('--debugger-startup', 'with --enable-debugger: also stop in pdb when '
     'the application has been loaded'),
    ('--enable-coverage', 'debug mode; coverage reports are not provided '
     'here (warned about)'),
    ('--enable-profiler', 'debug mode, and the requests are profiled '
     '(cProfile); the pstats data is written to --profiler-directory '
     'when Apache stops'),
    ('--enable-recorder', 'debug mode, and each request and response is '
     'saved in files in --recorder-directory'),
    ('--enable-gdb', 'debug mode, and apachectl foreground (start-server) '
     'runs Apache under gdb'),
)


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            'expected a number from 0 to 1, got %r' % text) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            'must be from 0 to 1, got %r' % text)
    return value


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


def add_server_options(parser, entry_point=True):
    """The options of start-server and setup-server; Django's runmodwsgi
    takes them too, without ENTRY-POINT (the project names its own)."""
    group = parser.add_argument_group('application')
    add = group.add_argument
    if entry_point:
        add('entry_point', nargs='?', metavar='ENTRY-POINT',
            help='the WSGI application: a script file (default), a module '
                 'name with --application-type module, a Paste .ini file '
                 'with --application-type paste, or a directory with '
                 '--application-type static. Without it a placeholder page '
                 'is served')
    add('--entry-point', dest='entry_point_option',
        metavar='FILE-PATH|MODULE',
        help='the same as ENTRY-POINT, named; wins when both are given')
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
    add('--disable-reloading', action='store_true',
        help='never reload the WSGI script when it changes '
             '(WSGIScriptReloading Off)')
    add('--python-eggs', metavar='DIRECTORY',
        help='directory for unpacking Python eggs (python-eggs= of the '
             'daemon processes)')
    add('--python-warnings', action='append', default=[], metavar='SPEC',
        help='a Python -W warnings filter entry (WSGIPythonWarnings); '
             'repeatable')
    add('--orphan-interpreter', action='store_true',
        help='skip destroying the Python interpreter when a process exits '
             '(WSGIDestroyInterpreter Off)')
    add('--map-head-to-get', choices=('Off', 'On', 'Auto', 'off', 'on',
                                      'auto'),
        default='Auto', metavar='OFF|ON|AUTO',
        help='hand HEAD requests to the application as GET: Auto (default, '
             'when an output filter needs the body), On or Off')
    add('--chunked-request', action='store_true',
        help='accept request bodies sent with chunked transfer encoding '
             '(WSGIChunkedRequest On)')
    add('--enable-sendfile', action='store_true',
        help='let Apache and wsgi.file_wrapper use sendfile()')
    add('--add-handler', nargs=2, action='append', default=[],
        metavar=('EXTENSION', 'SCRIPT-PATH'),
        help='a WSGI script that serves the document root\'s files with '
             'this extension; repeatable')
    add('--with-cgi', action='store_true',
        help='run executable .cgi files under the document root as CGI '
             'scripts')

    group = parser.add_argument_group('network')
    add = group.add_argument
    add('--host', metavar='ADDRESS',
        help='address to listen on (default: every interface); also the '
             'server name')
    add('--port', type=port_number, default=8000,
        help='HTTP port (default: 8000)')
    add('--https-port', '--ssl-port', type=port_number, metavar='PORT',
        help='also serve HTTPS on this port; needs a certificate and key '
             '(--ssl-port is the C package\'s older, unlisted name)')
    add('--ssl-certificate-file', metavar='FILE',
        help='PEM certificate for --https-port')
    add('--ssl-certificate-key-file', metavar='FILE',
        help='PEM private key for --https-port')
    add('--ssl-certificate', metavar='PATH-PREFIX',
        help='shorthand: PATH-PREFIX.crt is the certificate and '
             'PATH-PREFIX.key the key')
    add('--listen-backlog', '--server-backlog', dest='listen_backlog',
        type=_bounded_int(1), default=500, metavar='NUMBER',
        help='Apache\'s ListenBacklog (default: 500); --listen-backlog is '
             'our name for the C package\'s --server-backlog')
    add('--http2', action='store_true',
        help='also speak HTTP/2 (h2 and h2c); needs Apache\'s mod_http2')
    add('--ssl-ca-certificate-file', metavar='FILE',
        help='CA certificates for verifying client certificates; the whole '
             'HTTPS site then requires one (see --ssl-verify-client)')
    add('--ssl-verify-client', action='append', default=[],
        metavar='URL-PATH',
        help='require a client certificate only under this URL path '
             'instead of everywhere; repeatable')
    add('--ssl-certificate-chain-file', metavar='FILE',
        help='intermediate CA certificates sent with the server '
             'certificate')
    add('--ssl-environment', action='store_true',
        help='put the SSL_* variables in the WSGI environ of HTTPS '
             'requests')
    add('--https-only', action='store_true',
        help='with --server-name, redirect plain HTTP requests to the '
             'HTTPS port')
    add('--hsts-policy', metavar='PARAMS',
        help='Strict-Transport-Security header value sent on HTTPS '
             'responses with --https-only')

    group = parser.add_argument_group('names and proxies')
    add = group.add_argument
    add('--server-name', metavar='HOSTNAME',
        help='the site\'s host name: requests for other names are refused '
             '(403); a www. name also redirects the bare domain to it')
    add('--server-alias', action='append', default=[], metavar='HOSTNAME',
        help='another accepted host name (wildcards allowed); repeatable')
    add('--allow-localhost', action='store_true',
        help='with --server-name, still answer requests for other names '
             'from localhost')
    add('--proxy-mount-point', '--proxy-url-alias', nargs=2,
        action='append', default=[], dest='proxy_mount_point',
        metavar=('URL-PATH', 'URL'),
        help='reverse-proxy a URL path (and what is below it) to URL; '
             'repeatable')
    add('--proxy-virtual-host', nargs=2, action='append', default=[],
        metavar=('HOSTNAME', 'URL'),
        help='reverse-proxy every request for HOSTNAME to URL; repeatable')
    add('--proxy-timeout', type=_bounded_int(0), metavar='SECONDS',
        help='ProxyTimeout for the proxied back ends (default: '
             '--socket-timeout)')
    add('--trust-proxy-header', action='append', default=[],
        metavar='HEADER-NAME',
        help='a front-end proxy header (such as X-Forwarded-For) the '
             'application may trust (WSGITrustedProxyHeaders); repeatable')
    add('--trust-proxy', action='append', default=[],
        metavar='IP-ADDRESS/SUBNET',
        help='only trust those headers from this address or subnet '
             '(WSGITrustedProxies); repeatable')

    group = parser.add_argument_group('client connections')
    add = group.add_argument
    add('--keep-alive-timeout', type=_bounded_int(0), default=2,
        metavar='SECONDS',
        help='keep an idle client connection open this long for another '
             'request (default: 2; 0: no keep-alive)')
    add('--limit-request-body', type=_bounded_int(0), default=10485760,
        metavar='NUMBER',
        help='largest request body in bytes; larger ones get 413 '
             '(default: 10485760; 0: no limit)')
    for option, default, what in (
            ('--header-timeout', 15, 'seconds to receive the request line '
             'and headers (0: no limit)'),
            ('--header-max-timeout', 30, 'at most this many seconds for '
             'the headers, however fast they arrive (0: no maximum)'),
            ('--header-min-rate', 500, 'each this many bytes of headers '
             'received add a second to --header-timeout'),
            ('--body-timeout', 15, 'seconds to receive the request body '
             '(0: no limit)'),
            ('--body-max-timeout', 0, 'at most this many seconds for the '
             'body (0: no maximum)'),
            ('--body-min-rate', 500, 'each this many bytes of body received '
             'add a second to --body-timeout')):
        add(option, type=_bounded_int(0), default=default, metavar='NUMBER',
            help='%s (default: %d; RequestReadTimeout)' % (what, default))
    add('--compress-responses', action='store_true',
        help='gzip text, HTML, XML, CSS, JavaScript and JSON responses '
             '(mod_deflate)')

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
    add('--initial-workers', type=_fraction, metavar='NUMBER',
        help='Apache workers started up front, as a fraction (0 to 1) of '
             'the maximum; ignored in embedded mode')
    add('--minimum-spare-workers', type=_fraction, metavar='NUMBER',
        help='idle Apache workers kept at least, as a fraction (0 to 1) of '
             'the maximum; ignored in embedded mode')
    add('--maximum-spare-workers', type=_fraction, metavar='NUMBER',
        help='idle Apache workers kept at most, as a fraction (0 to 1) of '
             'the maximum; ignored in embedded mode')
    add('--server-metrics', action='store_true',
        help='allow mod_wsgi.server_metrics() (WSGIServerMetrics On and '
             'server-metrics=On)')

    group = parser.add_argument_group('daemon timeouts and limits (seconds)')
    for option, default, text in DAEMON_LIMITS + DAEMON_SOCKET_OPTIONS:
        group.add_argument(option, type=_bounded_int(0, 2147483647),
                           default=default, metavar='NUMBER',
                           help='%s (default: %d)' % (text, default))
    group.add_argument(
        '--ignore-activity', action='append', default=[],
        metavar='URL-PATH',
        help='requests under this URL path (a health check) do not count '
             'as activity for --inactivity-timeout; repeatable')
    group.add_argument(
        '--socket-prefix', metavar='DIRECTORY',
        help='directory (and prefix) for the daemon sockets (default: the '
             'server root)')

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
    add('--directory-listing', action='store_true',
        help='list the files of a document-root directory with no index '
             'file')
    add('--allow-override', action='append', default=[],
        metavar='DIRECTIVE-TYPE',
        help='let .htaccess files in the document root set this '
             'AllowOverride class (such as All or FileInfo); repeatable')
    add('--rewrite-rules', metavar='FILE',
        help='file of mod_rewrite rules applied to the document root')
    add('--error-document', nargs=2, action='append', default=[],
        metavar=('STATUS', 'URL-PATH'),
        help='URL path Apache serves for its own error STATUS; repeatable')
    add('--error-override', action='store_true',
        help='replace the application\'s error responses with Apache\'s '
             'error documents (WSGIErrorOverride On)')
    add('--mime-types', metavar='FILE',
        help='MIME types file (default: /etc/mime.types)')

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
    add('--pid-file', metavar='FILE',
        help='where Apache writes its process ID (default: '
             'SERVER-ROOT/httpd.pid)')
    add('--shell-executable', metavar='FILE',
        help='shell that runs apachectl (default: bash if found, else '
             '/bin/sh)')
    add('--process-name', metavar='NAME',
        help='name the Apache parent process runs under (needs a bash '
             'apachectl)')
    add('--setup-only', action='store_true',
        help='start-server: write the server root and stop there, as '
             'setup-server does')

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
    add('--error-log-format', metavar='FORMAT',
        help='Apache ErrorLogFormat string')
    add('--startup-log', action='store_true',
        help='write Apache\'s start-up messages to a file in the log '
             'directory (stderr with --log-to-terminal)')
    add('--startup-log-name', metavar='FILE-NAME', default='startup_log',
        help='start-up log file name (default: startup_log)')
    add('--rotate-logs', action='store_true',
        help='write the logs through rotatelogs, starting a new file at '
             '--max-log-size')
    add('--max-log-size', type=_bounded_int(1), default=5, metavar='MB',
        help='log size in MB that starts a new file with --rotate-logs '
             '(default: 5)')
    add('--rotatelogs-executable', metavar='FILE',
        help='rotatelogs program (default: rotatelogs on PATH or in '
             '/usr/sbin or /usr/bin)')

    group = parser.add_argument_group('environment')
    add = group.add_argument
    add('--setenv', nargs=2, action='append', default=[],
        metavar=('NAME', 'VALUE'),
        help='add NAME=VALUE to every request\'s WSGI environ; repeatable')
    add('--passenv', action='append', default=[], metavar='NAME',
        help='copy the environment variable NAME into every request\'s '
             'WSGI environ; repeatable')
    add('--locale', '--lang', metavar='NAME',
        help='LANG and LC_ALL for Apache and Python (default: the '
             'inherited locale, or C.UTF-8 instead of C/POSIX); --lang is '
             'the C package\'s older, unlisted name')
    add('--verbose-debugging', action='store_true',
        help='write WSGIVerboseDebugging On, as the C package does; the '
             'directive has no effect in either module')
    add('--with-php5', action='store_true',
        help='accepted for the C package\'s sake; PHP is not loaded '
             '(warned about)')

    group = parser.add_argument_group('status, access control and services')
    add = group.add_argument
    add('--server-status', action='store_true',
        help='Apache\'s status page at /server-status, for localhost only')
    add('--metrics-url', metavar='URL-PATH',
        help='serve the metrics of every process (Prometheus and '
             'OpenMetrics text) at URL-PATH, through the wsgi-metrics '
             'handler; ours, not the C package\'s')
    add('--metrics-allow-from', action='append', default=[],
        metavar='ADDRESS',
        help='an IP address or network (as Require ip takes it) that may '
             'read --metrics-url; repeatable (default: this host only); '
             'ours')
    add('--host-access-script', metavar='SCRIPT-PATH',
        help='Python script deciding which client hosts may connect '
             '(WSGIAccessScript)')
    add('--auth-user-script', metavar='SCRIPT-PATH',
        help='Python script checking user names and passwords for the '
             'whole site (WSGIAuthUserScript)')
    add('--auth-type', choices=('Basic', 'Digest'), default='Basic',
        metavar='TYPE',
        help='HTTP authentication scheme with --auth-user-script: Basic '
             '(default) or Digest')
    add('--auth-group-script', metavar='SCRIPT-PATH',
        help='Python script listing a user\'s groups '
             '(WSGIAuthGroupScript); goes with --auth-user-script')
    add('--auth-group', metavar='NAME', default='wsgi',
        help='group a user must be in with --auth-group-script '
             '(default: wsgi)')
    add('--service-script', nargs=2, action='append', default=[],
        metavar=('SERVICE', 'SCRIPT-PATH'),
        help='run a Python script in its own daemon process '
             '(service:SERVICE) for as long as the server runs; repeatable')
    add('--service-user', nargs=2, action='append', default=[],
        metavar=('SERVICE', 'USERNAME'),
        help='as root: the user a service script runs as (default: --user)')
    add('--service-group', nargs=2, action='append', default=[],
        metavar=('SERVICE', 'GROUP'),
        help='as root: the group a service script runs as (default: '
             '--group)')
    add('--service-log-file', nargs=2, action='append', default=[],
        metavar=('SERVICE', 'FILE-NAME'),
        help='a separate error log, in the log directory, for a service '
             'script')

    group = parser.add_argument_group('development helpers')
    add = group.add_argument
    for option, text in DEBUG_MODE_OPTIONS:
        add(option, action='store_true', help=text)
    add('--profiler-directory', metavar='DIRECTORY',
        help='where --enable-profiler writes (default: '
             'SERVER-ROOT/pstats)')
    add('--recorder-directory', metavar='DIRECTORY',
        help='where --enable-recorder writes (default: '
             'SERVER-ROOT/archive)')
    add('--coverage-directory', metavar='DIRECTORY',
        help='goes with --enable-coverage; ignored')
    add('--gdb-executable', metavar='FILE',
        help='the debugger for --enable-gdb (default: gdb)')
    add('--enable-docs', action='store_true',
        help='the C package\'s bundled documentation at /__wsgi__/docs; '
             'not bundled here, ignored with a warning')

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
    add_server_options(start)

    setup = commands.add_parser(
        'setup-server', usage=usage,
        help='generate the configuration and an apachectl script only',
        description='Generate the server root (httpd.conf, apachectl, '
                    'envvars, scripts) without starting Apache. Use '
                    'SERVER-ROOT/apachectl start|stop|restart|configtest|'
                    'foreground afterwards.')
    add_server_options(setup)

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
    audit = commands.add_parser(
        'audit-extensions',
        usage='%(prog)s [--python PATH-or-VENV] [--python-path DIR ...] '
              '[--mode MODE] [--json] [SCRIPT]',
        help='report which extension modules of a Python environment work '
             'with a shared GIL, an own GIL and free-threading',
        description='Run python -m mod_wsgi.audit under the given Python: '
                    'list every extension module its environment provides '
                    'with its init style, its Py_mod_multiple_interpreters '
                    'and Py_mod_gil slots and a verdict per GIL mode, '
                    'each probed in a throwaway child process. With '
                    'SCRIPT, also load the WSGI script under each mode; '
                    'the exit status is 1 when it does not work under '
                    '--mode.')
    audit.add_argument(
        'script', nargs='?', metavar='SCRIPT',
        help='WSGI script file to load under each mode (its module-level '
             'code runs)')
    audit.add_argument(
        '--python', metavar='PATH-or-VENV',
        help='the Python the application runs in: an interpreter, or a '
             'virtual environment\'s directory (its bin/python); default '
             'the Python running this command')
    audit.add_argument(
        '--python-path', action='append', default=[], metavar='DIR',
        help='add DIR to sys.path as python-path does; repeatable')
    audit.add_argument(
        '--mode', choices=('shared', 'own-gil', 'free-threading'),
        default='own-gil',
        help='the mode that decides the exit status (default own-gil)')
    audit.add_argument('--json', action='store_true',
                       help='print the report as JSON')
    audit.add_argument(
        '--only-imported', action='store_true',
        help='with SCRIPT: list only the extension modules it imports')
    audit.add_argument('--jobs', type=_bounded_int(1, 64), default=2,
                       metavar='N', help='probes to run at once (default 2)')
    from .. import doctor
    doctor.add_arguments(commands.add_parser(
        'doctor',
        usage='%(prog)s [-f FILE | [OPTION ...] [ENTRY-POINT]] '
              '[--user USER] [--group GROUP] [--json] [--timeout SECONDS]',
        help='check, as Apache\'s user, what would break first when the '
             'application starts',
        description=doctor.DESCRIPTION))
    commands.add_parser(
        'module-location',
        help='print the path of the Apache module',
        description='Print the absolute path of this package\'s Apache '
                    'module file.')
    return parser
