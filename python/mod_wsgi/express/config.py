"""Turning the parsed options into a server root: checks the options, works
out names, paths and sizes (the Plan), and renders httpd.conf, apachectl
and envvars from it."""

import grp
import locale
import math
import os
import pwd
import re
import shlex
import shutil
import importlib.util
import sys
import sysconfig

from . import handler
from .errors import ExpressError
from .options import DAEMON_LIMITS, DAEMON_SOCKET_OPTIONS

# The C package's development helpers this one accepts but does not
# provide (each is warned about).
UNPROVIDED_OPTIONS = ('--enable-coverage', '--enable-docs', '--with-php5')

_MODULE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')


# ---------------------------------------------------------------------------
# Quoting for the Apache configuration
# ---------------------------------------------------------------------------

def _check_text(what, value):
    if any(c in value for c in '\r\n\0'):
        raise ExpressError('%s: line breaks and NUL are not allowed: %r'
                           % (what, value))
    return value


def quote(value):
    """A double-quoted configuration word."""
    _check_text('value', value)
    if value.endswith('\\'):
        raise ExpressError('a value may not end in a backslash: %r' % value)
    return '"%s"' % value.replace('"', '\\"')


def word(value):
    """A configuration word, quoted only when it has to be."""
    _check_text('value', value)
    if value and not re.search(r'[\s"\'\\]', value):
        return value
    return quote(value)


def _absolute(path):
    return os.path.abspath(os.path.expanduser(path))


# ---------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------

class Plan:
    """Everything the generated files need, derived from the options."""

    def __init__(self, args, apache, module_path):
        self.args = args
        self.apache = apache
        self.module_path = module_path
        self.python_home = sys.prefix
        self.running_as_root = os.geteuid() == 0

        self.host = args.host
        self.host_name = args.host or 'localhost'
        self.port = args.port
        self.server_root = _absolute(
            args.server_root or
            '/tmp/mod_wsgi-%s:%d:%d' % (self.host_name, self.port,
                                        os.getuid()))
        # Debug mode (as the C package): Apache as a single process
        # (httpd -DONE_PROCESS) in the terminal, the application in it
        # with one thread, and no reloading; any of the C package's debug
        # helpers turns it on.
        self.debug_mode = bool(
            args.debug_mode or args.enable_debugger or args.enable_coverage
            or args.enable_profiler or args.enable_recorder or
            args.enable_gdb)
        if args.debugger_startup and not args.enable_debugger:
            raise ExpressError('--debugger-startup needs --enable-debugger')
        if self.debug_mode:
            args.reload_on_changes = False
            args.processes, args.threads = 1, 1
        self.embedded = args.embedded_mode or self.debug_mode
        self.mpm = apache.choose_mpm(args.server_mpm)
        self.threaded_mpm = self.mpm != 'prefork'
        self.process_group = args.process_group or \
            '%s:%d' % (self.host_name, self.port)
        # What `ps` shows for the daemon processes, as with the C package:
        # the group's name, or for the default group HOST:PORT:UID of the
        # user who ran the command.
        self.display_name = '(wsgi:%s)' % (
            args.process_group or
            '%s:%d:%d' % (self.host_name, self.port, os.getuid()))
        self.application_group = args.application_group
        self.working_directory = _absolute(args.working_directory or
                                           os.getcwd())
        self.processes = args.processes
        self.threads = args.threads

        self._check_identity()
        self._resolve_application()
        self._resolve_files()
        self._resolve_logs()
        self._resolve_https()
        self._resolve_features()
        self._resolve_compat()
        self._size_apache()

    # -- identity ---------------------------------------------------------

    def _check_identity(self):
        args = self.args
        self.user = self.group = None
        if not self.running_as_root:
            return  # --user/--group only matter when started as root.
        if not args.user or not args.group:
            raise ExpressError(
                'running as root: --user and --group are required, naming '
                'the unprivileged account that Apache\'s child processes '
                'and the daemon processes switch to (for example --user '
                'www-data --group www-data)')
        try:
            pwd.getpwnam(args.user)
        except KeyError:
            raise ExpressError('--user %s: no such user' % args.user) from None
        try:
            grp.getgrnam(args.group)
        except KeyError:
            raise ExpressError(
                '--group %s: no such group' % args.group) from None
        if args.user == 'root' or pwd.getpwnam(args.user).pw_uid == 0:
            raise ExpressError('--user %s: the daemon processes may not run '
                               'as root' % args.user)
        self.user, self.group = args.user, args.group

    # -- the application --------------------------------------------------

    def _resolve_application(self):
        args = self.args
        kind = args.application_type
        entry = args.entry_point_option or args.entry_point
        self.application_type = kind
        self.callable_object = args.callable_object
        self.static_only = kind == 'static'
        mount = args.mount_point.strip()
        if args.metrics_url and not args.metrics_url.startswith('/'):
            raise ExpressError(
                '--metrics-url %s: must start with /' % args.metrics_url)
        if not mount.startswith('/'):
            raise ExpressError(
                '--mount-point %s: must start with /' % args.mount_point)
        self.mount_point = mount.rstrip('/') or '/'
        if not os.path.isdir(self.working_directory):
            raise ExpressError('--working-directory %s: no such directory'
                               % self.working_directory)

        if kind == 'static':
            if not entry:
                raise ExpressError('--application-type static needs a '
                                   'directory as the entry point')
            entry = _absolute(entry)
            if not os.path.isdir(entry):
                raise ExpressError('%s: no such directory' % entry)
            if args.document_root:
                raise ExpressError('--application-type static serves the '
                                   'entry point as the document root; do '
                                   'not give --document-root as well')
        elif kind == 'module':
            if not entry:
                raise ExpressError('--application-type module needs a '
                                   'module name as the entry point')
            if not _MODULE_NAME.match(entry):
                raise ExpressError('%r is not a Python module name' % entry)
        elif entry:
            entry = _absolute(entry)
            if not os.path.isfile(entry):
                raise ExpressError('%s: no such file' % entry)
        elif kind == 'paste':
            raise ExpressError('--application-type paste needs the .ini '
                               'file as the entry point')
        self.entry_point = entry
        self.placeholder = not entry and kind == 'script'

        if args.reload_on_changes and self.embedded:
            raise ExpressError('--reload-on-changes works by restarting '
                               'daemon processes and cannot be combined '
                               'with --embedded-mode')

        self.document_root = _absolute(args.document_root) \
            if args.document_root else None
        if self.document_root and not os.path.isdir(self.document_root):
            raise ExpressError('--document-root %s: no such directory'
                               % self.document_root)
        if self.static_only:
            self.document_root = entry
        # With a document root under the application's own URL space, a
        # request goes to the application only when no file matches it.
        self.resource_mode = bool(self.document_root) and \
            self.mount_point == '/' and not self.static_only
        self.use_handler = not self.static_only and (
            kind in ('module', 'paste') or args.reload_on_changes or
            self.resource_mode or args.enable_debugger or
            args.enable_profiler or args.enable_recorder)

        if self.placeholder:
            self.script = os.path.join(self.server_root,
                                       handler.PLACEHOLDER_NAME)
        elif self.use_handler:
            self.script = os.path.join(self.server_root, handler.HANDLER_NAME)
        else:
            self.script = entry  # WSGIScriptAlias straight to the file.

        paths = [self.working_directory]
        for path in args.python_path:
            path = _absolute(path)
            if path not in paths:
                paths.append(path)
        # A module from this very package (mod_wsgi.diagnostics.hello) must
        # be importable even when the package is not in site-packages.
        if kind == 'module' and entry.split('.')[0] == 'mod_wsgi':
            package_parent = os.path.dirname(os.path.dirname(
                os.path.dirname(os.path.abspath(__file__))))
            installed = {sysconfig.get_paths().get(k)
                         for k in ('purelib', 'platlib')}
            if package_parent not in installed and \
                    package_parent not in paths:
                paths.append(package_parent)
        for path in paths:
            if ':' in path:
                raise ExpressError('%s: a directory on the Python path may '
                                   'not contain ":"' % path)
        self.python_paths = paths

    def handler_settings(self):
        watch = []
        if self.application_type in ('script', 'paste') and self.entry_point:
            watch.append(self.entry_point)
        return {
            'application_type': self.application_type,
            'entry_point': self.entry_point,
            'callable_object': self.callable_object,
            'reload_on_changes': bool(self.args.reload_on_changes),
            'watch_files': watch,
            'resource_handler': handler.RESOURCE_HANDLER
            if self.resource_mode else None,
            'enable_debugger': bool(self.args.enable_debugger),
            'debugger_startup': bool(self.args.debugger_startup),
            'profiler_directory': self.profiler_directory,
            'recorder_directory': self.recorder_directory,
        }

    # -- static files, includes, environment ------------------------------

    def _resolve_files(self):
        args = self.args
        self.htdocs = os.path.join(self.server_root, 'htdocs')
        aliases = []
        for url, path in args.url_alias:
            if not url.startswith('/'):
                raise ExpressError('--url-alias %s %s: the URL path must '
                                   'start with /' % (url, path))
            path = _absolute(path)
            if not os.path.exists(path):
                raise ExpressError('--url-alias %s %s: no such file or '
                                   'directory' % (url, path))
            # Alias maps URL and path prefixes literally: a URL ending in /
            # needs a directory path ending in / too.
            if url.endswith('/') and os.path.isdir(path):
                path = path.rstrip('/') + '/'
            aliases.append((url, path))
        # Apache uses the first Alias that matches, so longer URL paths go
        # first whatever the order on the command line.
        aliases.sort(key=lambda pair: len(pair[0]), reverse=True)
        self.url_aliases = aliases

        self.include_files = []
        for path in args.include_file:
            path = _absolute(path)
            if not os.path.isfile(path):
                raise ExpressError('--include-file %s: no such file' % path)
            self.include_files.append(path)
        self.envvars_script = None
        if args.envvars_script:
            self.envvars_script = _absolute(args.envvars_script)
            if not os.path.isfile(self.envvars_script):
                raise ExpressError('--envvars-script %s: no such file'
                                   % self.envvars_script)
        for name, value in args.setenv:
            _check_text('--setenv %s' % name, value)
            if not re.match(r'^[A-Za-z_][A-Za-z0-9_.-]*$', name):
                raise ExpressError('--setenv %s: not a variable name' % name)
        for name in args.passenv:
            if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name):
                raise ExpressError('--passenv %s: not a variable name' % name)
        self.locale = self._choose_locale(args.locale)

    @staticmethod
    def _choose_locale(explicit):
        if explicit:
            return explicit
        current = os.environ.get('LC_ALL') or os.environ.get('LANG') or ''
        if current and current not in ('C', 'POSIX'):
            return None  # Keep what Apache inherits.
        saved = locale.setlocale(locale.LC_ALL)
        try:
            for name in ('C.UTF-8', 'en_US.UTF-8'):
                try:
                    locale.setlocale(locale.LC_ALL, name)
                    return name
                except locale.Error:
                    continue
        finally:
            locale.setlocale(locale.LC_ALL, saved)
        return None

    # -- logs ---------------------------------------------------------------

    def _resolve_logs(self):
        args = self.args
        directory = _absolute(args.log_directory) if args.log_directory \
            else None
        if directory and not os.path.isdir(directory):
            raise ExpressError('--log-directory %s: no such directory'
                               % directory)
        for option, name in (('--access-log-name', args.access_log_name),
                             ('--error-log-name', args.error_log_name)):
            if not name or '/' in name:
                raise ExpressError('%s %s: expected a plain file name'
                                   % (option, name))
        if args.log_to_terminal and not directory:
            self.error_log = '/dev/stderr'
            self.access_log = '/dev/stdout'
        else:
            directory = directory or self.server_root
            self.error_log = os.path.join(directory, args.error_log_name)
            self.access_log = os.path.join(directory, args.access_log_name)
        if not args.access_log:
            self.access_log = None

    # -- HTTPS ----------------------------------------------------------------

    def _resolve_https(self):
        args = self.args
        self.https_port = args.https_port
        certificate = args.ssl_certificate_file
        key = args.ssl_certificate_key_file
        if args.ssl_certificate:
            prefix = _absolute(args.ssl_certificate)
            certificate = certificate or prefix + '.crt'
            key = key or prefix + '.key'
        if not self.https_port:
            if certificate or key:
                raise ExpressError('a certificate was given but no '
                                   '--https-port to serve HTTPS on')
            return
        if self.https_port == self.port:
            raise ExpressError('--https-port must differ from --port')
        if not certificate or not key:
            raise ExpressError('--https-port needs --ssl-certificate-file '
                               'and --ssl-certificate-key-file (or '
                               '--ssl-certificate PATH-PREFIX)')
        certificate, key = _absolute(certificate), _absolute(key)
        for what, path in (('certificate', certificate), ('key', key)):
            if not os.path.isfile(path):
                raise ExpressError('SSL %s %s: no such file' % (what, path))
        self.ssl_certificate = certificate
        self.ssl_key = key
        if not self.apache.has_module('ssl'):
            raise ExpressError('--https-port needs Apache\'s mod_ssl, which '
                               'is not in %s' % self.apache.modules_directory)

    # -- switches -------------------------------------------------------------

    def _resolve_features(self):
        args = self.args
        self.telemetry_ui_port = None
        if args.telemetry_ui_port and not args.enable_telemetry:
            raise ExpressError('--telemetry-ui-port goes with '
                               '--enable-telemetry')
        if args.enable_telemetry:
            if args.telemetry_service:
                raise ExpressError('--enable-telemetry runs its own '
                                   'ingester; leave out --telemetry-service')
            if importlib.util.find_spec('mod_wsgi.telemetry') is None:
                raise ExpressError(
                    '--enable-telemetry needs the mod-wsgi-telemetry '
                    'package (pip install mod-wsgi-telemetry) in %s'
                    % sys.prefix)
            self.telemetry_ui_port = args.telemetry_ui_port or 8888
            args.telemetry_service = 'unix:' + os.path.join(
                self.server_root, TELEMETRY_DIRECTORY, 'telemetry.sock')
        if args.telemetry_service:
            target = args.telemetry_service
            if not target.startswith('unix:/'):
                raise ExpressError('--telemetry-service %s: expected '
                                   'unix: followed by an absolute socket '
                                   'path' % target)
        elif args.slow_requests is not None or args.telemetry_interval:
            raise ExpressError('--slow-requests and --telemetry-interval '
                               'need --telemetry-service')
        if args.free_threading and \
                not sysconfig.get_config_var('Py_GIL_DISABLED'):
            raise ExpressError(
                '--free-threading needs a free-threaded Python build '
                '(configured with --disable-gil, such as python3.13t); %s '
                '(Python %d.%d) is not one'
                % (sys.executable, sys.version_info[0], sys.version_info[1]))
        if self.resource_mode and not self.apache.has_module('rewrite'):
            raise ExpressError('--document-root with --mount-point / needs '
                               'Apache\'s mod_rewrite, which is not in %s'
                               % self.apache.modules_directory)

    # -- options shared with the C package ----------------------------------

    def _existing_file(self, option, path):
        path = _absolute(path)
        if not os.path.isfile(path):
            raise ExpressError('%s %s: no such file' % (option, path))
        return path

    def _resolve_compat(self):
        args = self.args
        # Things that cannot apply here: said once, never fatal.
        self.warnings = []
        for option in UNPROVIDED_OPTIONS:
            if getattr(args, option[2:].replace('-', '_')):
                self.warnings.append(
                    '%s is not provided by this mod_wsgi-express; ignored%s'
                    % (option, ' (debug mode still applies)'
                       if option.startswith('--enable-') and
                       option != '--enable-docs' else ''))
        self.profiler_directory = None
        if args.enable_profiler:
            self.profiler_directory = _absolute(
                args.profiler_directory or
                os.path.join(self.server_root, 'pstats'))
        self.recorder_directory = None
        if args.enable_recorder:
            self.recorder_directory = _absolute(
                args.recorder_directory or
                os.path.join(self.server_root, 'archive'))
        for option in ('--coverage-directory',):
            if getattr(args, option[2:].replace('-', '_')):
                self.warnings.append('%s is ignored (see the matching '
                                     '--enable- option)' % option)
        if args.https_only and not args.server_name:
            self.warnings.append('--https-only only takes effect with '
                                 '--server-name (as in the C package)')
        if args.hsts_policy and not args.https_only:
            self.warnings.append('--hsts-policy only takes effect with '
                                 '--https-only')
        if self.embedded and (args.initial_workers is not None or
                              args.minimum_spare_workers is not None or
                              args.maximum_spare_workers is not None):
            self.warnings.append('the --*-workers options are ignored in '
                                 'embedded mode')

        self.pid_file = _absolute(args.pid_file) if args.pid_file else \
            os.path.join(self.server_root, 'httpd.pid')
        self.socket_prefix = os.path.join(
            _absolute(args.socket_prefix) if args.socket_prefix
            else self.server_root, 'wsgi')
        self.python_eggs = _absolute(args.python_eggs) \
            if args.python_eggs else None
        self.mime_types = self._existing_file('--mime-types',
                                              args.mime_types) \
            if args.mime_types else (
                '/etc/mime.types' if os.path.isfile('/etc/mime.types')
                else None)
        self.rewrite_rules = self._existing_file(
            '--rewrite-rules', args.rewrite_rules) \
            if args.rewrite_rules else None
        for option in ('ssl_ca_certificate_file',
                       'ssl_certificate_chain_file'):
            value = getattr(args, option)
            if value:
                if not self.https_port:
                    raise ExpressError('--%s needs --https-port'
                                       % option.replace('_', '-'))
                setattr(args, option, self._existing_file(
                    '--' + option.replace('_', '-'), value))
        if args.ssl_verify_client and not args.ssl_ca_certificate_file:
            raise ExpressError('--ssl-verify-client needs '
                               '--ssl-ca-certificate-file')
        for path in args.ssl_verify_client + args.ignore_activity:
            if not path.startswith('/'):
                raise ExpressError('%s: a URL path must start with /' % path)
        self.scripts = {}
        for option in ('host_access_script', 'auth_user_script',
                       'auth_group_script'):
            value = getattr(args, option)
            if value:
                self.scripts[option] = self._existing_file(
                    '--' + option.replace('_', '-'), value)
        if args.auth_group_script and not args.auth_user_script:
            raise ExpressError('--auth-group-script goes with '
                               '--auth-user-script')
        self.handlers = []
        for extension, script in args.add_handler:
            if not re.match(r'^\.?[A-Za-z0-9_-]+$', extension):
                raise ExpressError('--add-handler %s: not a file extension'
                                   % extension)
            if not extension.startswith('.'):
                extension = '.' + extension
            self.handlers.append(
                (extension, self._existing_file('--add-handler', script)))
        for status, url in args.error_document:
            if not re.match(r'^[1-5][0-9][0-9]$', status):
                raise ExpressError('--error-document %s: not an HTTP '
                                   'status' % status)
            _check_text('--error-document', url)
        self.services = []
        users = dict(args.service_user)
        groups = dict(args.service_group)
        log_files = dict(args.service_log_file)
        for name, script in args.service_script:
            if not re.match(r'^[A-Za-z0-9_.-]+$', name):
                raise ExpressError('--service-script %s: a service name '
                                   'is letters, digits, _ . and -' % name)
            log_file = log_files.get(name)
            if log_file is not None and (not log_file or '/' in log_file):
                raise ExpressError('--service-log-file %s %s: expected a '
                                   'plain file name' % (name, log_file))
            self.services.append({
                'name': name,
                'script': self._existing_file('--service-script', script),
                'user': users.get(name, self.user),
                'group': groups.get(name, self.group),
                'log_file': log_file})
        for option, mapping in (('--service-user', users),
                                ('--service-group', groups),
                                ('--service-log-file', log_files)):
            for name in mapping:
                if name not in dict(args.service_script):
                    raise ExpressError('%s %s: no --service-script of that '
                                       'name' % (option, name))
        self.rotatelogs = None
        if args.rotate_logs and self.error_log != '/dev/stderr':
            self.rotatelogs = self._find_rotatelogs(
                args.rotatelogs_executable)
        self.startup_log = None
        if args.startup_log:
            if args.log_to_terminal and not args.log_directory:
                self.startup_log = '/dev/stderr'
            else:
                if not args.startup_log_name or '/' in args.startup_log_name:
                    raise ExpressError('--startup-log-name %s: expected a '
                                       'plain file name'
                                       % args.startup_log_name)
                self.startup_log = os.path.join(
                    os.path.dirname(self.error_log), args.startup_log_name)
        self.shell = args.shell_executable or next(
            (p for p in ('/bin/bash', '/usr/bin/bash') if os.path.isfile(p)),
            '/bin/sh')
        if args.process_name and os.path.basename(self.shell) != 'bash':
            self.warnings.append('--process-name needs bash to run '
                                 'apachectl; ignored with %s' % self.shell)
        for option, value in (('--server-name', args.server_name),
                              ('--hsts-policy', args.hsts_policy),
                              ('--error-log-format', args.error_log_format),
                              ('--process-name', args.process_name)):
            if value is not None:
                _check_text(option, value)
        for value in args.server_alias + args.trust_proxy_header + \
                args.trust_proxy + args.python_warnings:
            if not value or re.search(r'[\s"\'\\]', value):
                raise ExpressError('%r: expected one word' % value)
        for url, target in args.proxy_mount_point:
            if not url.startswith('/'):
                raise ExpressError('--proxy-mount-point %s %s: the URL path '
                                   'must start with /' % (url, target))
        self.proxying = bool(args.proxy_mount_point or
                             args.proxy_virtual_host)
        for stage in ('header', 'body'):
            timeout = getattr(args, stage + '_timeout')
            most = getattr(args, stage + '_max_timeout')
            if timeout and most and most <= timeout:
                # Apache refuses such a RequestReadTimeout at start-up.
                raise ExpressError(
                    '--%s-max-timeout %d must be more than --%s-timeout %d '
                    '(or 0 for no maximum)' % (stage, most, stage, timeout))

    @staticmethod
    def _find_rotatelogs(explicit):
        if explicit:
            path = explicit if os.sep in explicit else shutil.which(explicit)
            if not path or not os.access(path, os.X_OK):
                raise ExpressError('--rotatelogs-executable %s: not an '
                                   'executable file' % explicit)
            return os.path.abspath(path)
        search = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin',
                                  '/usr/bin', '/usr/local/apache2/bin'])
        path = shutil.which('rotatelogs', path=search)
        if not path:
            raise ExpressError('--rotate-logs needs Apache\'s rotatelogs '
                               'program; name it with '
                               '--rotatelogs-executable')
        return path

    # -- sizes ----------------------------------------------------------------

    def _size_apache(self):
        args = self.args
        capacity = self.processes * self.threads
        self.capacity = capacity
        if self.embedded:
            # Each Apache child is one of the processes.
            self.max_clients = capacity
        else:
            self.max_clients = args.max_clients or max(20, 2 * capacity)

    # -- helpers ----------------------------------------------------------------

    @property
    def scheme_host(self):
        host = self.args.server_name or self.host_name
        if ':' in host:
            host = '[%s]' % host
        return host

    def url(self, https=False):
        mount = self.mount_point if self.mount_point.endswith('/') \
            else self.mount_point + '/'
        if self.mount_point == '/':
            mount = '/'
        if https:
            return 'https://%s:%d%s' % (self.scheme_host, self.https_port,
                                        mount)
        return 'http://%s:%d%s' % (self.scheme_host, self.port, mount)

    def listen_address(self, port):
        if self.host:
            host = '[%s]' % self.host if ':' in self.host else self.host
            return '%s:%d' % (host, port)
        return str(port)


# ---------------------------------------------------------------------------
# httpd.conf
# ---------------------------------------------------------------------------

class _Conf:
    def __init__(self):
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)

    def blank(self):
        if self.lines and self.lines[-1] != '':
            self.lines.append('')

    def comment(self, text):
        self.blank()
        self.lines.append('# ' + text)

    def text(self):
        return '\n'.join(self.lines).rstrip('\n') + '\n'


def _load_module(conf, plan, short):
    identifier = '%s_module' % short
    if plan.apache.is_compiled_in(short):
        return
    path = plan.apache.module_file(short)
    if not os.path.isfile(path):
        raise ExpressError('Apache module mod_%s is needed but %s does not '
                           'exist' % (short, path))
    conf.add('<IfModule !%s>' % identifier,
             '    LoadModule %s %s' % (identifier, quote(path)),
             '</IfModule>')


def _mpm_section(conf, plan):
    args = plan.args
    conf.comment('Apache processes and threads (%s MPM).' % plan.mpm)
    if plan.embedded:
        if plan.threaded_mpm:
            total = plan.processes * plan.threads
            conf.add('StartServers %d' % plan.processes,
                     'ServerLimit %d' % plan.processes,
                     'ThreadLimit %d' % plan.threads,
                     'ThreadsPerChild %d' % plan.threads,
                     'MaxRequestWorkers %d' % total,
                     # Every child is started up front; a higher value
                     # only makes Apache complain that it cannot add more.
                     'MinSpareThreads 1',
                     'MaxSpareThreads %d' % total)
        else:
            total = plan.processes * plan.threads
            conf.add('StartServers %d' % total,
                     'ServerLimit %d' % total,
                     'MaxRequestWorkers %d' % total,
                     'MinSpareServers 1',
                     'MaxSpareServers %d' % total)
        conf.add('MaxConnectionsPerChild %d' % args.maximum_requests)
        return
    clients = plan.max_clients
    if plan.threaded_mpm:
        per_child = min(clients, 25)
        children = math.ceil(clients / per_child)
        # Spare threads ask for another child before the busy ones fill
        # up; with a single child there is nothing to add.
        spare = max(1, per_child // 4) if children > 1 else 1
        total = children * per_child
        start, most_spare = 1, total
        if args.initial_workers is not None:
            start = max(1, math.ceil(args.initial_workers * children))
        if args.minimum_spare_workers is not None:
            spare = max(1, int(args.minimum_spare_workers * total))
        if args.maximum_spare_workers is not None:
            most_spare = max(spare + per_child,
                             int(args.maximum_spare_workers * total))
        conf.add('StartServers %d' % start,
                 'ServerLimit %d' % children,
                 'ThreadLimit %d' % per_child,
                 'ThreadsPerChild %d' % per_child,
                 'MaxRequestWorkers %d' % total,
                 'MinSpareThreads %d' % spare,
                 'MaxSpareThreads %d' % most_spare)
    else:
        start, spare, most_spare = min(clients, 2), 1, clients
        if args.initial_workers is not None:
            start = max(1, int(args.initial_workers * clients))
        if args.minimum_spare_workers is not None:
            spare = max(1, int(args.minimum_spare_workers * clients))
        if args.maximum_spare_workers is not None:
            most_spare = max(spare + 1,
                             int(args.maximum_spare_workers * clients))
        conf.add('StartServers %d' % start,
                 'ServerLimit %d' % clients,
                 'MaxRequestWorkers %d' % clients,
                 'MinSpareServers %d' % spare,
                 'MaxSpareServers %d' % most_spare)
    conf.add('MaxConnectionsPerChild 0')


def _grant_file(conf, path):
    conf.add('<Directory %s>' % quote(os.path.dirname(path)),
             '    <Files %s>' % quote(os.path.basename(path)),
             '        Require all granted',
             '    </Files>',
             '</Directory>')


def _daemon_process_line(plan):
    args = plan.args
    options = []
    if plan.processes > 1:
        # Given at all, processes= makes wsgi.multiprocess true, so leave it
        # out for a single process.
        options.append('processes=%d' % plan.processes)
    options.append('threads=%d' % plan.threads)
    options.append(word('display-name=' + plan.display_name))
    options.append(word('home=' + plan.working_directory))
    if plan.python_paths:
        options.append(word('python-path=' + ':'.join(plan.python_paths)))
    if plan.user:
        options.append(word('user=' + plan.user))
        options.append(word('group=' + plan.group))
    for option, _default, _help in DAEMON_LIMITS:
        name = option[2:]
        options.append('%s=%d' % (name, getattr(args, name.replace('-', '_'))))
    for option, default, _help in DAEMON_SOCKET_OPTIONS:
        name = option[2:]
        value = getattr(args, name.replace('-', '_'))
        if value != default:
            options.append('%s=%d' % (name, value))
    if plan.python_eggs:
        options.append(word('python-eggs=' + plan.python_eggs))
    options.append('listen-backlog=%d' % args.daemon_backlog)
    if args.switch_interval:
        options.append('switch-interval=%s' % args.switch_interval)
    if args.server_metrics:
        options.append('server-metrics=On')
    head = 'WSGIDaemonProcess %s' % word(plan.process_group)
    return [head + ' \\'] + ['    %s \\' % o for o in options[:-1]] + \
        ['    %s' % options[-1]]


TELEMETRY_GROUP = 'service:telemetry'
TELEMETRY_SCRIPT = 'telemetry-service.py'
# Where the ingester binds its socket: a directory the daemons' user owns.
TELEMETRY_DIRECTORY = 'telemetry'


def telemetry_service_script(plan):
    """The service script that runs the ingester (--enable-telemetry)."""
    return (
        '# Written by mod_wsgi-express --enable-telemetry: runs the\n'
        '# mod_wsgi-telemetry ingester and web UI in a threads=0 daemon.\n'
        'from mod_wsgi.telemetry.server import main\n'
        '\n'
        'main([%r, %r, %r, %r, %r, %r])\n' % (
            '--listen', plan.args.telemetry_service,
            '--http-host', '127.0.0.1',
            '--http-port', str(plan.telemetry_ui_port)))


def _service_lines(plan, group, script, user=None, member_of=None):
    """A threads=0 daemon process group that runs ``script`` once."""
    options = ['threads=0', 'display-name=%{GROUP}',
               word('home=' + plan.working_directory)]
    if plan.python_paths:
        options.append(word('python-path=' + ':'.join(plan.python_paths)))
    if user:
        options += [word('user=' + user), word('group=' + member_of)]
    return ['WSGIDaemonProcess %s %s' % (word(group), ' '.join(options)),
            'WSGIImportScript %s process-group=%s application-group=%%{GLOBAL}'
            % (quote(script), word(group))]


def _telemetry_service_section(conf, plan):
    conf.blank()
    conf.comment('The telemetry ingester and its UI (--enable-telemetry).')
    conf.add(*_service_lines(
        plan, TELEMETRY_GROUP,
        os.path.join(plan.server_root, TELEMETRY_SCRIPT), plan.user,
        plan.group))


def _services_section(conf, plan):
    if not plan.services:
        return
    conf.comment('--service-script: one threads=0 daemon process each.')
    for service in plan.services:
        lines = _service_lines(plan, 'service:' + service['name'],
                               service['script'], service['user'],
                               service['group'])
        if service['log_file']:
            # A virtual host of its own gives the daemon its own ErrorLog.
            log = os.path.join(os.path.dirname(plan.error_log),
                               service['log_file'])
            conf.add('<VirtualHost *:%d>' % plan.port,
                     '    ' + _error_log_line(plan, log))
            conf.add(*['    ' + line for line in lines])
            conf.add('</VirtualHost>')
        else:
            conf.add(*lines)


def _error_log_line(plan, path):
    if plan.rotatelogs and path not in ('/dev/stderr', '/dev/stdout'):
        return 'ErrorLog %s' % quote('|%s %s.%%Y-%%m-%%d-%%H_%%M_%%S %dM' % (
            plan.rotatelogs, path, plan.args.max_log_size))
    return 'ErrorLog %s' % quote(path)


RESOURCE_HANDLERS_NAME = 'resource.wsgi'


def resource_handlers_script(plan):
    """The WSGIHandlerScript behind --add-handler: picks the script by the
    extension of the file the request maps to."""
    return (
        '# Written by mod_wsgi-express for --add-handler.\n'
        'import os\n'
        'import runpy\n'
        '\n'
        'SCRIPTS = %r\n'
        '_loaded = {}\n'
        '\n'
        '\n'
        'def _script_for(extension):\n'
        '    if extension not in _loaded:\n'
        '        names = runpy.run_path(SCRIPTS[extension])\n'
        '        _loaded[extension] = names.get(\'handle_request\') or \\\n'
        '            names[\'application\']\n'
        '    return _loaded[extension]\n'
        '\n'
        '\n'
        'def handle_request(environ, start_response):\n'
        '    extension = os.path.splitext(environ[\'SCRIPT_NAME\'])[1]\n'
        '    return _script_for(extension)(environ, start_response)\n'
        % dict(plan.handlers))


def _wsgi_section(conf, plan):
    args = plan.args
    conf.comment('mod_wsgi.')
    conf.add('LoadModule wsgi_module %s' % quote(plan.module_path),
             'WSGIPythonHome %s' % quote(plan.python_home),
             'WSGISocketPrefix %s' % quote(plan.socket_prefix),
             # One socket name per daemon group for the server's lifetime,
             # as the C package writes it.
             'WSGISocketRotation Off')
    if args.verbose_debugging:
        conf.add('WSGIVerboseDebugging On')
    if args.free_threading:
        conf.add('WSGIFreeThreading On')
    if args.server_metrics:
        conf.add('WSGIServerMetrics On')
    if args.telemetry_service:
        line = 'WSGITelemetryService %s' % word(args.telemetry_service)
        if args.telemetry_interval:
            line += ' interval=%s' % args.telemetry_interval
        conf.add(line)
    for flags in args.telemetry_options:
        conf.add('WSGITelemetryOptions %s' % _check_text(
            '--telemetry-options', flags))
    if args.slow_requests is not None:
        conf.add('WSGISlowRequests %s' % args.slow_requests)
    if plan.telemetry_ui_port:
        _telemetry_service_section(conf, plan)
    if args.orphan_interpreter:
        conf.add('WSGIDestroyInterpreter Off')
    if plan.debug_mode:
        # pdb reads the terminal Apache was started from.
        conf.add('WSGIRestrictStdin Off')
    for spec in args.python_warnings:
        conf.add('WSGIPythonWarnings %s' % word(spec))
    if plan.static_only:
        return
    conf.add('WSGIMapHEADToGET %s' % args.map_head_to_get.capitalize(),
             # The application sees HTTP_AUTHORIZATION, as with the C
             # package (token and basic authentication done in Python).
             'WSGIPassAuthorization On')
    if args.chunked_request:
        conf.add('WSGIChunkedRequest On')
    if args.enable_sendfile:
        conf.add('WSGIEnableSendfile On')
    if args.error_override:
        conf.add('WSGIErrorOverride On')
    if args.disable_reloading:
        conf.add('WSGIScriptReloading Off')
    if args.trust_proxy_header:
        conf.add('WSGITrustedProxyHeaders %s'
                 % ' '.join(args.trust_proxy_header))
    if args.trust_proxy:
        conf.add('WSGITrustedProxies %s' % ' '.join(args.trust_proxy))

    if plan.embedded:
        if plan.python_paths:
            conf.add('WSGIPythonPath %s' % quote(':'.join(plan.python_paths)))
        if args.switch_interval:
            conf.add('WSGISwitchInterval %s' % args.switch_interval)
    else:
        conf.blank()
        conf.add(*_daemon_process_line(plan))
        conf.add('WSGIProcessGroup %s' % word(plan.process_group))
        # As the C package: applications run in the daemon only. Apache's
        # children still start Python when an access, auth or dispatch
        # script needs it there.
        conf.add('WSGIRestrictEmbedded On')
    conf.add('WSGIApplicationGroup %s' % word(plan.application_group))
    if not plan.use_handler:
        conf.add('WSGICallableObject %s' % word(plan.callable_object))

    # Naming both groups on the alias also preloads the script when the
    # process starts; that needs a fixed application group.
    alias_options = ''
    fixed_group = '%{ENV:' not in plan.application_group.upper()
    if fixed_group:
        alias_options = ' process-group=%s application-group=%s' % (
            word('%{GLOBAL}' if plan.embedded else plan.process_group),
            word(plan.application_group))
    conf.blank()
    if plan.resource_mode:
        conf.add('WSGIHandlerScript %s %s%s' % (
            handler.RESOURCE_HANDLER, quote(plan.script), alias_options))
        if fixed_group:
            # Handler scripts are not preloaded on their own.
            conf.add('WSGIImportScript %s%s' % (quote(plan.script),
                                                alias_options))
    else:
        conf.add('WSGIScriptAlias %s %s%s' % (
            word(plan.mount_point), quote(plan.script), alias_options))
        _grant_file(conf, plan.script)
    for url in args.ignore_activity:
        conf.add('<Location %s>' % quote(url),
                 '    WSGIIgnoreActivity On',
                 '</Location>')
    if plan.handlers:
        conf.blank()
        conf.add('WSGIHandlerScript wsgi-resource %s process-group=%s '
                 'application-group=%%{GLOBAL}' % (
                     quote(os.path.join(plan.server_root,
                                        RESOURCE_HANDLERS_NAME)),
                     word('%{GLOBAL}' if plan.embedded
                          else plan.process_group)))
        for extension, _script in plan.handlers:
            conf.add('AddHandler wsgi-resource %s' % extension)


def _document_root_section(conf, plan):
    args = plan.args
    root = plan.document_root or plan.htdocs
    conf.comment('Static files.')
    overrides = ' '.join(args.allow_override) or 'None'
    conf.add('DocumentRoot %s' % quote(root),
             '<Directory %s>' % quote(root),
             '    AllowOverride %s' % overrides,
             '    Require all granted')
    if args.directory_listing:
        conf.add('    Options +Indexes')
    if args.with_cgi:
        conf.add('    Options +ExecCGI')
    if plan.rewrite_rules:
        conf.add('    RewriteEngine On',
                 '    RewriteOptions InheritDownBefore',
                 '    Include %s' % quote(plan.rewrite_rules))
    if plan.resource_mode:
        conf.add('    # Requests without a matching file go to the '
                 'application.',
                 '    Options +FollowSymLinks',
                 '    RewriteEngine On',
                 '    RewriteCond %{REQUEST_FILENAME} !-f')
        if args.server_status:
            conf.add('    RewriteCond %{REQUEST_URI} !^/server-status')
        if args.metrics_url:
            conf.add('    RewriteCond %%{REQUEST_URI} !=%s'
                     % word(args.metrics_url))
        if args.directory_index:
            conf.add('    RewriteCond %%{REQUEST_FILENAME}/%s !-f'
                     % word(args.directory_index))
        conf.add('    RewriteRule .* - [H=%s]' % handler.RESOURCE_HANDLER)
    conf.add('</Directory>')
    if args.directory_index:
        conf.add('DirectoryIndex %s' % word(args.directory_index))
    else:
        conf.add('DirectoryIndex disabled')
    for url, path in plan.url_aliases:
        conf.add('Alias %s %s' % (quote(url), quote(path)))
        if os.path.isdir(path):
            conf.add('<Directory %s>' % quote(path.rstrip('/') or '/'),
                     '    AllowOverride %s' % overrides,
                     '    Require all granted',
                     '</Directory>')
        else:
            _grant_file(conf, path)


def _https_section(conf, plan):
    conf.comment('HTTPS.')
    conf.add('Listen %s' % plan.listen_address(plan.https_port))
    if plan.apache.has_module('socache_shmcb'):
        conf.add('SSLSessionCache %s' % quote(
            'shmcb:%s(512000)' % os.path.join(plan.server_root,
                                               'ssl_scache')))
    args = plan.args
    ssl = ['    SSLEngine On',
           '    SSLCertificateFile %s' % quote(plan.ssl_certificate),
           '    SSLCertificateKeyFile %s' % quote(plan.ssl_key)]
    if args.ssl_ca_certificate_file:
        ssl.append('    SSLCACertificateFile %s'
                   % quote(args.ssl_ca_certificate_file))
    if args.ssl_certificate_chain_file:
        ssl.append('    SSLCertificateChainFile %s'
                   % quote(args.ssl_certificate_chain_file))
    extra = []
    if args.ssl_environment:
        extra.append('    SSLOptions +StdEnvVars')
    if args.server_name:
        if args.https_only and args.hsts_policy:
            extra.append('    Header set Strict-Transport-Security %s'
                         % quote(args.hsts_policy))
        _named_hosts(conf, plan, plan.https_port, ssl, extra, 'https')
    else:
        conf.add('<VirtualHost *:%d>' % plan.https_port,
                 '    ServerName %s' % word(plan.host_name),
                 *(ssl + extra))
        conf.add('</VirtualHost>')
    if args.ssl_ca_certificate_file:
        # A client certificate is required where --ssl-verify-client says,
        # else everywhere.
        for path in sorted(args.ssl_verify_client or ['/'], reverse=True):
            conf.add('<Location %s>' % quote(path),
                     '    SSLVerifyClient require',
                     '    SSLVerifyDepth 1',
                     '</Location>')


def _named_hosts(conf, plan, port, inside, extra, scheme):
    """--server-name: a default virtual host that refuses unknown names
    (localhost allowed with --allow-localhost), the named one, and with a
    www. name one that redirects the bare domain."""
    args = plan.args
    name = args.server_name
    https_only = args.https_only and plan.https_port and scheme == 'http'
    conf.add('<VirtualHost _default_:%d>' % port,
             '    ServerName _wsgi_',
             '    <Location />',
             '        %s' % ('Require host localhost' if args.allow_localhost
                             else 'Require all denied'),
             '    </Location>', *inside)
    conf.add('</VirtualHost>',
             '<VirtualHost *:%d>' % port,
             '    ServerName %s' % word(name))
    if args.server_alias:
        conf.add('    ServerAlias %s' % ' '.join(args.server_alias))
    conf.add(*inside)
    conf.add(*extra)
    if https_only:
        conf.add('    RewriteEngine On',
                 '    RewriteCond %{HTTPS} off',
                 '    RewriteRule (.*) https://%s:%d%%{REQUEST_URI}'
                 % (name, plan.https_port))
    conf.add('</VirtualHost>')
    if name.lower().startswith('www.'):
        conf.add('<VirtualHost *:%d>' % port,
                 '    ServerName %s' % word(name[4:]), *inside)
        if https_only:
            conf.add('    RewriteEngine On',
                     '    RewriteCond %{HTTPS} off',
                     '    RewriteRule (.*) https://%s:%d%%{REQUEST_URI}'
                     % (name, plan.https_port))
        else:
            conf.add('    Redirect permanent / %s://%s:%d/'
                     % (scheme, name, port))
        conf.add('</VirtualHost>')


def _request_read_timeout(args):
    parts = []
    for stage in ('header', 'body'):
        timeout = getattr(args, stage + '_timeout')
        if not timeout:
            continue
        text = '%s=%d' % (stage, timeout)
        most = getattr(args, stage + '_max_timeout')
        if most:
            text += '-%d' % most
        rate = getattr(args, stage + '_min_rate')
        if rate:
            text += ',MinRate=%d' % rate
        parts.append(text)
    return ' '.join(parts)


def _access_section(conf, plan):
    """Error documents, /server-status, and the access, authentication
    and authorisation scripts."""
    args = plan.args
    for status, url in args.error_document:
        conf.add('ErrorDocument %s %s' % (status, quote(url)))
    if args.with_cgi:
        conf.add('AddHandler cgi-script .cgi')
    if args.server_status:
        conf.comment('--server-status: for requests from this host only.')
        conf.add('ExtendedStatus On',
                 '<Location /server-status>',
                 '    SetHandler server-status',
                 '    Require host localhost',
                 '</Location>')
    if args.metrics_url:
        conf.comment('--metrics-url: the metrics page of all processes.')
        allowed = ('Require ip %s' % ' '.join(
                       word(a) for a in args.metrics_allow_from)
                   if args.metrics_allow_from else 'Require local')
        conf.add('<Location %s>' % quote(args.metrics_url),
                 '    SetHandler wsgi-metrics',
                 '    %s' % allowed,
                 '</Location>')
    if plan.scripts.get('host_access_script'):
        conf.add('<Location />',
                 '    WSGIAccessScript %s'
                 % quote(plan.scripts['host_access_script']),
                 '</Location>')
    if args.auth_user_script:
        auth = args.auth_type
        conf.add('<Location />',
                 '    AuthType %s' % auth,
                 '    AuthName %s' % quote('%s:%d' % (plan.host_name,
                                                      plan.port)),
                 '    Auth%sProvider wsgi' % auth,
                 '    WSGIAuthUserScript %s'
                 % quote(plan.scripts['auth_user_script']))
        if args.auth_group_script:
            conf.add('    WSGIAuthGroupScript %s'
                     % quote(plan.scripts['auth_group_script']))
        conf.add('    <RequireAll>',
                 '        Require valid-user')
        if args.auth_group_script:
            conf.add('        Require wsgi-group %s' % quote(args.auth_group))
        conf.add('    </RequireAll>',
                 '</Location>')


def _proxy_section(conf, plan):
    args = plan.args
    if not plan.proxying:
        return
    conf.comment('Reverse proxies.')
    if args.proxy_timeout is not None:
        conf.add('ProxyTimeout %d' % args.proxy_timeout)
    for url, target in sorted(args.proxy_mount_point, reverse=True):
        prefix = url.rstrip('/')
        if not url.endswith('/'):
            url, target = url + '/', target.rstrip('/') + '/'
        conf.add('ProxyPass %s %s upgrade=websocket' % (quote(url),
                                                         quote(target)),
                 'ProxyPassReverse %s %s' % (quote(url), quote(target)),
                 '<Location %s>' % quote(url),
                 '    RequestHeader set X-Forwarded-Port "expr=%{SERVER_PORT}"',
                 '    RequestHeader set X-Forwarded-Scheme https '
                 '"expr=%{HTTPS} == \'on\'"',
                 '    RequestHeader set X-Forwarded-Prefix %s'
                 % quote(prefix or '/'),
                 '</Location>')
        if prefix:
            # The mount point without its slash redirects to it with one.
            conf.add('RedirectMatch 302 ^%s$ %s/' % (re.escape(prefix),
                                                     prefix))
    for host, target in args.proxy_virtual_host:
        conf.add('<VirtualHost *:%d>' % plan.port,
                 '    ServerName %s' % word(host),
                 '    ProxyPass / %s upgrade=websocket' % quote(target),
                 '    ProxyPassReverse / %s' % quote(target),
                 '    RequestHeader set X-Forwarded-Port %d' % plan.port,
                 '    RequestHeader set X-Forwarded-Scheme https '
                 '"expr=%{HTTPS} == \'on\'"',
                 '</VirtualHost>')


def render_httpd_conf(plan):
    args = plan.args
    conf = _Conf()
    conf.add('# Apache configuration written by mod_wsgi-express. Every '
             'setup-server or',
             '# start-server run writes it again: change the command line '
             'options (or',
             '# add an --include-file), not this file.')
    conf.comment('Where things are.')
    conf.add('ServerRoot %s' % quote(plan.server_root),
             'DefaultRuntimeDir %s' % quote(plan.server_root),
             'PidFile %s' % quote(plan.pid_file),
             'Listen %s' % plan.listen_address(plan.port),
             'ServerName %s' % word(plan.host_name))
    if plan.user:
        conf.add('User %s' % word(plan.user), 'Group %s' % word(plan.group))

    conf.comment('Apache modules.')
    mpm = 'mpm_' + plan.mpm
    if not plan.apache.is_compiled_in(mpm):
        conf.add('LoadModule %s_module %s'
                 % (mpm, quote(plan.apache.module_file(mpm))))
    modules = ['unixd', 'log_config', 'authz_core', 'mime', 'alias', 'dir',
               'env']
    # The C package always loads these, so an --include-file written for
    # it (Header, RewriteRule, Require ip, Order/Allow) works here too.
    for short in ('access_compat', 'authn_core', 'authz_host', 'rewrite',
                  'headers', 'filter', 'reqtimeout'):
        if plan.apache.has_module(short):
            modules.append(short)
    if plan.resource_mode or plan.rewrite_rules or plan.proxying or \
            (args.https_only and args.server_name):
        modules.append('rewrite')
    if plan.proxying or args.hsts_policy:
        modules.append('headers')
    if plan.proxying:
        modules += ['proxy', 'proxy_http']
    if args.compress_responses:
        modules += ['filter', 'deflate']
    if args.server_status:
        modules.append('status')
    if args.server_status or args.allow_localhost or args.metrics_url or \
            plan.scripts.get('host_access_script'):
        modules.append('authz_host')
    if args.directory_listing:
        modules.append('autoindex')
    if args.with_cgi:
        modules.append('cgid' if plan.apache.has_module('cgid') else 'cgi')
    if args.auth_user_script:
        modules += ['authn_core', 'authz_user',
                    'auth_' + args.auth_type.lower()]
    if args.http2:
        modules.append('http2')
    if plan.https_port:
        modules.append('ssl')
        if plan.apache.has_module('socache_shmcb'):
            modules.append('socache_shmcb')
    for short in dict.fromkeys(modules):
        _load_module(conf, plan, short)

    _mpm_section(conf, plan)
    conf.comment('Connections.')
    conf.add('Timeout %d' % args.socket_timeout,
             'ListenBacklog %d' % args.listen_backlog,
             'HostnameLookups Off',
             'UseCanonicalName Off',
             'ServerTokens ProductOnly',
             'ServerSignature Off',
             'MaxMemFree 64')
    if args.keep_alive_timeout:
        conf.add('KeepAlive On',
                 'KeepAliveTimeout %d' % args.keep_alive_timeout)
    else:
        conf.add('KeepAlive Off')
    # As the C package: no limit per connection for event, which parks
    # idle connections cheaply; 500 where each one holds a worker.
    conf.add('MaxKeepAliveRequests %d' % (0 if plan.mpm == 'event' else 500))
    conf.add('LimitRequestBody %d' % args.limit_request_body)
    read_timeout = _request_read_timeout(args)
    if read_timeout and plan.apache.has_module('reqtimeout'):
        conf.add('RequestReadTimeout %s' % read_timeout)
    if args.http2:
        conf.add('Protocols h2 h2c http/1.1')
    if args.enable_sendfile:
        conf.add('EnableSendfile On')
    if plan.mime_types:
        conf.add('TypesConfig %s' % quote(plan.mime_types))
    if args.compress_responses:
        for kind in ('text/plain', 'text/html', 'text/xml', 'text/css',
                     'text/javascript', 'application/xhtml+xml',
                     'application/javascript', 'application/json'):
            conf.add('AddOutputFilterByType DEFLATE %s' % kind)

    conf.comment('Logging.')
    conf.add(_error_log_line(plan, plan.error_log),
             'LogLevel %s' % args.log_level)
    if args.error_log_format:
        conf.add('ErrorLogFormat %s' % quote(args.error_log_format))
    if plan.access_log:
        conf.add('LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
                 'LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" '
                 '\\"%{User-Agent}i\\"" combined')
        log_format = args.access_log_format
        if log_format not in ('common', 'combined'):
            conf.add('LogFormat %s express' % quote(log_format))
            log_format = 'express'
        target = plan.access_log
        if plan.rotatelogs and target != '/dev/stdout':
            target = '|%s %s.%%Y-%%m-%%d-%%H_%%M_%%S %dM' % (
                plan.rotatelogs, target, args.max_log_size)
        conf.add('CustomLog %s %s' % (quote(target), log_format))

    conf.comment('Nothing outside the places named below is served.')
    conf.add('<Directory />',
             '    AllowOverride None',
             '    Require all denied',
             '</Directory>')
    _document_root_section(conf, plan)

    if args.setenv or args.passenv:
        conf.comment('Request environment.')
        for name, value in args.setenv:
            conf.add('SetEnv %s %s' % (name, quote(value)))
        for name in args.passenv:
            conf.add('PassEnv %s' % name)

    _wsgi_section(conf, plan)
    _access_section(conf, plan)
    if args.server_name:
        conf.comment('--server-name: name-based virtual hosts.')
        _named_hosts(conf, plan, plan.port, [], [], 'http')
    elif args.proxy_virtual_host or any(s['log_file']
                                        for s in plan.services):
        # Listed first, this one (the main server's settings) answers
        # every name no later virtual host claims.
        conf.comment('Requests no virtual host below claims.')
        conf.add('<VirtualHost _default_:%d>' % plan.port,
                 '</VirtualHost>')
    _services_section(conf, plan)
    _proxy_section(conf, plan)
    if plan.https_port:
        _https_section(conf, plan)
    if plan.include_files:
        conf.comment('--include-file.')
        for path in plan.include_files:
            conf.add('Include %s' % quote(path))
    return conf.text()


# ---------------------------------------------------------------------------
# apachectl and envvars
# ---------------------------------------------------------------------------

def render_apachectl(plan):
    q = shlex.quote
    args = plan.args
    extra = ''
    if plan.debug_mode:
        extra += ' -DONE_PROCESS'
    if plan.startup_log:
        extra += ' -E %s' % q(plan.startup_log)
    run = 'exec'
    if args.process_name and os.path.basename(plan.shell) == 'bash':
        run = 'exec -a %s' % q(args.process_name)
    return '''#!%(shell)s
# Controls the Apache instance that mod_wsgi-express set up in this server
# root. Written by mod_wsgi-express (setup-server/start-server).
#
#   apachectl start | stop | restart | graceful | graceful-stop
#   apachectl configtest
#   apachectl foreground      (what start-server runs: Apache stays in the
#                              foreground until SIGINT or SIGTERM)
#   apachectl ARGUMENTS       (anything else: httpd with these arguments)
#
# Further arguments are passed to httpd.

HTTPD=%(httpd)s
SERVER_ROOT=%(root)s
CONF="$SERVER_ROOT/httpd.conf"
EXTRA=%(extra)s
GDB=%(gdb)s

if [ -f "$SERVER_ROOT/envvars" ]; then
    . "$SERVER_ROOT/envvars"
fi

action=$1
[ $# -gt 0 ] && shift

case "$action" in
    start|stop|restart|graceful|graceful-stop)
        %(run)s "$HTTPD" -f "$CONF" $EXTRA -k "$action" "$@"
        ;;
    foreground|start-server)
        if [ -n "$GDB" ]; then
            # --enable-gdb: Apache (one process) runs under the debugger.
            echo "run -f $CONF $EXTRA -DFOREGROUND $*" >"$SERVER_ROOT/gdb.cmds"
            exec "$GDB" -x "$SERVER_ROOT/gdb.cmds" "$HTTPD"
        fi
        %(run)s "$HTTPD" -f "$CONF" $EXTRA -DFOREGROUND "$@"
        ;;
    configtest)
        exec "$HTTPD" -f "$CONF" -t "$@"
        ;;
    '')
        echo "usage: $0 start|stop|restart|graceful|graceful-stop|configtest|foreground [httpd arguments]" >&2
        exit 2
        ;;
    *)
        # Anything else goes to httpd as it is (apachectl -DFOREGROUND).
        %(run)s "$HTTPD" -f "$CONF" $EXTRA "$action" "$@"
        ;;
esac
''' % {'httpd': q(plan.apache.httpd), 'root': q(plan.server_root),
       'shell': plan.shell, 'extra': q(extra.strip()), 'run': run,
       'gdb': q(args.gdb_executable or 'gdb') if args.enable_gdb else "''"}


def render_envvars(plan):
    q = shlex.quote
    lines = ['# Sourced by apachectl before Apache starts. Written by '
             'mod_wsgi-express.', '']
    if plan.locale:
        lines += ['LANG=%s' % q(plan.locale), 'LC_ALL=%s' % q(plan.locale),
                  'export LANG LC_ALL']
    if plan.envvars_script:
        lines += ['', '# --envvars-script', '. %s' % q(plan.envvars_script)]
    return '\n'.join(lines) + '\n'
