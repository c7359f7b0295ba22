"""``mod_wsgi-express doctor``: finds what will break first when Apache
starts the configured WSGI application, checking as the user Apache's
children and daemon processes run as.

Run ``mod_wsgi-express doctor -f /etc/apache2/apache2.conf`` for an Apache
configuration, ``mod_wsgi-express doctor [EXPRESS OPTIONS] script.wsgi``
for what ``start-server`` would run, or ``python -m mod_wsgi.doctor`` with
the same arguments. Each check prints one line::

    OK   CHECK: what was found
    WARN CHECK: what may be wrong
    FAIL CHECK: what is wrong. Fix: what to do

Checks (docs/operations.md describes each with its fixes):

* ``config``: the configuration file and the Apache user could be read.
* ``module``: the ``LoadModule wsgi_module`` file exists and is the module
  built with this package.
* ``python``: the Python the module was linked against (its libpython,
  read from the ELF file) against the configured ``python-home``: version
  and ABI flags.
* ``encodings``: that Python finds its standard library from that
  ``python-home`` (CPython's start-up failure "No module named
  'encodings'"), started as the application's user.
* ``access``: that user can reach the WSGI script, the ``python-home``,
  the standard library and the ``python-path`` directories.
* ``socket``: the daemon socket directory exists, Apache's parent can
  create sockets there and Apache's user can reach them.
* ``import``: the WSGI script loads, as mod_wsgi loads it, in a throwaway
  process as that user, and defines its WSGI callable.
* ``gil-mode``: the extension audit (:mod:`mod_wsgi.audit`) for the GIL mode
  the configuration gives the application.

The exit status is 1 when a check failed, 0 otherwise (warnings included),
2 for a usage error.
"""

import argparse
import fnmatch
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile

PROG = 'mod_wsgi-express doctor'
DEFAULT_USER = 'www-data'
DEFAULT_TIMEOUT = 60
# The audit runs the script under each GIL mode and probes every extension
# module it imports, each in its own process.
AUDIT_TIMEOUT_FACTOR = 5

OK, WARN, FAIL = 'OK', 'WARN', 'FAIL'


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class Report:
    """The check lines, in the order found; a repeated line is kept once
    (two applications sharing a python-home give the same findings)."""

    def __init__(self):
        self.results = []
        self._seen = set()

    def add(self, status, check, detail, fix=None, more=None):
        key = (status, check, detail)
        if key in self._seen:
            return
        self._seen.add(key)
        self.results.append({'status': status, 'check': check,
                             'detail': detail, 'fix': fix,
                             'more': more or ''})

    def failed(self):
        return any(r['status'] == FAIL for r in self.results)

    def text(self):
        lines = []
        for r in self.results:
            line = '%-4s %s: %s' % (r['status'], r['check'], r['detail'])
            if r['fix']:
                line += ' Fix: %s' % r['fix']
            lines.append(line)
            for extra in r['more'].rstrip('\n').splitlines():
                lines.append('     | ' + extra)
        counts = {s: sum(1 for r in self.results if r['status'] == s)
                  for s in (OK, WARN, FAIL)}
        lines.append('doctor: %d failed, %d warned, %d passed'
                     % (counts[FAIL], counts[WARN], counts[OK]))
        return '\n'.join(lines) + '\n'


def _sentence(text):
    text = text.rstrip()
    return text if text.endswith(('.', '?', '!')) else text + '.'


# ---------------------------------------------------------------------------
# Which Python the module was built for: its ELF dynamic section
# ---------------------------------------------------------------------------

_LIBPYTHON = re.compile(r'^libpython(\d+)\.(\d+)([a-z]*)\.so')

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RPATH, DT_RUNPATH = \
    0, 1, 5, 10, 15, 29


def read_elf_dynamic(path):
    """The DT_NEEDED, DT_RPATH and DT_RUNPATH strings of a shared object.

    Reads the program headers, not the section headers, so a stripped
    file works too. Raises ValueError for a file that is not a dynamic ELF
    object, OSError when it cannot be read.
    """
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF':
        raise ValueError('not an ELF file')
    is64 = {1: False, 2: True}.get(data[4])
    endian = {1: '<', 2: '>'}.get(data[5])
    if is64 is None or endian is None:
        raise ValueError('unknown ELF class or byte order')

    def unpack(fmt, offset):
        return struct.unpack_from(endian + fmt, data, offset)

    if is64:
        phoff, = unpack('Q', 0x20)
        phentsize, phnum = unpack('HH', 0x36)
        machine, = unpack('H', 0x12)
    else:
        phoff, = unpack('I', 0x1c)
        phentsize, phnum = unpack('HH', 0x2a)
        machine, = unpack('H', 0x12)
    loads, dynamic = [], None
    for i in range(phnum):
        at = phoff + i * phentsize
        if is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = \
                unpack('IIQQQQ', at)
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = unpack('IIIII', at)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        raise ValueError('no dynamic section (not a shared object)')

    def file_offset(vaddr):
        for start, offset, size in loads:
            if start <= vaddr < start + size:
                return vaddr - start + offset
        raise ValueError('address %#x is in no loaded segment' % vaddr)

    entries = []
    size = 16 if is64 else 8
    offset, end = dynamic[0], dynamic[0] + dynamic[1]
    while offset + size <= end:
        tag, value = unpack('qQ' if is64 else 'iI', offset)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
        offset += size
    strtab = next((v for t, v in entries if t == DT_STRTAB), None)
    if strtab is None:
        raise ValueError('no string table in the dynamic section')
    strtab = file_offset(strtab)

    def string(index):
        start = strtab + index
        return data[start:data.index(b'\0', start)].decode('utf-8',
                                                           'replace')

    return {
        'machine': machine,
        'needed': [string(v) for t, v in entries if t == DT_NEEDED],
        'rpath': [p for t, v in entries if t == DT_RPATH
                  for p in string(v).split(':') if p],
        'runpath': [p for t, v in entries if t == DT_RUNPATH
                    for p in string(v).split(':') if p],
    }


class ModulePython:
    """The Python a module file links against: ``version`` (3, 13),
    ``abiflags`` ('' or 't' for a free-threaded build), ``needed`` (the
    libpython soname), ``library`` (where the dynamic linker would find it,
    or None) and ``error`` when the file could not be read."""

    def __init__(self, so_path):
        self.path = so_path
        self.version = None
        self.abiflags = ''
        self.needed = None
        self.library = None
        self.error = None
        try:
            info = read_elf_dynamic(so_path)
        except (OSError, ValueError, struct.error) as error:
            self.error = '%s: %s' % (so_path, getattr(error, 'strerror',
                                                      None) or error)
            return
        for name in info['needed']:
            match = _LIBPYTHON.match(name)
            if match:
                self.needed = name
                self.version = (int(match.group(1)), int(match.group(2)))
                self.abiflags = match.group(3)
                break
        else:
            self.error = ('%s links no libpython (DT_NEEDED: %s)'
                          % (so_path, ', '.join(info['needed']) or 'none'))
            return
        origin = os.path.dirname(os.path.realpath(so_path))
        # RUNPATH wins over RPATH when both are there, as ld.so does.
        search = info['runpath'] or info['rpath']
        search = [d.replace('$ORIGIN', origin).replace('${ORIGIN}', origin)
                  for d in search]
        self.library = _find_library(self.needed, search)

    @property
    def label(self):
        if not self.version:
            return '?'
        return '%d.%d%s' % (self.version + (self.abiflags,))


def _ld_cache():
    """soname -> path from ``ldconfig -p``; empty when there is none."""
    for ldconfig in ('/sbin/ldconfig', '/usr/sbin/ldconfig'):
        if os.access(ldconfig, os.X_OK):
            break
    else:
        return {}
    try:
        out = subprocess.run([ldconfig, '-p'], capture_output=True,
                             timeout=20).stdout.decode('utf-8', 'replace')
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in out.splitlines()[1:]:
        name, _, path = line.strip().partition(' => ')
        name = name.split(' (')[0]
        found.setdefault(name, path.strip())
    return found


def _find_library(soname, search):
    for directory in search:
        candidate = os.path.join(directory, soname)
        if os.path.isfile(candidate):
            return candidate
    cached = _ld_cache().get(soname)
    if cached and os.path.isfile(cached):
        return cached
    for directory in ('/lib', '/usr/lib', '/lib64', '/usr/lib64',
                      '/usr/local/lib'):
        candidate = os.path.join(directory, soname)
        if os.path.isfile(candidate):
            return candidate
    return None


# ---------------------------------------------------------------------------
# Reading an Apache configuration
# ---------------------------------------------------------------------------

class Directive:
    def __init__(self, name, args, scopes, where, position):
        self.name = name            # as written
        self.key = name.lower()
        self.args = args
        self.scopes = scopes        # ((tag, args, id), ...) outermost first
        self.where = where          # "file:line"
        self.position = position

    def option(self, name):
        """Value of a ``name=value`` argument, or None."""
        prefix = name.lower() + '='
        for arg in self.args:
            if arg.lower().startswith(prefix):
                return arg[len(prefix):]
        return None


# Sections that do not limit where the directives inside apply: the
# conditionals are taken as true, since the doctor cannot know what
# Apache will define or load.
_TRANSPARENT = {'ifmodule', 'ifdefine', 'iffile', 'ifversion',
                'ifdirective', 'ifsection'}


def split_words(line):
    """Apache's word splitting (ap_getword_conf): whitespace separates
    words; a word may be quoted with " or ', with backslash escaping the
    quote character inside."""
    words, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            break
        quote = line[i]
        if quote in '"\'':
            i += 1
            word = []
            while i < n and line[i] != quote:
                if line[i] == '\\' and i + 1 < n and line[i + 1] == quote:
                    i += 1
                word.append(line[i])
                i += 1
            i += 1
            words.append(''.join(word))
        else:
            start = i
            while i < n and not line[i].isspace():
                i += 1
            words.append(line[start:i])
    return words


def read_envvars(path):
    """Variables set by a Debian-style ``envvars`` shell file (``export
    NAME=value`` lines; ``$VAR`` inside values expanded from earlier lines,
    unknown ones to nothing, as the shell would)."""
    found = {}
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    assignment = re.compile(r'^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)='
                            r'(.*)$')
    reference = re.compile(r'\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?')
    for line in lines:
        match = assignment.match(line)
        if not match or match.group(2).lstrip().startswith('$('):
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        value = reference.sub(
            lambda m: found.get(m.group(1), os.environ.get(m.group(1), '')),
            value)
        found[match.group(1)] = value
    return found


class ApacheConfig:
    """The directives of a configuration file and everything it includes,
    in Apache's reading order, with the sections each sits in."""

    MAX_DEPTH = 32

    def __init__(self, path, server_root=None):
        self.path = os.path.abspath(path)
        self.server_root = os.path.abspath(
            server_root or os.path.dirname(self.path))
        self.notes = []
        self.directives = []
        self.defines = read_envvars(os.path.join(self.server_root,
                                                 'envvars'))
        self._section_id = 0
        self._stack = []
        self._read(self.path, 0)

    def relative(self, path):
        """A path as Apache resolves it against ServerRoot."""
        return os.path.normpath(os.path.join(self.server_root, path))

    def _expand(self, text, where):
        def value(match):
            name = match.group(1)
            if name in self.defines:
                return self.defines[name]
            if name in os.environ:
                return os.environ[name]
            self.notes.append('%s: ${%s} is not defined here; kept as '
                              'written' % (where, name))
            return match.group(0)
        return re.sub(r'\$\{([A-Za-z0-9_:.-]+)\}', value, text)

    def _lines(self, path):
        with open(path, encoding='utf-8', errors='replace') as f:
            raw = f.read().splitlines()
        joined, start = '', None
        for number, line in enumerate(raw, 1):
            if start is None:
                start = number
            if line.endswith('\\'):
                joined += line[:-1] + ' '
                continue
            yield start, joined + line
            joined, start = '', None
        if joined:
            yield start, joined

    def _read(self, path, depth):
        for number, line in self._lines(path):
            where = '%s:%d' % (path, number)
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            line = self._expand(line, where)
            if line.startswith('</'):
                tag = line[2:].rstrip('>').strip().lower()
                if self._stack and self._stack[-1][0] == tag:
                    self._stack.pop()
                else:
                    self.notes.append('%s: </%s> closes no open section'
                                      % (where, tag))
                continue
            if line.startswith('<'):
                words = split_words(line[1:].rstrip().rstrip('>'))
                if words:
                    self._section_id += 1
                    self._stack.append((words[0].lower(), words[1:],
                                        self._section_id))
                continue
            words = split_words(line)
            name, args = words[0], words[1:]
            key = name.lower()
            if key in ('include', 'includeoptional'):
                self._include(args, key == 'includeoptional', where, depth)
                continue
            if key == 'serverroot' and args:
                self.server_root = os.path.abspath(args[0])
            elif key == 'define' and args:
                self.defines[args[0]] = args[1] if len(args) > 1 else ''
            elif key == 'undefine' and args:
                self.defines.pop(args[0], None)
            scopes = tuple(s for s in self._stack if s[0] not in _TRANSPARENT)
            self.directives.append(Directive(name, args, scopes, where,
                                             len(self.directives)))

    def _include(self, args, optional, where, depth):
        if not args:
            return
        if depth >= self.MAX_DEPTH:
            self.notes.append('%s: includes nested deeper than %d; not '
                              'followed' % (where, self.MAX_DEPTH))
            return
        pattern = self.relative(args[0])
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
        elif os.path.exists(pattern):
            matches = [pattern]
        else:
            matches = []
        if not matches:
            if not optional:
                self.notes.append('%s: Include %s matches no file'
                                  % (where, args[0]))
            return
        for match in matches:
            if os.path.isdir(match):
                # A directory includes every file below it.
                files = sorted(os.path.join(d, f) for d, _, names
                               in os.walk(match) for f in names)
            else:
                files = [match]
            for name in files:
                try:
                    self._read(name, depth + 1)
                except OSError as error:
                    self.notes.append('%s: cannot read %s: %s'
                                      % (where, name, error.strerror))

    def all(self, key):
        return [d for d in self.directives if d.key == key.lower()]

    def last(self, key, server_level=True):
        """The last ``key`` directive, outside any section when
        ``server_level``."""
        found = [d for d in self.all(key) if not server_level or
                 not d.scopes]
        return found[-1] if found else None


# ---------------------------------------------------------------------------
# What the doctor checks: the applications and the processes they run in
# ---------------------------------------------------------------------------

class Daemon:
    def __init__(self, name, user=None, group=None, python_home=None,
                 python_path=(), home=None):
        self.name = name
        self.user = user
        self.group = group
        self.python_home = python_home
        self.python_path = list(python_path)
        self.home = home


class App:
    """A script (or module) that mod_wsgi will load."""

    def __init__(self, kind, target, process_group='',
                 application_group='%{RESOURCE}', callable_object=None,
                 url=None, vhost=None):
        self.kind = kind                  # script, directory, module, paste
        self.target = target
        self.process_group = process_group  # '' for embedded mode
        self.application_group = application_group
        self.callable_object = callable_object
        self.url = url
        self.vhost = vhost
        self.gil_mode = 'shared'
        self.gil_note = None

    @property
    def main_interpreter(self):
        return self.application_group.strip().upper() in ('%{GLOBAL}', '')

    def describe(self):
        if self.kind == 'module':
            return 'module %s' % self.target
        return self.target


class Setup:
    """Everything the checks need, from a configuration file or from the
    express options."""

    def __init__(self, source):
        self.source = source
        self.module_path = None
        self.module_where = None
        self.python_home = None
        self.python_path = []
        self.apache_user = DEFAULT_USER
        self.apache_group = None
        self.daemons = {}
        self.socket_prefix = None
        self.socket_prefix_configured = False
        # Set when the socket directory is made before Apache starts (by
        # setup-server, or Debian's apache2ctl for its runtime directory).
        self.socket_directory_made_by = None
        self.apps = []
        # The WSGIPerInterpreterGIL and WSGIFreeThreading settings, as
        # _interpreter_options gives them.
        self.interpreter_layers = []
        self.notes = []


def _option_path(value, config):
    return config.relative(value) if value else None


def _split_path(value):
    return [p for p in (value or '').split(':') if p]


def _scope_applies(scope, app):
    tag, args, ident = scope
    arg = args[0] if args else ''
    script = app.target if app.kind in ('script', 'directory') else ''
    if tag == 'virtualhost':
        return app.vhost == ident
    if tag == 'directory':
        if arg == '~' and len(args) > 1:
            return bool(re.search(args[1], script))
        base = arg.rstrip('/') + '/'
        return script.startswith(base) or fnmatch.fnmatch(script, base + '*')
    if tag == 'directorymatch':
        return bool(re.search(arg, script))
    if tag == 'location':
        if app.url is None:
            return False
        if arg == '~' and len(args) > 1:
            return bool(re.search(args[1], app.url))
        if glob.has_magic(arg):
            return fnmatch.fnmatch(app.url, arg)
        # A prefix that ends at a path segment, as Apache's location walk
        # matches it: /app covers /app and /app/x, not /apple.
        return app.url == arg or app.url.startswith(
            arg if arg.endswith('/') else arg + '/')
    if tag == 'locationmatch':
        return app.url is not None and bool(re.search(arg, app.url))
    if tag == 'files':
        return fnmatch.fnmatch(os.path.basename(script), arg)
    if tag == 'filesmatch':
        return bool(re.search(arg, os.path.basename(script)))
    return False


def _context_value(config, key, app):
    """The value of a per-directory directive (WSGIProcessGroup, ...) that
    applies to ``app``: the most specific section wins, <Location> after
    <Directory>, a later line after an earlier one, as Apache merges
    them."""
    best, best_rank = None, None
    for d in config.all(key):
        if not d.args:
            continue
        if not all(_scope_applies(s, app) for s in d.scopes):
            continue
        rank = (any(s[0].startswith('location') for s in d.scopes),
                len(d.scopes), d.position)
        if best_rank is None or rank > best_rank:
            best, best_rank = d.args[0], rank
    return best


def _interpreter_options(config):
    """(selectors, settings, specificity, position) for the top level and
    each <WSGIInterpreterOptions> container, for the GIL settings."""
    layers = []
    for d in config.directives:
        if d.key not in ('wsgiperinterpretergil', 'wsgifreethreading') or \
                not d.args:
            continue
        container = [s for s in d.scopes if s[0] == 'wsgiinterpreteroptions']
        selectors = {}
        if container:
            for arg in container[-1][1]:
                name, _, value = arg.partition('=')
                selectors[name.lower()] = value
        layers.append((selectors, d.key, d.args[0].lower(), len(selectors),
                       d.position))
    return layers


def _group_matches(selector, value):
    selector = '' if selector.strip().upper() == '%{GLOBAL}' else selector
    return selector == value


def resolve_gil_mode(app, layers, module_version, module_abiflags=''):
    """The GIL mode the module gives ``app``'s interpreter, following the
    layering of docs/directives.md (<WSGIInterpreterOptions>), and a note
    when the setting has no effect on this Python."""
    group = app.process_group
    app_group = '' if app.main_interpreter else app.application_group

    def winner(key, allow_app_group):
        best = None
        for selectors, lkey, value, specificity, position in layers:
            if lkey != key:
                continue
            if 'process-group' in selectors and \
                    not _group_matches(selectors['process-group'], group):
                continue
            if 'application-group' in selectors:
                if not allow_app_group or not _group_matches(
                        selectors['application-group'], app_group):
                    continue
            rank = (specificity, position)
            if best is None or rank > best[0]:
                best = (rank, value)
        return best[1] if best else 'off'

    free_threading = winner('wsgifreethreading', False)
    per_interpreter = winner('wsgiperinterpretergil', True)
    version = module_version or (0, 0)
    if free_threading in ('on', 'forced'):
        if 't' not in module_abiflags:
            app.gil_note = ('WSGIFreeThreading %s has no effect: the module '
                            'is not built for a free-threaded Python, so '
                            'the process keeps its GIL' % free_threading)
        else:
            return 'free-threading'
    if per_interpreter == 'on' and not app.main_interpreter:
        if version < (3, 12):
            app.gil_note = ('WSGIPerInterpreterGIL On has no effect with '
                            'Python %d.%d (needs 3.12 or later): the module '
                            'logs a warning at start-up and keeps the '
                            'shared GIL' % version)
            return 'shared'
        return 'own-gil'
    return 'shared'


def setup_from_config(path, server_root=None):
    setup = Setup('configuration %s' % path)
    config = ApacheConfig(path, server_root)
    setup.notes.extend(config.notes)

    for d in config.all('loadmodule'):
        if len(d.args) >= 2 and d.args[0] == 'wsgi_module':
            setup.module_path = config.relative(d.args[1])
            setup.module_where = d.where
    d = config.last('wsgipythonhome')
    if d and d.args:
        setup.python_home = config.relative(d.args[0])
    for d in config.all('wsgipythonpath'):
        if not d.scopes:
            setup.python_path = [config.relative(p)
                                 for p in _split_path(' '.join(d.args))]
    d = config.last('user')
    if d and d.args:
        setup.apache_user = d.args[0].strip()
    d = config.last('group')
    if d and d.args:
        setup.apache_group = d.args[0].strip()

    for d in config.all('wsgidaemonprocess'):
        if not d.args:
            continue
        setup.daemons[d.args[0]] = Daemon(
            d.args[0], user=d.option('user'), group=d.option('group'),
            python_home=_option_path(d.option('python-home'), config),
            python_path=[config.relative(p)
                         for p in _split_path(d.option('python-path'))],
            home=_option_path(d.option('home'), config))

    d = config.last('wsgisocketprefix')
    if d and d.args:
        setup.socket_prefix = config.relative(d.args[0])
        setup.socket_prefix_configured = True
    else:
        runtime = config.last('defaultruntimedir')
        runtime = config.relative(runtime.args[0]) if runtime and \
            runtime.args else config.relative('logs')
        setup.socket_prefix = os.path.join(runtime, 'wsgi')
        if os.path.isfile(os.path.join(config.server_root, 'envvars')):
            setup.socket_directory_made_by = 'apache2ctl (Debian creates ' \
                'its runtime directory at start)'

    def vhost_of(d):
        for tag, _args, ident in d.scopes:
            if tag == 'virtualhost':
                return ident
        return None

    for d in config.directives:
        if d.key in ('wsgiscriptalias', 'wsgiscriptaliasmatch'):
            if len(d.args) < 2:
                continue
            url, target, options = d.args[0], d.args[1], d.args[2:]
            if d.key == 'wsgiscriptaliasmatch' and re.search(r'\$\d', target):
                setup.notes.append('%s: %s maps to %s, decided per request; '
                                   'not checked' % (d.where, d.name, target))
                continue
            target = config.relative(target)
            kind = 'directory' if os.path.isdir(target) or \
                target.endswith('/') else 'script'
            app = App(kind, target,
                      url=url if d.key == 'wsgiscriptalias' else None,
                      vhost=vhost_of(d))
        elif d.key in ('wsgiimportscript', 'wsgihandlerscript'):
            index = 0 if d.key == 'wsgiimportscript' else 1
            if len(d.args) <= index:
                continue
            options = d.args[index + 1:]
            app = App('script', config.relative(d.args[index]),
                      vhost=vhost_of(d))
        else:
            continue
        named = dict(o.split('=', 1) for o in options if '=' in o)
        group = named.get('process-group') or \
            _context_value(config, 'wsgiprocessgroup', app) or '%{GLOBAL}'
        app.application_group = named.get('application-group') or \
            _context_value(config, 'wsgiapplicationgroup', app) or \
            '%{RESOURCE}'
        if d.key == 'wsgihandlerscript':
            app.callable_object = 'handle_request'
        else:
            app.callable_object = named.get('callable-object') or \
                _context_value(config, 'wsgicallableobject', app) or \
                'application'
        upper = group.strip().upper()
        if upper == '%{GLOBAL}':
            app.process_group = ''
        elif '%{' in group:
            setup.notes.append('%s: process group %s is decided per '
                               'request; %s checked in embedded mode'
                               % (d.where, group, app.target))
            app.process_group = ''
        else:
            app.process_group = group
            if group not in setup.daemons:
                setup.notes.append('%s: WSGIProcessGroup %s names no '
                                   'WSGIDaemonProcess' % (d.where, group))
        if not any(a.target == app.target and
                   a.process_group == app.process_group and
                   a.application_group == app.application_group
                   for a in setup.apps):
            setup.apps.append(app)
    setup.interpreter_layers = _interpreter_options(config)
    return setup


def setup_from_express(args):
    """The same facts from the express options, as setup-server would
    write them (python/mod_wsgi/express/config.py's Plan)."""
    from .express import config as express_config
    from .express.apache import Apache
    from .server import module_location
    if os.geteuid() == 0:
        # The express options require both as root; the doctor defaults
        # them the way the checks default the Apache user.
        args.user = args.user or DEFAULT_USER
        if not args.group:
            try:
                args.group = grp.getgrgid(
                    pwd.getpwnam(args.user).pw_gid).gr_name
            except KeyError:
                args.group = args.user
    module_path = module_location()
    apache = Apache.discover(args.httpd_executable, args.modules_directory)
    plan = express_config.Plan(args, apache, module_path)
    setup = Setup('mod_wsgi-express options')
    setup.module_path = plan.module_path
    setup.module_where = 'mod_wsgi-express'
    setup.python_home = plan.python_home
    current = pwd.getpwuid(os.geteuid())
    setup.apache_user = plan.user or current.pw_name
    setup.apache_group = plan.group or grp.getgrgid(current.pw_gid).gr_name
    setup.socket_prefix = plan.socket_prefix
    setup.socket_prefix_configured = True
    if not os.path.isdir(os.path.dirname(plan.socket_prefix)):
        setup.socket_directory_made_by = 'setup-server'
    if plan.embedded:
        setup.python_path = list(plan.python_paths)
        group = ''
    else:
        group = plan.process_group
        setup.daemons[group] = Daemon(group, user=plan.user,
                                      group=plan.group,
                                      python_path=plan.python_paths,
                                      home=plan.working_directory)
    layers = []
    if args.free_threading:
        layers.append(({}, 'wsgifreethreading', 'on', 0, 0))
    # An --include-file may turn on WSGIPerInterpreterGIL.
    for path in plan.include_files:
        try:
            layers += _interpreter_options(ApacheConfig(path,
                                                        plan.server_root))
        except OSError as error:
            setup.notes.append('cannot read --include-file %s: %s'
                               % (path, error.strerror))
    setup.interpreter_layers = layers
    kind = plan.application_type
    if plan.static_only:
        setup.notes.append('--application-type static: no Python '
                           'application to check')
    elif plan.placeholder:
        setup.notes.append('no entry point given: start-server would '
                           'serve its placeholder page')
    elif kind in ('script', 'paste', 'module'):
        setup.apps.append(App(kind, plan.entry_point, process_group=group,
                              application_group=plan.application_group,
                              callable_object=plan.callable_object))
    return setup


# ---------------------------------------------------------------------------
# Running as the application's user
# ---------------------------------------------------------------------------

class Identity:
    """A user, its group and the supplementary groups Apache would give
    it (initgroups)."""

    def __init__(self, user, group=None):
        if user.startswith('#'):
            entry = pwd.getpwuid(int(user[1:]))
        else:
            entry = pwd.getpwnam(user)
        self.name = entry.pw_name
        self.uid = entry.pw_uid
        self.home = entry.pw_dir
        if group:
            self.gid = int(group[1:]) if group.startswith('#') else \
                grp.getgrnam(group).gr_gid
        else:
            self.gid = entry.pw_gid
        self.groups = os.getgrouplist(self.name, self.gid)
        self.switch = os.geteuid() == 0 and self.uid != os.geteuid()

    def __eq__(self, other):
        return (self.uid, self.gid) == (other.uid, other.gid)

    def __hash__(self):
        return hash((self.uid, self.gid))

    def run(self, function, *args):
        """``function(*args)`` in a forked child that has taken on this
        identity; its result must be JSON-serialisable."""
        if not self.switch:
            return function(*args)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                os.setgid(self.gid)
                os.setgroups(self.groups)
                os.setuid(self.uid)
                result = {'value': function(*args)}
            except BaseException as error:
                result = {'error': '%s: %s' % (type(error).__name__, error)}
            with os.fdopen(write_end, 'w') as out:
                json.dump(result, out)
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end) as answer:
            text = answer.read()
        os.waitpid(pid, 0)
        result = json.loads(text) if text else {
            'error': 'the check process died'}
        if 'error' in result:
            raise RuntimeError(result['error'])
        return result['value']

    def command(self, argv, env, timeout, cwd='/', answer_fd=True):
        """Runs ``argv`` as this identity; returns (answer or None, exit
        status or None on timeout, output text). With ``answer_fd`` the
        answer is JSON written to a file descriptor passed as the last
        argument, and the output is stdout and stderr together; without,
        the answer is JSON on stdout and the output is stderr."""
        read_end, write_end = os.pipe() if answer_fd else (None, None)
        kwargs = {}
        if self.switch:
            kwargs = {'user': self.uid, 'group': self.gid,
                      'extra_groups': self.groups}
        if answer_fd:
            argv = list(argv) + [str(write_end)]
            kwargs.update(pass_fds=(write_end,), stderr=subprocess.STDOUT)
        else:
            kwargs.update(stderr=subprocess.PIPE)
        try:
            child = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, start_new_session=True, **kwargs)
        except OSError as error:
            if answer_fd:
                os.close(read_end)
                os.close(write_end)
            return None, None, 'cannot start %s: %s' % (argv[0], error)
        if answer_fd:
            os.close(write_end)
        try:
            stdout, stderr = child.communicate(timeout=timeout)
            status = child.returncode
        except subprocess.TimeoutExpired:
            # The whole session: the audit starts children of its own.
            os.killpg(child.pid, signal.SIGKILL)
            stdout, stderr = child.communicate()
            status = None
        if answer_fd:
            with os.fdopen(read_end) as answer:
                text = answer.read()
            output = stdout
        else:
            text, output = stdout.decode('utf-8', 'replace'), stderr
        try:
            result = json.loads(text) if text.strip() else None
        except ValueError:
            result = None
        return result, status, (output or b'').decode('utf-8', 'replace')


# Runs in the forked child (as the user): the first path component that
# stops ``path`` being used as ``want`` ('r' file, 'rx' directory, 'x'
# directory reached only).
def _walk(path, want):
    parts = path.split('/')
    for i in range(1, len(parts)):
        directory = '/'.join(parts[:i]) or '/'
        if not os.access(directory, os.X_OK):
            return {'path': directory, 'need': 'x'}
    mode = os.R_OK if want == 'r' else os.X_OK if want == 'x' else \
        os.R_OK | os.X_OK
    if not os.access(path, mode):
        return {'path': path, 'need': want}
    return None


def _walk_all(items):
    """``_walk`` for each item. A blocked component that is (or lies
    behind) a symbolic link is walked again by its real path, so the
    answer names the directory that really stops the user."""
    answers = []
    for path, want in items:
        blocked = _walk(path, want)
        if blocked:
            real = os.path.realpath(blocked['path'])
            if real != blocked['path']:
                behind = _walk(real, blocked['need'])
                if behind:
                    behind['via'] = blocked['path']
                    blocked = behind
        answers.append(blocked)
    return answers


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def _mode_text(path):
    try:
        st = os.stat(path)
    except OSError:
        return ''
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return 'mode %04o, owner %s:%s' % (stat.S_IMODE(st.st_mode), owner, group)


class Doctor:
    def __init__(self, setup, timeout, user=None, group=None):
        self.setup = setup
        self.timeout = timeout
        self.report = Report()
        self.user_override = user
        self.group_override = group
        self._probes = {}
        self._identities = {}

    # -- helpers ------------------------------------------------------------

    def identity(self, user, group):
        key = (user, group)
        if key not in self._identities:
            try:
                self._identities[key] = Identity(user, group)
            except (KeyError, ValueError):
                self._identities[key] = None
                self.report.add(FAIL, 'config', 'no such user or group: %s%s'
                                % (user, ':%s' % group if group else ''),
                                'create it, or name another with User/Group '
                                '(or user=/group= of WSGIDaemonProcess, or '
                                'the doctor\'s --user/--group).')
        return self._identities[key]

    def context(self, app):
        """(identity, python-home, python-path, working directory) of the
        process ``app`` runs in."""
        setup = self.setup
        apache_user = self.user_override or setup.apache_user
        apache_group = self.group_override or setup.apache_group
        daemon = setup.daemons.get(app.process_group) if app else None
        if daemon:
            # As src/daemon/serve.rs's group_ids: each falls back to
            # Apache's own, separately.
            user = daemon.user or apache_user
            group = daemon.group or apache_group
            return (self.identity(user, group),
                    daemon.python_home or setup.python_home,
                    daemon.python_path, daemon.home)
        return (self.identity(apache_user, apache_group), setup.python_home,
                setup.python_path, None)

    def add_access(self, ident, items):
        """Checks ``items`` ((path, want, label), ...) as ``ident``;
        returns False when one of them failed."""
        passed = True
        existing = []
        for path, want, label in items:
            if os.path.exists(path):
                existing.append((path, want, label))
            elif label == 'python-path directory':
                self.report.add(WARN, 'access', '%s %s does not exist '
                                '(skipped on sys.path)' % (label, path))
            else:
                self.report.add(FAIL, 'access', '%s %s does not exist.'
                                % (label, path),
                                'correct the path in the configuration.')
                passed = False
        if not existing:
            return passed
        try:
            results = ident.run(_walk_all, [(p, w) for p, w, _ in existing])
        except RuntimeError as error:
            self.report.add(WARN, 'access', 'could not check as %s: %s'
                            % (ident.name, error))
            return passed
        for (path, want, label), blocked in zip(existing, results):
            if blocked is None:
                self.report.add(OK, 'access', '%s can %s %s %s' % (
                    ident.name, 'read' if want == 'r' else 'reach',
                    label, path))
                continue
            passed = False
            where = blocked['path']
            via = ' (reached through the symbolic link %s)' % blocked['via'] \
                if 'via' in blocked else ''
            if where != path:
                fix = 'chmod o+x %s (or give %s group access to it), or ' \
                      'move %s to a directory %s can reach.' % (
                          where, ident.name, path, ident.name)
                detail = '%s cannot reach %s %s: no search (x) ' \
                         'permission on %s%s (%s).' % (
                             ident.name, label, path, where, via,
                             _mode_text(where))
            else:
                fix = 'chmod o+%s %s (or give %s group access to it).' % (
                    blocked['need'], where, ident.name)
                detail = '%s cannot %s %s %s (%s).' % (
                    ident.name, 'read' if want == 'r' else 'open',
                    label, path, _mode_text(where))
            self.report.add(FAIL, 'access', detail, fix)
        return passed

    # -- module --------------------------------------------------------------

    def check_module(self):
        from .server import ModuleNotFound, module_location
        setup = self.setup
        try:
            built = module_location()
        except ModuleNotFound as error:
            built, built_error = None, str(error)
        if not setup.module_path:
            self.report.add(FAIL, 'module', 'no LoadModule wsgi_module line '
                            'in %s or its Includes.' % setup.source,
                            'add the LoadModule line that mod_wsgi-express '
                            'module-config prints.')
            return built
        where = setup.module_path
        if not os.path.isfile(where):
            self.report.add(FAIL, 'module', 'LoadModule wsgi_module (%s) '
                            'names %s, which does not exist.'
                            % (setup.module_where, where),
                            'point LoadModule at %s (mod_wsgi-express '
                            'module-config prints the line), or copy it '
                            'there with mod_wsgi-express install-module.'
                            % (built or 'the built module'))
            return built
        if built is None:
            self.report.add(WARN, 'module', 'LoadModule loads %s; cannot '
                            'compare it with this package\'s module: %s'
                            % (where, built_error))
            return where
        if os.path.samefile(where, built):
            self.report.add(OK, 'module', 'LoadModule loads %s, the module '
                            'built with this package' % where)
        elif _digest(where) == _digest(built):
            self.report.add(OK, 'module', 'LoadModule loads %s, a copy of '
                            'the module built with this package (%s)'
                            % (where, built))
        else:
            self.report.add(FAIL, 'module', 'LoadModule loads %s, which is '
                            'not the module built with this package (%s).'
                            % (where, built),
                            'point LoadModule at %s (mod_wsgi-express '
                            'module-config prints the line), or copy it '
                            'over with mod_wsgi-express install-module.'
                            % built)
        return where

    # -- python and encodings ------------------------------------------------

    def interpreter_for(self, home, module):
        """(interpreter, venv config or None, stdlib directory) for a
        python-home, or for none: the Python the module's libpython
        belongs to."""
        version = module.version
        names = []
        if version:
            names.append('python%d.%d%s' % (version + (module.abiflags,)))
            names.append('python%d.%d' % version)
        names += ['python3', 'python']
        venv = None
        if home:
            venv = _read_pyvenv(home)
            bins = [os.path.join(home, 'bin')]
        else:
            bins = []
            if module.library:
                directory = os.path.dirname(os.path.realpath(module.library))
                for _ in range(3):
                    bins.append(os.path.join(directory, 'bin'))
                    directory = os.path.dirname(directory)
            bins += ['/usr/bin', '/usr/local/bin']
        interpreter = None
        for directory in bins:
            for name in names:
                candidate = os.path.join(directory, name)
                if os.path.isfile(candidate) and \
                        os.access(candidate, os.X_OK):
                    interpreter = candidate
                    break
            if interpreter:
                break
        if home and venv is not None:
            base = os.path.dirname(venv.get('home', '').rstrip('/'))
        elif home:
            base = home
        elif interpreter:
            base = os.path.dirname(os.path.dirname(interpreter))
        else:
            base = None
        stdlib = None
        if base and version:
            stdlib = os.path.join(base, 'lib', 'python%d.%d%s'
                                  % (version + (module.abiflags,)))
            if module.abiflags and not os.path.isdir(stdlib):
                stdlib = os.path.join(base, 'lib', 'python%d.%d' % version)
        return interpreter, venv, stdlib

    def probe(self, ident, home, venv, interpreter):
        """Starts ``interpreter`` as ``ident`` the way the module starts
        Python for ``home``: (answer or None, exit status, output)."""
        key = (ident, home, interpreter)
        if key not in self._probes:
            env = _child_environment(ident, home, venv)
            self._probes[key] = ident.command(
                [interpreter, '-S', '-s', '-c', _PROBE], env, self.timeout)
        return self._probes[key]

    def check_python(self, app, module):
        ident, home, python_path, _cwd = self.context(app)
        if ident is None:
            return None
        subject = 'python-home %s' % home if home else \
            'the Python the module links (no python-home)'
        built = 'the module is built for Python %s (%s)' % (
            module.label, module.needed)
        if home and not os.path.isdir(home):
            self.report.add(FAIL, 'python', '%s does not exist or is not '
                            'a directory; %s.' % (subject, built),
                            'set WSGIPythonHome (or python-home=) to sys.'
                            'prefix of the virtualenv: python -c "import '
                            'sys; print(sys.prefix)".')
            self.report.add(FAIL, 'encodings', 'Python %s will not find its '
                            'standard library ("No module named '
                            '\'encodings\'" at start-up): %s does not exist.'
                            % (module.label, home),
                            'correct python-home.')
            return None
        interpreter, venv, stdlib = self.interpreter_for(home, module)
        items = []
        if home:
            items.append((home, 'rx', 'python-home'))
        if stdlib and os.path.isdir(stdlib):
            items.append((stdlib, 'rx', 'the standard library'))
        for path in python_path:
            items.append((path, 'rx', 'python-path directory'))
        self.add_access(ident, items)

        # Version and ABI: what the home is, from pyvenv.cfg or the
        # lib/pythonX.Y directories, and what its interpreter reports.
        version_ok = True
        found = None
        if venv is not None and venv.get('version'):
            found = venv['version']
            kind = 'is a virtualenv of Python %s' % found
        elif home:
            found_dirs = sorted(os.path.basename(p) for p in glob.glob(
                os.path.join(home, 'lib', 'python[0-9]*.*')))
            if not found_dirs:
                self.report.add(
                    FAIL, 'python', '%s is neither a virtualenv (no '
                    'pyvenv.cfg) nor a Python installation (no '
                    'lib/python3.*); %s.' % (subject, built),
                    'set python-home to sys.prefix of the virtualenv or '
                    'Python installation the application uses: python -c '
                    '"import sys; print(sys.prefix)".')
                version_ok = False
            kind = 'is a prefix with %s' % ', '.join(
                'lib/' + d for d in found_dirs)
            if found_dirs:
                found = found_dirs[-1][len('python'):]
        else:
            kind = None
        answer, status, output = (None, None, '')
        if interpreter:
            answer, status, output = self.probe(ident, home, venv,
                                                interpreter)
        if answer:
            found = '%d.%d.%d' % tuple(answer['version'])
            kind = '%s Python %s%s (%s)' % (
                'runs' if home else 'is',
                found, ', abiflags %r' % answer['abiflags']
                if answer['abiflags'] else '', answer['executable'])
        if module.version and found:
            major_minor = tuple(int(x) for x in re.findall(r'\d+', found)[:2])
            if major_minor != module.version:
                version_ok = False
                self.report.add(
                    FAIL, 'python', '%s %s, but %s.' % (
                        subject, kind, built),
                    'point python-home at a virtualenv made with Python '
                    '%d.%d, or build mod_wsgi for Python %s (pip install '
                    'mod_wsgi with that Python, then mod_wsgi-express '
                    'module-config).' % (module.version + (
                        '.'.join(map(str, major_minor)),)))
            elif answer and answer['abiflags'] != module.abiflags:
                version_ok = False
                self.report.add(
                    FAIL, 'python', '%s %s, but %s: the ABI flags differ '
                    '(%r against %r).' % (subject, kind, built,
                                          answer['abiflags'],
                                          module.abiflags),
                    'use a Python %s%s build for python-home, or build '
                    'mod_wsgi with the one you use.' % (
                        '%d.%d' % module.version, module.abiflags))
        if version_ok:
            if not module.version:
                self.report.add(WARN, 'python', 'cannot tell which Python '
                                'the module is built for: %s' % module.error)
            elif kind:
                self.report.add(OK, 'python', '%s; %s %s' % (
                    built, subject, kind))
            else:
                self.report.add(WARN, 'python', '%s; found no interpreter '
                                'for %s to compare' % (built, subject))

        # The standard library, as Python looks for it from this home.
        if not module.version:
            return interpreter
        if not stdlib or not os.path.isfile(
                os.path.join(stdlib, 'encodings', '__init__.py')):
            where = stdlib or 'a lib/python%s directory' % module.label
            self.report.add(
                FAIL, 'encodings', 'Python %s will not find its standard '
                'library from %s: no %s/encodings ("No module named '
                '\'encodings\'" at start-up).' % (module.label, subject, where),
                'set python-home to sys.prefix of a Python %s '
                'installation or of a virtualenv made with Python %s.'
                % (module.label, module.label))
            return interpreter
        if answer and version_ok:
            self.report.add(OK, 'encodings', 'Python %s started as %s '
                            'imports encodings from %s' % (
                                found, ident.name,
                                os.path.dirname(answer['encodings'])))
        elif interpreter and version_ok:
            why = 'did not finish within %d seconds' % self.timeout \
                if status is None and not output.startswith('cannot') \
                else output.strip().splitlines()[-1] if output.strip() \
                else 'exit status %s' % status
            self.report.add(
                FAIL, 'encodings', '%s as %s fails to start from %s: %s'
                % (interpreter, ident.name, subject, _sentence(why)),
                'see the access lines above: %s must be able to read the '
                'Python installation.' % ident.name, more=output)
        else:
            self.report.add(OK, 'encodings', '%s/encodings exists (no '
                            'interpreter of that version to start as %s)'
                            % (stdlib, ident.name))
        return interpreter

    # -- socket ----------------------------------------------------------------

    def check_socket(self):
        setup = self.setup
        if not setup.daemons:
            return
        directory = os.path.dirname(setup.socket_prefix)
        apache = self.identity(self.user_override or setup.apache_user,
                               self.group_override or setup.apache_group)
        if apache is None:
            return
        how = 'WSGISocketPrefix %s' % setup.socket_prefix \
            if setup.socket_prefix_configured else \
            'the default socket prefix %s' % setup.socket_prefix
        if not os.path.isdir(directory):
            if setup.socket_directory_made_by:
                existing = directory
                while not os.path.isdir(existing):
                    existing = os.path.dirname(existing)
                blocked, = apache.run(_walk_all, [(existing, 'x')])
                if blocked:
                    self.report.add(
                        FAIL, 'socket', '%s: %s will create %s, but %s '
                        'cannot reach it: no search (x) permission on %s '
                        '(%s).' % (how, setup.socket_directory_made_by,
                                   directory, apache.name, blocked['path'],
                                   _mode_text(blocked['path'])),
                        'chmod o+x %s, or set WSGISocketPrefix (or '
                        '--socket-prefix) to a directory %s can reach.'
                        % (blocked['path'], apache.name))
                else:
                    self.report.add(OK, 'socket', '%s: %s does not exist '
                                    'yet; %s creates it' % (
                                        how, directory,
                                        setup.socket_directory_made_by))
                return
            self.report.add(FAIL, 'socket', '%s: the directory %s does not '
                            'exist, so Apache cannot create the daemon '
                            'sockets.' % (how, directory),
                            'mkdir -p %s, or set WSGISocketPrefix to a path '
                            'in an existing directory such as '
                            '/var/run/wsgi.' % directory)
            return
        if os.geteuid() == 0 and not os.access(directory, os.W_OK):
            self.report.add(FAIL, 'socket', '%s: Apache\'s parent (root) '
                            'cannot create sockets in %s (read-only?).'
                            % (how, directory),
                            'set WSGISocketPrefix to a writable local '
                            'directory such as /var/run/wsgi.')
            return
        blocked, = apache.run(_walk_all, [(directory, 'x')])
        if blocked:
            self.report.add(
                FAIL, 'socket', '%s: %s cannot reach the daemon sockets in '
                '%s: no search (x) permission on %s (%s); requests would '
                'fail with "Permission denied" connecting to the daemon.'
                % (how, apache.name, directory, blocked['path'],
                   _mode_text(blocked['path'])),
                'chmod o+x %s, or set WSGISocketPrefix to a directory %s '
                'can reach, such as /var/run/wsgi.'
                % (blocked['path'], apache.name))
            return
        self.report.add(OK, 'socket', '%s: root can create sockets in %s '
                        'and %s can reach them' % (how, directory,
                                                   apache.name))

    # -- the application -----------------------------------------------------

    def check_app(self, app, module, interpreter):
        ident, home, python_path, cwd = self.context(app)
        if ident is None:
            return
        label = {'script': 'WSGI script', 'directory': 'WSGI script '
                 'directory', 'paste': 'Paste configuration'}.get(app.kind)
        if label and not self.add_access(
                ident, [(app.target, 'rx' if app.kind == 'directory'
                         else 'r', label)]):
            return  # Loading it would only fail the same way.
        if app.kind in ('directory', 'paste'):
            self.report.add(WARN, 'import', '%s is a %s; its scripts are '
                            'not loaded by the doctor' % (app.target, label)
                            if app.kind == 'directory' else
                            '%s: a Paste application is not loaded by the '
                            'doctor' % app.target)
            return
        if not interpreter:
            self.report.add(WARN, 'import', 'not checked: no Python '
                            'interpreter found for %s' % (home or 'the '
                                                          'module'))
            return
        venv = _read_pyvenv(home) if home else None
        env = _child_environment(ident, home, venv)
        request = {'kind': app.kind, 'target': app.target,
                   'callable': app.callable_object,
                   'path': python_path}
        answer, status, output = ident.command(
            [interpreter, '-c', _IMPORT, json.dumps(request)], env,
            self.timeout, cwd=cwd if cwd and os.path.isdir(cwd) else '/')
        what = app.describe()
        if answer and answer.get('ok'):
            self.report.add(OK, 'import', '%s loads as %s and defines %r'
                            % (what, ident.name, app.callable_object)
                            if app.callable_object else '%s loads as %s'
                            % (what, ident.name))
        elif answer and answer.get('missing_callable'):
            if app.callable_object == 'handle_request':
                fix = 'define handle_request(environ, start_response) in ' \
                      'the WSGIHandlerScript.'
            else:
                fix = 'name the WSGI callable %s, or set WSGICallableObject ' \
                      '(callable-object=) to its name.' % app.callable_object
            self.report.add(FAIL, 'import', '%s loads as %s but defines no '
                            '%r: mod_wsgi answers 500 ("does not contain '
                            'WSGI application").' % (what, ident.name,
                                                     app.callable_object),
                            fix)
        elif answer:
            self.report.add(FAIL, 'import', '%s fails to load as %s: %s'
                            % (what, ident.name,
                               _sentence(answer.get('error') or '')),
                            'see the traceback below.',
                            more=answer.get('traceback'))
            return
        elif status is None and not output.startswith('cannot start'):
            self.report.add(FAIL, 'import', '%s did not finish loading '
                            'within %d seconds as %s.' % (what, self.timeout,
                                                          ident.name),
                            'find what its module-level code waits for '
                            '(--timeout to allow longer).', more=output)
            return
        else:
            self.report.add(FAIL, 'import', '%s: the loading process as %s '
                            'ended without an answer (status %s).' % (
                                what, ident.name, status),
                            'see its output below.', more=output)
            return
        self.check_gil_mode(app, ident, home, venv, interpreter, env,
                            python_path, module)

    def check_gil_mode(self, app, ident, home, venv, interpreter, env,
                       python_path, module):
        mode = resolve_gil_mode(app, self.setup.interpreter_layers,
                                module.version, module.abiflags)
        # The GIL mode belongs to the interpreter: name it, since one
        # script may be loaded into several.
        what = '%s (application group %s)' % (app.describe(),
                                              app.application_group)
        if app.gil_note:
            self.report.add(WARN, 'gil-mode', '%s: %s' % (what,
                                                          app.gil_note))
        if app.kind != 'script':
            self.report.add(WARN, 'gil-mode', '%s: the audit loads script '
                            'files only; not checked' % what)
            return
        if mode == 'shared' and app.main_interpreter:
            self.report.add(OK, 'gil-mode', '%s runs in the main '
                            'interpreter (%%{GLOBAL}) with the shared GIL: '
                            'the import above is the whole test' % what)
            return
        from . import audit
        audit_file = os.path.abspath(audit.__file__)
        scratch = tempfile.mkdtemp(prefix='mod_wsgi-doctor-')
        try:
            # The user must be able to read the audit; the package itself
            # may live where it cannot (under /root).
            os.chmod(scratch, 0o755)
            copy = os.path.join(scratch, 'audit.py')
            shutil.copyfile(audit_file, copy)
            os.chmod(copy, 0o644)
            command = [interpreter, '-c', audit.BOOTSTRAP, copy]
            for path in python_path:
                command += ['--python-path', path]
            command += ['--json', '--only-imported', '--mode', mode,
                        '--jobs', '2', app.target]
            answer, status, output = ident.command(
                command, env, self.timeout * AUDIT_TIMEOUT_FACTOR,
                answer_fd=False)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        if not answer:
            self.report.add(WARN, 'gil-mode', '%s: the audit gave no '
                            'answer (status %s)' % (what, status),
                            more=output)
            return
        run = answer['script']['modes'][mode]
        imports = answer['script'].get('imports', [])
        refused = [m['name'] for m in answer.get('modules', [])
                   if m['modes'][mode]['verdict'] in ('no', 'global-only')]
        described = {'shared': 'a shared-GIL sub-interpreter',
                     'own-gil': 'a sub-interpreter with its own GIL '
                                '(WSGIPerInterpreterGIL On)',
                     'free-threading': 'a free-threaded process '
                                       '(WSGIFreeThreading)'}[mode]
        if run.get('ok') and run.get('where') != '%{GLOBAL} only':
            self.report.add(OK, 'gil-mode', '%s works in %s (%d extension '
                            'module%s imported)' % (
                                what, described, len(imports),
                                '' if len(imports) == 1 else 's'))
            return
        if run.get('ok'):
            error = run.get('subinterpreter_error') or ''
            fix = 'run it in the main interpreter (WSGIApplicationGroup ' \
                  '%{GLOBAL}).'
        else:
            error = run.get('error') or ''
            fix = {
                'own-gil': 'give it the shared GIL (WSGIPerInterpreterGIL '
                           'Off in its <WSGIInterpreterOptions>), run it in '
                           '%{GLOBAL}, or use versions of the extension '
                           'modules that declare per-interpreter-GIL '
                           'support.',
                'free-threading': 'use WSGIFreeThreading Off, or versions '
                                  'of the extension modules that declare '
                                  'free-threading support.',
                'shared': 'run it in the main interpreter '
                          '(WSGIApplicationGroup %{GLOBAL}).'}[mode]
        self.report.add(
            FAIL, 'gil-mode', '%s fails in %s%s: %s' % (
                what, described, ' (refused: %s)' % ', '.join(refused)
                if refused else '', _sentence(error.strip().splitlines()[-1]
                                              if error.strip() else
                                              'no error text')),
            fix, more=error if '\n' in error.strip() else None)

    # -- everything ----------------------------------------------------------

    def run(self):
        setup = self.setup
        for note in setup.notes:
            self.report.add(WARN, 'config', note)
        if os.geteuid() != 0:
            current = pwd.getpwuid(os.geteuid()).pw_name
            self.report.add(WARN, 'config', 'not run as root: every check '
                            'runs as %s, not as the users Apache would '
                            'switch to' % current)
        if not setup.apps:
            self.report.add(WARN, 'config', 'no WSGI application found '
                            '(WSGIScriptAlias, WSGIImportScript, '
                            'WSGIHandlerScript); checking Python only')
        so = self.check_module()
        module = ModulePython(so) if so else None
        if module is None or not module.version:
            self.report.add(WARN, 'python', 'cannot tell which Python the '
                            'module is built for: %s' % (
                                module.error if module else
                                'no module file'))
        apps = setup.apps or [None]
        interpreters = {}
        for app in apps:
            ident, home, python_path, _ = self.context(app)
            key = (ident, home, tuple(python_path))
            if key not in interpreters:
                interpreters[key] = self.check_python(app, module) \
                    if module and module.version else None
        self.check_socket()
        for app in setup.apps:
            ident, home, python_path, _ = self.context(app)
            self.check_app(app, module, interpreters.get(
                (ident, home, tuple(python_path))))
        return self.report


def _digest(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.digest()


def _read_pyvenv(home):
    """pyvenv.cfg of a virtualenv as a dict, or None for another
    directory."""
    path = os.path.join(home, 'pyvenv.cfg')
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        name, sep, value = line.partition('=')
        if sep:
            values[name.strip().lower()] = value.strip()
    if 'version' not in values and 'version_info' in values:
        values['version'] = values['version_info']
    return values


def _child_environment(ident, home, venv):
    """The environment of a Python started for ``home``: the module names
    the home directly unless it is a virtualenv (found through pyvenv.cfg
    from bin/python), as src/python/runtime.rs does."""
    env = {
        'PATH': '/usr/local/bin:/usr/bin:/bin',
        'LANG': os.environ.get('LANG', 'C.UTF-8'),
        'HOME': ident.home,
        # Leave no __pycache__ behind in the application's directories.
        'PYTHONDONTWRITEBYTECODE': '1',
    }
    if home and venv is None:
        env['PYTHONHOME'] = home
    return env


# Started as the application's user: reports what Python it is and where
# it found its standard library. The last argument is the answer's fd.
_PROBE = r'''
import json, os, sys
import encodings
answer = {'version': list(sys.version_info[:3]), 'abiflags': sys.abiflags,
          'executable': sys.executable, 'prefix': sys.prefix,
          'encodings': encodings.__file__}
with os.fdopen(int(sys.argv[-1]), 'w') as out:
    json.dump(answer, out)
'''

# Loads the script as the module does (src/wsgi/handler.rs): a new module
# named _mod_wsgi_<FNV-1a of the path> with __file__ set, the source up
# to any NUL compiled and run in it; python-path directories added with
# site.addsitedir and put first. argv[1]: the request, argv[-1]: the fd.
_IMPORT = r'''
import json, os, site, sys, traceback, types
request = json.loads(sys.argv[1])
answer_fd = int(sys.argv[-1])
answer = {'ok': False}
try:
    before = list(sys.path)
    for directory in request['path']:
        site.addsitedir(directory)
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + [p for p in sys.path if p not in added]
    sys.argv[:] = ['mod_wsgi']
    if request['kind'] == 'module':
        import importlib
        module = importlib.import_module(request['target'])
    else:
        script = request['target']
        h = 0xcbf29ce484222325
        for b in script.encode('utf-8'):
            h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
        name = '_mod_wsgi_%016x' % h
        module = types.ModuleType(name)
        module.__file__ = script
        sys.modules[name] = module
        with open(script, 'rb') as source:
            code = source.read().split(b'\0', 1)[0]
        exec(compile(code, script, 'exec'), module.__dict__)
    name = request['callable']
    if name and not hasattr(module, name):
        answer['missing_callable'] = True
    else:
        answer['ok'] = True
except BaseException as error:
    answer['error'] = '%s: %s' % (type(error).__name__, error)
    # Without this loader's own frame, as mod_wsgi's log shows it.
    tb = error.__traceback__
    answer['traceback'] = ''.join(traceback.format_exception(
        type(error), error, tb.tb_next or tb))
sys.stdout.flush()
sys.stderr.flush()
with os.fdopen(answer_fd, 'w') as out:
    json.dump(answer, out)
os._exit(0)
'''


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def add_arguments(parser):
    """The doctor's options, and the express options it also takes."""
    from .express.options import add_server_options
    group = parser.add_argument_group('doctor')
    group.add_argument(
        '-f', '--config', metavar='FILE',
        help='an Apache configuration file to check (its Includes are '
             'followed); without it, the express options and ENTRY-POINT '
             'are checked as start-server would run them')
    group.add_argument(
        '--json', action='store_true',
        help='print the results as a JSON list')
    group.add_argument(
        '--timeout', type=int, default=DEFAULT_TIMEOUT, metavar='SECONDS',
        help='bound on each Python process the doctor starts (default '
             '%d; the extension audit gets %d times as long)'
             % (DEFAULT_TIMEOUT, AUDIT_TIMEOUT_FACTOR))
    add_server_options(parser)


def build_parser(prog='python -m mod_wsgi.doctor'):
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION,
        usage='%(prog)s [-f FILE | [EXPRESS OPTION ...] [ENTRY-POINT]] '
              '[--user USER] [--group GROUP] [--json] [--timeout SECONDS]')
    add_arguments(parser)
    return parser


DESCRIPTION = (
    'Check, as the user Apache runs the application as, what would break '
    'first when Apache starts it: the Python the module was built for '
    'against python-home, the encodings import, permissions on the '
    'script, virtualenv and socket directory, the script import, the '
    'extension audit for the GIL mode and the LoadModule path. One line per '
    'check; exit status 1 if any check fails.')


def run(args, prog=PROG):
    """Runs the checks for parsed ``args``; returns the exit status."""
    from .express.errors import ExpressError
    from .server import ModuleNotFound
    report = None
    if args.config:
        if args.entry_point or args.entry_point_option:
            sys.stderr.write('%s: error: give either -f FILE or an entry '
                             'point, not both\n' % prog)
            return 2
        try:
            setup = setup_from_config(args.config, args.server_root)
        except OSError as error:
            report = Report()
            report.add(FAIL, 'config', 'cannot read %s: %s.'
                       % (args.config, error.strerror),
                       'name an existing Apache configuration file.')
        user, group = args.user, args.group
    else:
        try:
            setup = setup_from_express(args)
        except (ExpressError, ModuleNotFound) as error:
            report = Report()
            report.add(FAIL, 'config', _sentence(str(error)),
                       'correct the options.')
        user, group = None, None   # Already in the setup.
    if report is None:
        report = Doctor(setup, args.timeout, user, group).run()
    if args.json:
        sys.stdout.write(json.dumps(report.results, indent=2) + '\n')
    else:
        sys.stdout.write(report.text())
    return 1 if report.failed() else 0


def main(argv=None, prog='python -m mod_wsgi.doctor'):
    args = build_parser(prog).parse_args(argv)
    return run(args, prog)


if __name__ == '__main__':
    sys.exit(main())
