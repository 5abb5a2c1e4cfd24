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


# ---------------------------------------------------------------- space C's ops: unlike cost and character
class ReLUConv(nn.Module):
    """ReLU, then a dense (every channel to every channel) ``kernel`` x ``kernel`` conv; shape-preserving."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation (Hu et al., 2018), as RCAN's channel attention: the input rescaled per
    channel by a gate computed from its global average (1x1 reduce by ``reduction``, ReLU, 1x1,
    sigmoid). No spatial mixing; cost ~ one multiply per pixel."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(),
                                  nn.Conv2d(hidden, channels, 1, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


@register_op("conv_3x3")
def conv_3x3(channels: int) -> nn.Module:
    return ReLUConv(channels, 3)


@register_op("conv_1x1")
def conv_1x1(channels: int) -> nn.Module:
    return ReLUConv(channels, 1)


@register_op("sep_conv_5x5")
def sep_conv_5x5(channels: int) -> nn.Module:
    return SepConv(channels, (5, 5))


@register_op("channel_attention")
def channel_attention(channels: int) -> nn.Module:
    return ChannelAttention(channels)
