"""Gradient checkpointing per cell (``model.checkpoint``) trades memory for a second forward pass and
must not change a single number: same outputs, same weight gradients, same architecture gradients."""

import random

import torch

from nas_engine.genotype import Genotype
from nas_engine.network import fixed_module_factory
from search_spaces import load_space


def grads(model, x):
    model.zero_grad()
    out = model(x)
    (out ** 2).mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_fixed_network_same_gradients_with_checkpointing():
    g = Genotype.random("A", load_space("A").ops, 3, 3, random.Random(1))
    torch.manual_seed(0)
    plain = fixed_module_factory(g, 2, 8)()
    torch.manual_seed(0)
    ckpt = fixed_module_factory(g, 2, 8, checkpoint=True)()
    x = torch.randn(2, 2, 20, 20)
    (a, ga), (b, gb) = grads(plain, x), grads(ckpt, x)
    assert torch.equal(a, b)
    assert ga.keys() == gb.keys() and len(ga) > 10
    assert all(torch.allclose(ga[k], gb[k], rtol=1e-5, atol=1e-7) for k in ga)


def test_supernet_same_weight_and_alpha_gradients_with_checkpointing():
    """With op_norm's BatchNorm too: its recomputation in backward must not change the gradients."""
    from nas_engine.oneshot.strategies import DARTS
    from nas_engine.oneshot.supernet import Supernet, searchable_module_factory

    space = load_space("A")
    nets = []
    for checkpoint in (False, True):
        torch.manual_seed(0)
        make = searchable_module_factory(space, 2, 8, 2, 3, op_norm=True, checkpoint=checkpoint)
        nets.append(DARTS().mutate_model(Supernet(make)))
    x = torch.randn(2, 2, 12, 12)
    (a, ga), (b, gb) = grads(nets[0], x), grads(nets[1], x)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    alphas = [k for k in ga if "_arch_alpha" in k]
    assert len(alphas) == 9 and set(alphas) <= set(gb)  # one vector per edge (2+3+4), all with gradients
    assert ga.keys() == gb.keys()
    assert all(torch.allclose(ga[k], gb[k], rtol=1e-4, atol=1e-6) for k in ga)


def test_bf16_precision_runs_the_module_in_bfloat16_and_returns_float32():
    g = Genotype.random("A", load_space("A").ops, 2, 3, random.Random(2))
    torch.manual_seed(0)
    plain = fixed_module_factory(g, 2, 8)()
    torch.manual_seed(0)
    half = fixed_module_factory(g, 2, 8, precision="bf16")()
    seen = []
    half.cells[0].preprocess.pre0[1].register_forward_hook(lambda m, a, o: seen.append(o.dtype))
    x = torch.randn(2, 2, 16, 16)
    a, b = plain(x), half(x)
    assert seen == [torch.bfloat16] and b.dtype == torch.float32
    assert 0 < (a - b).abs().max() < 0.05 * a.abs().max()  # bfloat16 keeps ~3 significant digits
    (b ** 2).mean().backward()
    assert all(p.grad.dtype == torch.float32 for p in half.parameters())  # the weights stay float32
