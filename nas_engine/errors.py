"""User-facing errors: the CLI prints one line for these (exit code 2, or 1 for a failed run)."""

from search_spaces.errors import UserError, did_you_mean, unknown


class RunFailed(UserError):
    """A run that started but could not go on (e.g. the loss diverged). Exit code 1, one line."""


class Interrupted(RunFailed):
    """A run stopped by SIGINT (Ctrl-C) or SIGTERM at a step boundary. Exit code 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


__all__ = ["Interrupted", "RunFailed", "UserError", "did_you_mean", "unknown"]
