"""The searchable model space, built from NNI's NAS primitives.

Every cell is an ``nni.nas.nn.pytorch.Cell`` created with op *factories* (so that
DARTS gets one architecture vector per edge, the real all-edges supernet) and
the same label, so all cells in all cascades share one genotype (the DARTS
"normal" cell). NNI adds an implicit zero op to every edge: that is the space's
``none``, so ``none`` itself is not passed as a candidate.
"""

from __future__ import annotations

from typing import Any, Callable

from nni.nas.nn.pytorch import Cell, ModelSpace
from torch import nn

from .genotype import CELL_LABEL
from .network import ImageModule, Preprocess


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


class Supernet(ModelSpace):
    """The whole task model (the task's backbone around searchable cells) as one NNI model space."""

    def __init__(self, build: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.net = build()

    def forward(self, *args: Any, **kwargs: Any):
        return self.net(*args, **kwargs)
