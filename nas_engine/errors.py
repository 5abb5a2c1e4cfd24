"""User-facing errors: the CLI prints one line for these and exits with code 2."""


class UserError(Exception):
    """Bad input from the user (path, file, option, config). One line, no traceback."""


class RunFailed(UserError):
    """A run that started but could not go on (e.g. the loss diverged). Exit code 1, one line."""
