"""``python -m mod_wsgi.express ...``: the same as ``mod_wsgi-express``."""

import sys

from . import main

if __name__ == '__main__':
    sys.exit(main())
