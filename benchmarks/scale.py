"""Reliability and scale measurements (issue: resume, DDP, fastMRI-scale data).

Every number comes from the real CLI run as a subprocess (``python -m nas_engine.app.cli``):

* ``resume``  -- demo config: seconds from process start to the first training step, for a
  fresh run and for ``--resume`` of the same run after one epoch (search and retrain). The
  engine logs the figure itself ("first step ... after the process started" in log.txt).
* ``ddp``     -- seconds per training step with 1 process and with 2 DDP processes (gloo) on the
  same global batch: retraining the searched cell at the paper's size (C=32, 3 cells,
  3 cascades, 320x320, batch 2) and the demo search (batch 4). Runs alternate 1, 2, 1, 2 so
  that drift of this noisy machine hits both; the ratio is the speed-up.
* ``memory``  -- one retrain epoch over a directory of 50 fastMRI-format volumes (320x320
  images, 640x368 k-space, 16 slices each, built here from the Colin27/MNI152 brains):
  resident memory sampled every 0.25 s and the number of open .h5 handles.

    python benchmarks/scale.py                 # all three, writes benchmarks/results/scale.{json,md}
    python benchmarks/scale.py --only ddp      # one part (merged into the same files)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
GENOTYPE = ROOT / "benchmarks" / "results" / "table1" / "nas_a_3n" / "genotype.json"


def cli(*args: object, sample=None) -> tuple[float, list]:
    """Run the CLI; return (wall seconds, samples of ``sample(process)`` every 0.25 s)."""
    import psutil

    cmd = [sys.executable, "-m", "nas_engine.app.cli", *map(str, args)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    samples = []
    if sample is not None:
        proc = psutil.Process(p.pid)
        while p.poll() is None:
            try:
                samples.append((time.perf_counter() - t0, *sample(proc)))
            except psutil.Error:
                pass
            time.sleep(0.25)
    out, err = p.communicate()
    if p.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err[-3000:]}")
    return time.perf_counter() - t0, samples


def first_steps(log: Path) -> list[float]:
    return [float(m) for m in re.findall(r"first step \(epoch \d+\) ([\d.]+)s after", log.read_text())]


# ------------------------------------------------------------------ resume
def bench_resume(work: Path) -> dict:
    out = {}
    for kind, args in (("search", ["search"]), ("retrain", ["retrain", "--genotype", GENOTYPE])):
        run = work / f"resume-{kind}"
        cli(*args, "--config", "demo", "--out", run, "--epochs", 1, "--no-progress")
        t_resume, _ = cli(*args, "--out", run, "--resume", "--epochs", 2, "--no-progress")
        fresh, resumed = first_steps(run / "log.txt")
        ckpt = run / "checkpoints" / "last.ckpt"
        out[kind] = {"fresh_start_to_first_step_s": fresh, "resume_to_first_step_s": resumed,
                     "checkpoint_MB": ckpt.stat().st_size / 2**20, "resume_wall_s_for_one_epoch": t_resume}
        print(f"resume {kind}: fresh {fresh:.1f}s, resumed {resumed:.1f}s to the first step", flush=True)
    return out


# ------------------------------------------------------------------ ddp
def epoch_seconds(run: Path, history: str, steps: int) -> float:
    h = json.loads((run / history).read_text())
    return h[-1]["seconds"] / steps  # the last epoch: no warm-up effects


def bench_ddp(work: Path, repeats: int) -> dict:
    steps = 6
    cases = {
        "retrain paper-size (C=32, 3 cells, 320x320, batch 2)": (
            ["retrain", "--genotype", GENOTYPE, "--config", "paper", "--set", "model.cells=3",
             "--set", "train.batch_size=2", "--set", f"train.steps_per_epoch={steps}", "--epochs", 2],
            "train_history.json"),
        "search demo (C=16, 2 cells, 96x96, batch 4)": (
            ["search", "--config", "demo", "--set", f"search.steps_per_epoch={steps}", "--set", "search.patience=0",
             "--epochs", 2], "history.json"),
    }
    out = {}
    for name, (args, history) in cases.items():
        per = {1: [], 2: []}
        for r in range(repeats):
            for n in (1, 2):
                run = work / f"ddp-{args[0]}-{n}-{r}"
                wall, _ = cli(*args, "--out", run, "--devices", n, "--no-progress", "--force")
                per[n].append(epoch_seconds(run, history, steps))
                print(f"{name}: {n} process(es) {per[n][-1]:.2f} s/step (wall {wall:.0f}s)", flush=True)
        one, two = statistics.median(per[1]), statistics.median(per[2])
        out[name] = {"s_per_step_1proc": per[1], "s_per_step_2proc": per[2], "median_1proc": one,
                     "median_2proc": two, "speedup": one / two}
    return out


# ------------------------------------------------------------------ memory
def build_volumes(root: Path, n: int, slices: int, size: int) -> None:
    """``n`` fastMRI single-coil volumes in ``root/train`` (+1 in val/ and test/), from the real brains."""
    import numpy as np

    from tasks.csmri.embedded import available_sources, load_axial, write_volume

    colin, mni = available_sources()
    brains = [load_axial(s, size) for s in (colin, mni) if s is not None]
    rng = np.random.RandomState(0)
    for split, count in (("train", n), ("val", 1), ("test", 1)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            vol = brains[i % len(brains)]
            a = rng.randint(0, len(vol) - slices)
            mag = vol[a:a + slices]
            if i % 2:
                mag = mag[:, :, ::-1]  # left-right flip: another "subject"
            write_volume(root / split / f"vol{i:03d}.h5", np.ascontiguousarray(mag), rng, f"scale-{split}-{i}")


def bench_memory(work: Path, n: int = 50, slices: int = 16, size: int = 320) -> dict:
    data = work / "fifty"
    if not (data / "train" / f"vol{n - 1:03d}.h5").exists():
        t = time.perf_counter()
        build_volumes(data, n, slices, size)
        print(f"built {n} volumes in {time.perf_counter() - t:.0f}s", flush=True)
    disk = sum(f.stat().st_size for f in (data / "train").glob("*.h5"))

    def sample(proc):
        h5 = sum(1 for f in proc.open_files() if f.path.endswith(".h5"))
        return proc.memory_info().rss, h5

    run = work / "memory-retrain"
    wall, samples = cli("retrain", "--genotype", GENOTYPE, "--config", "demo", "--data", data, "--epochs", 1,
                        "--out", run, "--force", "--no-progress", sample=sample)
    log = (run / "log.txt").read_text()
    start = first_steps(run / "log.txt")[0]
    epoch = json.loads((run / "train_history.json").read_text())[0]["seconds"]
    during = [(t, rss, h) for t, rss, h in samples if start <= t <= start + epoch]
    quarter = max(1, len(during) // 4)
    mib = lambda b: b / 2**20  # noqa: E731
    res = {
        "volumes": n, "slices_per_volume": slices, "image": f"{size}x{size}", "kspace_GB_on_disk": disk / 2**30,
        "training_samples": int(re.search(r"(\d+) training samples", log).group(1)),
        "epoch_s": epoch, "wall_s": wall,
        "peak_rss_MiB": mib(max(r for _, r, _ in samples)),
        "rss_first_quarter_MiB": mib(statistics.median(r for _, r, _ in during[:quarter])),
        "rss_last_quarter_MiB": mib(statistics.median(r for _, r, _ in during[-quarter:])),
        "max_open_h5": max(h for _, _, h in samples),
        "samples": [(round(t, 2), round(mib(r), 1), h) for t, r, h in samples],
    }
    print(f"memory: peak {res['peak_rss_MiB']:.0f} MiB, first quarter {res['rss_first_quarter_MiB']:.0f}, "
          f"last quarter {res['rss_last_quarter_MiB']:.0f}, max open .h5 {res['max_open_h5']}", flush=True)
    plot_memory(res, RESULTS / "scale_memory.png", start, epoch)
    return res


def plot_memory(res: dict, path: Path, start: float, epoch: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] for s in res["samples"]]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(t, [s[1] for s in res["samples"]], lw=1)
    ax.axvspan(start, start + epoch, color="0.9", label="training epoch")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_ylim(0, None)
    ax.set_title(f"retrain, one epoch over {res['volumes']} volumes ({res['kspace_GB_on_disk']:.1f} GB k-space)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ------------------------------------------------------------------ report
def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Markdown table lines, then a blank line."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows] + [""]


def report(res: dict) -> str:
    lines = ["# Scale and reliability measurements", "",
             "Made by `python benchmarks/scale.py` on this machine (2 CPU cores); see the script's docstring.", ""]
    if "resume" in res:
        lines += ["## Time to resume (demo config)", ""] + md_table(
            ["command", "fresh start -> first step", "--resume -> first step", "checkpoint"],
            [[k, f"{v['fresh_start_to_first_step_s']:.1f} s", f"{v['resume_to_first_step_s']:.1f} s",
              f"{v['checkpoint_MB']:.1f} MB"] for k, v in res["resume"].items()])
    if "ddp" in res:
        lines += ["## DDP: 2 processes vs 1 (gloo, same global batch)", ""] + md_table(
            ["workload", "1 process", "2 processes", "speed-up"],
            [[k, f"{v['median_1proc']:.2f} s/step", f"{v['median_2proc']:.2f} s/step", f"{v['speedup']:.2f}x"]
             for k, v in res["ddp"].items()])
        lines += ["Medians over the repeats; each figure is the last epoch's time over its steps.", ""]
    if "memory" in res:
        m = res["memory"]
        lines += ["## Memory over one epoch of a 50-volume directory", "",
                  f"{m['volumes']} volumes x {m['slices_per_volume']} slices ({m['training_samples']} samples), "
                  f"{m['image']} images, {m['kspace_GB_on_disk']:.2f} GB of k-space on disk; retrain, demo model, "
                  f"batch 4, one epoch of {m['epoch_s']:.0f} s.", ""]
        lines += md_table(["peak RSS", "median RSS, first quarter of the epoch", "last quarter", "open .h5 handles (max)"],
                          [[f"{m['peak_rss_MiB']:.0f} MiB", f"{m['rss_first_quarter_MiB']:.0f} MiB",
                            f"{m['rss_last_quarter_MiB']:.0f} MiB", str(m["max_open_h5"])]])
        lines += ["![memory](scale_memory.png)", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["resume", "ddp", "memory"], action="append")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    args = ap.parse_args()
    parts = args.only or ["resume", "ddp", "memory"]
    work = Path(args.work or tempfile.mkdtemp(prefix="nasengine-scale-"))
    path = RESULTS / "scale.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    for part in parts:
        res[part] = {"resume": lambda: bench_resume(work), "ddp": lambda: bench_ddp(work, args.repeats),
                     "memory": lambda: bench_memory(work)}[part]()
        from nas_engine.files import write_json, write_text

        write_json(path, res)
        write_text(RESULTS / "scale.md", report(res))
    print(report(res))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
