"""Operations and search spaces. ``from search_spaces import register_op`` to add an op."""

from . import ops  # noqa: E402,F401  (registers the built-in ops)
from .registry import (
    MACROS,
    NONE_OP,
    OPS,
    SPACES,
    Space,
    get_op,
    load_entry_point_plugins,
    load_plugin,
    load_space,
    register_op,
)

__all__ = [
    "MACROS", "NONE_OP", "OPS", "SPACES", "Space", "get_op", "load_entry_point_plugins", "load_plugin", "load_space",
    "register_op",
]
