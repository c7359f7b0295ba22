"""Where the Apache module that belongs to this package lives.

A built package carries the compiled module in this directory, under a
name that starts with ``mod_wsgi`` and ends in ``.so``. The environment
variable ``MOD_WSGI_SO`` overrides the search (the tests use it to point at a
module built in the source tree).
"""

import glob
import os

__all__ = ['ModuleNotFound', 'module_location', 'python_home']


class ModuleNotFound(RuntimeError):
    """The Apache module is neither installed here nor named by MOD_WSGI_SO."""


def _candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, 'mod_wsgi*.so')))
    # A development layout may keep Cargo's file name.
    found += sorted(glob.glob(os.path.join(here, 'libmod_wsgi*.so')))
    return here, found


def module_location():
    """Absolute path of the Apache module (``mod_wsgi*.so``).

    ``MOD_WSGI_SO``, when set and not empty, wins; it must name an existing
    file. Otherwise the first ``mod_wsgi*.so`` file in this package
    directory is returned. Raises :class:`ModuleNotFound` when there is
    neither.
    """
    override = os.environ.get('MOD_WSGI_SO')
    if override:
        path = os.path.abspath(override)
        if not os.path.isfile(path):
            raise ModuleNotFound(
                'MOD_WSGI_SO is set to %r, but there is no such file' % override)
        return path
    here, found = _candidates()
    if not found:
        raise ModuleNotFound(
            'the Apache module was not found: no mod_wsgi*.so file in %s '
            '(install the mod_wsgi package with its compiled module, or set '
            'MOD_WSGI_SO to the module file)' % here)
    return found[0]


def python_home():
    """The ``WSGIPythonHome`` value for the Python running this code."""
    import sys
    return sys.prefix
