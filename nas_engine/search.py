"""Architecture search with an NNI one-shot strategy (``search.strategy``, default DARTS first
order; see :mod:`nas_engine.oneshot.strategies`), driven through Lightning.

Each batch: one architecture step on the ``train_alpha`` split, one weight step on
``train_w`` (NNI's ``DartsLightningModule`` and its kin). After each epoch the genotype is
derived with the paper's rule and the per-edge softmax table is appended to
``alphas.csv`` (and drawn in ``alphas.png``); the search stops at ``epochs`` or
when the genotype has not changed for ``patience`` epochs, once at least
``min_arch_steps`` architecture steps were made. ``warmup_epochs`` train the
weights alone first; ``op_norm`` normalises every candidate's output in the
supernet (see :func:`searchable_module_factory`); ``search.cost`` adds the cell's
expected cost to the architecture loss (:mod:`nas_engine.oneshot.cost`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time

import pytorch_lightning as pl
import torch

from .config import Config, arch_batch_size
from .distributed import Compute, epoch_mean, rank_spread
from .drawing import draw_alphas, save_cell, save_figure
from .errors import RunFailed, UserError
from .files import write_json, write_text
from .forecast import guard_memory
from .genotype import Genotype
from .network import check_memory
from .oneshot.build import build_oneshot, build_supernet, derive_macro
from .oneshot.strategies import get_strategy
from .rundir import RunDir
from .sampling import seeded_loader, start_epoch
from .training import EpochCheckpoint, fit, log_epoch, make_loggers, make_trainer, quiet_lightning

# alphas.png during a search: redrawn at an epoch's end only when the last drawing is this old (seconds),
# and always when the search ends. Drawing takes 0.5-1.5 s on 2 cores: nothing next to a real epoch
# (minutes), but most of a tiny one (the test suite's searches), where every epoch would redraw it.
ALPHAS_REDRAW_S = 30.0


class SearchMonitor(pl.Callback):
    """Per epoch: derive the genotype, record alphas and losses, stop early when stable."""

    def __init__(self, run: RunDir, space, cfg: Config, task, loaders, strategy) -> None:
        self.run, self.space, self.cfg, self.task, self.loaders = run, space, cfg, task, loaders
        self.strategy = strategy  # the resolved search.strategy (how to read per-edge weights)
        self.history: list[dict] = []  # per epoch: genotype signature, losses, time
        self.rows: list[list] = []  # alphas.csv rows
        self.genotype: Genotype | None = None  # derived at the end of the last epoch run here
        self.drawn = time.perf_counter()  # of the last alphas.png; the first comes ALPHAS_REDRAW_S in
        self.drawn_rows = 0  # how many alphas.csv rows the last alphas.png shows

    # Lightning stores this with the checkpoint, so early stopping survives --resume.
    def state_dict(self) -> dict:
        return {"history": self.history, "rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"])
        self.rows = [list(r) for r in state["rows"]]

    @property
    def arch_steps(self) -> int:
        return sum(h.get("arch_steps", 0) for h in self.history)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        for loader in self.loaders:
            start_epoch(self.task, loader, trainer.current_epoch)
        tm = pl_module.training_module
        tm.epoch_losses = {"w": [], "alpha": []}
        self.t0 = time.perf_counter()

    def derive(self, pl_module) -> tuple[Genotype, dict]:
        weights = self.strategy.edge_weights(pl_module)
        m = self.cfg.model
        geno = Genotype.derive(weights, self.space.name, self.space.ops, m.cells, m.nodes)
        macro, self.macro_probs = derive_macro(pl_module, pl_module.training_module.choose,
                                               self.space)
        return (dataclasses.replace(geno, macro=macro) if macro else geno), weights

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch
        # NNI's DARTS under DDP: the alphas must be the same on every process, or the ranks
        # would derive different architectures. DDP's gradient averaging keeps them equal;
        # stop loudly if that ever fails rather than write a genotype that only rank 0 holds.
        spread = rank_spread(trainer, pl_module.arch_parameters())
        if spread > 1e-6:
            raise RunFailed(f"epoch {epoch + 1}: the architecture parameters differ between processes "
                            f"(max difference {spread:.3g}); DDP did not synchronise them")
        geno, weights = self.derive(pl_module)
        tm = pl_module.training_module
        losses = {k: epoch_mean(trainer, tm.epoch_losses[k]) for k in ("w", "alpha")}  # over all processes
        entropy = alpha_entropy(weights)
        rec = {"epoch": epoch + 1, "loss_w": losses["w"],
               "loss_alpha": None if math.isnan(losses["alpha"]) else losses["alpha"],  # none in warm-up
               "arch_steps": len(tm.epoch_losses["alpha"]), "alpha_entropy": entropy,
               "param_free_ops": param_free_ops(geno, self.cfg.model.channels),
               "seconds": time.perf_counter() - self.t0, "genotype": geno.to_dict()}
        if self.macro_probs:
            rec["macro_probs"] = {k: {str(c): p for c, p in d.items()} for k, d in self.macro_probs.items()}
        if tm.penalty is not None:  # the cell's expected cost, as a fraction of the dearest cell's
            cost = epoch_mean(trainer, tm.epoch_losses.get("cost", []))
            rec["expected_cost"] = None if math.isnan(cost) else cost
        self.history.append(rec)
        self.genotype = geno
        for (node, inp), dist in sorted(weights.items()):
            for op in self.space.ops:
                self.rows.append([epoch + 1, node + 2, inp, op, f"{dist.get(op, 0.0):.6f}"])
        log_epoch(trainer, self.run, [{k: v for k, v in h.items() if k != "genotype"} for h in self.history])
        for lg in trainer.loggers:  # each edge's softmax weights (TensorBoard: one chart per edge)
            lg.log_metrics({f"alpha/node{node + 2}_input{inp}/{op}": float(dist.get(op, 0.0))
                            for (node, inp), dist in weights.items() for op in self.space.ops}, step=epoch + 1)
        if not self.run.worker:
            self._write(geno)
        stable = self.stable_epochs()
        la = "warm-up" if rec["loss_alpha"] is None else f"{rec['loss_alpha']:.4f}"
        self.run.log(
            f"epoch {epoch + 1}/{trainer.max_epochs}  loss_w {rec['loss_w']:.4f}  loss_alpha {la}  "
            f"alpha entropy {entropy:.3f}  {rec['seconds']:.1f}s  {stable_text(stable, epoch)}  "
            f"[{', '.join(f'{e.op}({e.input})' for edges in geno.cell for e in edges)}]"
        )
        warning = collapse_warning(self.history, self.cfg)
        if warning:
            self.run.log(warning)
        if self.stopped(stable):
            self.run.log(f"early stop: genotype unchanged for {stable} epochs (patience {self.cfg.search.patience}) "
                         f"after {self.arch_steps} architecture steps")
            trainer.should_stop = True

    def stopped(self, stable: int) -> bool:
        s = self.cfg.search
        return s.patience > 0 and stable >= s.patience and self.arch_steps >= s.min_arch_steps

    def on_train_start(self, trainer, pl_module) -> None:
        # a resumed run that had stopped early stays stopped: it goes straight to its selection (a resumed
        # search with another search.select chooses in the same supernet)
        stable = self.stable_epochs()
        if self.history and self.stopped(stable):
            self.run.log(f"resume: the search had stopped early after epoch {len(self.history)} (genotype unchanged "
                         f"for {stable} epochs); not training on")
            trainer.should_stop = True

    def stable_epochs(self) -> int:
        """Epochs since the derived genotype last changed."""
        sigs = [Genotype.from_dict(h["genotype"]).signature() for h in self.history]
        n = 0
        for a, b in zip(reversed(sigs[:-1]), reversed(sigs[1:])):
            if a != b:
                break
            n += 1
        return n

    def _write(self, geno: Genotype) -> None:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["epoch", "node", "input", "op", "prob"])
        w.writerows(self.rows)
        write_text(self.run / "alphas.csv", buf.getvalue())
        write_text(self.run / "genotype.json", geno.to_json())
        write_text(self.run / "genotype.txt", str(geno) + "\n")
        write_json(self.run / "history.json", self.history)
        if time.perf_counter() - self.drawn >= ALPHAS_REDRAW_S:
            self.draw()

    def draw(self) -> None:
        """``alphas.png`` from every epoch recorded so far (nothing to do when it shows them already)."""
        if self.rows and len(self.rows) != self.drawn_rows:
            save_figure(draw_alphas(self.rows, self.space.ops), self.run / "alphas.png", dpi=110)
            self.drawn_rows = len(self.rows)
        self.drawn = time.perf_counter()


def stable_text(stable: int, epoch: int) -> str:
    """How long the derived genotype has stood, for the epoch's log line."""
    if epoch == 0:
        return "first genotype"
    if stable == 0:
        return "genotype changed"
    return f"genotype unchanged for {stable} epoch{'s' if stable > 1 else ''}"


def alpha_entropy(weights: dict) -> float:
    """Mean over edges of the entropy of the edge's softmax, divided by log(#ops): 1.0 while the
    alphas are uniform, towards 0 as every edge settles on one op."""
    vals = []
    for dist in weights.values():
        p = [v for v in dist.values() if v > 0]
        if len(dist) > 1:
            vals.append(-sum(v * math.log(v) for v in p) / math.log(len(dist)))
    return float(sum(vals) / len(vals)) if vals else 0.0


def _collapsed(rec: dict) -> bool:
    return bool(rec.get("arch_steps")) and rec["param_free_ops"] >= sum(len(n) for n in rec["genotype"]["cell"])


def collapse_warning(history: list[dict], cfg: Config) -> str | None:
    """One line, at the first epoch after architecture steps whose derived cell has no parameterised
    edge left (every edge skip_connect or the zero op: DARTS' collapse, a cell that only adds its
    inputs); None at every other epoch. With ``search.cost`` set the usual cause is a cost weight
    that outweighs the loss."""
    if not history or not _collapsed(history[-1]) or any(_collapsed(h) for h in history[:-1]):
        return None
    s = cfg.search
    why = (f"search.cost_weight={s.cost_weight:g} outweighs the reconstruction loss; lower it (at the bench "
           "preset 0.1 and 0.3 collapse in one epoch: benchmarks/results/pareto/cost_stopped.md)"
           if s.cost != "none" else "the known DARTS failure (skip connections win the softmax); "
           "search.op_norm=true and fewer search epochs are the usual remedies")
    return (f"warning: epoch {history[-1]['epoch']}: every edge of the derived cell is parameter-free "
            f"(skip_connect or none), a cell that only adds its inputs; {why}")


def param_free_ops(geno: Genotype, channels: int) -> int:
    """Edges of the derived cell whose op has no weights (e.g. skip_connect): DARTS' known collapse."""
    from search_spaces import get_op

    return sum(1 for edges in geno.cell for e in edges
               if not any(True for _ in get_op(e.op)(channels).parameters()))


# what lowers a search's memory, for the messages of the memory guard and of --dry-run
SEARCH_KNOBS = ("search.batch_size or search.arch_batch_size, set model.checkpoint=true or model.precision=bf16, "
                "search.partial_channels (pcdarts) or search.strategy=gdas")


FORECAST_DRAWS = 8  # steps timed per batch size when the supernet draws a path per step (their mean)


def forecast_search(task, space, cfg: Config):
    """``search --dry-run``: peak memory and step time at ``search.batch_size``, from batches 1 and 2.
    With a larger ``search.arch_batch_size`` both steps are forecast at that batch: its peak is the
    architecture step's, and the step time is an upper bound. A strategy that draws a path per step
    (``Strategy.draws_path``, and spos): the mean of ``FORECAST_DRAWS`` steps, each its own draw."""
    from .forecast import forecast

    if get_strategy(cfg).standalone:
        from .ranked import check_ranked

        check_ranked(cfg)
        raise UserError("search --dry-run forecasts a supernet's training; search.strategy=ranked trains no supernet "
                        "(its candidates train as retrain does: forecast one with retrain --dry-run)")
    if get_strategy(cfg).single_path:
        from .oneshot.spos import forecast_spos

        return forecast_spos(task, space, cfg, FORECAST_DRAWS)
    check_memory(lambda c: build_supernet(task, space, cfg, c), cfg.model.channels)
    train_w, train_alpha = task.search_datasets(cfg.search.alpha_fraction)

    def prepare(b: int):
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        _, oneshot = build_oneshot(task, space, cfg)
        return oneshot, {"train": seeded_loader(train_w, b, cfg.seed), "val": seeded_loader(train_alpha, b, cfg.seed + 1)}

    steps = cfg.search.steps_per_epoch or -(-len(train_w) // cfg.search.batch_size)  # weight batches per epoch
    draws = FORECAST_DRAWS if get_strategy(cfg).draws_path(cfg) else 1
    return forecast(prepare, max(cfg.search.batch_size, arch_batch_size(cfg)), len(train_w), steps, draws)


def run_search(task, space, cfg: Config, run: RunDir, resume: bool = False, progress: bool = True,
               compute: Compute | None = None, logger: str = "csv") -> Genotype:
    """Search, write the run directory, return the final genotype.

    With ``compute.world`` > 1 processes, DDP averages the gradients of the weights *and* of the
    architecture parameters after every backward pass, so all processes hold the same alphas
    and derive the same genotype (tests/test_ddp.py checks it against a one-process search).
    """
    from .oneshot.selection import check_selection

    check_selection(cfg)
    spec = get_strategy(cfg)  # resolved once, passed down
    if spec.standalone:
        from .ranked import run_ranked

        return run_ranked(task, space, cfg, run, resume, progress)
    if spec.single_path:
        from .oneshot.spos import run_spos

        return run_spos(task, space, cfg, run, resume, progress, compute, logger)
    compute = compute or Compute()
    quiet_lightning()
    check_memory(lambda c: build_supernet(task, space, cfg, c), cfg.model.channels)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    from .oneshot import strategies as S

    # the weighted-sum cell in one process only: under DDP its alphas drifted from the one-process run's by
    # ~1e-3 in 10 tiny epochs (NNI's cell: 1e-6), and the DDP search must match the one-process search
    lever, S.WEIGHTED_SUM_CELL = S.WEIGHTED_SUM_CELL, S.WEIGHTED_SUM_CELL and compute.world == 1
    try:
        strategy, oneshot = build_oneshot(task, space, cfg)
    finally:
        S.WEIGHTED_SUM_CELL = lever
    info = {
        "strategy": [f"{c.__module__}.{c.__qualname__}" for c in type(strategy).__mro__[:2]],
        "oneshot_module": [f"{c.__module__}.{c.__qualname__}" for c in type(oneshot).__mro__[:2]],
        "nni_version": __import__("nni").__version__,
        "arch_parameters": len(oneshot.arch_parameters()),
        "processes": compute.world,
    }
    train_w, train_alpha = task.search_datasets(cfg.search.alpha_fraction)
    loaders = [seeded_loader(train_w, cfg.search.batch_size, cfg.seed, compute.world),
               seeded_loader(train_alpha, arch_batch_size(cfg), cfg.seed + 1, compute.world)]
    info["batch_size"] = {"weights": loaders[0].batch_size * compute.world,
                          "architecture": loaders[1].batch_size * compute.world}
    if not run.worker:
        write_json(run / "search_info.json", info)
    run.log(f"search: task {task.name}, space {space.name} {list(space.ops)}, data {task.describe_data()}, "
            f"{len(train_w)} weight / {len(train_alpha)} architecture samples, NNI {type(strategy).__name__}"
            + (f", {compute.world} processes (DDP)" if compute.world > 1 else ""))
    with torch.random.fork_rng():  # strategies that sample a path (proxyless) need one before a forward
        if hasattr(oneshot, "resample"):
            oneshot.resample()
    cands, flops = [], {}
    if cfg.search.select == "candidates":  # drawn before training: a FLOPs limit that none meets fails now
        from .oneshot.spos import candidates_of, draw_candidates

        cands, flops = draw_candidates(task, space, cfg, candidates_of(cfg)[0], run.log)
    biggest = max(cfg.search.batch_size, arch_batch_size(cfg)) // compute.world
    guard_memory(task, oneshot.training_module.model, train_w, biggest, "this search",
                 SEARCH_KNOBS, log=run.log)
    monitor = SearchMonitor(run, space, cfg, task, loaders, spec)
    trainer = make_trainer(cfg.search.epochs, [monitor, EpochCheckpoint(run.checkpoint)],
                           cfg.search.steps_per_epoch, progress, compute, run=run, loggers=make_loggers(run, logger))
    fit(trainer, oneshot, run, train_dataloaders={"train": loaders[0], "val": loaders[1]}, resume=resume)
    if run.worker:
        return monitor.genotype
    if not (run / "genotype.json").is_file() and monitor.history:  # a finished search's checkpoint, copied to a
        monitor._write(Genotype.from_dict(monitor.history[-1]["genotype"]))  # new run: its record is in it
    geno = Genotype.load(run / "genotype.json")
    monitor.draw()  # the last epochs' alphas, if the throttle skipped them
    if cfg.search.select != "argmax" and (run / "selection.json").is_file():
        pass  # selected already (a resumed run that had finished): genotype.json is the selection's
    elif cfg.search.select != "argmax":
        from .oneshot.selection import perturbation_select
        from .oneshot.spos import candidates_of, choose_candidate, eval_batches

        write_text(run / "genotype_argmax.json", geno.to_json())
        if cfg.search.select == "perturbation":
            geno, record = perturbation_select(oneshot, task, space, cfg,
                                               eval_batches(task, cfg, train_alpha, candidates_of(cfg)[1]), log=run.log)
            write_text(run / "genotype.json", geno.to_json())
            write_text(run / "genotype.txt", str(geno) + "\n")
        else:  # candidates: drawn ones scored in the supernet (after their fine-tune), as SPOS chooses
            geno = choose_candidate(task, oneshot, cands, flops, cfg, train_w, train_alpha, run, progress)
            record = {"select": "candidates", "candidates": len(cands)}
        # last: its presence says the selection is done (a resumed run must not select from its own result)
        write_json(run / "selection.json", {"argmax": Genotype.load(run / "genotype_argmax.json").to_dict(), **record})
    save_cell(geno, run / "cell.png")
    return geno
