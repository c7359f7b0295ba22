"""``python manage.py runmodwsgi``: serves the Django project with
mod_wsgi-express, once ``mod_wsgi.server`` is in ``INSTALLED_APPS``.

The application is the project's ``WSGI_APPLICATION``, the working
directory (also on ``sys.path``) is ``BASE_DIR``, and Apache serves
``STATIC_ROOT`` at ``STATIC_URL`` itself, ahead of any ``--url-alias``.
Every other option is one of ``mod_wsgi-express start-server``'s;
``--setup-only`` writes the server root without starting Apache.
"""

import argparse
import inspect
import sys

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ('Serve this project with Apache httpd and mod_wsgi; the options '
            'are those of mod_wsgi-express start-server.')

    def add_arguments(self, parser):
        from mod_wsgi.express.options import add_server_options
        add_server_options(parser, entry_point=False)

    def handle(self, *args, **options):
        from django.conf import settings
        from mod_wsgi.express import start_server
        from mod_wsgi.express.errors import ExpressError

        module_name, _, callable_object = (
            settings.WSGI_APPLICATION.rpartition('.'))
        if not module_name:
            raise CommandError('WSGI_APPLICATION %r does not name a module '
                               'attribute' % settings.WSGI_APPLICATION)
        __import__(module_name)
        script = inspect.getsourcefile(sys.modules[module_name])

        args = argparse.Namespace(**options)
        args.command = 'start-server'
        args.entry_point = script
        args.entry_point_option = None
        args.application_type = 'script'
        args.callable_object = callable_object
        args.working_directory = str(settings.BASE_DIR)
        # Django makes a relative STATIC_URL absolute; only a local path
        # can be an Apache alias.
        static_url = getattr(settings, 'STATIC_URL', None) or ''
        static_root = getattr(settings, 'STATIC_ROOT', None)
        if static_url.startswith('/') and static_root:
            alias = [static_url.rstrip('/') or '/', str(static_root)]
            args.url_alias = [alias] + list(args.url_alias or [])

        self.stdout.flush()
        try:
            start_server(args)
        except ExpressError as error:
            raise CommandError(str(error)) from None
