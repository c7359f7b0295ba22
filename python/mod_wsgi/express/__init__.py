"""``mod_wsgi-express``: run a WSGI application under Apache httpd with a
generated configuration.

Sub-commands:

* ``start-server``: write the server root and run Apache in the foreground.
* ``setup-server``: write the server root only (use its ``apachectl``).
* ``module-config``: print the lines that load the module into a system
  Apache.
* ``module-location``: print the module's path.
* ``audit-extensions``: run ``mod_wsgi.audit`` under another Python.
* ``doctor``: check, as Apache's user, what would break first at start-up
  (``mod_wsgi.doctor``).

Run ``python -m mod_wsgi.express`` or the ``mod_wsgi-express`` script
(entry point ``mod_wsgi.express:main``). The options are described in
docs/express.md and by ``--help``.
"""

import os
import sys

__all__ = ['main']


def _write(path, text, mode):
    # Write beside the target and rename, so a running server never reads a
    # half-written file.
    temporary = '%s.tmp%d' % (path, os.getpid())
    with open(temporary, 'w', encoding='utf-8') as out:
        out.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _prepare_server_root(path):
    from .errors import ExpressError
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except OSError as error:
        raise ExpressError('cannot create the server root %s: %s'
                           % (path, error.strerror)) from None
    status = os.stat(path)
    if status.st_uid != os.geteuid():
        raise ExpressError('the server root %s belongs to another user '
                           '(uid %d); choose another with --server-root'
                           % (path, status.st_uid))
    # The daemon processes and Apache's children (possibly another user)
    # read the scripts in here and reach the sockets.
    os.chmod(path, 0o755)
    htdocs = os.path.join(path, 'htdocs')
    os.makedirs(htdocs, mode=0o755, exist_ok=True)


def setup_server(args):
    """Writes the server root for ``args``; returns the Plan."""
    from . import config, handler
    from .apache import Apache
    from ..server import ModuleNotFound, module_location
    from .errors import ExpressError

    try:
        module_path = module_location()
    except ModuleNotFound as error:
        raise ExpressError(str(error)) from None
    apache = Apache.discover(args.httpd_executable, args.modules_directory)
    plan = config.Plan(args, apache, module_path)
    httpd_conf = config.render_httpd_conf(plan)
    for warning in plan.warnings:
        sys.stderr.write('mod_wsgi-express: warning: %s\n' % warning)
    _prepare_server_root(plan.server_root)
    root = plan.server_root
    if plan.placeholder:
        _write(os.path.join(root, handler.PLACEHOLDER_NAME),
               handler.PLACEHOLDER_SCRIPT, 0o644)
    elif plan.use_handler:
        _write(os.path.join(root, handler.HANDLER_NAME),
               handler.handler_script(plan.handler_settings()), 0o644)
    if plan.telemetry_ui_port:
        _write(os.path.join(root, config.TELEMETRY_SCRIPT),
               config.telemetry_service_script(plan), 0o644)
        # The ingester (running as the daemons' user) creates its socket
        # in here; the reporting processes only need to reach it.
        sockets = os.path.join(root, config.TELEMETRY_DIRECTORY)
        os.makedirs(sockets, mode=0o755, exist_ok=True)
        if plan.user:
            import grp
            import pwd
            os.chown(sockets, pwd.getpwnam(plan.user).pw_uid,
                     grp.getgrnam(plan.group).gr_gid)
    if plan.handlers:
        _write(os.path.join(root, config.RESOURCE_HANDLERS_NAME),
               config.resource_handlers_script(plan), 0o644)
    # Directories the application's processes write to.
    for directory in (plan.python_eggs, plan.profiler_directory,
                      plan.recorder_directory):
        if not directory:
            continue
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if plan.user:
            import grp
            import pwd
            os.chown(directory, pwd.getpwnam(plan.user).pw_uid,
                     grp.getgrnam(plan.group).gr_gid)
    _write(os.path.join(root, 'envvars'), config.render_envvars(plan), 0o644)
    _write(os.path.join(root, 'apachectl'), config.render_apachectl(plan),
           0o755)
    _write(os.path.join(root, 'httpd.conf'), httpd_conf, 0o644)
    return plan


def summary(plan):
    """The lines printed before Apache starts."""
    args = plan.args
    rows = [('Server URL', plan.url())]
    if plan.https_port:
        rows.append(('Server URL (HTTPS)', plan.url(https=True)))
    rows += [
        ('Server root', plan.server_root),
        ('Server conf', os.path.join(plan.server_root, 'httpd.conf')),
        ('Error log', '%s%s (level %s)' % (
            plan.error_log, '.DATE (rotatelogs)' if plan.rotatelogs else '',
            args.log_level)),
    ]
    if plan.startup_log:
        rows.append(('Startup log', plan.startup_log))
    if plan.access_log:
        rows.append(('Access log', plan.access_log))
    if plan.static_only:
        rows.append(('Operating mode', 'static files only'))
    elif plan.embedded:
        rows.append(('Operating mode', 'embedded'))
    else:
        rows.append(('Operating mode', 'daemon (process group %s)'
                     % plan.process_group))
    if plan.static_only:
        pass
    elif plan.application_type == 'module':
        rows.append(('Application', 'module %s, callable %s'
                     % (plan.entry_point, plan.callable_object)))
    elif plan.application_type == 'paste':
        rows.append(('Application', 'Paste config %s' % plan.entry_point))
    elif plan.placeholder:
        rows.append(('Application', 'none given (placeholder page)'))
    else:
        rows.append(('Application', '%s, callable %s'
                     % (plan.entry_point, plan.callable_object)))
    if not plan.static_only:
        rows.append(('Request capacity', '%d (%d process%s x %d thread%s)' % (
            plan.capacity, plan.processes,
            '' if plan.processes == 1 else 'es', plan.threads,
            '' if plan.threads == 1 else 's')))
    rows.append(('Apache workers', '%d (%s MPM)'
                 % (plan.max_clients, plan.mpm)))
    if not plan.embedded and not plan.static_only:
        rows.append(('Request timeout', '%d seconds' % args.request_timeout))
    if args.reload_on_changes:
        rows.append(('Reload on changes', 'yes (development only)'))
    if plan.debug_mode:
        rows.append(('Debug mode', 'one Apache process in the foreground%s'
                     % (', pdb post-mortem' if args.enable_debugger else '')))
    if plan.recorder_directory:
        rows.append(('Recorder output', plan.recorder_directory))
    if plan.profiler_directory:
        rows.append(('Profiler output', '%s (written at exit)'
                     % plan.profiler_directory))
    if plan.telemetry_ui_port:
        rows.append(('Telemetry UI', 'http://127.0.0.1:%d/'
                     % plan.telemetry_ui_port))
    elif args.telemetry_service:
        rows.append(('Telemetry', 'reporting to %s' % args.telemetry_service))
    if plan.user:
        rows.append(('Runs as', '%s:%s' % (plan.user, plan.group)))
    width = max(len(name) for name, _ in rows)
    return ['%-*s : %s' % (width, name, value) for name, value in rows]


def start_server(args):
    plan = setup_server(args)
    for line in summary(plan):
        print(line)
    if args.setup_only:
        _print_set_up(plan)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    apachectl = os.path.join(plan.server_root, 'apachectl')
    # Replace this process with Apache (through apachectl, which execs
    # httpd): Ctrl-C or SIGINT/SIGTERM then stops Apache, and Apache stops
    # its children and the daemon processes.
    os.execv(plan.shell, [plan.shell, apachectl, 'foreground'])


def _print_set_up(plan):
    print('Apache is set up but not running. Control it with %s '
          'start|stop|restart|configtest|foreground.'
          % os.path.join(plan.server_root, 'apachectl'))


def install_module(args):
    """Copies the module to Apache's modules directory, named after this
    Python (``mod_wsgi-py312.so``), so it no longer depends on this
    environment staying where it is; prints the lines that load it."""
    import shutil
    from ..server import module_location, python_home
    from .apache import find_modules_directory
    directory = find_modules_directory(args.modules_directory)
    target = os.path.join(directory, 'mod_wsgi-py%d%d.so'
                          % sys.version_info[:2])
    # Copy then rename, so a running Apache never maps a half-written file.
    staging = target + '.new'
    shutil.copyfile(module_location(), staging)
    os.chmod(staging, 0o644)
    os.replace(staging, target)
    print('LoadModule wsgi_module "%s"' % target)
    print('WSGIPythonHome "%s"' % python_home())


def audit_extensions(args):
    """Runs the audit under ``args.python``; returns its exit status."""
    import subprocess
    from .errors import ExpressError
    python = args.python or sys.executable
    if os.path.isdir(python):
        candidate = os.path.join(python, 'bin', 'python')
        if not os.path.isfile(candidate):
            raise ExpressError('%s is a directory without bin/python (not '
                               'a virtual environment)' % python)
        python = candidate
    elif not os.path.isfile(python):
        raise ExpressError('no such Python: %s' % python)
    from .. import audit
    command = [python, '-c', audit.BOOTSTRAP, os.path.abspath(audit.__file__)]
    for directory in args.python_path:
        command += ['--python-path', os.path.abspath(directory)]
    command += ['--mode', args.mode, '--jobs', str(args.jobs)]
    if args.json:
        command.append('--json')
    if args.only_imported:
        command.append('--only-imported')
    if args.script:
        command.append(os.path.abspath(args.script))
    sys.stdout.flush()
    try:
        return subprocess.call(command)
    except OSError as error:
        raise ExpressError('cannot run %s: %s' % (python, error.strerror))


def main(argv=None):
    """Command line entry point; returns only for setup-server and the
    module-* commands (start-server replaces the process with Apache)."""
    from .errors import ExpressError
    from .options import PROG, build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == 'module-location':
            from ..server import module_location
            print(module_location())
        elif args.command == 'module-config':
            from ..server import module_location, python_home
            print('LoadModule wsgi_module "%s"' % module_location())
            print('WSGIPythonHome "%s"' % python_home())
        elif args.command == 'install-module':
            install_module(args)
        elif args.command == 'setup-server':
            plan = setup_server(args)
            for line in summary(plan):
                print(line)
            _print_set_up(plan)
        elif args.command == 'start-server':
            start_server(args)
        elif args.command == 'audit-extensions':
            return audit_extensions(args)
        elif args.command == 'doctor':
            from .. import doctor
            return doctor.run(args)
    except ExpressError as error:
        sys.stderr.write('%s %s: error: %s\n' % (PROG, args.command, error))
        return 2
    except Exception as error:  # e.g. ModuleNotFound
        from ..server import ModuleNotFound
        if isinstance(error, ModuleNotFound):
            sys.stderr.write('%s %s: error: %s\n'
                             % (PROG, args.command, error))
            return 2
        raise
    return 0
