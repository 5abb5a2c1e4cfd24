"""The report of ``nasengine benchmark random``: the searched cell inside the distribution of random cells."""

from __future__ import annotations

import numpy as np

from ..drawing import save_figure
from .report import _fmt_cmp, _mean_row, compare, table_lines
from .rescore import write_report_md


def random_verdict(randoms: list[dict], searched: dict) -> list[str]:
    psnr = np.array([r["psnr"] for r in randoms])
    below = int((psnr < searched["psnr"]).sum())
    best = max(randoms, key=lambda r: r["psnr"])
    lines = ["## Verdict", "",
             f"{len(randoms)} random cells: PSNR {psnr.mean():.2f} ± {psnr.std(ddof=1) if len(psnr) > 1 else 0:.2f} "
             f"dB (mean ± std over cells), median {np.median(psnr):.2f}, best {best['method']} {best['psnr']:.2f}. "
             f"The searched cell ({searched['seeds']} seed{'s' if searched['seeds'] != 1 else ''}) has {searched['psnr']:.2f} dB: above {below} of "
             f"{len(randoms)} random cells.", ""]
    seeds = sorted(searched["_per_seed"])
    c = compare(searched, _mean_row(randoms, "the mean random cell", seeds))
    if c:
        lines.append(f"- Against the average random cell: {_fmt_cmp(c)}.")
    c_best = compare(searched, _mean_row([best], best["method"], seeds))
    if c_best:
        lines.append(f"- Against the best random cell (random search with {len(randoms)} samples, picked on the "
                     f"test split, so favourable to random): {_fmt_cmp(c_best)}.")
    lines += _unmatched_seeds(randoms, searched)
    beats_mean = c is not None and c["ci95"][0] > 0
    lines += ["", "**Does the search beat random sampling here?** "
              + ("yes: the searched cell is better than the average random cell, with a paired interval above 0"
                 if beats_mean else
                 "no: the searched cell is not distinguishable from (or worse than) the average random cell")
              + f"; it is {'' if searched['psnr'] > best['psnr'] else 'not '}above the best of the "
              f"{len(randoms)} random cells."]
    return lines


def _unmatched_seeds(randoms: list[dict], searched: dict) -> list[str]:
    """When the searched cell has training seeds the random cells lack, the comparisons above
    carry that seed's luck (one seed can lift every row by a few tenths of a dB): say so, and
    give the comparison on the seeds both have."""
    mine = set(searched["_per_seed"])
    theirs = set.intersection(*(set(r["_per_seed"]) for r in randoms))
    if mine <= theirs:
        return []
    both = sorted(mine & theirs)
    out = [f"- Caveat: the random cells were trained with seed{'s' if len(theirs) != 1 else ''} "
           f"{', '.join(map(str, sorted(theirs)))} only, the searched cell with "
           f"{', '.join(map(str, sorted(mine)))}: the comparisons above include training-seed luck that the "
           f"random cells do not share (rerun `benchmark random` with `--other-seeds {len(mine)}` to pair it out)."]
    if both:
        def on_both(r: dict, name: str) -> dict:
            return {**r, "method": name, "_per_seed": {k: r["_per_seed"][k] for k in both}}

        one = on_both(searched, searched["method"] + f" (seed{'s' if len(both) > 1 else ''} {', '.join(map(str, both))})")
        c = compare(one, _mean_row([on_both(r, r["method"]) for r in randoms], "the mean random cell", both))
        if c:
            out.append(f"- On the seeds both have: {_fmt_cmp(c)}.")
    return out


def draw_random(randoms: list[dict], searched: dict) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.0, 4.0), gridspec_kw={"width_ratios": [1, 1.6]})
    psnr = [r["psnr"] for r in randoms]
    rng = np.random.RandomState(0)
    ax.boxplot([psnr], positions=[0], widths=0.5, showfliers=False)
    ax.scatter(rng.uniform(-0.15, 0.15, len(psnr)), psnr, c="0.4", s=22, zorder=3, label="random cells")
    ax.errorbar([0.45], [searched["psnr"]], yerr=[searched.get("psnr_std") or 0], fmt="*", c="C3", ms=14,
                capsize=4, zorder=4, label=f"searched ({searched['seeds']} seeds)")
    ax.set_xticks([])
    ax.set_xlim(-0.5, 0.8)
    ax.set_ylabel("PSNR (dB), test split")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title("searched cell among random cells", fontsize=9)
    for r in randoms:
        if r["params"]:
            bx.scatter(r["params"] / 1e3, r["psnr"], c="0.4", s=22)
            bx.annotate("r" + r["method"].rpartition("-")[2], (r["params"] / 1e3, r["psnr"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 2))
    if searched["params"]:
        bx.scatter(searched["params"] / 1e3, searched["psnr"], marker="*", c="C3", s=160, zorder=4)
    bx.set_xlabel("parameters (K)")
    bx.set_ylabel("PSNR (dB)")
    bx.grid(alpha=0.3)
    bx.set_title("PSNR against size", fontsize=9)
    fig.tight_layout()
    return fig


def write_random_report(randoms: list[dict], searched: dict, plan, command: str, ops: list[str] | None = None) -> None:
    out = plan.out
    save_figure(draw_random(randoms, searched), out / "random.png")
    which = f"the ops {', '.join(f'`{o}`' for o in ops)} alone" if ops else "ops other than `none`"
    lines = [f"# Random architectures{' of ' + '+'.join(ops) if ops else ''} against the searched cell", "",
             f"Made by `{command}` (preset `{plan.preset}`). Each random cell is drawn uniformly from the space "
             f"(same nodes, two distinct inputs per node, {which}) and retrained exactly like the "
             "searched cell (same config, epochs, data, schedule); the searched cell is searched and retrained "
             "with the same preset. Metrics as in table1 (mean over seeds ± std over seeds).", ""]
    lines += table_lines(randoms + [searched]) + [""] + random_verdict(randoms, searched)
    lines += ["", "The cells: `<entry>/seed<S>/genotype.json` next to this report."]
    lines += ["", "![random](random.png)"]
    write_report_md(out, lines)  # with benchmark rescore's tables, kept across rebuilds

