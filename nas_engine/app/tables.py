"""``nasengine benchmark table1|table2|table3|random``: the paper's experiments, over seeds, resumable.

Layout. Each entry (a table row) runs once per seed: the runs live under
``--work/<entry>/seed<S>/`` (search, retrain, reconstructions), and what is kept
goes to ``--out/<entry>/seed<S>/``: ``results.json`` (metrics per test volume),
``entry.json`` (what ran: preset, ``--set`` options, seconds per step),
``complexity.json`` and, for searched cells, ``genotype.json``, ``cell.png``,
``alphas.png``. A seed whose ``results.json`` exists under ``--out`` -- or under
a sibling table of the same results folder, run with the same preset and options
-- is done: commit ``benchmarks/results/`` and a later run (or a fresh clone)
continues where this one stopped. A half-finished search or retraining is
resumed from its checkpoint. A row whose retraining would run the very command
another row's finished one ran (the same network, options and seed: a FLOPs limit
that did not bind) takes that run instead (``retrain_of`` in its ``entry.json``).
The report (``report.md``), the CSV and the figures are rebuilt from the kept
results every time.

All methods are evaluated on the same test masks (those of the base seed), so
results of different seeds and methods pair volume by volume.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..errors import UserError, did_you_mean
from ..files import write_json, write_text
from ..rows import NAS_A3, Entry
from ..rundir import cpu_seconds, matmul_gflops, read_cost
from .executors import Executor
from .report import summarise, write_csv, write_report
from .rescore import keep_weights

STRATEGY_ROWS = (("gdas", "GDAS"), ("pcdarts", "PC-DARTS"), ("proxyless", "Proxyless"))  # besides darts
PARETO_WEIGHTS = (0.01, 0.015, 0.02, 0.03)  # search.cost_weight of the pareto table (the penalty lies in [0, w];
# 0.1 and 0.3 make every edge skip_connect in one architecture epoch, 0.03 keeps one convolution of six, and 0.01 ends on the
# weight-0 cell: benchmarks/results/pareto/cost_stopped.md)


def tables_of(task) -> dict[str, list[Entry]]:
    """Every benchmark table of ``task``: its own (``Task.benchmark_tables``: CS-MRI's table1, table2,
    table3, table_mc) and the engine's, built on the searched row ``NAS A 3n``: ``strategies`` (that
    row by each search strategy) and ``pareto`` (by growing cost weights, next to the task's
    ``pareto_references``)."""
    own = dict(task.benchmark_tables())
    rows = {e.name: e for t in own.values() for e in t}
    refs = [rows[n] for n in task.pareto_references if n in rows]
    engine = {
        # the same cell searched by each strategy (search.strategy), retrained alike: do they agree, and
        # does each one's cell hold up (against darts, and against random cells of the same preset)?
        "strategies": [NAS_A3] + [Entry(f"NAS A 3n {label}", "nas", nodes=3, core=True,
                                        search_sets=(f"search.strategy={name}",)) for name, label in STRATEGY_ROWS],
        # cost-aware search at growing weights next to the hand-made nets: a PSNR-vs-FLOPs front
        "pareto": [replace(e, core=True) for e in refs]
        + [NAS_A3] + [Entry(f"NAS A 3n cost {w:g}", "nas", nodes=3, core=True,
                            search_sets=("search.cost=flops", f"search.cost_weight={w:g}")) for w in PARETO_WEIGHTS],
    }
    return {**own, **engine}


def random_entries(space, cells: int, nodes: int, n: int, seed: int, ops: list[str] | None = None,
                   macro: dict | None = None, tag: str | None = None) -> list[Entry]:
    """``n`` distinct architectures drawn uniformly from the space (same nodes, same derive
    constraints; ``macro``: its macro choices drawn too), seeded; one drawn again is redrawn (a small
    sub-space repeats cells: sep_conv_3x3 alone has 18). ``ops``: their ops drawn from these alone
    (rows ``random-<ops>-k``). Drawing more keeps the first ``n`` (the draws are sequential)."""
    from math import comb, prod

    from ..genotype import Genotype

    try:
        choices = len(Genotype.random_choices(space.name, space.ops, ops))
    except ValueError as e:
        raise UserError(f"--ops: {e}") from None
    distinct = prod(len(v) for v in (macro or {}).values())
    for i in range(nodes):  # two of the node's i + 2 inputs, an op on each
        distinct *= comb(i + 2, 2) * choices**2
    if n > distinct:
        raise UserError(f"--n {n}: the {'ops ' + ','.join(ops) if ops else 'space'} give only {distinct} distinct "
                        f"{'architectures' if macro else 'cells'} of {nodes} nodes; ask for at most {distinct}")
    tag = tag or (f"random-{'+'.join(ops)}" if ops else "random")
    genos = Genotype.random_distinct(space.name, space.ops, cells, nodes, n, random.Random(seed), only=ops, macro=macro)
    return [Entry(f"{tag}-{k}", "random", space=space.name, nodes=nodes, genotype=g.to_json())
            for k, g in enumerate(genos, 1)]


@dataclass
class Plan:
    """What every entry shares: options for the steps, where things go, which seeds."""

    common: list[str]  # --task, --config, --set ... (no --seed)
    work: Path
    out: Path
    seeds: int = 1  # seeds of the core rows
    other_seeds: int = 1  # seeds of the other learned rows
    base_seed: int = 0
    compute: list[str] = field(default_factory=list)  # e.g. --devices 2: training steps in own processes
    preset: str = "demo"
    sets: list[str] = field(default_factory=list)
    data: str | None = None
    config: dict = field(default_factory=dict)  # the resolved config (a preset's content may change)
    cli: Callable[[list[str]], int] | None = None  # the command line's main(), for steps run in this process
    defaults: dict = field(default_factory=dict)  # default of every config setting, flat ("model.channels")
    tables: dict = field(default_factory=dict)  # the task's benchmark tables and the engine's (tables_of)
    run_first: tuple[str, ...] = ()  # rows the verdict leans on most: first within a seed
    tunable: tuple[str, ...] = ()  # non-learned methods whose parameters are chosen on validation first
    complexity_size: int = 320  # FLOPs are counted for one input of this size
    executor: Executor = field(default_factory=Executor)  # where the entries run (local, or Ray tasks)
    restore_weights: bool = False  # retrain kept learned seeds that have no model.pt (restore_weights)

    def seeds_of(self, e: Entry) -> list[int]:
        n = 1 if e.kind == "method" else self.seeds if e.core else self.other_seeds
        return [self.base_seed + k for k in range(n)]

    def key(self, e: Entry, seed: int) -> dict:
        """What makes two results the same experiment."""
        return {"entry": e.name, **e.signature(), "preset": self.preset, "sets": self.sets, "data": self.data,
                "config": self.config, "seed": seed, "eval_seed": self.base_seed}


def _run(argv: list[str], own_process: bool = False, cli: Callable[[list[str]], int] | None = None) -> None:
    """One step, in this process, or in a process of its own (DDP re-runs the command line of the
    process it starts from, so a multi-process step must be that process's whole command)."""
    print(f"  $ nasengine {' '.join(argv)}", flush=True)
    if own_process:
        import subprocess
        import sys

        rc = subprocess.run([sys.executable, "-m", "nas_engine.app.cli", *argv]).returncode
    else:
        if cli is None:
            raise RuntimeError("Plan.cli is needed to run a step in this process")
        rc = cli(argv)
    if rc != 0:
        raise UserError(f"benchmark step failed: nasengine {' '.join(argv)}")


def result_folders(plan: Plan) -> list[Path]:
    """``plan.out`` first, then its sibling tables of the same results folder (kept results count
    for every table)."""
    siblings = sorted(p for p in plan.out.parent.iterdir() if p.is_dir() and p != plan.out) \
        if plan.out.parent.is_dir() else []
    return [plan.out, *siblings]


def find_done(plan: Plan, e: Entry, seed: int) -> Path | None:
    """The kept folder of this (entry, seed) if some table of ``plan.out``'s results folder has it."""
    key = plan.key(e, seed)
    for folder in result_folders(plan):
        d = folder / e.slug / f"seed{seed}"
        meta = d / "entry.json"
        if (d / "results.json").is_file() and meta.is_file():
            saved = json.loads(meta.read_text()).get("key")
            if same_experiment(saved, key, plan.defaults, e.unused_settings):
                return d
            if folder == plan.out:
                raise UserError(f"{d} holds a result of another experiment ({_diff(saved, key)}); "
                                "give another --out (and --work), or remove that folder")
    return None


def flat_config(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat_config(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


_MISSING = object()


def same_experiment(saved: dict | None, key: dict, defaults: dict, unused: tuple[str, ...] = ()) -> bool:
    """Whether a kept result's key is this experiment's. A config setting that one side lacks counts
    as equal when the other side holds its default: a setting added to the engine since (at its
    default) does not make every kept result a different experiment. Settings under ``unused``
    (prefixes such as ``"search."``) are not compared."""
    if saved == key:
        return True
    if not saved or {k: v for k, v in saved.items() if k != "config"} != {k: v for k, v in key.items() if k != "config"}:
        return False
    a, b = flat_config(saved.get("config") or {}), flat_config(key.get("config") or {})
    for k in set(a) | set(b):
        if k.startswith(unused):
            continue
        va, vb = a.get(k, _MISSING), b.get(k, _MISSING)
        if va == vb:
            continue
        present = vb if va is _MISSING else va if vb is _MISSING else _MISSING
        if present is _MISSING or k not in defaults or present != defaults[k]:
            return False
    return True


def _diff(a: dict | None, b: dict, most: int = 4) -> str:
    """The settings two experiment keys differ in, as dotted names with both values (short), on one line."""
    if not a:
        return "no key"
    found: list[str] = []

    def walk(x, y, name: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in list(y) + [k for k in x if k not in y]:
                walk(x.get(k), y.get(k), f"{name}.{k}" if name else str(k))
        elif x != y:
            found.append(f"{name} {_short(x)} there, {_short(y)} here")

    walk(a, b, "")
    return "; ".join(found[:most]) + (f"; and {len(found) - most} more" if len(found) > most else "") or "same"


def _short(v, width: int = 40) -> str:
    text = repr(v)
    return text if len(text) <= width else text[:width - 3] + "..."


def claim_work(plan: Plan, e: Entry, seed: int) -> Path:
    """The work folder of (entry, seed), marked with the experiment's key (``key.json``): finished
    steps found there are reused, so a folder of another experiment (other options, or from before
    the key was written) must not be picked up as this one's."""
    folder = plan.work / e.slug / f"seed{seed}"
    mark = folder / "key.json"
    key = plan.key(e, seed)
    if mark.is_file():
        saved = json.loads(mark.read_text())
        if not same_experiment(saved, key, plan.defaults, e.unused_settings):
            raise UserError(f"{folder} holds runs of another experiment ({_diff(saved, key)}); "
                            "give another --work, or remove that folder")
    elif folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"{folder} holds runs of an unknown experiment (no key.json); "
                        "give another --work, or remove that folder")
    else:
        write_json(mark, key)
    return folder


# a searched row's own search files kept beside its genotype (run name: kept name), the search run in --work does
# not last: its pictures, its history, and its record of how it chose (spos: every candidate's score;
# perturbation: every loss increase)
SEARCH_FILES = {"cell.png": "cell.png", "alphas.png": "alphas.png", "history.json": "search_history.json",
                "candidates.json": "candidates.json", "selection.json": "selection.json"}


def evaluate_step(plan: Plan, folder: Path) -> tuple[list[str], list[str]]:
    """The ``evaluate`` command of a seed's work folder (into ``.results.json.partial`` there, its
    reconstructions in ``recons/``, both cleared of an interrupted evaluation's output) and the ``--data``
    option it needs with a checkpoint. The same test masks for every seed and method: ``--seed base_seed``."""
    recons, tmp = folder / "recons", folder / ".results.json.partial"
    if recons.exists():
        shutil.rmtree(recons)  # partial output of an interrupted evaluation: ours to redo
    tmp.unlink(missing_ok=True)
    evaluate = ["evaluate", "--out", str(tmp), "--save-recons", str(recons), "--no-progress",
                "--seed", str(plan.base_seed)]
    data = plan.common[plan.common.index("--data"): plan.common.index("--data") + 2] if "--data" in plan.common else []
    return evaluate, data


def retrain_argv(plan: Plan, e: Entry, seed: int, src: list[str], run_dir: Path) -> list[str]:
    """The ``retrain`` command of (entry, seed) from ``src`` (``--genotype FILE`` or ``--method M``) into
    ``run_dir``, resuming a run that exists."""
    return (["retrain"] + src + ["--out", str(run_dir)] + (["--resume"] if run_dir.exists() else [])
            + plan.common + ["--seed", str(seed)] + [x for s in e.sets for x in ("--set", s)] + plan.compute)


def restore_weights(e: Entry, seed: int, plan: Plan, keep: Path) -> None:
    """Give a kept learned seed without weights (kept before weights were) its ``model.pt``: retrain its
    kept genotype (or hand-made method) with the seed and settings of its key, evaluate it on the same
    masks, and keep the weights with the new results (the numbers of a kept folder are those of its
    weights); the numbers they replace stay in ``entry.json`` under ``restored``, with the retraining's
    process CPU time. On one machine type a retraining repeats bit for bit, so the two agree closely."""
    if (keep / "genotype.json").is_file():
        src = ["--genotype", str(keep / "genotype.json")]
    elif e.kind == "baseline":
        src = ["--method", e.method]
    else:
        raise UserError(f"{keep} keeps no genotype.json: its network is unknown, its weights cannot be restored")
    folder = claim_work(plan, e, seed)
    run_dir = folder / "retrain"
    print(f"[{e.name} seed {seed}] kept without weights: retraining it in {run_dir}", flush=True)
    c0 = cpu_seconds()
    if not (run_dir / "model.pt").is_file():
        _run(retrain_argv(plan, e, seed, src, run_dir), bool(plan.compute), plan.cli)
    c1 = cpu_seconds()
    evaluate, data = evaluate_step(plan, folder)
    _run(evaluate + ["--checkpoint", str(run_dir)] + data, cli=plan.cli)
    tmp = folder / ".results.json.partial"
    new, old = json.loads(tmp.read_text()), json.loads((keep / "results.json").read_text())
    entry = json.loads((keep / "entry.json").read_text())
    # the retraining's own cost.json (every call on it) replaces this call's share when there is one
    cost = cpu_cost(folder, {"retrain": c1 - c0, "evaluate": cpu_seconds() - c1})
    entry["restored"] = {"psnr_before": old["overall"]["psnr"]["mean"], "psnr_after": new["overall"]["psnr"]["mean"],
                         "results_before": {k: v for k, v in old.items() if k != "per_volume"}, **cost}
    if e.kind != "nas":  # a fixed network: its retraining is all it costs (a searched one's search is not redone)
        entry.update(cost)
    keep_validation(run_dir, keep, replace=True)
    keep_weights(run_dir, keep)
    write_json(keep / "entry.json", entry)
    write_json(keep / "results.json", new)
    tmp.unlink()
    print(f"[{e.name} seed {seed}] weights kept; PSNR {entry['restored']['psnr_before']:.3f} kept, "
          f"{entry['restored']['psnr_after']:.3f} now", flush=True)


def run_seed(e: Entry, seed: int, plan: Plan) -> Path:
    """Run one (entry, seed), skipping finished steps; return its kept folder under ``plan.out``."""
    keep = plan.out / e.slug / f"seed{seed}"
    done = find_done(plan, e, seed)
    if done is not None:
        print(f"[{e.name} seed {seed}] done already ({done / 'results.json'})", flush=True)
        if done != keep:  # everything else first, results.json (which marks the seed done) last
            shutil.copytree(done, keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("results.json"))
            write_text(keep / "results.json", (done / "results.json").read_text())
        if work_is_this(plan, e, seed):  # kept before val.json (weights) existed: taken from the run
            keep_validation(plan.work / e.slug / f"seed{seed}" / "retrain", keep)
            if not (keep / "model.pt").is_file():
                keep_weights(plan.work / e.slug / f"seed{seed}" / "retrain", keep)
        if plan.restore_weights and e.kind != "method" and not (keep / "model.pt").is_file():
            restore_weights(e, seed, plan, keep)
        return keep
    folder = claim_work(plan, e, seed)
    print(f"[{e.name} seed {seed}] running in {folder}", flush=True)
    common = plan.common + ["--seed", str(seed)]
    own = bool(plan.compute)
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def step(name: str, argv: list[str], own_process: bool = False) -> None:
        t0, c0 = time.perf_counter(), cpu_seconds()
        _run(argv, own_process, plan.cli)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
        cpu[name] = cpu.get(name, 0.0) + cpu_seconds() - c0

    tmp = folder / ".results.json.partial"
    evaluate, data = evaluate_step(plan, folder)
    geno_file = twin = None
    if e.kind == "method":
        step("evaluate", evaluate + ["--method", e.method] + (["--tune"] if e.method in plan.tunable else [])
             + [a for a in plan.common if a != "--no-progress"])
    else:
        run_dir = folder / "retrain"
        if e.kind == "nas":
            geno_file = _searched_genotype(e, seed, plan, folder, step, common, own)
            src = ["--genotype", str(geno_file)]
        elif e.kind == "random":
            geno_file = folder / "genotype.json"
            if not geno_file.is_file():
                write_text(geno_file, e.genotype + "\n")
            src = ["--genotype", str(geno_file)]
        else:
            src = ["--method", e.method]
        twin = retrained_twin(plan, e, seed, geno_file) if geno_file is not None and not run_dir.exists() else None
        if twin is not None:
            print(f"[{e.name} seed {seed}] the same network, options and seed as {twin[0]} seed {seed}: "
                  f"its retraining ({twin[1]}) is this row's too", flush=True)
            shutil.copytree(twin[1], run_dir)
            seconds["retrain"] = 0.0
        if not (run_dir / "model.pt").is_file():
            step("retrain", retrain_argv(plan, e, seed, src, run_dir), own_process=own)
        step("evaluate", evaluate + ["--checkpoint", str(run_dir)] + data)
    results = json.loads(tmp.read_text())
    keep.mkdir(parents=True, exist_ok=True)
    if e.kind != "method":
        # a fixed architecture (a sampled one, a hand-made one) costs the same at every seed: counted once
        same = sorted(keep.parent.glob("seed*/complexity.json")) if e.kind in ("random", "baseline") else []
        write_json(keep / "complexity.json",
                   json.loads(same[0].read_text()) if same else complexity_of(folder / "retrain", plan.complexity_size))
    if geno_file is not None and geno_file.is_file():
        shutil.copyfile(geno_file, keep / "genotype.json")
        search = folder / "search"
        for name, kept in SEARCH_FILES.items():
            if (search / name).is_file() and not e.search_of:
                shutil.copyfile(search / name, keep / kept)
    prev = folder / "seconds.json"  # a search finished by an earlier, interrupted call (or by another row)
    if prev.is_file():
        for k, v in json.loads(prev.read_text()).items():
            seconds.setdefault(k, v)  # a step run in this call has its own time already
    keep_validation(folder / "retrain", keep)
    keep_weights(folder / "retrain", keep)  # a kept learned entry is a checkpoint: evaluate --checkpoint KEEP
    write_json(keep / "entry.json", {"key": plan.key(e, seed), "seconds": seconds,
                                     **cpu_cost(folder, cpu, twin is not None),
                                     **({"retrain_of": f"{twin[0]} seed {seed}"} if twin else {})})
    write_json(keep / "results.json", results)  # last: its presence marks the seed done
    tmp.unlink()
    return keep


def cpu_cost(folder: Path, cpu: dict[str, float], twin: bool = False) -> dict:
    """An entry's cost in process CPU seconds: a training step's is its run folder's ``cost.json`` (every
    call on it, resumes included; none for a retraining copied from a twin), another step's is what
    this call measured. With the CPU's matmul speed, so that costs on other machines compare."""
    out = dict(cpu)
    for name in ("search", "retrain"):
        kept = read_cost(folder / name)
        if kept is not None and not (name == "retrain" and twin):
            out[name] = kept["cpu_s"]
    return {"cpu_seconds": {k: round(v, 2) for k, v in out.items()}, "matmul_gflops": round(matmul_gflops(), 3)}


RETRAIN_KEY = ("preset", "sets", "data", "config", "seed", "eval_seed")  # what else decides a genotype's retraining


def retrained_twin(plan: Plan, e: Entry, seed: int, geno_file: Path) -> tuple[str, Path] | None:
    """Another row's finished retraining in ``plan.work`` (its name, its run) that ran the very command ``e``'s would: the
    same genotype, preset, options and seed (retraining is deterministic, so its network and numbers
    are this row's). A FLOPs-limited search whose limit did not bind picks its unlimited row's
    network; a SPOS pick can be one of the sampled architectures. Only rows without options of their
    own (``Entry.sets``, such as a wider retraining) qualify: the key keeps the command's ``--set``s,
    not the row's; the run's own ``config.yaml`` must say it trained as this row would
    (:func:`same_training`)."""
    if e.sets or e.kind not in ("nas", "random") or not geno_file.is_file():
        return None
    from ..genotype import Genotype

    with_sets = {x.name for t in plan.tables.values() for x in t if x.sets}
    want = json.loads(json.dumps(plan.key(e, seed)))
    marks = [(json.loads(m.read_text()), m.parent / "retrain") for m in sorted(plan.work.glob(f"*/seed{seed}/key.json"))
             if m.parent.parent.name != e.slug]
    for key, run in sorted(marks, key=lambda m: m[0].get("kind") != "nas"):  # a searched row's first, then a sample's
        if not (run / "model.pt").is_file() or not (run / "genotype.json").is_file():
            continue
        if (key.get("kind") in ("nas", "random") and key.get("entry") not in with_sets
                and all(key.get(k) == want.get(k) for k in RETRAIN_KEY)
                and Genotype.load(run / "genotype.json") == Genotype.load(geno_file)
                and same_training(run, want["config"], Genotype.load(geno_file).macro_dict)):
            return key["entry"], run
    return None


def same_training(run: Path, config: dict, macro: dict | None = None) -> bool:
    """Whether retraining ``run`` trained as ``config`` (an experiment's resolved config) says: its own
    ``config.yaml`` has the same ``train`` and ``data`` sections and the same ``model`` settings but the
    genotype's cells and nodes. ``macro``: the genotype's macro choices, which a retraining writes into its
    config.yaml (width as model.channels, the task's own as data options; older runs kept the preset's values
    there): either way counts. A row with options of its own that the key does not keep (successive
    halving's shorter rungs: ``train.epochs``) differs here."""
    from ..config import load_yaml

    if not (run / "config.yaml").is_file():
        return False
    mine = load_yaml(run / "config.yaml")
    skip = {"cells", "nodes"}

    def same(cfg: dict) -> bool:
        return (all(mine.get(k) == cfg.get(k) for k in ("train", "data"))
                and {k: v for k, v in (mine.get("model") or {}).items() if k not in skip}
                == {k: v for k, v in (cfg.get("model") or {}).items() if k not in skip})

    if same(config):
        return True
    if not macro:
        return False
    from ..network import macro_settings
    from ..task import get_task

    built = {**config, "model": dict(config.get("model") or {}), "data": dict(config.get("data") or {})}
    for key, v in macro_settings(macro, get_task(config.get("task") or "csmri")).items():
        section, name = key.split(".", 1)
        built[section][name] = v
    return same(built)


def work_is_this(plan: Plan, e: Entry, seed: int) -> bool:
    """Whether ``--work/<row>/seed<S>`` holds runs of this experiment (its ``key.json``)."""
    mark = plan.work / e.slug / f"seed{seed}" / "key.json"
    return mark.is_file() and same_experiment(json.loads(mark.read_text()), plan.key(e, seed), plan.defaults,
                                              e.unused_settings)


def keep_validation(run_dir: Path, keep: Path, replace: bool = False) -> None:
    """``val.json`` in a kept folder: the task's validation metrics after the retraining's last epoch
    (what a fair choice among trained networks may look at; the test split is for reporting), and
    ``curve.json``: the learning curve (training loss and validation metrics per epoch, for multi-fidelity
    studies on the kept pool). Kept ones stay unless ``replace`` (weights retrained: their own numbers)."""
    hist = run_dir / "train_history.json"
    if not hist.is_file():
        return
    history = json.loads(hist.read_text())
    if replace or not (keep / "curve.json").is_file():
        write_json(keep / "curve.json", [{k: v for k, v in h.items() if k in ("epoch", "loss") or
                                          (k.startswith("val_") and k != "val_seconds")} for h in history])
    if (keep / "val.json").is_file() and not replace:
        return
    last = history[-1]
    val = {k: v for k, v in last.items() if k.startswith("val_") and k != "val_seconds"}
    if val:
        write_json(keep / "val.json", {"epoch": last["epoch"], **val})


def supernet_source(plan: Plan, e: Entry, seed: int) -> tuple[Entry, Path]:
    """The row whose supernet ``e`` chooses in (``supernet_of``) and that supernet's last checkpoint
    in ``plan.work`` for this seed (which may not exist)."""
    from ..rows import SELECTION_SETS

    src = replace(e, name=e.supernet_of, supernet_of="",
                  search_sets=tuple(s for s in e.search_sets if not s.startswith(SELECTION_SETS)))
    return src, plan.work / src.slug / f"seed{seed}" / "search" / "checkpoints" / "last.ckpt"


def supernet_in_work(plan: Plan, e: Entry, seed: int) -> bool:
    """Whether ``e``'s seed can choose in its ``supernet_of`` row's finished search of that seed."""
    src, ckpt = supernet_source(plan, e, seed)
    # cell.png: written when the search ends (darts writes genotype.json every epoch)
    return ckpt.is_file() and work_is_this(plan, src, seed) and (ckpt.parent.parent / "cell.png").is_file()


def supernet_gone(plan: Plan, e: Entry, seed: int) -> bool:
    """Whether ``e``'s seed would have to train its own supernet although its ``supernet_of`` row is kept
    for that seed: the row's search is no longer in ``plan.work`` (removed, or another machine's)."""
    if not e.supernet_of:
        return False
    src, _ = supernet_source(plan, e, seed)
    return (plan.out / src.slug / f"seed{seed}" / "results.json").is_file() and not supernet_in_work(plan, e, seed)


def reuse_supernet(plan: Plan, e: Entry, seed: int, search: Path) -> None:
    """Start ``e``'s search (``supernet_of``) from the last checkpoint of that entry's search of the same
    seed in ``plan.work``: the two differ only in options read after training (``SELECTION_SETS``), so
    the resumed run goes straight to choosing the architecture. Without such a run: nothing (``e``
    trains its own)."""
    src, ckpt = supernet_source(plan, e, seed)
    if not supernet_in_work(plan, e, seed):
        if supernet_gone(plan, e, seed):
            print(f"[{e.name} seed {seed}] the supernet of {src.name} (seed {seed}) is kept in the results but gone "
                  f"from --work ({ckpt.parent.parent.parent}): this search trains its own", flush=True)
        return
    (search / "checkpoints").mkdir(parents=True)
    shutil.copy2(ckpt, search / "checkpoints" / "last.ckpt")
    # the candidate scores of the searches that chose in it before: the search takes those measured the same way
    # (spos.scoring_key: the same weights, batches and scoring options) instead of fine-tuning them again
    for f in sorted(plan.work.glob(f"*/seed{seed}/search/scores.json")):
        shutil.copyfile(f, search / f"scores-{f.parent.parent.parent.name}.json")
    print(f"[{e.name} seed {seed}] the supernet of {src.name} (seed {seed}) is this search's: {ckpt}", flush=True)


def _searched_genotype(e: Entry, seed: int, plan: Plan, folder: Path, step, common: list[str], own: bool) -> Path:
    """The genotype a searched entry retrains: its own search, or (``search_of``) that entry's cell of
    the same seed, kept or searched now."""
    if e.search_of:
        src = next(x for t in plan.tables.values() for x in t if x.name == e.search_of)
        done = find_done(plan, src, seed)
        if done is not None and (done / "genotype.json").is_file():
            return done / "genotype.json"
        return _searched_genotype(src, seed, plan, claim_work(plan, src, seed), step, common, own)
    search = folder / "search"
    if not (search / "cell.png").is_file():
        if e.supernet_of and not search.exists():
            reuse_supernet(plan, e, seed, search)
        resume = ["--resume"] if search.exists() else []
        t0 = time.perf_counter()
        extra = [x for s in e.search_sets for x in ("--set", s)]
        step("search", ["search", "--space", e.space, "--set", f"model.nodes={e.nodes}", "--out", str(search)]
             + resume + common + extra + plan.compute, own_process=own)
        write_json(folder / "seconds.json", {"search": time.perf_counter() - t0})
    return search / "genotype.json"


def complexity_of(run_dir: Path, size: int) -> dict:
    """FLOPs/params (one input of ``size``, modules only) and CPU latency of the network as trained."""
    from ..complexity import complexity_rows
    from ..config import build_config, load_yaml
    from ..task import get_task

    cfg = build_config(load_yaml(run_dir / "config.yaml"))
    t = get_task(cfg.task)(cfg.data, data=cfg.data_path, seed=cfg.seed)  # the run's own options (cascades, ...)
    if cfg.method:
        rows = complexity_rows(t, cfg, {cfg.method: cfg.method}, [], size, progress=lambda *_: None)
    else:
        rows = complexity_rows(t, cfg, {}, [run_dir / "genotype.json"], size, progress=lambda *_: None)
    r = rows[0]
    return {"flops": r["flops"], "params": r["params"], "latency_s": r.get("latency_s")}


# ---------------------------------------------------------------- runners
def kept_seeds(plan: Plan, e: Entry) -> list[int]:
    """The seeds this run asks for, and every other seed of ``e`` kept in the results folder (a run
    with ``--seeds 1`` must not drop seeds 1 and 2 from the report)."""
    found = {int(d.name[4:]) for f in result_folders(plan) for d in (f / e.slug).glob("seed*") if d.name[4:].isdigit()}
    limit = 1 if e.kind == "method" else None  # a non-learned method has one result (no seeds)
    return sorted(set(plan.seeds_of(e)) | {s for s in found if s >= plan.base_seed})[:limit]


def kept_rows(entries: list[Entry], plan: Plan) -> list[dict]:
    """Rows of every entry with at least one kept seed (whoever ran it), in ``entries``' order."""
    rows = []
    for e in entries:
        kept = [d for d in (find_done(plan, e, s) for s in kept_seeds(plan, e)) if d is not None]
        if kept:
            rows.append(summarise(e, kept))
    return rows


def run_entries(entries: list[Entry], plan: Plan, report=None, only: list[str] | None = None,
                entry_major: bool = False) -> list[dict]:
    """Run every (entry, seed) not kept yet: the non-learned rows, then the rows the verdict needs
    seed by seed (seed 0 of each, then seed 1, ...), then the other rows (the costly
    ones last), so an interrupted benchmark has the verdict's rows first. ``only``: run just these
    rows. After each seed ``report(rows)`` gets every kept row (a partial report to commit).
    ``entry_major``: every seed of one entry before the next entry (seed noise is measured early).
    A row that chooses in another row's supernet runs last the seeds that must train their own
    (:func:`supernet_gone`): the cheap seeds first."""
    names = [e.name for e in entries]
    for name in only or []:
        if name not in names:
            raise UserError(f"--only {name!r}: no such row; rows: {', '.join(names)}")
    group = {e.name: (0 if e.kind == "method" else 1 if e.core else 2) for e in entries}
    first = {name: n for n, name in enumerate(plan.run_first)}
    todo = sorted(((group[e.name], (supernet_gone(plan, e, seed), k), first.get(e.name, len(first) + i), e, seed)
                   for i, e in enumerate(entries) for k, seed in enumerate(plan.seeds_of(e))
                   if not only or e.name in only), key=lambda t: (t[0], t[2], t[1]) if entry_major else t[:3])
    jobs = [(e, seed) for *_, e, seed in todo]
    if plan.executor.kind == "local":
        waves = [jobs]  # in order; a row that retrains another row's search runs that search itself
    else:  # in parallel: the rows that retrain another row's search, or choose in its supernet, start once the
        # searches are kept
        later = [j for j in jobs if j[0].search_of or j[0].supernet_of]
        waves = [w for w in ([j for j in jobs if j not in later], later) if w]

    def done() -> None:
        if report is not None:
            report(kept_rows(entries, plan))

    plan.executor.run(waves, plan, run_seed, done)
    rows = kept_rows(entries, plan)
    if report is not None:
        report(rows)
    return rows


def append_text(path: Path, lines: list[str]) -> None:
    write_text(path, path.read_text() + "\n" + "\n".join(lines) + "\n")


def halving_rungs(epochs: int, eta: int) -> list[int]:
    """The training budgets (epochs) of successive halving's rungs, smallest first, the last the full
    ``epochs``: each rung ``eta`` times the one before, none under one epoch."""
    budgets = [epochs]
    while budgets[0] // eta >= 1:
        budgets.insert(0, budgets[0] // eta)
    return budgets


def run_halving(candidates: list[Entry], plan: Plan, eta: int, epochs: int, report=None) -> list[dict]:
    """Successive halving (Jamieson & Talwalkar 2016; Hyperband's inner loop): every candidate trains
    for the smallest budget, the best 1/``eta`` by validation PSNR (mean over seeds; never the test
    split) go on to ``eta`` times the budget, up to the full one, whose entries are the candidates
    themselves (their kept results are those of a run without halving). Returns one record per rung."""
    import math

    from ..stats import spearman

    budgets = halving_rungs(epochs, eta)
    alive, rungs = list(candidates), []
    for r, budget in enumerate(budgets):
        last = r == len(budgets) - 1
        rung = alive if last else [replace(e, name=f"{e.name} @{budget}ep", sets=e.sets + (f"train.epochs={budget}",))
                                   for e in alive]
        print(f"\n--- successive halving: rung {r + 1}/{len(budgets)}, {len(rung)} entries at {budget} epoch(s)",
              flush=True)
        rows = run_entries(rung, plan, report if last else None, entry_major=True)
        val = {row["method"].split(" @")[0]: row.get("val_psnr") for row in rows}
        missing = sorted(n for n, v in val.items() if v is None)
        if missing:
            raise UserError(f"successive halving ranks by validation metrics, and none are kept for {', '.join(missing)} "
                            "(a task without Task.validate, or results kept before val.json existed); run without "
                            "--halving, or give another --out")
        rec = {"rung": r + 1, "epochs": budget, "entries": len(rung), "val_psnr": val}
        if rungs:
            prev = rungs[-1]["val_psnr"]
            both = [n for n in val if n in prev]
            rec["spearman_with_previous"] = spearman([prev[n] for n in both], [val[n] for n in both]) \
                if len(both) >= 3 else None
        rungs.append(rec)
        if not last:
            alive = sorted(alive, key=lambda e: -val[e.name])[:math.ceil(len(alive) / eta)]
    write_json(plan.out / "halving.json", rungs)
    return rungs


def halving_lines(rungs: list[dict], eta: int) -> list[str]:
    """The report's section on successive halving: the rungs, and how the rankings of consecutive
    rungs agree (Spearman's rho of validation PSNR over the entries in both)."""
    lines = ["## Successive halving", "",
             f"`--halving {eta}`: every candidate trained the first rung's epochs; the best 1/{eta} by validation "
             "PSNR (mean over seeds; the test split is never looked at) went on to the next rung. Rank agreement: "
             "Spearman's rho between a rung's validation PSNR and the previous rung's, over the entries in both.",
             f"The spread, figures and rankings above are over the {rungs[-1]['entries']} finalists only: a subset "
             "picked by validation PSNR, not a uniform sample of the space.",
             "", "| rung | epochs | entries | best by validation | rho with the previous rung |", "|---|---|---|---|---|"]
    for r in rungs:
        best = max(r["val_psnr"], key=r["val_psnr"].get)
        rho = r.get("spearman_with_previous")
        lines.append(f"| {r['rung']} | {r['epochs']} | {r['entries']} | {best} ({r['val_psnr'][best]:.2f} dB) | "
                     + ("-" if rho is None else f"{rho['rho']:+.2f} (p {rho['p']:.2g})") + " |")
    return lines + [""]


def run_table(which: str, task, plan: Plan, command: str, only: list[str] | None = None) -> Path:
    """Run (or resume) every entry of ``which``; the report in ``plan.out`` is rewritten after every seed."""
    if which not in plan.tables:
        raise UserError(f"task {task.name} has no table {which!r}; its tables: {', '.join(plan.tables)}")
    entries = plan.tables[which]
    plan.out.mkdir(parents=True, exist_ok=True)

    def report(rows: list[dict]) -> None:
        names = {r["method"] for r in rows}
        write_report(which, [e for e in entries if e.name in names], rows, plan, task, command)

    run_entries(entries, plan, report, only)
    return plan.out / "report.md"


def run_random(task, space, cfg, n: int, plan: Plan, command: str, ops: list[str] | None = None,
               halving: int = 0) -> Path:
    """``n`` random cells retrained exactly like the searched one (``other_seeds`` seeds each), next to
    the searched cell (``seeds`` seeds; kept results of table1 count). ``ops``: the random cells'
    ops drawn from these alone (e.g. only the op the search picks most: does it find more than
    "that op on every edge"?). ``halving``: the random cells by successive halving with this eta."""
    from .random_report import write_random_report

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    entries = random_entries(space, cfg.model.cells, cfg.model.nodes, n, plan.base_seed, ops)
    searched = Entry(f"NAS {space.name} {cfg.model.nodes}n", "nas", space=space.name, nodes=cfg.model.nodes,
                     core=True)
    plan.out.mkdir(parents=True, exist_ok=True)

    def report(rows: list[dict]) -> None:
        write_csv(plan.out / "random.csv", rows)
        randoms = [r for r in rows if r["method"] != searched.name]
        mine = [r for r in rows if r["method"] == searched.name]
        if randoms and mine:
            write_random_report(randoms, mine[0], plan, command, ops)

    if not halving:
        run_entries([searched] + entries, plan, report)
        return plan.out / "report.md"
    run_entries([searched], plan)
    rungs = run_halving(entries, plan, halving, cfg.train.epochs)
    report(kept_rows([searched] + [e for e in entries if e.name in rungs[-1]["val_psnr"]], plan))
    append_text(plan.out / "report.md", halving_lines(rungs, halving))
    return plan.out / "report.md"


# multi-fidelity selection in a trained supernet: 256 candidates at 10 fine-tune steps, the best eighth at 40, the
# best eighth of those at 160 (256 x 10 + 32 x 40 + 4 x 160 = 4480 steps), the best of the last rung is the pick
HALVING_SETS = ("search.candidates=256", "search.finetune_ladder=[10,40,160]", "search.halving_eta=8")
SPACE_SEARCH_SETS = {"spos": ("search.strategy=spos", "search.epochs=30"),  # SPOS trains its supernet longer
                     # (one path per step: 30 epochs cost about what 3 darts epochs of space A do)
                     "spos-sandwich": ("search.strategy=spos", "search.sandwich=true", "search.epochs=15"),
                     "spos-finetune": ("search.strategy=spos", "search.epochs=30", "search.finetune_steps=40"),
                     "darts-pt": ("search.strategy=darts", "search.select=perturbation"),
                     "spos-halving": ("search.strategy=spos", "search.epochs=30") + HALVING_SETS,
                     "darts-halving": ("search.strategy=darts", "search.select=candidates") + HALVING_SETS}
# spos-sandwich: two paths per step (the drawn one and its deepest), so half the epochs: as many paths trained;
# spos-finetune: spos' supernet, each candidate scored after 40 steps of its own path; darts-pt: darts' supernet,
# the architecture chosen by perturbation (DARTS-PT); the other strategies keep the preset's budget
# rows that choose in another row's supernet (of the same seed)
SPACE_SUPERNET_OF = {"spos-finetune": "spos", "darts-pt": "darts", "spos-halving": "spos", "darts-halving": "darts"}


def strategy_of(e: Entry) -> str:
    """The search strategy of searched row ``e`` (its ``search.strategy`` setting; the default darts)."""
    return next((s.split("=", 1)[1] for s in e.search_sets if s.startswith("search.strategy=")), "darts")


# in a space with macro choices, DARTS draws them per step (~5x a GDAS step): with every width and sharing mixed it
# did not fit in 24 GB at the bench preset in space C
MACRO_SEARCH_SETS = {"darts": ("search.macro_draw=true",), "darts-pt": ("search.macro_draw=true",),
                     "darts-halving": ("search.macro_draw=true",)}


def space_search_entries(space, nodes: int, strategies: list[str]) -> list[Entry]:
    """The searched rows of ``benchmark space``: one per search strategy (``NAS C spos`` ...)."""
    return [Entry(f"NAS {space.name} {name}", "nas", space=space.name, nodes=nodes, core=False,
                  search_sets=SPACE_SEARCH_SETS.get(name, (f"search.strategy={name}",))
                  + (MACRO_SEARCH_SETS.get(name, ()) if space.macro_choices else ()),
                  supernet_of=f"NAS {space.name} {SPACE_SUPERNET_OF[name]}" if name in SPACE_SUPERNET_OF else "")
            for name in strategies]


def flops_limit_entries(task, space, cfg, plan: Plan, limits: list[str], spos: Entry | None = None) -> list[Entry]:
    """The rows of ``benchmark space --flops-limits``: SPOS searches whose candidates are limited to a
    hand-made row's FLOPs over a divisor (``ROW/4``: a quarter of ROW's), the cost-aware
    front of the space (``NAS C spos <=ROW/4`` ...), each choosing in the trained supernet of
    the searched row ``spos`` (default: the plain ``spos`` row's)."""
    spos = spos or space_search_entries(space, cfg.model.nodes, ["spos"])[0]
    from ..complexity import complexity_rows

    hand = {e.name: e for t in plan.tables.values() for e in t if e.kind == "baseline"}
    out = []
    for spec in limits:
        name, _, div = spec.partition("/")
        name = name.strip()
        if name not in hand:
            raise UserError(f"--flops-limits {spec!r}: {name!r} is not a hand-made row of task {task.name}'s tables"
                            f"{did_you_mean(name, hand)}; give ROW or ROW/K with ROW one of {', '.join(hand)}")
        try:
            k = float(div) if div else 1.0
        except ValueError:
            k = 0.0
        if not k > 0:
            raise UserError(f"--flops-limits {spec!r}: the divisor must be a positive number, e.g. {name}/4")
        flops = complexity_rows(task, cfg, {name: hand[name].method}, [], plan.complexity_size, with_latency=False,
                                progress=lambda *_: None)[0]["flops"]
        label = f"{name}/{div.strip()}" if div else name
        out.append(Entry(f"{spos.name} <={label}", "nas", space=space.name, nodes=cfg.model.nodes,
                         search_sets=spos.search_sets + (f"search.max_flops={flops / k:.6g}",),
                         supernet_of=spos.supernet_of or spos.name))
    return out


# selection options that change a supernet's scores
SCORING_SETS = ("search.finetune_steps=", "search.eval_batches=", "search.finetune_ladder=", "search.select=candidates")
SCORED_STRATEGIES = ("spos", "darts", "gdas")  # supernets that can be restricted to one architecture exactly
# (pcdarts' bypassing channels and proxyless' sampled paths cannot): only these get a ranking


def scores_its_own(e: Entry) -> bool:
    """Whether searched row ``e``'s supernet scores the samples for it: its own supernet, or another row's
    scored in a way of its own (``search.finetune_steps``), unless it only limits an unlimited row's FLOPs."""
    limited = any(s.startswith("search.max_flops=") for s in e.search_sets)
    return not e.supernet_of or (any(s.startswith(SCORING_SETS) for s in e.search_sets) and not limited)


def ranked_as(rows: list[Entry]) -> dict[str, str]:
    """The searched rows that score no samples of their own (see :func:`keep_supernet_scores`), each with
    the row whose ranking of the samples is theirs: a FLOPs-limited row, the unlimited row that scores
    alike in the same supernet (``spos-finetune <=ROW/4``: ``spos-finetune``); a row that chooses
    in another row's supernet without scoring options of its own (``darts-pt``), that row."""
    home = {(e.supernet_of or e.name, e.search_sets): e.name for e in rows}
    out = {}
    for e in rows:
        if scores_its_own(e):
            continue
        unlimited = tuple(s for s in e.search_sets if not s.startswith("search.max_flops="))
        src = home.get((e.supernet_of, unlimited)) if unlimited != e.search_sets else e.supernet_of
        if src:
            out[e.name] = src
    return out


def keep_supernet_scores(plan: Plan, e: Entry, samples: list[Entry]) -> None:
    """``supernet_scores.json`` in each kept seed of searched row ``e``: every sampled architecture's
    loss inside that seed's trained supernet (its search run must still be in ``plan.work``, and be
    this experiment's); rescored when the samples are not those scored (a larger ``--n``)."""
    from ..genotype import Genotype
    from ..oneshot.spos import supernet_losses

    if strategy_of(e) not in SCORED_STRATEGIES:
        return
    if not scores_its_own(e):
        return  # that row's supernet, scored the same way there or by the unlimited row it limits
    names = {x.name for x in samples}
    for seed in kept_seeds(plan, e):
        keep = plan.out / e.slug / f"seed{seed}"
        run = plan.work / e.slug / f"seed{seed}" / "search"
        scores = keep / "supernet_scores.json"
        if not (keep / "results.json").is_file() or (scores.is_file() and set(json.loads(scores.read_text())) == names):
            continue
        if not work_is_this(plan, e, seed):
            continue
        if not (run / "checkpoints" / "last.ckpt").is_file():
            print(f"[{e.name} seed {seed}] no search run in {run}: the supernet's ranking is not scored", flush=True)
            continue
        genos = [Genotype.from_dict(json.loads(x.genotype)) for x in samples]
        losses = supernet_losses(run, genos)
        write_json(keep / "supernet_scores.json", {x.name: loss for x, loss in zip(samples, losses)})


def kept_search_rows(plan: Plan, space, skip: set[str]) -> list[Entry]:
    """The searched rows of ``space`` kept in ``plan.out`` by calls with other options than this one's
    (``--flops-limits``), rebuilt from their kept key, except the folders in ``skip``: a call without
    those options still reports them."""
    rows: dict[str, Entry] = {}
    for f in sorted(plan.out.glob("nas_*/seed*/entry.json")):
        slug = f.parent.parent.name
        if slug in skip or slug in rows or not (f.parent / "results.json").is_file():
            continue
        k = json.loads(f.read_text()).get("key", {})
        if k.get("kind") != "nas" or k.get("space") != space.name:
            continue
        e = Entry(k["entry"], "nas", space=space.name, nodes=k.get("nodes", 3), search_of=k.get("search_of", ""),
                  search_sets=tuple(k.get("search_sets", ())), supernet_of=k.get("supernet_of", ""))
        if e.slug == slug:
            rows[slug] = e
    return list(rows.values())


def run_space(task, space, cfg, n: int, plan: Plan, command: str, search: list[str] | None = None,
              halving: int = 0, flops_limits: list[str] | None = None) -> Path:
    """``nasengine benchmark space``: ``n`` architectures drawn uniformly from the whole space (cell
    and the macro choices this task builds), each retrained exactly like a searched one over
    ``plan.seeds`` seeds, every seed of one architecture before the next. The report says how far
    they spread against seed noise (one-way ANOVA, intraclass correlation) and draws PSNR against
    FLOPs with the empirical Pareto front; kept hand-made networks of the same results folder
    appear beside them. ``search``: strategies whose searched rows (``NAS <space> <strategy>``, over
    ``plan.other_seeds`` seeds) run after the samples; each seed's supernet also scores every sampled
    architecture, and the report gives the rank correlation of those scores with the stand-alone
    results (how well the supernet ranks the space). ``flops_limits`` (``ROW/K`` ...): SPOS rows
    searched under those FLOPs limits (:func:`flops_limit_entries`), after the other searched rows, choosing
    as the last SPOS row of ``search`` does (``spos,spos-finetune``: with fine-tuned scores)."""
    from ..oneshot.strategies import STRATEGIES
    from .space_report import write_space_report

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    known = list(dict.fromkeys([*STRATEGIES, *SPACE_SEARCH_SETS]))  # spos is both
    for name in search or []:
        if name not in known:
            raise UserError(f"--search {name!r}: no such search strategy; available: {', '.join(known)}")
    search = list(search or [])
    for name in list(search):  # a row that chooses in another row's supernet brings that row (its training)
        src = SPACE_SUPERNET_OF.get(name)
        if src and src not in search:
            print(f"note: --search {name} chooses in {src}'s supernet: {src} is searched too", flush=True)
            search.insert(search.index(name), src)
    searched = space_search_entries(space, cfg.model.nodes, search)
    for name, e in zip(search, searched):
        if strategy_of(e) not in SCORED_STRATEGIES:
            print(f"note: --search {name}: its supernet cannot be restricted to one architecture, so its ranking of the "
                  f"samples is not scored (scored: {', '.join(SCORED_STRATEGIES)})", flush=True)
    macro = task.macro_space(space.macro_choices)
    samples = random_entries(space, cfg.model.cells, cfg.model.nodes, n, plan.base_seed, macro=macro,
                             tag=f"{space.name}-sample")
    samples = [replace(e, core=True) for e in samples]
    spos = next((e for e in reversed(searched) if strategy_of(e) == "spos"), None)  # the limits choose as it does
    searched.sort(key=lambda e: bool(e.supernet_of))  # a supernet's own row first, so that its seeds exist to reuse
    searched += flops_limit_entries(task, space, cfg, plan, flops_limits or [], spos)
    plan.out.mkdir(parents=True, exist_ok=True)
    dropped = sorted(set(space.macro_choices) - set(macro))
    # hand-made networks kept by table1 in the same results folder, as points of reference
    refs = list({e.name: e for t in plan.tables.values() for e in t
                 if e.kind == "baseline" and e.name in task.benchmark_references}.values())
    # and the task's non-learned reference method, where a table keeps it: a learned row at or
    # below it has learned nothing, and the report says so before any verdict
    refs += list({e.method: e for t in plan.tables.values() for e in t
                  if e.kind == "method" and e.method == task.reference_method}.values())
    kept_searched = [e for e in space_search_entries(space, cfg.model.nodes, known)
                     if any((plan.out / e.slug).glob("seed*/results.json"))]
    kept_searched += kept_search_rows(plan, space, {e.slug for e in searched + kept_searched})

    def report(rows: list[dict]) -> None:
        names = {r["method"] for r in rows}
        for e in searched:
            if e.name in names:
                keep_supernet_scores(plan, e, samples)
        more = [e for e in kept_searched if e.name not in names]
        rows = rows + kept_rows(more + refs, plan)
        write_csv(plan.out / "space.csv", rows)
        settings = {e.name: e.search_sets for e in searched + kept_searched}
        shares = {e.name: e.supernet_of for e in searched + kept_searched if e.supernet_of}
        earlier = [e.name.removeprefix(f"NAS {space.name} ") for e in more]
        write_space_report(rows, space, plan, task, command, dropped, settings, shares, earlier,
                           ranked_as(searched + kept_searched))

    if not halving:
        run_entries(samples + searched, plan, report, entry_major=True)
        return plan.out / "report.md"
    rungs = run_halving(samples, plan, halving, cfg.train.epochs)
    run_entries([e for e in samples if e.name in rungs[-1]["val_psnr"]] + searched, plan, report, entry_major=True)
    append_text(plan.out / "report.md", halving_lines(rungs, halving))
    return plan.out / "report.md"
