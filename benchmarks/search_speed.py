"""Search cost: time per DARTS step, NNI overhead, peak memory, for the demo and paper configs.

For each config (in its own subprocess, so peak RSS is per config):
  * one NNI DARTS step = architecture step (val batch) + weight step (train batch),
    timed inside a real ``pl.Trainer.fit`` of NNI's ``DartsLightningModule``;
  * the baseline, in the same process on the same supernet and batch: two plain
    PyTorch forward/backward/Adam steps with the alphas frozen.
The ratio NNI / plain is the overhead of NNI's machinery (goal <= 1.3x).

    python benchmarks/search_speed.py            # both configs, writes benchmarks/results/search_speed.{json,md}
    python benchmarks/search_speed.py --one demo --steps 4   # one config, prints JSON
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synthetic_batch(batch: int, size: int) -> dict:
    """A CS-MRI batch with the real shapes (content does not change the cost)."""
    import torch

    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(batch, 1, 1, size, generator=g) < 0.25).float()
    x = torch.randn(batch, 2, size, size, generator=g)
    return {"input": x, "image": x + 0.1, "kspace": torch.randn(batch, 2, size, size, generator=g) * mask, "mask": mask}


def measure(config: str, steps: int, batch_size: int | None = None) -> dict:
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from nas_engine.config import build_config, resolve
    from nas_engine.search import DARTS, build_supernet
    from nas_engine.task import get_task, load_task_entry_points
    from nas_engine.training import TaskModule, quiet_lightning
    from search_spaces import load_space

    quiet_lightning()
    torch.manual_seed(0)
    load_task_entry_points()
    task_cls = get_task("csmri")
    cfg = build_config(resolve(config, [], {}, task_cls.presets))
    task = task_cls(cfg.data)
    size, bs = task.options.size, batch_size or cfg.search.batch_size
    batch = synthetic_batch(bs, size)
    strategy = DARTS(arc_learning_rate=cfg.search.arc_lr, gradient_clip_val=cfg.search.grad_clip)
    supernet = strategy.mutate_model(build_supernet(task, load_space("A"), cfg))
    module = TaskModule(task, supernet, lr=cfg.search.lr)
    module.darts = True
    oneshot = strategy.configure_oneshot_module(module)

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return bs * (steps + 1)

        def __getitem__(self, i):
            return {k: v[i % bs] for k, v in batch.items()}

    times: list[float] = []

    class Timer(pl.Callback):
        def on_train_batch_start(self, *a):
            self.t = time.perf_counter()

        def on_train_batch_end(self, *a):
            times.append(time.perf_counter() - self.t)

    loader = lambda: DataLoader(Items(), batch_size=bs)  # noqa: E731
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Timer()])
    trainer.fit(oneshot, train_dataloaders={"train": loader(), "val": loader()})
    nni_step = statistics.median(times[1:])  # the first step pays lazy imports

    # Baseline: same supernet, alphas frozen, two plain forward/backward/Adam steps.
    alphas = set(oneshot.arch_parameters())
    for p in alphas:
        p.requires_grad_(False)
    params = [p for p in supernet.parameters() if p not in alphas]
    opt = torch.optim.Adam(params, lr=cfg.search.lr)
    plain = []
    for _ in range(steps):
        t = time.perf_counter()
        for _ in range(2):
            opt.zero_grad()
            loss = torch.nn.functional.l1_loss(supernet(batch["input"], batch["kspace"], batch["mask"]), batch["image"])
            loss.backward()
            opt.step()
        plain.append(time.perf_counter() - t)
    plain_step = statistics.median(plain)
    n_train = {"demo": 48, "paper": 2829 // 2}.get(config)  # weight-split samples per epoch
    return {
        "config": config, "size": size, "batch_size": bs, "channels": cfg.model.channels, "cells": cfg.model.cells,
        "nodes": cfg.model.nodes, "cascades": task.options.cascades, "steps_timed": len(times) - 1,
        "nni_darts_step_s": nni_step, "plain_two_steps_s": plain_step, "overhead_ratio": nni_step / plain_step,
        "steps_per_epoch": -(-n_train // bs), "epoch_s_estimate": nni_step * -(-n_train // bs),
        "epoch_note": "demo: embedded weight split (48 slices); paper: half of fastMRI's 2829 training slices",
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one, a.steps, a.batch_size)))
        return 0
    rows = []
    # The paper config's supernet at 320x320 needs ~13 GB per sample on CPU: batch 1 fits 24 GB, batch 2 does not.
    for config, steps, bs in (("demo", max(a.steps, 6), None), ("paper", a.steps, 1)):
        print(f"measuring {config} ({steps} steps) ...", flush=True)
        cmd = [sys.executable, __file__, "--one", config, "--steps", str(steps)] + (["--batch-size", str(bs)] if bs else [])
        p = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_speed.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| config | image | C/N/M/cascades | batch | NNI DARTS step | 2 plain steps | overhead | est. epoch | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['size']}x{r['size']} | {r['channels']}/{r['cells']}/{r['nodes']}/{r['cascades']} | "
            f"{r['batch_size']} | {r['nni_darts_step_s']:.2f} s | {r['plain_two_steps_s']:.2f} s | "
            f"{r['overhead_ratio']:.2f}x | {r['epoch_s_estimate'] / 60:.1f} min ({r['steps_per_epoch']} steps) | "
            f"{r['peak_rss_gb']:.1f} GB |")
    (out / "search_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
