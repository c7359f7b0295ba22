"""Finding the system Apache httpd: its executable, its modules directory,
the modules built into the binary and the MPMs that can be loaded."""

import os
import shutil
import subprocess

from .errors import ExpressError

# Where distributions put the httpd binary when it is not on PATH.
_HTTPD_FALLBACKS = (
    '/usr/sbin/apache2',
    '/usr/sbin/httpd',
    '/usr/local/apache2/bin/httpd',
    '/usr/local/sbin/httpd',
)

# Where distributions put the loadable modules, if apxs cannot tell us.
_MODULES_FALLBACKS = (
    '/usr/lib/apache2/modules',
    '/usr/lib64/httpd/modules',
    '/usr/lib/httpd/modules',
    '/usr/local/apache2/modules',
)

MPMS = ('event', 'worker', 'prefork')


def _executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def find_httpd(explicit=None):
    """Absolute path of the Apache binary.

    ``explicit`` (from --httpd-executable) must be an executable file or a
    command on PATH. Otherwise ``httpd`` or ``apache2`` on PATH is used,
    then the usual install locations.
    """
    if explicit:
        path = explicit if os.sep in explicit else shutil.which(explicit)
        if not _executable(path):
            raise ExpressError(
                '--httpd-executable %s: not an executable file' % explicit)
        return os.path.abspath(path)
    # sbin directories are often missing from PATH for ordinary users.
    search = os.pathsep.join(
        [os.environ.get('PATH', ''), '/usr/sbin', '/usr/local/sbin'])
    for name in ('httpd', 'apache2'):
        path = shutil.which(name, path=search)
        if _executable(path):
            return os.path.abspath(path)
    for path in _HTTPD_FALLBACKS:
        if _executable(path):
            return path
    raise ExpressError(
        'cannot find the Apache httpd executable (looked for httpd and '
        'apache2 on PATH and in %s); install Apache 2.4 or name it with '
        '--httpd-executable' % ', '.join(_HTTPD_FALLBACKS))


def _apxs_query(variable):
    search = os.pathsep.join(
        [os.environ.get('PATH', ''), '/usr/bin', '/usr/sbin'])
    for name in ('apxs', 'apxs2'):
        apxs = shutil.which(name, path=search)
        if not apxs:
            continue
        try:
            out = subprocess.run(
                [apxs, '-q', variable], capture_output=True, text=True,
                timeout=20, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        value = out.stdout.strip()
        if out.returncode == 0 and value:
            return value
    return None


def find_modules_directory(explicit=None, httpd=None):
    """Directory holding Apache's loadable modules (``mod_*.so``).

    ``explicit`` (from --modules-directory) wins; then ``apxs -q
    LIBEXECDIR``; then the usual install locations and ``modules`` next to
    the binary's parent directory.
    """
    if explicit:
        if not os.path.isdir(explicit):
            raise ExpressError(
                '--modules-directory %s: no such directory' % explicit)
        return os.path.abspath(explicit)
    candidates = []
    queried = _apxs_query('LIBEXECDIR')
    if queried:
        candidates.append(queried)
    candidates.extend(_MODULES_FALLBACKS)
    if httpd:
        candidates.append(
            os.path.join(os.path.dirname(os.path.dirname(httpd)), 'modules'))
    for path in candidates:
        if os.path.isfile(os.path.join(path, 'mod_mime.so')) or \
                os.path.isfile(os.path.join(path, 'mod_mpm_event.so')):
            return path
    for path in candidates:
        if os.path.isdir(path):
            return path
    raise ExpressError(
        'cannot find the directory of Apache modules (tried apxs -q '
        'LIBEXECDIR and %s); name it with --modules-directory'
        % ', '.join(_MODULES_FALLBACKS))


def compiled_in_modules(httpd):
    """Source names of the modules built into the binary (``httpd -l``),
    such as ``mod_log_config.c`` or ``event.c``. Empty if it cannot run."""
    try:
        out = subprocess.run(
            [httpd, '-l'], capture_output=True, text=True, timeout=20,
            check=False)
    except (OSError, subprocess.SubprocessError):
        return set()
    names = set()
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.endswith('.c'):
            names.add(line)
    return names


class Apache:
    """The Apache installation the generated configuration is for."""

    def __init__(self, httpd, modules_directory, compiled_in):
        self.httpd = httpd
        self.modules_directory = modules_directory
        self.compiled_in = compiled_in

    @classmethod
    def discover(cls, httpd=None, modules_directory=None):
        binary = find_httpd(httpd)
        directory = find_modules_directory(modules_directory, binary)
        return cls(binary, directory, compiled_in_modules(binary))

    def is_compiled_in(self, short):
        """Whether module ``short`` (e.g. ``log_config``) is built in."""
        if short.startswith('mpm_'):
            return short[4:] + '.c' in self.compiled_in
        return 'mod_%s.c' % short in self.compiled_in

    def module_file(self, short):
        return os.path.join(self.modules_directory, 'mod_%s.so' % short)

    def has_module(self, short):
        return self.is_compiled_in(short) or \
            os.path.isfile(self.module_file(short))

    def builtin_mpm(self):
        for mpm in MPMS:
            if self.is_compiled_in('mpm_' + mpm):
                return mpm
        return None

    def choose_mpm(self, requested=None):
        """The MPM to run: ``requested`` (--server-mpm) if it can be
        loaded, else the first of event, worker and prefork that can."""
        builtin = self.builtin_mpm()
        if builtin:
            if requested and requested != builtin:
                raise ExpressError(
                    '--server-mpm %s: this Apache has the %s MPM built in '
                    'and cannot use another one' % (requested, builtin))
            return builtin
        if requested:
            if not self.has_module('mpm_' + requested):
                raise ExpressError(
                    '--server-mpm %s: %s does not exist'
                    % (requested, self.module_file('mpm_' + requested)))
            return requested
        for mpm in MPMS:
            if self.has_module('mpm_' + mpm):
                return mpm
        raise ExpressError(
            'no Apache MPM module (mod_mpm_event.so, mod_mpm_worker.so or '
            'mod_mpm_prefork.so) in %s' % self.modules_directory)
