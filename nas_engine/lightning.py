"""Lightning glue shared by search and retraining: the task's loss as a LightningModule,
per-epoch atomic checkpoints, loaders seeded for reproducibility, and the compute
settings (accelerator, devices, nodes, strategy) for multi-process training with DDP.

Batch sizes are *global*: with ``W`` processes each one takes ``batch_size / W``
samples of the same global batch, and DDP averages the gradients, so 1 and W
processes train the same network (up to float rounding).
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytorch_lightning as pl
import torch
from nni.nas.evaluator.pytorch import LightningModule
from torch.utils.data import DataLoader, Dataset

from .errors import RunFailed, UserError


class TaskModule(LightningModule):
    """Trains ``model`` with ``task.loss`` (Adam). NNI's DARTS wraps it for search.

    Under DARTS, ``training_step`` is called twice per batch: the architecture step
    (even index, on the ``val`` split) and the weight step (odd index).
    """

    def __init__(self, task, model: torch.nn.Module, lr: float, lr_after: float | None = None,
                 drop_epoch: int | None = None) -> None:
        super().__init__()
        self.task = task
        self.set_model(model)
        self.lr, self.lr_after, self.drop_epoch = lr, lr_after, drop_epoch
        self.epoch_losses: dict[str, list[float]] = {"w": [], "alpha": []}
        self.darts = False

    def forward(self, *args: Any) -> torch.Tensor:
        return self.model(*args)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.task.loss(self.model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss ({loss.item()}) at epoch {self.trainer.current_epoch}, batch {batch_idx}"
            )
        kind = "alpha" if self.darts and batch_idx % 2 == 0 else "w"
        self.epoch_losses[kind].append(float(loss.detach()))
        if kind == "w":
            self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        if self.lr_after is None or self.drop_epoch is None:
            return opt
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[self.drop_epoch], gamma=self.lr_after / self.lr)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


class EpochCheckpoint(pl.Callback):
    """Write ``checkpoints/last.ckpt`` at the end of every epoch, atomically (temp file + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            trainer.save_checkpoint(tmp)  # every rank calls it (a barrier); only rank 0 writes
        except BaseException:
            tmp.unlink(missing_ok=True)  # a half-written file never replaces the last good one
            raise
        if trainer.is_global_zero:
            os.replace(tmp, self.path)


def rank_and_world() -> tuple[int, int]:
    """(global rank, world size) of this process; (0, 1) outside a process group."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class FirstStep(pl.Callback):
    """Log how long this process took from its start to its first training step
    (start-up, data, model and, with ``--resume``, loading the checkpoint)."""

    def __init__(self, run) -> None:
        self.run, self.done = run, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.done:
            return
        self.done = True
        since = time.time() - psutil.Process().create_time()
        self.run.log(f"first step (epoch {trainer.current_epoch + 1}) {since:.1f}s after the process started",
                     echo=False)


class EpochShuffle(torch.utils.data.Sampler):
    """A permutation that depends on (seed, epoch) only. Lightning calls ``set_epoch`` before it
    iterates, so a resumed run sees exactly the batches an uninterrupted run would have seen.

    With ``world`` > 1 processes, global batch ``k`` is ``perm[k*B:(k+1)*B]`` as in one process,
    and rank ``r`` takes its ``r``-th slice of ``B / world`` samples. The permutation is padded by
    wrapping around to whole global batches, so every rank runs the same number of steps.
    """

    def __init__(self, n: int, seed: int, batch_size: int = 1, world: int = 1) -> None:
        self.n, self.seed, self.epoch = n, seed, 0
        self.batch_size, self.world = batch_size, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def padded(self) -> int:
        """Samples per epoch over all processes: whole global batches when split (1 process: ``n``)."""
        return self.n if self.world == 1 else -(-self.n // self.batch_size) * self.batch_size

    def __len__(self) -> int:
        return self.padded // self.world

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        if self.world == 1:
            return iter(perm)
        rank, world = rank_and_world()
        if world != self.world:
            raise RuntimeError(f"loader built for {self.world} processes, running in {world}")
        B, b, padded = self.batch_size, self.batch_size // self.world, self.padded
        perm = (perm * (padded // self.n + 1))[:padded]
        return iter(i for k in range(0, padded, B) for i in perm[k + rank * b:k + (rank + 1) * b])


def seeded_loader(ds: Dataset, batch_size: int, seed: int, world: int = 1) -> DataLoader:
    """A shuffled loader whose order is a function of (seed, epoch); ``batch_size`` is global,
    each of the ``world`` processes loads ``batch_size / world`` of it."""
    if batch_size % world:
        raise ValueError(f"batch size {batch_size} cannot be split over {world} processes")
    return DataLoader(ds, batch_size=batch_size // world, sampler=EpochShuffle(len(ds), seed, batch_size, world),
                      num_workers=0)


def epoch_mean(trainer: pl.Trainer, values: list[float]) -> float:
    """Mean of this epoch's per-step values over all processes (every rank must call it)."""
    t = torch.tensor([sum(values), float(len(values))], dtype=torch.float64)
    if trainer.world_size > 1:  # on the strategy's device: nccl reduces GPU tensors only
        t = trainer.strategy.reduce(t.to(trainer.strategy.root_device), reduce_op="sum").cpu()
    return float(t[0] / t[1]) if t[1] > 0 else float("nan")


def start_epoch(task, loader: DataLoader, epoch: int) -> None:
    """Per-epoch random draws of the task (e.g. training masks) for ``epoch``."""
    loader.sampler.set_epoch(epoch)
    task.set_epoch(loader.dataset, epoch)


def fit(trainer: pl.Trainer, module, run, **kwargs) -> None:
    """``trainer.fit`` that turns a diverged loss or a full disk into one clear line, keeping the
    last good checkpoint."""

    def kept() -> str:
        return f"the last good checkpoint is {run.checkpoint}" if run.checkpoint.exists() else "no checkpoint was written yet"

    try:
        trainer.fit(module, **kwargs)
    except FloatingPointError as e:
        run.log(f"stopped: {e}", echo=False)
        raise RunFailed(f"{e}; stopped, {kept()} (try a lower learning rate, then --resume)") from None
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise RunFailed(f"disk full at epoch {trainer.current_epoch + 1} ({e.strerror}); {kept()}. "
                        "Free some space, then continue with --resume") from None


def rank_spread(trainer: pl.Trainer, tensors: list[torch.Tensor]) -> float:
    """Largest difference of ``tensors`` between any process and rank 0 (0.0 in one process).
    Every rank must call it."""
    if trainer.world_size == 1:
        return 0.0
    flat = torch.cat([t.detach().float().flatten() for t in tensors])
    gathered = trainer.strategy.all_gather(flat)  # (world, n)
    return float((gathered - gathered[0]).abs().max())


STRATEGIES = ("auto", "ddp")
ACCELERATORS = ("cpu", "gpu", "auto")


@dataclass
class Compute:
    """Where training runs: Lightning's accelerator/devices/num_nodes/strategy.

    ``devices`` processes per node (CPU processes with the gloo backend, or GPUs with nccl),
    ``num_nodes`` machines; Lightning's DDP launches the extra local processes itself by
    re-running the same command line. ``auto`` with more than one process means ``ddp``.
    """

    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise UserError(f"--accelerator {self.accelerator}: expected one of {', '.join(ACCELERATORS)}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"--strategy {self.strategy}: expected one of {', '.join(STRATEGIES)} "
                            "(DDP re-runs this command in each process; ddp_spawn and others are not supported)")
        for name in ("devices", "num_nodes"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")

    @property
    def world(self) -> int:
        return self.devices * self.num_nodes

    def check_batch(self, batch_size: int, key: str) -> None:
        """The global batch must split evenly over the processes."""
        if batch_size % self.world:
            raise UserError(f"{key}={batch_size} cannot be split over {self.world} processes (the batch size is "
                            f"global); use a multiple of {self.world}: --set {key}={self.world * max(1, batch_size // self.world)}")

    def cli_args(self) -> list[str]:
        """The command-line flags that give these settings (the defaults left out)."""
        out = []
        for name, default in (("accelerator", "cpu"), ("devices", 1), ("num_nodes", 1), ("strategy", "auto")):
            if getattr(self, name) != default:
                out += [f"--{name.replace('_', '-')}", str(getattr(self, name))]
        return out

    def trainer_kwargs(self) -> dict:
        # Lightning's DDP uses gloo for CPU processes and nccl for GPUs
        strategy = "ddp" if self.strategy == "auto" and self.world > 1 else self.strategy
        return {"accelerator": self.accelerator, "devices": self.devices, "num_nodes": self.num_nodes,
                "strategy": strategy}


def make_trainer(epochs: int, callbacks: list, steps_per_epoch: int, progress: bool,
                 compute: Compute | None = None, run=None, **kw) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        **(compute or Compute()).trainer_kwargs(),
        use_distributed_sampler=False,  # EpochShuffle splits the data over the processes itself
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        limit_train_batches=steps_per_epoch if steps_per_epoch > 0 else 1.0,
        callbacks=[*callbacks, FirstStep(run)] if run is not None else callbacks,
        **kw,
    )
