"""Ranked search (``search.strategy=ranked``): no supernet. Candidates drawn from the search's own stream
are ordered by a zero-cost proxy of their untrained network, and the best few train from scratch by
successive halving over short trainings; the best by validation is the genotype.

On space C's tabular pool (``nasengine benchmark pool``) SynFlow ranks the sampled architectures better
than any supernet (Kendall tau against their validation PSNR: SynFlow +0.89, SPOS after 40 fine-tune
steps +0.62, the raw supernets reversed) and better than counting cascades or FLOPs, and one epoch of
training ranks them almost exactly (+0.97). This search uses both, at a few trainings' cost:

1. ``search.candidates`` (default 100) architectures drawn uniformly from the space (cell and the task's
   macro choices; ``search.max_flops`` limits the draw), each scored by ``search.proxy`` (default synflow,
   :mod:`nas_engine.proxies`) on the same few batches of the weight split at initialisation;
2. the best ``search.train_top`` (default 9) train as ``retrain`` would (``train.*``: the same schedule,
   each from its own seed's weights) up to the first epoch count of ``search.train_ladder`` (default
   [1, 3]); the best ``1/search.halving_eta`` (default 3) by validation PSNR continue their training to
   the next, and so on; the best of the last rung is the genotype. Then ``retrain`` trains it fully.

Everything is kept in the run folder and a resumed search goes on where it stopped: ``scores.json`` (the
proxy of every candidate scored so far), ``candidates/<k>/`` (each trained candidate's run folder, with
its checkpoint and ``train_history.json``), ``candidates.json`` (every candidate, best first, with its
proxy and its validation PSNR at each rung it reached), ``halving.json`` (the rungs, with the Kendall
tau between consecutive rungs). The search ends with its ranking check: Kendall tau between the proxy and
the validation PSNR after the first rung over the candidates trained, which says whether the proxy is to
be trusted on this task.
"""

from __future__ import annotations

import dataclasses
import time

from .config import Config
from .errors import UserError
from .files import read_json, write_json, write_text
from .genotype import Genotype
from .rundir import RunDir

DEFAULT_CANDIDATES = 100
DEFAULT_PROXY = "synflow"
DEFAULT_TOP = 9
DEFAULT_LADDER = (1, 3)
DEFAULT_ETA = 3


def settings(cfg: Config) -> dict:
    """The ranked search's options with their defaults filled in."""
    s = cfg.search
    return {"candidates": s.candidates or DEFAULT_CANDIDATES, "proxy": s.proxy or DEFAULT_PROXY,
            "train_top": s.train_top or DEFAULT_TOP, "train_ladder": list(s.train_ladder or DEFAULT_LADDER),
            "halving_eta": s.halving_eta or DEFAULT_ETA}


def check_ranked(cfg: Config) -> None:
    """One line for each option a ranked search cannot run with."""
    from .proxies import PROXIES

    s, o = cfg.search, settings(cfg)
    if o["proxy"] not in PROXIES:
        raise UserError(f"search.proxy must be one of {', '.join(PROXIES)}, got {s.proxy!r}")
    if o["train_top"] < 1:
        raise UserError(f"search.train_top must be >= 1, got {s.train_top}")
    ladder = o["train_ladder"]
    if (any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ladder)
            or any(b <= a for a, b in zip(ladder, ladder[1:]))):
        raise UserError(f"search.train_ladder must be a non-empty list of increasing epoch counts >= 1, e.g. [1, 3]; "
                        f"got {s.train_ladder!r}")
    if ladder[-1] > cfg.train.epochs:
        raise UserError(f"search.train_ladder={ladder}: its last rung trains {ladder[-1]} epochs, more than the "
                        f"retraining's train.epochs={cfg.train.epochs}; keep it at or below")
    if o["halving_eta"] < 2:
        raise UserError(f"search.halving_eta must be 2 or more (keep the best 1/eta of each rung), got {s.halving_eta}")


def _train_until(task, cfg: Config, g: Genotype, folder, epochs: int, seed: int, progress: bool) -> float:
    """Train candidate ``g`` (its run folder ``folder``; a later rung continues the same training) to
    ``epochs`` of ``train.epochs``' schedule; its validation PSNR after that epoch."""
    from .network import build_model
    from .retrain import run_retrain

    hist = read_json(folder / "train_history.json") or []
    if len(hist) < epochs:
        resume = (folder / "checkpoints" / "last.ckpt").is_file()
        run = RunDir(folder, resume=resume or (folder.is_dir() and any(folder.iterdir())), command="search")
        try:
            ccfg = dataclasses.replace(cfg, seed=seed)
            if not resume:
                write_text(folder / "genotype.json", g.to_json())
                run.write_config(ccfg.to_dict())
            run_retrain(task, build_model(task, ccfg, g), ccfg, run, resume=resume, progress=progress, until=epochs)
        finally:
            run.release()
        hist = read_json(folder / "train_history.json") or []
    rec = next((h for h in hist if h.get("epoch") == epochs), None)
    if rec is None or "val_psnr" not in rec:
        raise UserError(f"{folder}: no validation PSNR after epoch {epochs} (train.validate must stay true for "
                        "search.strategy=ranked)")
    return float(rec["val_psnr"])


def run_ranked(task, space, cfg: Config, run: RunDir, resume: bool = False, progress: bool = True) -> Genotype:
    """The ranked search; see the module's docstring. Writes the run directory, returns the genotype."""
    from scipy.stats import kendalltau

    from .drawing import save_cell
    from .oneshot.spos import draw_candidates, genotype_key
    from .proxies import DEFAULT_BATCHES, proxy_batches, score_proxies

    check_ranked(cfg)
    o = settings(cfg)
    if not cfg.train.validate:
        raise UserError("search.strategy=ranked chooses by validation PSNR: leave train.validate true")
    train_w, _ = task.search_datasets(cfg.search.alpha_fraction)
    write_json(run / "search_info.json", {"strategy": "ranked", **o, "proxy_batches": DEFAULT_BATCHES})
    run.log(f"search: task {task.name}, space {space.name} {list(space.ops)}"
            + (f" macro {dict(task.macro_space(space.macro_choices))}" if space.macro else "")
            + f", data {task.describe_data()}: {o['candidates']} candidates ordered by {o['proxy']} at "
            f"initialisation, the best {o['train_top']} trained by successive halving over "
            f"{' -> '.join(map(str, o['train_ladder']))} epochs (eta {o['halving_eta']})")
    cands, flops = draw_candidates(task, space, cfg, o["candidates"], run.log)
    key = {"proxy": o["proxy"], "batches": DEFAULT_BATCHES, "seed": cfg.seed}
    kept = read_json(run / "scores.json") or {}
    scores: dict[str, float] = dict(kept.get("scores") or {}) if kept.get("key") == key else {}
    todo = [g for g in cands if genotype_key(g) not in scores]
    if todo:
        from tqdm import tqdm

        t0 = time.perf_counter()
        batches = proxy_batches(task, cfg, DEFAULT_BATCHES, seed=cfg.seed, dataset=train_w)
        for i, g in enumerate(tqdm(todo, desc=f"{o['proxy']} of each candidate", disable=not progress, leave=False), 1):
            scores[genotype_key(g)] = score_proxies(task, cfg, g, batches, proxies=(o["proxy"],), seed=cfg.seed)[o["proxy"]]
            if i % max(1, len(todo) // 10) == 0 or i == len(todo):
                write_json(run / "scores.json", {"key": key, "scores": scores})
        run.log(f"scored {len(todo)} candidates by {o['proxy']} in {time.perf_counter() - t0:.0f}s")
    proxy = [scores[genotype_key(g)] for g in cands]
    order = sorted(range(len(cands)), key=lambda i: -proxy[i])
    alive = order[:o["train_top"]]
    rungs: list[dict] = []
    for r, epochs in enumerate(o["train_ladder"]):
        val = {}
        for i in alive:
            val[i] = _train_until(task, cfg, cands[i], run / "candidates" / f"{i:03d}", epochs, cfg.seed, progress)
        last = r == len(o["train_ladder"]) - 1
        keep = sorted(alive, key=lambda i: -val[i])[:1 if last else max(1, -(-len(alive) // o["halving_eta"]))]
        rungs.append({"epochs": epochs, "candidates": len(alive), "kept": len(keep), "val_psnr": val})
        if r:
            prev = rungs[-2]
            prev["tau_next"] = float(kendalltau([prev["val_psnr"][i] for i in alive], [val[i] for i in alive]).statistic) \
                if len(alive) >= 3 else float("nan")
        run.log(f"rung {r + 1}: {len(alive)} candidates trained to epoch {epochs}, validation PSNR "
                f"{max(val.values()):.2f} best, {min(val.values()):.2f} worst" + ("" if last else f"; the best {len(keep)} go on"))
        alive = keep
    best = cands[alive[0]]
    first = rungs[0]["val_psnr"]
    check = float(kendalltau([proxy[i] for i in first], [first[i] for i in first]).statistic) if len(first) >= 3 \
        else float("nan")
    write_json(run / "halving.json", {"proxy_vs_first_rung_tau": check,
                                      "rungs": [{**{k: v for k, v in x.items() if k != "val_psnr"},
                                                 "val_psnr": {str(i): v for i, v in x["val_psnr"].items()}}
                                                for x in rungs]})
    reached = {i: [x["val_psnr"][i] for x in rungs if i in x["val_psnr"]] for i in range(len(cands))}
    ranked = sorted(range(len(cands)), key=lambda i: (-len(reached[i]), -(reached[i][-1] if reached[i] else 0.0),
                                                      -proxy[i]))
    write_json(run / "candidates.json", [{o["proxy"]: proxy[i], "genotype": cands[i].to_dict(),
                                          "val_psnr": dict(zip(map(str, o["train_ladder"]), reached[i])),
                                          **({"run": f"candidates/{i:03d}"} if reached[i] else {}),
                                          **({"flops": flops[cands[i].signature()]} if flops else {})}
                                         for i in ranked])
    run.log(f"ranking check: Kendall tau {check:+.2f} between {o['proxy']} and the validation PSNR after "
            f"{o['train_ladder'][0]} epoch(s) over the {len(first)} candidates trained"
            + (" (below 0.3: the proxy orders this task's candidates poorly; raise search.train_top, or use "
               "search.strategy=spos with search.finetune_steps)" if not check >= 0.3 else ""))
    write_text(run / "genotype.json", best.to_json())
    write_text(run / "genotype.txt", str(best) + "\n")
    save_cell(best, run / "cell.png")
    return best
