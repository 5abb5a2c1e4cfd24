"""Why do the searched cells underfit in the bench regime? Short trainings of one genotype under
variants (learning rate, biases, initialisation, width) next to DCCNN-3, same data, same seed,
same batch order, constant learning rate; per-epoch training L1 and test PSNR.

    python benchmarks/probes/probe_underfit.py --genotype benchmarks/results/bias_free/table1/nas_a_3n/seed0/genotype.json \
        --epochs 4 [--variants base,lr3e-3,bias,kaiming,dccnn-3] [--out benchmarks/results/probe]

Writes ``probe.json`` (resumable: variants already in it are skipped) and ``probe.md``.
A variant is a name from VARIANTS; this is a diagnostic, not part of the engine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import tasks.csmri  # noqa: E402,F401  (registers the task)
from nas_engine.config import build_config, resolve  # noqa: E402
from nas_engine.files import write_json  # noqa: E402
from nas_engine.genotype import Genotype  # noqa: E402
from nas_engine.network import fixed_module_factory  # noqa: E402
from nas_engine.sampling import seeded_loader, start_epoch  # noqa: E402
from nas_engine.task import get_task  # noqa: E402


def kaiming(module: nn.Module) -> nn.Module:
    """He initialisation (fan_in, ReLU gain) instead of PyTorch's default (which shrinks the signal ~3x
    in variance per conv); the last conv of each image module stays small, so each cascade starts
    near the identity."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    for m in convs:
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return module


def build(task, genotype, variant: str, channels: int):
    """A variant is ``+``-joined parts: a baseline name (``dccnn-3``) or ``base``/``wide`` for the
    genotype, then ``bias``, ``kaiming``, ``lrX``."""
    head = variant.split("+")[0]
    if head.startswith("dccnn") or head.startswith("modl"):
        return task.build_baseline(head)
    if variant.startswith("wide"):
        genotype = dataclasses.replace(genotype, cells=3)
        channels = 32
    model = task.build_model(fixed_module_factory(genotype, task.in_channels, channels, bias="bias" in variant))
    if "kaiming" in variant:
        for block in task.image_modules(model):
            kaiming(block)
    return model


def lr_of(variant: str, default: float) -> float:
    for part in variant.split("+"):
        if part.startswith("lr"):
            return float(part[2:])
    return default


def train(task, model, cfg, epochs: int, lr: float) -> list[float]:
    ds = task.train_dataset()
    loader = seeded_loader(ds, cfg.train.batch_size, cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        start_epoch(task, loader, epoch)
        model.train()
        total, n, t0 = 0.0, 0, time.perf_counter()
        for batch in loader:
            loss = task.loss(model, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()), n + 1
        losses.append(total / n)
        print(f"  epoch {epoch + 1}/{epochs}  loss {losses[-1]:.4f}  {time.perf_counter() - t0:.0f}s", flush=True)
    return losses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--genotype", required=True)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--preset", default="bench")
    p.add_argument("--variants", default="base,lr3e-3,bias,kaiming,dccnn-3")
    p.add_argument("--out", default="benchmarks/results/probe")
    args = p.parse_args()
    task_cls = get_task("csmri")
    cfg = build_config(resolve(args.preset, None, {"task": "csmri"}, task_cls.presets))
    task = task_cls(cfg.data, data=cfg.data_path, seed=cfg.seed)
    genotype = Genotype.load(args.genotype)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "probe.json"
    done = json.loads(store.read_text()) if store.exists() else {}
    for variant in args.variants.split(","):
        key = f"{variant} x{args.epochs}"
        if key in done:
            print(f"{key}: done already")
            continue
        torch.manual_seed(cfg.seed)
        model = build(task, genotype, variant, cfg.model.channels)
        lr = lr_of(variant, cfg.train.lr)
        params = sum(q.numel() for q in model.parameters())
        print(f"{key}: {params:,} parameters, lr {lr:g}", flush=True)
        t0 = time.perf_counter()
        losses = train(task, model, cfg, args.epochs, lr)
        res = task.evaluate_model(model, progress=False)["overall"]
        done[key] = {"params": params, "lr": lr, "losses": losses, "psnr": res["psnr"]["mean"],
                     "seconds": time.perf_counter() - t0}
        print(f"  test PSNR {done[key]['psnr']:.2f} dB", flush=True)
        write_json(store, done)
    lines = [f"# Underfitting probe (preset {args.preset}, constant lr, seed {cfg.seed})", "",
             f"Made by `python benchmarks/probes/probe_underfit.py --genotype {args.genotype} --epochs {args.epochs}`.", "",
             "| variant | params | lr | training L1 per epoch | test PSNR |", "|---|---|---|---|---|"]
    for key, r in done.items():
        curve = " ".join(f"{v:.4f}" for v in r["losses"])
        psnr = r["psnr"] if math.isfinite(r["psnr"]) else float("nan")
        lines.append(f"| {key} | {r['params']:,} | {r['lr']:g} | {curve} | {psnr:.2f} |")
    (out / "probe.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
