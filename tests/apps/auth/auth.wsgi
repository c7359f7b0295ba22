# Auth script for tests/auth_scripts.rs. One file provides all four hooks
# that WSGIAuthUserScript, WSGIAuthGroupScript and WSGIAccessScript call:
# check_password, get_realm_hash, groups_for_user and allow_access.
#
# Each call records what it saw (its arguments, a JSON-able copy of the
# environ, mod_wsgi.application_group / process_group, the pid and how often
# this file was loaded) to STATE_DIR/<function>.json, and counts itself in a
# '_auth_test_shared' module in sys.modules, which a WSGI app running in the
# same interpreter can read. The test replaces the STATE_DIR line with the
# directory to use (one www-data may write to).
import json
import os
import sys
import types

STATE_DIR = None

# The test rewrites this line to check script reloading.
PASSWORDS = {'spy': 'secret', 'agent': 'hunter2', 'alias': 'pw', 'accent': 'pw',
             'boom-group': 'pw'}

GROUPS = {'spy': ['secret-agents', 'staff'], 'agent': ['staff']}

shared = sys.modules.get('_auth_test_shared')
if shared is None:
    shared = types.ModuleType('_auth_test_shared')
    shared.calls = 0
    shared.loads = 0
    sys.modules['_auth_test_shared'] = shared
shared.loads += 1
LOADS = shared.loads


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return repr(value)


def _record(name, environ, **args):
    shared.calls += 1
    try:
        import mod_wsgi
        module_group = getattr(mod_wsgi, 'application_group', None)
        module_process = getattr(mod_wsgi, 'process_group', None)
    except ImportError:
        module_group = module_process = '<no mod_wsgi module>'
    data = {
        'args': args,
        'environ': {k: _plain(v) for k, v in environ.items()},
        'module_application_group': module_group,
        'module_process_group': module_process,
        'pid': os.getpid(),
        'loads': LOADS,
        'calls': shared.calls,
        'has_file': '__file__' in globals(),
    }
    if STATE_DIR:
        path = os.path.join(STATE_DIR, name + '.json')
        tmp = '%s.%d.tmp' % (path, os.getpid())
        with open(tmp, 'w') as f:
            json.dump(data, f, sort_keys=True)
        os.rename(tmp, path)
    environ['wsgi.errors'].write('auth-test: %s called\n' % name)


def check_password(environ, user, password):
    _record('check_password', environ, user=user, password=password)
    if user == 'boom':
        raise RuntimeError('check_password exploded for boom')
    if user == 'weird':
        return 42
    if user == 'nameless':
        return ''
    if user not in PASSWORDS:
        return None
    if password != PASSWORDS[user]:
        return False
    if user == 'alias':
        # A string names the authenticated user instead of True.
        return 'canonical-user'
    if user == 'accent':
        # A native string (PEP 3333): the UTF-8 bytes of 'cafe' with an
        # acute e, one code point per byte.
        return 'caf\xc3\xa9'
    return True


def get_realm_hash(environ, user, realm):
    import hashlib
    _record('get_realm_hash', environ, user=user, realm=realm)
    if user not in PASSWORDS:
        return None
    data = '%s:%s:%s' % (user, realm, PASSWORDS[user])
    return hashlib.md5(data.encode('UTF-8')).hexdigest()


def groups_for_user(environ, user):
    _record('groups_for_user', environ, user=user)
    if user == 'boom-group':
        raise RuntimeError('groups_for_user exploded')
    return GROUPS.get(user, [])


def allow_access(environ, host):
    _record('allow_access', environ, host=host)
    decision = environ.get('HTTP_X_ACCESS', 'allow')
    if decision == 'allow':
        return True
    if decision == 'deny':
        return False
    if decision == 'none':
        return None
    if decision == 'raise':
        raise RuntimeError('allow_access exploded')
    return decision
