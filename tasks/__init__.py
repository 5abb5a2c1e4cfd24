"""Task adapters. Importing this package registers the built-in tasks."""

from .base import TASKS, Task, get_task, register_task

from . import csmri  # noqa: E402,F401  (registers "csmri")

__all__ = ["TASKS", "Task", "get_task", "register_task"]
