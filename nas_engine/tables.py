"""``nasengine benchmark table1|table2|table3|random``: the paper's experiments, over seeds, resumable.

Layout. Each entry (a table row) runs once per seed: the runs live under
``--work/<entry>/seed<S>/`` (search, retrain, reconstructions), and what is kept
goes to ``--out/<entry>/seed<S>/``: ``results.json`` (metrics per test volume),
``entry.json`` (what ran: preset, ``--set`` options, seconds per step),
``complexity.json`` and, for searched cells, ``genotype.json``, ``cell.png``,
``alphas.png``. A seed whose ``results.json`` exists under ``--out`` -- or under
a sibling table of the same results folder, run with the same preset and options
-- is done: commit ``benchmarks/results/`` and a later session (or a fresh clone)
continues where this one stopped. A half-finished search or retraining is
resumed from its checkpoint. The report (``report.md``), the CSV and the figures
are rebuilt from the kept results every time.

All methods are evaluated on the same test masks (those of the base seed), so
results of different seeds and methods pair volume by volume.
"""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError
from .io import write_json, write_text
from .stats import paired

WIDE_SETS = ("model.channels=32", "model.cells=3")  # the paper's width: C=32, N=3 cells


@dataclass(frozen=True)
class Entry:
    name: str  # row label, matches the task's paper tables
    kind: str  # "method" (non-learned), "baseline" (retrain --method), "nas" (search + retrain), "random"
    method: str = ""
    space: str = "A"
    nodes: int = 3
    core: bool = False  # a row the verdict needs: run over all --seeds
    sets: tuple[str, ...] = ()  # extra --set options of the retraining (e.g. the paper's width)
    search_of: str = ""  # nas: retrain the cell searched by this entry (same seed) instead of searching
    genotype: str = ""  # random: the cell, as JSON

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "_").replace("-", "_").replace("=", "").replace(",", "")

    @property
    def searched(self) -> bool:
        return self.kind == "nas"

    def signature(self) -> dict:
        return {"kind": self.kind, "method": self.method, "space": self.space, "nodes": self.nodes,
                "sets": list(self.sets), "search_of": self.search_of, "genotype": self.genotype}


NAS_A3 = Entry("NAS A 3n", "nas", space="A", nodes=3, core=True)
NAS_A3_WIDE = Entry("NAS A 3n wide", "nas", space="A", nodes=3, core=True, sets=WIDE_SETS, search_of="NAS A 3n")
TABLES = {
    "table1": [Entry("Zero-filled", "method", "zero-filled"), Entry("TV", "method", "tv")]
    + [Entry(n, "baseline", m, core=core) for n, m, core in (
        ("U-Net", "unet", True), ("DCCNN-3", "dccnn-3", True), ("MoDL-3", "modl-3", True),
        ("RDN-3", "rdn-3", False), ("DCCNN-11", "dccnn-11", False), ("MoDL-11", "modl-11", False),
        ("RDN-8", "rdn-8", False))]
    + [NAS_A3, NAS_A3_WIDE],
    "table2": [Entry("NAS A 2n", "nas", nodes=2, core=True), NAS_A3, Entry("NAS A 4n", "nas", nodes=4, core=True)],
    "table3": [NAS_A3, Entry("NAS B 3n", "nas", space="B", nodes=3, core=True)],
}


# Within a seed, the rows the verdict leans on most run first.
RUN_FIRST = ("DCCNN-3", "MoDL-3", "NAS A 3n")


def random_entries(space, cells: int, nodes: int, n: int, seed: int) -> list[Entry]:
    """``n`` cells drawn uniformly from the space (same nodes, same derive constraints), seeded."""
    from .genotype import Genotype

    rng = random.Random(seed)
    out = []
    for k in range(1, n + 1):
        g = Genotype.random(space.name, space.ops, cells, nodes, rng)
        out.append(Entry(f"random-{k}", "random", space=space.name, nodes=nodes, genotype=g.to_json()))
    return out


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

    def seeds_of(self, e: Entry) -> list[int]:
        n = 1 if e.kind == "method" else self.seeds if e.core else self.other_seeds
        return [self.base_seed + k for k in range(n)]

    def key(self, e: Entry, seed: int) -> dict:
        """What makes two results the same experiment."""
        return {"entry": e.name, **e.signature(), "preset": self.preset, "sets": self.sets, "data": self.data,
                "config": self.config, "seed": seed, "eval_seed": self.base_seed}


def _run(argv: list[str], own_process: bool = False) -> None:
    """One step, in this process, or in a process of its own (DDP re-runs the command line of the
    process it starts from, so a multi-process step must be that process's whole command)."""
    print(f"  $ nasengine {' '.join(argv)}", flush=True)
    if own_process:
        import subprocess
        import sys

        rc = subprocess.run([sys.executable, "-m", "nas_engine.cli", *argv]).returncode
    else:
        from .cli import main

        rc = main(argv)
    if rc != 0:
        raise UserError(f"benchmark step failed: nasengine {' '.join(argv)}")


def find_done(plan: Plan, e: Entry, seed: int) -> Path | None:
    """The kept folder of this (entry, seed) if some table of ``plan.out``'s results folder has it."""
    key = plan.key(e, seed)
    for folder in [plan.out, *sorted(p for p in plan.out.parent.iterdir() if p.is_dir() and p != plan.out)] \
            if plan.out.parent.is_dir() else [plan.out]:
        d = folder / e.slug / f"seed{seed}"
        meta = d / "entry.json"
        if (d / "results.json").is_file() and meta.is_file():
            saved = json.loads(meta.read_text()).get("key")
            if saved == key:
                return d
            if folder == plan.out:
                raise UserError(f"{d} holds a result of another experiment ({_diff(saved, key)}); "
                                "give another --out (and --work), or remove that folder")
    return None


def _diff(a: dict | None, b: dict) -> str:
    if not a:
        return "no key"
    return ", ".join(f"{k}: {a.get(k)!r} there, {b[k]!r} here" for k in b if a.get(k) != b[k]) or "same"


def run_seed(e: Entry, seed: int, plan: Plan) -> Path:
    """Run one (entry, seed), skipping finished steps; return its kept folder under ``plan.out``."""
    keep = plan.out / e.slug / f"seed{seed}"
    done = find_done(plan, e, seed)
    if done is not None:
        print(f"[{e.name} seed {seed}] done already ({done / 'results.json'})", flush=True)
        if done != keep:
            shutil.copytree(done, keep, dirs_exist_ok=True)
        return keep
    folder = plan.work / e.slug / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"[{e.name} seed {seed}] running in {folder}", flush=True)
    common = plan.common + ["--seed", str(seed)]
    own = bool(plan.compute)
    seconds: dict[str, float] = {}

    def step(name: str, argv: list[str], own_process: bool = False) -> None:
        t0 = time.perf_counter()
        _run(argv, own_process)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0

    recons = folder / "recons"
    if recons.exists():
        shutil.rmtree(recons)  # partial output of an interrupted evaluation: ours to redo
    tmp = folder / ".results.json.partial"
    tmp.unlink(missing_ok=True)
    evaluate = ["evaluate", "--out", str(tmp), "--save-recons", str(recons), "--no-progress",
                "--seed", str(plan.base_seed)]  # the same test masks for every seed and method
    data = plan.common[plan.common.index("--data"): plan.common.index("--data") + 2] if "--data" in plan.common else []
    geno_file = None
    if e.kind == "method":
        step("evaluate", evaluate + ["--method", e.method] + (["--tune"] if e.method == "tv" else [])
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
        if not (run_dir / "model.pt").is_file():
            resume = ["--resume"] if run_dir.exists() else []
            extra = [x for s in e.sets for x in ("--set", s)]
            step("retrain", ["retrain"] + src + ["--out", str(run_dir)] + resume + common + extra + plan.compute,
                 own_process=own)
        step("evaluate", evaluate + ["--checkpoint", str(run_dir)] + data)
    results = json.loads(tmp.read_text())
    keep.mkdir(parents=True, exist_ok=True)
    if e.kind != "method":
        write_json(keep / "complexity.json", complexity_of(folder / "retrain", 320))
    if geno_file is not None and geno_file.is_file():
        shutil.copyfile(geno_file, keep / "genotype.json")
        search = folder / "search"
        for fig in ("cell.png", "alphas.png"):
            if (search / fig).is_file() and not e.search_of:
                shutil.copyfile(search / fig, keep / fig)
        if (search / "history.json").is_file() and not e.search_of:
            shutil.copyfile(search / "history.json", keep / "search_history.json")
    prev = folder / "seconds.json"  # a search finished by an earlier, interrupted call (or by another row)
    if prev.is_file():
        for k, v in json.loads(prev.read_text()).items():
            seconds.setdefault(k, v)  # a step run in this call has its own time already
    write_json(keep / "entry.json", {"key": plan.key(e, seed), "seconds": seconds})
    write_json(keep / "results.json", results)  # last: its presence marks the seed done
    tmp.unlink()
    return keep


def _searched_genotype(e: Entry, seed: int, plan: Plan, folder: Path, step, common: list[str], own: bool) -> Path:
    """The genotype a searched entry retrains: its own search, or (``search_of``) that entry's cell of
    the same seed, kept or searched now."""
    if e.search_of:
        src = next(x for t in TABLES.values() for x in t if x.name == e.search_of)
        done = find_done(plan, src, seed)
        if done is not None and (done / "genotype.json").is_file():
            return done / "genotype.json"
        return _searched_genotype(src, seed, plan, plan.work / src.slug / f"seed{seed}", step, common, own)
    search = folder / "search"
    if not (search / "cell.png").is_file():
        resume = ["--resume"] if search.exists() else []
        t0 = time.perf_counter()
        step("search", ["search", "--space", e.space, "--set", f"model.nodes={e.nodes}", "--out", str(search)]
             + resume + common + plan.compute, own_process=own)
        write_json(folder / "seconds.json", {"search": time.perf_counter() - t0})
    return search / "genotype.json"


def complexity_of(run_dir: Path, size: int) -> dict:
    """FLOPs/params (one input of ``size``, modules only) and CPU latency of the network as trained."""
    from tasks import get_task

    from .benchmark import complexity_rows
    from .config import build_config, load_yaml

    cfg = build_config(load_yaml(run_dir / "config.yaml"))
    t = get_task(cfg.task)(cfg.data, data=cfg.data_path, seed=cfg.seed)  # the run's own options (cascades, ...)
    if cfg.method:
        rows = complexity_rows(t, cfg, {cfg.method: cfg.method}, [], size, progress=lambda *_: None)
    else:
        rows = complexity_rows(t, cfg, {}, [run_dir / "genotype.json"], size, progress=lambda *_: None)
    r = rows[0]
    return {"flops": r["flops"], "params": r["params"], "latency_s": r.get("latency_s")}


# ---------------------------------------------------------------- aggregation
def _mean_std(vals: list[float]) -> tuple[float, float | None]:
    import numpy as np

    a = np.asarray(vals, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None)


def summarise(e: Entry, kept: list[Path]) -> dict:
    """One CSV row: metrics as the mean over seeds of each seed's mean over volumes; ``*_std`` is the
    spread over seeds (empty with one seed); ``psnr_vol_std`` the spread over test volumes."""
    res = [json.loads((k / "results.json").read_text()) for k in kept]
    row: dict = {"method": e.name, "seeds": len(res)}
    for m in ("mse", "nmse", "psnr", "ssim"):
        row[m], row[f"{m}_std"] = _mean_std([r["overall"][m]["mean"] for r in res])
    row["psnr_vol_std"] = _mean_std([r["overall"]["psnr"]["std"] for r in res])[0]
    for acc in res[0].get("by_acceleration", {}):
        for m in ("psnr", "ssim"):
            row[f"{m}_{acc}x"] = _mean_std([r["by_acceleration"][acc][m]["mean"] for r in res])[0]
        row[f"psnr_{acc}x_std"] = _mean_std([r["by_acceleration"][acc]["psnr"]["mean"] for r in res])[1]
    cx = [json.loads((k / "complexity.json").read_text()) for k in kept if (k / "complexity.json").is_file()]
    row["flops"] = _mean_std([c["flops"] for c in cx])[0] if cx else None
    row["params"] = _mean_std([c["params"] for c in cx])[0] if cx else None
    row["latency_s"] = _mean_std([c["latency_s"] for c in cx if c.get("latency_s")])[0] if cx else None
    secs = [sum(json.loads((k / "entry.json").read_text())["seconds"].values()) for k in kept]
    row["seconds"] = _mean_std(secs)[0]
    if e.kind == "method":
        tv = res[0].get("tv")
        if tv:
            row["tv"] = f"lambda {tv['lambda']:g}, {tv['iters']} iterations" + (
                " (chosen on val)" if "tuned_on_val" in tv else "")
    row["_per_seed"] = {int(k.name[4:]): r for k, r in zip(kept, res)}
    return row


def per_volume(row: dict, metric: str = "psnr") -> dict[tuple[int, str], float]:
    """``{(seed, volume): value}`` of a summarised row."""
    return {(s, v["file"]): v[metric] for s, r in row["_per_seed"].items() for v in r["per_volume"]}


def compare(a: dict, b: dict) -> dict | None:
    """Paired per-volume PSNR difference ``a - b`` over the (seed, volume) pairs both have."""
    pa, pb = per_volume(a), per_volume(b)
    common = sorted(set(pa) & set(pb))
    if not common:
        return None
    return {"a": a["method"], "b": b["method"], **paired([pa[k] - pb[k] for k in common]),
            "seeds": len({s for s, _ in common})}


def _fmt_cmp(c: dict) -> str:
    lo, hi = c["ci95"]
    word = "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"
    return (f"{c['a']} - {c['b']}: {c['mean']:+.2f} dB, 95% interval [{lo:+.2f}, {hi:+.2f}] over {c['n']} "
            f"(seed, volume) pairs ({c['seeds']} seed{'s' if c['seeds'] != 1 else ''}) -> {c['a']} is {word}")


def verdict(rows: list[dict]) -> list[str]:
    """The paper's claim, checked on these numbers: the searched net beats the best hand-made one,
    and does so at <= 1/4 of its FLOPs; plus the comparison at about equal FLOPs."""
    learned = [r for r in rows if r["flops"]]
    nas = [r for r in learned if r["method"].startswith("NAS")]
    hand = [r for r in learned if not r["method"].startswith(("NAS", "random"))]
    if not nas or not hand:
        return []
    best = max(hand, key=lambda r: r["psnr"])
    top = max(nas, key=lambda r: r["psnr"])
    out = ["## Verdict", "",
           f"Best hand-made network: {best['method']} {best['psnr']:.2f} dB at {best['flops'] / 1e9:.2f}G "
           f"({best['seeds']} seeds); best searched: {top['method']} {top['psnr']:.2f} dB at "
           f"{top['flops'] / 1e9:.2f}G ({top['seeds']} seeds).", ""]
    c = compare(top, best)
    if c:
        out.append(f"- Best searched vs best hand-made, paired: {_fmt_cmp(c)}.")
    for r in nas:
        peers = [h for h in hand if 0.5 <= r["flops"] / h["flops"] <= 2.0]
        for h in peers:
            c = compare(r, h)
            if c:
                out.append(f"- About equal FLOPs ({r['flops'] / 1e9:.1f}G vs {h['flops'] / 1e9:.1f}G): {_fmt_cmp(c)}.")
        if r["flops"] <= best["flops"] / 4:
            c = compare(r, best)
            if c:
                out.append(f"- At {r['flops'] / best['flops']:.2f}x the FLOPs of {best['method']} (<= 1/4): "
                           f"{_fmt_cmp(c)}.")
    small = [r for r in nas if r["flops"] <= best["flops"] / 4]
    ok = any(r["psnr"] >= best["psnr"] for r in small)
    out += ["", f"**Paper's claim on this run** (a searched net at least as good as the best hand-made one, mean "
            f"over seeds, at <= 1/4 of its FLOPs): **{'reproduced' if ok else 'not reproduced'}**."]
    return out


# ---------------------------------------------------------------- report
CSV_FIELDS = ["method", "seeds", "mse", "mse_std", "nmse", "nmse_std", "psnr", "psnr_std", "psnr_vol_std",
              "ssim", "ssim_std"]


def write_csv(path: Path, rows: list[dict]) -> None:
    fields = CSV_FIELDS + [k for r in rows for k in r if k not in CSV_FIELDS and not k.startswith("_")]
    fields = list(dict.fromkeys(fields))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    write_text(path, buf.getvalue())


def _pm(row: dict, key: str, fmt: str = ".2f") -> str:
    s = row.get(f"{key}_std")
    return f"{row[key]:{fmt}}" + ("" if s is None else f" ± {s:{fmt}}")


def table_lines(rows: list[dict], paper: dict | None = None) -> list[str]:
    accs = sorted({k[5:-1] for r in rows for k in r if k.startswith("psnr_") and k.endswith("x")}, key=float)

    def g(x):
        return "-" if x is None else f"{x / 1e9:.2f}G"

    def k(x):
        return "-" if x is None else f"{x / 1e3:.1f}K"

    head = ("| method | seeds | PSNR | SSIM | " + " | ".join(f"PSNR {a}x" for a in accs)
            + " | NMSE | FLOPs | params | time/seed | paper PSNR |")
    lines = [head, "|---" * (9 + len(accs)) + "|"]
    for r in rows:
        per = " | ".join(f"{r[f'psnr_{a}x']:.2f}" + ("" if r.get(f"psnr_{a}x_std") is None else
                                                     f" ± {r[f'psnr_{a}x_std']:.2f}") for a in accs)
        p = (paper or {}).get(r["method"])
        lines.append(f"| {r['method']} | {r['seeds']} | {_pm(r, 'psnr')} | {_pm(r, 'ssim', '.4f')} | {per} | "
                     f"{_pm(r, 'nmse', '.4f')} | {g(r['flops'])} | {k(r['params'])} | "
                     f"{r['seconds'] / 60:.1f} min | {'-' if p is None else p} |")
    return lines


def write_report(which: str, entries: list[Entry], rows: list[dict], plan: Plan, task, command: str) -> None:
    out = plan.out
    write_csv(out / f"{which}.csv", rows)
    paper = task.paper_psnr() if hasattr(task, "paper_psnr") else {}
    lines = [f"# {which}: {', '.join(e.name for e in entries)}", "",
             f"Made by `{command}` (preset `{plan.preset}`). Test split, metrics per volume (fastMRI "
             "definitions), averaged over volumes per seed; the table gives the mean over seeds ± the std over "
             "seeds (no ± with one seed), all accelerations mixed as in the paper, and per acceleration. Every "
             "method sees the same test masks. FLOPs/params: the reconstruction modules as trained, all cascades, "
             f"one {task.in_channels}x320x320 input (ptflops). time/seed: search + retrain + evaluate on this "
             "machine.", ""]
    lines += table_lines(rows, paper)
    tv = [r for r in rows if r.get("tv")]
    if tv:
        lines += ["", f"TV: {tv[0]['tv']}."]
    lines += [""] + verdict(rows) + [""]
    figs = draw_figures(rows, out, task, plan, entries)
    lines += [f"![{f.parent.parent.name if f.name in ('cell.png', 'alphas.png') else f.stem}]({f.relative_to(out)})"
              for f in figs]
    write_text(out / "report.md", "\n".join(lines) + "\n")


def draw_figures(rows: list[dict], out: Path, task, plan: Plan, entries: list[Entry]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_write

    figs = []
    pts = [r for r in rows if r["flops"]]
    if pts:
        fig, ax = plt.subplots(figsize=(7.0, 4.6))
        seen: dict[float, int] = {}
        for r in sorted(pts, key=lambda r: -r["psnr"]):
            nas = r["method"].startswith("NAS")
            x = r["flops"] / 1e9
            ax.errorbar(x, r["psnr"], yerr=r.get("psnr_std") or 0, fmt="*" if nas else "o", ms=11 if nas else 6,
                        c="C3" if nas else "C0", zorder=3, capsize=3)
            k = seen.get(round(x, 1), 0)  # methods with the same FLOPs: stack their labels
            seen[round(x, 1)] = k + 1
            ax.annotate(r["method"], (x, r["psnr"]), textcoords="offset points", xytext=(6, 3 - 11 * k), fontsize=8)
        front, best = [], -1e9
        for r in sorted(pts, key=lambda r: r["flops"]):
            if r["psnr"] > best:
                front.append(r)
                best = r["psnr"]
        ax.plot([r["flops"] / 1e9 for r in front], [r["psnr"] for r in front], "--", c="0.5", lw=1, label="Pareto front")
        for r in rows:
            if not r["flops"]:
                ax.axhline(r["psnr"], ls=":", lw=1, c="0.3")
                ax.text(1.0, r["psnr"], f"{r['method']} ", transform=ax.get_yaxis_transform(), fontsize=8,
                        ha="right", va="bottom", c="0.3")
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("GFLOPs, one 320x320 input (log scale)")
        ax.set_ylabel("PSNR (dB), test split; bars: std over seeds")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs.append(atomic_write(out / "psnr_vs_flops.png", lambda t: fig.savefig(t, dpi=120, format="png")))
        plt.close(fig)
    panel = getattr(task, "draw_panel", None)
    if panel is not None:
        fig = panel([(e.name, plan.work / e.slug / f"seed{plan.base_seed}" / "recons") for e in entries])
        if fig is not None:
            figs.append(atomic_write(out / "recon_panel.png", lambda t: fig.savefig(t, dpi=110, format="png")))
            plt.close(fig)
    for e in entries:
        d = out / e.slug / f"seed{plan.base_seed}"
        if e.kind == "nas" and not e.search_of:
            figs += [d / f for f in ("cell.png", "alphas.png") if (d / f).is_file()]
    return figs


# ---------------------------------------------------------------- runners
def kept_rows(entries: list[Entry], plan: Plan) -> list[dict]:
    """Rows of every entry with at least one kept seed (whoever ran it), in ``entries``' order."""
    rows = []
    for e in entries:
        kept = [d for d in (find_done(plan, e, s) for s in plan.seeds_of(e)) if d is not None]
        if kept:
            rows.append(summarise(e, kept))
    return rows


def run_entries(entries: list[Entry], plan: Plan, report=None, only: list[str] | None = None) -> list[dict]:
    """Run every (entry, seed) not kept yet: the non-learned rows, then the rows the verdict needs
    seed by seed (seed 0 of each, then seed 1, ...), then the other rows (the costly 11-block/RDN-8
    ones last), so an interrupted benchmark has the verdict's rows first. ``only``: run just these
    rows. After each seed ``report(rows)`` gets every kept row (a partial report to commit)."""
    names = [e.name for e in entries]
    for name in only or []:
        if name not in names:
            raise UserError(f"--only {name!r}: no such row; rows: {', '.join(names)}")
    group = {e.name: (0 if e.kind == "method" else 1 if e.core else 2) for e in entries}
    first = {name: n for n, name in enumerate(RUN_FIRST)}
    todo = sorted(((group[e.name], k, first.get(e.name, len(first) + i), e)
                   for i, e in enumerate(entries) for k in range(len(plan.seeds_of(e)))
                   if not only or e.name in only), key=lambda t: t[:3])
    for n, (_, k, _, e) in enumerate(todo, 1):
        seed = plan.seeds_of(e)[k]
        print(f"\n=== {n}/{len(todo)}: {e.name}, seed {seed}", flush=True)
        run_seed(e, seed, plan)
        if report is not None:
            report(kept_rows(entries, plan))
    rows = kept_rows(entries, plan)
    if report is not None:
        report(rows)
    return rows


def run_table(which: str, task, plan: Plan, command: str, only: list[str] | None = None) -> Path:
    """Run (or resume) every entry of ``which``; the report in ``plan.out`` is rewritten after every seed."""
    if which not in TABLES:
        raise UserError(f"unknown table {which!r}; choose {', '.join(TABLES)}")
    entries = TABLES[which]
    plan.out.mkdir(parents=True, exist_ok=True)

    def report(rows: list[dict]) -> None:
        names = {r["method"] for r in rows}
        write_report(which, [e for e in entries if e.name in names], rows, plan, task, command)

    run_entries(entries, plan, report, only)
    return plan.out / "report.md"


def run_random(task, space, cfg, n: int, plan: Plan, command: str) -> Path:
    """``n`` random cells retrained exactly like the searched one (``other_seeds`` seeds each), next to
    the searched cell (``seeds`` seeds; kept results of table1 count)."""
    from .random_report import write_random_report

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    entries = random_entries(space, cfg.model.cells, cfg.model.nodes, n, plan.base_seed)
    searched = Entry(f"NAS {space.name} {cfg.model.nodes}n", "nas", space=space.name, nodes=cfg.model.nodes,
                     core=True)
    plan.out.mkdir(parents=True, exist_ok=True)

    def report(rows: list[dict]) -> None:
        write_csv(plan.out / "random.csv", rows)
        randoms = [r for r in rows if r["method"] != searched.name]
        mine = [r for r in rows if r["method"] == searched.name]
        if randoms and mine:
            write_random_report(randoms, mine[0], plan, command)

    run_entries([searched] + entries, plan, report)
    return plan.out / "report.md"
