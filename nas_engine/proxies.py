"""Zero-cost proxies: scores of an untrained network, computed from a few training batches, that claim to
predict how well it trains (Abdelfattah et al. 2021, "Zero-Cost Proxies for Lightweight NAS"; ZiCo, Li et al.
2023). They were designed and checked on image classification; whether they rank a reconstruction space is
what ``nasengine benchmark pool`` measures, next to counting FLOPs.

Each proxy: higher is better, the network freshly initialised (seed ``seed``), in training mode, on the
same ``batches`` for every architecture, through the task's own loss (``task.loss``), so nothing here knows
the task:

- ``grad_norm``: the L2 norm of the loss gradient over every weight (mean over batches).
- ``snip``: sum over weights of |w * dL/dw| (connection sensitivity, Lee et al. 2019; mean over batches).
- ``synflow``: sum over weights of |w * dR/dw| with every weight made positive and R the sum of the
  network's output magnitude, in float64 (Tanaka et al. 2020), on the first batch rather than an all-ones
  input (the task's input is a measurement, not an image of ones; with signed inputs the terms are no
  longer all positive, hence their magnitude); reported as its log10.
- ``zico``: sum over weight tensors of log(sum over its weights of mean |g| / std g), the gradient's mean
  magnitude against its spread over the batches (Li et al. 2023; needs two or more batches).

    from nas_engine.proxies import proxy_batches, score_proxies
    batches = proxy_batches(task, cfg)                  # the same batches for every architecture
    score_proxies(task, cfg, genotype, batches)         # {"grad_norm": ..., ..., "cpu_s": ...}
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch

from .config import Config
from .genotype import Genotype
from .network import build_model
from .sampling import first_batches

PROXIES = ("grad_norm", "snip", "synflow", "zico")
DEFAULT_BATCHES = 4


def proxy_batches(task, cfg: Config, n: int = DEFAULT_BATCHES, seed: int = 0, dataset=None) -> list:
    """The first ``n`` batches (``train.batch_size``) of ``dataset`` (default: the training split) in a fixed
    order of ``seed``."""
    out = first_batches(task, dataset if dataset is not None else task.train_dataset(), cfg.train.batch_size, seed, n)
    if not out:
        raise ValueError("the training split has no batch to score a proxy on")
    return out


def _weights(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _grads(task, model, batch) -> list[torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    task.loss(model, batch).backward()
    return [None if p.grad is None else p.grad.detach().clone() for _, p in _weights(model)]


def _to_double(x):
    if isinstance(x, torch.Tensor):
        return x.to(torch.complex128) if x.is_complex() else x.double() if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: _to_double(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_double(v) for v in x)
    return x


def _synflow(task, model, batch) -> float:
    model = model.double()
    with torch.no_grad():
        for _, p in _weights(model):
            p.abs_()
    model.zero_grad(set_to_none=True)
    out = task.forward(model, _to_double(batch))
    out.abs().sum().backward()
    with torch.no_grad():
        total = sum(float((p * p.grad).abs().sum()) for _, p in _weights(model) if p.grad is not None)
    return math.log10(total) if total > 0 else float("-inf")


def _zico(grads: list[list[torch.Tensor | None]]) -> float:
    total = 0.0
    for per_batch in zip(*grads):
        if any(g is None for g in per_batch):
            continue
        g = torch.stack([x.flatten() for x in per_batch]).double()
        mean, std = g.abs().mean(0), g.std(0)
        keep = std > 0
        s = float((mean[keep] / std[keep]).sum())
        if s > 0:
            total += math.log(s)
    return total


def score_proxies(task, cfg: Config, genotype: Genotype, batches: list, proxies=PROXIES, seed: int = 0) -> dict:
    """Each proxy of ``genotype``'s network (built as ``retrain`` builds it, weights of ``seed``), and the
    process CPU seconds they took together (``cpu_s``)."""
    unknown = [p for p in proxies if p not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxy {unknown[0]!r}; known: {', '.join(PROXIES)}")
    t0 = time.process_time()
    cfg = dataclasses.replace(cfg, seed=seed)  # the weights of ``seed``

    def fresh() -> torch.nn.Module:
        return build_model(task, cfg, genotype).train()

    out: dict[str, float] = {}
    if {"grad_norm", "snip", "zico"} & set(proxies):
        model = fresh()
        weights = [p.detach() for _, p in _weights(model)]
        grads = [_grads(task, model, b) for b in batches]
        n = len(grads)
        if "grad_norm" in proxies:
            out["grad_norm"] = sum(math.sqrt(sum(float((x ** 2).sum()) for x in g if x is not None))
                                   for g in grads) / n
        if "snip" in proxies:
            out["snip"] = sum(sum(float((w * x).abs().sum()) for w, x in zip(weights, g) if x is not None)
                              for g in grads) / n
        if "zico" in proxies:
            if n < 2:
                raise ValueError("zico needs two or more batches")
            out["zico"] = _zico(grads)
    if "synflow" in proxies:
        out["synflow"] = _synflow(task, fresh(), batches[0])
    out["cpu_s"] = time.process_time() - t0
    return out
