"""The ``mod_wsgi`` Python package: the ``mod_wsgi-express`` command
(:mod:`mod_wsgi.express`), the location of the Apache module built with it
(:mod:`mod_wsgi.server`) and small diagnostic applications
(:mod:`mod_wsgi.diagnostics`).

Inside Apache the module provides a built-in ``mod_wsgi`` module of its own
(``mod_wsgi.version``, ``mod_wsgi.process_group`` and so on). That built-in
module takes over this package's ``__path__``, so the submodules listed above
stay importable there, but this file is not executed in that case. Keep it
free of side effects and of anything the submodules depend on.
"""

# Other distributions add subpackages to the same namespace (for example
# mod-wsgi-telemetry's mod_wsgi.telemetry), possibly from another
# directory on sys.path.
__path__ = __import__('pkgutil').extend_path(__path__, __name__)
