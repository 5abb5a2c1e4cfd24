"""``--dry-run``: memory and time of a run, forecast from two real training steps at small batches.

Peak memory grows linearly with the batch (the activations of one sample times the batch, on top
of the process, the data, the weights and the optimiser), and so does the time of a step. Both
are measured on real batches of the task at batch 1 and 2, each in its own peak-RSS window (on
Linux; elsewhere the process's peak, which only grows, hence that order), and extrapolated to the
configured batch, which itself is never run: the point is to learn about memory from a forecast
rather than from the out-of-memory killer.

A supernet that draws a path per step (GDAS, ProxylessNAS, DARTS with ``search.macro_draw``) costs
what its draw costs, so one timed step is one draw. For a space C DARTS search with macro draws at
the bench preset, one step forecast 2.8 min per epoch and 6.5 GB; the mean of 8 draws 6.5 min and
9.5 GB; the real run took 8-11 min per epoch and its process peaked at 12.6 GB. ``draws`` > 1
times that many steps at each batch size and takes their mean, and the peak-memory window spans
them all: the peak of the draws seen, which a heavier draw of the real run can exceed (the
forecast says so).
"""

from __future__ import annotations

import gc
import resource
import time
from dataclasses import dataclass, field
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
    draws: int = 1  # timed steps per batch size (their mean), for supernets that draw a path per step
    spread: tuple[float, float] = (0.0, 0.0)  # the fastest and slowest timed step at the larger batch
    more: list[str] = field(default_factory=list)  # what the run does after training (e.g. scoring), forecast

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.available_bytes

    def lines(self, what: str, knobs: str) -> list[str]:
        gb = 2**30
        seen = ", ".join(f"{p / gb:.2f} GB and {s:.2f} s/step at batch {b}" for b, p, s in self.measured)
        steps = "two training steps" if self.draws == 1 else f"{self.draws} drawn paths (the mean step)"
        out = [f"dry run of {what}: {steps} at batch 1 and 2 measured {seen}",
               f"peak memory: {self.peak_bytes / gb:.2f} GB at batch {self.batch_size} "
               f"(this machine has {self.available_bytes / gb:.2f} GB available)",
               f"time: {self.step_s:.2f} s per step, {self.step_s * self.steps_per_epoch / 60:.1f} min per epoch "
               f"({self.steps_per_epoch} steps)"]
        if self.draws > 1:
            out.append(f"a path is drawn per step: its steps took {self.spread[0]:.2f}-{self.spread[1]:.2f} s at batch "
                       f"{self.measured[-1][0]}; the peak is the largest of {self.draws} draws, and a heavier draw "
                       "goes higher: leave headroom")
        out += self.more
        if not self.fits:
            out.append(f"this run would not fit in memory; lower {knobs}")
        return out


def _peak_bytes() -> float:
    """Peak RSS since the last :func:`_reset_peak` (Linux ``VmHWM``), else since the process began."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # Linux reports KiB


def _reset_peak() -> None:
    """Start a new peak-RSS window (Linux: writing 5 to ``clear_refs`` resets ``VmHWM``). Without it,
    whatever peaked before the measured steps (building the embedded data, loading a dataset) hides
    their growth: a forecast of that earlier peak for any batch."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class _Timer(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, *args) -> None:
        self.times.append(time.perf_counter() - self.t0)


def forecast(prepare: Callable[[int], tuple[Any, Any]], batch_size: int, samples: int,
             steps_per_epoch: int = 0, draws: int = 1) -> Forecast:
    """``prepare(b) -> (lightning module, train_dataloaders)`` at batch ``b``; two steps each at
    b = 1 (twice, the first a warm-up) and 2 (the second step timed: the first pays lazy
    initialisation). ``draws`` > 1: that many steps timed after the first at b = 1 and 2, their mean
    the step time (a supernet that draws a path per step)."""
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    from .training import make_trainer, quiet_lightning

    quiet_lightning()
    before = _peak_bytes()  # what the process peaked at before training (data building, loading)
    measured = []
    # batch 1 twice: the first fit pays one-time allocations (lazy kernels, allocator arenas) which,
    # if they landed in the batch-2 fit instead, would be extrapolated as per-sample memory
    for b in [1, *sorted({1, min(2, batch_size)})]:
        gc.collect()  # the previous batch size's module and optimiser are gone before the next peak
        module, loaders = prepare(b)
        _reset_peak()
        timer = _Timer()
        trainer = make_trainer(1, [timer], 1 + draws, progress=False)  # one epoch, one CPU process
        trainer.fit(module, train_dataloaders=loaders)
        timed = timer.times[1:] or timer.times[-1:]  # the first step pays lazy initialisation
        measured.append((b, _peak_bytes(), sum(timed) / len(timed)))
        spread = (min(timed), max(timed))
        del module, loaders, trainer
    measured = measured[1:]
    (b1, p1, t1), (b2, p2, t2) = measured[0], measured[-1]
    per_mem = (p2 - p1) / (b2 - b1) if b2 > b1 else 0.0
    per_time = (t2 - t1) / (b2 - b1) if b2 > b1 else 0.0
    extra = batch_size - b2
    steps = steps_per_epoch if steps_per_epoch > 0 else -(-samples // batch_size)
    reachable = psutil.virtual_memory().available + psutil.Process().memory_info().rss  # what this process may use
    return Forecast(batch_size, max(before, p2 + extra * max(per_mem, 0.0)), t2 + extra * max(per_time, 0.0), steps, measured,
                    float(reachable), draws, spread)


# ---------------------------------------------------------------- the guard before a real run
PROBE_SIZE = 32  # image side of the probe batch: activations scale with the pixel count


def saved_bytes(loss_of: Callable[[], Any]) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of ``loss_of()`` (one forward),
    each storage counted once. With gradient checkpointing this is what the checkpoints keep."""
    import torch

    sizes: dict[int, int] = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            sizes[st.data_ptr()] = max(sizes.get(st.data_ptr(), 0), st.nbytes())
        except (RuntimeError, NotImplementedError):  # a tensor without storage (sparse, meta): not counted
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = loss_of()
    del out
    return sum(sizes.values())


def spatial_shape(item: Any) -> tuple[int, int] | None:
    """The (H, W) of a data item: the last two sizes of its first tensor with at least 3 dims."""
    import torch

    values = item.values() if isinstance(item, dict) else (item if isinstance(item, (list, tuple)) else [item])
    for v in values:
        if torch.is_tensor(v) and v.ndim >= 3:
            return int(v.shape[-2]), int(v.shape[-1])
    return None


def guard_memory(task, model, dataset, batch_size: int, what: str, knobs: str, log=None) -> float | None:
    """Stop a real run that cannot fit before it trains, with one line naming ``knobs``.

    A lower bound of the peak: the process now, the gradients and Adam's two moments (three times
    the parameters), and the activations of ``batch_size`` samples, measured as the bytes autograd
    saves in one forward of a small probe batch (``PROBE_SIZE`` pixels a side, the task's
    ``example_batch``) scaled to the data's image size. Costs one small forward; the random state
    and the model's buffers are left as they were. Returns the estimate in bytes (None: the task
    has no example batch, or the probe failed, and nothing is checked)."""
    import copy

    import torch

    from .errors import UserError

    try:
        shape = spatial_shape(dataset[0])
        if shape is None:
            return None
        side = min(PROBE_SIZE, *shape)
        buffers = copy.deepcopy({k: v for k, v in model.state_dict().items() if "running" in k or "num_batches" in k})
        with torch.random.fork_rng():
            probe = task.example_batch(side, 1)
            act = saved_bytes(lambda: task.loss(model, probe))
        if buffers:
            model.load_state_dict(buffers, strict=False)
    except UserError:
        return None  # e.g. a task without example batches
    except Exception as e:  # the probe is a courtesy: never the reason a run fails
        if log is not None:
            log(f"memory guard skipped ({e.__class__.__name__}: {str(e)[:120]})", echo=False)
        return None
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    per_sample = act * (shape[0] * shape[1]) / (side * side)
    rss = psutil.Process().memory_info().rss
    need = rss + 3 * params + per_sample * batch_size
    reachable = psutil.virtual_memory().available + rss
    if need > reachable:
        gb = 2**30
        raise UserError(f"{what} needs at least {need / gb:.1f} GB ({per_sample * batch_size / gb:.1f} GB of "
                        f"activations at batch {batch_size}, {shape[0]}x{shape[1]} images) and this machine has "
                        f"{reachable / gb:.1f} GB; lower {knobs} (`--dry-run` forecasts a setting)")
    return need
