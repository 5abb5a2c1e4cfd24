"""Lightning glue shared by search and retraining: the task's loss as a LightningModule,
per-epoch atomic checkpoints, and loaders seeded for reproducibility."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from nni.nas.evaluator.pytorch import LightningModule
from torch.utils.data import DataLoader, Dataset


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)


class EpochShuffle(torch.utils.data.Sampler):
    """A permutation that depends on (seed, epoch) only. Lightning calls ``set_epoch`` before it
    iterates, so a resumed run sees exactly the batches an uninterrupted run would have seen."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


def seeded_loader(ds: Dataset, batch_size: int, seed: int) -> DataLoader:
    """A shuffled loader whose order is a function of (seed, epoch)."""
    return DataLoader(ds, batch_size=batch_size, sampler=EpochShuffle(len(ds), seed), num_workers=0)


def start_epoch(task, loader: DataLoader, epoch: int) -> None:
    """Per-epoch random draws of the task (e.g. training masks) for ``epoch``."""
    loader.sampler.set_epoch(epoch)
    task.set_epoch(loader.dataset, epoch)


def fit(trainer: pl.Trainer, module, run, **kwargs) -> None:
    """``trainer.fit`` that turns a diverged loss into one clear line, keeping the last good checkpoint."""
    from .errors import RunFailed

    try:
        trainer.fit(module, **kwargs)
    except FloatingPointError as e:
        kept = f"the last good checkpoint is {run.checkpoint}" if run.checkpoint.exists() else "no checkpoint was written yet"
        run.log(f"stopped: {e}", echo=False)
        raise RunFailed(f"{e}; stopped, {kept} (try a lower learning rate, then --resume)") from None


def make_trainer(epochs: int, callbacks: list, steps_per_epoch: int, progress: bool, **kw) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        limit_train_batches=steps_per_epoch if steps_per_epoch > 0 else 1.0,
        callbacks=callbacks,
        **kw,
    )
