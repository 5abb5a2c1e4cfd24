"""Reconstruction metrics with fastMRI's ``evaluate.py`` definitions.

All functions take magnitude volumes ``[slices, H, W]`` at the data's own scale;
the data range is the volume's maximum (fastMRI's choice). Aggregation is per
volume first, then mean and std over volumes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from skimage.metrics import structural_similarity

from nas_engine.task import aggregate  # noqa: F401  (the shared results format)


def _check(gt: np.ndarray, pred: np.ndarray) -> None:
    if gt.shape != pred.shape:
        raise ValueError(f"shape mismatch: target {gt.shape} vs prediction {pred.shape}")
    if gt.ndim != 3:
        raise ValueError(f"expected volumes [slices, H, W], got {gt.ndim} dims")


def mse(gt: np.ndarray, pred: np.ndarray) -> float:
    """Mean squared error."""
    _check(gt, pred)
    return float(np.mean((gt.astype(np.float64) - pred) ** 2))


def nmse(gt: np.ndarray, pred: np.ndarray) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2``."""
    _check(gt, pred)
    gt = gt.astype(np.float64)
    return float(np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2)


def psnr(gt: np.ndarray, pred: np.ndarray, maxval: float | None = None) -> float:
    """PSNR in dB with data range = ``gt.max()`` (fastMRI)."""
    _check(gt, pred)
    maxval = float(gt.max()) if maxval is None else maxval
    err = mse(gt, pred)
    return float("inf") if err == 0 else float(10 * np.log10(maxval**2 / err))


def ssim(gt: np.ndarray, pred: np.ndarray, maxval: float | None = None) -> float:
    """SSIM per slice (skimage, 7x7 window) with data range = ``gt.max()``, averaged."""
    _check(gt, pred)
    maxval = float(gt.max()) if maxval is None else maxval
    vals = [
        structural_similarity(gt[i].astype(np.float64), pred[i].astype(np.float64), data_range=maxval)
        for i in range(gt.shape[0])
    ]
    return float(np.mean(vals))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = dict(mse=mse, nmse=nmse, psnr=psnr, ssim=ssim)


def volume_metrics(gt: np.ndarray, pred: np.ndarray, maxval: float | None = None) -> dict[str, float]:
    """All metrics for one volume; ``maxval`` overrides the data range (default ``gt.max()``)."""
    maxval = float(gt.max()) if maxval is None else maxval
    return {"mse": mse(gt, pred), "nmse": nmse(gt, pred), "psnr": psnr(gt, pred, maxval), "ssim": ssim(gt, pred, maxval)}
