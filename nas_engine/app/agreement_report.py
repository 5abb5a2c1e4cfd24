"""``benchmarks/strategy_agreement.py``'s report: how much the cells that each search strategy derives
agree with darts' cell of the same seed, with darts' own cells across seeds, and with chance."""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path

from ..files import write_json, write_text
from ..genotype import Genotype
from .report import agreement, chance_agreement, short_cell, short_op


def _mean(xs) -> str:
    return "/".join(f"{sum(x) / len(xs):.1f}" for x in zip(*xs)) if xs else "-"


def write_agreement_report(out: Path, preset: str, seeds: list[int], strategies, draws: int = 2000) -> None:
    """``report.md`` and ``agreement.json`` in ``out`` from the cells kept under ``out/<strategy>/seed<S>/``
    (``genotype.json``, ``seconds.json``): per seed, what each strategy's cell shares with darts' (edges,
    wiring, op counts), darts with itself across seeds, a random cell's chance level, the op counts."""
    cells = {(st, s): Genotype.load(out / st / f"seed{s}" / "genotype.json")
             for st in strategies for s in seeds if (out / st / f"seed{s}" / "genotype.json").is_file()}
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
        for st in strategies:
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
                       if (st, x) in cells and (st, y) in cells] for st in strategies}
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
        for st in strategies:
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
