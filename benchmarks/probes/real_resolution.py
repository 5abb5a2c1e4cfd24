"""Does training at the real scans' pixel size close the gap on measured k-space?

The first look (``real_first_look.py``) found that DCCNN-3 trained on the embedded data (a whole head in 96 x 96,
~2.3 mm pixels) is below zero-filled on the real in-vivo brain at 4x (224 x 224, ~1 mm), and above it on the same
scan at half resolution: the network meets anatomy at twice the scale it learned. This trains the same network
at the same demo preset on the embedded data built at 192 x 192 (~1.1 mm; ``data.size=192``), on random 96 x 96
windows of each training slice (``data.patch=96``: the cost of a 96 x 96 step), and scores it as the first look
scores its rows: zero-filled, TV and the first look's networks are its kept numbers (``first_look.json``).

    python benchmarks/probes/real_resolution.py [--work runs/real_resolution]

Writes benchmarks/results/real/resolution.json and resolution.md. The real files are read only by final scoring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_first_look import OUT, TV, nasengine, section_lines  # noqa: E402

NET = "DCCNN-3 at ~1.1 mm (data.size=192, data.patch=96)"
SETS = ["--set", "data.size=192", "--set", "data.patch=96"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=str(ROOT / "runs" / "real_resolution"))
    work = Path(ap.parse_args().work)
    work.mkdir(parents=True, exist_ok=True)
    from nas_engine.rundir import read_cost
    from tasks.csmri.embedded import ensure_embedded
    from tasks.csmri.realdata import real_root

    real = real_root(build=True)
    run = work / "net"
    if not (run / "model.pt").is_file():
        nasengine("retrain", "--method", "dccnn-3", "--config", "demo", *SETS, "--out", str(run), "--no-progress",
                  *(["--resume"] if run.exists() else []))
    kept = json.loads((OUT / "first_look.json").read_text())
    sets = {"full": real / "singlecoil", "half resolution": real / "singlecoil_half", "embedded test": None}
    results: dict = {}
    t0 = time.process_time()
    for label, data in sets.items():
        for acc in ("4", "8"):
            out = work / "scores" / f"{label.replace(' ', '_')}-{acc}.json"
            if not out.is_file():
                extra = ["--data", str(data or ensure_embedded(96))]  # None: the first look's embedded test split
                nasengine("evaluate", "--checkpoint", str(run), *extra, "--accelerations", acc, "--out", str(out),
                          "--no-progress", "--seed", "0")
            r = json.loads(out.read_text())
            if label == "half resolution":  # other files than the first look's: zero-filled and TV scored anew on them
                rows = {}
                for name, args in (("zero-filled", ["--method", "zero-filled"]), ("TV", ["--method", "tv", *TV])):
                    f = work / "scores" / f"half-{acc}-{name}.json"
                    if not f.is_file():
                        nasengine("evaluate", *args, "--data", str(data), "--accelerations", acc, "--out", str(f),
                                  "--no-progress", "--seed", "0")
                    m = json.loads(f.read_text())
                    rows[name] = {"psnr": m["overall"]["psnr"]["mean"], "ssim": m["overall"]["ssim"]["mean"],
                                  "per_file": {v["file"]: round(v["psnr"], 3) for v in m["per_volume"]}}
            else:
                rows = {k: v for k, v in kept.get(label, {}).get(acc, {}).items()}
            rows[NET] = {"psnr": r["overall"]["psnr"]["mean"], "ssim": r["overall"]["ssim"]["mean"],
                         "per_file": {v["file"]: round(v["psnr"], 3) for v in r["per_volume"]}}
            results.setdefault(label, {})[acc] = rows
    cost = read_cost(run) or {}
    results["cost"] = {"train_cpu_s": cost.get("cpu_s"), "evaluate_cpu_s": time.process_time() - t0}
    (OUT / "resolution.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# Training at the real scans' pixel size", "",
             f"{NET} against the first look's rows (kept numbers of `first_look.json`), except at half resolution: "
             "the first look cut its files from the ESC k-space, these are `data build --real`'s `singlecoil_half/` "
             "(cut coil by coil), so zero-filled and TV are scored anew on them and the first look's networks are "
             "not shown. PSNR (dB) per file; made by `python benchmarks/probes/real_resolution.py`; its training: "
             f"{(cost.get('cpu_s') or 0) / 60:.0f} CPU-minutes.", ""]
    for label in sets:
        lines += section_lines(label, results[label], sorted(results[label]["4"][NET]["per_file"]))
    (OUT / "resolution.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
