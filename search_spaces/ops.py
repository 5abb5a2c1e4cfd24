"""Built-in operations. Each is a factory ``(channels) -> nn.Module`` mapping C x H x W -> C x H x W.

All convolutions are bias-free and there is no normalisation (the paper's choice,
to keep the complex phase; ``model.bias: true`` adds zero-initialised biases to every conv of
the image module, these ops included). Separable convs are ReLU -> depthwise k x k -> pointwise 1x1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .registry import register_op

DILATED_BACKWARD = True  # the speed lever below; benchmarks/speed.py turns it off to measure it


class _DilatedDepthwise(torch.autograd.Function):
    """A dilated depthwise convolution (stride 1, "same" padding) whose backward pass computes the
    input's gradient as the forward convolution with the kernel flipped, and the weight's gradient
    alone: on CPU the combined backward kernel of a dilated depthwise convolution costs ~30x its
    forward (3.7 against 0.11 ms at 16 channels, batch 4, 96x96, channels-last); the two calls
    ~1.4 ms. The same gradients to float rounding (tests/engine/test_dilated_backward.py)."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.conf = (padding, dilation, bias is not None)
        return F.conv2d(x, weight, bias, 1, padding, dilation, weight.shape[0])

    @staticmethod
    @once_differentiable  # first-order only (the engine's DARTS is first order): a second derivative is an error
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        padding, dilation, has_bias = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:  # the transposed convolution of a stride-1 "same" one: flip the kernel
            gx = F.conv2d(grad, weight.flip(-1, -2), None, 1, padding, dilation, weight.shape[0])
        if ctx.needs_input_grad[1]:
            gw = torch.ops.aten.convolution_backward(grad, x, weight, None, [1, 1], list(padding), list(dilation),
                                                     False, [0, 0], weight.shape[0], [False, True, False])[1]
        if has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3))
        return gx, gw, gb, None, None


class DilatedDepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(C, C, k, padding=d * (k - 1) // 2, dilation=d, groups=C)`` (the same parameters and
    state dict) that trains through :class:`_DilatedDepthwise` on CPU; evaluation, autocast, tracing and
    export take ``nn.Conv2d``'s own path. ``nasengine.complexity`` counts it as a ``Conv2d``."""

    def __init__(self, channels: int, kernel: tuple[int, int], dilation: int, bias: bool = False) -> None:
        pad = (dilation * (kernel[0] - 1) // 2, dilation * (kernel[1] - 1) // 2)
        super().__init__(channels, channels, kernel, padding=pad, dilation=dilation, groups=channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (DILATED_BACKWARD and self.training and torch.is_grad_enabled() and x.device.type == "cpu" and not torch.jit.is_scripting()
                and not torch.jit.is_tracing() and not torch.is_autocast_enabled("cpu")):
            return _DilatedDepthwise.apply(x, self.weight, self.bias, self.padding, self.dilation)
        return super().forward(x)


class SepConv(nn.Module):
    """ReLU, depthwise ``kernel`` conv (optionally dilated), pointwise 1x1; shape-preserving."""

    def __init__(self, channels: int, kernel: tuple[int, int] = (3, 3), dilation: int = 1) -> None:
        super().__init__()
        pad = (dilation * (kernel[0] - 1) // 2, dilation * (kernel[1] - 1) // 2)
        depthwise = (DilatedDepthwiseConv2d(channels, kernel, dilation) if dilation > 1 else
                     nn.Conv2d(channels, channels, kernel, padding=pad, dilation=dilation, groups=channels, bias=False))
        self.op = nn.Sequential(nn.ReLU(inplace=False), depthwise, nn.Conv2d(channels, channels, 1, bias=False))

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
