"""Tiny WSGI applications for checking an installation, for example::

    mod_wsgi-express start-server --application-type module \\
        mod_wsgi.diagnostics.hello
"""
