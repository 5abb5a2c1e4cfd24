"""Re-score every kept entry of a benchmark table on another test set, without retraining.

A kept entry (``benchmarks/results/<table>/<row>/seed<S>/``) keeps its trained weights (``model.pt``, half
precision), ``config.yaml`` and, for a searched or sampled row, ``genotype.json``: it is a checkpoint that
``nasengine evaluate --checkpoint`` reads. A non-learned row (one of the task's methods) is re-run with the
parameters its kept results say it used (a weight and iterations chosen on validation). Each seed gets
``results-<tag>.json`` beside its ``results.json`` (kept ones count as done: resumable); the table gets
``rescore-<tag>.md``/``.csv``: every row on both test sets, its difference to the task's first method (its
reference, the plainest reconstruction), and the Kendall tau between the two orders of the rows (how well
the kept test set predicts the other).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import write_json, write_text


def keep_weights(run_dir: Path, keep: Path) -> bool:
    """Keep a finished retraining's network in ``keep`` as a checkpoint folder: ``model.pt`` (every float
    tensor in half precision), ``config.yaml``, ``genotype.json`` where there is one. False: nothing to keep."""
    import shutil

    import torch

    from ..files import atomic_write

    if not (run_dir / "model.pt").is_file() or not (run_dir / "config.yaml").is_file():
        return False
    state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    atomic_write(keep / "model.pt", lambda tmp: torch.save(half, tmp))
    for name in ("config.yaml", "genotype.json"):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, keep / name)
    return True


def _kept_seeds(table: Path) -> list[tuple[str, Path]]:
    rows = []
    for row in sorted(p for p in table.iterdir() if p.is_dir()):
        for seed in sorted(row.glob("seed*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else 0):
            if (seed / "results.json").is_file():
                rows.append((row.name, seed))
    return rows


def rescore_seed(seed_dir: Path, data: str, overrides: dict, tag: str, progress: bool = False) -> dict | None:
    """Score one kept seed on ``data``; ``None`` for a learned entry without weights."""
    from ..retrain import load_trained
    from ..task import get_task
    from .options import make_task

    out = seed_dir / f"results-{tag}.json"
    if out.is_file():
        return json.loads(out.read_text())
    kept = json.loads((seed_dir / "results.json").read_text())

    def make(cfg):
        cfg.data.update(overrides)
        cfg.data_path = data
        cfg.seed = int(kept.get("seed", 0))  # the kept evaluation's mask seed: every row sees the same masks
        return make_task(get_task(cfg.task), cfg)

    entry = json.loads((seed_dir / "entry.json").read_text()) if (seed_dir / "entry.json").is_file() else {}
    learned = "checkpoint" in kept or entry.get("key", {}).get("kind") in ("nas", "random", "baseline")
    t0 = time.process_time()
    if (seed_dir / "model.pt").is_file():
        task, model, _ = load_trained(seed_dir, make)
        results = task.evaluate_model(model, progress=progress)
    elif learned:
        return None
    else:
        from ..config import build_config

        method = kept["method"]
        params = kept.get(method) or {}  # a tuned method's kept choice (chosen on validation)
        extra = {f"{method}_lambda": params["lambda"], f"{method}_iters": params["iters"]} if "lambda" in params else {}
        task = make(build_config({"task": kept.get("task", "csmri"), "data": extra}))
        results = task.evaluate_method(method, progress=progress)
    results["cpu_seconds"] = time.process_time() - t0
    write_json(out, results)
    return results


def kendall_tau(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic) if len(a) >= 3 else float("nan")


def rescore_table(table: Path, data: str, overrides: dict, tag: str, progress: bool = False) -> Path:
    """Re-score every kept seed of ``table``; write ``rescore-<tag>.md`` and ``.csv``; return the report."""
    if not table.is_dir():
        raise UserError(f"{table}: no such benchmark table folder (e.g. benchmarks/results/table1)")
    seeds = _kept_seeds(table)
    if not seeds:
        raise UserError(f"{table}: no kept entries (no <row>/seed<S>/results.json)")
    per_row: dict[str, dict[str, list[float]]] = {}
    missing = []
    for i, (row, seed_dir) in enumerate(seeds, 1):
        print(f"[{i}/{len(seeds)}] {row} {seed_dir.name}", flush=True)
        res = rescore_seed(seed_dir, data, overrides, tag, progress)
        if res is None:
            missing.append(f"{row}/{seed_dir.name}")
            continue
        kept = json.loads((seed_dir / "results.json").read_text())
        r = per_row.setdefault(row, {"kept": [], "new": [], "ssim": []})
        r["kept"].append(kept["overall"]["psnr"]["mean"])
        r["new"].append(res["overall"]["psnr"]["mean"])
        r["ssim"].append(res["overall"]["ssim"]["mean"])
    if not per_row:
        raise UserError(f"{table}: no entry could be re-scored (no kept weights: {', '.join(missing[:4])}"
                        f"{' ...' if len(missing) > 4 else ''}); retrain them with the benchmark command")
    from ..task import get_task

    ref_name = get_task(json.loads((seeds[0][1] / "results.json").read_text()).get("task", "csmri")).methods[0]
    ref = ref_name.replace("-", "_")  # the row's folder name
    zf = float(np.mean(per_row[ref]["new"])) if ref in per_row else float("nan")
    names = sorted(per_row, key=lambda n: -np.mean(per_row[n]["new"]))
    lines = [f"# {table.name}: kept entries re-scored on {data} ({tag})", "",
             f"Overrides: {json.dumps(overrides)}. Mean over seeds (± std over seeds where more than one); "
             "'kept' is the table's own test set.", "",
             f"| row | seeds | kept PSNR | PSNR | SSIM | PSNR - {ref_name} |", "|---|---|---|---|---|---|"]
    csv = ["row,seeds,kept_psnr,psnr,psnr_std,ssim,minus_reference"]
    for n in names:
        r = per_row[n]
        m, s = float(np.mean(r["new"])), float(np.std(r["new"], ddof=1)) if len(r["new"]) > 1 else 0.0
        sd = f" ± {s:.2f}" if len(r["new"]) > 1 else ""
        lines.append(f"| {n} | {len(r['new'])} | {np.mean(r['kept']):.2f} | {m:.2f}{sd} | {np.mean(r['ssim']):.4f} | "
                     f"{m - zf:+.2f} |")
        csv.append(f"{n},{len(r['new'])},{np.mean(r['kept']):.4f},{m:.4f},{s:.4f},{np.mean(r['ssim']):.4f},{m - zf:.4f}")
    tau = kendall_tau([float(np.mean(per_row[n]["kept"])) for n in names], [float(np.mean(per_row[n]["new"])) for n in names])
    lines += ["", f"Kendall tau between the rows' order on the kept test set and on this one: {tau:+.2f} "
              f"({len(names)} rows)."]
    below = [n for n in names if np.mean(per_row[n]["new"]) < zf and n != ref]
    if below:
        lines.append(f"Below {ref_name} here: {', '.join(below)}.")
    if missing:
        lines.append(f"Not re-scored (learned, no kept weights): {', '.join(missing)}.")
    write_text(table / f"rescore-{tag}.csv", "\n".join(csv) + "\n")
    return write_text(table / f"rescore-{tag}.md", "\n".join(lines) + "\n")
