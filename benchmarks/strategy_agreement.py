"""Do the search strategies agree? Each ``search.strategy`` (darts, gdas, pcdarts, proxyless) searches
space A (3 nodes) at one preset over several seeds; the report counts, per seed, what each cell shares
with darts' cell of the same seed (edges, wiring, op counts: ``nas_engine.app.report.agreement``), next
to what a uniformly random cell shares by chance and to what darts shares with itself across seeds.

This is the search half of ``nasengine benchmark strategies`` (which also retrains every cell and pairs
them) at a preset where 12 searches fit in an hour: the demo preset, the one ``make demo`` searches.

    python benchmarks/strategy_agreement.py [--preset demo] [--seeds 3] [--out DIR]

Resumable: a search whose genotype is kept in ``--out`` is skipped, an unfinished one resumes from its
checkpoint in ``runs/strategy_agreement``. Writes ``report.md`` and ``agreement.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas_engine.app.cli import main as cli  # noqa: E402
from nas_engine.app.report import agreement, chance_agreement, short_cell, short_op  # noqa: E402
from nas_engine.app.tables import STRATEGY_ROWS  # noqa: E402
from nas_engine.files import write_json, write_text  # noqa: E402
from nas_engine.genotype import Genotype  # noqa: E402

STRATEGIES = ("darts", *(name for name, _ in STRATEGY_ROWS))  # those of `benchmark strategies`; darts first


def search(strategy: str, seed: int, preset: str, out: Path, work: Path) -> None:
    keep = out / strategy / f"seed{seed}"
    if (keep / "genotype.json").is_file():
        print(f"[{strategy} seed {seed}] kept already", flush=True)
        return
    run = work / preset / strategy / f"seed{seed}"
    print(f"[{strategy} seed {seed}] searching in {run}", flush=True)
    t0 = time.time()
    rc = cli(["search", "--space", "A", "--config", preset, "--seed", str(seed), "--set", f"search.strategy={strategy}",
              "--out", str(run), "--no-progress", *(["--resume"] if (run / "config.yaml").is_file() else [])])
    if rc != 0:
        raise SystemExit(f"[{strategy} seed {seed}] search failed ({rc})")
    keep.mkdir(parents=True, exist_ok=True)
    for f in ("search_history.json", "config.yaml"):
        if (run / f).is_file():
            shutil.copy(run / f, keep / f)
    write_json(keep / "seconds.json", {"seconds": round(time.time() - t0, 1)})
    shutil.copy(run / "genotype.json", keep / "genotype.json")  # last: its presence marks the search done


def _mean(xs) -> str:
    return "/".join(f"{sum(x) / len(xs):.1f}" for x in zip(*xs)) if xs else "-"


def report(out: Path, preset: str, seeds: list[int], draws: int = 2000) -> None:
    cells = {(st, s): Genotype.load(out / st / f"seed{s}" / "genotype.json")
             for st in STRATEGIES for s in seeds if (out / st / f"seed{s}" / "genotype.json").is_file()}
    secs = {k: json.loads((out / k[0] / f"seed{k[1]}" / "seconds.json").read_text())["seconds"] for k in cells}
    some = next(iter(cells.values()), None)
    n_edges = sum(len(node) for node in some.cell) if some else 0
    lines = [f"# Search strategies: agreement over seeds ({preset} preset)", "",
             f"Made by `python benchmarks/strategy_agreement.py --preset {preset} --seeds {len(seeds)}`: space A, "
             f"{some.nodes if some else '?'} nodes, each `search.strategy` with the preset's search settings, seeds "
             f"{', '.join(map(str, seeds))} (the seed sets the weights, data order and masks). Per seed, what each "
             "strategy's cell shares with darts' cell of the same seed, of "
             f"{n_edges} edges: edges (node, input, op), "
             "wiring (node, input, whatever the op) and op counts. Cells: `input:op` per edge, nodes separated by "
             "`|`; inputs 0 and 1 are the cell's inputs. Search time: wall clock on this machine.", "",
             "| strategy | seed | edges | wiring | op counts | search time | cell |", "|---|---|---|---|---|---|---|"]
    vs_darts: dict[str, list] = {}
    for s in seeds:
        a = cells.get(("darts", s))
        for st in STRATEGIES:
            b = cells.get((st, s))
            if b is None:
                continue
            got = agreement(a, b) if a is not None else None
            if got is not None and st != "darts":
                vs_darts.setdefault(st, []).append(got)
            shown = " | ".join(map(str, got)) if got and st != "darts" else "- | - | -"
            lines.append(f"| {st} | {s} | {shown} | {secs[(st, s)] / 60:.1f} min | {short_cell(b)} |")
    darts_cells = [cells[("darts", s)] for s in seeds if ("darts", s) in cells]
    chance = chance_agreement(darts_cells, draws)
    self_agree = {st: [agreement(cells[(st, x)], cells[(st, y)]) for x, y in combinations(seeds, 2)
                       if (st, x) in cells and (st, y) in cells] for st in STRATEGIES}
    lines += ["", f"Mean (edges / wiring / op counts shared, of {n_edges}):", "",
              "| cells compared | pairs | edges / wiring / op counts |", "|---|---|---|"]
    lines += [f"| {st} vs darts, same seed | {len(v)} | {_mean(v)} |" for st, v in vs_darts.items()]
    lines += [f"| {st} vs {st}, two seeds | {len(v)} | {_mean(v)} |" for st, v in self_agree.items() if v]
    lines += [f"| a uniformly random cell vs darts (chance) | {len(chance)} | {_mean(chance)} |", ""]
    if darts_cells:
        choices = Genotype.random_choices(darts_cells[0].space, darts_cells[0].ops)
        lines += [f"Op counts over all seeds' cells ({n_edges} edges a cell):", "",
                  "| strategy | cells | " + " | ".join(map(short_op, choices)) + " | mean search time |",
                  "|---|---|" + "---|" * len(choices) + "---|"]
        for st in STRATEGIES:
            done = [s for s in seeds if (st, s) in cells]
            if done:
                ops = Counter(e.op for s in done for node in cells[(st, s)].cell for e in node)
                t = sum(secs[(st, s)] for s in done) / len(done)
                lines.append(f"| {st} | {len(done)} | " + " | ".join(str(ops[c]) for c in choices)
                             + f" | {t / 60:.1f} min |")
        lines.append("")
    write_text(out / "report.md", "\n".join(lines) + "\n")
    write_json(out / "agreement.json", {
        "preset": preset, "seeds": seeds,
        "cells": {f"{st}/seed{s}": g.to_dict() for (st, s), g in cells.items()},
        "seconds": {f"{st}/seed{s}": v for (st, s), v in secs.items()},
        "vs_darts": vs_darts, "self": self_agree,
        "chance_mean": [sum(x) / len(chance) for x in zip(*chance)] if chance else None})
    print(f"wrote {out / 'report.md'}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="default benchmarks/results/strategy_agreement/PRESET")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "strategy_agreement")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the kept searches")
    args = ap.parse_args()
    out = args.out or ROOT / "benchmarks" / "results" / "strategy_agreement" / args.preset
    seeds = list(range(args.seeds))
    if not args.report_only:
        for s in seeds:  # seed by seed: each seed's comparison is complete before the next seed starts
            for st in STRATEGIES:
                search(st, s, args.preset, out, args.work)
                report(out, args.preset, seeds)
    report(out, args.preset, seeds)


if __name__ == "__main__":
    main()
