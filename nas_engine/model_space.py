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


def _op_candidates(space, channels: int) -> dict[str, Callable[..., nn.Module]]:
    from search_spaces import get_op

    return {name: (lambda node_index, op_index, input_index, f=get_op(name): f(channels)) for name in space.searchable_ops}


def searchable_module_factory(space, in_channels: int, channels: int, cells: int, nodes: int) -> Callable[[], nn.Module]:
    """A factory of image modules whose cells are NNI ``Cell`` mutables labelled ``normal``."""

    def make_cell(i: int, c_pp: int, c_p: int) -> nn.Module:
        return Cell(
            _op_candidates(space, channels),
            num_nodes=nodes,
            num_ops_per_node=2,
            num_predecessors=2,
            merge_op="all",
            preprocessor=Preprocess(c_pp, c_p, channels),
            label=CELL_LABEL,
        )

    return lambda: ImageModule(in_channels, channels, cells, nodes, make_cell)


class SearchSpace(ModelSpace):
    """The whole task model (e.g. MRI cascades) as one NNI model space."""

    def __init__(self, build: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.net = build()

    def forward(self, *args: Any, **kwargs: Any):
        return self.net(*args, **kwargs)
