"""Extension audit: which extension modules of a Python environment can be
loaded under each GIL mode (shared GIL, own GIL, free-threading).

Run ``python -m mod_wsgi.audit [--mode M] [--json] [SCRIPT]`` with the
Python the application runs in, or ``mod_wsgi-express audit-extensions
--python PATH-or-VENV ...`` to have that done for another interpreter.

This file is self-contained (the standard library only, nothing else from
the ``mod_wsgi`` package): ``mod_wsgi-express audit-extensions`` runs it by
path under an interpreter that need not have this package installed.

Every probe runs in a throwaway child process (``sys.executable -S``), so
that an extension module that crashes, hangs or leaves state behind cannot
hurt the audit or the next probe. For each extension module (a file whose
name ends in one of ``importlib.machinery.EXTENSION_SUFFIXES`` below a
``sys.path`` entry):

* an *inspect* child dlopens the file and calls its ``PyInit_<name>``
  function through ctypes. A multi-phase module (PEP 489) returns its
  ``PyModuleDef``, whose ``m_slots`` array is read; a single-phase module
  returns the finished module object.
* on Python 3.12+, a *trial* child creates a sub-interpreter with CPython's
  isolated configuration (own GIL, ``check_multi_interp_extensions``) and
  loads the module there from its file, without its package's
  ``__init__``; the exact exception is kept.
* on a free-threaded build, a *free-threading* child starts with
  ``-X gil=0``, loads the module and reads ``sys._is_gil_enabled()`` before
  and after.

With a SCRIPT, the script itself is run (as mod_wsgi would load it) in a
child's sub-interpreter under each mode, which lists the extension modules
it imports and says whether it works. The rules are documented in
docs/gil-modes.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

MODES = ('shared', 'own-gil', 'free-threading')

# CPython's Include/moduleobject.h (3.12 and 3.13 agree).
SLOT_NAMES = {1: 'Py_mod_create', 2: 'Py_mod_exec',
              3: 'Py_mod_multiple_interpreters', 4: 'Py_mod_gil'}
MULTIPLE_INTERPRETERS_VALUES = {
    0: 'not-supported',        # Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED
    1: 'supported',            # Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED
    2: 'per-interpreter-gil',  # Py_MOD_PER_INTERPRETER_GIL_SUPPORTED
}
GIL_VALUES = {0: 'used', 1: 'not-used'}  # Py_MOD_GIL_USED, _NOT_USED

CHILD_TIMEOUT = 120

# ``python -c BOOTSTRAP AUDIT-FILE ARGS...`` runs this file by path under a
# Python that need not have the mod_wsgi package (mod_wsgi-express
# audit-extensions and doctor use it), under a private module name.
BOOTSTRAP = (
    'import importlib.util, sys\n'
    'del sys.path[0]\n'
    'spec = importlib.util.spec_from_file_location('
    '"_mod_wsgi_audit", sys.argv[1])\n'
    'audit = importlib.util.module_from_spec(spec)\n'
    'spec.loader.exec_module(audit)\n'
    'sys.exit(audit.main(sys.argv[2:], '
    'prog="mod_wsgi-express audit-extensions"))\n')

# The code every child runs: ``python -S -c CHILD RESULT-FILE REQUEST``.
# It writes one JSON object to RESULT-FILE and leaves with os._exit, so
# nothing is torn down (a module that misbehaves at finalisation cannot
# change the answer). It must run on any Python 3 the audit supports.
CHILD = r'''
import json, os, sys
result_path, request = sys.argv[1], json.loads(sys.argv[2])
sys.path[:] = request['path']
result = {}

def done():
    with open(result_path, 'w') as out:
        json.dump(result, out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

def error_text(error):
    return '%s: %s' % (type(error).__name__, error)

def gil_enabled():
    probe = getattr(sys, '_is_gil_enabled', None)
    return None if probe is None else bool(probe())

INNER = """
import importlib.util, json, sys, traceback
request = json.loads(%r)
sys.path[:] = request['path']
out = {'ok': True}
def extension_modules():
    import importlib.machinery
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    names = []
    for name, module in list(sys.modules.items()):
        origin = getattr(getattr(module, '__spec__', None), 'origin', None)
        origin = origin or getattr(module, '__file__', None)
        if isinstance(origin, str) and origin.endswith(suffixes):
            names.append(name)
    return sorted(names)
try:
    if request['task'] == 'script':
        import types
        script = request['script']
        sys.path.insert(0, request['script_dir'])
        module = types.ModuleType('_mod_wsgi_audit_script')
        module.__file__ = script
        sys.modules[module.__name__] = module
        with open(script, 'rb') as source:
            code = compile(source.read(), script, 'exec')
        exec(code, module.__dict__)
    elif request.get('normal'):
        import importlib
        importlib.import_module(request['name'])
    else:
        spec = importlib.util.spec_from_file_location(request['name'],
                                                      request['file'])
        module = importlib.util.module_from_spec(spec)
        sys.modules[request['name']] = module
        spec.loader.exec_module(module)
except BaseException as error:
    out['ok'] = False
    out['error'] = '%%s: %%s' %% (type(error).__name__, error)
    out['traceback'] = traceback.format_exc()
    # Written now as well: a module that fails half-way can crash the
    # process when the exception and its frames are let go.
    with open(request['result'], 'w') as result_file:
        json.dump(out, result_file)
out['extensions'] = extension_modules()
with open(request['result'], 'w') as result_file:
    json.dump(out, result_file)
"""

def in_subinterpreter(isolated):
    """Runs INNER in a new sub-interpreter; own GIL when isolated."""
    inner_result = result_path + '.inner'
    request['result'] = inner_result
    code = INNER % json.dumps(request)
    if sys.version_info >= (3, 13):
        import _interpreters
        iid = _interpreters.create('isolated' if isolated else 'legacy')
        failure = _interpreters.run_string(iid, code)
        if failure is not None:
            result.update(ok=False, error=failure.formatted)
    else:
        import _xxsubinterpreters
        if sys.version_info >= (3, 12):
            iid = _xxsubinterpreters.create(isolated=isolated)
        else:
            iid = _xxsubinterpreters.create()
        try:
            _xxsubinterpreters.run_string(iid, code)
        except Exception as error:
            result.update(ok=False, error=str(error))
    if os.path.exists(inner_result):
        with open(inner_result) as inner:
            result.update(json.load(inner))

def in_main():
    request['result'] = result_path + '.inner'
    before = gil_enabled()
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        exec(INNER % json.dumps(request), {'__name__': '__audit__'})
    with open(request['result']) as inner:
        result.update(json.load(inner))
    result['gil_before'] = before
    result['gil_after'] = gil_enabled()
    result['warnings'] = ['%s: %s' % (w.category.__name__, w.message)
                          for w in caught]

def inspect():
    import ctypes
    P = ctypes.sizeof(ctypes.c_void_p)
    class Slot(ctypes.Structure):
        _fields_ = [('slot', ctypes.c_int), ('value', ctypes.c_void_p)]
    try:
        library = ctypes.PyDLL(request['file'])
    except OSError as error:
        result.update(init='error', error=error_text(error))
        return
    short = request['name'].rpartition('.')[2]
    try:
        init = getattr(library, 'PyInit_' + short)
    except AttributeError:
        result.update(init='error',
                      error='no PyInit_%s function in the file' % short)
        return
    init.restype = ctypes.py_object
    init.argtypes = []
    before = set(sys.modules)
    try:
        obj = init()
    except BaseException as error:
        imported = sorted(set(sys.modules) - before)
        if imported:
            # The init function imported modules before it failed (numpy's
            # imports its own package, which imports the module again, so
            # its one-time set-up runs twice): it sets the module up
            # itself, which only single-phase init does. A multi-phase one
            # only returns its PyModuleDef.
            result.update(init='single-phase',
                          note='PyInit_%s imported %s and then raised %s'
                          % (short, ', '.join(imported[:3])
                             + (', ...' if len(imported) > 3 else ''),
                             error_text(error)))
        else:
            result.update(init='error', error=error_text(error))
        return
    # ctypes takes the returned reference as its own; a PyModuleDef is a
    # static object whose one reference must never be dropped.
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    if type(obj).__name__ != 'moduledef':
        result['init'] = 'single-phase'
        return
    result['init'] = 'multi-phase'
    # struct PyModuleDef: PyModuleDef_Base (PyObject_HEAD, m_init, m_index,
    # m_copy), then m_name, m_doc, m_size, m_methods, m_slots.
    base = id(obj) + object.__basicsize__
    name = ctypes.c_char_p.from_address(base + 3 * P).value
    result['def_name'] = name.decode('utf-8', 'replace') if name else None
    slots_address = ctypes.c_void_p.from_address(base + 7 * P).value
    slots = []
    while slots_address:
        slot = Slot.from_address(slots_address)
        if slot.slot == 0:
            break
        slots.append([slot.slot, slot.value or 0])
        slots_address += ctypes.sizeof(Slot)
    result['slots'] = slots

try:
    task = request['task']
    if task == 'inspect':
        inspect()
    elif task in ('trial', 'script'):
        where = request['where']
        if where == 'main':
            in_main()
        else:
            in_subinterpreter(where == 'own-gil')
except BaseException as error:
    result['ok'] = False
    result['error'] = error_text(error)
done()
'''


class Python(object):
    """Facts about the running interpreter."""

    def __init__(self):
        import sysconfig
        self.version = sys.version_info[:2]
        self.version_text = '%d.%d.%d' % sys.version_info[:3]
        self.free_threaded = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))
        self.own_gil = self.version >= (3, 12)

    def own_gil_unavailable(self):
        if not self.own_gil:
            return 'not available before 3.12'
        return None

    def free_threading_unavailable(self):
        if self.version < (3, 13):
            return 'not available before 3.13'
        if not self.free_threaded:
            return 'not a free-threaded build'
        return None


def run_child(request, extra_flags=()):
    """Runs CHILD with ``request``; returns its result dictionary, with
    ``crashed`` set when the child died instead of answering."""
    handle, result_path = tempfile.mkstemp(prefix='mod_wsgi-audit-',
                                           suffix='.json')
    os.close(handle)
    os.unlink(result_path)
    command = [sys.executable, '-S'] + list(extra_flags) + [
        '-c', CHILD, result_path, json.dumps(request)]
    try:
        try:
            child = subprocess.run(command, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE,
                                   timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            return {'ok': False, 'crashed': True,
                    'error': 'no answer within %d seconds' % CHILD_TIMEOUT}
        if os.path.exists(result_path):
            with open(result_path) as result_file:
                result = json.load(result_file)
            if child.stderr:
                result['stderr'] = _tail(child.stderr)
            return result
        if child.returncode < 0:
            why = 'the process was killed by signal %d' % -child.returncode
        else:
            why = 'the process exited with status %d' % child.returncode
        tail = _tail(child.stderr)
        why += ': ' + tail if tail else ''
        inner = result_path + '.inner'
        if os.path.exists(inner):
            # The sub-interpreter's answer came before the crash.
            with open(inner) as result_file:
                result = json.load(result_file)
            result['crashed_after'] = why
            result['ok'] = False
            return result
        return {'ok': False, 'crashed': True, 'error': why}
    finally:
        for path in (result_path, result_path + '.inner'):
            if os.path.exists(path):
                os.unlink(path)


def _tail(data, limit=2000):
    text = data.decode('utf-8', 'replace').strip()
    return text[-limit:]


def find_extension_modules(path):
    """(name, file) of every extension module importable from ``path``,
    the first one of each name winning as it does for import."""
    import importlib.machinery
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len,
                      reverse=True)
    found = {}
    for entry in path:
        if not entry or not os.path.isdir(entry):
            continue
        for directory, subdirectories, files in os.walk(entry):
            relative = os.path.relpath(directory, entry)
            parts = [] if relative == '.' else relative.split(os.sep)
            if not all(part.isidentifier() for part in parts):
                subdirectories[:] = []
                continue
            subdirectories[:] = sorted(d for d in subdirectories
                                       if d.isidentifier())
            for filename in sorted(files):
                for suffix in suffixes:
                    if filename.endswith(suffix):
                        stem = filename[:-len(suffix)]
                        if stem.isidentifier():
                            name = '.'.join(parts + [stem])
                            found.setdefault(
                                name, os.path.join(directory, filename))
                        break
    return sorted(found.items())


def _map(function, items, jobs):
    if jobs <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(function, items))


def describe_slots(inspection, python):
    """The init style and the two slots, as reported."""
    init = inspection.get('init')
    info = {'init': init, 'multiple_interpreters': None, 'gil': None}
    if init != 'multi-phase':
        return info
    values = dict((slot, value) for slot, value in inspection['slots'])
    if not python.own_gil:
        info['multiple_interpreters'] = 'n/a'
    elif 3 in values:
        info['multiple_interpreters'] = MULTIPLE_INTERPRETERS_VALUES.get(
            values[3], 'unknown value %d' % values[3])
    else:
        # No slot: CPython 3.12+ takes Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED.
        info['multiple_interpreters'] = 'default (supported)'
    if python.version < (3, 13):
        info['gil'] = 'n/a'
    elif 4 in values:
        info['gil'] = GIL_VALUES.get(values[4], 'unknown value %d' % values[4])
    else:
        info['gil'] = 'default (used)'
    info['slots'] = [[SLOT_NAMES.get(slot, str(slot)), value]
                     for slot, value in inspection['slots']]
    return info


def verdicts(info, inspection, trial, threaded, python, legacy=None,
             main=None):
    """{mode: {'verdict': ..., 'why'/'error': ...}} for one module."""
    out = {}
    init = info['init']
    if init == 'error':
        # The init function fails on its own: nothing below can work.
        broken = {'verdict': 'no', 'error': inspection.get('error')}
        out = dict((mode, dict(broken)) for mode in MODES)
        if python.own_gil_unavailable():
            out['own-gil'] = {'verdict': 'n/a',
                              'why': python.own_gil_unavailable()}
        return out
    # Shared GIL: mod_wsgi's sub-interpreters use CPython's legacy
    # configuration, which loads every module, whatever it declares; the
    # trial says whether the module's own code copes.
    if legacy and not legacy.get('ok'):
        if main.get('ok'):
            out['shared'] = {
                'verdict': 'global-only',
                'why': 'fails in a shared-GIL sub-interpreter, loads in the '
                       'main interpreter (%{GLOBAL})',
                'error': legacy.get('error')}
        else:
            out['shared'] = {'verdict': 'no', 'error': main.get('error')}
        if legacy.get('crashed_after'):
            out['shared']['crashed_after'] = legacy['crashed_after']
    elif info['multiple_interpreters'] == 'not-supported':
        out['shared'] = {
            'verdict': 'global-only',
            'why': 'declares no sub-interpreter support: run it in '
                   '%{GLOBAL} (CPython still loads it into a shared-GIL '
                   'sub-interpreter, at your own risk)'}
    else:
        out['shared'] = {'verdict': 'yes'}
    unavailable = python.own_gil_unavailable()
    if unavailable:
        out['own-gil'] = {'verdict': 'n/a', 'why': unavailable}
    elif trial.get('ok'):
        out['own-gil'] = {'verdict': 'yes'}
    else:
        out['own-gil'] = {'verdict': 'no', 'error': trial.get('error')}
        if trial.get('crashed'):
            out['own-gil']['crashed'] = True
        if trial.get('crashed_after'):
            out['own-gil']['crashed_after'] = trial['crashed_after']
    unavailable = python.free_threading_unavailable()
    if unavailable:
        entry = {'verdict': 'n/a', 'why': unavailable}
        if python.version >= (3, 13):
            entry['declared'] = info['gil'] == 'not-used'
        out['free-threading'] = entry
    elif not threaded.get('ok'):
        out['free-threading'] = {'verdict': 'no',
                                 'error': threaded.get('error')}
    elif threaded.get('gil_after'):
        out['free-threading'] = {
            'verdict': 'no', 'why': 'importing it turns the GIL back on',
            'gil_before': threaded.get('gil_before'), 'gil_after': True,
            'warnings': threaded.get('warnings', [])}
    else:
        out['free-threading'] = {'verdict': 'yes', 'gil_before': False,
                                 'gil_after': False}
    return out


def audit_module(item, python):
    name, path, search_path = item
    request = {'path': search_path, 'name': name, 'file': path}
    inspection = run_child(dict(request, task='inspect'))
    if inspection.get('crashed'):
        inspection = {'init': 'error', 'error': inspection['error']}
    info = describe_slots(inspection, python)
    # A shared-GIL sub-interpreter as mod_wsgi creates it; the main
    # interpreter too when that fails.
    legacy = run_child(dict(request, task='trial', where='legacy',
                            normal=True))
    main = {}
    if not legacy.get('ok'):
        main = run_child(dict(request, task='trial', where='main',
                              normal=True))
    trial = {}
    if python.own_gil:
        trial = run_child(dict(request, task='trial', where='own-gil'))
    threaded = {}
    if not python.free_threading_unavailable():
        threaded = run_child(dict(request, task='trial', where='main'),
                             ['-X', 'gil=0'])
    entry = {'name': name, 'file': path}
    entry.update(info)
    if inspection.get('note'):
        entry['init_note'] = inspection['note']
    entry['modes'] = verdicts(info, inspection, trial, threaded, python,
                              legacy, main)
    return entry


def audit_script(script, search_path, python):
    """Runs the script under each mode; {mode: result}."""
    request = {'path': search_path, 'script': script,
               'script_dir': os.path.dirname(script), 'task': 'script'}
    runs = {}
    # mod_wsgi's default: a shared-GIL sub-interpreter per application.
    shared = run_child(dict(request, where='legacy'))
    shared['where'] = 'sub-interpreter'
    if not shared.get('ok'):
        main = run_child(dict(request, where='main'))
        if main.get('ok'):
            main['subinterpreter_error'] = shared.get('error')
            shared = main
            shared['where'] = '%{GLOBAL} only'
    runs['shared'] = shared
    unavailable = python.own_gil_unavailable()
    if unavailable:
        runs['own-gil'] = {'ok': False, 'unavailable': unavailable,
                           'error': unavailable}
    else:
        runs['own-gil'] = run_child(dict(request, where='own-gil'))
    unavailable = python.free_threading_unavailable()
    if unavailable:
        runs['free-threading'] = {'ok': False, 'unavailable': unavailable,
                                  'error': unavailable}
    else:
        run = run_child(dict(request, where='main'), ['-X', 'gil=0'])
        if run.get('ok') and run.get('gil_after'):
            run['ok'] = False
            run['error'] = 'the GIL was turned back on by an import'
        runs['free-threading'] = run
    return runs


def audit(script=None, python_path=(), jobs=2, only_imported=False):
    import site
    for directory in python_path:
        site.addsitedir(os.path.abspath(directory))
    search_path = [entry for entry in sys.path if entry]
    python = Python()
    report = {
        'python': {'executable': sys.executable,
                   'version': python.version_text,
                   'free_threaded': python.free_threaded,
                   'path': search_path},
    }
    runs = None
    imported = None
    if script:
        script = os.path.abspath(script)
        runs = audit_script(script, search_path, python)
        imported = set()
        for run in runs.values():
            imported.update(run.get('extensions', ()))
        report['script'] = {'path': script, 'modes': runs,
                            'imports': sorted(imported)}
    modules = find_extension_modules(search_path)
    if only_imported and imported is not None:
        modules = [m for m in modules if m[0] in imported]
    items = [(name, path, search_path) for name, path in modules]
    entries = _map(lambda item: audit_module(item, python), items, jobs)
    for entry in entries:
        entry['imported_by_script'] = bool(imported) and \
            entry['name'] in imported
    report['modules'] = entries
    return report


def script_works(report, mode):
    return report['script']['modes'][mode].get('ok', False)


CELL = {'yes': 'yes', 'no': 'NO', 'n/a': 'n/a', 'global-only': 'GLOBAL'}


def _cell(verdict):
    text = CELL.get(verdict['verdict'], verdict['verdict'])
    if verdict['verdict'] == 'n/a' and 'declared' in verdict:
        text += ' (declared)' if verdict['declared'] else ' (undeclared)'
    return text


def render_text(report, mode):
    lines = []
    python = report['python']
    lines.append('Python %s (%s)%s' % (
        python['version'], python['executable'],
        ', free-threaded build' if python['free_threaded'] else ''))
    headers = ('MODULE', 'INIT', 'MULTI-INTERP SLOT', 'GIL SLOT', 'SHARED',
               'OWN GIL', 'FREE-THREADING')
    rows = []
    for entry in report['modules']:
        marker = '*' if entry.get('imported_by_script') else ''
        rows.append((
            entry['name'] + marker, entry['init'],
            entry['multiple_interpreters'] or '-', entry['gil'] or '-',
            _cell(entry['modes']['shared']), _cell(entry['modes']['own-gil']),
            _cell(entry['modes']['free-threading'])))
    widths = [max(len(row[i]) for row in rows + [headers])
              for i in range(len(headers))]
    lines.append('')
    for row in [headers] + rows:
        lines.append('  '.join(cell.ljust(width) for cell, width
                               in zip(row, widths)).rstrip())
    if 'script' in report:
        lines.append('* imported by the script')
    notes = []
    for entry in report['modules']:
        for name in MODES:
            verdict = entry['modes'][name]
            if verdict['verdict'] in ('no', 'global-only'):
                note = '%s [%s]: %s' % (entry['name'], name,
                                        verdict.get('error')
                                        or verdict.get('why'))
                if verdict.get('error') and verdict.get('why'):
                    note = '%s [%s]: %s: %s' % (entry['name'], name,
                                                verdict['why'],
                                                verdict['error'])
                if verdict.get('crashed_after'):
                    note += ' (then %s)' % verdict['crashed_after']
                notes.append(note)
    unavailable = set()
    for entry in report['modules']:
        for name in MODES:
            verdict = entry['modes'][name]
            if verdict['verdict'] == 'n/a':
                unavailable.add('%s: %s' % (name, verdict['why']))
    if notes or unavailable:
        lines.append('')
        lines.append('Notes:')
        lines.extend('  ' + note for note in sorted(unavailable))
        lines.extend('  ' + note for note in notes)
    if 'script' in report:
        script = report['script']
        lines.append('')
        lines.append('Script %s' % script['path'])
        lines.append('  imports %d extension modules' % len(script['imports']))
        for name in MODES:
            run = script['modes'][name]
            if run.get('ok'):
                state = 'works'
                if run.get('where') == '%{GLOBAL} only':
                    state += (' in %%{GLOBAL} only (in a sub-interpreter: '
                              '%s)' % run.get('subinterpreter_error'))
            elif run.get('unavailable'):
                state = run['unavailable']
            else:
                state = 'FAILS: %s' % run.get('error')
                if run.get('crashed_after'):
                    state += ' (then %s)' % run['crashed_after']
            lines.append('  %-15s %s%s' % (
                name + ':', state, '   <- --mode' if name == mode else ''))
    return '\n'.join(lines) + '\n'


def build_parser(prog='python -m mod_wsgi.audit'):
    parser = argparse.ArgumentParser(
        prog=prog,
        description='Report the extension modules of this Python '
                    'environment and whether each can be loaded with a '
                    'shared GIL, its own GIL (WSGIPerInterpreterGIL) and '
                    'free-threading (WSGIFreeThreading). With SCRIPT, '
                    'also run the WSGI script under each mode; the exit '
                    'status is 1 when it does not work under --mode.')
    parser.add_argument('script', nargs='?', metavar='SCRIPT',
                        help='WSGI script file to load under each mode '
                             '(its module-level code runs)')
    parser.add_argument('--mode', choices=MODES, default='own-gil',
                        help='the mode that decides the exit status '
                             '(default own-gil)')
    parser.add_argument('--json', action='store_true',
                        help='print the report as JSON')
    parser.add_argument('--python-path', action='append', default=[],
                        metavar='DIR',
                        help='add DIR to sys.path as mod_wsgi\'s '
                             'python-path does (site.addsitedir); '
                             'repeatable')
    parser.add_argument('--only-imported', action='store_true',
                        help='with SCRIPT: list only the extension modules '
                             'the script imports')
    parser.add_argument('--jobs', type=int, default=2, metavar='N',
                        help='probes to run at once (default 2)')
    return parser


def main(argv=None, prog='python -m mod_wsgi.audit'):
    args = build_parser(prog).parse_args(argv)
    if args.script and not os.path.isfile(args.script):
        sys.stderr.write('%s: error: no such script: %s\n'
                         % (prog, args.script))
        return 2
    report = audit(args.script, args.python_path, max(1, args.jobs),
                   args.only_imported)
    report['mode'] = args.mode
    status = 0
    if args.script and not script_works(report, args.mode):
        status = 1
    report['exit_status'] = status
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + '\n')
    else:
        sys.stdout.write(render_text(report, args.mode))
    return status


if __name__ == '__main__':
    sys.exit(main())
