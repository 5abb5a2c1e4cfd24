"""Single-path one-shot search (SPOS, Guo et al., ECCV 2020) and scoring architectures inside a
trained supernet.

``search.strategy: spos`` trains the supernet with NNI's ``RandomOneShot``: every step samples one
path uniformly (an op and an input per cell slot, one choice per macro choice) and trains only
it, on the weight split. There are no architecture weights; the architecture is chosen afterwards
by a search on the trained supernet: ``search.candidates`` architectures drawn uniformly from the
space (seeded; with ``search.max_flops``, from those whose network costs at most that, as SPOS
searches under a FLOPs constraint) are each scored by the task's loss on ``search.eval_batches``
batches of the architecture split, with the supernet's weights, and the one with the lowest loss is
the genotype. ``candidates.json`` keeps every candidate's score. With ``search.finetune_steps``, each
candidate first trains its own path that many steps from the supernet's weights (the same weight-split
batches for all, the supernet restored after each): weights shared by every path serve none of them
well, and in a space whose depth is searched the raw shared-weight scores order the depths backwards.

:func:`supernet_losses` scores given genotypes in a kept search run (any strategy whose
supernet can be restricted to one architecture: spos, and darts through one-hot alphas), which
is what ``benchmark space`` ranks against the architectures' stand-alone results.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from ..config import Config
from ..distributed import Compute, epoch_mean
from ..files import write_json, write_text
from ..genotype import Genotype
from ..rundir import RunDir
from ..sampling import first_batches, seeded_loader, start_epoch
from ..training import EpochCheckpoint, TaskModule, fit, log_epoch, make_loggers, make_trainer, quiet_lightning

DEFAULT_CANDIDATES = 100
DEFAULT_EVAL_BATCHES = 8
GIVE_UP = 100  # a FLOPs limit none of this many architectures drawn meets: an error, not a long search


def candidates_of(cfg: Config) -> tuple[int, int]:
    s = cfg.search
    return s.candidates or DEFAULT_CANDIDATES, s.eval_batches or DEFAULT_EVAL_BATCHES


def _sandwich_strategy():
    """NNI's RandomOneShot whose every step also trains the deepest path of the same draw."""
    from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule
    from nni.nas.strategy import RandomOneShot

    class DeepestToo(RandomSamplingLightningModule):
        """Per step: the uniformly drawn path, then the same path with every depth choice (the
        macro ``Choose.one_of`` choices: exits in order) at its last, deepest value; the loss is the
        mean of the two, one optimiser step. Without it a block is trained only by the paths at
        least that deep (the fifth of five cascades in 1/5 of the steps), and a single-path
        supernet scores deep architectures by undertrained blocks (BigNAS' sandwich rule, on depth)."""

        def training_step(self, *args, **kwargs):
            drawn = self.resample()
            loss = self.training_module.training_step(*args, **kwargs)
            choose = self.training_module.choose
            deepest = dict(drawn)
            if choose is not None:
                deepest.update(choose.encode({k: v[-1] for k, v in choose.choices.items() if k in choose.inputs},
                                             only_given=True))
            for module in self.supernet_modules():
                module.resample(memo=deepest)
            return (loss + self.training_module.training_step(*args, **kwargs)) / 2

    class Sandwich(RandomOneShot):
        def configure_oneshot_module(self, training_module):
            return DeepestToo(training_module, self.filter)

    return Sandwich()


def build_spos(task, space, cfg: Config):
    """NNI's RandomOneShot strategy (``search.sandwich``: with the deepest path trained every step too)
    and its Lightning module around the task's supernet."""
    from nni.nas.strategy import RandomOneShot

    from .build import build_supernet

    strategy = _sandwich_strategy() if cfg.search.sandwich else RandomOneShot()
    raw = build_supernet(task, space, cfg)
    module = TaskModule(task, strategy.mutate_model(raw), lr=cfg.search.lr, choose=raw.choose)
    return strategy, strategy.configure_oneshot_module(module)


def fix_architecture(oneshot, genotype: Genotype) -> None:
    """Make every sampling module of a RandomOneShot supernet take ``genotype``'s path."""
    choose = oneshot.training_module.choose
    memo = {**genotype.to_nni(), **(choose.encode(genotype.macro_dict) if choose is not None else {})}
    for module in oneshot.supernet_modules():
        module.resample(memo=memo)


def path_fixer(oneshot):
    """How to make a trained supernet compute one candidate: ``(fix, frozen)``, ``fix(genotype)`` puts it on
    that candidate's path and returns what puts it back; ``frozen``: the ids of the architecture weights a
    fine-tune must leave alone. SPOS (no architecture weights): every sampling module takes the path. A DARTS-like
    supernet: all of each edge's (and macro choice's) weight on the candidate's choice
    (:func:`~nas_engine.oneshot.strategies.restrict_to_genotype`)."""
    if not hasattr(oneshot, "arch_parameters"):
        return (lambda g: (fix_architecture(oneshot, g), lambda: None)[1]), frozenset()
    from .strategies import restrict_to_genotype

    tm = oneshot.training_module

    def fix(g: Genotype):
        keep = restrict_to_genotype(tm.model, g, macro=tm.choose)
        return lambda: restrict_to_genotype(tm.model, None, keep)

    return fix, frozenset(id(p) for p in oneshot.arch_parameters())


def _score(task, model, batches) -> float:
    """Mean task loss over ``batches`` without gradients; normalisation layers (the supernet's
    ``op_norm``) use the batch's statistics, as SPOS recalibrates them per architecture."""
    was = model.training
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.train()
    with torch.no_grad():
        losses = [float(task.loss(model, b)) for b in batches]
    model.train(was)
    return sum(losses) / len(losses)


def eval_batches(task, cfg: Config, train_alpha, n: int) -> list:
    """The first ``n`` batches of the architecture split ``train_alpha`` (fixed order, seed ``cfg.seed + 1``)."""
    return first_batches(task, train_alpha, cfg.search.batch_size, cfg.seed + 1, n)


def finetune_batches(task, cfg: Config, train_w) -> list:
    """The ``search.finetune_steps`` batches of the weight split each candidate is fine-tuned on (fixed order,
    seed ``cfg.seed + 2``; the split is cycled if it has fewer batches)."""
    steps = cfg.search.finetune_steps
    if not steps:
        return []
    out: list = []
    epoch = 0
    while len(out) < steps:
        loader = seeded_loader(train_w, cfg.search.batch_size, cfg.seed + 2)
        start_epoch(task, loader, epoch)
        before = len(out)
        for b in loader:
            out.append(b)
            if len(out) >= steps:
                break
        if len(out) == before:
            raise ValueError("search.finetune_steps: the weight split has no batch to fine-tune on")
        epoch += 1
    return out


def _finetuned_score(task, model, batches, tune: list, lr: float, frozen: frozenset = frozenset()) -> float:
    """``_score`` after one Adam step per batch of ``tune`` on the model's current path (every weight but
    those whose ``id`` is in ``frozen``: a DARTS supernet's architecture weights), then the model's weights
    (and normalisation statistics) put back as they were."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad and id(p) not in frozen], lr=lr)
    was = model.training
    model.train()
    with torch.enable_grad():
        for b in tune:
            opt.zero_grad(set_to_none=True)  # the paths not taken get no gradient and Adam leaves them
            task.loss(model, b).backward()
            opt.step()
    model.train(was)
    try:
        return _score(task, model, batches)
    finally:
        model.load_state_dict(saved)


def score_candidates(task, oneshot, genotypes: list[Genotype], batches, progress: bool = False,
                     tune: list | None = None, lr: float = 0.0, log=None, known: dict[str, float] | None = None,
                     save=None) -> list[float]:
    """Each genotype's loss on ``batches`` in the supernet; ``tune``: after a fine-tune of its path on
    those weight batches at learning rate ``lr`` (``search.finetune_steps``). ``log``: without a
    progress bar, a line at every tenth of the fine-tuned candidates (minutes of work). ``known``:
    scores already measured the same way in the same supernet (:func:`scoring_key`), by :func:`genotype_key`;
    ``save``: called with every score so far (by :func:`genotype_key`) at each tenth and at the end, so that an
    interrupted scoring resumes where it stopped."""
    from tqdm import tqdm

    model = oneshot.training_module.model
    fix, frozen = path_fixer(oneshot)
    done = dict(known or {})
    out = []
    desc = "fine-tuning and scoring each candidate" if tune else "scoring in the supernet"
    t0 = time.perf_counter()
    for i, g in enumerate(tqdm(genotypes, desc=desc, disable=not progress, leave=False), 1):
        k = genotype_key(g)
        if k not in done:
            restore = fix(g)
            try:
                done[k] = _finetuned_score(task, model, batches, tune, lr, frozen) if tune else \
                    _score(task, model, batches)
            finally:
                restore()
            if i % max(1, len(genotypes) // 10) == 0:
                if save is not None:
                    save(done)
                if tune and log is not None and not progress:
                    log(f"fine-tuned and scored {i}/{len(genotypes)} candidates ({time.perf_counter() - t0:.0f}s)")
        out.append(done[k])
    if save is not None:
        save(done)
    return out


def genotype_key(g: Genotype) -> str:
    """An architecture's identity in a scores file: its whole JSON (cell and macro choices)."""
    return json.dumps(g.to_dict(), sort_keys=True)


def state_digest(state: dict) -> str:
    """sha256 of a state dict: every tensor's name and bytes, in name order."""
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def scoring_key(oneshot, cfg: Config) -> dict:
    """What a candidate's score depends on besides the candidate: the supernet's weights (a digest of
    every tensor of its state), the task and data options (the batches) and the scoring options. Two
    runs with equal keys score every architecture alike: the later one may take the earlier's scores."""
    return {"weights": state_digest(oneshot.state_dict()), "task": cfg.task, "data": cfg.data, "seed": cfg.seed,
            "batch_size": cfg.search.batch_size, "alpha_fraction": cfg.search.alpha_fraction,
            "eval_batches": candidates_of(cfg)[1], "finetune_steps": cfg.search.finetune_steps,
            "lr": cfg.search.lr if cfg.search.finetune_steps else None}


def known_scores(run: Path, key: dict) -> dict[str, float]:
    """The scores of ``run/scores*.json`` (this run's own, and those a benchmark copied in from runs
    that share its supernet) measured under ``key``; files of another key are ignored."""
    want = json.loads(json.dumps(key))  # as a file holds it (tuples as lists)
    out: dict[str, float] = {}
    for f in sorted(Path(run).glob("scores*.json")):
        try:
            d = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(d, dict) and d.get("key") == want:
            out.update(d.get("scores") or {})
    return out


class SposMonitor(pl.Callback):
    """Per epoch: the training loss of the sampled paths, ``history.json`` and one log line."""

    def __init__(self, run: RunDir, task, loader) -> None:
        self.run, self.task, self.loader = run, task, loader
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"])

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        start_epoch(self.task, self.loader, trainer.current_epoch)
        pl_module.training_module.epoch_losses = {"w": [], "alpha": []}
        self.t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        tm = pl_module.training_module
        rec = {"epoch": trainer.current_epoch + 1, "loss_w": epoch_mean(trainer, tm.epoch_losses["w"]),
               "seconds": time.perf_counter() - self.t0}
        self.history.append(rec)
        log_epoch(trainer, self.run, self.history)
        if self.run.worker:
            return
        write_json(self.run / "history.json", self.history)
        self.run.log(f"epoch {rec['epoch']}/{trainer.max_epochs}  loss (sampled paths) {rec['loss_w']:.4f}  "
                     f"{rec['seconds']:.1f}s")


def candidate_stream(seed: int) -> random.Random:
    """The random stream of a search's candidates: its own, never the one `benchmark space`/`random` draw their
    samples from (``random.Random(seed)``). With one stream, a seed-0 search's first candidates were the
    benchmark's samples 1, 2, ... themselves, and its pick repeated a sample's training."""
    return random.Random(f"nasengine-search-candidates:{int(seed)}")


def sample_genotypes(task, space, cfg: Config, n: int, seed: int, accept=None) -> list[Genotype]:
    """``n`` distinct architectures drawn uniformly from the space (cell and the task's macro choices) from the
    candidate stream of ``seed``; ``accept``: only those it accepts (of at most ``50 n`` drawn)."""
    return Genotype.random_distinct(space.name, space.ops, cfg.model.cells, cfg.model.nodes, n, candidate_stream(seed),
                                    macro=task.macro_space(space.macro_choices), tries=50 * n, accept=accept)


def draw_candidates(task, space, cfg: Config, n: int, log=print) -> tuple[list[Genotype], dict[str, int]]:
    """The candidates of a SPOS search: ``n`` architectures drawn uniformly (seed ``cfg.seed``); with
    ``search.max_flops``, only those whose network costs at most that (uniform over the architectures
    within the limit), with each one's FLOPs by signature."""
    limit = cfg.search.max_flops
    if not limit:
        return sample_genotypes(task, space, cfg, n, cfg.seed), {}
    from ..complexity import human, network_flops
    from ..errors import UserError

    flops: dict[str, int] = {}
    found = []

    def within(g: Genotype) -> bool:
        flops[g.signature()] = network_flops(task, cfg, g, task.complexity_size)
        found.append(flops[g.signature()] <= limit)
        if len(found) >= GIVE_UP and not any(found):
            raise StopIteration
        return found[-1]

    t0 = time.perf_counter()
    try:
        cands = sample_genotypes(task, space, cfg, n, cfg.seed, accept=within)
    except StopIteration:
        cands = []
    if not cands:
        raise UserError(f"search.max_flops={limit:.4g}: none of the {len(flops)} architectures drawn costs that "
                        f"little (the cheapest: {human(min(flops.values()))} FLOPs at "
                        f"{task.complexity_size}x{task.complexity_size}); raise the limit")
    log(f"FLOPs limit {human(limit)} (one {task.complexity_size}x{task.complexity_size} input): {len(cands)} of "
        f"{len(flops)} distinct architectures drawn are within it ({time.perf_counter() - t0:.1f}s to count)"
        + (f"; fewer than search.candidates={n}" if len(cands) < n else ""))
    return cands, flops


def run_spos(task, space, cfg: Config, run: RunDir, resume: bool = False, progress: bool = True,
             compute: Compute | None = None, logger: str = "csv") -> Genotype:
    """Train the supernet one sampled path per step, then pick the best of ``search.candidates``
    uniformly drawn architectures by their loss in it; writes the run directory."""
    from ..drawing import save_cell

    if cfg.search.cost != "none":
        from ..errors import UserError

        raise UserError("search.cost weighs architecture weights, and spos has none; use search.strategy=darts or "
                        "gdas for a cost-aware search")
    compute = compute or Compute()
    quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    strategy, oneshot = build_spos(task, space, cfg)
    train_w, train_alpha = task.search_datasets(cfg.search.alpha_fraction)
    loader = seeded_loader(train_w, cfg.search.batch_size, cfg.seed, compute.world)
    n_cand, n_batches = candidates_of(cfg)
    if not run.worker:
        write_json(run / "search_info.json", {"strategy": "spos", "nni_version": __import__("nni").__version__,
                                              "candidates": n_cand, "eval_batches": n_batches,
                                              **({"max_flops": cfg.search.max_flops} if cfg.search.max_flops else {})})
    run.log(f"search: task {task.name}, space {space.name} {list(space.ops)}"
            + (f" macro {dict(task.macro_space(space.macro_choices))}" if space.macro else "")
            + f", data {task.describe_data()}, {len(train_w)} weight / {len(train_alpha)} architecture samples, "
            f"NNI {type(strategy).__name__} (single path, uniform), then {n_cand} candidates scored on "
            f"{n_batches} architecture batches"
            + (f" after {cfg.search.finetune_steps} fine-tuning steps each" if cfg.search.finetune_steps else ""))
    cands, flops = draw_candidates(task, space, cfg, n_cand, run.log)  # before training: a limit none meets fails now
    monitor = SposMonitor(run, task, loader)
    trainer = make_trainer(cfg.search.epochs, [monitor, EpochCheckpoint(run.checkpoint)], cfg.search.steps_per_epoch,
                           progress, compute, run=run, loggers=make_loggers(run, logger))
    fit(trainer, oneshot, run, train_dataloaders=loader, resume=resume)
    best = choose_candidate(task, oneshot, cands, flops, cfg, train_w, train_alpha, run, progress)
    save_cell(best, run / "cell.png")
    return best


def choose_candidate(task, oneshot, cands: list[Genotype], flops: dict[str, int], cfg: Config, train_w, train_alpha,
                     run: RunDir, progress: bool = True) -> Genotype:
    """The best of ``cands`` in a trained supernet (SPOS, or DARTS-like with ``search.select=candidates``): each
    scored on the first ``search.eval_batches`` architecture batches after its fine-tune
    (:func:`select_by_rungs`: one rung, or successive halving over ``search.finetune_ladder``); writes
    ``candidates.json`` (every candidate by the last rung it reached, best first), ``halving.json`` and the
    ranking check with a ladder, ``genotype.json`` and ``genotype.txt``."""
    t0 = time.perf_counter()
    batches = eval_batches(task, cfg, train_alpha, candidates_of(cfg)[1])
    rungs = select_by_rungs(task, oneshot, cands, cfg, train_w, batches, run, progress)
    last = rungs[-1]["scores"]
    order = sorted(last, key=last.get)  # the last rung's survivors, best first
    best = cands[order[0]]
    steps = [r["finetune_steps"] for r in rungs]
    run.log(f"scored {len(cands)} candidates in the supernet"
            + (f", each after {steps[0]} steps of its own path," if len(steps) == 1 and steps[0] else "")
            + (f" by successive halving over {' -> '.join(str(r['candidates']) for r in rungs)} candidates at "
               f"{' -> '.join(map(str, steps))} fine-tune steps" if len(steps) > 1 else "")
            + f" in {time.perf_counter() - t0:.1f}s; best loss {last[order[0]]:.4f}, median {last[order[len(order) // 2]]:.4f}, "
            f"worst {last[order[-1]]:.4f}")
    if len(rungs) > 1:
        write_json(run / "halving.json", [{k: v for k, v in r.items() if k != "scores"} for r in rungs])
        check = rungs[-2]
        run.log(f"ranking check: Kendall tau {check['tau_next']:+.2f} between the scores at {check['finetune_steps']} "
                f"and {rungs[-1]['finetune_steps']} fine-tune steps over the {rungs[-1]['candidates']} candidates scored "
                "at both" + (" (below 0.3: the rungs disagree, the early ones are not to be trusted to cut)"
                             if check["tau_next"] < 0.3 else ""))
    # every candidate once, by the last rung it reached (later first), then by its score there
    reached = {i: (-r, sc) for r, rung in enumerate(rungs) for i, sc in rung["scores"].items()}
    ranked = sorted(reached, key=reached.get)
    scores = [rungs[-reached[i][0]]["scores"][i] for i in ranked]
    order, cands = list(range(len(ranked))), [cands[i] for i in ranked]
    write_json(run / "candidates.json", [{"loss": scores[i], "genotype": cands[i].to_dict(),
                                          **({"finetune_steps": rungs[-reached[ranked[i]][0]]["finetune_steps"]}
                                             if len(rungs) > 1 else {}),
                                          **({"flops": flops[cands[i].signature()]} if flops else {})} for i in order])
    write_text(run / "genotype.json", best.to_json())
    write_text(run / "genotype.txt", str(best) + "\n")
    return best


DEFAULT_ETA = 4  # search.halving_eta unset: each rung keeps the best quarter


def select_by_rungs(task, oneshot, cands: list[Genotype], cfg: Config, train_w, batches, run: RunDir,
                    progress: bool = False) -> list[dict]:
    """Score the candidates in the trained supernet, in rungs: one rung at ``search.finetune_steps``, or
    successive halving over ``search.finetune_ladder`` (every candidate at the first step count, the best
    ``1/search.halving_eta`` of each rung on to the next). Each rung's scores are kept (``scores.json``; with a
    ladder ``scores-k<steps>.json``) under the key of what they depend on, so an interrupted selection resumes.
    Returns the rungs: ``finetune_steps``, ``candidates`` (how many it scored), ``scores`` ({index: loss}),
    ``kept`` and ``tau_next`` (Kendall tau between this rung's scores and the next's over the candidates both
    scored: whether the cheap fidelity ranks as the dearer one does)."""
    import dataclasses

    from scipy.stats import kendalltau

    ladder = cfg.search.finetune_ladder or [cfg.search.finetune_steps]
    eta = cfg.search.halving_eta or DEFAULT_ETA
    alive = list(range(len(cands)))
    rungs: list[dict] = []
    for r, k in enumerate(ladder):
        rcfg = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, finetune_steps=k))
        key = scoring_key(oneshot, rcfg)
        known = known_scores(run.path, key)
        reused = sum(genotype_key(cands[i]) in known for i in alive)
        if reused:
            run.log(f"{reused} of the {len(alive)} candidates"
                    + (f" of rung {r + 1} ({k} fine-tune steps)" if len(ladder) > 1 else "")
                    + " were scored the same way in this supernet before (scores*.json: an interrupted scoring, or "
                    "another search in it): their scores are taken, not measured again")
        name = "scores.json" if len(ladder) == 1 else f"scores-k{k}.json"
        got = score_candidates(task, oneshot, [cands[i] for i in alive], batches, progress,
                               finetune_batches(task, rcfg, train_w), cfg.search.lr, log=run.log, known=known,
                               save=None if run.worker else lambda d, n=name, kk=key: write_json(
                                   run / n, {"key": kk, "scores": d}))
        scores = dict(zip(alive, got))
        keep = sorted(alive, key=scores.get)[:max(1, -(-len(alive) // eta))] if r < len(ladder) - 1 else alive
        rungs.append({"finetune_steps": k, "candidates": len(alive), "scores": scores, "kept": len(keep)})
        if r:
            prev = rungs[-2]
            common = list(scores)
            prev["tau_next"] = float(kendalltau([prev["scores"][i] for i in common], [scores[i] for i in common]).statistic) \
                if len(common) >= 3 else float("nan")
            run.log(f"rung {r + 1}: {len(alive)} candidates at {k} fine-tune steps; Kendall tau with rung {r}'s scores "
                    f"{prev['tau_next']:+.2f}")
        if len(ladder) > 1 and r < len(ladder) - 1:
            run.log(f"rung {r + 1}: {len(alive)} candidates at {k} fine-tune steps, the best {len(keep)} go on")
        alive = keep
    return rungs


SCORING_PROBES = 2  # candidates a dry run scores to time the search on the trained supernet


def forecast_spos(task, space, cfg: Config, draws: int):
    """``search --dry-run`` of a SPOS search: its training steps (one path drawn per step: the mean of
    ``draws`` steps at batch 1 and 2, extrapolated to ``search.batch_size``), then the scoring of its
    candidates, timed on ``SCORING_PROBES`` of them (with their fine-tuning steps) in a fresh supernet."""
    from ..forecast import forecast

    train_w, train_alpha = task.search_datasets(cfg.search.alpha_fraction)

    def prepare(b: int):
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        return build_spos(task, space, cfg)[1], seeded_loader(train_w, b, cfg.seed)

    steps = cfg.search.steps_per_epoch or -(-len(train_w) // cfg.search.batch_size)
    f = forecast(prepare, cfg.search.batch_size, len(train_w), steps, draws)
    n_cand, n_batches = candidates_of(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    _, oneshot = build_spos(task, space, cfg)
    probes = sample_genotypes(task, space, cfg, min(SCORING_PROBES, n_cand), cfg.seed)
    batches = eval_batches(task, cfg, train_alpha, n_batches)
    import dataclasses

    def timed(steps: int) -> float:
        rcfg = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, finetune_steps=steps))
        t0 = time.perf_counter()
        score_candidates(task, oneshot, probes, batches, tune=finetune_batches(task, rcfg, train_w), lr=cfg.search.lr)
        return (time.perf_counter() - t0) / len(probes)

    ladder = cfg.search.finetune_ladder
    if not ladder:
        each = timed(cfg.search.finetune_steps)
        tuned = f" after {cfg.search.finetune_steps} fine-tuning steps each" if cfg.search.finetune_steps else ""
        f.more.append(f"then {n_cand} candidates scored on {n_batches} batches{tuned}: {each:.1f} s each "
                      f"(timed on {len(probes)}), {n_cand * each / 60:.1f} min")
        return f
    # successive halving: a candidate's time is linear in its fine-tune steps (timed at none and at the most)
    low, high = timed(0), timed(ladder[-1]) if ladder[-1] else None
    eta, n, total, parts = cfg.search.halving_eta or DEFAULT_ETA, n_cand, 0.0, []
    for r, k in enumerate(ladder):
        each = low + ((high - low) * k / ladder[-1] if high is not None else 0.0)
        total += n * each
        parts.append(f"{n} at {k} steps ({each:.1f} s each)")
        n = max(1, -(-n // eta))
    f.more.append(f"then successive halving on {n_batches} batches: {', '.join(parts)} (timed on {len(probes)}), "
                  f"{total / 60:.1f} min")
    return f


def search_run(run_dir: Path, task=None) -> tuple[Config, object]:
    """A finished search run's config (``config.yaml``) and its task, built from it unless given."""
    from ..config import build_config, load_yaml
    from ..task import get_task

    raw = dict(load_yaml(run_dir / "config.yaml"))
    raw.pop("space", None)  # a search run's config also names its space
    cfg = build_config(raw)
    return cfg, task if task is not None else get_task(cfg.task)(cfg.data, data=cfg.data_path, seed=cfg.seed)


def supernet_losses(run_dir: str | Path, genotypes: list[Genotype], task=None) -> list[float]:
    """Each genotype's loss inside the supernet of a finished search run (its last checkpoint), on
    the run's first ``search.eval_batches`` architecture batches: spos by path, darts-like strategies by
    one-hot architecture weights (the cell's edges, and the macro choices); after the fine-tune the run gave
    its candidates (spos, ``search.select=candidates``: ``search.finetune_steps``, or the last rung of
    ``search.finetune_ladder``)."""
    run_dir = Path(run_dir)
    cfg, task = search_run(run_dir, task)
    from search_spaces import load_space

    space = load_space(genotypes[0].space) if genotypes else None
    spos = cfg.search.strategy == "spos"
    if spos:
        _, oneshot = build_spos(task, space, cfg)
    else:
        from .build import build_oneshot

        _, oneshot = build_oneshot(task, space, cfg)
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    oneshot.load_state_dict(state)
    train_w, train_alpha = task.search_datasets(cfg.search.alpha_fraction)
    batches = eval_batches(task, cfg, train_alpha, candidates_of(cfg)[1])
    if not (spos or cfg.search.select == "candidates"):  # scored as the argmax/perturbation search sees them
        return score_candidates(task, oneshot, genotypes, batches)
    import dataclasses

    # as the search scored its candidates: after their fine-tune (the last rung's steps with a ladder)
    steps = (cfg.search.finetune_ladder or [cfg.search.finetune_steps])[-1]
    tcfg = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, finetune_steps=steps))
    return score_candidates(task, oneshot, genotypes, batches, tune=finetune_batches(task, tcfg, train_w),
                            lr=cfg.search.lr)
