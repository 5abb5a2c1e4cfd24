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
    """Score one kept seed on ``data``; ``None`` for a learned entry without weights. With several
    ``accelerations`` in ``overrides``, each is scored on every slice, and the overall numbers are their mean."""
    from ..task import get_task
    from .options import make_task

    out = seed_dir / f"results-{tag}.json"
    if out.is_file():
        return json.loads(out.read_text())
    kept = json.loads((seed_dir / "results.json").read_text())

    def make(cfg):
        cfg.data_path = data
        cfg.seed = int(kept.get("seed", 0))  # the kept evaluation's mask seed: every row sees the same masks
        return make_task(get_task(cfg.task), cfg)

    entry = json.loads((seed_dir / "entry.json").read_text()) if (seed_dir / "entry.json").is_file() else {}
    learned = "checkpoint" in kept or entry.get("key", {}).get("kind") in ("nas", "random", "baseline")
    if learned and not (seed_dir / "model.pt").is_file():
        return None
    t0 = time.process_time()
    accs = list(overrides.get("accelerations") or [])
    if len(accs) > 1:  # each acceleration on every slice (a small set: not one acceleration drawn per slice)
        parts = {a: _score(seed_dir, kept, {**overrides, "accelerations": [a]}, make, progress) for a in accs}
        results = {**parts[accs[0]], "accelerations": accs,
                   "overall": {m: {"mean": float(np.mean([p["overall"][m]["mean"] for p in parts.values()]))}
                               for m in parts[accs[0]]["overall"] if m != "n_volumes"},
                   "by_acceleration": {f"{a:g}": p["overall"] for a, p in parts.items()},
                   "per_volume": [dict(v, acceleration=a) for a, p in parts.items() for v in p.get("per_volume", [])]}
    else:
        results = _score(seed_dir, kept, overrides, make, progress)
    results["cpu_seconds"] = time.process_time() - t0
    write_json(out, results)
    return results


def _score(seed_dir: Path, kept: dict, overrides: dict, make, progress: bool) -> dict:
    """One evaluation of a kept seed on the task ``make`` builds with ``overrides``: its weights, or the
    non-learned method it ran with the parameters it kept."""
    from ..retrain import load_trained

    def made(cfg):
        cfg.data.update(overrides)
        return make(cfg)

    if (seed_dir / "model.pt").is_file():
        task, model, _ = load_trained(seed_dir, made)
        return task.evaluate_model(model, progress=progress)
    from ..config import build_config

    method = kept["method"]
    params = kept.get(method) or {}  # a tuned method's kept choice (chosen on validation)
    extra = {f"{method}_lambda": params["lambda"], f"{method}_iters": params["iters"]} if "lambda" in params else {}
    return made(build_config({"task": kept.get("task", "csmri"), "data": extra})).evaluate_method(method, progress=progress)


def kendall_tau(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic) if len(a) >= 3 else float("nan")


def rescore_table(table: Path, data: str, overrides: dict, tag: str, progress: bool = False) -> Path:
    """Re-score every kept seed of ``table``; write ``rescore-<tag>.md`` and ``.csv``, splice the table into
    the table's ``report.md`` (:func:`rescore_sections`); return the rescore report."""
    if not table.is_dir():
        raise UserError(f"{table}: no such benchmark table folder (e.g. benchmarks/results/table1)")
    seeds = _kept_seeds(table)
    if not seeds:
        raise UserError(f"{table}: no kept entries (no <row>/seed<S>/results.json)")
    per_row: dict[str, dict] = {}
    missing = []
    for i, (row, seed_dir) in enumerate(seeds, 1):
        print(f"[{i}/{len(seeds)}] {row} {seed_dir.name}", flush=True)
        res = rescore_seed(seed_dir, data, overrides, tag, progress)
        if res is None:
            missing.append(f"{row}/{seed_dir.name}")
            continue
        kept = json.loads((seed_dir / "results.json").read_text())
        entry = json.loads((seed_dir / "entry.json").read_text()) if (seed_dir / "entry.json").is_file() else {}
        r = per_row.setdefault(row, {"kept": [], "new": [], "ssim": [], "acc": {}, "kind": entry.get("key", {}).get("kind")})
        r["kept"].append(kept["overall"]["psnr"]["mean"])
        r["new"].append(res["overall"]["psnr"]["mean"])
        r["ssim"].append(res["overall"]["ssim"]["mean"])
        for acc, v in res.get("by_acceleration", {}).items():
            r["acc"].setdefault(acc, []).append(v["psnr"]["mean"])
        for v in res.get("per_volume", []):  # a small set: each file at each acceleration
            key = (v["file"], f"{v['acceleration']:g}" if "acceleration" in v else "")
            r.setdefault("files", {}).setdefault(key, []).append(v["psnr"])
    if not per_row:
        raise UserError(f"{table}: no entry could be re-scored (no kept weights: {', '.join(missing[:4])}"
                        f"{' ...' if len(missing) > 4 else ''}); retrain them with the benchmark command "
                        "and --restore-weights")
    from ..task import get_task

    ref_name = get_task(json.loads((seeds[0][1] / "results.json").read_text()).get("task", "csmri")).methods[0]
    ref = ref_name.replace("-", "_")  # the row's folder name
    accs = sorted({a for r in per_row.values() for a in r["acc"]}, key=lambda a: float(a))

    def mean(x: list[float]) -> float:
        return float(np.mean(x)) if x else float("nan")

    zf = mean(per_row[ref]["new"]) if ref in per_row else float("nan")
    zf_acc = {a: mean(per_row[ref]["acc"].get(a, [])) if ref in per_row else float("nan") for a in accs}
    names = sorted(per_row, key=lambda n: -mean(per_row[n]["new"]))
    has_ref = ref in per_row  # a table without the reference row (random cells): no difference columns
    head = ["row", "seeds", "kept PSNR", "PSNR", "SSIM"] + [f"PSNR {a}x" for a in accs] \
        + ([f"PSNR - {ref_name}"] + [f"{a}x - {ref_name}" for a in accs] if has_ref else [])
    lines = [f"# {table.name}: kept entries re-scored on {data} ({tag})", "",
             f"Made by `nasengine benchmark rescore {table.as_posix()} --data DATA --tag {tag}` with {json.dumps(overrides)}. "
             "Mean over the seeds that keep weights (± std over seeds where more than one); 'kept PSNR' is the "
             "same seeds on the table's own test set.", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    csv = [",".join(["row", "seeds", "kept_psnr", "psnr", "psnr_std", "ssim"] + [f"psnr_{a}x" for a in accs]
                    + ["minus_reference"] + [f"minus_reference_{a}x" for a in accs])]
    for n in names:
        r = per_row[n]
        m, sd = mean(r["new"]), float(np.std(r["new"], ddof=1)) if len(r["new"]) > 1 else 0.0
        pm = f" ± {sd:.2f}" if len(r["new"]) > 1 else ""
        per = [mean(r["acc"].get(a, [])) for a in accs]
        diffs = [f"{m - zf:+.2f}"] + [f"{v - zf_acc[a]:+.2f}" for v, a in zip(per, accs)] if has_ref else []
        lines.append("| " + " | ".join([n, str(len(r["new"])), f"{mean(r['kept']):.2f}", f"{m:.2f}{pm}",
                                        f"{mean(r['ssim']):.4f}"] + [f"{v:.2f}" for v in per] + diffs) + " |")
        csv.append(",".join([n, str(len(r["new"])), f"{mean(r['kept']):.4f}", f"{m:.4f}", f"{sd:.4f}",
                             f"{mean(r['ssim']):.4f}"] + [f"{v:.4f}" for v in per] + [f"{m - zf:.4f}"]
                            + [f"{v - zf_acc[a]:.4f}" for v, a in zip(per, accs)]))
    lines += per_file_lines(per_row, names, ref, mean)
    lines += [""] + tau_lines(per_row, names, mean)
    for a in accs:
        below = [n for n in names if n != ref and mean(per_row[n]["acc"].get(a, [])) < zf_acc[a]]
        if below:
            lines.append(f"Below {ref_name} at {a}x here: {', '.join(below)}.")
    if missing:
        lines.append(f"Not re-scored (learned, no kept weights): {', '.join(missing)}.")
    write_text(table / f"rescore-{tag}.csv", "\n".join(csv) + "\n")
    out = write_text(table / f"rescore-{tag}.md", "\n".join(lines) + "\n")
    splice_report(table)
    return out


def per_file_lines(per_row: dict, names: list[str], ref: str, mean, most: int = 8) -> list[str]:
    """A small test set (at most ``most`` file x acceleration columns): PSNR per file and acceleration, each
    with its difference to the reference row (the mean over files weighs a one-slice file like a volume)."""
    keys = sorted({k for n in names for k in per_row[n].get("files", {})}, key=lambda k: (k[1], k[0]))
    if not keys or len(keys) > most:
        return []
    refs = {k: mean(per_row[ref]["files"].get(k, [])) if ref in per_row else float("nan") for k in keys}
    head = ["row"] + [f"{Path(f).stem} {a}x" if a else Path(f).stem for f, a in keys]
    lines = ["", "Per file (PSNR, and its difference to the reference row where there is one):", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for n in names:
        cells = []
        for k in keys:
            v = mean(per_row[n].get("files", {}).get(k, []))
            cells.append(f"{v:.2f}" + (f" ({v - refs[k]:+.2f})" if np.isfinite(refs[k]) and n != ref else ""))
        lines.append("| " + " | ".join([n] + cells) + " |")
    return lines


def tau_lines(per_row: dict, names: list[str], mean) -> list[str]:
    """Kendall tau between the rows' order on the kept test set and on the new one: over every row, and
    over the sampled architectures alone (rows of kind ``random``) where there are at least three."""
    if len(names) < 3:
        return [f"Kendall tau between the order on the kept test set and on this one: needs three rows or more "
                f"({len(names)} here)."]
    out = []
    groups = [("every row", names), ("the sampled architectures", [n for n in names if per_row[n]["kind"] == "random"])]
    for what, rows in groups:
        if len(rows) < 3 or (what != "every row" and len(rows) == len(names)):
            continue
        tau = kendall_tau([mean(per_row[n]["kept"]) for n in rows], [mean(per_row[n]["new"]) for n in rows])
        out.append(f"Kendall tau between the order on the kept test set and on this one, {what}: {tau:+.2f} "
                   f"({len(rows)} rows).")
    return out


RESCORE_HEADING = "## Re-scored on other test sets"


def rescore_sections(table: Path) -> list[str]:
    """The lines a table's ``report.md`` ends with: every ``rescore-<tag>.md`` of the table, under one
    heading (nothing when there is none). The table's own report writer adds them too, so a rebuilt
    report keeps them."""
    files = sorted(table.glob("rescore-*.md"))
    if not files:
        return []
    lines = [RESCORE_HEADING, ""]
    for f in files:
        body = f.read_text().splitlines()
        title = body[0].lstrip("# ").split(": ", 1)[-1] if body else f.stem
        lines += [f"### {title}", ""] + body[1:] + [""]
    return lines


def write_report_md(table: Path, lines: list[str]) -> Path:
    """A benchmark's ``report.md``: its own ``lines``, then benchmark rescore's tables (:func:`rescore_sections`),
    so that a rebuilt report keeps them."""
    extra = rescore_sections(table)
    return write_text(table / "report.md", "\n".join(lines + ([""] + extra if extra else [])) + "\n")


def splice_report(table: Path) -> None:
    """Replace the rescore section at the end of ``table/report.md`` (if the table has a report)."""
    report = table / "report.md"
    if not report.is_file():
        return
    text = report.read_text()
    head = text.split("\n" + RESCORE_HEADING + "\n", 1)[0].rstrip("\n")
    write_text(report, "\n".join([head, ""] + rescore_sections(table)).rstrip("\n") + "\n")
