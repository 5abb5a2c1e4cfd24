"""Task adapters. Importing this package registers the built-in tasks."""

from .base import TASKS, Task, get_task, register_task

from . import csmri, denoise  # noqa: E402,F401  (register "csmri" and "denoise")

__all__ = ["TASKS", "Task", "get_task", "register_task"]
