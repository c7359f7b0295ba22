# WSGI entry point of the test Django project, the way Django's
# startproject lays it out: the project directory goes on sys.path and
# DJANGO_SETTINGS_MODULE names the settings.
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
