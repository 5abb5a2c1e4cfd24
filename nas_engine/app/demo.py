"""``nasengine demo``: search -> retrain -> evaluate on the embedded data, then a table against zero-filled."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..task import get_task
from .commands import format_results
from .options import passthrough


def cmd_demo(args: argparse.Namespace) -> int:
    """search -> retrain -> evaluate on the embedded data, then a table: zero-filled vs NAS."""
    out = Path(args.out)
    common = ["--task", args.task] + passthrough(args)
    force = ["--force"] if args.force else []
    steps = [
        ["search", "--space", args.space, "--out", str(out / "search")] + common + force,
        ["retrain", "--genotype", str(out / "search" / "genotype.json"), "--out", str(out / "retrain")] + common + force,
        ["evaluate", "--method", "zero-filled", "--out", str(out / "zero_filled.json")] + common + force,
        ["evaluate", "--checkpoint", str(out / "retrain"), "--out", str(out / "nas.json")]
        + (["--data", args.data] if args.data else []) + (["--no-progress"] if args.no_progress else []) + force,
    ]
    for step in steps:
        print(f"\n$ nasengine {' '.join(step)}", flush=True)
        rc = args.cli(step)  # the command line's own main(), handed over (no import cycle)
        if rc:
            return rc
    task_cls = get_task(args.task)
    results = {"zero-filled": json.loads((out / "zero_filled.json").read_text()),
               "NAS": json.loads((out / "nas.json").read_text())}
    print("\nresult on the test split (mean ± std over test cases)")
    for name, r in results.items():
        print(f"\n{name}")
        print(format_results(task_cls, r))
    print(f"\nall outputs under {out}")
    return 0
