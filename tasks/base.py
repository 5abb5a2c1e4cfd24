"""The task adapter contract and the task registry.

The engine (``nas_engine``) talks to a task only through :class:`Task`. A task
owns everything physical: data, the backbone around a searchable image module,
the loss, metrics, baselines and an embedded default dataset.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn
from torch.utils.data import Dataset

from nas_engine.config import from_mapping
from nas_engine.errors import UserError

TASKS: dict[str, type["Task"]] = {}

ModuleFactory = Callable[[], nn.Module]


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


def aggregate(per_volume, names=("mse", "nmse", "psnr", "ssim")) -> dict:
    """The results format every task shares: ``{metric: {"mean", "std"}, "n_volumes": n}`` over
    volumes (or images), population std."""
    import numpy as np

    rows = list(per_volume)
    out: dict = {}
    for name in names:
        vals = np.array([r[name] for r in rows], dtype=np.float64)
        out[name] = {"mean": float(vals.mean()) if len(vals) else float("nan"),
                     "std": float(vals.std()) if len(vals) else float("nan")}
    out["n_volumes"] = len(rows)
    return out


class Task(ABC):
    """One imaging task. Subclasses register with :func:`register_task`.

    ``Options`` is a dataclass of the task's own settings (the ``data:`` config
    section); ``presets`` gives its values for the engine's presets (demo, paper, tiny).
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    methods: ClassVar[tuple[str, ...]] = ()  # non-learned methods `evaluate --method` accepts
    in_channels: ClassVar[int]  # channels of the image the searched module maps to itself
    Options: ClassVar[type]
    presets: ClassVar[dict[str, dict]] = {}
    paper_methods: ClassVar[dict[str, str]] = {}  # display name -> baseline method (benchmark tables)
    paper_complexity: ClassVar[dict[str, tuple[float, float]]] = {}  # display name -> published (FLOPs, params)

    def __init__(self, options: Mapping | None = None, data: str | None = None, seed: int = 0) -> None:
        self.options = from_mapping(self.Options, options or {}, "data")
        self.data = data
        self.seed = int(seed)

    # ---- data
    @abstractmethod
    def search_datasets(self, alpha_fraction: float) -> tuple[Dataset, Dataset]:
        """Disjoint (weight split, architecture split) of the training data."""

    @abstractmethod
    def train_dataset(self) -> Dataset:
        """The whole training set (retraining)."""

    def set_epoch(self, dataset: Dataset, epoch: int) -> None:
        """Called at the start of each epoch (e.g. to redraw random masks reproducibly)."""
        target = getattr(dataset, "dataset", dataset)
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)

    # ---- model
    @abstractmethod
    def build_model(self, make_module: ModuleFactory) -> nn.Module:
        """The task's backbone around image modules made by ``make_module`` (``in_channels`` -> same)."""

    def build_baseline(self, method: str) -> nn.Module:
        """A hand-designed network of this task, trained by ``retrain --method``."""
        raise UserError(f"task {self.name} has no trainable baselines")

    def recon_modules(self, model: nn.Module) -> list[nn.Module]:
        """The image modules of ``model`` in order of application (for FLOPs/params)."""
        raise UserError(f"task {self.name} does not report its modules")

    def example_batch(self, size: int, batch: int = 1) -> Any:
        """A batch with real shapes for timing (``forward(model, example_batch(...))``)."""
        raise UserError(f"task {self.name} has no example batch")

    def forward(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return model(batch["input"])

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Training loss of ``model`` on one batch."""

    # ---- evaluation
    @abstractmethod
    def evaluate_model(self, model: nn.Module, save_recons: str | None = None, progress: bool = True) -> dict:
        """Metrics of a trained model on the test split (the task's results dict)."""

    def evaluate_method(self, method: str, save_recons: str | None = None, progress: bool = True) -> dict:
        """Metrics of a non-learned method on the test split."""
        raise UserError(f"task {self.name} has no non-learned methods")

    def describe_data(self) -> str:
        return ""

    # ---- data files (optional)
    @classmethod
    def data_build(cls, out: str | None, size: int, seed: int) -> str:
        """Build the task's embedded dataset into ``out``; returns where it went."""
        raise UserError(f"task {cls.name} has no dataset builder")

    @classmethod
    def data_inspect(cls, path: str) -> str:
        """Check one data file and describe it."""
        raise UserError(f"task {cls.name} has no data files to inspect")
