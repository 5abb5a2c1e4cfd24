"""``benchmark space``: its statistics against hand computations, and a tiny run end to end."""

import csv
import json
import re

import numpy as np
import pytest

from nas_engine.app.space_report import pareto_front, spread


def test_spread_matches_a_hand_computed_one_way_anova():
    groups = [[20.0, 20.2], [21.0, 21.4], [22.0, 21.8]]
    s = spread(groups)
    # by hand: means 20.1, 21.2, 21.9; grand 21.0667; SSB = 2 * sum((m - g)^2); SSW = sum of squares within
    means = np.array([20.1, 21.2, 21.9])
    ssb = 2 * ((means - means.mean()) ** 2).sum()
    ssw = 0.02 + 0.08 + 0.02
    msb, msw = ssb / 2, ssw / 3
    assert s["F"] == pytest.approx(msb / msw)
    assert s["seed_sd"] == pytest.approx(np.sqrt(msw))
    assert s["arch_sd"] == pytest.approx(np.sqrt((msb - msw) / 2))
    assert s["icc"] == pytest.approx(((msb - msw) / 2) / ((msb - msw) / 2 + msw))
    assert s["between_sd"] == pytest.approx(means.std(ddof=1))
    from scipy import stats

    assert s["p"] == pytest.approx(stats.f_oneway(*groups).pvalue)
    assert s["df"] == (2, 3)
    # identical architectures: no architecture component, F below 1 is clipped to a zero sd
    flat = spread([[20.0, 20.4], [20.1, 20.3], [20.4, 20.0]])
    assert flat["arch_sd"] == 0.0 and flat["icc"] == 0.0
    assert spread([[20.0], [21.0, 21.1]]) is None  # one architecture with two seeds is no comparison


def test_pareto_front_keeps_the_points_nothing_cheaper_beats():
    pts = [(1.0, 20.0, "a"), (2.0, 19.0, "b"), (2.0, 21.0, "c"), (3.0, 21.0, "d"), (4.0, 22.0, "e")]
    assert [p[2] for p in pareto_front(pts)] == ["a", "c", "e"]


@pytest.mark.long(25)
@pytest.mark.slow
def test_benchmark_space_tiny(cli, tmp_path):
    out, work = tmp_path / "space_C", tmp_path / "work"
    args = ["benchmark", "space", "--preset", "tiny", "--n", "2", "--seeds", "2", "--out", out, "--work", work,
            "--no-progress", "--search", "spos,spos-finetune", "--search-seeds", "2", "--set", "search.candidates=4", "--set",
            "search.eval_batches=1", "--flops-limits", "DCCNN-3"]
    rc, stdout, err = cli(*args)
    assert rc == 0, err
    # every seed of one architecture before the next
    order = [line.split("===")[1].strip() for line in stdout.splitlines() if line.startswith("\n===") or "=== " in line]
    assert order == ["1/10: C-sample-1, seed 0", "2/10: C-sample-1, seed 1", "3/10: C-sample-2, seed 0",
                     "4/10: C-sample-2, seed 1", "5/10: NAS C spos, seed 0", "6/10: NAS C spos, seed 1",
                     "7/10: NAS C spos-finetune, seed 0", "8/10: NAS C spos-finetune, seed 1",
                     "9/10: NAS C spos-finetune <=DCCNN-3, seed 0", "10/10: NAS C spos-finetune <=DCCNN-3, seed 1"]
    rows = list(csv.DictReader(open(out / "space.csv")))
    assert [(r["method"], r["seeds"]) for r in rows] == [("C-sample-1", "2"), ("C-sample-2", "2"), ("NAS C spos", "2"),
                                                          ("NAS C spos-finetune", "2"),
                                                          ("NAS C spos-finetune <=DCCNN-3", "2")]
    # the fine-tuned search chose in plain spos' supernet, not a second one (the same candidates, each scored
    # after its own fine-tune), and so did the limited search, as the last SPOS row of --search chooses: every
    # tiny network is far below DCCNN-3's FLOPs, so it scored the same candidates alike
    assert stdout.count("the supernet of NAS C spos (seed") == 4
    for seed in (0, 1):
        a, b, c = (json.loads((work / row / f"seed{seed}" / "search" / "candidates.json").read_text())
                   for row in ("nas_c_spos", "nas_c_spos_finetune_le_dccnn_3", "nas_c_spos_finetune"))
        assert [x["genotype"] for x in c] == [x["genotype"] for x in b] and [x["loss"] for x in c] == [x["loss"] for x in b]
        assert json.loads((out / "nas_c_spos_finetune" / f"seed{seed}" / "candidates.json").read_text()) == c  # kept
        for row in ("nas_c_spos_finetune_le_dccnn_3", "nas_c_spos_finetune"):
            assert "all 30 epochs are in the checkpoint already" in (work / row / f"seed{seed}" / "search" / "log.txt").read_text()
        # the limited search took the fine-tuned scores of the row before it (the same supernet, batches and
        # fine-tune) instead of measuring them again; the fine-tuned row took none of plain spos' raw scores
        logs = {row: (work / row / f"seed{seed}" / "search" / "log.txt").read_text()
                for row in ("nas_c_spos_finetune_le_dccnn_3", "nas_c_spos_finetune")}
        assert "4 of the 4 candidates were scored the same way in this supernet before" in \
            logs["nas_c_spos_finetune_le_dccnn_3"]
        assert "were scored the same way" not in logs["nas_c_spos_finetune"]
        # so it picked the same network, and took that row's retraining (the same command) instead of repeating it
        # (the first searched row with that network: spos-finetune's, or plain spos' when the two agree)
        twin = re.search(rf"\[NAS C spos-finetune <=DCCNN-3 seed {seed}\] the same network, options and seed as "
                         rf"(NAS C spos(-finetune)?) seed {seed}: its retraining", stdout)
        entry = json.loads((out / "nas_c_spos_finetune_le_dccnn_3" / f"seed{seed}" / "entry.json").read_text())
        assert twin and entry["retrain_of"] == f"{twin[1]} seed {seed}" and entry["seconds"]["retrain"] == 0
        same, limited = (json.loads((out / row / f"seed{seed}" / "results.json").read_text())["per_volume"]
                         for row in ("nas_c_spos_finetune", "nas_c_spos_finetune_le_dccnn_3"))
        assert [v["psnr"] for v in same] == [v["psnr"] for v in limited]
        by = {json.dumps(x["genotype"], sort_keys=True): x["loss"] for x in c}
        assert set(by) == {json.dumps(x["genotype"], sort_keys=True) for x in a}
        assert all(by[json.dumps(x["genotype"], sort_keys=True)] != x["loss"] for x in a)
    # each seed's supernet scored every sampled architecture; the report ranks them
    # (the fine-tuned row scores them its own way; the limited row would score them as the row it limits: not again)
    for seed in (0, 1):
        scores, tuned = (json.loads((out / row / f"seed{seed}" / "supernet_scores.json").read_text())
                         for row in ("nas_c_spos", "nas_c_spos_finetune"))
        assert set(scores) == set(tuned) == {"C-sample-1", "C-sample-2"} and all(v > 0 for v in scores.values())
        assert all(tuned[k] != scores[k] for k in scores)
        assert not (out / "nas_c_spos_finetune_le_dccnn_3" / f"seed{seed}" / "supernet_scores.json").exists()
    assert (out / "nas_c_spos" / "seed0" / "cell.png").is_file()
    # validation metrics are kept: random search's pick is made on them, never on the test split
    val = json.loads((out / "c_sample_1" / "seed0" / "val.json").read_text())
    assert val["epoch"] == 2 and val["val_psnr"] > 0
    curve = json.loads((out / "c_sample_1" / "seed0" / "curve.json").read_text())  # the learning curve, per epoch
    assert [c["epoch"] for c in curve] == [1, 2] and curve[-1]["val_psnr"] == val["val_psnr"] and curve[0]["loss"] > 0
    genos = [json.loads((out / f"c_sample_{k}" / "seed0" / "genotype.json").read_text()) for k in (1, 2)]
    assert all(set(g["macro"]) == {"width", "cascades", "share"} for g in genos)
    # the retrained network is the genotype's: its FLOPs grow with its cascades and width
    spread_json = json.loads((out / "spread.json").read_text())
    assert spread_json["spread"]["archs"] == 2 and spread_json["spread"]["df"] == (1, 2) or \
        spread_json["spread"]["df"] == [1, 2]
    assert len(spread_json["psnr"]["C-sample-1"]) == 2
    report = (out / "report.md").read_text()
    assert "Does the architecture matter here?" in report and "One-way ANOVA: F(1, 2)" in report
    assert "| C-sample-2 | width" in report and "| NAS C spos | 2 |" in report and "of 3 |" in report
    assert "NAS C spos - the mean sample:" in report and "(picked on validation)" in report
    assert "- NAS C spos-finetune <=DCCNN-3: `search.strategy=spos search.epochs=30 search.finetune_steps=40 " \
           "search.max_flops=" in report
    assert "search.finetune_steps=40` (in NAS C spos's supernet)" in report  # scored the samples its own way
    t = r"[0-9.]+ (h|min)"  # minutes at the tiny preset, not "0.0 hours"
    assert re.search(rf"Cost of the kept trainings of this report: {t} of process CPU time \(every resume summed\) in all "
                     rf"\(the 2 samples {t}, NAS C spos {t}, NAS C spos-finetune {t}, NAS C spos-finetune <=DCCNN-3 {t}\)",
                     report)
    assert "0.0 h" not in report
    assert (out / "space.png").read_bytes()[:4] == b"\x89PNG"
    rc, stdout, err = cli(*args)
    assert rc == 0 and stdout.count("done already") == 10 and "$ nasengine" not in stdout
    # without --search the kept searched rows are still reported, each once (spos is a strategy and a row name)
    rc, stdout, err = cli(*args[:args.index("--search")], "--set", "search.candidates=4", "--set",
                          "search.eval_batches=1")
    assert rc == 0, err
    assert [r["method"] for r in csv.DictReader(open(out / "space.csv"))][:5] == [
        "C-sample-1", "C-sample-2", "NAS C spos", "NAS C spos-finetune", "NAS C spos-finetune <=DCCNN-3"]
    report = (out / "report.md").read_text()
    assert "The searched rows spos, spos-finetune, spos-finetune <=DCCNN-3 are kept from calls of the same command " \
           "with `--search spos,spos-finetune` and `--flops-limits DCCNN-3`." in report
    rc, _, err = cli("benchmark", "space", "--preset", "tiny", "--space", "Z", "--out", out, "--work", work)
    assert rc == 2 and "unknown space 'Z'" in err and len(err.strip().splitlines()) == 1
    # the same folder as a tabular pool: zero-cost proxies measured once, with the rows' own config
    rc, stdout, err = cli("benchmark", "pool", out, "--draws", "20", "--no-progress")
    assert rc == 0, err
    proxies = json.loads((out / "proxies.json").read_text())["architectures"]
    assert set(proxies) == {"C-sample-1", "C-sample-2"}
    assert all(np.isfinite(v) for p in proxies.values() for v in p["scores"].values())
    pool = json.loads((out / "pool.json").read_text())
    assert all(a["proxies"] == proxies[a["name"]]["scores"] for a in pool["architectures"])
    report = (out / "pool.md").read_text()
    assert "| NAS C spos | 0 |" in report and "with halving: median" in report  # every sample keeps its curve
    searched = {r["name"]: r for r in json.loads((out / "pool-report.json").read_text())["searched"]}
    tuned = searched["NAS C spos-finetune"]["per_seed"][0]
    spos = searched["NAS C spos"]["per_seed"][0]
    # the fine-tuned row chose in spos' supernet: its cost counts that supernet's training too
    assert tuned["cost_parts"]["supernet"] == spos["cost_parts"]["search"] > 0
    assert tuned["cost_s"] == pytest.approx(sum(tuned["cost_parts"].values()))
    before = (out / "proxies.json").stat().st_mtime_ns
    rc, _, err = cli("benchmark", "pool", out, "--draws", "20", "--no-progress")
    assert rc == 0 and (out / "proxies.json").stat().st_mtime_ns == before, err


@pytest.mark.long(30)
def test_benchmark_space_perturbation_selects_in_the_darts_rows_supernet(cli, tmp_path):
    out, work = tmp_path / "space_C", tmp_path / "work"
    rc, stdout, err = cli("benchmark", "space", "--preset", "tiny", "--n", "2", "--seeds", "1", "--out", out, "--work",
                          work, "--no-progress", "--search", "darts-pt", "--search-seeds", "1",
                          "--set", "search.eval_batches=1")
    assert rc == 0, err
    order = [line.split("===")[1].strip() for line in stdout.splitlines() if "=== " in line]
    assert order[-2:] == ["3/4: NAS C darts, seed 0", "4/4: NAS C darts-pt, seed 0"]  # the supernet's own row first
    assert "note: --search darts-pt chooses in darts's supernet: darts is searched too" in stdout
    assert stdout.count("the supernet of NAS C darts (seed 0)") == 1
    darts, pt = work / "nas_c_darts" / "seed0" / "search", work / "nas_c_darts_pt" / "seed0" / "search"
    assert "epochs are in the checkpoint already" in (pt / "log.txt").read_text()
    # the same supernet: its argmax is darts' genotype; the perturbation's pick is kept with every measured loss
    assert json.loads((pt / "genotype_argmax.json").read_text()) == json.loads((darts / "genotype.json").read_text())
    assert (pt / "selection.json").is_file() and set(json.loads((pt / "genotype.json").read_text())["macro"]) == \
        {"width", "cascades", "share"}
    assert (out / "nas_c_darts_pt" / "seed0" / "results.json").is_file()
    assert (out / "nas_c_darts_pt" / "seed0" / "selection.json").read_text() == (pt / "selection.json").read_text()
    report = (out / "report.md").read_text()
    assert "search.select=perturbation search.macro_draw=true` (in NAS C darts's supernet; its ranking of the " \
           "samples is NAS C darts's)" in report
    assert "| NAS C darts-pt | 1 |" in report and "| as NAS C darts | as NAS C darts |" in report


@pytest.mark.long(20)
@pytest.mark.slow
def test_benchmark_space_successive_halving_tiny(cli, tmp_path):
    out = tmp_path / "results" / "space_C"
    rc, stdout, err = cli("benchmark", "space", "--preset", "tiny", "--n", "6", "--seeds", "1", "--halving", "2",
                          "--out", out, "--work", tmp_path / "work", "--no-progress")
    assert rc == 0, err
    rungs = json.loads((out / "halving.json").read_text())
    assert [(r["epochs"], r["entries"]) for r in rungs] == [(1, 6), (2, 3)]  # tiny trains 2 epochs
    first, second = rungs[0]["val_psnr"], rungs[1]["val_psnr"]
    assert set(second) == set(sorted(first, key=first.get, reverse=True)[:3])  # the best half by validation
    assert rungs[1]["spearman_with_previous"]["n"] == 3
    report = (out / "report.md").read_text()
    assert "## Successive halving" in report and "| 2 | 2 | 3 |" in report
    rows = list(csv.DictReader(open(out / "space.csv")))
    assert sorted(r["method"] for r in rows) == sorted(second)  # the full-budget rung's entries
    rc, _, err = cli("benchmark", "space", "--preset", "tiny", "--halving", "1", "--out", out, "--work", tmp_path / "w")
    assert rc == 2 and "eta must be at least 2" in err


def test_flops_limit_rows_search_spos_under_a_fraction_of_a_hand_made_rows_flops():
    from types import SimpleNamespace

    from nas_engine.app.tables import flops_limit_entries, tables_of
    from nas_engine.complexity import complexity_rows
    from nas_engine.config import Config
    from nas_engine.errors import UserError
    from nas_engine.task import get_task, load_task_entry_points
    from search_spaces import load_space

    load_task_entry_points()
    task, cfg = get_task("csmri")({"size": 32, "cascades": 2, "max_volumes": 2}), Config(task="csmri")
    plan = SimpleNamespace(tables=tables_of(task), complexity_size=task.complexity_size)
    rows = flops_limit_entries(task, load_space("C"), cfg, plan, ["DCCNN-11/4", "DCCNN-3"])
    assert [e.name for e in rows] == ["NAS C spos <=DCCNN-11/4", "NAS C spos <=DCCNN-3"]
    assert [e.slug for e in rows] == ["nas_c_spos_le_dccnn_11_4", "nas_c_spos_le_dccnn_3"]
    full = {r["method"]: r["flops"] for r in complexity_rows(task, cfg, {"DCCNN-11": "dccnn-11", "DCCNN-3": "dccnn-3"},
                                                             [], 320, with_latency=False, progress=lambda *_: None)}
    limits = [float(dict(s.split("=") for s in e.search_sets)["search.max_flops"]) for e in rows]
    assert limits == pytest.approx([full["DCCNN-11"] / 4, full["DCCNN-3"]], rel=1e-5)
    assert all("search.strategy=spos" in e.search_sets for e in rows)
    from nas_engine.app.tables import space_search_entries

    sandwich = space_search_entries(load_space("C"), 3, ["spos-sandwich"])[0]
    (row,) = flops_limit_entries(task, load_space("C"), cfg, plan, ["DCCNN-11/4"], sandwich)
    assert (row.name, row.supernet_of) == ("NAS C spos-sandwich <=DCCNN-11/4", "NAS C spos-sandwich")
    assert row.search_sets[:-1] == sandwich.search_sets and "search.sandwich=true" in row.search_sets
    tuned = space_search_entries(load_space("C"), 3, ["spos-finetune"])[0]
    (row,) = flops_limit_entries(task, load_space("C"), cfg, plan, ["DCCNN-11/4"], tuned)
    assert (tuned.supernet_of, row.name, row.supernet_of) == ("NAS C spos", "NAS C spos-finetune <=DCCNN-11/4", "NAS C spos")
    pt = space_search_entries(load_space("C"), 3, ["darts-pt"])[0]
    assert pt.supernet_of == "NAS C darts" and pt.search_sets == ("search.strategy=darts", "search.select=perturbation",
                                                                    "search.macro_draw=true")
    # whose ranking of the samples stands for a row that scores none of its own: the limited fine-tuned row's is
    # the fine-tuned row's (same supernet, same scoring), not plain spos' (raw scores); darts-pt's is darts'
    from nas_engine.app.tables import ranked_as

    C = load_space("C")
    plain, dpt = space_search_entries(C, 3, ["spos"])[0], space_search_entries(C, 3, ["darts", "darts-pt"])
    (plain_limited,) = flops_limit_entries(task, C, cfg, plan, ["DCCNN-3"], plain)
    assert ranked_as([plain, tuned, row, plain_limited, *dpt]) == {
        "NAS C spos-finetune <=DCCNN-11/4": "NAS C spos-finetune", "NAS C spos <=DCCNN-3": "NAS C spos",
        "NAS C darts-pt": "NAS C darts"}
    assert ranked_as([row]) == {}  # the row it limits is not there: no claim
    darts = {sp: space_search_entries(load_space(sp), 3, ["darts"])[0].search_sets for sp in ("A", "C")}
    assert darts == {"A": ("search.strategy=darts",), "C": ("search.strategy=darts", "search.macro_draw=true")}
    for spec, msg in (("DCCNN-12/4", "(did you mean 'DCCNN-11'?)"), ("DCCNN-11/0", "divisor must be a positive")):
        with pytest.raises(UserError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            flops_limit_entries(task, load_space("C"), cfg, plan, [spec])


def test_the_verdict_is_computed_from_the_kept_numbers(tmp_path):
    from nas_engine.app.space_report import spread, verdict_lines

    def row(name, per_seed, flops, dirs=None):
        return {"method": name, "psnr": float(np.mean(per_seed)), "seeds": len(per_seed), "flops": flops,
                "_per_seed": {k: {"overall": {"psnr": {"mean": v}}} for k, v in enumerate(per_seed)},
                "_dirs": dirs or {}}

    samples = [row(f"C-sample-{k}", [20.0 + k, 20.1 + k], 1e9 * k) for k in range(1, 11)]
    dirs = {}
    for seed, order in ((0, range(1, 11)), (1, [2, 1, *range(3, 11)])):  # seed 1 swaps the two worst
        d = tmp_path / f"seed{seed}"
        d.mkdir()
        (d / "supernet_scores.json").write_text(json.dumps({f"C-sample-{k}": 10.0 - i for i, k in enumerate(order)}))
        dirs[seed] = d
    searched = [row("NAS C spos", [30.5, 30.7, 30.6], 2e9, dirs)]
    hand = [row("DCCNN-11", [30.0, 30.1, 29.9], 63e9), row("DCCNN-3", [29.0, 29.1, 29.2], 17e9)]
    text = "\n".join(verdict_lines(searched, samples, hand, spread([[20.0 + k, 20.1 + k] for k in range(1, 11)])))
    # tau: 1 for seed 0, 1 - 2 * 1 / 45 for seed 1 (one discordant pair of 45): mean 0.98
    assert "NAS C spos +0.98 (2 seeds, 10 samples); NAS C spos reaches 0.5." in text
    assert "NAS C spos 30.60 dB, rank 1 of 11 (top 10%)" in text
    # against the best hand-made row (DCCNN-11), Welch over 3 + 3 seeds: +0.60 [+0.37, +0.83], 2/63 of its FLOPs
    assert "- NAS C spos - DCCNN-11 (3 seed(s), the best hand-made row): +0.60 dB [+0.37, +0.83] at 0.03x its FLOPs (<= 1/4): better." in text
    assert verdict_lines([], samples, hand, None) == []
    # a seed whose supernet scored fewer samples (it was gone when the later ones were kept) says so
    (dirs[1] / "supernet_scores.json").write_text(json.dumps({f"C-sample-{k}": 10.0 - k for k in range(1, 8)}))
    text = "\n".join(verdict_lines(searched, samples, hand, None))
    assert "NAS C spos +1.00 (2 seeds, 7-10 samples)" in text
    # each seed picks its own network: the FLOPs fraction is their mean, with the range, and "<= 1/4" only
    # when every seed's network is within a quarter (2G and 20G of DCCNN-11's 63G: 0.03x and 0.32x)
    for seed, flops in ((0, 2e9), (1, 20e9)):
        (dirs[seed] / "complexity.json").write_text(json.dumps({"flops": flops, "params": 1}))
    text = "\n".join(verdict_lines(searched, samples, hand, None))
    assert "+0.60 dB [+0.37, +0.83] at 0.17x its FLOPs (0.03x-0.32x over seeds): better." in text
    (dirs[1] / "complexity.json").write_text(json.dumps({"flops": 12e9, "params": 1}))
    text = "\n".join(verdict_lines(searched, samples, hand, None))
    assert "at 0.11x its FLOPs (0.03x-0.19x over seeds; <= 1/4): better." in text


def test_a_row_choosing_in_a_supernet_gone_from_work_runs_those_seeds_last(tmp_path):
    """spos-finetune chooses in spos' supernet of the same seed. Seed 0 of spos is kept but its search
    is gone from --work (that seed of spos-finetune must train its own supernet): it runs after the
    seeds whose supernet is there (seed 1) or is trained first in the same call (seed 2)."""
    from types import SimpleNamespace

    from nas_engine.app.tables import Plan, run_entries, space_search_entries, supernet_gone, supernet_in_work
    from search_spaces import load_space

    spos, tuned = space_search_entries(load_space("C"), 3, ["spos", "spos-finetune"])
    waves = []
    plan = Plan(common=[], work=tmp_path / "work", out=tmp_path / "out", other_seeds=3,
                executor=SimpleNamespace(kind="local", run=lambda w, *_: waves.extend(w)))
    for seed in (0, 1):
        keep = plan.out / spos.slug / f"seed{seed}"
        keep.mkdir(parents=True)
        (keep / "results.json").write_text("{}")
    search = plan.work / spos.slug / "seed1" / "search"
    (search / "checkpoints").mkdir(parents=True)
    (search / "checkpoints" / "last.ckpt").write_bytes(b"")
    (search / "cell.png").write_bytes(b"")
    (search.parent / "key.json").write_text(json.dumps(plan.key(spos, 1)))
    assert [supernet_in_work(plan, tuned, s) for s in (0, 1, 2)] == [False, True, False]
    assert [supernet_gone(plan, tuned, s) for s in (0, 1, 2)] == [True, False, False]
    assert not supernet_gone(plan, spos, 0)  # a row training its own supernet
    run_entries([spos, tuned], plan, entry_major=True)
    assert [(e.name, s) for e, s in waves[0]] == [(spos.name, 0), (spos.name, 1), (spos.name, 2),
                                                  (tuned.name, 1), (tuned.name, 2), (tuned.name, 0)]
    waves.clear()
    run_entries([spos, tuned], plan)  # seed by seed: the seed that trains its own supernet after all others
    assert [(e.name, s) for e, s in waves[0]] == [(spos.name, 0), (spos.name, 1), (tuned.name, 1),
                                                  (spos.name, 2), (tuned.name, 2), (tuned.name, 0)]
    (search.parent / "key.json").write_text(json.dumps(plan.key(spos, 2)))  # another experiment's run
    assert supernet_gone(plan, tuned, 1)


def test_a_retraining_is_taken_from_another_row_only_when_it_ran_the_same_command(tmp_path):
    """A searched row whose pick is another row's network (same genotype, preset, options, seed) takes
    that row's finished retraining; any difference, or a row with options of its own, retrains."""
    from dataclasses import replace

    from nas_engine.app.tables import Plan, random_entries, retrained_twin, space_search_entries
    from nas_engine.rows import Entry
    from search_spaces import load_space

    space = load_space("C")
    tuned = space_search_entries(space, 3, ["spos-finetune"])[0]
    limited = Entry(f"{tuned.name} <=DCCNN-11/4", "nas", space="C", nodes=3,
                    search_sets=tuned.search_sets + ("search.max_flops=1e10",), supernet_of="NAS C spos")
    a, b = (json.loads(x.genotype) for x in random_entries(space, 2, 3, 2, 0, macro=dict(space.macro_choices)))
    plan = Plan(common=[], work=tmp_path / "work", out=tmp_path / "out", preset="bench")
    run = plan.work / tuned.slug / "seed2" / "retrain"
    run.mkdir(parents=True)
    (run / "genotype.json").write_text(json.dumps(a))
    import yaml

    trained = {"task": "csmri", "seed": 2, "model": {"channels": 16, "cells": 2, "nodes": 3},
               "train": {"epochs": 10, "lr": 0.001}, "data": {"size": 96}}
    plan = replace(plan, config={k: v for k, v in trained.items() if k != "seed"})
    (run.parent / "key.json").write_text(json.dumps(plan.key(tuned, 2)))
    (run / "config.yaml").write_text(yaml.safe_dump(trained))
    mine = plan.work / limited.slug / "seed2" / "search" / "genotype.json"
    mine.parent.mkdir(parents=True)
    mine.write_text(json.dumps(a))
    assert retrained_twin(plan, limited, 2, mine) is None  # not finished: no model.pt
    (run / "model.pt").write_bytes(b"")
    assert retrained_twin(plan, limited, 2, mine) == (tuned.name, run)
    assert retrained_twin(plan, tuned, 2, run / "genotype.json") is None  # not itself
    assert retrained_twin(plan, limited, 1, mine) is None  # another seed
    assert retrained_twin(plan, replace(limited, sets=("model.channels=32",)), 2, mine) is None  # its own options
    assert retrained_twin(replace(plan, preset="tiny"), limited, 2, mine) is None  # another preset
    assert retrained_twin(replace(plan, sets=["train.epochs=3"]), limited, 2, mine) is None  # other --set
    (run / "config.yaml").write_text(yaml.safe_dump({**trained, "train": {"epochs": 3, "lr": 0.001}}))
    assert retrained_twin(plan, limited, 2, mine) is None  # trained otherwise than its key says (a halving rung)
    (run / "config.yaml").write_text(yaml.safe_dump(trained))
    mine.write_text(json.dumps(b))
    assert retrained_twin(plan, limited, 2, mine) is None  # another network
    b["macro"] = a["macro"]
    b["cell"] = a["cell"]
    mine.write_text(json.dumps(b, indent=2))
    assert retrained_twin(plan, limited, 2, mine) == (tuned.name, run)  # the same network, written otherwise


def test_the_report_says_which_options_made_the_searched_rows_kept_from_other_calls():
    from nas_engine.app.space_report import kept_from_text

    assert kept_from_text([]) == ""
    assert kept_from_text(["spos-sandwich"]) == (" The searched row spos-sandwich is kept from calls of the same "
                                                 "command with `--search spos-sandwich`.")
    assert kept_from_text(["gdas", "spos-finetune <=DCCNN-11/4", "spos-finetune <=DCCNN-3"]).endswith(
        "are kept from calls of the same command with `--search gdas,spos-finetune` and "
        "`--flops-limits DCCNN-11/4,DCCNN-3`.")


def test_repeats_are_labelled(tmp_path):
    """A searched seed that is a sample, or another searched row's network at that seed, is said so."""
    from nas_engine.app.space_report import repeat_lines

    def kept(name: str, seed: int, cell: str):
        d = tmp_path / name / f"seed{seed}"
        d.mkdir(parents=True)
        (d / "genotype.json").write_text(json.dumps({"space": "C", "cell": cell}))
        return d

    samples = [{"method": "C-sample-1", "_dirs": {0: kept("s1", 0, "a"), 1: kept("s1", 1, "a")}},
               {"method": "C-sample-2", "_dirs": {0: kept("s2", 0, "b")}}]
    searched = [{"method": "NAS C spos", "_dirs": {0: kept("x", 0, "b"), 1: kept("x", 1, "c")}},
                {"method": "NAS C spos <=1/4", "_dirs": {0: kept("y", 0, "d"), 1: kept("y", 1, "c")}}]
    lines = repeat_lines(searched, samples)
    assert lines[0] == "## Repeats"
    assert [ln for ln in lines if ln.startswith("- ")] == [
        "- NAS C spos seed 0 is C-sample-2 (the same genotype): the search picked a sampled architecture; its "
        "number is that architecture's training, not a new one.",
        "- NAS C spos <=1/4 seed 1 is the same network as NAS C spos seed 1: one result shown in two rows, not a "
        "second one."]
    assert repeat_lines(searched[1:2], samples[:1]) == []  # new networks: nothing to say



def test_the_reference_row_says_when_no_learned_row_beats_it():
    from nas_engine.app.space_report import reference_lines

    ref = {"method": "Zero-filled", "psnr": 20.0}
    flat = [{"method": f"C-sample-{k}", "psnr": 20.0 + 0.01 * k} for k in range(3)]
    s = {"seed_sd": 0.05}
    lines = reference_lines(ref, flat, [], s)
    assert lines[0].startswith("Reference: Zero-filled 20.00 dB (non-learned). 0 of 3 samples are above it by more "
                               "than twice the seed sd (0.100 dB)")
    assert lines[1].startswith("**No learned row beats Zero-filled here")
    learned = flat + [{"method": "C-sample-9", "psnr": 21.5}]
    lines = reference_lines(ref, learned, [{"method": "NAS C spos", "psnr": 21.0}], s)
    assert "1 of 4 samples are above it" in lines[0] and "C-sample-9, by +1.50 dB" in lines[0]
    assert not any("No learned row" in x for x in lines)
    assert reference_lines(None, learned, [], s) == []
