"""The image module skeleton shared by the supernet and the fixed network (no NNI here).

``ImageModule``: conv3x3 in->C, conv3x3 C->C, N stacked cells, conv3x3 (M*C)->in.
A cell takes the outputs of the two previous cells (C_{l-2}, C_{l-1}), reduces
each with ReLU + 1x1 conv to C channels, computes M nodes and outputs their
concatenation (M*C channels). All convolutions are bias-free, no normalisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import torch
import torch.utils.checkpoint
from torch import nn

from .genotype import Genotype

if TYPE_CHECKING:
    from .config import Config

# make_cell(index, channels_pp, channels_p) -> a module called as cell([s0, s1]) returning M*C channels
CellBuilder = Callable[[int, int, int], nn.Module]


class Preprocess(nn.Module):
    """ReLU + 1x1 conv on each of the two cell inputs, to ``channels`` each."""

    def __init__(self, c_pp: int, c_p: int, channels: int) -> None:
        super().__init__()
        self.pre0 = nn.Sequential(nn.ReLU(), nn.Conv2d(c_pp, channels, 1, bias=False))
        self.pre1 = nn.Sequential(nn.ReLU(), nn.Conv2d(c_p, channels, 1, bias=False))

    def forward(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [self.pre0(inputs[0]), self.pre1(inputs[1])]


def add_biases(module: nn.Module) -> nn.Module:
    """Give every bias-free ``Conv2d`` in ``module`` a bias, initialised to zero (the function at
    initialisation is unchanged). Works on any op, plugins included, and on NNI's candidates before
    a strategy mutates them."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and child.bias is None:
            child.bias = nn.Parameter(torch.zeros(child.out_channels, dtype=child.weight.dtype,
                                                  device=child.weight.device))
        else:
            add_biases(child)
    return module


class ImageModule(nn.Module):
    """The paper's reconstruction module around a stack of cells; ``in_channels -> in_channels``.
    ``bias``: every convolution gets a bias (the paper's cells have none; see ``model.bias``)."""

    def __init__(self, in_channels: int, channels: int, cells: int, nodes: int, make_cell: CellBuilder,
                 checkpoint: bool = False, precision: int | str = 32, bias: bool = False) -> None:
        super().__init__()
        self.checkpoint = checkpoint  # recompute each cell's activations in the backward pass
        self.bf16 = precision == "bf16"  # the module's convolutions in bfloat16; input and output stay float32
        self.stem0 = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.stem1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.cells = nn.ModuleList()
        c_pp, c_p = channels, channels
        for i in range(cells):
            self.cells.append(make_cell(i, c_pp, c_p))
            c_pp, c_p = c_p, nodes * channels
        self.head = nn.Conv2d(c_p, in_channels, 3, padding=1, bias=False)
        if bias:
            add_biases(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bf16:
            # autocast covers this module only: the task's FFTs and data consistency around it stay in
            # float32 (half-precision FFTs are restricted and inexact)
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self._forward(x).float()
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for cell in self.cells:
            if self.checkpoint and torch.is_grad_enabled():
                # Keep only the cell's inputs; its inner activations (every candidate op of every edge, in
                # the supernet) are recomputed during backward. Non-reentrant: the alphas get gradients too.
                s0, s1 = s1, torch.utils.checkpoint.checkpoint(cell, [s0, s1], use_reentrant=False)
            else:
                s0, s1 = s1, cell([s0, s1])
        return self.head(s1)


class FixedCell(nn.Module):
    """A cell with the genotype's edges only."""

    def __init__(self, genotype: Genotype, c_pp: int, c_p: int, channels: int) -> None:
        super().__init__()
        from search_spaces import get_op

        self.preprocess = Preprocess(c_pp, c_p, channels)
        self.inputs = [[e.input for e in edges] for edges in genotype.cell]
        self.edges = nn.ModuleList(
            nn.ModuleList(get_op(e.op)(channels) for e in edges) for edges in genotype.cell
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        states = self.preprocess(inputs)
        for ins, ops in zip(self.inputs, self.edges):
            states.append(sum(op(states[j]) for j, op in zip(ins, ops)))
        return torch.cat(states[2:], dim=1)


def fixed_module_factory(genotype: Genotype, in_channels: int, channels: int, checkpoint: bool = False,
                         precision: int | str = 32, bias: bool = False) -> Callable[[], nn.Module]:
    """A factory of plain ``nn.Module`` image modules built from ``genotype`` (no NNI import);
    ``checkpoint``: gradient checkpointing per cell; ``bias``: convolutions with biases."""

    def make() -> nn.Module:
        return ImageModule(
            in_channels, channels, genotype.cells, genotype.nodes,
            lambda i, c_pp, c_p: FixedCell(genotype, c_pp, c_p, channels), checkpoint=checkpoint,
            precision=precision, bias=bias,
        )

    return make


def to_channels_last(model: nn.Module) -> nn.Module:
    """Every 4-D weight of ``model`` in channels-last (NHWC) memory order, in place: PyTorch's CPU
    convolutions (oneDNN) then run in NHWC, 1.3-2.7x faster on these networks' depthwise and dilated
    convolutions (benchmarks/results/speed.md), with the same function (float rounding aside: a test).
    The tensors the task sees keep their shapes; only their strides differ. Checkpoints load either way."""
    return model.to(memory_format=torch.channels_last)


def check_memory(build_at: Callable[[int], nn.Module], channels: int, key: str = "model.channels") -> None:
    """Refuse, before allocating it, a network too wide to train here. Its parameter count is a
    quadratic in the width C (convs C x C, biases and norms C), fitted exactly on three narrow
    builds; training holds four copies (weights, gradients, Adam's two moments) before any
    activation. Widths up to 64 are never checked (at most a few MB)."""
    if channels <= 64:
        return
    import numpy as np
    import psutil

    widths = (4, 8, 16)
    counts = [sum(p.numel() for p in build_at(c).parameters()) for c in widths]
    params = float(np.polyval(np.polyfit(widths, counts, 2), channels))
    need, free = 4 * 4 * params, psutil.virtual_memory().available
    if need > free:
        from .errors import UserError

        raise UserError(f"{key}={channels}: the network would have about {params:.2g} parameters, {need / 2**30:.3g} GiB "
                        f"to train (weights, gradients, Adam) before any activation, and this machine has "
                        f"{free / 2**30:.3g} GiB free; choose a smaller {key}")


def build_model(task, cfg: Config, genotype: Genotype | None) -> torch.nn.Module:
    """The network to train: the task's baseline ``cfg.method``, or its backbone around plain
    modules built from ``genotype`` (no NNI). The initial weights are a function of ``cfg.seed``."""
    if cfg.method:
        torch.manual_seed(cfg.seed)
        return task.build_baseline(cfg.method)
    if genotype is None:
        from .errors import UserError

        raise UserError("no genotype and no baseline method given")
    macro = genotype.macro_dict  # the architecture's own width and task choices (cascades, ...) win
    channels = int(macro.get("width", cfg.model.channels))
    task = task.with_macro(macro)
    check_memory(lambda c: task.build_model(fixed_module_factory(genotype, task.in_channels, c)), channels)
    torch.manual_seed(cfg.seed)
    return task.build_model(fixed_module_factory(genotype, task.in_channels, channels,
                                                 cfg.model.checkpoint, cfg.model.precision, cfg.model.bias))


def macro_settings(macro: dict, task_cls) -> dict[str, object]:
    """The config settings a genotype's macro choices stand for, by dotted key: width as ``model.channels``,
    the task's own (e.g. cascades) as its data options."""
    built: dict[str, object] = {}
    for k, v in macro.items():
        if k == "width":
            built["model.channels"] = int(v)
        elif k in task_cls.macro_options:
            built[f"data.{task_cls.macro_options[k]}"] = v
    return built


def apply_macro(genotype: Genotype, task_cls, cfg: Config) -> dict[str, object]:
    """Put a genotype's macro choices into ``cfg`` as they are built (:func:`macro_settings`), so that a run's
    config.yaml records what trained; returns them by dotted key."""
    built = macro_settings(genotype.macro_dict, task_cls)
    for key, v in built.items():
        section, name = key.split(".", 1)
        if section == "model":
            setattr(cfg.model, name, v)
        else:
            cfg.data[name] = v
    return built
