"""Lightning glue shared by search and retraining: the task's loss as a LightningModule,
per-epoch atomic checkpoints, and a ``fit`` that turns a diverged loss or a full disk into
one clear line."""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytorch_lightning as pl
import torch
from nni.nas.evaluator.pytorch import LightningModule
from pytorch_lightning.callbacks import TQDMProgressBar

from .distributed import Compute
from .errors import Interrupted, RunFailed, UserError
from .network import to_channels_last


def quiet_lightning() -> None:
    """Lightning's start-up chatter (GPU/TPU lines, tips) is noise on a CPU CLI."""
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


class TaskModule(LightningModule):
    """Trains ``model`` with ``task.loss`` (Adam). NNI's DARTS wraps it for search.

    Under DARTS, ``training_step`` is called twice per batch: the architecture step
    (even index, on the ``val`` split) and the weight step (odd index).
    """

    def __init__(self, task, model: torch.nn.Module, lr: float, lr_after: float | None = None,
                 drop_epoch: int | None = None, darts: bool = False, penalty=None, choose=None) -> None:
        super().__init__()
        self.task = task
        self.set_model(to_channels_last(model))  # the convolutions in NHWC: the speed lever of CPU training
        self.lr, self.lr_after, self.drop_epoch = lr, lr_after, drop_epoch
        self.epoch_losses: dict[str, list[float]] = {"w": [], "alpha": []}
        self.darts = darts  # a DARTS-like search: even steps are architecture steps
        self.penalty = penalty  # search: a cost added to the architecture step's loss (nas_engine/oneshot/cost.py)
        self.choose = choose  # search: the supernet's macro choices (nas_engine/oneshot/supernet.py: Choose)

    def forward(self, *args: Any) -> torch.Tensor:
        return self.model(*args)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.task.loss(self.model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"non-finite loss ({loss.item()}) at epoch {self.trainer.current_epoch}, batch {batch_idx}"
            )
        kind = "alpha" if self.darts and batch_idx % 2 == 0 else "w"
        self.epoch_losses[kind].append(float(loss.detach()))  # the task's loss only, comparable across runs
        if kind == "w":
            self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        elif self.penalty is not None:
            cost = self.penalty()
            self.epoch_losses.setdefault("cost", []).append(float(cost.detach()) / self.penalty.weight)
            loss = loss + cost
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
        save_checkpoint(trainer, self.path)


def save_checkpoint(trainer: pl.Trainer, path: Path) -> None:
    """Lightning's checkpoint to ``path`` atomically; every rank calls it (a barrier), rank 0 writes."""
    tmp = path.with_name(f".{path.name}.tmp")
    if trainer.is_global_zero:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        trainer.save_checkpoint(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written file never replaces the last good one
        raise
    if trainer.is_global_zero:
        os.replace(tmp, path)


class FirstStep(pl.Callback):
    """Log how long the command took from its start to its first training step (start-up, data,
    model and, with ``--resume``, loading the checkpoint). A command that another one runs in the
    same process (the demo's retrain after its search) counts from its own start."""

    def __init__(self, run) -> None:
        self.run, self.done = run, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.done:
            return
        self.done = True
        from .rundir import COMMAND_START

        since = time.time() - (COMMAND_START if COMMAND_START is not None else psutil.Process().create_time())
        self.run.log(f"first step (epoch {trainer.current_epoch + 1}) {since:.1f}s after the command started",
                     echo=False)


IN_EPOCH_EVERY = 60.0  # seconds between the in-epoch lines without a progress bar


class InEpochLines(pl.Callback):
    """Without a progress bar, a line inside a long epoch at most every ``IN_EPOCH_EVERY`` seconds (steps
    done, the epoch's time left at the pace so far), so that a slow epoch does not look like a hang."""

    def __init__(self, run) -> None:
        self.run, self.every = run, IN_EPOCH_EVERY

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.t0 = self.last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        total = trainer.num_training_batches
        if now - self.last < self.every or not isinstance(total, int) or batch_idx + 1 >= total:
            return
        self.last = now
        done = batch_idx + 1
        left = (now - self.t0) / done * (total - done)
        self.run.log(f"  epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {done}/{total} steps, "
                     f"about {left:.0f}s of it left")


class _StopRequested(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopOnSignal(pl.Callback):
    """SIGINT (Ctrl-C) and SIGTERM stop training at the next step boundary: the handler only takes
    note, and the step that is running finishes first. Lightning handles SIGTERM the same way itself
    (its ``SIGTERMException``); without this, Ctrl-C inside Lightning exits 1 and says nothing."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def install(self) -> None:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._note)

    def uninstall(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def _note(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.signum is not None:
            raise _StopRequested(self.signum)


def check_checkpoint(path: Path) -> int:
    """A checkpoint that cannot be read is one line naming the file (not a traceback from inside
    Lightning). Returns the number of epochs it holds."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or "state_dict" not in state:
            raise ValueError("no state_dict in it")
    except Exception as e:
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        raise UserError(f"{path}: unreadable checkpoint ({first}); move it away to start the run over, or "
                        "restore it from a backup") from None
    return int(state.get("epoch", -1)) + 1


def fit(trainer: pl.Trainer, module, run, resume: bool = False, **kwargs) -> None:
    """``trainer.fit`` that turns a diverged loss, a full disk, an unreadable checkpoint or a
    signal into one clear line, keeping the last good checkpoint. ``resume``: continue from the
    run's last checkpoint (from the beginning, and says so, when there is none yet)."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    def kept() -> str:
        return f"the last good checkpoint is {run.checkpoint}" if run.checkpoint.exists() else "no checkpoint was written yet"

    if resume:
        kwargs["ckpt_path"] = str(run.checkpoint) if run.checkpoint.exists() else None
        if kwargs["ckpt_path"] is None:
            run.log("resume: no checkpoint yet, starting from the beginning")
    ckpt = kwargs.get("ckpt_path")
    if ckpt:
        done = check_checkpoint(Path(ckpt))
        if done >= trainer.max_epochs:
            run.log(f"resume: all {trainer.max_epochs} epochs are in the checkpoint already ({ckpt})")
        else:
            run.log(f"resume: {done} epoch(s) done, continuing at epoch {done + 1} of {trainer.max_epochs} ({ckpt})")
    stop = next((c for c in trainer.callbacks if isinstance(c, StopOnSignal)), None)
    if stop is not None:
        stop.install()
    try:
        trainer.fit(module, **kwargs)
    except (_StopRequested, SIGTERMException) as e:
        signum = e.signum if isinstance(e, _StopRequested) else signal.SIGTERM
        name = signal.Signals(signum).name
        epoch = trainer.current_epoch + 1
        if run.checkpoint.exists():
            where = (f"the last checkpoint ({run.checkpoint}) holds every epoch before epoch {epoch}; continue with: "
                     f"{run.resume_hint()}")
        else:
            where = f"no epoch had finished, so no checkpoint exists: `{run.resume_hint()}` starts from the beginning"
        run.log(f"stopped by {name} in epoch {epoch}", echo=False)
        raise Interrupted(f"stopped by {name} in epoch {epoch}; {where}", signum) from None
    except FloatingPointError as e:
        run.log(f"stopped: {e}", echo=False)
        raise RunFailed(f"{e}; stopped, {kept()} (try a lower learning rate, then --resume)") from None
    except RuntimeError as e:
        if ckpt and "loading state_dict" in str(e):
            first = str(e).strip().splitlines()[0]
            raise UserError(f"{ckpt} does not fit the network of this command ({first}); resume with the run's own "
                            "settings (leave out --set/--space options that change the network)") from None
        raise
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise RunFailed(f"disk full at epoch {trainer.current_epoch + 1} ({e.strerror}); {kept()}. "
                        "Free some space, then continue with --resume") from None
    finally:
        if stop is not None:
            stop.uninstall()


class EpochBar(TQDMProgressBar):
    """One bar per epoch, opened when the epoch starts and kept, labelled as the per-epoch lines
    (``epoch 1/10``). Lightning's default first shows an empty ``Training: 0/?`` bar before the
    first epoch knows its length, and counts epochs from 0."""

    def __init__(self) -> None:
        super().__init__(leave=True)

    def on_train_start(self, *_: Any) -> None:
        pass  # no bar before the first epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        import sys

        from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm, convert_inf

        self._train_progress_bar = Tqdm(desc=f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}",
                                        total=convert_inf(self.total_train_batches), position=2 * self.process_position,
                                        disable=self.is_disabled, leave=True, dynamic_ncols=True, file=sys.stdout,
                                        smoothing=0, bar_format=self.BAR_FORMAT)


LOGGERS = ("csv", "tensorboard")


def make_loggers(run, logger: str = "csv") -> list:
    """The Lightning loggers of a run: ``csv`` (the default) adds none, because every run writes
    ``metrics.csv`` itself (:func:`log_epoch`: Lightning's CSVLogger deletes an existing
    metrics.csv when a run resumes); ``tensorboard`` adds event files under ``RUN/tensorboard``."""
    if logger not in LOGGERS:
        raise UserError(f"--logger {logger}: choose one of {', '.join(LOGGERS)}")
    if logger != "tensorboard" or run is None:
        return []
    try:
        import os
        import time

        from pytorch_lightning.loggers import TensorBoardLogger

        # event files are named by the second they start in: a run resumed within the same second would
        # overwrite the first part's events; a suffix of its own keeps every part
        return [TensorBoardLogger(save_dir=str(run.path), name="tensorboard", version="", default_hp_metric=False,
                                  filename_suffix=f".{os.getpid()}.{time.time_ns()}")]
    except ModuleNotFoundError:
        raise UserError("--logger tensorboard needs tensorboardX (pip install 'nasengine[tensorboard]'; "
                        "`make setup` installs it) or tensorboard") from None


def log_epoch(trainer: pl.Trainer, run, history: list[dict]) -> None:
    """The last epoch's numbers to the trainer's loggers (as ``epoch/NAME`` at step = epoch) and
    ``metrics.csv`` (one row per epoch, rewritten from the history, so a resumed run keeps it)."""
    import csv
    import io

    from .files import write_text

    rec = history[-1]
    scalars = {f"epoch/{k}": float(v) for k, v in rec.items()
               if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    for lg in trainer.loggers:
        lg.log_metrics(scalars, step=rec["epoch"])
    if run is None or run.worker:
        return
    run.record_cost()
    keys = ["epoch"]
    for h in history:  # numbers only (None where an epoch has no value, e.g. loss_alpha in warm-up)
        keys += [k for k, v in h.items() if k not in keys and (v is None or isinstance(v, (int, float)))
                 and not isinstance(v, bool)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    w.writeheader()
    w.writerows(history)
    write_text(run / "metrics.csv", buf.getvalue())


def make_trainer(epochs: int, callbacks: list, steps_per_epoch: int, progress: bool,
                 compute: Compute | None = None, run=None, loggers: list | None = None, **kw) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=epochs,
        **(compute or Compute()).trainer_kwargs(),
        use_distributed_sampler=False,  # EpochShuffle splits the data over the processes itself
        logger=loggers or False,
        log_every_n_steps=10,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
        limit_train_batches=steps_per_epoch if steps_per_epoch > 0 else 1.0,
        callbacks=([*callbacks, FirstStep(run), StopOnSignal()] if run is not None else list(callbacks))
        + ([EpochBar()] if progress else [InEpochLines(run)] if run is not None and not run.worker else []),
        **kw,
    )
