"""``nasengine demo``: search -> retrain -> evaluate on the embedded data, then a table against the task's
reference method."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..task import get_task
from .commands import format_results
from .options import passthrough


def cmd_demo(args: argparse.Namespace) -> int:
    """search -> retrain -> evaluate on the embedded data, then a table: the task's reference method
    (the first of the task's non-learned methods) vs NAS, and a picture of their outputs next to the target."""
    out = Path(args.out)
    common = ["--task", args.task] + passthrough(args)
    force = ["--force"] if args.force else []
    task_cls = get_task(args.task)
    reference = task_cls.methods[0] if task_cls.methods else None
    steps = [
        ["search", "--space", args.space, "--out", str(out / "search")] + common + force,
        ["retrain", "--genotype", str(out / "search" / "genotype.json"), "--out", str(out / "retrain")] + common + force,
    ]
    if reference:
        steps.append(["evaluate", "--method", reference, "--out", str(out / f"{slug(reference)}.json"),
                      "--save-recons", str(out / "recons" / slug(reference))] + common + force)
    steps.append(["evaluate", "--checkpoint", str(out / "retrain"), "--out", str(out / "nas.json"),
                  "--save-recons", str(out / "recons" / "nas")]
                 + (["--data", args.data] if args.data else []) + (["--no-progress"] if args.no_progress else []) + force)
    for step in steps:
        print(f"\n$ nasengine {' '.join(step)}", flush=True)
        rc = args.cli(step)  # the command line's own main(), handed over (no import cycle)
        if rc:
            return rc
    results = {"NAS": json.loads((out / "nas.json").read_text())}
    if reference:
        results = {reference: json.loads((out / f"{slug(reference)}.json").read_text()), **results}
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
