"""Built-in operations. Each is a factory ``(channels) -> nn.Module`` mapping C x H x W -> C x H x W.

All convolutions are bias-free and there is no normalisation (the paper's choice,
to keep the complex phase; ``model.bias: true`` adds zero-initialised biases to every conv of
the image module, these ops included). Separable convs are ReLU -> depthwise k x k -> pointwise 1x1.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_op


class SepConv(nn.Module):
    """ReLU, depthwise ``kernel`` conv (optionally dilated), pointwise 1x1; shape-preserving."""

    def __init__(self, channels: int, kernel: tuple[int, int] = (3, 3), dilation: int = 1) -> None:
        super().__init__()
        pad = (dilation * (kernel[0] - 1) // 2, dilation * (kernel[1] - 1) // 2)
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel, padding=pad, dilation=dilation, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: outputs zeros (an edge that is absent)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


@register_op("sep_conv_3x3")
def sep_conv_3x3(channels: int) -> nn.Module:
    return SepConv(channels, (3, 3))


@register_op("dil_2_conv_3x3")
def dil_2_conv_3x3(channels: int) -> nn.Module:
    return SepConv(channels, (3, 3), dilation=2)


@register_op("dil_3_conv_3x3")
def dil_3_conv_3x3(channels: int) -> nn.Module:
    return SepConv(channels, (3, 3), dilation=3)


@register_op("conv_9x1_1x9")
def conv_9x1_1x9(channels: int) -> nn.Module:
    return nn.Sequential(SepConv(channels, (9, 1)), SepConv(channels, (1, 9)))


@register_op("skip_connect")
def skip_connect(channels: int) -> nn.Module:
    return nn.Identity()


@register_op("none")
def none(channels: int) -> nn.Module:
    return Zero()
