"""``nasengine demo``: search -> retrain -> evaluate on the embedded data, then a table against the task's
reference method."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..task import get_task
from .commands import format_results
from .options import passthrough


def cmd_demo(args: argparse.Namespace) -> int:
    """search -> retrain -> evaluate on the embedded data, then a table: the task's reference method
    (the first of the task's non-learned methods) vs NAS, and a picture of their outputs next to the target.
    The steps run in this process through :mod:`nas_engine.api`; each prints the command that does the same."""
    from .. import api
    from ..files import write_json
    from ..rundir import prepare_output

    out = Path(args.out)
    common = ["--task", args.task] + passthrough(args) + (["--force"] if args.force else [])
    task_cls = get_task(args.task)
    reference = task_cls.methods[0] if task_cls.methods else None
    progress = not args.no_progress
    cfg = api.config(args.config or "demo", task=args.task, sets=args.set, data=args.data)

    def say(*step: str) -> None:
        print(f"\n$ nasengine {' '.join(map(str, step))}", flush=True)

    say("search", "--space", args.space, "--out", out / "search", *common)
    geno = api.search(cfg, space=args.space, out=out / "search", force=args.force, progress=progress)
    print(str(geno))
    say("retrain", "--genotype", out / "search" / "genotype.json", "--out", out / "retrain", *common)
    run = api.retrain(cfg, geno, out=out / "retrain", force=args.force, progress=progress)
    print(f"trained weights: {run / 'model.pt'}")
    results = {}
    if reference:
        dest = out / f"{slug(reference)}.json"
        say("evaluate", "--method", reference, "--out", dest, "--save-recons", out / "recons" / slug(reference), *common)
        for path, is_dir in ((dest, False), (out / "recons" / slug(reference), True)):
            prepare_output(path, args.force, is_dir=is_dir)
        results[reference] = write_results(dest, api.make_task(cfg).evaluate_method(
            reference, save_recons=str(out / "recons" / slug(reference)), progress=progress), write_json)
    say("evaluate", "--checkpoint", run, "--out", out / "nas.json", "--save-recons", out / "recons" / "nas")
    for path, is_dir in ((out / "nas.json", False), (out / "recons" / "nas", True)):
        prepare_output(path, args.force, is_dir=is_dir)
    results["NAS"] = write_results(out / "nas.json", api.evaluate(run, data=args.data, save_recons=out / "recons" / "nas",
                                                                  progress=progress), write_json)
    print("\nresult on the test split (mean ± std over test cases)")
    for name, r in results.items():
        print(f"\n{name}")
        print(format_results(task_cls, r))
    pictures = [p for p in (out / "search" / "cell.png", out / "search" / "alphas.png") if p.is_file()]
    panel = draw_outputs(task_cls, args, out, reference)
    if panel is not None:
        pictures.insert(0, panel)
    print(f"\nall outputs under {out}" + (f"; pictures: {', '.join(map(str, pictures))}" if pictures else ""))
    return 0


def write_results(path: Path, results: dict, write_json) -> dict:
    write_json(path, results)
    return results


def slug(method: str) -> str:
    return method.replace("-", "_")


def draw_outputs(task_cls, args: argparse.Namespace, out: Path, reference: str | None) -> Path | None:
    """``outputs.png``: the task's panel of test outputs (``Task.draw_panel``: e.g. the target, the
    reference method's and NAS's outputs with their error maps); None where the task draws none."""
    from ..config import build_config, load_yaml
    from ..drawing import save_figure

    cfg = build_config(load_yaml(out / "retrain" / "config.yaml"))  # the task as the network was trained and tested
    task = task_cls(cfg.data, data=cfg.data_path, seed=cfg.seed)
    entries = ([(reference, out / "recons" / slug(reference))] if reference else []) + [("NAS", out / "recons" / "nas")]
    fig = task.draw_panel(entries)
    if fig is None:
        return None
    return save_figure(fig, out / "outputs.png", dpi=110)
