"""The one-line error of every layer.

It lives here, in the bottom layer, so that ops, the engine, tasks and the
application can all raise it without importing upwards; the command line turns
it into one line on stderr and exit code 2.
"""


class UserError(Exception):
    """Bad input from the user (path, file, option, config). One line, no traceback."""
