"""``nasengine benchmark table1|table2|table3``: the paper's experiments on any data, resumable.

Each entry of a table gets its own folder under ``--out``; an entry whose
``results.json`` exists is not run again, and a half-finished search or
retraining is resumed from its checkpoint. The report (``report.md``), a CSV and
the figures are rebuilt from the results every time.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .io import write_text


@dataclass(frozen=True)
class Entry:
    name: str  # row label, matches the task's paper tables
    kind: str  # "method" (non-learned), "baseline" (retrain --method), "nas" (search + retrain)
    method: str = ""
    space: str = "A"
    nodes: int = 3

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "_").replace("-", "_")


NAS_A3 = Entry("NAS A 3n", "nas", space="A", nodes=3)
TABLES = {
    "table1": [Entry("Zero-filled", "method", "zero-filled"), Entry("TV", "method", "tv")]
    + [Entry(n, "baseline", m) for n, m in (("U-Net", "unet"), ("DCCNN-3", "dccnn-3"), ("DCCNN-11", "dccnn-11"),
                                             ("MoDL-3", "modl-3"), ("MoDL-11", "modl-11"), ("RDN-3", "rdn-3"),
                                             ("RDN-8", "rdn-8"))]
    + [NAS_A3],
    "table2": [Entry("NAS A 2n", "nas", nodes=2), NAS_A3, Entry("NAS A 4n", "nas", nodes=4)],
    "table3": [NAS_A3, Entry("NAS B 3n", "nas", space="B", nodes=3)],
}


def _run(argv: list[str], own_process: bool = False) -> None:
    """One step, in this process, or in a process of its own (DDP re-runs the command line of the
    process it starts from, so a multi-process step must be that process's whole command)."""
    print(f"  $ nasengine {' '.join(argv)}", flush=True)
    if own_process:
        import subprocess
        import sys

        rc = subprocess.run([sys.executable, "-m", "nas_engine.cli", *argv]).returncode
    else:
        from .cli import main

        rc = main(argv)
    if rc != 0:
        raise UserError(f"benchmark step failed: nasengine {' '.join(argv)}")


def run_entry(e: Entry, folder: Path, common: list[str], compute: list[str] = ()) -> dict:
    """Run one entry (skipping finished steps); return its results dict. ``compute`` (e.g.
    ``--devices 2``) goes to the training steps, which then run in processes of their own."""
    compute = list(compute)
    res = folder / "results.json"
    if res.is_file():
        print(f"[{e.name}] done already ({res})", flush=True)
        return json.loads(res.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    print(f"[{e.name}] running", flush=True)
    recons = folder / "recons"
    if recons.exists():
        shutil.rmtree(recons)  # partial output of an interrupted evaluation: ours to redo
    tmp = folder / ".results.json.partial"
    if tmp.exists():
        tmp.unlink()
    if e.kind == "method":
        _run(["evaluate", "--method", e.method, "--out", str(tmp), "--save-recons", str(recons)] + common)
    else:
        run_dir = folder / "retrain"
        if e.kind == "nas":
            search = folder / "search"
            if not (search / "cell.png").is_file():
                resume = ["--resume"] if search.exists() else []
                _run(["search", "--space", e.space, "--set", f"model.nodes={e.nodes}", "--out", str(search)]
                     + resume + common + compute, own_process=bool(compute))
            src = ["--genotype", str(search / "genotype.json")]
        else:
            src = ["--method", e.method]
        if not (run_dir / "model.pt").is_file():
            resume = ["--resume"] if run_dir.exists() else []
            _run(["retrain"] + src + ["--out", str(run_dir)] + resume + common + compute, own_process=bool(compute))
        data = common[common.index("--data"): common.index("--data") + 2] if "--data" in common else []
        _run(["evaluate", "--checkpoint", str(run_dir), "--out", str(tmp), "--save-recons", str(recons),
              "--no-progress"] + data)
    tmp.rename(res)
    return json.loads(res.read_text())


def complexity_of(e: Entry, folder: Path, task, size: int) -> dict:
    """FLOPs/params (one input of ``size``, modules only) and CPU latency of the network as trained."""
    if e.kind == "method":
        return {}
    from .benchmark import complexity_rows
    from .config import build_config, load_yaml

    cfg = build_config(load_yaml(folder / "retrain" / "config.yaml"))
    t = type(task)(cfg.data, data=cfg.data_path, seed=cfg.seed)  # the run's own task options (cascades, ...)
    if e.kind == "baseline":
        rows = complexity_rows(t, cfg, {e.name: e.method}, [], size, progress=lambda *_: None)
    else:
        rows = complexity_rows(t, cfg, {}, [folder / "retrain" / "genotype.json"], size, progress=lambda *_: None)
    r = rows[0]
    return {"flops": r["flops"], "params": r["params"], "latency_s": r.get("latency_s")}


def _ms(m: dict, key: str, scale: float = 1.0, fmt: str = ".2f") -> str:
    return f"{m[key]['mean'] * scale:{fmt}} ± {m[key]['std'] * scale:{fmt}}"


def write_report(which: str, entries: list[Entry], results: dict, cplx: dict, out: Path, task, command: str,
                 work: Path) -> None:
    paper1 = getattr(task, "paper_table1", {})
    paper23 = getattr(task, "paper_table23", {})
    rows = []
    for e in entries:
        r = results[e.name]
        o, acc = r["overall"], r.get("by_acceleration", {})
        c = cplx.get(e.name, {})
        rows.append({
            "method": e.name,
            "mse": o["mse"]["mean"], "mse_std": o["mse"]["std"], "nmse": o["nmse"]["mean"], "nmse_std": o["nmse"]["std"],
            "psnr": o["psnr"]["mean"], "psnr_std": o["psnr"]["std"], "ssim": o["ssim"]["mean"], "ssim_std": o["ssim"]["std"],
            **{f"{k}_{a}x": acc[a][k]["mean"] for a in acc for k in ("psnr", "ssim")},
            "flops": c.get("flops"), "params": c.get("params"), "latency_s": c.get("latency_s"),
            "paper_psnr": (paper1.get(e.name) or (None, None, None))[2] if e.name in paper1 else
            (paper23.get(e.name) or (None,))[0],
        })
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list({k: None for r in rows for k in r}))
    w.writeheader()
    w.writerows(rows)
    write_text(out / f"{which}.csv", buf.getvalue())

    def g(x):
        return "-" if x is None else f"{x / 1e9:.2f}G"

    def k(x):
        return "-" if x is None else f"{x / 1e3:.1f}K"

    def lat(x):
        return "-" if x is None else f"{x:.2f} s"

    accs = sorted({a for e in entries for a in results[e.name].get("by_acceleration", {})}, key=float)
    lines = [f"# {which}: {', '.join(e.name for e in entries)}", "",
             f"Made by `{command}`. Test split, metrics per volume (fastMRI definitions) then mean ± std over "
             f"volumes; all accelerations mixed as in the paper, and per acceleration. FLOPs/params: the "
             f"reconstruction modules as trained, all cascades, one {task.in_channels}x320x320 input (ptflops); "
             "latency: the whole network on one 320x320 slice on this CPU.", "",
             "| method | MSE | NMSE | PSNR | SSIM | " + " | ".join(f"PSNR {a}x | SSIM {a}x" for a in accs)
             + " | FLOPs | params | latency | paper PSNR |",
             "|---" * (9 + 2 * len(accs)) + "|"]
    for e, row in zip(entries, rows):
        r = results[e.name]
        per = " | ".join(f"{row.get(f'psnr_{a}x', float('nan')):.2f} | {row.get(f'ssim_{a}x', float('nan')):.4f}"
                         for a in accs)
        lines.append(
            f"| {e.name} | {_ms(r['overall'], 'mse', 1, '.3g')} | {_ms(r['overall'], 'nmse', 1, '.4f')} | "
            f"{_ms(r['overall'], 'psnr')} | {_ms(r['overall'], 'ssim', 1, '.4f')} | {per} | {g(row['flops'])} | "
            f"{k(row['params'])} | {lat(row['latency_s'])} | "
            f"{'-' if row['paper_psnr'] is None else row['paper_psnr']} |")
    lines += ["", verdict(rows), ""]
    figs = draw_figures(which, entries, rows, out, task, work)
    lines += [f"![{f.parent.name if f.name == 'cell.png' else f.stem}]({f.relative_to(out)})" for f in figs]
    write_text(out / "report.md", "\n".join(lines) + "\n")


def verdict(rows: list[dict]) -> str:
    """The paper's claim, checked: NAS >= best hand-made PSNR at <= 1/4 of its FLOPs."""
    nas = [r for r in rows if r["method"].startswith("NAS") and r["flops"]]
    hand = [r for r in rows if not r["method"].startswith("NAS") and r["flops"]]
    if not nas or not hand:
        return ""
    best = max(hand, key=lambda r: r["psnr"])
    top = max(nas, key=lambda r: r["psnr"])
    ok = top["psnr"] >= best["psnr"] and top["flops"] <= best["flops"] / 4
    return (f"**Paper's claim on this run:** best hand-made network {best['method']} {best['psnr']:.2f} dB at "
            f"{best['flops'] / 1e9:.2f}G; best searched {top['method']} {top['psnr']:.2f} dB at "
            f"{top['flops'] / 1e9:.2f}G ({top['flops'] / best['flops']:.2f}x the FLOPs) -> "
            f"{'reproduced' if ok else 'not reproduced'} (needs >= its PSNR at <= 1/4 of its FLOPs).")


def draw_figures(which: str, entries: list[Entry], rows: list[dict], out: Path, task, work: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_write

    figs = []
    pts = [r for r in rows if r["flops"]]
    if pts:
        fig, ax = plt.subplots(figsize=(7.0, 4.6))
        seen: dict[float, int] = {}
        for r in sorted(pts, key=lambda r: -r["psnr"]):
            nas = r["method"].startswith("NAS")
            x = r["flops"] / 1e9
            ax.scatter(x, r["psnr"], s=90 if nas else 50, marker="*" if nas else "o", c="C3" if nas else "C0", zorder=3)
            k = seen.get(round(x, 1), 0)  # methods with the same FLOPs: stack their labels
            seen[round(x, 1)] = k + 1
            ax.annotate(r["method"], (x, r["psnr"]), textcoords="offset points", xytext=(6, 3 - 11 * k), fontsize=8)
        front, best = [], -1e9
        for r in sorted(pts, key=lambda r: r["flops"]):
            if r["psnr"] > best:
                front.append(r)
                best = r["psnr"]
        ax.plot([r["flops"] / 1e9 for r in front], [r["psnr"] for r in front], "--", c="0.5", lw=1, label="Pareto front")
        for r in rows:
            if not r["flops"]:
                ax.axhline(r["psnr"], ls=":", lw=1, c="0.3")
                ax.text(1.0, r["psnr"], f"{r['method']} ", transform=ax.get_yaxis_transform(), fontsize=8,
                        ha="right", va="bottom", c="0.3")
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("GFLOPs, one 320x320 input (log scale)")
        ax.set_ylabel("PSNR (dB), test split")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs.append(atomic_write(out / "psnr_vs_flops.png", lambda t: fig.savefig(t, dpi=120, format="png")))
        plt.close(fig)
    panel = getattr(task, "draw_panel", None)
    if panel is not None:
        fig = panel([(e.name, work / e.slug / "recons") for e in entries])
        if fig is not None:
            figs.append(atomic_write(out / "recon_panel.png", lambda t: fig.savefig(t, dpi=110, format="png")))
            plt.close(fig)
    figs += [out / e.slug / "cell.png" for e in entries if (out / e.slug / "cell.png").is_file()]
    return figs


def run_table(which: str, task, common: list[str], out: Path, work: Path, command: str,
              compute: list[str] = ()) -> Path:
    """Run (or resume) every entry of ``which`` under ``work``, then write the report into ``out``."""
    from .io import write_json

    if which not in TABLES:
        raise UserError(f"unknown table {which!r}; choose {', '.join(TABLES)}")
    entries = TABLES[which]
    out.mkdir(parents=True, exist_ok=True)
    results, cplx = {}, {}
    for i, e in enumerate(entries, 1):
        print(f"\n=== {which} {i}/{len(entries)}: {e.name}", flush=True)
        folder = work / e.slug
        results[e.name] = run_entry(e, folder, common, compute)
        write_json(out / e.slug / "results.json", results[e.name])
        if e.kind != "method":
            cf = folder / "complexity.json"
            if not cf.is_file():
                write_json(cf, complexity_of(e, folder, task, 320))
            cplx[e.name] = json.loads(cf.read_text())
            if e.kind == "nas":
                shutil.copyfile(folder / "search" / "genotype.json", out / e.slug / "genotype.json")
                shutil.copyfile(folder / "search" / "cell.png", out / e.slug / "cell.png")
    write_report(which, entries, results, cplx, out, task, command, work)
    return out / "report.md"
