"""Small statistics for benchmark reports: paired differences with a t interval."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def paired(diffs: Sequence[float], level: float = 0.95) -> dict:
    """Mean of paired differences and its two-sided ``level`` t interval:
    ``{"mean", "std", "n", "ci95": (lo, hi)}`` (the interval is ``(mean, mean)`` for n < 2)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    if n == 0:
        raise ValueError("no pairs to compare")
    mean = float(d.mean())
    if n < 2:
        return {"mean": mean, "std": float("nan"), "n": n, "ci95": (mean, mean)}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
    return {"mean": mean, "std": sd, "n": n, "ci95": (mean - half, mean + half)}


def spearman(a: Sequence[float], b: Sequence[float]) -> dict:
    """Spearman's rank correlation of paired values: ``{"rho", "p", "n"}``."""
    from scipy import stats

    r = stats.spearmanr(a, b)
    return {"rho": float(r.statistic), "p": float(r.pvalue), "n": len(a)}
