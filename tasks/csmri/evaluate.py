"""Evaluate a reconstruction method over a slice dataset: per-volume metrics, JSON, fastMRI submission files."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from nas_engine.files import atomic_write

from .metrics import aggregate, volume_metrics

Reconstructor = Callable[[dict], torch.Tensor]  # batch -> magnitude [B, H, W] at the data's own scale


def _acc_key(acc: float) -> str:
    return str(int(acc)) if float(acc).is_integer() else f"{acc:g}"


def volume_batches(dataset, batch_size: int) -> list[list[int]]:
    """Indices of ``dataset`` in order, in batches of at most ``batch_size`` slices of one volume each (volumes
    of a test folder may differ in size: a real-data folder holds a 224x224 brain and a 160x160 phantom)."""
    from torch.utils.data import Subset

    base, order = dataset, list(range(len(dataset)))
    if isinstance(dataset, Subset):  # e.g. the validation slices a tuning pass scores
        base, order = dataset.dataset, list(dataset.indices)
    batches: list[list[int]] = []
    last = None
    for i, (vi, _) in enumerate(base.index[j] for j in order):
        if vi != last or len(batches[-1]) >= batch_size:
            batches.append([])
        batches[-1].append(i)
        last = vi
    return batches


def collect(dataset, reconstruct: Reconstructor, batch_size: int = 8, progress: bool = True) -> dict:
    """Run ``reconstruct`` on every slice; ``{fname: {slice: (target, pred, acc)}}``."""
    loader = DataLoader(dataset, batch_sampler=volume_batches(dataset, batch_size), num_workers=0)
    out: dict[str, dict[int, tuple[np.ndarray, np.ndarray, float]]] = defaultdict(dict)
    with torch.no_grad():
        for batch in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, leave=False):
            pred = reconstruct(batch).detach().cpu().numpy().astype(np.float32)
            for j, fname in enumerate(batch["fname"]):
                out[fname][int(batch["slice"][j])] = (
                    batch["target"][j].numpy(),
                    pred[j],
                    float(batch["acceleration"][j]),
                )
    return out


def score(collected: dict) -> dict:
    """Metrics per volume (and per volume and acceleration), aggregated as mean/std over volumes."""
    per_volume = []
    by_acc: dict[str, list[dict]] = defaultdict(list)
    for fname in sorted(collected):
        slices = collected[fname]
        order = sorted(slices)
        gt = np.stack([slices[s][0] for s in order])
        pred = np.stack([slices[s][1] for s in order])
        accs = np.array([slices[s][2] for s in order])
        row = {"file": fname, "n_slices": len(order), **volume_metrics(gt, pred), "by_acceleration": {}}
        for acc in sorted(set(accs.tolist())):
            sel = accs == acc
            # The data range stays the whole volume's max, as for the volume itself.
            m = volume_metrics(gt[sel], pred[sel], maxval=float(gt.max()))
            row["by_acceleration"][_acc_key(acc)] = {**m, "n_slices": int(sel.sum())}
            by_acc[_acc_key(acc)].append(m)
        per_volume.append(row)
    return {
        "overall": aggregate(per_volume),
        "by_acceleration": {k: aggregate(v) for k, v in sorted(by_acc.items(), key=lambda kv: float(kv[0]))},
        "per_volume": per_volume,
    }


def save_reconstructions(collected: dict, out_dir: str | Path) -> list[Path]:
    """One ``.h5`` per volume named as the input, fastMRI submission layout: ``reconstruction`` [slices, H, W]."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, slices in sorted(collected.items()):
        rec = np.stack([slices[s][1] for s in sorted(slices)]).astype(np.float32)

        def _w(tmp: str, rec: np.ndarray = rec) -> None:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("reconstruction", data=rec)

        written.append(atomic_write(out_dir / fname, _w))
    return written
