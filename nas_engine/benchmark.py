"""``nasengine benchmark``: complexity of the task's baselines and searched networks (Table I columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .complexity import latency, modules_complexity
from .config import Config
from .genotype import Genotype
from .train import build_model


def complexity_rows(task, cfg: Config, methods: dict[str, str], genotypes: Sequence[str | Path] = (),
                    size: int = 320, with_latency: bool = True, progress=print) -> list[dict]:
    """FLOPs/params of the reconstruction modules (all cascades, one input of ``size``) and CPU latency per
    slice, for the task's baselines ``methods`` (display name -> method) and searched ``genotypes``."""
    shape = (task.in_channels, size, size)
    jobs: list[tuple[str, str | None, Genotype | None]] = [(name, m, None) for name, m in methods.items()]
    for g in genotypes:
        geno = Genotype.load(g)
        jobs.append((f"NAS {geno.space} {geno.nodes}n ({g})", None, geno))
    rows = []
    for name, method, geno in jobs:
        torch.manual_seed(0)
        c = Config(**{**cfg.__dict__, "method": method})
        if geno is not None:
            c.model.cells, c.model.nodes = geno.cells, geno.nodes
        model = build_model(task, c, geno).eval()
        flops, params = modules_complexity(task.recon_modules(model), shape)
        row = {"method": name, "flops": flops, "params": params}
        paper = task.paper_complexity.get(name)
        if paper:
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
