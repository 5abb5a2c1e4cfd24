"""``nasengine benchmark space``'s report: how far a space's architectures spread against seed noise
(one-way ANOVA over architectures with seeds as replicates, the intraclass correlation), which
choices move the metric, and the metric against FLOPs with the empirical Pareto front."""

from __future__ import annotations

import json

import numpy as np

from ..drawing import save_figure
from ..files import write_text
from .report import short_cell, table_lines
from .rescore import write_report_md

SPREAD_GOAL = 3.0  # a space worth searching: architectures differ by >= 3x the seed sd
TAU_GOAL = 0.5  # a supernet that ranks the space: Kendall tau >= 0.5 against the stand-alone results
TOP = 0.1  # a search that wins: its architecture in the top 10% of the samples


def seed_values(row: dict, metric: str = "psnr") -> list[float]:
    """The row's metric per seed (each seed's mean over test volumes), in seed order."""
    return [r["overall"][metric]["mean"] for _, r in sorted(row["_per_seed"].items())]


def spread(groups: list[list[float]]) -> dict | None:
    """One-way random-effects ANOVA of ``groups`` (an architecture's values over seeds each; groups
    with fewer than 2 values are left out). ``between_sd``: the sd of the architectures' means;
    ``seed_sd``: the pooled within-architecture sd (seed noise, sqrt of MSW); ``arch_sd``: the
    architecture component with the seed noise taken out, sqrt((MSB - MSW) / k0), 0 when negative;
    ``icc``: its share of the total variance, ICC(1); ``F`` and ``p``: the F test of equal means."""
    from scipy import stats

    gs = [np.asarray(g, dtype=np.float64) for g in groups if len(g) >= 2]
    if len(gs) < 2:
        return None
    a, ns = len(gs), np.array([len(g) for g in gs], dtype=np.float64)
    n = ns.sum()
    grand = np.concatenate(gs).mean()
    means = np.array([g.mean() for g in gs])
    ssb = float((ns * (means - grand) ** 2).sum())
    ssw = float(sum(((g - g.mean()) ** 2).sum() for g in gs))
    msb, msw = ssb / (a - 1), ssw / (n - a)
    k0 = (n - (ns ** 2).sum() / n) / (a - 1)  # the group size of an unbalanced design
    var_arch = max(0.0, (msb - msw) / k0)
    f = msb / msw if msw > 0 else float("inf")
    p = float(stats.f.sf(f, a - 1, n - a)) if np.isfinite(f) else 0.0
    return {"archs": a, "values": int(n), "between_sd": float(means.std(ddof=1)), "seed_sd": float(np.sqrt(msw)),
            "arch_sd": float(np.sqrt(var_arch)), "icc": var_arch / (var_arch + msw) if var_arch + msw > 0 else 0.0,
            "F": float(f), "p": p, "df": (a - 1, int(n - a))}


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points ``(cost, value, name)`` that no other point beats with no more cost, by cost."""
    front, best = [], -np.inf
    for c, v, name in sorted(points, key=lambda t: (t[0], -t[1])):
        if v > best:
            front.append((c, v, name))
            best = v
    return front


def genotype_of(row: dict):
    from ..genotype import Genotype

    d = next(iter(row["_dirs"].values()))
    return Genotype.load(d / "genotype.json") if (d / "genotype.json").is_file() else None


def choice_lines(samples: list[dict], genos: list) -> list[str]:
    """Mean metric per value of each macro choice, and per count of each op in the cell (``genos``:
    the samples' genotypes, in order)."""
    if not genos or genos[0] is None:
        return []
    lines = ["| choice | value | architectures | mean PSNR | range |", "|---|---|---|---|---|"]

    def add(label, key_fn):
        groups: dict = {}
        for r, g in zip(samples, genos):
            groups.setdefault(key_fn(g), []).append(r["psnr"])
        if len(groups) < 2:
            return
        for value in sorted(groups, key=lambda v: (str(type(v)), v)):
            vals = groups[value]
            lines.append(f"| {label} | {value} | {len(vals)} | {np.mean(vals):.2f} | "
                         f"{min(vals):.2f} - {max(vals):.2f} |")

    for key, _ in genos[0].macro:
        add(key, lambda g, key=key: g.macro_dict[key])
    for op in [o for o in genos[0].ops if o != "none"]:
        add(f"edges with {op}", lambda g, op=op: sum(e.op == op for edges in g.cell for e in edges))
    return lines


def draw_space(samples: list[dict], others: list[dict], title: str, size: int = 320):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import flops_axis

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.0, 4.4), gridspec_kw={"width_ratios": [1.7, 1]})
    pts = [(r["flops"], r["psnr"], r["method"]) for r in samples if r.get("flops")]
    if pts:
        xs = [p[0] / 1e9 for p in pts]
        ax.errorbar(xs, [p[1] for p in pts], yerr=[r.get("psnr_std") or 0 for r in samples if r.get("flops")],
                    fmt="o", c="0.45", ms=5, capsize=2, lw=0.8, label="sampled architectures (mean ± sd over seeds)")
        front = pareto_front(pts)
        ax.step([f[0] / 1e9 for f in front], [f[1] for f in front], where="post", c="C0", lw=1.4,
                label="Pareto front of the samples")
        for c, v, name in front:
            ax.annotate(name.rpartition("-")[2], (c / 1e9, v), fontsize=7, textcoords="offset points", xytext=(3, 3))
    for k, r in enumerate(o for o in others if o.get("flops")):
        searched = r["method"].startswith("NAS")
        ax.errorbar([r["flops"] / 1e9], [r["psnr"]], yerr=[r.get("psnr_std") or 0],
                    fmt="*" if searched else "s", ms=13 if searched else 7, capsize=3,
                    c="C3" if searched else f"C{2 + k % 6}", label=f"{r['method']} ({r['seeds']} seed(s))")
    flops_axis(ax, [p[0] / 1e9 for p in pts] + [r["flops"] / 1e9 for r in others if r.get("flops")])
    ax.set_xlabel(f"FLOPs of the learned modules (G, one {size}x{size} input)")
    ax.set_ylabel("PSNR (dB), test split")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)
    vals = sorted(r["psnr"] for r in samples)
    bx.hist(vals, bins=max(5, len(vals) // 2), color="0.6", edgecolor="0.3")
    for r in others:
        if r["method"].startswith("NAS"):
            bx.axvline(r["psnr"], c="C3", lw=1.5, label=r["method"])
    bx.set_xlabel("PSNR (dB), mean over seeds")
    bx.set_ylabel("architectures")
    from matplotlib.ticker import MaxNLocator

    bx.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no fractional ticks
    bx.set_title("distribution of the sampled architectures", fontsize=9)
    bx.grid(alpha=0.3, axis="y")
    if any(r["method"].startswith("NAS") for r in others):
        bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def spread_lines(s: dict | None, samples: list[dict]) -> list[str]:
    if s is None:
        return ["Not enough architectures with two or more seeds yet to compare them with seed noise."]
    ratio = s["arch_sd"] / s["seed_sd"] if s["seed_sd"] > 0 else float("inf")
    vals = [r["psnr"] for r in samples]
    best, worst = max(samples, key=lambda r: r["psnr"]), min(samples, key=lambda r: r["psnr"])
    ok = ratio >= SPREAD_GOAL
    return [
        f"{len(samples)} architectures: PSNR {np.mean(vals):.2f} ± {np.std(vals, ddof=1) if len(vals) > 1 else 0:.2f} dB "
        f"(mean ± sd over architectures), median {np.median(vals):.2f}, best {best['method']} {best['psnr']:.2f}, "
        f"worst {worst['method']} {worst['psnr']:.2f} (range {best['psnr'] - worst['psnr']:.2f} dB).", "",
        f"- Over the {s['archs']} architectures with two or more seeds ({s['values']} trainings): sd of their means "
        f"{s['between_sd']:.3f} dB, seed sd (pooled within architectures) {s['seed_sd']:.3f} dB, architecture sd with "
        f"the seed noise taken out {s['arch_sd']:.3f} dB.",
        f"- One-way ANOVA: F({s['df'][0]}, {s['df'][1]}) = {s['F']:.1f}, p = {s['p']:.2g}; intraclass correlation "
        f"{s['icc']:.2f} (the share of the variance that is the architecture's).",
        f"- **Does the architecture matter here?** {'yes' if ok else 'not enough'}: the architecture sd is "
        f"{ratio:.1f}x the seed sd (the goal is >= {SPREAD_GOAL:g}x" + (")." if ok else
                                                                        "; a search cannot win where seeds decide)."),
    ]


def ranking(row: dict, samples: list[dict]) -> list[dict]:
    """Per kept seed of a searched row: Kendall tau and Spearman rho (with p-values) between the
    sampled architectures' scores inside that seed's supernet (lower loss = better) and their
    stand-alone PSNR (mean over seeds)."""
    from scipy import stats

    psnr = {r["method"]: r["psnr"] for r in samples}
    out = []
    for seed, d in sorted(row["_dirs"].items()):
        f = d / "supernet_scores.json"
        if not f.is_file():
            continue
        scores = json.loads(f.read_text())
        names = [n for n in scores if n in psnr]
        if len(names) < 3:
            continue
        a, b = [-scores[n] for n in names], [psnr[n] for n in names]
        tau, rho = stats.kendalltau(a, b), stats.spearmanr(a, b)
        out.append({"seed": seed, "n": len(names), "tau": float(tau.statistic), "tau_p": float(tau.pvalue),
                    "rho": float(rho.statistic), "rho_p": float(rho.pvalue)})
    return out


def scored_text(rk: list[dict]) -> str:
    """How many samples each seed's supernet scored: "20 samples", or "7-20 samples" when they differ (a
    supernet that no longer exists keeps the scores of the samples there were when it did)."""
    ns = sorted({x["n"] for x in rk})
    return f"{ns[0]} samples" if len(ns) == 1 else f"{ns[0]}-{ns[-1]} samples"


def rank_among(row: dict, samples: list[dict]) -> tuple[int, bool]:
    """``row``'s rank among ``samples`` by mean PSNR (1 = best), and whether it is in their top ``TOP``."""
    better = sum(x["psnr"] > row["psnr"] for x in samples)
    return better + 1, better <= int(np.floor(TOP * len(samples)))


def seed_flops(row: dict) -> list[float]:
    """The FLOPs of each kept seed's network (a search picks per seed), from its ``complexity.json``;
    the row's mean FLOPs alone where none is kept."""
    out = []
    for d in row.get("_dirs", {}).values():
        f = d / "complexity.json"
        if f.is_file():
            out.append(float(json.loads(f.read_text())["flops"]))
    return out or ([row["flops"]] if row.get("flops") else [])


def flops_text(r: dict, h: dict) -> str:
    """``r``'s FLOPs as a fraction of ``h``'s ("at 0.12x its FLOPs"), with the range over ``r``'s seeds
    where their networks differ; "(<= 1/4)" only when every seed's network is within a quarter."""
    mine = seed_flops(r)
    if not mine or not h.get("flops"):
        return ""
    fr = [f / h["flops"] for f in mine]
    spread = f"{min(fr):.2f}x-{max(fr):.2f}x over seeds" if max(fr) - min(fr) >= 0.005 else ""
    quarter = "<= 1/4" if max(fr) <= 0.25 else ""
    more = "; ".join(x for x in (spread, quarter) if x)
    return f"at {float(np.mean(fr)):.2f}x its FLOPs" + (f" ({more})" if more else "")


def interval_text(ci: tuple[float, float] | None) -> str:
    return f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else " (one seed on a side: no interval)"


def welch(a: list[float], b: list[float]) -> tuple[float, tuple[float, float] | None]:
    """Difference of means ``mean(a) - mean(b)`` and its 95% Welch interval (seeds as the units;
    None with fewer than two seeds on a side)."""
    from scipy import stats

    d = float(np.mean(a) - np.mean(b))
    if len(a) < 2 or len(b) < 2:
        return d, None
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0:
        return d, (d, d)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return d, (d - half, d + half)


def sample_comparison_lines(searched: list[dict], samples: list[dict]) -> list[str]:
    """Each searched row against the mean sampled architecture and against the best one as random search
    would pick it: by validation PSNR (never the test split), seeds as the units."""
    from scipy import stats

    if not samples:
        return []
    grand = float(np.mean([r["psnr"] for r in samples]))
    with_val = [r for r in samples if r.get("val_psnr") is not None]
    pick = max(with_val, key=lambda r: r["val_psnr"]) if with_val else None
    out = [f"Against the samples (their mean over architectures {grand:.2f} dB"
           + (f"; random search's pick, the sample with the best validation PSNR: {pick['method']}, val "
              f"{pick['val_psnr']:.2f}, test {pick['psnr']:.2f} dB" if pick else "") + "):", ""]
    for r in searched:
        mine = seed_values(r)
        d = float(np.mean(mine)) - grand
        if len(mine) > 1:
            half = float(stats.t.ppf(0.975, len(mine) - 1)) * float(np.std(mine, ddof=1)) / np.sqrt(len(mine))
            ivl = f" [{d - half:+.2f}, {d + half:+.2f}] over its {len(mine)} seeds"
        else:
            ivl = " (one seed: no interval)"
        out.append(f"- {r['method']} - the mean sample: {d:+.2f} dB{ivl}.")
        if pick is not None:
            dp, ci = welch(mine, seed_values(pick))
            ivl = interval_text(ci)
            out.append(f"- {r['method']} - {pick['method']} (picked on validation): {dp:+.2f} dB{ivl}.")
    return out + [""]


def searched_lines(searched: list[dict], samples: list[dict], hand: list[dict], settings: dict,
                   shares: dict | None = None, ranked_as: dict | None = None) -> list[str]:
    """Each searched row: its rank among the samples, the supernet's ranking quality, and the
    comparison with each hand-made network (at equal FLOPs and at <= 1/4 of theirs). ``shares``: the
    rows that chose in another row's supernet, and whose; ``ranked_as``: the rows that score no samples
    of their own, and the row whose ranking of the samples is theirs."""
    if not searched:
        return []
    shares, ranked_as = shares or {}, ranked_as or {}

    def where(r: dict) -> str:
        src = shares.get(r["method"])
        if not src:
            return ""
        same = ranked_as.get(r["method"])
        return f" (in {src}'s supernet" + (f"; its ranking of the samples is {same}'s" if same else "") + ")"

    how = [f"- {r['method']}: `{' '.join(settings[r['method']])}`{where(r)}" for r in searched
           if settings.get(r["method"])]
    lines = ["## The searched architectures", ""]
    if how:
        lines += ["Search options beyond the preset:", ""] + how + [""]
    lines += ["Rank: among the sampled architectures by mean PSNR over seeds (1 = best). Ranking quality: Kendall "
              "tau and Spearman rho between each sampled architecture's loss inside the seed's trained supernet "
              "(negated) and its stand-alone PSNR, one value per seed (p-value; samples scored); 1 = the supernet "
              "orders the space as retraining does, 0 = no better than chance. A seed's supernet scores the samples "
              "kept while its search run exists (in `--work`): samples added after it is gone go unscored there.",
              "",
              "| row | seeds | PSNR | FLOPs | rank among samples | top 10%? | Kendall tau (p; samples) | Spearman rho (p; samples) |",
              "|---|---|---|---|---|---|---|---|"]
    n = len(samples)
    for r in searched:
        rank, top = rank_among(r, samples)
        rk = ranking(r, samples)
        same = f"as {ranked_as[r['method']]}" if r["method"] in ranked_as else "-"
        tau = "; ".join(f"{x['tau']:+.2f} ({x['tau_p']:.2g}; {x['n']})" for x in rk) or same
        rho = "; ".join(f"{x['rho']:+.2f} ({x['rho_p']:.2g}; {x['n']})" for x in rk) or same
        g = f"{r['flops'] / 1e9:.2f}G" if r.get("flops") else "-"
        lines.append(f"| {r['method']} | {r['seeds']} | {r['psnr']:.2f} ± {r.get('psnr_std') or 0:.2f} | {g} | "
                     f"{rank} of {n + 1} | {'yes' if top else 'no'} | {tau} | {rho} |")
    lines += [""]
    lines += sample_comparison_lines(searched, samples)
    if hand:
        lines += ["Against the hand-made networks (seeds as the units: difference of the means over seeds, 95% "
                  "Welch interval; FLOPs as a fraction of theirs):", ""]
        for r in searched:
            mine = seed_values(r)
            for h in hand:
                d, ci = welch(mine, seed_values(h))
                where = flops_text(r, h)
                where = f", {where}" if where else ""
                ivl = interval_text(ci)
                lines.append(f"- {r['method']} - {h['method']} ({h['seeds']} seed(s)): {d:+.2f} dB{ivl}{where}.")
        lines += [""]
    return lines


def cost_line(samples: list[dict], searched: list[dict], hand: list[dict]) -> str:
    """What the kept trainings cost: process CPU hours (every resume summed) where every seed of a row kept
    them, else wall-clock hours of the machine that ran it, said as such; all, and by part (a row that chose
    in another row's supernet counts its own scoring and retraining only)."""
    rows = samples + searched + hand
    cpu = all(r.get("cpu_seconds") is not None for r in rows)
    key = "cpu_seconds" if cpu else "seconds"

    def hours(part: list[dict]) -> str:
        h = sum(r[key] * r["seeds"] for r in part if r.get(key)) / 3600
        return f"{h:.1f} h" if h >= 0.1 else f"{h * 60:.1f} min"  # a tiny run is minutes, not "0.0 hours"

    parts = [f"the {len(samples)} samples {hours(samples)}"] + [f"{r['method']} {hours([r])}" for r in searched]
    if hand:
        parts.append(f"the hand-made rows {hours(hand)}")
    what = "of process CPU time (every resume summed)" if cpu else \
        "of wall clock (the last call of a resumed run; not every kept seed has its CPU time)"
    return f"Cost of the kept trainings of this report: {hours(rows)} {what} in all ({', '.join(parts)})."


def repeat_lines(searched: list[dict], samples: list[dict]) -> list[str]:
    """Searched seeds that are not new architectures: a network that is one of the samples (the search drew
    it; its number is that sample's training), or the same network as an earlier searched row's at the same
    seed (one training shown twice). A report says so next to its verdict; nothing is left unlabelled."""
    def key(d) -> str | None:
        f = d / "genotype.json"
        return json.dumps(json.loads(f.read_text()), sort_keys=True) if f.is_file() else None

    sample_of: dict[str, str] = {}
    for r in samples:
        for d in r.get("_dirs", {}).values():
            k = key(d)
            if k is not None:
                sample_of.setdefault(k, r["method"])
    seen: dict[tuple[int, str], str] = {}
    lines = []
    for r in searched:
        for seed, d in sorted(r.get("_dirs", {}).items()):
            k = key(d)
            if k is None:
                continue
            if k in sample_of:
                lines.append(f"- {r['method']} seed {seed} is {sample_of[k]} (the same genotype): the search picked a "
                             "sampled architecture; its number is that architecture's training, not a new one.")
            if (seed, k) in seen:
                lines.append(f"- {r['method']} seed {seed} is the same network as {seen[seed, k]} seed {seed}: one "
                             "result shown in two rows, not a second one.")
            else:
                seen[seed, k] = r["method"]
    return ["## Repeats", ""] + lines + [""] if lines else []


def reference_lines(reference: dict | None, samples: list[dict], searched: list[dict], s: dict | None) -> list[str]:
    """The task's non-learned reference method against the learned rows: how many samples are above it
    by more than twice the seed sd; none at all means the networks learned nothing at this preset, and every
    verdict below is about noise."""
    if reference is None or not samples:
        return []
    margin = 2 * (s["seed_sd"] if s else 0.0)
    above = [r for r in samples if r["psnr"] > reference["psnr"] + margin]
    best = max(samples + searched, key=lambda r: r["psnr"])
    lines = [f"Reference: {reference['method']} {reference['psnr']:.2f} dB (non-learned). {len(above)} of "
             f"{len(samples)} samples are above it by more than twice the seed sd ({margin:.3f} dB); the best learned "
             f"row, {best['method']}, by {best['psnr'] - reference['psnr']:+.2f} dB."]
    if not above and best["psnr"] <= reference["psnr"] + margin:
        lines.append(f"**No learned row beats {reference['method']} here: the networks learned nothing at this "
                     "preset, and the verdict below compares noise.**")
    return lines + [""]


def verdict_lines(searched: list[dict], samples: list[dict], hand: list[dict], s: dict | None) -> list[str]:
    """The benchmark's answers in a few lines, computed from the kept numbers: does the architecture
    matter, does any supernet rank the space (mean Kendall tau over its seeds), does each search land
    in the top 10% of the samples, and each searched row against the best hand-made network (the
    one with the best mean PSNR over its seeds), seeds as the units, with its FLOPs fraction."""
    if not searched or not samples:
        return []
    lines = ["## Verdict", ""]
    if s is not None:
        ratio = s["arch_sd"] / s["seed_sd"] if s["seed_sd"] > 0 else float("inf")
        lines.append(f"- Spread: architecture sd {s['arch_sd']:.2f} dB against a seed sd of {s['seed_sd']:.3f} "
                     f"({ratio:.1f}x, goal {SPREAD_GOAL:g}x) over {s['archs']} architectures.")
    ranked = {r["method"]: ranking(r, samples) for r in searched}
    taus = {k: [x["tau"] for x in v] for k, v in ranked.items() if v}
    if taus:
        best = max(taus, key=lambda k: np.mean(taus[k]))
        reach = [k for k, v in taus.items() if np.mean(v) >= TAU_GOAL]
        lines.append("- Ranking: mean Kendall tau over seeds " + ", ".join(
            f"{k} {np.mean(v):+.2f} ({len(v)} seed{'s' if len(v) > 1 else ''}, {scored_text(ranked[k])})"
            for k, v in taus.items()) + "; "
            + (f"{', '.join(reach)} reach{'es' if len(reach) == 1 else ''} {TAU_GOAL:g}." if reach else
               f"none reaches {TAU_GOAL:g} (the best: {best}, {np.mean(taus[best]):+.2f})."))
    n = len(samples)
    ranks = []
    for r in searched:
        rank, top = rank_among(r, samples)
        ranks.append(f"{r['method']} {r['psnr']:.2f} dB, rank {rank} of {n + 1}" + (" (top 10%)" if top else ""))
    lines.append(f"- Searched rows among the {n} samples (mean PSNR over seeds): " + "; ".join(ranks) + ".")
    if hand:
        top = max(hand, key=lambda h: h["psnr"])
        for r in searched:
            d, ci = welch(seed_values(r), seed_values(top))
            ivl = interval_text(ci)
            said = ("better" if ci and ci[0] > 0 else "worse" if ci and ci[1] < 0 else
                    "not distinguishable" if ci else "no interval")
            where = flops_text(r, top)
            where = f" {where}" if where else ""
            lines.append(f"- {r['method']} - {top['method']} ({top['seeds']} seed(s), the best hand-made row): "
                         f"{d:+.2f} dB{ivl}{where}: {said}.")
    return lines + [""]


def kept_from_text(earlier: list[str]) -> str:
    """The report's sentence on the searched rows kept from other calls: ``earlier`` holds their names
    without ``NAS <space> `` (``spos-sandwich``; a FLOPs-limited row ``spos-finetune <=ROW/4``)."""
    if not earlier:
        return ""
    many = len(earlier) > 1
    limits = [x.split(" <=", 1)[1] for x in earlier if " <=" in x]
    strategies = list(dict.fromkeys(x.split(" <=", 1)[0] for x in earlier))
    flags = f"`--search {','.join(strategies)}`" + (f" and `--flops-limits {','.join(limits)}`" if limits else "")
    return (f" The searched {'rows' if many else 'row'} {', '.join(earlier)} {'are' if many else 'is'} kept from "
            f"calls of the same command with {flags}.")


def write_space_report(rows: list[dict], space, plan, task, command: str, dropped: list[str],
                       settings: dict[str, tuple] | None = None, shares: dict[str, str] | None = None,
                       earlier: list[str] | None = None, ranked_as: dict[str, str] | None = None) -> dict | None:
    """``report.md``, ``space.png`` and ``spread.json`` in ``plan.out``; returns the spread statistics.
    ``settings``: each searched row's search options beyond the preset (``--set`` values); ``shares``: the
    rows that chose in another row's supernet (``{row: that row}``); ``earlier``: the ``--search`` names of
    kept searched rows that this call did not search; ``ranked_as``: the searched rows that score no
    samples of their own, and the row whose ranking stands for theirs (:func:`tables.ranked_as`)."""
    prefix = f"{space.name}-sample-"
    samples = [r for r in rows if r["method"].startswith(prefix)]
    others = [r for r in rows if not r["method"].startswith(prefix)]
    searched = [r for r in others if r["method"].startswith("NAS")]
    plain = {e.name for t in plan.tables.values() for e in t if e.kind == "method"}
    reference = next((r for r in others if r["method"] in plain), None)  # the non-learned reference row
    hand = [r for r in others if not r["method"].startswith("NAS") and r is not reference]
    if not samples:
        return None
    s = spread([seed_values(r) for r in samples])
    out = plan.out
    save_figure(draw_space(samples, others, f"space {space.name}: sampled architectures, preset {plan.preset}",
                           plan.complexity_size), out / "space.png")
    write_text(out / "spread.json", json.dumps({"space": space.name, "preset": plan.preset, "spread": s,
                                                "psnr": {r["method"]: seed_values(r) for r in samples}},
                                               indent=2) + "\n")
    macro = task.macro_space(space.macro_choices)
    kept_from = kept_from_text(earlier or [])
    lines = [f"# Space {space.name}: does the architecture matter?", "",
             f"Made by `{command}` (preset `{plan.preset}`, task `{task.name}`). Each architecture is drawn "
             f"uniformly from the whole space: the cell (two distinct inputs per node, ops {', '.join(space.searchable_ops)})"
             + (" and the macro choices " + ", ".join(f"{k} {list(v)}" for k, v in macro.items()) if macro else "")
             + f"; it is retrained exactly like a searched network, over {plan.seeds} seed(s), and tested on the "
             "same test inputs (masks, noise) for every seed." + kept_from, ""]
    if dropped:
        lines += [f"Task `{task.name}` does not build the space's macro choice(s) {', '.join(dropped)}: not sampled.", ""]
    lines += reference_lines(reference, samples, searched, s)
    lines += verdict_lines(searched, samples, hand, s)
    lines += repeat_lines(searched, samples)
    lines += ["## Spread against seed noise", ""] + spread_lines(s, samples) + [""]
    lines += searched_lines(searched, samples, hand, settings or {}, shares, ranked_as)
    genos = [genotype_of(r) for r in samples]  # read once: the choices' table and the architectures' list
    choice = choice_lines(samples, genos)
    if choice:
        lines += ["## What moves PSNR", "", "Mean over the sampled architectures with each value (each architecture "
                  "at its mean over seeds); the values are confounded with the other choices drawn alongside.", ""]
        lines += choice + [""]
    lines += ["## Architectures", "", "| row | macro | cell |", "|---|---|---|"]
    for r, g in zip(samples, genos):
        lines.append(f"| {r['method']} | {g.macro_text() if g else '-'} | `{short_cell(g) if g else '-'}` |")
    lines += [""] + table_lines(samples + others) + ["", "![space](space.png)", "",
                                                      "The architectures: `<row>/seed<S>/genotype.json` next to this report."]
    lines += ["", cost_line(samples, searched, hand)]
    write_report_md(out, lines)  # with benchmark rescore's tables, kept across rebuilds
    return s
