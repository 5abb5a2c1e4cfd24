"""The task contract and the task registry.

The engine talks to a task only through :class:`Task`. A task owns everything
physical: data, the backbone around a searchable image module, the loss,
metrics, baselines and an embedded default dataset. Tasks register with
:func:`register_task` -- from a package declared in the ``nasengine.tasks``
entry-point group (the built-in ``csmri`` and ``denoise``), or from a plugin
file or module given with ``--plugin`` -- and the application finds them in
:data:`TASKS`; the engine never imports a task.

What the engine needs is abstract below. The rest are optional hooks with a
default: methods the application calls when a task offers them (non-learned
methods, trainable baselines, complexity, data files, paper tables, figures).

Results format (``evaluate_model`` / ``evaluate_method``), the same for every
task: ``{"overall": {metric: {"mean", "std"}, ..., "n_volumes": n},
"per_volume": [{"file": name, metric: value, ...}, ...]}`` plus, when the task
groups its test cases (``group_key``, e.g. CS-MRI's ``"by_acceleration"``),
``{group_key: {group: <same as overall>}}``. ``metrics`` says which metrics a
task reports and how to print them; :func:`aggregate` builds ``overall``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn
from torch.utils.data import Dataset

from .config import from_mapping
from .errors import UserError, unknown

TASKS: dict[str, type["Task"]] = {}
ENTRY_POINT_GROUP = "nasengine.tasks"

ModuleFactory = Callable[[], nn.Module]
ENGINE_MACRO_KEYS = ("width",)  # macro choices the engine builds itself (model.channels)


@dataclass(frozen=True)
class Metric:
    """One reported metric: its key in the results, a column title and a number format."""

    name: str
    title: str
    fmt: str = ".4f"
    higher_is_better: bool = True


IMAGE_METRICS = (Metric("psnr", "PSNR (dB)", ".2f"), Metric("ssim", "SSIM", ".4f"),
                 Metric("nmse", "NMSE", ".4f", higher_is_better=False))


@dataclass(frozen=True)
class TaskOption:
    """A task setting that ``evaluate`` also takes as a flag (``--flag`` -> ``data.key``)."""

    flag: str
    key: str
    type: Callable[[str], Any] = str
    nargs: str | None = None
    help: str = ""


def register_task(name: str):
    """Class decorator: make a :class:`Task` subclass available as ``--task name``."""

    def deco(cls: type[Task]) -> type[Task]:
        if not isinstance(cls, type) or not issubclass(cls, Task):
            raise TypeError(f"@register_task({name!r}) decorates a subclass of nas_engine.task.Task")
        old = TASKS.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"task {name!r} is already registered (by {old.__module__}.{old.__qualname__})")
        cls.name = name
        TASKS[name] = cls
        return cls

    return deco


def load_task_entry_points() -> None:
    """Import every task package declared in the ``nasengine.tasks`` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:
            raise UserError(f"task entry point {ep.name!r} ({ep.value}) failed: {e.__class__.__name__}: {e}") from None


def get_task(name: str) -> type["Task"]:
    if name not in TASKS:
        if not TASKS:
            raise UserError(f"unknown task {name!r}: no task is registered. The built-in tasks register through "
                            f"the package's entry points ({ENTRY_POINT_GROUP}); install it with `pip install -e .`")
        raise unknown("task", name, sorted(TASKS), " (a task of your own: --plugin FILE)")
    return TASKS[name]


def aggregate(per_volume, names=("mse", "nmse", "psnr", "ssim")) -> dict:
    """``overall`` of the results format: ``{metric: {"mean", "std"}, "n_volumes": n}`` over volumes
    (or images), population std."""
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
    section); ``presets`` gives its values for the engine's presets (demo, bench, paper, tiny).
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    in_channels: ClassVar[int]  # channels of the image the searched module maps to itself
    Options: ClassVar[type]
    presets: ClassVar[dict[str, dict]] = {}
    metrics: ClassVar[tuple[Metric, ...]] = IMAGE_METRICS  # what the results hold, in print order
    group_key: ClassVar[str | None] = None  # results key of per-group metrics (e.g. "by_acceleration")
    group_label: ClassVar[str] = "{}"  # how a group is printed ("{}x": 4.0 -> "4.0x")
    methods: ClassVar[tuple[str, ...]] = ()  # non-learned methods `evaluate --method` accepts
    trainable_methods: ClassVar[tuple[str, ...]] = ()  # hand-made baselines `retrain --method` accepts
    tunable_methods: ClassVar[tuple[str, ...]] = ()  # methods whose parameters `evaluate --tune` chooses
    cli_options: ClassVar[tuple[TaskOption, ...]] = ()  # task settings `evaluate` takes as flags
    paper_methods: ClassVar[dict[str, str]] = {}  # display name -> baseline method (complexity table)
    paper_complexity: ClassVar[dict[str, tuple[float, float]]] = {}  # display name -> published (FLOPs, params)
    # macro choices of a space that this task builds (genotype macro key -> field of Options), e.g.
    # CS-MRI's {"cascades": "cascades", "share": "share_weights"}; "width" is the engine's (model.channels)
    macro_options: ClassVar[dict[str, str]] = {}

    def __init__(self, options: Mapping | None = None, data: str | None = None, seed: int = 0) -> None:
        self.options = from_mapping(self.Options, options or {}, "data")
        self.data = data
        self.seed = int(seed)

    @property
    def reference_method(self) -> str | None:
        """The non-learned method a learned network is first compared with (``demo``'s table): the
        first of ``methods`` (CS-MRI: zero-filled), None without one."""
        return self.methods[0] if self.methods else None

    def with_macro(self, macro: Mapping[str, Any]) -> "Task":
        """This task with the options that an architecture's macro choices name (``macro_options``)
        set to the chosen values: a copy; ``self`` is unchanged. Keys of the engine (``width``) are
        left to the engine; a key this task does not build is one line naming the task's keys."""
        import copy
        import dataclasses

        mine = {k: v for k, v in macro.items() if k not in ENGINE_MACRO_KEYS}
        if not mine:
            return self
        unknown = sorted(set(mine) - set(self.macro_options))
        if unknown:
            raise UserError(f"the architecture chooses {', '.join(unknown)}, which task {self.name} does not build "
                            f"(its macro choices: {', '.join(sorted(self.macro_options)) or 'none'}, and width)")
        clone = copy.copy(self)
        clone.options = dataclasses.replace(self.options, **{self.macro_options[k]: v for k, v in mine.items()})
        return clone

    def macro_space(self, choices: Mapping[str, tuple]) -> dict[str, tuple]:
        """The macro choices of a space that this task builds (the engine's keys and ``macro_options``)."""
        return {k: v for k, v in choices.items() if k in ENGINE_MACRO_KEYS or k in self.macro_options}

    # ---- data (required)
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

    def describe_data(self) -> str:
        return ""

    # ---- model (required: the backbone and the loss)
    @abstractmethod
    def build_model(self, make_module: ModuleFactory) -> nn.Module:
        """The task's backbone around image modules made by ``make_module`` (``in_channels`` -> same)."""

    def build_search_model(self, make_module: ModuleFactory, choices: Mapping[str, tuple], choose) -> nn.Module:
        """The backbone of a search whose space makes this task's macro choices ``choices``
        (``{key: choices}``, keys of ``macro_options``), made with ``choose`` (``choose.layer(key,
        {choice: module})``, ``choose.one_of(key, choices)(tensors)``: see
        :class:`nas_engine.oneshot.supernet.Choose`). Without choices: :meth:`build_model`."""
        if choices:
            raise UserError(f"task {self.name} cannot search its macro choices {', '.join(choices)} "
                            "(it has no build_search_model); use a space without them")
        return self.build_model(make_module)

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Training loss of ``model`` on one batch."""

    def forward(self, model: nn.Module, batch: Any) -> torch.Tensor:
        return model(batch["input"])

    def build_baseline(self, method: str) -> nn.Module:
        """A hand-designed network of this task, trained by ``retrain --method``."""
        raise UserError(f"task {self.name} has no trainable baselines")

    def image_modules(self, model: nn.Module) -> list[nn.Module]:
        """The image modules of ``model`` in order of application (FLOPs/params count these, each
        called on one ``in_channels`` x size x size image). Default: the whole network, for a model
        that maps one image to another; override it where the model takes more than the image or
        where only parts of it should count (csmri: the cascades' CNNs, not the data consistency)."""
        return [model]

    def example_batch(self, size: int, batch: int = 1) -> Any:
        """A batch with real shapes for timing (``forward(model, example_batch(...))``). Default: a
        random ``{"input"}`` of ``batch`` x ``in_channels`` x size x size, what the default
        :meth:`forward` takes; override it with :meth:`forward`."""
        g = torch.Generator().manual_seed(0)
        return {"input": torch.rand(batch, self.in_channels, size, size, generator=g)}

    # ---- evaluation (required: a trained model; optional: non-learned methods)
    @abstractmethod
    def evaluate_model(self, model: nn.Module, save_recons: str | None = None, progress: bool = True) -> dict:
        """Metrics of a trained model on the test split (the results format above)."""

    validation_key: ClassVar[tuple[str, bool]] = ("psnr", True)  # the metric that picks the best epoch; higher is better?

    def validate(self, model: nn.Module) -> tuple[dict[str, float], Any] | None:
        """Metrics of ``model`` on the validation split after a training epoch (``retrain``), and an
        example output as a 2-D array in [0, 1] for TensorBoard (or None); None: no validation."""
        return None

    def evaluate_method(self, method: str, save_recons: str | None = None, progress: bool = True,
                        tune: bool = False) -> dict:
        """Metrics of a non-learned method on the test split; ``tune``: choose its parameters on the
        validation split first (for ``tunable_methods``)."""
        raise UserError(f"task {self.name} has no non-learned methods")

    # ---- new data (optional)
    def reconstruct(self, path: str | None, out: Path, forward: Callable[[Any], torch.Tensor] | None = None,
                    method: str | None = None, batch_size: int = 8, progress: bool = True,
                    device: str = "cpu") -> list[tuple[Path, str]]:
        """Outputs of a trained network (``forward(batch)``, as :meth:`forward` of a model) or of a
        non-learned ``method`` for every input file under
        ``path`` (None: the task's test split), one file each in the folder ``out`` (no targets
        needed); returns ``(file written, how)`` pairs."""
        raise UserError(f"task {self.name} cannot reconstruct new files (`nasengine reconstruct`)")

    def export_signature(self) -> tuple[tuple[str, ...], Callable[[int], tuple], tuple[dict[int, str], ...]]:
        """For ``nasengine export``: the names of the model's positional inputs (keys of a batch),
        ``example(variant)`` -> a tuple of example inputs (variant 1 of other sizes where sizes may
        change), and per input ``{axis: label}`` of the axes that may change size (equal labels,
        equal sizes)."""
        raise UserError(f"task {self.name} does not support export")

    # ---- data files (optional)
    def extra_complexity(self, model: nn.Module, size: int) -> tuple[int, int]:
        """``(flops, params)`` of what a model computes besides its ``image_modules`` and that the
        complexity tables should count (e.g. a multi-coil network's sensitivity CNN and its data
        consistency's FFTs); ``(0, 0)`` by default (Table I counts the image modules only)."""
        return 0, 0

    def weights_hint(self, state: dict) -> str:
        """Why saved weights ``state`` cannot fit this task's model on this data, in one line ("" if
        the task cannot tell): e.g. weights trained on another data layout."""
        return ""

    build_options: ClassVar[tuple[TaskOption, ...]] = ()  # task flags of `data build` (keyword arguments)

    @classmethod
    def data_build(cls, out: str | None, size: int, seed: int, **options) -> str:
        """Build the task's embedded dataset into ``out``; returns where it went. ``options``: the
        values of ``build_options`` given on the command line."""
        raise UserError(f"task {cls.name} has no dataset builder")

    @classmethod
    def data_inspect(cls, path: str) -> str:
        """Check one data file and describe it."""
        raise UserError(f"task {cls.name} has no data files to inspect")

    @classmethod
    def data_build_real(cls, out: str | None, sources: str | None = None) -> str:
        """Build the task's test set of measured data (``data build --real``); returns where it went.
        ``sources``: a folder with the source files already fetched (offline machines)."""
        raise UserError(f"task {cls.name} has no real-data test set")

    @classmethod
    def data_convert(cls, sources: list[str], out: str, single_coil: bool = False, force: bool = False) -> list[str]:
        """Convert raw acquisition files into the task's data format (``data convert``); returns the files."""
        raise UserError(f"task {cls.name} has no raw-data import")

    # ---- for the benchmarks (optional)
    benchmark_references: ClassVar[tuple[str, ...]] = ()  # hand-made rows shown beside `benchmark space` samples
    pareto_references: ClassVar[tuple[str, ...]] = ()  # hand-made rows of `benchmark pareto`
    benchmark_run_first: ClassVar[tuple[str, ...]] = ()  # within a seed, the rows a table's verdict needs most
    complexity_size: ClassVar[int] = 256  # benchmark FLOPs/params are counted for one input of this size

    @classmethod
    def benchmark_tables(cls) -> dict[str, list]:
        """The task's own benchmark tables: ``{name: [nas_engine.rows.Entry, ...]}`` (``nasengine
        benchmark NAME``); the engine adds ``strategies`` and ``pareto``. Empty: none."""
        return {}

    def benchmark_sets(self, table: str) -> list[str]:
        """``--set`` options a table adds by default (CS-MRI's table_mc: 8 simulated coils)."""
        return []

    def check_table(self, table: str) -> None:
        """Refuse, in one line, a table this task's data cannot run (CS-MRI: table_mc on single-coil data)."""

    def benchmark_note(self, table: str) -> str:
        """What the reports say about this task's metrics and complexity counts (a paragraph)."""
        return (f"Test split, metrics per test case, averaged per seed; the table gives the mean over seeds ± "
                f"the std over seeds (no ± with one seed). FLOPs/params: the task's image modules as trained, one "
                f"{self.in_channels}x{self.complexity_size}x{self.complexity_size} input (ptflops).")

    @classmethod
    def paper_psnr(cls, table: str = "table1") -> dict[str, float]:
        """Published PSNR by benchmark row name (the reports' "paper" column) for ``table``; empty: no
        column values."""
        return {}

    def draw_panel(self, entries: list[tuple[str, Any]]) -> Any:
        """A figure of the methods' outputs on test cases, from ``(row name, saved outputs folder)``
        pairs; None: no figure."""
        return None

    # ---- results
    @classmethod
    def result_rows(cls, results: Mapping) -> list[tuple[str, Mapping]]:
        """``(label, metrics)`` rows of a results dict: one per group, then ``all``."""
        groups = results.get(cls.group_key, {}) if cls.group_key else {}
        return [(cls.group_label.format(g), m) for g, m in groups.items()] + [("all", results["overall"])]
