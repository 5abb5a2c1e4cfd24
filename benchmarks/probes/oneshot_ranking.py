"""Does the trained supernet rank cells as training them alone does? (issue 10: why the alphas of
the bench search do not settle, and whether weight sharing can tell this space's cells apart.)

DARTS picks a cell from a supernet whose weights every cell shares. That works only if a cell's
loss *inside the trained supernet* orders cells like their PSNR after training each alone. This
takes a finished search (its last checkpoint), and for every kept cell given (a folder with
``genotype.json`` and ``results.json``, e.g. the searched and random cells of the bench
benchmark) puts all of each edge's architecture weight on the cell's op (the zero op on edges the
cell drops: the supernet restricted to the cell, the property tests/engine/test_genotype.py
checks), computes the L1 loss of the search objective on fixed batches of the validation split
(not used by the search), and compares that ranking with the cells' stand-alone test PSNR:
Kendall's tau and Spearman's rho (1: the same order; 0: unrelated).

    python benchmarks/probes/oneshot_ranking.py RUN_DIR CELL_DIR... [--batches 24] [--out FILE.md]

RUN_DIR: a search run directory (``checkpoints/last.ckpt``, ``config.yaml``), e.g.
``runs/benchmark/bench/nas_a_3n/seed1/search``. CELL_DIR: kept folders such as
``benchmarks/results/random/random_1/seed0``. ``search.strategy`` darts or gdas (GDAS runs the one
op whose weight is 1, so a cell costs one path there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nas_engine.config import build_config, load_yaml  # noqa: E402
from nas_engine.genotype import Genotype  # noqa: E402
from nas_engine.oneshot.strategies import restrict_to_genotype  # noqa: E402
from nas_engine.search import build_oneshot  # noqa: E402
from nas_engine.task import get_task, load_task_entry_points  # noqa: E402
from search_spaces import load_space  # noqa: E402

warnings.filterwarnings("ignore")


def supernet_loss(task, model, batches: list) -> float:
    model.train()  # as in the search: the op_norm BatchNorms normalise with the batch's statistics
    with torch.no_grad():
        return float(sum(task.loss(model, b).item() for b in batches) / len(batches))


def main(argv: list[str]) -> None:
    from scipy.stats import kendalltau, spearmanr

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("cells", type=Path, nargs="+")
    p.add_argument("--batches", type=int, default=24, help="validation batches of 4 slices (default 24)")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)

    load_task_entry_points()
    raw = load_yaml(a.run / "config.yaml")  # a search's config also records its space
    cfg = build_config({k: v for k, v in raw.items() if k != "space"})
    if cfg.search.strategy not in ("darts", "gdas"):
        raise SystemExit(f"{a.run}: search.strategy={cfg.search.strategy}; this script reads DARTS and GDAS supernets")
    task = get_task(cfg.task)(cfg.data, data=cfg.data_path, seed=cfg.seed)
    space = load_space(json.loads((a.cells[0] / "genotype.json").read_text())["space"])
    _, oneshot = build_oneshot(task, space, cfg)
    state = torch.load(a.run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    oneshot.load_state_dict(state["state_dict"])
    model = oneshot.training_module.model
    searched = None  # the search's own alphas, put back at the end
    val = task.make_dataset(task.split_files("val"), fixed_masks=True)
    step = max(1, len(val) // (4 * a.batches))  # slices spread over every validation volume
    idx = list(range(0, len(val), step))[: 4 * a.batches]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(val, idx), batch_size=4, shuffle=False)
    batches = list(loader)

    root = Path(os.path.commonpath([d.resolve() for d in a.cells])) if len(a.cells) > 1 else a.cells[0].resolve().parent
    rows = []
    for d in a.cells:
        g = Genotype.load(d / "genotype.json")
        res = json.loads((d / "results.json").read_text())
        before = restrict_to_genotype(model, g)
        searched = searched or before
        rows.append({"cell": str(d.resolve().relative_to(root)), "psnr": res["overall"]["psnr"]["mean"],
                     "loss": supernet_loss(task, model, batches),
                     "ops": ", ".join(e.op.replace("_conv_3x3", "").replace("_connect", "")
                                      for edges in g.cell for e in edges)})
        print(f"{rows[-1]['cell']}: supernet L1 {rows[-1]['loss']:.5f}, stand-alone {rows[-1]['psnr']:.2f} dB",
              flush=True)
    restrict_to_genotype(model, None, searched)
    mixed = supernet_loss(task, model, batches)

    psnr = [r["psnr"] for r in rows]
    loss = [-r["loss"] for r in rows]  # lower loss should mean higher PSNR
    tau, p_tau = kendalltau(loss, psnr)
    rho, p_rho = spearmanr(loss, psnr)
    by_loss = sorted(rows, key=lambda r: r["loss"])
    lines = [f"# One-shot ranking: supernet `{a.run}` against stand-alone training", "",
             f"Made by `python benchmarks/probes/oneshot_ranking.py {' '.join(map(str, argv))}`. Supernet L1 on "
             f"{len(idx)} validation slices (fixed masks), with the architecture weights one-hot on each cell; "
             "stand-alone: test PSNR after retraining the cell alone (its `results.json`).", "",
             "| cell | ops | supernet L1 | rank by supernet | stand-alone PSNR | rank by PSNR |", "|---|---|---|---|---|---|"]
    rank_psnr = {r["cell"]: k for k, r in enumerate(sorted(rows, key=lambda r: -r["psnr"]), 1)}
    for k, r in enumerate(by_loss, 1):
        lines.append(f"| {r['cell']} | {r['ops']} | {r['loss']:.5f} | {k} | {r['psnr']:.2f} | {rank_psnr[r['cell']]} |")
    lines += ["", f"The supernet with its searched (mixed) alphas: L1 {mixed:.5f}.", "",
              f"Kendall's tau {tau:+.2f} (p {p_tau:.2f}), Spearman's rho {rho:+.2f} (p {p_rho:.2f}) over "
              f"{len(rows)} cells; the supernet's best cell is {by_loss[0]['cell']} "
              f"(stand-alone rank {rank_psnr[by_loss[0]['cell']]} of {len(rows)})."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
