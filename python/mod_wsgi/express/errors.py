"""The one exception type the command reports as a plain error message."""


class ExpressError(Exception):
    """A problem with the options or the host, shown to the user as
    ``mod_wsgi-express: error: <message>`` with exit status 2."""
