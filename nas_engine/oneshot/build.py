"""The one-shot model of a search: the task's backbone around searchable cells (and macro choices) as
an NNI model space, mutated by the configured strategy and wrapped in its Lightning module."""

from __future__ import annotations

from ..config import Config
from ..training import TaskModule
from .cost import make_penalty
from .strategies import get_strategy
from .supernet import Choose, Supernet, macro_module_factory, searchable_module_factory


def build_supernet(task, space, cfg: Config, channels: int | None = None) -> Supernet:
    """The task's backbone around searchable cells; with a space's macro choices (those the task
    builds), the width as one more choice of the image module and the task's own choices made by
    :meth:`Task.build_search_model`."""
    m = cfg.model
    macro = task.macro_space(space.macro_choices)
    op_channels = get_strategy(cfg).op_channels(cfg)

    def make_at(width: int):
        op_width = op_channels * width // m.channels  # pcdarts: ops see 1/K of the channels
        return searchable_module_factory(space, task.in_channels, width, m.cells, m.nodes, cfg.search.op_norm,
                                         m.checkpoint, op_channels=op_width, precision=m.precision, bias=m.bias)

    if not macro:
        make = make_at(channels or m.channels)
        return Supernet(lambda: task.build_model(make))
    choose = Choose()
    make = macro_module_factory(make_at, macro.get("width", (channels or m.channels,)), choose)
    own = {k: v for k, v in macro.items() if k != "width"}
    return Supernet(lambda: task.build_search_model(make, own, choose), choose)


def derive_macro(oneshot, choose: Choose | None, space) -> tuple:
    """The macro choices with the largest probability (the space's key order), with their
    probabilities: ``(((key, choice), ...), {key: {choice: p}})``."""
    if choose is None or not choose.choices:
        return (), {}
    probs = choose.probabilities(oneshot.export_probs())
    order = [k for k in space.macro_choices if k in probs]
    return tuple((k, max(probs[k], key=probs[k].get)) for k in order), probs


def build_oneshot(task, space, cfg: Config):
    """The configured NNI strategy (``search.strategy``) and its one-shot Lightning module around the
    task's supernet."""
    spec = get_strategy(cfg)
    strategy = spec.build(cfg)
    raw = build_supernet(task, space, cfg)
    supernet = strategy.mutate_model(raw)
    module = TaskModule(task, supernet, lr=cfg.search.lr, darts=True, choose=raw.choose,
                        penalty=make_penalty(supernet, space, spec.op_channels(cfg), cfg))
    return strategy, strategy.configure_oneshot_module(module)
