"""``nasengine benchmark pool``: a space benchmark's samples as a tabular pool (``pool.json``) and its report
(``pool.md``): every ranker against the trivial ones, and random search simulated at every budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import write_text
from ..pool import Pool, rank_quality, simulate_random_search


def supernet_rankers(folder: Path) -> dict[str, list[dict[str, float]]]:
    """The supernet scores ``benchmarks/probes/finetune_ranking.py`` kept (``finetune_ranking.json``): per
    "start K" key, one ``{architecture: score}`` per supernet seed (the negated loss: higher is better).
    Names are the rows' folder names (``c_sample_3``)."""
    f = folder / "finetune_ranking.json"
    if not f.is_file():
        return {}
    out: dict[str, list[dict[str, float]]] = {}
    for net in json.loads(f.read_text()).get("supernets", []):
        for key, scores in net.get("scores", {}).items():
            init, k = key.split()
            label = f"SPOS supernet + {k} fine-tune steps" if init == "supernet" else f"{k} steps from scratch"
            out.setdefault(label, []).append({n: -v for n, v in scores.items()})
    return out


def _folder_names(pool: Pool) -> dict[str, str]:
    """Row folder name (c_sample_3) -> architecture name (C-sample-3)."""
    return {n.lower().replace("-", "_"): n for n in pool.names}


def ranker_rows(pool: Pool, folder: Path, splits: list[str]) -> list[dict]:
    """One row per ranker: its quality against each split (mean over supernet seeds where it has several)."""
    target = {s: {n: pool.value(n, s) for n in pool.names} for s in splits}
    rankers: dict[str, list[dict[str, float]]] = {k: [v] for k, v in pool.trivial_scores().items()}
    epochs = sorted({c["epoch"] for a in pool.archs.values() for s in a.seeds.values() for c in (s.get("curve") or [])})
    for e in epochs[:2]:  # early training: validation PSNR after 1 and 2 epochs, where the curves are kept
        scores = {n: pool.at_epoch(n, e) for n in pool.names}
        scores = {n: v for n, v in scores.items() if np.isfinite(v)}
        if len(scores) >= 3:
            rankers[f"validation after {e} epoch(s)"] = [scores]
    rename = _folder_names(pool)
    for label, nets in supernet_rankers(folder).items():
        rankers[label] = [{rename.get(n, n): v for n, v in net.items()} for net in nets]
    rows = []
    for label, nets in rankers.items():
        row = {"ranker": label, "seeds": len(nets)}
        for s in splits:
            q = [rank_quality(net, target[s]) for net in nets]
            q = [x for x in q if x["n"] >= 3]
            if q:
                row[s] = {"tau": float(np.mean([x["tau"] for x in q])), "rho": float(np.mean([x["rho"] for x in q])),
                          "precision": float(np.mean([x["top_hits"] / x["top_k"] for x in q])),
                          "n": int(np.mean([x["n"] for x in q]))}
        rows.append(row)
    return rows


def searched_rows(folder: Path) -> list[dict]:
    """The searched rows (``nas_*``) kept in a space benchmark folder: mean test PSNR and mean cost over seeds
    (every step but the evaluation: search and retraining; process CPU time where kept, else wall clock)."""
    out = []
    for d in sorted(folder.glob("nas_*")):
        tests, costs, kinds = [], [], set()
        for s in sorted(d.glob("seed*")):
            res, entry = s / "results.json", s / "entry.json"
            if not res.is_file() or not entry.is_file():
                continue
            e = json.loads(entry.read_text())
            cpu = e.get("cpu_seconds")
            src, kind = (cpu, "cpu") if cpu else (e.get("seconds") or {}, "wall")
            tests.append(json.loads(res.read_text())["overall"]["psnr"]["mean"])
            costs.append(sum(v for k, v in src.items() if k != "evaluate"))
            kinds.add(kind)
        if tests:
            name = json.loads((d / sorted(p.name for p in d.glob("seed*"))[0] / "entry.json").read_text())["key"]["entry"]
            out.append({"name": name, "seeds": len(tests), "test": float(np.mean(tests)), "cost_s": float(np.mean(costs)),
                        "cost_kind": "cpu" if kinds == {"cpu"} else "wall"})
    return out


def write_pool_report(folder: Path, draws: int = 1000) -> Path:
    pool = Pool.from_results(folder)
    pool.save(folder / "pool.json")
    others = sorted({k for a in pool.archs.values() for s in a.seeds.values() for k in s["other"]})
    splits = ["val", "test"] + others
    rows = ranker_rows(pool, folder, splits)
    n_seeds = sum(len(a.seeds) for a in pool.archs.values())
    kind = pool.cost_kind()
    unit = {"cpu": "process CPU seconds", "wall": "wall-clock seconds (CPU time not kept for these trainings)",
            "mixed": "seconds: CPU time where kept, wall clock elsewhere"}[kind]
    lines = [f"# Space {pool.space}: the sampled architectures as a tabular pool", "",
             f"Made by `nasengine benchmark pool {folder.as_posix()}` from the kept sampled rows: {len(pool)} "
             f"architectures, {n_seeds} trainings. `pool.json` (format in `nas_engine/pool.py`) holds each "
             "architecture's genotype, FLOPs, parameters, latency and, per seed, its validation and test metrics, "
             "its learning curve where kept, its scores on other test sets (benchmark rescore) and its training "
             f"cost ({unit}); `nas_engine.pool.Pool` queries it.", "",
             "## Rankers", "",
             "Each ranker orders the architectures; Kendall tau, and the top-10% precision (the share of the "
             "true top 10%, at least one, that the ranker puts in its own top 10%) against the mean validation "
             "PSNR (what a choice may look at) and against the test PSNR (reported only). Trivial rankers need "
             "no training; the supernet rows average over their supernet seeds.", ""]
    head = ["ranker", "seeds", "architectures"] + [f"tau {s}" for s in splits] + [f"top-10% {s}" for s in splits[:2]]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [r["ranker"], str(r["seeds"]), str(r["val"]["n"]) if "val" in r else "-"] \
            + [f"{r[s]['tau']:+.2f}" if s in r else "-" for s in splits] + [f"{r[s]['precision'] * 100:.0f}%" if s in r else "-" for s in splits[:2]]
        lines.append("| " + " | ".join(cells) + " |")
    trivial = [r for r in rows if r["ranker"] in pool.trivial_scores() and "val" in r]
    learned = [r for r in rows if r not in trivial and "val" in r]
    if trivial:
        best_t = max(trivial, key=lambda r: r["val"]["tau"])
        lines += ["", f"Best trivial ranker on validation: {best_t['ranker']} (tau {best_t['val']['tau']:+.2f})."]
        for r in learned:
            verdict = "better than" if r["val"]["tau"] > best_t["val"]["tau"] + 0.05 else \
                "no better than" if r["val"]["tau"] >= best_t["val"]["tau"] - 0.05 else "worse than"
            lines.append(f"- {r['ranker']}: tau {r['val']['tau']:+.2f} on validation, {verdict} {best_t['ranker']}.")
    # random search against the trivial pick, at budgets of k trainings
    mean_cost = float(np.mean([pool.cost(n) for n in pool.names]))
    budgets = [k * mean_cost for k in (1, 2, 3, 5, 10, len(pool))]
    sim = simulate_random_search(pool, budgets, draws=draws)
    best_test = max(pool.value(n, "test") for n in pool.names)
    lines += ["", "## Random search on the pool", "",
              f"Random search simulated {draws} times per budget (architectures in a random order, trained while the "
              "budget lasts, the best by validation PSNR picked), its pick's test PSNR; the budget in trainings of "
              f"the pool's mean cost ({mean_cost / 60:.1f} min, {unit}). Best test PSNR in the pool: {best_test:.2f}.", "",
              "| budget (trainings) | median test PSNR of the pick | 10%-90% | picks nothing |", "|---|---|---|---|"]
    for k, b in zip((1, 2, 3, 5, 10, len(pool)), budgets):
        v = np.array(sim[b])
        ok = v[np.isfinite(v)]
        lines.append(f"| {k} | {np.median(ok):.2f} | {np.percentile(ok, 10):.2f} to {np.percentile(ok, 90):.2f} | "
                     f"{np.mean(~np.isfinite(v)) * 100:.0f}% |" if len(ok) else f"| {k} | - | - | 100% |")
    searched = searched_rows(folder)
    if searched:
        lines += ["", "Searched rows of the same folder at their own cost (search + retraining, mean over their seeds), "
                  "against random search given that budget (the samples' costs are of one training each). A row that "
                  "chose in another row's supernet (its report says which) counts its own choosing and retraining "
                  "only, not that supernet's training; a row under a FLOPs limit is compared with unlimited random "
                  "search:", "",
                  "| row | seeds | test PSNR | cost (trainings) | random search at that cost: median | share of random "
                  "searches it beats |", "|---|---|---|---|---|---|"]
        sim_s = simulate_random_search(pool, [r["cost_s"] for r in searched], draws=draws)
        for r in searched:
            v = np.array(sim_s[r["cost_s"]])
            ok = v[np.isfinite(v)]
            beats = float(np.mean(np.where(np.isfinite(v), r["test"] > v, True)))
            lines.append(f"| {r['name']} | {r['seeds']} | {r['test']:.2f} | {r['cost_s'] / mean_cost:.1f} | "
                         f"{np.median(ok) if len(ok) else float('nan'):.2f} | {beats * 100:.0f}% |")
        kinds = {r["cost_kind"] for r in searched}
        if kinds != {"cpu"} or kind != "cpu":
            lines += ["", "Costs here are partly wall clock (the last call of a resumed run on a shared machine), "
                      "not process CPU time: a comparison to redo with trainings that keep their CPU time."]
    if "FLOPs" in pool.trivial_scores():
        big = max(pool.names, key=lambda n: pool[n].flops or 0)
        lines += ["", f"The largest-FLOPs architecture ({big}, {pool[big].flops / 1e9:.2f} GFLOPs), one training: test "
                  f"PSNR {pool.value(big, 'test'):.2f}."]
    for s in others:
        q = rank_quality({n: pool.value(n, "test") for n in pool.names}, {n: pool.value(n, s) for n in pool.names})
        if q["n"] >= 3:
            lines += ["", f"Synthetic test vs `{s}`: Kendall tau {q['tau']:+.2f} over {q['n']} architectures."]
    return write_text(folder / "pool.md", "\n".join(lines) + "\n")
