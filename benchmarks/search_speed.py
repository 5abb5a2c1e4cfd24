"""Search cost: time per search step, NNI overhead, peak memory, for the demo and paper configs, per
search strategy, with and without gradient checkpointing, in float32 and bfloat16.

For each row of MATRIX (in its own subprocess, so peak RSS is per row):
  * one NNI step = architecture step (val batch) + weight step (train batch), timed inside a
    real ``pl.Trainer.fit`` of the strategy's one-shot module;
  * the baseline, in the same process on the same supernet and batch: two plain
    PyTorch forward/backward/Adam steps with the alphas frozen.
The ratio NNI / plain is the overhead of NNI's machinery (goal <= 1.3x).

    python benchmarks/search_speed.py            # every MATRIX row not measured yet -> search_speed.{json,md}
    python benchmarks/search_speed.py --only demo            # the rows whose options contain "demo"
    python benchmarks/search_speed.py --one demo --steps 4 --set search.strategy=gdas   # one row, prints JSON
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


def measure(config: str, steps: int, batch_size: int | None = None, sets: list[str] | None = None) -> dict:
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from nas_engine.config import build_config, resolve
    from nas_engine.search import build_oneshot
    from nas_engine.task import get_task, load_task_entry_points
    from nas_engine.training import quiet_lightning
    from search_spaces import load_space

    quiet_lightning()
    torch.manual_seed(0)
    load_task_entry_points()
    task_cls = get_task("csmri")
    cfg = build_config(resolve(config, list(sets or []), {"task": "csmri"}, task_cls.presets))
    task = task_cls(cfg.data)
    size, bs = task.options.size, batch_size or cfg.search.batch_size
    batch = synthetic_batch(bs, size)
    _, oneshot = build_oneshot(task, load_space("A"), cfg)
    supernet = oneshot.training_module.model

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
        "config": config, "strategy": cfg.search.strategy, "checkpoint": cfg.model.checkpoint,
        "precision": str(cfg.model.precision), "size": size, "batch_size": bs, "channels": cfg.model.channels, "cells": cfg.model.cells,
        "nodes": cfg.model.nodes, "cascades": task.options.cascades, "steps_timed": len(times) - 1,
        "nni_darts_step_s": nni_step, "plain_two_steps_s": plain_step, "overhead_ratio": nni_step / plain_step,
        "steps_per_epoch": -(-n_train // bs), "epoch_s_estimate": nni_step * -(-n_train // bs),
        "epoch_note": "demo: embedded weight split (48 slices); paper: half of fastMRI's 2829 training slices",
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


MATRIX = [  # (config, batch, --set options); the paper config without checkpointing needs ~19 GB at batch 1
    ("demo", None, ["search.strategy=darts"]),
    ("demo", None, ["search.strategy=darts", "model.checkpoint=true"]),
    ("demo", None, ["search.strategy=darts", "model.precision=bf16"]),
    ("demo", None, ["search.strategy=gdas"]),
    ("demo", None, ["search.strategy=pcdarts"]),
    ("demo", None, ["search.strategy=proxyless"]),
    ("paper", 2, ["search.strategy=darts", "model.checkpoint=true"]),
    ("paper", 2, ["search.strategy=pcdarts", "model.checkpoint=true"]),
    ("paper", 2, ["search.strategy=gdas", "model.checkpoint=true"]),
    ("paper", 2, ["search.strategy=darts", "model.checkpoint=true", "model.precision=bf16"]),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--only", default="", help="run just the matrix rows whose options contain this text")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one, a.steps, a.batch_size, a.set)))
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "search_speed.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    done = {(r["config"], r.get("strategy", "darts"), bool(r.get("checkpoint")), r.get("precision", "32"),
             r["batch_size"]) for r in rows}
    for config, bs, sets in MATRIX:
        if a.only and a.only not in " ".join([config, *sets]):
            continue
        opts = dict(x.split("=", 1) for x in sets)
        key = (config, opts.get("search.strategy", "darts"), opts.get("model.checkpoint") == "true",
               opts.get("model.precision", "32"), bs or {"demo": 4, "paper": 1}[config])
        if key in done:  # resumable: kept rows are not measured again
            continue
        steps = max(a.steps, 6) if config == "demo" else a.steps
        print(f"measuring {config} {' '.join(sets)} ({steps} steps) ...", flush=True)
        cmd = [sys.executable, __file__, "--one", config, "--steps", str(steps)] + (["--batch-size", str(bs)] if bs else [])
        p = subprocess.run(cmd + [x for s_ in sets for x in ("--set", s_)], capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-2000:], file=sys.stderr)
            continue
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
        path.write_text(json.dumps(rows, indent=2) + "\n")
        write_table(rows, out)
    write_table(rows, out)
    return 0


def write_table(rows: list[dict], out: Path) -> None:
    lines = ["| config | strategy | checkpoint | precision | image | C/N/M/cascades | batch | NNI step | 2 plain steps | "
             "overhead | est. epoch | peak RSS |", "|---" * 12 + "|"]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r.get('strategy', 'darts')} | {'on' if r.get('checkpoint') else 'off'} | "
            f"{r.get('precision', '32')} | {r['size']}x{r['size']} | {r['channels']}/{r['cells']}/{r['nodes']}/"
            f"{r['cascades']} | {r['batch_size']} | {r['nni_darts_step_s']:.2f} s | {r['plain_two_steps_s']:.2f} s | "
            f"{r['overhead_ratio']:.2f}x | {r['epoch_s_estimate'] / 60:.1f} min ({r['steps_per_epoch']} steps) | "
            f"{r['peak_rss_gb']:.1f} GB |")
    (out / "search_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
