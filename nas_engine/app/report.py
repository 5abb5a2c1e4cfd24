"""The benchmark reports: rows aggregated over seeds, paired comparisons and the verdict, the CSV,
the markdown report and its figures."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..drawing import save_figure
from ..files import write_text
from ..stats import paired
from .rescore import write_report_md


# ---------------------------------------------------------------- aggregation
def _mean_std(vals: list[float]) -> tuple[float, float | None]:
    a = np.asarray(vals, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None)


def summarise(e, kept: list[Path]) -> dict:
    """One CSV row: metrics as the mean over seeds of each seed's mean over volumes; ``*_std`` is the
    spread over seeds (empty with one seed); ``psnr_vol_std`` the spread over test volumes."""
    res = [json.loads((k / "results.json").read_text()) for k in kept]
    row: dict = {"method": e.name, "seeds": len(res)}
    for m in [k for k in res[0]["overall"] if k != "n_volumes"]:  # every metric the task reports
        row[m], row[f"{m}_std"] = _mean_std([r["overall"][m]["mean"] for r in res])
    row["psnr_vol_std"] = _mean_std([r["overall"]["psnr"]["std"] for r in res])[0]
    row["n_volumes"] = res[0]["overall"].get("n_volumes")
    for acc in res[0].get("by_acceleration", {}):
        for m in ("psnr", "ssim"):
            row[f"{m}_{acc}x"] = _mean_std([r["by_acceleration"][acc][m]["mean"] for r in res])[0]
        row[f"psnr_{acc}x_std"] = _mean_std([r["by_acceleration"][acc]["psnr"]["mean"] for r in res])[1]
    cx = [json.loads((k / "complexity.json").read_text()) for k in kept if (k / "complexity.json").is_file()]
    row["flops"] = _mean_std([c["flops"] for c in cx])[0] if cx else None
    row["params"] = _mean_std([c["params"] for c in cx])[0] if cx else None
    row["latency_s"] = _mean_std([c["latency_s"] for c in cx if c.get("latency_s")])[0] if cx else None
    entries = [json.loads((k / "entry.json").read_text()) for k in kept]
    row["seconds"] = _mean_std([sum(x["seconds"].values()) for x in entries])[0]
    # process CPU seconds over every resume (kept since cost.json exists; None where a seed predates it)
    cpu = [x.get("cpu_seconds") for x in entries]
    row["cpu_seconds"] = _mean_std([sum(c.values()) for c in cpu])[0] if all(cpu) else None
    if e.kind == "method":
        tuned = res[0].get(e.method)  # a tunable method's settings, kept under its name in its results
        if isinstance(tuned, dict) and "lambda" in tuned:
            row["tuned"] = f"lambda {tuned['lambda']:g}, {tuned['iters']} iterations" + (
                " (chosen on val)" if "tuned_on_val" in tuned else "")
    vals = [json.loads((k / "val.json").read_text()) for k in kept if (k / "val.json").is_file()]
    key = "val_psnr"
    row["val_psnr"] = _mean_std([v[key] for v in vals])[0] if len(vals) == len(kept) and all(key in v for v in vals) \
        else None  # validation PSNR after the last epoch, mean over seeds (None: not kept for every seed)
    row["_per_seed"] = {int(k.name[4:]): r for k, r in zip(kept, res)}
    row["_dirs"] = {int(k.name[4:]): k for k in kept}  # where each seed is kept (maybe another table's folder)
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


def _mean_row(rows: list[dict], name: str, seeds) -> dict:
    """A pseudo-row whose PSNR on each volume is the mean over ``rows`` and over each row's seeds,
    the same for every seed in ``seeds`` (those of the searched cell): the paired comparison then
    takes every searched seed against the random cells on the same volume, whichever seeds the
    random cells have (:func:`mean_by_seed` pairs on the training seed as well)."""
    if not rows:
        raise ValueError(f"{name}: no rows to average")
    by_file: list[dict[str, float]] = []
    for r in rows:
        vals: dict[str, list[float]] = {}
        for (_, f), v in per_volume(r).items():
            vals.setdefault(f, []).append(v)
        by_file.append({f: float(np.mean(v)) for f, v in vals.items()})
    files = sorted(set.intersection(*(set(b) for b in by_file)))
    per_volume_rows = [{"file": f, "psnr": float(np.mean([b[f] for b in by_file]))} for f in files]
    return {"method": name, "_per_seed": {s: {"per_volume": per_volume_rows} for s in seeds}}


def at_seed(rows: list[dict], s: int) -> list[dict]:
    """The rows restricted to training seed ``s`` (those that have it)."""
    return [{**r, "_per_seed": {s: r["_per_seed"][s]}} for r in rows if s in r["_per_seed"]]


def mean_by_seed(rows: list[dict], name: str, seeds) -> dict:
    """A pseudo-row whose seed ``s`` is the mean of those ``rows`` retrained at training seed ``s``
    (each seed of ``seeds`` that all of them have): paired with a searched cell on (seed, volume),
    both sides share each seed's data order and initialisation stream."""
    per_seed = {}
    for s in seeds:
        same = at_seed(rows, s)
        if same and len(same) == len(rows):
            per_seed[s] = _mean_row(same, name, [s])["_per_seed"][s]
    return {"method": name, "_per_seed": per_seed}


def _fmt_cmp(c: dict) -> str:
    lo, hi = c["ci95"]
    word = "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"
    return (f"{c['a']} - {c['b']}: {c['mean']:+.2f} dB, 95% interval [{lo:+.2f}, {hi:+.2f}] over {c['n']} "
            f"(seed, volume) pairs ({c['seeds']} seed{'s' if c['seeds'] != 1 else ''}) -> {c['a']} is {word}")


def verdict(rows: list[dict]) -> list[str]:
    """The paper's claim, checked on these numbers: the searched net beats the best hand-made one,
    and does so at <= 1/4 of its FLOPs; plus the comparison at about equal FLOPs."""
    nas = [r for r in rows if r["flops"] and r["method"].startswith("NAS")]
    hand = _hand_made(rows)
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


def short_op(op: str) -> str:
    return op.replace("_conv_3x3", "").replace("_connect", "")


def short_cell(geno) -> str:
    """One line per cell: ``input:op`` for each edge, nodes separated by ``|``."""
    return " \\| ".join(" ".join(f"{e.input}:{short_op(e.op)}" for e in edges) for edges in geno.cell)


def kept_cell_rows(folder: Path, pattern: str = "random_[0-9]*") -> list[dict]:
    """Rows (``method``, ``_per_seed``: every seed with results) of the cells a ``benchmark random``
    run keeps in ``folder`` (``pattern``: ``random_sep_conv_3x3_*`` for one run with ``--ops``)."""
    rows = []
    for d in sorted(folder.glob(pattern)):
        per = {int(x.name[4:]): json.loads((x / "results.json").read_text())
               for x in sorted(d.glob("seed*")) if x.name[4:].isdigit() and (x / "results.json").is_file()}
        if per:
            rows.append({"method": d.name.replace("_", "-"), "_per_seed": per})
    return rows


def agreement(a, b) -> tuple[int, int, int]:
    """What two cells share: edges (node, input, op), wiring (node, input), op counts."""
    from collections import Counter

    ea, eb = ([(i, e.input, e.op) for i, node in enumerate(g.cell) for e in node] for g in (a, b))
    return (len(set(ea) & set(eb)), len({x[:2] for x in ea} & {x[:2] for x in eb}),
            sum((Counter(x[2] for x in ea) & Counter(x[2] for x in eb)).values()))


def chance_agreement(cells: list, draws: int) -> list[tuple[int, int, int]]:
    """What a uniformly random cell (same space, cells, nodes; seeded) shares with each of ``cells``:
    :func:`agreement` of ``draws`` draws per cell, in order."""
    import random

    from ..genotype import Genotype

    rng = random.Random(0)
    return [agreement(a, Genotype.random(a.space, a.ops, a.cells, a.nodes, rng)) for a in cells for _ in range(draws)]


def row_genotypes(row: dict) -> dict:
    """``{seed: Genotype}`` of a summarised row's searched cells, read from the folder that keeps each
    seed (maybe another table's)."""
    from ..genotype import Genotype

    return {s: Genotype.load(d / "genotype.json") for s, d in sorted(row.get("_dirs", {}).items())
            if (d / "genotype.json").is_file()}


def _hand_made(rows: list[dict]) -> list[dict]:
    """The rows of hand-made networks: learned (with FLOPs), neither searched nor random cells."""
    return [r for r in rows if r["flops"] and not r["method"].startswith(("NAS", "random"))]


def strategy_lines(entries: list, rows: list[dict], plan, draws: int = 2000) -> list[str]:
    """``benchmark strategies``: per seed, how much of darts' cell each other strategy derives, next
    to what a uniformly random cell shares by chance (``draws`` draws per darts cell), and each
    retrained cell against darts' and against the mean random cell of the same preset (``../random``
    next to this report, when it has results)."""
    by = {r["method"]: r for r in rows}
    cells = {e.name: row_genotypes(by[e.name]) for e in entries if e.name in by}

    def geno(e, s):
        return cells.get(e.name, {}).get(s)

    darts = next((e for e in entries if not e.search_sets), None)  # the row without a strategy override
    if darts is None or darts.name not in by:
        return ["## Agreement with darts", "", "(no darts row kept yet: run the table without --only, or with "
                "the darts row in it)"]
    seeds = sorted(by[darts.name]["_per_seed"])
    out = ["## Agreement with darts", "",
           "Per seed: the edges (node, input, op) of each strategy's cell that darts' cell of the same seed "
           "also has, the same wiring (node, input) whatever the op, and the op counts both cells share "
           "(of 6 edges each). Cells: `input:op` per edge, nodes 2-4 separated by `|`; inputs 0 and 1 are "
           "the cell's inputs.", "",
           "| strategy | seed | edges shared | wiring shared | op counts shared | cell |", "|---|---|---|---|---|---|"]
    shared: dict[str, list[tuple[int, int, int]]] = {}
    chance = chance_agreement([geno(darts, s) for s in seeds if geno(darts, s) is not None], draws)
    for s in seeds:
        a = geno(darts, s)
        if a is None:
            continue
        for e in entries:
            b = geno(e, s)
            if b is not None:
                got = agreement(a, b)
                if e is not darts:
                    shared.setdefault(e.name, []).append(got)
                out.append(f"| {e.name} | {s} | {got[0]} | {got[1]} | {got[2]} | {short_cell(b)} |")
    if shared:
        c = np.mean(chance, axis=0)
        out += ["", "Mean over seeds (edges / wiring / op counts shared with darts, of 6): " + "; ".join(
            f"{n} {'/'.join(f'{x:.1f}' for x in np.mean(v, axis=0))} ({len(v)} seed{'s' if len(v) != 1 else ''})"
            for n, v in shared.items()) + f"; a uniformly random cell {c[0]:.1f}/{c[1]:.1f}/{c[2]:.1f} (chance)."]
    randoms = kept_cell_rows(plan.out.parent / "random")
    out += ["", "Each cell retrained, paired per (training seed, volume); the interval treats the volumes of "
            "all seeds as independent pairs, so it is narrower than one over seeds:"]
    for e in entries:
        if e.name not in by:
            continue
        if e is not darts:
            c = compare(by[e.name], by[darts.name])
            if c:
                out.append(f"- {_fmt_cmp(c)}.")
        if randoms:
            c = compare(by[e.name], mean_by_seed(randoms, f"the mean of {len(randoms)} random cells at the same "
                                                 "training seed", sorted(by[e.name]["_per_seed"])))
            out.append(f"- {_fmt_cmp(c)}." if c else f"- {e.name}: the random cells lack its training seeds "
                       "(`benchmark random --other-seeds N`)")
    if not randoms:
        out.append(f"- (no random cells in {plan.out.parent / 'random'}: `nasengine benchmark random` with the "
                   "same preset adds the comparison)")
    return out


def _cost_weight(e) -> float:
    """The ``search.cost_weight`` of an entry's search (0 without one)."""
    for s in e.search_sets:
        if s.startswith("search.cost_weight="):
            return float(s.split("=", 1)[1])
    return 0.0


def pareto_lines(entries: list, rows: list[dict]) -> list[str]:
    """``benchmark pareto``: each searched cell by its search's cost weight: PSNR, FLOPs against the
    weight-0 cell's, the ops it picked, and paired comparisons with the weight-0 cell and with the
    best hand-made net of the table."""
    from collections import Counter

    by = {r["method"]: r for r in rows}
    nas = sorted((e for e in entries if e.kind == "nas" and e.name in by), key=_cost_weight)
    hand = _hand_made(rows)
    if not nas:
        return []
    base = next((by[e.name] for e in nas if _cost_weight(e) == 0), None)
    out = ["## Cost against quality", "",
           "Each searched cell by the weight of the expected-FLOPs penalty in its search (`search.cost=flops`, "
           "`search.cost_weight`); FLOPs as in the table, and as a multiple of the weight-0 cell's. Ops: how "
           "many of the cell's edges (all seeds) use each op.", "",
           "| cost weight | seeds | PSNR | FLOPs | x weight 0 | params | ops | cell (seed 0) |",
           "|---|---|---|---|---|---|---|---|"]
    for e in nas:
        r = by[e.name]
        genos = row_genotypes(r)
        ops = Counter(x.op for g in genos.values() for node in g.cell for x in node)
        rel = f"{r['flops'] / base['flops']:.2f}x" if base and base["flops"] and r["flops"] else "-"
        cell = short_cell(next(iter(genos.values()))) if genos else "-"  # the lowest seed's
        out.append(f"| {_cost_weight(e):g} | {r['seeds']} | {r['psnr']:.2f} | "
                   f"{r['flops'] / 1e9 if r['flops'] else 0:.2f}G | {rel} | {(r['params'] or 0) / 1e3:.1f}K | "
                   + ", ".join(f"{short_op(o)} {n}" for o, n in ops.most_common()) + f" | {cell} |")
    out += ["", "Paired per (training seed, volume):"]
    best = max(hand, key=lambda r: r["psnr"]) if hand else None
    for e in nas:
        r = by[e.name]
        for other in ([base] if base is not None and r is not base else []) + ([best] if best else []):
            c = compare(r, other)
            if c:
                out.append(f"- {_fmt_cmp(c)}.")
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

    with_paper = any((paper or {}).get(r["method"]) is not None for r in rows)  # a task without paper numbers: no column
    head = (["method", "seeds", "PSNR", "SSIM"] + [f"PSNR {a}x" for a in accs]
            + ["NMSE", "FLOPs", "params", "wall/seed", "CPU/seed"] + (["paper PSNR"] if with_paper else []))
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        per = [f"{r[f'psnr_{a}x']:.2f}" + ("" if r.get(f"psnr_{a}x_std") is None else f" ± {r[f'psnr_{a}x_std']:.2f}")
               for a in accs]
        p = (paper or {}).get(r["method"])
        cells = ([r["method"], str(r["seeds"]), _pm(r, "psnr"), _pm(r, "ssim", ".4f")] + per
                 + [_pm(r, "nmse", ".4f"), g(r["flops"]), k(r["params"]), f"{r['seconds'] / 60:.1f} min",
                    "-" if r.get("cpu_seconds") is None else f"{r['cpu_seconds'] / 60:.1f} min"]
                 + (["-" if p is None else str(p)] if with_paper else []))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(which: str, entries: list, rows: list[dict], plan, task, command: str) -> None:
    out = plan.out
    write_csv(out / f"{which}.csv", rows)
    try:
        paper = task.paper_psnr(which)
    except TypeError:  # a task of before tables were its own: paper_psnr() without the table
        paper = task.paper_psnr()
    lines = [f"# {which}: {', '.join(e.name for e in entries)}", "",
             f"Made by `{command}` (preset `{plan.preset}`). {task.benchmark_note(which)} wall/seed: search + "
             "retrain + evaluate, wall clock on the machine that ran it (the last call of a resumed run); CPU/seed: "
             "process CPU time of the same, every resume summed (`cpu_seconds` in each seed's entry.json, with the "
             "CPU's matmul speed; - where a kept seed predates it).", ""]
    lines += table_lines(rows, paper)
    if which == "strategies":
        lines += [""] + strategy_lines(entries, rows, plan)
    if which == "pareto":
        lines += [""] + pareto_lines(entries, rows)
    for r in rows:
        if r.get("tuned"):  # a non-learned method's settings, chosen on the validation split
            lines += ["", f"{r['method']}: {r['tuned']}."]
    lines += [""] + verdict(rows) + [""]
    figs = draw_figures(rows, out, task, plan, entries, which)
    lines += [f"![{f.parent.parent.name if f.name in ('cell.png', 'alphas.png') else f.stem}]({f.relative_to(out)})"
              for f in figs]
    write_report_md(out, lines)  # with benchmark rescore's tables, kept across rebuilds


def psnr_error(r: dict) -> tuple[float, str]:
    """The error bar of a row: the std over seeds with two or more seeds, else the standard error
    of the mean over test volumes (one seed has no seed spread)."""
    if r.get("seeds", 1) > 1 and r.get("psnr_std") is not None:
        return float(r["psnr_std"]), "seeds"
    n = r.get("n_volumes") or 0
    if r.get("psnr_vol_std") and n > 1:
        return float(r["psnr_vol_std"]) / n**0.5, "volumes"
    return 0.0, ""


def flops_axis(ax, xs: list[float]) -> None:
    """A log GFLOPs axis with readable ticks: 1-2-5 steps, labelled, however narrow the range."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    lo, hi = min(xs) / 1.5, max(xs) * 1.5
    decades = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
    for mantissas in ((1, 2, 5), range(1, 10)):  # 1-2-5, or every integer step for a narrow range (table2)
        ticks = [m * 10.0**e for e in decades for m in mantissas if lo <= m * 10.0**e <= hi]
        if len(ticks) >= 3:
            break
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}G"))


def draw_psnr_vs_flops(rows: list[dict], title: str):
    """PSNR against FLOPs: one marker per learned method with its error bar, the Pareto front of
    the learned methods, and the methods without FLOPs (the non-learned ones) as labelled lines."""
    import matplotlib

    matplotlib.use("Agg")
    import math

    import matplotlib.pyplot as plt

    pts = [r for r in rows if r["flops"]]
    fig, ax = plt.subplots(figsize=(7.4, 4.8))
    kinds = set()
    placed: list[tuple[float, float]] = []  # label anchors so far (log10 x, y), to step around collisions
    ys = [r["psnr"] for r in rows]
    span = (max(ys) - min(ys)) or 1.0
    for r in sorted(pts, key=lambda r: -r["psnr"]):
        nas = r["method"].startswith("NAS")
        x = r["flops"] / 1e9
        err, kind = psnr_error(r)
        kinds.add(kind)
        ax.errorbar(x, r["psnr"], yerr=err, fmt="*" if nas else "o", ms=11 if nas else 6,
                    c="C3" if nas else "C0", zorder=3, capsize=3)
        dy = 3
        while any(abs(math.log10(x) - px) < 0.25 and abs(r["psnr"] + dy / 40 * span / 5 - py) < span / 25
                  for px, py in placed):
            dy -= 11
        placed.append((math.log10(x), r["psnr"] + dy / 40 * span / 5))
        ax.annotate(r["method"], (x, r["psnr"]), textcoords="offset points", xytext=(7, dy), fontsize=8)
    front, best = [], -1e9
    for r in sorted(pts, key=lambda r: r["flops"]):
        if r["psnr"] > best:
            front.append(r)
            best = r["psnr"]
    if len(front) > 1:
        ax.plot([r["flops"] / 1e9 for r in front], [r["psnr"] for r in front], "--", c="0.5", lw=1,
                label="Pareto front (learned methods)")
    for r in rows:
        if not r["flops"]:  # no network: a line across, labelled at the left end (the legend sits right)
            ax.axhline(r["psnr"], ls=":", lw=1, c="0.3")
            ax.text(0.01, r["psnr"], f" {r['method']}", transform=ax.get_yaxis_transform(), fontsize=8,
                    ha="left", va="bottom", c="0.3")
    flops_axis(ax, [r["flops"] / 1e9 for r in pts])
    ax.set_xlabel("FLOPs of the reconstruction network, one 320x320 input (log scale)")
    bars = {"seeds": "std over seeds", "volumes": "standard error over test volumes (one seed)"}
    ax.set_ylabel("PSNR (dB), test split")
    ax.set_title(title + ("\nbars: " + "; ".join(bars[k] for k in sorted(kinds) if k) if kinds - {""} else ""),
                 fontsize=10)
    if len(front) > 1:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def draw_figures(rows: list[dict], out: Path, task, plan, entries: list, which: str = "") -> list[Path]:
    figs = []
    pts = [r for r in rows if r["flops"]]
    if pts:
        figs.append(save_figure(draw_psnr_vs_flops(rows, f"{which}: PSNR against cost (preset {plan.preset})"),
                                out / "psnr_vs_flops.png"))
    fig = task.draw_panel([(e.name, plan.work / e.slug / f"seed{plan.base_seed}" / "recons") for e in entries])
    if fig is not None:
        figs.append(save_figure(fig, out / "recon_panel.png", dpi=110))
    for e in entries:
        d = out / e.slug / f"seed{plan.base_seed}"
        if e.kind == "nas" and not e.search_of:
            figs += [d / f for f in ("cell.png", "alphas.png") if (d / f).is_file()]
    return figs
