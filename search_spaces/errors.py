"""The one-line error of every layer.

It lives here, in the bottom layer, so that ops, the engine, tasks and the
application can all raise it without importing upwards; the command line turns
it into one line on stderr and exit code 2.
"""


class UserError(Exception):
    """Bad input from the user (path, file, option, config). One line, no traceback."""


def did_you_mean(name: str, known, cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` to a misspelt ``name``, or ``""``: the one
    hint every registry (ops, spaces, strategies, tasks, presets, config keys, commands) gives."""
    import difflib

    near = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=cutoff)
    return f" (did you mean {near[0]!r}?)" if near else ""


def unknown(kind: str, name: str, known, tail: str = "") -> UserError:
    """``unknown <kind> 'name' (did you mean ...?); available: a, b, c<tail>``."""
    return UserError(f"unknown {kind} {name!r}{did_you_mean(name, known)}; available: {', '.join(map(str, known))}{tail}")
