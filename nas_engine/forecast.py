"""``--dry-run``: memory and time of a run, forecast from two real training steps at small batches.

Peak memory grows linearly with the batch (the activations of one sample times the batch, on top
of the process, the data, the weights and the optimiser), and so does the time of a step. Both
are measured on real batches of the task at batch 1 and 2 (in that order: the peak of a process
only grows), and extrapolated to the configured batch, which itself is never run: the point is
to learn about memory from a forecast rather than from the out-of-memory killer.
"""

from __future__ import annotations

import gc
import resource
import time
from dataclasses import dataclass
from typing import Any, Callable

import psutil
import pytorch_lightning as pl


@dataclass
class Forecast:
    batch_size: int
    peak_bytes: float  # whole process, at the configured batch
    step_s: float
    steps_per_epoch: int
    measured: list[tuple[int, float, float]]  # (batch, peak bytes, seconds per step)
    available_bytes: float

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.available_bytes

    def lines(self, what: str, knobs: str) -> list[str]:
        gb = 2**30
        seen = ", ".join(f"{p / gb:.2f} GB and {s:.2f} s/step at batch {b}" for b, p, s in self.measured)
        out = [f"dry run of {what}: two training steps at batch 1 and 2 measured {seen}",
               f"peak memory: {self.peak_bytes / gb:.2f} GB at batch {self.batch_size} "
               f"(this machine has {self.available_bytes / gb:.2f} GB available)",
               f"time: {self.step_s:.2f} s per step, {self.step_s * self.steps_per_epoch / 60:.1f} min per epoch "
               f"({self.steps_per_epoch} steps)"]
        if not self.fits:
            out.append(f"this run would not fit in memory; lower {knobs}")
        return out


def _peak_bytes() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # Linux reports KiB


class _Timer(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, *args) -> None:
        self.times.append(time.perf_counter() - self.t0)


def forecast(prepare: Callable[[int], tuple[Any, Any]], batch_size: int, samples: int,
             steps_per_epoch: int = 0) -> Forecast:
    """``prepare(b) -> (lightning module, train_dataloaders)`` at batch ``b``; two steps each at
    b = 1 and 2 (the second step timed: the first pays lazy initialisation)."""
    from .training import make_trainer, quiet_lightning

    quiet_lightning()
    measured = []
    for b in sorted({1, min(2, batch_size)}):
        gc.collect()  # the previous batch size's module and optimiser are gone before the next peak
        module, loaders = prepare(b)
        timer = _Timer()
        trainer = make_trainer(1, [timer], 2, progress=False)  # one epoch of two steps, one CPU process
        trainer.fit(module, train_dataloaders=loaders)
        measured.append((b, _peak_bytes(), timer.times[-1]))
        del module, loaders, trainer
    (b1, p1, t1), (b2, p2, t2) = measured[0], measured[-1]
    per_mem = (p2 - p1) / (b2 - b1) if b2 > b1 else 0.0
    per_time = (t2 - t1) / (b2 - b1) if b2 > b1 else 0.0
    extra = batch_size - b2
    steps = steps_per_epoch if steps_per_epoch > 0 else -(-samples // batch_size)
    reachable = psutil.virtual_memory().available + psutil.Process().memory_info().rss  # what this process may use
    return Forecast(batch_size, p2 + extra * max(per_mem, 0.0), t2 + extra * max(per_time, 0.0), steps, measured,
                    float(reachable))
