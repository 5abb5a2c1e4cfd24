"""Retraining a fixed network from a genotype, and loading it back for evaluation."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from .config import Config, build_config, load_yaml
from .distributed import Compute, epoch_mean
from .errors import UserError
from .files import atomic_write, read_json, write_json
from .forecast import guard_memory
from .genotype import Genotype
from .network import build_model, check_memory, fixed_module_factory, to_channels_last  # noqa: F401 (build_model: its old home)
from .rundir import RunDir
from .sampling import seeded_loader, start_epoch
from .training import (
    EpochCheckpoint,
    TaskModule,
    fit,
    log_epoch,
    make_loggers,
    make_trainer,
    quiet_lightning,
    save_checkpoint,
)


def metric_text(v: float) -> str:
    """A metric for an epoch line, with fixed decimals (PSNR 20.00, SSIM 0.7031, NMSE 0.0193)."""
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}" if abs(v) >= 0.01 else f"{v:.3g}"


class TrainMonitor(pl.Callback):
    """Per epoch: the training loss, the learning rate and (``validate``) the task's validation
    metrics, with ``checkpoints/best.ckpt`` (Lightning's) and ``model_best.pt`` (the weights, as
    ``model.pt``) kept at the best of them; ``train_history.json``,
    ``metrics.csv``, the loggers and one log line."""

    def __init__(self, run: RunDir, task, loader, validate: bool = True) -> None:
        self.run, self.task, self.loader, self.validate = run, task, loader, validate
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"])

    def _validate(self, trainer, pl_module, rec: dict) -> str:
        """Validation metrics into ``rec``; best checkpoint; returns the log line's part."""
        t0 = time.perf_counter()
        model = pl_module.model
        was_training = model.training
        out = self.task.validate(model)
        model.train(was_training)
        if out is None:
            self.validate = False  # this task has no validation split
            return ""
        metrics, image = out
        rec.update({f"val_{k}": v for k, v in metrics.items()})
        rec["val_seconds"] = time.perf_counter() - t0
        key, higher = self.task.validation_key
        scores = [h[f"val_{key}"] for h in self.history if f"val_{key}" in h and h is not rec]
        best = not scores or (metrics[key] > max(scores) if higher else metrics[key] < min(scores))
        if best:
            save_checkpoint(trainer, self.run.checkpoint.with_name("best.ckpt"))
            if trainer.is_global_zero:
                atomic_write(self.run / "model_best.pt", lambda t: torch.save(model.state_dict(), t))
                write_json(self.run / "best.json", {"epoch": rec["epoch"], **{f"val_{k}": v for k, v in metrics.items()}})
        if image is not None:
            for lg in trainer.loggers:
                if hasattr(lg.experiment, "add_image"):  # TensorBoard
                    lg.experiment.add_image("val/reconstruction", image, rec["epoch"], dataformats="HW")
        return "  val " + "  ".join(f"{k} {metric_text(v)}" for k, v in metrics.items()) + (" (best)" if best else "")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        start_epoch(self.task, self.loader, trainer.current_epoch)
        pl_module.epoch_losses = {"w": [], "alpha": []}
        self.lr = trainer.optimizers[0].param_groups[0]["lr"]  # the rate this epoch trains with
        self.t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        lr = self.lr
        rec = {"epoch": trainer.current_epoch + 1, "loss": epoch_mean(trainer, pl_module.epoch_losses["w"]), "lr": lr,
               "seconds": time.perf_counter() - self.t0}
        self.history.append(rec)
        val = self._validate(trainer, pl_module, rec) if self.validate else ""
        log_epoch(trainer, self.run, self.history)
        if self.run.worker:
            return
        write_json(self.run / "train_history.json", self.history)
        self.run.log(f"epoch {rec['epoch']}/{trainer.max_epochs}  loss {rec['loss']:.4f}  lr {lr:.0e}  "
                     f"{rec['seconds']:.1f}s{val}")


def retrain_knobs(cfg: Config) -> str:
    """What lowers a retraining's memory (a baseline has no cells to checkpoint or autocast)."""
    return "train.batch_size" + ("" if cfg.method else ", or set model.checkpoint=true or model.precision=bf16")


def forecast_retrain(task, make_model, cfg: Config):
    """``retrain --dry-run``: peak memory and step time at ``train.batch_size``, from batches 1 and 2."""
    from .forecast import forecast

    ds = task.train_dataset()
    t = cfg.train

    def prepare(b: int):
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        return TaskModule(task, make_model(), lr=t.lr), seeded_loader(ds, b, cfg.seed)

    return forecast(prepare, t.batch_size, len(ds), t.steps_per_epoch)


def run_retrain(task, model: torch.nn.Module, cfg: Config, run: RunDir, resume: bool = False,
                progress: bool = True, compute: Compute | None = None, logger: str = "csv",
                until: int | None = None) -> torch.nn.Module:
    """Train ``model`` on the whole training set: Adam, ``lr`` then ``lr_after`` for the second half.
    ``compute`` spreads it over several processes with DDP (the batch size stays global). ``until``: stop
    after that many of ``train.epochs``' epochs (the schedule stays the whole training's; a resumed call
    goes on from there)."""
    compute = compute or Compute()
    quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    t = cfg.train
    module = TaskModule(task, model, lr=t.lr, lr_after=t.lr_after if t.lr_after > 0 else None,
                        drop_epoch=max(1, t.epochs // 2))
    ds = task.train_dataset()
    loader = seeded_loader(ds, t.batch_size, cfg.seed, compute.world)
    n_params = sum(p.numel() for p in model.parameters())
    run.log(f"retrain: task {task.name}, {n_params:,} parameters, {len(ds)} training samples, {t.epochs} epochs"
            + (f", {compute.world} processes (DDP)" if compute.world > 1 else ""))
    guard_memory(task, model, ds, t.batch_size // compute.world, "this retraining",
                 retrain_knobs(cfg), log=run.log)
    trainer = make_trainer(min(until or t.epochs, t.epochs),
                           [TrainMonitor(run, task, loader, t.validate), EpochCheckpoint(run.checkpoint)],
                           t.steps_per_epoch, progress, compute, run=run, loggers=make_loggers(run, logger))
    fit(trainer, module, run, train_dataloaders=loader, resume=resume)
    if run.worker:
        return model
    atomic_write(run / "model.pt", lambda tmp: torch.save(model.state_dict(), tmp))
    return model


def load_trained(path: str | Path, make_task) -> tuple[object, torch.nn.Module, Config]:
    """Load a retrain run directory: (task, model with trained weights, config).

    ``make_task(cfg)`` builds the task from the run's config (the CLI may override data options).
    """
    run = Path(path)
    if not run.is_dir():
        raise UserError(f"--checkpoint {run}: not a run directory (expected the --out of `nasengine retrain`)")
    if not (run / "model.pt").is_file():
        if (run / "genotype.json").is_file() and ((run / "search_info.json").is_file() or (run / "alphas.csv").is_file()):
            why = (f"a search run, not a trained network; retrain its genotype first: nasengine retrain --genotype "
                   f"{run / 'genotype.json'} --out DIR, then --checkpoint DIR")
        elif (run / "checkpoints" / "last.ckpt").is_file():
            why = f"a retraining that has not finished (no model.pt yet); finish it: nasengine retrain --resume --out {run}"
        elif not any(run.iterdir()):
            why = "an empty folder; expected the --out of `nasengine retrain`"
        else:
            why = "not a finished retraining (no model.pt); expected the --out of `nasengine retrain`"
        raise UserError(f"--checkpoint {run}: {why}")
    if not (run / "config.yaml").is_file():
        raise UserError(f"--checkpoint {run}: missing config.yaml; expected the --out of `nasengine retrain`")
    cfg = build_config(load_yaml(run / "config.yaml"))
    try:
        genotype = None if cfg.method else Genotype.load(run / "genotype.json")
        task = make_task(cfg)
        model = build_model(task, cfg, genotype)
    except UserError as e:
        plugins = read_json(run / "plugins.json") if (run / "plugins.json").is_file() else None
        if plugins and str(e).startswith("unknown op"):
            raise UserError(f"--checkpoint {run}: it was trained with ops of plugin(s) {', '.join(plugins)}; pass "
                            + " ".join(f"--plugin {p}" for p in plugins)) from None
        raise
    state = None
    try:
        state = torch.load(run / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        to_channels_last(model)  # as it trained: evaluation and reconstruction run in NHWC too
    except (RuntimeError, KeyError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        hint = task.weights_hint(state) if isinstance(state, dict) else ""
        raise UserError(hint or f"{run / 'model.pt'}: does not fit the genotype/config of this run ({first})") from None
    return task, model, cfg
