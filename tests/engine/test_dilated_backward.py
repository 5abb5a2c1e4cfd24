"""The dilated depthwise convolution's backward lever: the same gradients as ``nn.Conv2d``'s, the
same parameters, outputs and FLOPs."""

import pytest
import torch
from torch import nn

import search_spaces.ops as ops
from nas_engine.complexity import count
from search_spaces.ops import DilatedDepthwiseConv2d, SepConv


def pair(dilation: int, kernel=(3, 3), bias: bool = False, dtype=torch.float64):
    torch.manual_seed(0)
    fast = DilatedDepthwiseConv2d(6, kernel, dilation, bias=bias).to(dtype)
    ref = nn.Conv2d(6, 6, kernel, padding=fast.padding, dilation=dilation, groups=6, bias=bias).to(dtype)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def grads(module, x):
    x = x.detach().clone().requires_grad_(True)
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)).sum().backward()
    return out, [x.grad] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("dilation,kernel,bias,channels_last", [(2, (3, 3), False, True), (3, (3, 3), True, True),
                                                                 (2, (3, 3), True, False), (2, (5, 5), False, True)])
def test_gradients_equal_nn_conv2d(dilation, kernel, bias, channels_last):
    fast, ref = pair(dilation, kernel, bias)
    x = torch.randn(2, 6, 19, 17, dtype=torch.float64)  # odd sizes: no shape the lever relies on
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        fast, ref = fast.to(memory_format=torch.channels_last), ref.to(memory_format=torch.channels_last)
    out_f, g_f = grads(fast.train(), x)
    out_r, g_r = grads(ref.train(), x)
    assert torch.equal(out_f, out_r)
    assert len(g_f) == len(g_r) == 2 + bias
    for a, b in zip(g_f, g_r):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: fast(t), (x[:1, :, :7, :6].detach().clone().requires_grad_(True),))


def test_float32_gradients_within_rounding_and_the_lever_runs():
    fast, ref = pair(2, dtype=torch.float32)
    x = torch.randn(4, 6, 24, 24)
    calls = []
    orig = ops._DilatedDepthwise.backward
    ops._DilatedDepthwise.backward = staticmethod(lambda ctx, g: calls.append(1) or orig(ctx, g))
    try:
        _, g_f = grads(fast.train(), x)
    finally:
        ops._DilatedDepthwise.backward = staticmethod(orig)
    _, g_r = grads(ref.train(), x)
    assert calls == [1]  # the lever's backward ran
    for a, b in zip(g_f, g_r):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())


def test_evaluation_export_paths_and_flops_are_nn_conv2d_s():
    fast, ref = pair(2, dtype=torch.float32)
    x = torch.randn(1, 6, 20, 20)
    with torch.no_grad():
        assert torch.equal(fast.eval()(x), ref.eval()(x))
    assert list(fast.state_dict()) == list(ref.state_dict()) == ["weight"]
    traced = torch.jit.trace(fast.eval(), (x,))
    assert torch.equal(traced(x), ref(x))
    # ptflops finds modules by exact type: the subclass is counted as a Conv2d
    assert count(fast, (6, 20, 20)) == count(ref, (6, 20, 20)) and count(fast, (6, 20, 20))[0] > 0
    class PluginConv(nn.Conv2d):  # any subclass of a layer ptflops counts is counted as that layer
        pass

    plugin = PluginConv(6, 6, 3, padding=1)
    plain = nn.Conv2d(6, 6, 3, padding=1)
    assert count(plugin, (6, 20, 20)) == count(plain, (6, 20, 20))
    sep = SepConv(6, dilation=2)
    assert isinstance(sep.op[1], DilatedDepthwiseConv2d) and not isinstance(SepConv(6).op[1], DilatedDepthwiseConv2d)
