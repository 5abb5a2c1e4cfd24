"""FLOPs and parameters with ptflops (``pytorch`` backend: conv MACs plus bias adds,
plus one op per element for activation modules such as ``nn.ReLU``, as ptflops reports)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Sequence

import torch
from ptflops import get_model_complexity_info

from .config import Config
from .genotype import Genotype
from .network import build_model


def count(module: torch.nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """``(flops, params)`` of ``module`` for one input of ``input_shape`` (C, H, W)."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        flops, params = get_model_complexity_info(
            module, tuple(input_shape), as_strings=False, print_per_layer_stat=False,
            ost=io.StringIO(), backend="pytorch", custom_modules_hooks=_subclass_hooks(module),
        )
    module.train(was_training)
    return int(flops or 0), int(sum(p.numel() for p in module.parameters()))


def _subclass_hooks(module: torch.nn.Module) -> dict:
    """ptflops looks modules up by their exact type: subclasses of the layers it counts (an op's
    ``nn.Conv2d`` with its own backward, a plugin's ``nn.Linear``) get their base class's counter."""
    from ptflops.pytorch_ops import MODULES_MAPPING

    out = {}
    for m in module.modules():
        t = type(m)
        if t not in MODULES_MAPPING and t not in out:
            base = next((b for b in t.__mro__[1:] if b in MODULES_MAPPING), None)
            if base is not None:
                out[t] = MODULES_MAPPING[base]
    return out


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


def network_complexity(task, cfg: Config, method: str | None, genotype: Genotype | None, size: int):
    """``(model, (flops, params), (extra_flops, extra_params))`` of the task's baseline ``method`` or of
    the network ``genotype`` builds (its own width and macro choices) for one input of ``size``: the
    image modules (all cascades) and what the task adds (``Task.extra_complexity``)."""
    torch.manual_seed(0)
    c = Config(**{**cfg.__dict__, "method": method})
    if genotype is not None:
        c.model = dataclasses.replace(c.model, cells=genotype.cells, nodes=genotype.nodes)
    model = build_model(task, c, genotype).eval()
    shape = (task.in_channels, size, size)
    return model, modules_complexity(task.image_modules(model), shape), task.extra_complexity(model, size)


def network_flops(task, cfg: Config, genotype: Genotype, size: int) -> int:
    """FLOPs of the network ``genotype`` builds, counted as the benchmark tables count them."""
    _, (flops, _), (extra, _) = network_complexity(task, cfg, None, genotype, size)
    return flops + extra


def complexity_rows(task, cfg: Config, methods: dict[str, str], genotypes: Sequence[str | Path] = (),
                    size: int = 320, with_latency: bool = True, progress=print) -> list[dict]:
    """FLOPs/params of the reconstruction modules (all cascades, one input of ``size``) and CPU latency per
    slice, for the task's baselines ``methods`` (display name -> method) and searched ``genotypes``."""
    jobs: list[tuple[str, str | None, Genotype | None]] = [(name, m, None) for name, m in methods.items()]
    for g in genotypes:
        geno = Genotype.load(g)
        jobs.append((f"NAS {geno.space} {geno.nodes}n ({g})", None, geno))
    rows = []
    for name, method, geno in jobs:
        model, (flops, params), (extra_flops, extra_params) = network_complexity(task, cfg, method, geno, size)
        row = {"method": name, "flops": flops + extra_flops, "params": params + extra_params}
        if extra_flops or extra_params:
            row.update(extra_flops=extra_flops, extra_params=extra_params)
        paper = task.paper_complexity.get(name) if not (extra_flops or extra_params) else None
        if paper:  # the paper's Table I counts image modules only
            row.update(paper_flops=paper[0], paper_params=paper[1])
        if with_latency:
            batch = task.example_batch(size)
            row["latency_s"] = latency(lambda: task.forward(model, batch))
        rows.append(row)
        progress(f"  {name}: done")
    return rows


def format_complexity(rows: list[dict]) -> str:
    def g(n):
        return f"{n / 1e9:.2f}G"

    def k(n):
        return f"{n / 1e3:.1f}K"

    lines = ["| method | FLOPs | params | paper FLOPs | paper params | CPU latency / slice |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        pf = f"{g(r['paper_flops'])} ({100 * (r['flops'] / r['paper_flops'] - 1):+.2f}%)" if "paper_flops" in r else "-"
        pp = f"{k(r['paper_params'])} ({100 * (r['params'] / r['paper_params'] - 1):+.2f}%)" if "paper_params" in r else "-"
        lat = f"{r['latency_s']:.3f} s" if "latency_s" in r else "-"
        lines.append(f"| {r['method']} | {g(r['flops'])} | {k(r['params'])} | {pf} | {pp} | {lat} |")
    return "\n".join(lines)
