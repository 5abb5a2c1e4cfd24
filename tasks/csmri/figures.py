"""The reconstruction panel of the benchmark reports: target, each method's output and its error."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_panel(ds, entries: list[tuple[str, Path]], n_accelerations: int):
    """Target, each method's reconstruction (read from its saved ``.h5`` files) and its error map, for
    one central test slice per acceleration of ``ds``; None when there is nothing to draw."""
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks: dict[float, int] = {}
    order = sorted(range(len(ds)), key=lambda i: abs(i - len(ds) // 2))  # prefer central slices
    for i in order:
        acc = float(ds[i]["acceleration"])
        picks.setdefault(acc, i)
        if len(picks) == n_accelerations:
            break
    cols = [(n, d) for n, d in entries if d.is_dir()]
    if not cols or not picks:
        return None
    fig, axes = plt.subplots(2 * len(picks), len(cols) + 1, figsize=(1.9 * (len(cols) + 1) + 0.6, 4.0 * len(picks)),
                             squeeze=False, layout="constrained")
    for r, (acc, i) in enumerate(sorted(picks.items())):
        item = ds[i]
        gt = item["target"].numpy()
        vmax = float(gt.max())
        axes[2 * r, 0].imshow(gt, cmap="gray", vmin=0, vmax=vmax)
        axes[2 * r, 0].set_title(f"target ({acc:g}x slice)", fontsize=8)
        axes[2 * r + 1, 0].axis("off")
        recs = []
        for name, d in cols:
            with h5py.File(d / item["fname"], "r") as f:
                recs.append(np.asarray(f["reconstruction"][item["slice"]]))
        errs = [np.abs(rec - gt) / vmax for rec in recs]  # as a fraction of the slice's maximum
        # one error scale per acceleration, wide enough that the worst method does not saturate
        emax = max(float(np.percentile(e, 99.5)) for e in errs) or 1e-3
        for c, (name, rec, err) in enumerate(zip([n for n, _ in cols], recs, errs), 1):
            p = 10 * np.log10(1.0 / max(float(np.mean(err**2)), 1e-30))
            axes[2 * r, c].imshow(rec, cmap="gray", vmin=0, vmax=vmax)
            axes[2 * r, c].set_title(f"{name}\n{p:.2f} dB", fontsize=8)
            im = axes[2 * r + 1, c].imshow(err, cmap="inferno", vmin=0, vmax=emax)
        cb = fig.colorbar(im, ax=list(axes[2 * r + 1, 1:]), fraction=0.02, pad=0.01)
        cb.ax.tick_params(labelsize=7)
        cb.set_label(f"|error| / max, {acc:g}x", fontsize=7)
        for ax in axes[2 * r : 2 * r + 2].ravel():
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("test slices: reconstructions (PSNR of the slice) and their errors", fontsize=9)
    return fig
