"""How well does a short fine-tune rank a space's architectures, and how much of that is the supernet's?

A SPOS supernet scores an architecture by its loss with the weights every path shares. In space C
those raw scores order the depths backwards. ``search.finetune_steps`` scores each architecture
after a few Adam steps of its own path from the supernet's weights. This measures, for the sampled
architectures of a ``benchmark space`` results folder, Kendall tau and Spearman rho between their
scores and their stand-alone validation PSNR (mean over seeds; never the test split, since this
chooses the steps a search uses) for K fine-tuning steps from the supernet's
weights, and, as the control, for K steps of the same path from freshly initialised weights (a
short-training proxy with no weight sharing): if the control ranks as well, the supernet adds
little. K = 0 from the supernet is SPOS' raw score. Scores use the search's own evaluation and
fine-tuning batches (``nas_engine.oneshot.spos``), so K = 40 from the supernet is what
``benchmark space --search spos-finetune`` records.

    python benchmarks/probes/finetune_ranking.py RUN_DIR RESULTS_DIR [--steps 0,10,40] [--out DIR]
    python benchmarks/probes/finetune_ranking.py kept RESULTS_DIR     # the report again from the kept scores

RUN_DIR: a finished SPOS search run (``checkpoints/last.ckpt``, ``config.yaml``), e.g.
``runs/benchmark/bench/nas_c_spos/seed0/search``; RESULTS_DIR: e.g. ``benchmarks/results/space_C``.
Writes ``finetune_ranking.json`` (every score, kept as it is measured: a rerun goes on where it
stopped) and ``finetune_ranking.md`` into ``--out`` (default RESULTS_DIR). Each supernet (search
seed) keeps its scores beside the others' (told apart by a digest of its weights): run it once per
seed's search, and the report gives every seed's tau and their mean.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from nas_engine.files import write_json, write_text  # noqa: E402
from nas_engine.genotype import Genotype  # noqa: E402
from nas_engine.oneshot.spos import (  # noqa: E402
    build_spos,
    candidates_of,
    eval_batches,
    finetune_batches,
    score_candidates,
    search_run,
    state_digest,
)
from nas_engine.task import load_task_entry_points  # noqa: E402


def samples_of(results: Path) -> dict[str, tuple[Genotype, float]]:
    """Each kept sampled architecture (``*_sample_*``): its genotype and mean *validation* PSNR over its seeds
    (``val.json``, the validation split after the last epoch). The ranking this script measures chooses
    the fine-tune steps a search uses, so it never reads the test split (``results.json``)."""
    out = {}
    found = [d for d in results.glob("*_sample_*") if re.fullmatch(r".+_sample_\d+", d.name)]  # not halving rungs
    for d in sorted(found, key=lambda p: int(p.name.rsplit("_", 1)[1])):
        seeds = [s for s in sorted(d.glob("seed*")) if (s / "val.json").is_file() and (s / "genotype.json").is_file()]
        if seeds:
            psnr = [json.loads((s / "val.json").read_text())["val_psnr"] for s in seeds]
            out[d.name] = (Genotype.load(seeds[0] / "genotype.json"), sum(psnr) / len(psnr))
    return out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a finished SPOS search run, or 'kept' to rebuild the report from the "
                   "kept scores without scoring anything")
    p.add_argument("results", type=Path)
    p.add_argument("--steps", default="0,10,40", help="fine-tuning steps to compare (default 0,10,40)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    out = args.out or args.results
    steps = [int(x) for x in args.steps.split(",")]
    warnings.filterwarnings("ignore")
    samples = samples_of(args.results)
    if len(samples) < 3:
        raise SystemExit(f"{args.results}: fewer than 3 kept sampled architectures with val.json")
    if str(args.run) == "kept":
        write_text(out / "finetune_ranking.md", report(load_kept(out / "finetune_ranking.json"), samples, args) + "\n")
        print(f"wrote {out / 'finetune_ranking.md'}")
        return
    load_task_entry_points()
    cfg, task = search_run(args.run)
    from search_spaces import load_space

    space = load_space(next(iter(samples.values()))[0].space)
    state = torch.load(args.run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    train_w, train_alpha = task.search_datasets(cfg.search.alpha_fraction)
    batches = eval_batches(task, cfg, train_alpha, candidates_of(cfg)[1])
    kept_file = out / "finetune_ranking.json"
    kept = load_kept(kept_file)
    digest = state_digest(state)
    mine = next((r for r in kept["supernets"] if r.get("weights") == digest), None)
    if mine is None:
        mine = {"run": str(args.run), "seed": cfg.seed, "weights": digest, "scores": {}, "seconds": {}}
        kept["supernets"].append(mine)
    for init in ("supernet", "scratch"):
        for k in steps:
            if init == "scratch" and k == 0:
                continue  # an untrained network's loss: no ranking to speak of
            key = f"{init} {k}"
            cfg.search.finetune_steps = k
            tune = finetune_batches(task, cfg, train_w)
            for name, (geno, _) in samples.items():
                if name in mine["scores"].get(key, {}):
                    continue
                torch.manual_seed(cfg.seed)
                _, oneshot = build_spos(task, space, cfg)  # freshly initialised: the control starts here
                if init == "supernet":
                    oneshot.load_state_dict(state)
                t0 = time.perf_counter()
                (score,) = score_candidates(task, oneshot, [geno], batches, tune=tune, lr=cfg.search.lr)
                mine["scores"].setdefault(key, {})[name] = score
                mine["seconds"].setdefault(key, {})[name] = time.perf_counter() - t0
                write_json(kept_file, kept)
                print(f"{key:>12} {name}: {score:.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)
    write_text(out / "finetune_ranking.md", report(kept, samples, args) + "\n")
    print(f"wrote {out / 'finetune_ranking.md'}")


def load_kept(path: Path) -> dict:
    """The kept scores: ``{"supernets": [{"run", "seed", "weights", "scores", "seconds"}, ...]}``. A file
    of one supernet (``{"run", "scores", "seconds"}``, before seeds were kept side by side) is read
    as that supernet's entry, its seed taken from the run's path."""
    if not path.is_file():
        return {"supernets": []}
    d = json.loads(path.read_text())
    if "supernets" in d:
        return d
    seed = re.search(r"seed(\d+)", d["run"])
    return {"supernets": [{"run": d["run"], "seed": int(seed.group(1)) if seed else None, "weights": None,
                           "scores": d["scores"], "seconds": d["seconds"]}]}


def shown(path: Path) -> str:
    """``path`` as the report's command line gives it: relative to the repository where it lies inside."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def report(kept: dict, samples: dict, args) -> str:
    """The markdown report: one row per (start, steps, supernet seed), then the mean tau over seeds."""
    from scipy import stats

    psnr = {n: v for n, (_, v) in samples.items()}
    runs = sorted(kept["supernets"], key=lambda r: (r["seed"] is None, r["seed"] or 0))
    seeds = ", ".join(str(r["seed"]) for r in runs)
    lines = ["# Ranking sampled architectures by short fine-tuning", "",
             f"Made by `python benchmarks/probes/finetune_ranking.py RUN {shown(args.results)}` (steps {args.steps}), once per "
             f"search seed's SPOS supernet (RUN: e.g. `runs/benchmark/bench/nas_c_spos/seed1/search`; here seeds "
             f"{seeds}). Kendall tau and Spearman rho between each sampled architecture's loss after K Adam steps of "
             "its own path (negated) and its stand-alone validation PSNR (mean over seeds; the test split is not "
             "read: this ranking chooses the steps a search uses); from the trained SPOS supernet's "
             "weights, and from freshly initialised weights (the control: a short-training proxy without weight "
             "sharing). K = 0 from the supernet: SPOS' raw score.", "",
             "| start | steps | supernet seed | architectures | Kendall tau (p) | Spearman rho (p) | seconds per architecture |",
             "|---|---|---|---|---|---|---|"]
    taus: dict[str, list[float]] = {}
    keys = list(dict.fromkeys(k for r in runs for k in r["scores"]))
    for key in keys:
        for r in runs:
            scores = r["scores"].get(key, {})
            names = [n for n in scores if n in psnr]
            if len(names) < 3:
                continue
            a, b = [-scores[n] for n in names], [psnr[n] for n in names]
            tau, rho = stats.kendalltau(a, b), stats.spearmanr(a, b)
            taus.setdefault(key, []).append(tau.statistic)
            sec = sum(r["seconds"][key][n] for n in names) / len(names)
            init, k = key.split()
            lines.append(f"| {init} | {k} | {r['seed']} | {len(names)} | {tau.statistic:+.2f} ({tau.pvalue:.2g}) | "
                         f"{rho.statistic:+.2f} ({rho.pvalue:.2g}) | {sec:.0f} |")
    if any(len(v) > 1 for v in taus.values()):
        lines += ["", "Mean Kendall tau over the supernet seeds (min to max):", ""]
        lines += [f"- {key.split()[0]}, {key.split()[1]} steps: {sum(v) / len(v):+.2f} ({min(v):+.2f} to {max(v):+.2f}; "
                  f"{len(v)} seeds)" for key, v in taus.items()]
    tuned = {k: sum(v) / len(v) for k, v in taus.items() if k.startswith("supernet ")}
    if tuned:
        best = max(tuned, key=tuned.get)
        lines += ["", f"Chosen on validation: {best.split()[1]} fine-tune steps from the supernet (the highest mean "
                  f"Kendall tau, {tuned[best]:+.2f}), the `search.finetune_steps` of the spos-finetune rows."]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
