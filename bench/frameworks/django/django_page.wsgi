# Benchmark Django project: one page, an ORM query against SQLite and a
# template. The project directory goes on sys.path, as startproject does.
import os
import sys

PROJECT_DIR = os.path.dirname(os.path.abspath(__file__))
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djbench.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
