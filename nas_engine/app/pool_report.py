"""``nasengine benchmark pool``: a space benchmark's samples as a tabular pool (``pool.json``) and its report
(``pool.md``): every ranker against the trivial ones, and random search simulated at every budget."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..files import read_json, write_json, write_text
from ..pool import PROXIES_FILE, Pool, rank_quality, simulate_halving, simulate_random_search, simulate_ranked_search

PROXY_BATCHES = 4


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


def measure_proxies(folder: Path, pool: Pool, progress: bool = True, log=print) -> int:
    """The zero-cost proxies (:mod:`nas_engine.proxies`) of every architecture of ``pool``, kept in the
    folder's ``proxies.json`` and into ``pool``: each built as its rows were retrained (the config its
    ``entry.json`` keeps), freshly initialised, on the same :data:`PROXY_BATCHES` training batches. Kept scores
    of the same genotype and settings are not measured again (an interrupted run resumes). Returns how many
    were measured now; 0 with one line when the rows keep no config to build them from."""
    from tqdm import tqdm

    from ..config import build_config
    from ..genotype import Genotype
    from ..proxies import PROXIES, proxy_batches, score_proxies
    from ..task import get_task
    from .options import make_task

    first = next((s for row in _folder_names(pool) for s in sorted((folder / row).glob("seed*"))
                  if (s / "entry.json").is_file()), None)
    key = ((read_json(first / "entry.json") or {}).get("key") or {}) if first else {}
    if not isinstance(key.get("config"), dict):
        log("zero-cost proxies: not measured (the rows' entry.json keep no config to build the networks from)")
        return 0
    settings = {"proxies": list(PROXIES), "batches": PROXY_BATCHES, "seed": 0,
                "config": hashlib.sha256(json.dumps(key["config"], sort_keys=True).encode()).hexdigest()[:16]}
    kept = read_json(folder / PROXIES_FILE) or {}
    archs = dict(kept.get("architectures") or {}) if kept.get("settings") == settings else {}
    todo = [n for n in pool.names if (archs.get(n) or {}).get("genotype") != pool[n].genotype]
    if todo:
        cfg = build_config(key["config"])
        task = make_task(get_task(cfg.task), cfg)
        batches = proxy_batches(task, cfg, PROXY_BATCHES, seed=0)
        for n in tqdm(todo, desc="zero-cost proxies", disable=not progress, leave=False):
            archs[n] = {"genotype": pool[n].genotype,
                        "scores": score_proxies(task, cfg, Genotype.from_dict(pool[n].genotype), batches)}
            write_json(folder / PROXIES_FILE, {"format": "nasengine-proxies/1", "settings": settings,
                                               "architectures": archs})
    for n in pool.names:
        pool[n].proxies = dict(archs[n]["scores"])
    return len(todo)


def _folder_names(pool: Pool) -> dict[str, str]:
    """Row folder name (c_sample_3) -> architecture name (C-sample-3)."""
    return {n.lower().replace("-", "_"): n for n in pool.names}


def ranker_rows(pool: Pool, folder: Path, splits: list[str]) -> list[dict]:
    """One row per ranker: its quality against each split (mean over supernet seeds where it has several) and
    what it costs per architecture (CPU seconds; None where the pool does not know)."""
    target = {s: {n: pool.value(n, s) for n in pool.names} for s in splits}
    rankers: dict[str, list[dict[str, float]]] = {k: [v] for k, v in pool.trivial_scores().items()}
    kinds = {k: "trivial" for k in rankers}
    cost: dict[str, float | None] = {k: 0.0 for k in rankers}
    for k, v in pool.proxy_scores().items():
        label = f"zero-cost: {k}"
        rankers[label], kinds[label] = [v], "zero-cost"
        cost[label] = float(np.mean([pool[n].proxies.get("cpu_s", np.nan) for n in v]))
    epochs = sorted({c["epoch"] for a in pool.archs.values() for s in a.seeds.values() for c in (s.get("curve") or [])})
    for e in epochs[:2]:  # early training: validation PSNR after 1 and 2 epochs, where the curves are kept
        scores = {n: pool.at_epoch(n, e) for n in pool.names}
        scores = {n: v for n, v in scores.items() if np.isfinite(v)}
        if len(scores) >= 3:
            label = f"validation after {e} epoch(s)"
            rankers[label], kinds[label] = [scores], "early training"
            cost[label] = float(np.mean([pool.cost(n) * e / len(epochs) for n in scores]))
    rename = _folder_names(pool)
    for label, nets in supernet_rankers(folder).items():
        rankers[label] = [{rename.get(n, n): v for n, v in net.items()} for net in nets]
        kinds[label], cost[label] = ("supernet" if label.startswith("SPOS") else "short training"), None
    rows = []
    for label, nets in rankers.items():
        row = {"ranker": label, "kind": kinds[label], "seeds": len(nets), "cost_s": cost[label]}
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
    """The searched rows (``nas_*``) kept in a space benchmark folder: per seed, test PSNR, FLOPs and what the
    search cost a user starting from nothing: its own steps but the evaluation (search and retraining), plus
    the supernet's training where it chose in another row's supernet (that row's search of the same seed) and
    the retraining it reused where its pick was another row's network (``retrain_of``); process CPU time where
    every part keeps it, else wall clock. And their means over seeds."""
    raw: dict[tuple[str, str], dict] = {}
    for d in sorted(folder.glob("nas_*")):
        for s in sorted(d.glob("seed*")):
            res, entry = read_json(s / "results.json"), read_json(s / "entry.json")
            if isinstance(res, dict) and isinstance(entry, dict):
                cpu = entry.get("cpu_seconds")
                raw[(entry["key"]["entry"], s.name[4:])] = {
                    "entry": entry, "test": res["overall"]["psnr"]["mean"],
                    "steps": cpu or entry.get("seconds") or {}, "kind": "cpu" if cpu else "wall",
                    "flops": (read_json(s / "complexity.json") or {}).get("flops")}

    def part(name: str, seed: str, step: str) -> tuple[float, str]:
        r = raw.get((name, seed))
        return (float(r["steps"].get(step, 0.0)), r["kind"]) if r else (float("nan"), "missing")

    rows: dict[str, list[dict]] = {}
    for (name, seed), r in raw.items():
        parts = {k: (float(v), r["kind"]) for k, v in r["steps"].items() if k != "evaluate"}
        src = r["entry"]["key"].get("supernet_of") or ""
        if src:
            parts["supernet"] = part(src, seed, "search")
        other = r["entry"].get("retrain_of") or ""
        if other and not parts.get("retrain", (0.0,))[0]:
            o_name, _, o_seed = other.rpartition(" seed ")
            parts["retrain"] = part(o_name, o_seed, "retrain")
        kinds = {k for _, k in parts.values()}
        rows.setdefault(name, []).append({
            "seed": seed, "name": name, "test": r["test"], "flops": r["flops"],
            "max_flops": _max_flops(r["entry"]["key"]), "cost_s": float(sum(v for v, _ in parts.values())),
            "cost_parts": {k: v for k, (v, _) in parts.items()},
            "cost_kind": "cpu" if kinds == {"cpu"} else "missing" if "missing" in kinds else "wall",
            "repeats": other})
    out = []
    for name, seeds in rows.items():
        kinds = {x["cost_kind"] for x in seeds}
        out.append({"name": name, "seeds": len(seeds), "per_seed": seeds,
                    "test": float(np.mean([x["test"] for x in seeds])),
                    "cost_s": float(np.mean([x["cost_s"] for x in seeds])),
                    "cost_kind": "cpu" if kinds == {"cpu"} else "wall", "max_flops": seeds[0]["max_flops"]})
    return out


def _max_flops(key: dict) -> float | None:
    """The ``search.max_flops`` a searched row ran under, from its kept key (None: no limit)."""
    for s in key.get("search_sets") or key.get("sets") or []:
        if str(s).startswith("search.max_flops="):
            return float(str(s).split("=", 1)[1])
    return None


def _pct(v: list[float]) -> tuple[float, float, float, float]:
    """Median, 10th and 90th percentile of the picks, and the share that picked nothing."""
    a = np.array(v, dtype=float)
    ok = a[np.isfinite(a)]
    if not len(ok):
        return float("nan"), float("nan"), float("nan"), 1.0
    return float(np.median(ok)), float(np.percentile(ok, 10)), float(np.percentile(ok, 90)), float(np.mean(~np.isfinite(a)))


def ranker_lines(pool: Pool, rows: list[dict], splits: list[str]) -> list[str]:
    head = (["ranker", "kind", "architectures", "CPU s / architecture", "tau val", "rho val", "top-10% val"]
            + [f"tau {s}" for s in splits[1:]] + ["top-10% test"])
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        v = r.get("val")
        cost = "-" if r["cost_s"] is None else "0" if r["cost_s"] == 0 else f"{r['cost_s']:.1f}"
        seeds = f" ({r['seeds']} supernets)" if r["seeds"] > 1 else ""
        cells = ([r["ranker"] + seeds, r["kind"], str(v["n"]) if v else "-", cost,
                  f"{v['tau']:+.2f}" if v else "-", f"{v['rho']:+.2f}" if v else "-",
                  f"{v['precision'] * 100:.0f}%" if v else "-"]
                 + [f"{r[s]['tau']:+.2f}" if s in r else "-" for s in splits[1:]]
                 + [f"{r['test']['precision'] * 100:.0f}%" if "test" in r else "-"])
        lines.append("| " + " | ".join(cells) + " |")
    trivial = [r for r in rows if r["kind"] == "trivial" and "val" in r]
    learned = [r for r in rows if r["kind"] != "trivial" and "val" in r]
    if trivial:
        best_t = max(trivial, key=lambda r: r["val"]["tau"])
        lines += ["", f"Best trivial ranker on validation: {best_t['ranker']} (tau {best_t['val']['tau']:+.2f}); "
                  "a ranker within 0.05 of it is no better than counting."]
        for r in learned:
            verdict = "better than" if r["val"]["tau"] > best_t["val"]["tau"] + 0.05 else \
                "no better than" if r["val"]["tau"] >= best_t["val"]["tau"] - 0.05 else "worse than"
            lines.append(f"- {r['ranker']}: tau {r['val']['tau']:+.2f} on validation, {verdict} {best_t['ranker']}.")
        trust = [r for r in learned if r["val"]["tau"] > best_t["val"]["tau"] + 0.05]
        cheap = min(trust, key=lambda r: (r["cost_s"] is None, r["cost_s"] or 0.0), default=None)
        lines += ["", "**Which ranker to trust here:** " + (
            f"{cheap['ranker']} (the cheapest ranker that beats {best_t['ranker']} on validation"
            + (f", {cheap['cost_s']:.0f} CPU s per architecture)." if cheap["cost_s"] else ").")
            if cheap else f"none beats {best_t['ranker']}: order the space by it, or train.")]
    return lines


BUDGETS = (1, 2, 3, 5, 10, 20, 40)


def ordering_rankers(pool: Pool, rows: list[dict]) -> list[tuple[str, dict[str, float], float]]:
    """The rankers a search may order its candidates by, for the simulations: the best trivial and the best
    zero-cost one by validation tau, each with its scores and CPU seconds per architecture."""
    out = []
    for kind, scores in (("trivial", pool.trivial_scores()), ("zero-cost", pool.proxy_scores())):
        best = max((r for r in rows if r["kind"] == kind and "val" in r), key=lambda r: r["val"]["tau"], default=None)
        if best is not None:
            key = best["ranker"].removeprefix("zero-cost: ")
            out.append((best["ranker"], scores[key], best["cost_s"] or 0.0))
    return out


def simulation_lines(pool: Pool, searched: list[dict], draws: int, unit: str, limits: list[float],
                     orderings: list[tuple[str, dict[str, float], float]] = ()) -> tuple[list[str], dict]:
    """Random search, random search with successive halving, and search ordered by each of ``orderings``
    simulated at budgets of k mean trainings, with no FLOPs limit and under each of ``limits``; the searched
    rows' seeds against them at their own cost."""
    mean_cost = float(np.mean([pool.cost(n) for n in pool.names]))
    best_test = max(pool.value(n, "test") for n in pool.names)
    ks = [k for k in BUDGETS if k <= 2 * len(pool)]
    halving = all(pool.epochs(n) for n in pool.names)
    lines = ["", "## Random search on the pool, and search against it at equal cost", "",
             f"Random search simulated {draws} times per budget: architectures in a random order, trained while the "
             "budget lasts, the best by validation PSNR picked, its test PSNR reported. With successive halving "
             "(Hyperband's bracket, epochs as the fidelity, eta 3: every drawn architecture trains 1 epoch, the best "
             "third 3, the best ninth to the end, each continuing its own training), the longest random prefix "
             "whose halving fits the budget. Ordered by a ranker: a random half of the architectures drawn, each scored "
             "(its cost paid first), then trained best-scored first while the budget lasts, the best by validation "
             "picked. Budgets in trainings of the pool's mean cost "
             f"({mean_cost / 60:.1f} min, {unit}). Best test PSNR in the pool: {best_test:.2f}."]
    if not halving:
        lines += ["", "Successive halving is not simulated: not every architecture keeps its learning curve "
                  "(retrain with `nasengine benchmark space --restore-weights`)."]
    sims: dict = {}
    for limit in [None] + limits:
        names = [n for n in pool.names if limit is None or (pool[n].flops or np.inf) <= limit]
        if len(names) < 2:
            continue
        tag = "no FLOPs limit" if limit is None else f"FLOPs <= {limit / 1e9:.2f}G"
        lines += ["", f"### {tag} ({len(names)} architectures; best test PSNR "
                  f"{max(pool.value(n, 'test') for n in names):.2f})"]
        if limit is not None and len(names) == len(pool):
            lines += ["", f"Every architecture of the pool is within {limit / 1e9:.2f} GFLOPs: random search under "
                      "this limit is random search with no limit (above); the rows searched under it compare with it."]
        else:
            budgets = [k * mean_cost for k in ks]
            rs = simulate_random_search(pool, budgets, draws=draws, names=names)
            sh = simulate_halving(pool, budgets, draws=draws, names=names) if halving else None
            ordered = {label: simulate_ranked_search(pool, {n: v for n, v in sc.items() if n in names}, budgets,
                                                     draws=draws, drawn=max(1, len(names) // 2), score_cost=c)
                       for label, sc, c in orderings}
            sims[tag] = {"budgets_s": budgets, "random": rs, "halving": sh, "names": names, "ordered": ordered}
            head = ["budget (trainings)", "random search: median test PSNR", "10%-90%", "picks nothing",
                    "with halving: median", "10%-90%"] + [f"ordered by {label}: median" for label in ordered]
            lines += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
            for k, b in zip(ks, budgets):
                m, lo, hi, none = _pct(rs[b])
                hm, hlo, hhi, _ = _pct(sh[b]) if sh else (np.nan,) * 4
                lines.append(f"| {k} | {m:.2f} | {lo:.2f} to {hi:.2f} | {none * 100:.0f}% | "
                             + (f"{hm:.2f} | {hlo:.2f} to {hhi:.2f} |" if sh else "- | - |")
                             + "".join(f" {_pct(v[b])[0]:.2f} |" for v in ordered.values()))
        rows = [r for r in searched if (r["max_flops"] is None) == (limit is None)
                and (limit is None or r["max_flops"] <= limit * 1.001)]
        for r in rows:
            if r["max_flops"] is not None:  # the anytime plot's panel it belongs in
                r["panel"] = tag if tag in sims else "no FLOPs limit"
        if not rows:
            continue
        lines += ["", "Searched rows, each seed at its whole cost (search and retraining; a row that chose in "
                  "another row's supernet adds that supernet's training, a row whose pick was another row's network "
                  "adds that retraining), against random search (and with halving) given that budget:", "",
                  "| row | seed | test PSNR | cost (trainings) | random search: median | share it beats | with "
                  "halving: median | share it beats |", "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            at = [x["cost_s"] for x in r["per_seed"]]
            rs_s = simulate_random_search(pool, at, draws=draws, names=names)
            sh_s = simulate_halving(pool, at, draws=draws, names=names) if halving else None
            for x in r["per_seed"]:
                label = r["name"] + (f" (= {x['repeats']})" if x["repeats"] else "")
                cells = [label, x["seed"], f"{x['test']:.2f}", f"{x['cost_s'] / mean_cost:.1f}"]
                for sim in (rs_s, sh_s):
                    if sim is None:
                        cells += ["-", "-"]
                        continue
                    v = np.array(sim[x["cost_s"]])
                    beats = float(np.mean(np.where(np.isfinite(v), x["test"] > v, True)))
                    cells += [f"{_pct(v)[0]:.2f}", f"{beats * 100:.0f}%"]
                lines.append("| " + " | ".join(cells) + " |")
        if any(x["cost_kind"] != "cpu" for r in rows for x in r["per_seed"]):
            lines += ["", "Some searched seeds keep only wall-clock time (the last call of a resumed run on a shared "
                      "machine), not process CPU time: their cost column is not comparable; rerun them to compare."]
    return lines, sims


def draw_anytime(sims: dict, searched: list[dict], path: Path) -> Path | None:
    """Test PSNR of the pick against CPU hours: random search and random search with halving (median and
    10-90% band), and each searched seed as a point, one panel per FLOPs limit."""
    if not sims:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..drawing import save_figure

    fig, axes = plt.subplots(1, len(sims), figsize=(5.6 * len(sims), 4.2), squeeze=False)
    for ax, (tag, sim) in zip(axes[0], sims.items()):
        hours = np.array(sim["budgets_s"]) / 3600
        for key, label, c in (("random", "random search", "0.4"), ("halving", "random search + halving", "C0")):
            if sim[key] is None:
                continue
            q = np.array([_pct(sim[key][b])[:3] for b in sim["budgets_s"]])
            ax.plot(hours, q[:, 0], "-o", c=c, ms=3, label=f"{label} (median)")
            ax.fill_between(hours, q[:, 1], q[:, 2], color=c, alpha=0.15, lw=0)
        for k, (label, v) in enumerate(sim.get("ordered", {}).items()):
            ax.plot(hours, [_pct(v[b])[0] for b in sim["budgets_s"]], "--", c=f"C{1 + k}", lw=1.2,
                    label=f"ordered by {label} (median)")
        mine = [x for x in searched if (x["max_flops"] is None and tag == "no FLOPs limit")
                or (x["max_flops"] is not None and x.get("panel") == tag)]
        for k, r in enumerate(mine):
            ok = [x for x in r["per_seed"] if x["cost_kind"] == "cpu"]
            if ok:
                ax.plot([x["cost_s"] / 3600 for x in ok], [x["test"] for x in ok], "*", ms=11, c=f"C{3 + k % 6}",
                        label=f"{r['name']} (each seed)")
        ax.set_xscale("log")
        ax.set_xlabel("CPU hours")
        ax.set_ylabel("test PSNR of the pick (dB)")
        ax.set_title(tag, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def write_pool_report(folder: Path, draws: int = 1000, proxies: bool = True, progress: bool = True) -> Path:
    pool = Pool.from_results(folder)
    if proxies:
        measure_proxies(folder, pool, progress=progress)
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
             "architecture's genotype, FLOPs, parameters, latency, zero-cost proxies and, per seed, its validation "
             "and test metrics, its learning curve where kept, its scores on other test sets (benchmark rescore) "
             f"and its training cost ({unit}); `nas_engine.pool.Pool` queries it.", "",
             "## Rankers", "",
             "Each ranker orders the architectures; Kendall tau, Spearman rho, and the top-10% precision (the share "
             "of the true top 10%, at least one, that the ranker puts in its own top 10%) against the mean "
             "validation PSNR (what a choice may look at), and tau against the test PSNR and each other test set "
             "(reported only). Trivial rankers need no training; zero-cost proxies are measured at initialisation "
             f"on {PROXY_BATCHES} training batches (`nas_engine/proxies.py`); early training reads the kept learning "
             "curves; the supernet and short-training rows average over their supernet seeds "
             "(`finetune_ranking.json`).", ""]
    lines += ranker_lines(pool, rows, splits)
    searched = searched_rows(folder)
    limits = sorted({r["max_flops"] for r in searched if r["max_flops"]})
    sim_lines, sims = simulation_lines(pool, searched, draws, unit, limits, ordering_rankers(pool, rows))
    lines += sim_lines
    if draw_anytime(sims, searched, folder / "anytime.png"):
        lines += ["", "![anytime: test PSNR of the pick against CPU hours](anytime.png)"]
    if "FLOPs" in pool.trivial_scores():
        big = max(pool.names, key=lambda n: pool[n].flops or 0)
        lines += ["", f"The largest-FLOPs architecture ({big}, {pool[big].flops / 1e9:.2f} GFLOPs), one training: test "
                  f"PSNR {pool.value(big, 'test'):.2f}."]
    for s in others:
        q = rank_quality({n: pool.value(n, "test") for n in pool.names}, {n: pool.value(n, s) for n in pool.names})
        if q["n"] >= 3:
            lines += ["", f"Synthetic test vs `{s}`: Kendall tau {q['tau']:+.2f} over {q['n']} architectures."]
    def quantiles(sim: dict, budgets: list[float]) -> list[dict]:
        return [dict(zip(("median", "p10", "p90", "none"), _pct(sim[b]))) for b in budgets]

    summary = {t: {"names": v["names"], "budgets_s": v["budgets_s"],
                   **{k: None if v[k] is None else quantiles(v[k], v["budgets_s"]) for k in ("random", "halving")},
                   "ordered": {label: quantiles(x, v["budgets_s"]) for label, x in v["ordered"].items()}}
               for t, v in sims.items()}
    write_json(folder / "pool-report.json", {"draws": draws, "rankers": rows, "searched": searched,
                                             "simulations": summary})
    return write_text(folder / "pool.md", "\n".join(lines) + "\n")
