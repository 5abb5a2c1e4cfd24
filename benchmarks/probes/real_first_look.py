"""First look at measured k-space: does a network trained on the embedded data beat zero-filled on real scans?

Trains DCCNN-3 at the demo preset twice on the embedded data (as is, and with `data.noise` at the measured
levels), then scores zero-filled, TV (lambda/iterations chosen on the embedded validation split in table1)
and both networks on the real test set (`nasengine data build --real`, single-coil ESC) at 4x and 8x, per
file, and on the same files at half resolution (the centre half of k-space in each direction: the pixel
size of the training data). Resumable: finished runs and scores in --work are reused.

    python benchmarks/probes/real_first_look.py [--work runs/real_first_look]

Writes benchmarks/results/real/first_look.json and first_look.md. The real files are read only here, by
final scoring: nothing is chosen on them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "real"
NETS = {"DCCNN-3 (embedded data as is)": [], "DCCNN-3 + data.noise [0.01, 0.08]": ["--set", "data.noise=[0.01,0.08]"]}
TV = ["--set", "data.tv_lambda=0.03", "--set", "data.tv_iters=200"]  # table1's choice on validation


def nasengine(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "nas_engine.app.cli", *args], check=True, cwd=ROOT)


def half_resolution(src: Path, dst: Path) -> Path:
    """The same files with k-space cropped to its centre half in each direction (same field of view)."""
    (dst / "test").mkdir(parents=True, exist_ok=True)
    ax = (-2, -1)
    for p in sorted((src / "test").glob("*.h5")):
        with h5py.File(p) as f:
            k = f["kspace"][()]
        h, w = k.shape[-2] // 2, k.shape[-1] // 2
        t, left = (k.shape[-2] - h) // 2, (k.shape[-1] - w) // 2
        kc = k[..., t:t + h, left:left + w]
        img = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kc, axes=ax), axes=ax, norm="ortho"), axes=ax)
        with h5py.File(dst / "test" / p.name, "w") as f:
            f["kspace"] = kc.astype(np.complex64)
            f["reconstruction_esc"] = np.abs(img).astype(np.float32)
    return dst


def section_lines(label: str, by_acc: dict, files: list[str]) -> list[str]:
    """One set's table: a row per (acceleration, method), PSNR per file (the embedded test split: overall)."""
    whole = label == "embedded test"
    cols = ["all"] if whole else files
    lines = [f"## {label}", "", "| acc | row | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for acc in ("4", "8"):
        for row, r in by_acc[acc].items():
            cells = [f"{r['psnr']:.2f}"] if whole else [f"{r['per_file'].get(f, float('nan')):.2f}" for f in files]
            lines.append(f"| {acc}x | {row} | " + " | ".join(cells) + " |")
    return lines + [""]


def noise_over_peak(folder: Path) -> dict[str, float]:
    """Per file, the background noise std over the target's peak: the mean magnitude of the four 12x12 corners
    (Rayleigh: mean = sigma sqrt(pi/2)) over the largest target value, the median over slices."""
    out = {}
    for p in sorted((folder / "test").glob("*.h5")):
        with h5py.File(p) as f:
            t = f["reconstruction_esc"][()]
        corners = np.concatenate([t[:, :12, :12], t[:, :12, -12:], t[:, -12:, :12], t[:, -12:, -12:]], axis=1)
        sigma = corners.reshape(len(t), -1).mean(1) / np.sqrt(np.pi / 2)
        out[p.name] = float(np.median(sigma / t.max((1, 2))))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=str(ROOT / "runs" / "real_first_look"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    from tasks.csmri.realdata import real_root

    real = real_root(build=True) / "singlecoil"
    sets = {"full": real, "half resolution": half_resolution(real, work / "half")}
    runs = {}
    cpu = {}
    for i, (name, sets_) in enumerate(NETS.items()):
        run = work / f"net{i}"
        if not (run / "model.pt").is_file():
            t0 = time.process_time()
            nasengine("retrain", "--method", "dccnn-3", "--config", "demo", *sets_, "--out", str(run), "--no-progress",
                      *(["--resume"] if run.exists() else []))
            cpu[name] = time.process_time() - t0
        runs[name] = run
    rows = {"zero-filled": ["--method", "zero-filled"], "TV": ["--method", "tv", *TV]}
    rows.update({n: ["--checkpoint", str(r)] for n, r in runs.items()})
    results: dict = {}
    for label, data in list(sets.items()) + [("embedded test", None)]:
        for acc in ("4", "8"):
            for row, args in rows.items():
                out = work / "scores" / f"{label.replace(' ', '_')}-{acc}-{row.split(' ')[0]}{row.count('noise')}.json"
                if not out.is_file():
                    extra = ["--data", str(data)] if data else []
                    if data is None and args[0] == "--method":
                        extra = ["--config", "demo"]
                    nasengine("evaluate", *args, *extra, "--accelerations", acc, "--out", str(out), "--no-progress",
                              "--seed", "0")
                r = json.loads(out.read_text())
                results.setdefault(label, {}).setdefault(acc, {})[row] = {
                    "psnr": r["overall"]["psnr"]["mean"], "ssim": r["overall"]["ssim"]["mean"],
                    "per_file": {v["file"]: round(v["psnr"], 3) for v in r["per_volume"]}}
    from tasks.csmri.embedded import ensure_embedded

    noise = {**noise_over_peak(real), **noise_over_peak(ensure_embedded(96))}
    results["noise_over_peak"] = noise
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "first_look.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["# First look at measured k-space", "",
             "DCCNN-3 trained at the demo preset on the embedded data (Colin27), with and without training noise at the "
             "measured levels (`data.noise`), against zero-filled and TV, on the real test set (`nasengine data build "
             "--real`, single-coil ESC: an in-vivo brain at 10 flip angles and a phantom) and on the embedded test split. "
             "PSNR (dB) per file; made by `python benchmarks/probes/real_first_look.py`.", ""]
    files = sorted(next(iter(results["full"]["4"].values()))["per_file"])
    lines += ["Background noise std over the peak (median over slices): "
              + ", ".join(f"{k} {v:.4f}" for k, v in noise.items()) + ".", ""]
    for label in [k for k in results if k != "noise_over_peak"]:
        lines += section_lines(label, results[label], files)
    (OUT / "first_look.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
