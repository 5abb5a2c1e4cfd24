"""A tabular benchmark of a search space: sampled architectures, each trained alone, kept with their numbers,
so that a search strategy or a ranker is evaluated on it at zero training cost (as NAS-Bench-201 does for
image classification; none exists for MRI reconstruction).

A pool is built from the sampled rows of a ``nasengine benchmark space`` results folder (``<row>/seed<S>/``
with ``genotype.json``, ``complexity.json``, ``val.json``, ``results.json``, ``entry.json`` and, where kept,
``curve.json`` and ``results-<tag>.json``) and saved as one JSON file::

    {"format": "nasengine-pool/1", "space": "C", "source": "benchmarks/results/space_C",
     "architectures": [
       {"name": "C-sample-1", "genotype": {...}, "flops": 2.3e9, "params": 21610, "latency_s": 0.19,
        "seeds": {"0": {"val": {"psnr": 21.6, "ssim": 0.70}, "test": {"psnr": 24.4, ...},
                        "other": {"real-4x": {"psnr": 26.1, ...}},        # benchmark rescore's test sets
                        "curve": [{"epoch": 1, "loss": 0.3, "val_psnr": 20.1, ...}, ...],   # or null
                        "cost_s": 907.6, "cost_kind": "cpu"}},           # "cpu", or "wall" where not kept
        "proxies": {"grad_norm": 0.03, "snip": 0.12, "synflow": 23.0, "zico": 843.1, "cpu_s": 8.2}},  # or {}
       ...]}

``proxies`` are the zero-cost proxies of :mod:`nas_engine.proxies` at initialisation (kept in the results
folder's ``proxies.json`` by ``nasengine benchmark pool``).

Query it with :class:`Pool`: ``Pool.load(path)``, ``pool.value(name, "val", "psnr")`` (mean over seeds),
``pool.at_epoch(name, epoch)`` (a learning curve's validation PSNR), ``pool.cost(name)``,
``pool.proxy_scores()``; the simulations (:func:`simulate_random_search`, :func:`simulate_halving`,
:func:`simulate_ranked_search`) and ranker checks (:func:`rank_quality`) take a pool and nothing else.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .files import read_json, write_json

FORMAT = "nasengine-pool/1"
PROXIES_FILE = "proxies.json"


@dataclass
class Arch:
    name: str
    genotype: dict
    flops: float | None
    params: float | None
    latency_s: float | None
    seeds: dict[str, dict] = field(default_factory=dict)
    proxies: dict[str, float] = field(default_factory=dict)

    def macro(self) -> dict:
        return dict(self.genotype.get("macro") or {})


def _seed_record(d: Path) -> dict | None:
    """One kept seed of a sampled row, or None when its test or validation numbers are missing."""
    res, val = read_json(d / "results.json"), read_json(d / "val.json")
    if not isinstance(res, dict) or not isinstance(val, dict):
        return None
    entry = read_json(d / "entry.json") or {}
    cpu = entry.get("cpu_seconds") or (entry.get("restored") or {}).get("cpu_seconds")
    if cpu and "retrain" in cpu:
        cost, kind = float(cpu["retrain"]), "cpu"
    else:
        cost, kind = float((entry.get("seconds") or {}).get("retrain", 0.0)), "wall"
    other = {}
    for f in sorted(d.glob("results-*.json")):
        r = read_json(f)
        if isinstance(r, dict) and "overall" in r:
            other[f.stem[len("results-"):]] = {m: v["mean"] for m, v in r["overall"].items() if isinstance(v, dict)}
    return {"val": {k[4:]: v for k, v in val.items() if k.startswith("val_")},
            "test": {m: v["mean"] for m, v in res["overall"].items() if isinstance(v, dict)},
            "other": other, "curve": read_json(d / "curve.json"), "cost_s": cost, "cost_kind": kind}


class Pool:
    """The architectures of one space, trained alone; see the module's docstring for the file."""

    def __init__(self, archs: list[Arch], space: str = "", source: str = "") -> None:
        self.archs = {a.name: a for a in archs}
        self.space, self.source = space, source

    # ---------------------------------------------------------------- building, saving, loading
    @classmethod
    def from_results(cls, folder: str | Path, pattern: str = r".+_sample_\d+") -> "Pool":
        """The sampled rows (folders matching ``pattern``; not successive-halving rungs) of a space
        benchmark's results folder."""
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder}: no such results folder (e.g. benchmarks/results/space_C)")
        archs, space = [], ""
        rows = [d for d in folder.iterdir() if d.is_dir() and re.fullmatch(pattern, d.name)]
        for d in sorted(rows, key=lambda p: int(p.name.rsplit("_", 1)[1])):
            seeds = {s.name[4:]: rec for s in sorted(d.glob("seed*")) if (rec := _seed_record(s)) is not None}
            first = next((s for s in sorted(d.glob("seed*")) if (s / "genotype.json").is_file()), None)
            if not seeds or first is None:
                continue
            geno = read_json(first / "genotype.json") or {}
            cx = read_json(first / "complexity.json") or {}
            entry = read_json(first / "entry.json") or {}
            space = space or geno.get("space", "")
            archs.append(Arch(entry.get("key", {}).get("entry") or d.name, geno, cx.get("flops"), cx.get("params"),
                              cx.get("latency_s"), seeds))
        kept = read_json(folder / PROXIES_FILE)
        for a in archs:
            a.proxies = dict(((kept or {}).get("architectures") or {}).get(a.name, {}).get("scores") or {})
        if len(archs) < 2:
            raise UserError(f"{folder}: fewer than two kept sampled architectures (rows named like c_sample_1 with "
                            "val.json and results.json); grow it with: nasengine benchmark space")
        return cls(archs, space, str(folder))

    def to_dict(self) -> dict:
        return {"format": FORMAT, "space": self.space, "source": self.source,
                "architectures": [vars(a) for a in self.archs.values()]}

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Pool":
        d = read_json(Path(path))
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise UserError(f"{path}: not a nasengine pool file (format {FORMAT}); make one with: "
                            "nasengine benchmark pool RESULTS_DIR")
        return cls([Arch(**a) for a in d["architectures"]], d.get("space", ""), d.get("source", ""))

    # ---------------------------------------------------------------- queries
    @property
    def names(self) -> list[str]:
        return list(self.archs)

    def __len__(self) -> int:
        return len(self.archs)

    def __getitem__(self, name: str) -> Arch:
        if name not in self.archs:
            raise UserError(f"no architecture {name!r} in the pool ({len(self)}: {', '.join(self.names[:4])} ...)")
        return self.archs[name]

    def value(self, name: str, split: str = "val", metric: str = "psnr", seed: str | int | None = None) -> float:
        """``split``: "val", "test" or a rescore tag (e.g. "real-4x"); the mean over the seeds that have it,
        or one seed's; NaN where none has it."""
        seeds = self[name].seeds
        picked = [seeds[str(seed)]] if seed is not None and str(seed) in seeds else [] if seed is not None \
            else list(seeds.values())
        vals = [(s[split] if split in ("val", "test") else s["other"].get(split, {})).get(metric) for s in picked]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals else float("nan")

    def at_epoch(self, name: str, epoch: int, metric: str = "val_psnr", seed: str | int | None = None) -> float:
        """The learning curve's ``metric`` after ``epoch`` (mean over seeds with a kept curve; NaN: none)."""
        seeds = self[name].seeds
        picked = [seeds[str(seed)]] if seed is not None else list(seeds.values())
        vals = [c[metric] for s in picked for c in (s.get("curve") or []) if c.get("epoch") == epoch and metric in c]
        return float(np.mean(vals)) if vals else float("nan")

    def cost(self, name: str, seed: str | int | None = None) -> float:
        """Seconds one training of ``name`` cost (one seed's, or the mean over its seeds)."""
        seeds = self[name].seeds
        picked = [seeds[str(seed)]] if seed is not None else list(seeds.values())
        return float(np.mean([s["cost_s"] for s in picked]))

    def cost_kind(self) -> str:
        kinds = {s["cost_kind"] for a in self.archs.values() for s in a.seeds.values()}
        return "cpu" if kinds == {"cpu"} else "wall" if kinds == {"wall"} else "mixed"

    def trivial_scores(self) -> dict[str, dict[str, float]]:
        """Rankers that need no training: FLOPs, parameters, and each numeric macro choice (e.g. cascades)."""
        out: dict[str, dict[str, float]] = {}
        for n, a in self.archs.items():
            for key, v in (("FLOPs", a.flops), ("parameters", a.params)):
                if v is not None:
                    out.setdefault(key, {})[n] = float(v)
            for k, v in a.macro().items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.setdefault(f"macro {k}", {})[n] = float(v)
        return {k: v for k, v in out.items() if len(set(v.values())) > 1}

    def proxy_scores(self) -> dict[str, dict[str, float]]:
        """The zero-cost proxies kept for the architectures (higher: better), by proxy name."""
        out: dict[str, dict[str, float]] = {}
        for n, a in self.archs.items():
            for k, v in a.proxies.items():
                if k != "cpu_s" and v is not None and np.isfinite(v):
                    out.setdefault(k, {})[n] = float(v)
        return out

    def epochs(self, name: str, seed: str | int = "0") -> int:
        """How many epochs the kept learning curve of ``name``'s seed has (0: none kept)."""
        return len((self[name].seeds.get(str(seed)) or {}).get("curve") or [])


# -------------------------------------------------------------------- rankers and simulations
def rank_quality(scores: dict[str, float], target: dict[str, float], top: float = 0.1) -> dict:
    """How well ``scores`` (higher: better) order the architectures by ``target``: Kendall tau, Spearman rho,
    and the share of the true top ``top`` fraction (at least one) that the scores put in their own top."""
    from scipy.stats import kendalltau, spearmanr

    names = [n for n in scores if n in target and np.isfinite(target[n])]
    a, b = [scores[n] for n in names], [target[n] for n in names]
    k = max(1, int(round(top * len(names))))
    best = set(sorted(names, key=lambda n: -target[n])[:k])
    mine = set(sorted(names, key=lambda n: -scores[n])[:k])
    return {"n": len(names), "tau": float(kendalltau(a, b).statistic), "rho": float(spearmanr(a, b).statistic),
            "top_k": k, "top_hits": len(best & mine)}


def simulate_random_search(pool: Pool, budgets: list[float], draws: int = 1000, seed: int = 0,
                           select: tuple[str, str] = ("val", "psnr"), report: tuple[str, str] = ("test", "psnr"),
                           names: list[str] | None = None) -> dict[float, list[float]]:
    """Random search on the pool at each budget (seconds of training): architectures in a random order,
    trained (their cost paid) while the budget lasts, the best by ``select`` picked, its ``report`` value
    returned; ``draws`` resamples per budget (one seed of the draws per architecture: its mean over seeds).
    A budget below the cheapest first draw picks nothing (NaN)."""
    names = list(names or pool.names)
    rng = random.Random(f"nasengine-pool-random-search:{seed}")
    sel = {n: pool.value(n, *select) for n in names}
    rep = {n: pool.value(n, *report) for n in names}
    cost = {n: pool.cost(n) for n in names}
    out: dict[float, list[float]] = {b: [] for b in budgets}
    for _ in range(draws):
        order = names[:]
        rng.shuffle(order)
        _train_in_order(order, 0.0, sel, rep, cost, budgets, out)
    return out


def _train_in_order(order: list[str], spent: float, sel: dict, rep: dict, cost: dict, budgets: list[float],
                    out: dict[float, list[float]]) -> None:
    """Train ``order`` one after another from ``spent`` seconds on; at each budget, append the ``rep`` value of
    the best by ``sel`` among those trained within it (NaN: none)."""
    best, trail = None, []
    for n in order:
        spent += cost[n]
        if best is None or sel[n] > sel[best]:
            best = n
        trail.append((spent, best))
    for b in budgets:
        got = [w for s, w in trail if s <= b]
        out[b].append(rep[got[-1]] if got else float("nan"))


def halving_plan(n: int, epochs: int, eta: int = 3, first: int = 1) -> list[tuple[int, int]]:
    """The rungs of successive halving over ``n`` architectures with epochs as the fidelity: (architectures,
    epochs each has trained by the end of the rung), from ``first`` epoch(s), ``eta`` times more epochs for
    the best 1/``eta`` at each rung, the last rung at ``epochs`` (trained to the end)."""
    if eta < 2 or first < 1 or epochs < first:
        raise ValueError(f"halving needs eta >= 2 and 1 <= first ({first}) <= epochs ({epochs})")
    rungs, k, e = [], n, first
    while True:
        rungs.append((k, e))
        if e >= epochs or k <= 1:
            break
        k, e = max(1, k // eta), min(epochs, e * eta)
    if rungs[-1][1] < epochs:
        rungs[-1] = (rungs[-1][0], epochs)
    return rungs


def halving_run(order: list[str], val: dict[str, dict[int, float]], cost: dict[str, float], epochs: int,
                eta: int) -> tuple[float, str]:
    """Successive halving on the architectures ``order``: ``val[name][epoch]`` the validation PSNR of its
    learning curve, ``cost[name]`` the seconds of its whole training (each rung continues the same training,
    so an architecture pays the share of its epochs it ran). Returns the seconds paid and the pick (the best
    validation PSNR after the last rung)."""
    alive, spent, done = list(order), 0.0, {n: 0 for n in order}
    for k, e in halving_plan(len(order), epochs, eta):
        alive = sorted(alive, key=lambda n: -val[n][done[n]] if done[n] else 0.0)[:k]
        for n in alive:
            spent += cost[n] * (e - done[n]) / epochs
            done[n] = e
    return spent, max(alive, key=lambda n: val[n][done[n]])


def simulate_halving(pool: Pool, budgets: list[float], draws: int = 1000, seed: int = 0, eta: int = 3,
                     report: tuple[str, str] = ("test", "psnr"), names: list[str] | None = None,
                     curve_seed: str = "0") -> dict[float, list[float]]:
    """Random search with successive halving (Hyperband's bracket; Li et al. 2018) on the pool at each budget:
    architectures in a random order, the longest prefix whose successive halving (:func:`halving_run`, epochs
    as the fidelity, rung sizes by ``eta``) fits the budget is run, its pick's ``report`` value returned. Only
    architectures whose seed ``curve_seed`` keeps a whole learning curve take part. NaN: nothing fits."""
    names = [n for n in (names or pool.names) if pool.epochs(n, curve_seed)]
    if not names:
        raise UserError("no architecture of the pool keeps a learning curve (curve.json): successive halving "
                        "cannot be simulated; retrain with: nasengine benchmark space --restore-weights")
    epochs = min(pool.epochs(n, curve_seed) for n in names)
    rng = random.Random(f"nasengine-pool-halving:{seed}")
    rep = {n: pool.value(n, *report) for n in names}
    val = {n: {e: pool.at_epoch(n, e, seed=curve_seed) for e in range(1, epochs + 1)} for n in names}
    cost = {n: pool.cost(n, curve_seed) for n in names}
    out: dict[float, list[float]] = {b: [] for b in budgets}
    for _ in range(draws):
        order = names[:]
        rng.shuffle(order)
        runs = [halving_run(order[:m], val, cost, epochs, eta) for m in range(1, len(order) + 1)]
        for b in budgets:
            fits = [pick for spent, pick in runs if spent <= b]
            out[b].append(rep[fits[-1]] if fits else float("nan"))
    return out


def simulate_ranked_search(pool: Pool, scores: dict[str, float], budgets: list[float], draws: int = 1000,
                           seed: int = 0, drawn: int = 0, score_cost: float = 0.0,
                           select: tuple[str, str] = ("val", "psnr"), report: tuple[str, str] = ("test", "psnr")
                           ) -> dict[float, list[float]]:
    """Search ordered by a ranker, at each budget: ``drawn`` architectures drawn at random from those ``scores``
    has (0: all of them; each draw resamples them), each scored (``score_cost`` seconds apiece, paid first), then
    trained best-scored first while the budget lasts; the best by ``select`` is picked and its ``report`` value
    returned. With a perfect ranker the first training is the pick; with a random one this is random search."""
    names = [n for n in pool.names if n in scores and np.isfinite(scores[n])]
    if not names:
        raise UserError("no architecture of the pool has a score from this ranker")
    m = min(drawn or len(names), len(names))
    rng = random.Random(f"nasengine-pool-ranked-search:{seed}")
    sel = {n: pool.value(n, *select) for n in names}
    rep = {n: pool.value(n, *report) for n in names}
    cost = {n: pool.cost(n) for n in names}
    out: dict[float, list[float]] = {b: [] for b in budgets}
    for _ in range(draws):
        some = rng.sample(names, m)
        rng.shuffle(some)  # ties in the scores: a random order among them
        _train_in_order(sorted(some, key=lambda n: -scores[n]), m * score_cost, sel, rep, cost, budgets, out)
    return out
