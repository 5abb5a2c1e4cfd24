"""Why is the U-Net below TV on the bench data? Evaluates a trained U-Net (a ``nasengine retrain
--method unet`` run directory) on the test split as trained, and with the measured k-space lines
put back into its output afterwards (hard data consistency, the step the unrolled nets and TV
have and fastMRI's U-Net baseline has not). No training: seconds.

    python benchmarks/probes/probe_unet.py runs/benchmark/bench/u_net/seed2/retrain [--out benchmarks/results/probe/unet_dc.md]

If putting the lines back lifts the U-Net to TV's level, what it lacks is the measured data, not
capacity or training; the baseline itself stays as fastMRI defines it (no DC). Also prints the
run's per-epoch training loss and validation PSNR (``train_history.json``), to tell under- from over-fitting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nas_engine.app.options import make_task  # noqa: E402
from nas_engine.config import Config  # noqa: E402
from nas_engine.files import write_text  # noqa: E402
from nas_engine.retrain import load_trained  # noqa: E402
from nas_engine.stats import paired  # noqa: E402
from nas_engine.task import get_task  # noqa: E402
from tasks.csmri.task import Plain  # noqa: E402
from tasks.csmri.transforms import DataConsistency  # noqa: E402


class WithDC(nn.Module):
    """A trained single-pass network, then hard data consistency (the sampled lines replaced)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.dc = net, DataConsistency(None)

    def forward(self, x, k_measured, mask):
        return self.dc(self.net(x, k_measured, mask), k_measured, mask)


def summary(results: dict) -> dict:
    o = results["overall"]
    acc = {k: v["psnr"]["mean"] for k, v in results.get("by_acceleration", {}).items()}
    return {"psnr": o["psnr"]["mean"], "ssim": o["ssim"]["mean"], "by_acc": acc,
            "vols": np.array([v["psnr"] for v in results["per_volume"]])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a finished `nasengine retrain --method unet` run directory")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (the test masks; benchmarks use 0)")
    p.add_argument("--out", default=None, help="also write the table to this markdown file")
    a = p.parse_args()

    def make(cfg: Config):
        cfg.seed = a.seed
        return make_task(get_task(cfg.task), cfg)

    task, model, cfg = load_trained(a.run, make)
    if not isinstance(model, Plain):
        sys.exit(f"{a.run}: not a single-pass network without data consistency (method {cfg.method})")
    rows = [("U-Net as trained (no DC)", summary(task.evaluate_model(model, progress=False, method="unet")))]
    rows.append(("U-Net + hard DC after it (no retraining)",
                 summary(task.evaluate_model(WithDC(model), progress=False, method="unet+dc"))))
    lines = ["# U-Net with and without data consistency afterwards", "",
             f"Made by `python benchmarks/probes/probe_unet.py {a.run}` (evaluation seed {a.seed}).", "",
             "| variant | PSNR | SSIM | " + " | ".join(f"PSNR {k}" for k in rows[0][1]["by_acc"]) + " |",
             "|---|---|---|" + "---|" * len(rows[0][1]["by_acc"])]
    for name, s in rows:
        lines.append(f"| {name} | {s['psnr']:.2f} | {s['ssim']:.4f} | "
                     + " | ".join(f"{v:.2f}" for v in s["by_acc"].values()) + " |")
    d = paired(rows[1][1]["vols"] - rows[0][1]["vols"])
    lo, hi = d["ci95"]
    lines += ["", f"DC afterwards minus as trained, paired over the {d['n']} test volumes: "
              f"{d['mean']:+.2f} dB [{lo:+.2f}, {hi:+.2f}] (95%, t interval)."]
    hist = Path(a.run) / "train_history.json"
    if hist.is_file():
        epochs = json.loads(hist.read_text())
        lines += ["", "| epoch | training loss | val PSNR |", "|---|---|---|"]
        for e in epochs:
            lines.append(f"| {e.get('epoch', '')} | {e.get('loss', float('nan')):.4f} | {e.get('val_psnr', float('nan')):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        write_text(a.out, text)


if __name__ == "__main__":
    main()
