"""FLOPs and parameters with ptflops (``pytorch`` backend: conv MACs plus bias adds,
plus one op per element for activation modules such as ``nn.ReLU``, as ptflops reports)."""

from __future__ import annotations

import io
from typing import Sequence

import torch
from ptflops import get_model_complexity_info


def count(module: torch.nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """``(flops, params)`` of ``module`` for one input of ``input_shape`` (C, H, W)."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        flops, params = get_model_complexity_info(
            module, tuple(input_shape), as_strings=False, print_per_layer_stat=False,
            ost=io.StringIO(), backend="pytorch",
        )
    module.train(was_training)
    return int(flops or 0), int(sum(p.numel() for p in module.parameters()))


def human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def modules_complexity(modules: Sequence[torch.nn.Module], input_shape: Sequence[int]) -> tuple[int, int]:
    """FLOPs summed over every application (a module shared by cascades counts once per cascade);
    parameters counted once per distinct tensor."""
    flops = sum(count(m, input_shape)[0] for m in modules)
    seen: set[int] = set()
    params = 0
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params += p.numel()
    return flops, params


def latency(fn, repeats: int = 3) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after one warm-up, without autograd."""
    import statistics
    import time

    with torch.no_grad():
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return statistics.median(times)
