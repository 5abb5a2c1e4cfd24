"""The task adapter contract and the task registry.

The engine (``nas_engine``) talks to a task only through :class:`Task`. A task
owns everything physical: data, the backbone around a searchable image module,
the loss, metrics, baselines and an embedded default dataset.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from nas_engine.errors import UserError

TASKS: dict[str, type["Task"]] = {}


def register_task(name: str):
    """Class decorator: make a :class:`Task` subclass available by ``name``."""

    def deco(cls: type[Task]) -> type[Task]:
        if name in TASKS and TASKS[name] is not cls:
            raise ValueError(f"task {name!r} is already registered")
        cls.name = name
        TASKS[name] = cls
        return cls

    return deco


def get_task(name: str) -> type["Task"]:
    if name not in TASKS:
        import difflib

        near = difflib.get_close_matches(name, TASKS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise UserError(f"unknown task {name!r}{hint}; available: {', '.join(sorted(TASKS))}")
    return TASKS[name]


class Task(ABC):
    """One imaging task. Subclasses register with :func:`register_task`."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    methods: ClassVar[tuple[str, ...]] = ()  # non-learned methods `evaluate --method` accepts

    @abstractmethod
    def data_root(self, data: str | None) -> Path:
        """The dataset root to use: ``data`` or the embedded dataset (built on first use)."""

    @abstractmethod
    def evaluate_method(self, method: str, data: str | None, **options: Any) -> dict:
        """Evaluate a non-learned method on the test split; the results dict of the task."""
