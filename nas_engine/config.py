"""Typed configuration: YAML -> dataclasses. Unknown keys are errors naming the nearest valid key.

Sections: ``model`` and ``search``/``train`` belong to the engine; ``data`` holds the
task's own options, validated by the task's options dataclass.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import UserError, did_you_mean


@dataclass
class ModelConfig:
    channels: int = 16  # C
    cells: int = 2  # N
    nodes: int = 3  # M
    checkpoint: bool = False  # gradient checkpointing per cell: less memory, one more forward per step
    precision: int | str = 32  # 32, or bf16: the searched module's convolutions in bfloat16 (autocast)
    bias: bool = False  # biases in the searched/derived module's convolutions (the paper's cells have none)


@dataclass
class SearchConfig:
    epochs: int = 8  # maximum epochs
    patience: int = 3  # stop when the genotype is unchanged for this many epochs (0: never)
    batch_size: int = 4
    arch_batch_size: int = 0  # samples per architecture step (0: batch_size); more averages the alpha gradient's noise
    lr: float = 1e-3  # weights (Adam)
    arc_lr: float = 3e-3  # architecture (Adam, betas 0.5/0.999, wd 1e-3 as DARTS)
    grad_clip: float = 5.0
    alpha_fraction: float = 0.5  # share of training volumes used for the architecture step
    steps_per_epoch: int = 0  # 0: the whole weight split
    warmup_epochs: int = 0  # weight-only epochs before the first architecture step (NNI's warmup)
    op_norm: bool = False  # BatchNorm(affine=False) after each candidate op, in the supernet only
    min_arch_steps: int = 0  # early stop only after this many architecture steps
    strategy: str = "darts"  # darts | gdas | pcdarts | proxyless | spos (nas_engine/oneshot/strategies.py)
    partial_channels: int = 0  # pcdarts: mixed ops on 1/K of the channels (0: the default, 4)
    temperature: list[float] | None = None  # gdas: Gumbel temperature [start, end] (None: [10, 0.1])
    candidates: int = 0  # spos, select=candidates: architectures scored in the trained supernet (0: the default, 100)
    eval_batches: int = 0  # spos, select=perturbation: architecture-split batches per loss measured (0: the default, 8)
    sandwich: bool = False  # spos: every step also trains the deepest path of the same draw (every cascade's weights
    # every step; BigNAS' sandwich rule on depth): deep architectures are then not scored by undertrained blocks
    finetune_steps: int = 0  # spos, select=candidates: each candidate trains its own path this many steps from the supernet's weights
    # (Adam, search.lr, the same weight-split batches for every candidate) before it is scored; 0: scored as shared
    finetune_ladder: list[int] | None = None  # spos, select=candidates: successive halving over the candidates, these fine-tune step
    # counts as its rungs (e.g. [10, 40, 160]): every candidate scored at the first, the best 1/halving_eta of each
    # rung go on to the next, the best of the last is the pick; None: one rung at search.finetune_steps
    halving_eta: int = 0  # spos/select=candidates with finetune_ladder: keep the best 1/eta of each rung (0: the default, 4)
    max_flops: float = 0.0  # spos, select=candidates: score only candidates whose network costs at most this many FLOPs, counted as the
    # benchmark tables count them (ptflops, one input of the task's complexity size); 0: no limit
    proxy: str = ""  # ranked: the zero-cost proxy that orders the candidates (nas_engine/proxies.py; "": synflow)
    train_top: int = 0  # ranked: the best-scored candidates that train (0: the default, 9)
    train_ladder: list[int] | None = None  # ranked: the epoch counts of its successive halving's rungs (None: [1, 3])
    macro_draw: bool = False  # darts: the macro choices (width, cascades, sharing) drawn per step by hard Gumbel as
    # GDAS draws them, the cell still DARTS' mixture (every width and sharing at once costs ~6x a step in space C)
    select: str = "argmax"  # argmax (of the alphas) | perturbation (DARTS-PT: the op whose removal hurts most)
    # | candidates (search.candidates drawn architectures scored in the trained supernet, each after its fine-tune,
    # as spos chooses: darts, gdas, pcdarts)
    cost: str = "none"  # none | flops | latency: add the cell's expected cost to the architecture loss
    cost_weight: float = 0.0  # its weight (the penalty lies in [0, cost_weight])


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 4
    lr: float = 1e-3
    lr_after: float = 1e-4  # after the first half of the epochs (paper: 40 + 40)
    steps_per_epoch: int = 0  # 0: the whole training set
    validate: bool = True  # PSNR/SSIM on the val split after every epoch; checkpoints/best.ckpt keeps the best


@dataclass
class Config:
    task: str = ""  # the registered task's name; the command line fills it in (its default: csmri)
    seed: int = 0
    data_path: str | None = None  # dataset root; None: the task's embedded dataset
    method: str | None = None  # retrain: a task baseline instead of a genotype
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: dict = field(default_factory=dict)  # task options (validated by the task)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against a simple annotation (int, float, bool, str, list[...], X | None)."""
    if isinstance(tp, str):
        tp = eval(tp, {**vars(typing), **vars(types)})  # annotations are strings under `from __future__`
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except UserError:
                pass
        raise UserError(f"{where}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {value!r}")
        (inner, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is Any or tp is dict:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise UserError(f"{where}: expected a string, got {value!r}")
    return value


def from_mapping(cls, data: Mapping, where: str):
    """Build dataclass ``cls`` from ``data``; unknown keys name the nearest valid one."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise UserError(f"{where}: expected a mapping of keys, got {data!r}")
    valid = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in valid:
            hint = did_you_mean(key, valid, cutoff=0.5)
            raise UserError(f"unknown config key {(where + '.' if where else '') + str(key)!r}{hint}"
                            + ("" if hint else f"; valid keys: {', '.join(valid)}"))
        f = valid[key]
        name = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            kwargs[key] = from_mapping(f.default_factory, value, name)
        else:
            kwargs[key] = _coerce(value, f.type, name)
    return cls(**kwargs)


def deep_update(base: dict, new: Mapping) -> dict:
    out = dict(base)
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = v
    return out


def parse_set(items: list[str]) -> dict:
    """``["search.epochs=3", "model.channels=8"]`` -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected key=value, e.g. --set search.epochs=3")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def load_yaml(path: Path) -> dict:
    from .files import read_data_file

    data = read_data_file(path, "config file") or {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config must be a mapping of sections (model:, search:, train:, data:)")
    return data


def check_positive(cfg: Config) -> None:
    """Values that must be positive; one clear line each."""
    checks = {
        "model.channels": cfg.model.channels, "model.cells": cfg.model.cells, "model.nodes": cfg.model.nodes,
        "search.epochs": cfg.search.epochs, "search.batch_size": cfg.search.batch_size,
        "train.epochs": cfg.train.epochs, "train.batch_size": cfg.train.batch_size,
        "search.lr": cfg.search.lr, "search.arc_lr": cfg.search.arc_lr, "train.lr": cfg.train.lr,
    }
    for name, v in checks.items():
        if not v > 0:
            raise UserError(f"{name} must be > 0, got {v}")
    for name, v in {"search.patience": cfg.search.patience, "search.steps_per_epoch": cfg.search.steps_per_epoch,
                    "train.steps_per_epoch": cfg.train.steps_per_epoch, "train.lr_after": cfg.train.lr_after,
                    "search.warmup_epochs": cfg.search.warmup_epochs,
                    "search.min_arch_steps": cfg.search.min_arch_steps,
                    "search.arch_batch_size": cfg.search.arch_batch_size,
                    "search.finetune_steps": cfg.search.finetune_steps}.items():
        if v < 0:
            raise UserError(f"{name} must be >= 0, got {v}")
    if cfg.search.warmup_epochs >= cfg.search.epochs:
        raise UserError(f"search.warmup_epochs ({cfg.search.warmup_epochs}) must be below search.epochs "
                        f"({cfg.search.epochs}), or the architecture is never updated")
    if cfg.model.precision not in (32, "bf16"):
        raise UserError(f"model.precision must be 32 or bf16, got {cfg.model.precision!r}")
    if not 0 <= cfg.seed < 2**32:
        raise UserError(f"seed must lie in [0, 2**32), got {cfg.seed}")
    if not 0 < cfg.search.alpha_fraction < 1:
        raise UserError(f"search.alpha_fraction must lie in (0, 1), got {cfg.search.alpha_fraction}")


def arch_batch_size(cfg: Config) -> int:
    """Samples per architecture step: ``search.arch_batch_size``, or ``search.batch_size`` when 0."""
    return cfg.search.arch_batch_size or cfg.search.batch_size


PRESETS_DIR = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve(
    config: str | None, sets: list[str] | None, overrides: Mapping | None = None,
    task_presets: Mapping[str, Mapping] | None = None, base: Mapping | None = None,
) -> dict:
    """Preset name or YAML path (default ``demo``) + ``--set`` items + CLI overrides -> raw dict.

    A preset's ``data`` section starts from the task's own preset of that name.
    """
    spec = config or "demo"
    if base is not None and config is None:
        raw = dict(base)
    elif (PRESETS_DIR / f"{spec}.yaml").is_file():
        raw = load_yaml(PRESETS_DIR / f"{spec}.yaml")
        raw["data"] = deep_update(dict((task_presets or {}).get(spec, {})), raw.get("data") or {})
    elif spec.endswith((".yaml", ".yml")) or Path(spec).exists():
        raw = load_yaml(Path(spec))
    else:
        raise UserError(f"unknown config preset {spec!r}{did_you_mean(spec, preset_names())}; presets: "
                        f"{', '.join(preset_names())}, or a YAML file")
    raw = deep_update(raw, parse_set(sets or []))
    return deep_update(raw, overrides or {})


def build_config(raw: Mapping) -> Config:
    cfg = from_mapping(Config, raw, "")
    check_positive(cfg)
    return cfg
