"""The tabular pool: built from kept sampled rows, queried, saved and loaded; rankers and random search on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas_engine.errors import UserError
from nas_engine.pool import Pool, rank_quality, simulate_random_search

# name: (val PSNR per seed, test PSNR, FLOPs, cascades, training CPU seconds)
ARCHS = {1: ([20.0, 20.2], 23.0, 1e9, 1, 100.0), 2: ([21.0, 21.2], 24.0, 2e9, 2, 200.0),
         3: ([22.0, 22.2], 25.0, 4e9, 3, 400.0), 4: ([19.0, 19.2], 22.5, 3e9, 1, 300.0)}


@pytest.fixture
def results(tmp_path):
    """A space benchmark's results folder: four sampled rows of two seeds, one halving rung (ignored)."""
    for k, (vals, test, flops, cascades, cpu) in ARCHS.items():
        for seed, val in enumerate(vals):
            d = tmp_path / f"c_sample_{k}" / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "genotype.json").write_text(json.dumps({"space": "C", "cell": [k], "macro": {"cascades": cascades,
                                                                                          "share": False}}))
            (d / "complexity.json").write_text(json.dumps({"flops": flops, "params": flops / 1e5, "latency_s": 0.1}))
            (d / "val.json").write_text(json.dumps({"epoch": 2, "val_psnr": val, "val_ssim": 0.7}))
            (d / "results.json").write_text(json.dumps({"overall": {"psnr": {"mean": test + seed * 0.1, "std": 1.0},
                                                                    "n_volumes": 3}}))
            (d / "curve.json").write_text(json.dumps([{"epoch": 1, "loss": 0.3, "val_psnr": val - 1},
                                                      {"epoch": 2, "loss": 0.2, "val_psnr": val}]))
            (d / "entry.json").write_text(json.dumps({"key": {"entry": f"C-sample-{k}"}, "seconds": {"retrain": cpu * 3},
                                                      "cpu_seconds": {"retrain": cpu, "evaluate": 1.0}}))
            (d / "results-real.json").write_text(json.dumps({"overall": {"psnr": {"mean": 30.0 - k}}}))
    (tmp_path / "c_sample_1_rung1" / "seed0").mkdir(parents=True)
    return tmp_path


def test_pool_queries_and_round_trip(results, tmp_path):
    pool = Pool.from_results(results)
    assert pool.names == ["C-sample-1", "C-sample-2", "C-sample-3", "C-sample-4"] and pool.space == "C"
    assert pool.value("C-sample-3", "val") == pytest.approx(22.1)  # mean over the two seeds
    assert pool.value("C-sample-3", "val", seed=1) == pytest.approx(22.2)
    assert pool.value("C-sample-3", "test") == pytest.approx(25.05)
    assert pool.value("C-sample-2", "real") == 28.0 and np.isnan(pool.value("C-sample-2", "nowhere"))
    assert pool.at_epoch("C-sample-1", 1) == pytest.approx(19.1) and np.isnan(pool.at_epoch("C-sample-1", 9))
    assert pool.cost("C-sample-4") == 300.0 and pool.cost_kind() == "cpu"  # CPU time, not the wall clock kept beside
    assert set(pool.trivial_scores()) == {"FLOPs", "parameters", "macro cascades"}  # share: a bool, not a ranker
    again = Pool.load(pool.save(tmp_path / "pool.json"))
    assert again.to_dict() == pool.to_dict()
    with pytest.raises(UserError, match="not a nasengine pool file"):
        Pool.load(results / "c_sample_1" / "seed0" / "val.json")
    with pytest.raises(UserError, match="no architecture 'C-sample-9'"):
        pool.value("C-sample-9")


def test_rank_quality_against_hand_counts():
    target = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
    assert rank_quality(target, target)["tau"] == pytest.approx(1.0)
    rev = rank_quality({k: -v for k, v in target.items()}, target)
    assert rev["tau"] == pytest.approx(-1.0) and rev["top_hits"] == 0 and rev["top_k"] == 1
    # one swap of four: 5 concordant pairs of 6, 1 discordant: tau = (5 - 1) / 6
    q = rank_quality({"a": 3.0, "b": 4.0, "c": 2.0, "d": 1.0}, target, top=0.5)
    assert q["tau"] == pytest.approx(4 / 6) and q["top_k"] == 2 and q["top_hits"] == 2


def test_random_search_simulation(results):
    pool = Pool.from_results(results)
    total = sum(pool.cost(n) for n in pool.names)
    sim = simulate_random_search(pool, [50.0, 250.0, total], draws=300, seed=1)
    assert all(np.isnan(v) for v in sim[50.0])  # cheaper than any training: no pick
    assert set(sim[total]) == {pool.value("C-sample-3", "test")}  # everything trained: the validation best
    got = np.array(sim[250.0])
    picked = got[np.isfinite(got)]
    assert 0 < len(picked) < len(got) and set(picked) <= {pool.value(n, "test") for n in pool.names}
    again = simulate_random_search(pool, [250.0], draws=300, seed=1)[250.0]
    np.testing.assert_array_equal(again, sim[250.0])  # seeded: reproducible


def test_benchmark_pool_command(cli, results):
    d = results / "nas_c_spos" / "seed0"  # a searched row: compared with random search at its own cost
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"overall": {"psnr": {"mean": 24.5}}}))
    (d / "entry.json").write_text(json.dumps({"key": {"entry": "NAS C spos"}, "seconds": {"search": 9e9},
                                              "cpu_seconds": {"search": 400.0, "retrain": 200.0, "evaluate": 5.0}}))
    rc, out, err = cli("benchmark", "pool", results, "--draws", "50")
    assert rc == 0, err
    report = (results / "pool.md").read_text()
    assert "| FLOPs | trivial | 4 | 0 |" in report and "Best trivial ranker on validation" in report
    assert "validation after 1 epoch(s)" in report and "Synthetic test vs `real`: Kendall tau" in report
    assert "| NAS C spos | 0 | 24.50 | 2.4 |" in report  # (400 + 200) CPU s over the mean training's 250
    assert "with halving: median" in report and (results / "anytime.png").read_bytes()[:4] == b"\x89PNG"
    # the fixture's rows keep no config to build their networks from: no proxies, one line that says so
    assert "zero-cost proxies: not measured" in out and "zero-cost:" not in report
    assert json.loads((results / "pool.json").read_text())["format"] == "nasengine-pool/1"
    rc, out, err = cli("benchmark", "pool", results / "nowhere")
    assert rc == 2 and "no such results folder" in err


def test_halving_plan_and_one_run_by_hand(results):
    from nas_engine.pool import halving_plan, halving_run

    assert halving_plan(27, 10, eta=3) == [(27, 1), (9, 3), (3, 9), (1, 10)]
    assert halving_plan(20, 10, eta=3) == [(20, 1), (6, 3), (2, 9), (1, 10)]
    assert halving_plan(4, 2, eta=3) == [(4, 1), (1, 2)]
    assert halving_plan(1, 10) == [(1, 10)]  # one architecture: trained to the end at once
    with pytest.raises(ValueError):
        halving_plan(4, 10, eta=1)
    pool = Pool.from_results(results)
    val = {n: {e: pool.at_epoch(n, e, seed=0) for e in (1, 2)} for n in pool.names}
    cost = {n: pool.cost(n, 0) for n in pool.names}
    # four at 1 epoch (half of each training: 50 + 100 + 200 + 150), then the best after epoch 1 (C-sample-3,
    # 21.0) on to epoch 2 (its other half: 200)
    assert halving_run(pool.names, val, cost, 2, 3) == (700.0, "C-sample-3")
    # C-sample-3 left out: C-sample-2 (20.0 after one epoch) wins
    assert halving_run(["C-sample-1", "C-sample-2", "C-sample-4"], val, cost, 2, 3) == (300.0 + 100.0, "C-sample-2")


def test_halving_simulation(results):
    from nas_engine.pool import simulate_halving

    pool = Pool.from_results(results)
    sim = simulate_halving(pool, [10.0, 700.0], draws=200, seed=2)
    assert all(np.isnan(v) for v in sim[10.0])  # not even one epoch of the cheapest fits
    assert set(sim[700.0]) == {pool.value("C-sample-3", "test")}  # all four fit (700 s, above): halving finds it
    np.testing.assert_array_equal(simulate_halving(pool, [700.0], draws=200, seed=2)[700.0], sim[700.0])
    for d in results.glob("c_sample_*/seed0/curve.json"):
        d.unlink()
    with pytest.raises(UserError, match="keeps a learning curve"):
        simulate_halving(Pool.from_results(results), [700.0], draws=2)


def test_zero_cost_proxies_on_the_tiny_preset(small_data):
    """Each proxy of a real network on real batches: the gradient norm as torch computes it, batch order
    irrelevant where the proxy averages over batches, the weights' seed relevant, a clear error for zico on
    one batch or an unknown proxy."""
    import torch

    from nas_engine.app.options import make_task
    from nas_engine.config import build_config, resolve
    from nas_engine.genotype import Genotype
    from nas_engine.network import build_model
    from nas_engine.proxies import PROXIES, proxy_batches, score_proxies
    from nas_engine.task import get_task

    cfg = build_config(resolve("tiny", [], {"task": "csmri"}, {}))
    cfg.data_path = str(small_data)
    task = make_task(get_task("csmri"), cfg)
    g = Genotype.from_dict({"space": "mine", "ops": ["conv_3x3", "skip_connect", "none"], "cells": 1, "nodes": 2,
                            "cell": [[{"input": 0, "op": "conv_3x3"}, {"input": 1, "op": "skip_connect"}],
                                     [{"input": 2, "op": "conv_3x3"}, {"input": 0, "op": "conv_3x3"}]],
                            "macro": {"width": 8, "cascades": 2, "share": False}})
    batches = proxy_batches(task, cfg, n=3)
    got = score_proxies(task, cfg, g, batches)
    assert set(got) == set(PROXIES) | {"cpu_s"} and all(np.isfinite(v) for v in got.values())
    assert got["grad_norm"] > 0 and got["snip"] > 0 and got["cpu_s"] > 0
    # grad_norm of one batch: torch's own total gradient norm of the same loss
    model = build_model(task, cfg, g).train()
    task.loss(model, batches[0]).backward()
    ref = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    assert score_proxies(task, cfg, g, batches[:1], proxies=("grad_norm",))["grad_norm"] == pytest.approx(float(ref),
                                                                                                          rel=1e-5)
    again = score_proxies(task, cfg, g, batches[::-1])
    for k in ("grad_norm", "snip", "zico"):
        assert again[k] == pytest.approx(got[k], rel=1e-5)
    other = score_proxies(task, cfg, g, batches, seed=1)
    assert other["snip"] != pytest.approx(got["snip"], rel=1e-6)
    with pytest.raises(ValueError, match="two or more batches"):
        score_proxies(task, cfg, g, batches[:1], proxies=("zico",))
    with pytest.raises(ValueError, match="unknown proxy 'naswot'"):
        score_proxies(task, cfg, g, batches, proxies=("naswot",))


def test_ranked_search_simulation(results):
    from nas_engine.pool import simulate_ranked_search

    pool = Pool.from_results(results)
    val = {n: pool.value(n, "val") for n in pool.names}
    # a perfect ranker: its first training is the validation best (C-sample-3: 400 s), at every draw
    sim = simulate_ranked_search(pool, val, [399.0, 400.0], draws=50)
    assert all(np.isnan(v) for v in sim[399.0]) and set(sim[400.0]) == {pool.value("C-sample-3", "test")}
    # scoring costs come first: 4 x 10 s more and the same budget picks nothing
    assert all(np.isnan(v) for v in simulate_ranked_search(pool, val, [400.0], draws=20, score_cost=10.0)[400.0])
    # the reversed ranker trains the worst first: C-sample-4 (300 s) alone at 300 s
    worst = simulate_ranked_search(pool, {n: -v for n, v in val.items()}, [300.0], draws=20)[300.0]
    assert set(worst) == {pool.value("C-sample-4", "test")}
    # two drawn of four: the pick is the better of the two, never C-sample-3 unless it was drawn
    two = simulate_ranked_search(pool, val, [1e9], draws=300, drawn=2, seed=3)[1e9]
    assert set(two) <= {pool.value(n, "test") for n in pool.names} and len(set(two)) > 1
    with pytest.raises(UserError, match="no architecture of the pool has a score"):
        simulate_ranked_search(pool, {"C-sample-9": 1.0}, [1.0], draws=1)
