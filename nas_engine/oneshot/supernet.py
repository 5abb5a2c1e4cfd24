"""The searchable model space, built from NNI's NAS primitives.

Every cell is an ``nni.nas.nn.pytorch.Cell`` created with op *factories* (so that
DARTS gets one architecture vector per edge, the real all-edges supernet) and
the same label, so all cells in all cascades share one genotype (the DARTS
"normal" cell). NNI adds an implicit zero op to every edge: that is the space's
``none``, so ``none`` itself is not passed as a candidate.
"""

from __future__ import annotations

from typing import Any, Callable

from nni.nas.nn.pytorch import Cell, InputChoice, LayerChoice, ModelSpace
from torch import nn

from ..network import ImageModule, Preprocess
from .labels import CELL_LABEL, macro_label, macro_probabilities


def _op_candidates(space, channels: int, op_norm: bool = False) -> dict[str, Callable[..., nn.Module]]:
    from search_spaces import get_op

    def make(f):
        if op_norm:  # search only: every candidate's output at unit scale (DARTS' BN(affine=False))
            return nn.Sequential(f(channels), nn.BatchNorm2d(channels, affine=False))
        return f(channels)

    return {name: (lambda node_index, op_index, input_index, f=get_op(name): make(f)) for name in space.searchable_ops}


def searchable_module_factory(space, in_channels: int, channels: int, cells: int, nodes: int,
                              op_norm: bool = False, checkpoint: bool = False,
                              op_channels: int | None = None, precision: int | str = 32,
                              bias: bool = False) -> Callable[[], nn.Module]:
    """A factory of image modules whose cells are NNI ``Cell`` mutables labelled ``normal``.

    ``op_norm`` puts ``BatchNorm2d(affine=False)`` after every candidate op, so the architecture
    weights compare ops at the same output scale rather than their initial magnitudes (skip 1.0,
    separable convs ~0.2, ...). It exists in the supernet only; the derived network has none.
    ``checkpoint``: gradient checkpointing per cell (the candidate ops' activations, most of the
    search's memory, are recomputed in the backward pass). ``op_channels``: width of the candidate
    ops when it differs from the cell's (PC-DARTS runs them on 1/K of the channels).
    """

    def make_cell(i: int, c_pp: int, c_p: int) -> nn.Module:
        return Cell(
            _op_candidates(space, op_channels or channels, op_norm),
            num_nodes=nodes,
            num_ops_per_node=2,
            num_predecessors=2,
            merge_op="all",
            preprocessor=Preprocess(c_pp, c_p, channels),
            label=CELL_LABEL,
        )

    return lambda: ImageModule(in_channels, channels, cells, nodes, make_cell, checkpoint=checkpoint,
                               precision=precision, bias=bias)


class Choose:
    """How a searchable backbone makes its macro choices: NNI mutables labelled ``macro_<key>``, and
    the way back from NNI's sampled/exported values to the genotype's (``decode``) and from a
    genotype to NNI's label dict (``encode``). Mutables made twice under one key share one decision."""

    def __init__(self) -> None:
        self.choices: dict[str, tuple] = {}
        self.inputs: set[str] = set()  # keys chosen by InputChoice (values are input indices)

    def _remember(self, key: str, choices) -> str:
        choices = tuple(choices)
        if self.choices.setdefault(key, choices) != choices:
            raise ValueError(f"macro choice {key!r} made with {choices} and {self.choices[key]}")
        return macro_label(key)

    def layer(self, key: str, candidates: dict) -> nn.Module:
        """One of ``candidates`` (``{choice: module}``), the same one wherever ``key`` is chosen."""
        label = self._remember(key, candidates)
        return LayerChoice({str(c): m for c, m in candidates.items()}, label=label)

    def one_of(self, key: str, choices) -> nn.Module:
        """A module called on a list of tensors, one per choice, that returns the chosen one."""
        label = self._remember(key, choices)
        self.inputs.add(key)
        return InputChoice(n_candidates=len(self.choices[key]), n_chosen=1, reduction="sum", label=label)

    def decode(self, key: str, value):
        """NNI's value of ``macro_<key>`` (a candidate's name; an input index, or a list of one) -> the choice."""
        choices = self.choices[key]
        if key in self.inputs:
            return choices[int(value[0] if isinstance(value, (list, tuple)) else value)]
        return next(c for c in choices if str(c) == str(value))

    def encode(self, macro: dict, only_given: bool = False) -> dict:
        """The genotype's macro choices as NNI's label dict (for ``resample(memo)``); ``only_given``:
        the keys of ``macro`` alone (the others are left to the memo's own draw)."""
        return {macro_label(key): [choices.index(macro[key])] if key in self.inputs else str(macro[key])
                for key, choices in self.choices.items() if not only_given or key in macro}

    def probabilities(self, probs: dict) -> dict[str, dict]:
        """``{key: {choice: p}}`` from NNI's ``export_probs()`` (the macro labels only)."""
        found = macro_probabilities(probs)
        return {key: {self.decode(key, v): float(p) for v, p in found[key].items()} for key in self.choices if key in found}


def macro_module_factory(make_at: Callable[[int], Callable[[], nn.Module]], widths, choose: Choose) -> Callable[[], nn.Module]:
    """Image modules whose width is a macro choice (``widths``: one module per width inside one
    ``LayerChoice``; their cells share the cell's decisions); one width: that module alone."""
    widths = tuple(widths)
    if len(widths) == 1:
        return make_at(widths[0])
    return lambda: choose.layer("width", {w: make_at(w)() for w in widths})


GUMBEL_DRAWS: dict = {}  # label -> this forward pass's hard Gumbel sample of a macro choice (GDAS)


class Supernet(ModelSpace):
    """The whole task model (the task's backbone around searchable cells) as one NNI model space;
    ``choose``: its macro choices (None: a cell-only space)."""

    def __init__(self, build: Callable[[], nn.Module], choose: Choose | None = None) -> None:
        super().__init__()
        self.net = build()
        self.choose = choose

    def forward(self, *args: Any, **kwargs: Any):
        GUMBEL_DRAWS.clear()  # GDAS: macro choices are drawn afresh for every pass (oneshot/strategies.py)
        return self.net(*args, **kwargs)
