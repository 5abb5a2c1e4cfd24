"""benchmarks/probes/finetune_ranking.py keeps each search seed's supernet scores side by side and reports
every seed's Kendall tau and their mean."""

import importlib.util
import json
import types
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "probes" / "finetune_ranking.py"


@pytest.fixture(scope="module")
def fr():
    spec = importlib.util.spec_from_file_location("finetune_ranking", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_one_supernet_file_is_read_as_that_seeds_entry(fr, tmp_path):
    f = tmp_path / "finetune_ranking.json"
    f.write_text(json.dumps({"run": "/w/runs/nas_c_spos/seed2/search", "scores": {"supernet 0": {"a": 0.1}},
                             "seconds": {"supernet 0": {"a": 1.0}}}))
    kept = fr.load_kept(f)
    assert kept["supernets"] == [{"run": "/w/runs/nas_c_spos/seed2/search", "seed": 2, "weights": None,
                                  "scores": {"supernet 0": {"a": 0.1}}, "seconds": {"supernet 0": {"a": 1.0}}}]
    assert fr.load_kept(tmp_path / "none.json") == {"supernets": []}


def test_report_gives_each_seeds_tau_and_their_mean(fr):
    psnr = {"s1": 22.0, "s2": 23.0, "s3": 24.0, "s4": 25.0}
    samples = {n: (None, v) for n, v in psnr.items()}
    # seed 0: the lowest loss is the best PSNR (tau +1); seed 1: the reverse order (tau -1);
    # seed 1's "supernet 40" has one pair swapped: 5 of 6 pairs agree, tau (5 - 1) / 6 = +0.67
    def run(seed, losses):
        return {"run": f"r{seed}", "seed": seed, "weights": str(seed), "scores": {"supernet 40": losses},
                "seconds": {"supernet 40": {n: 2.0 for n in losses}}}
    kept = {"supernets": [run(1, {"s1": 0.1, "s2": 0.2, "s3": 0.3, "s4": 0.4}),
                          run(0, {"s1": 0.4, "s2": 0.3, "s3": 0.2, "s4": 0.1})]}
    text = fr.report(kept, samples, types.SimpleNamespace(results=Path("res"), steps="40"))
    rows = [line for line in text.splitlines() if line.startswith("| supernet |")]
    assert rows[0].startswith("| supernet | 40 | 0 | 4 | +1.00 (")
    assert rows[1].startswith("| supernet | 40 | 1 | 4 | -1.00 (")
    assert "- supernet, 40 steps: +0.00 (-1.00 to +1.00; 2 seeds)" in text
    kept["supernets"][0]["scores"]["supernet 40"] = {"s1": 0.4, "s2": 0.3, "s3": 0.1, "s4": 0.2}
    text = fr.report(kept, samples, types.SimpleNamespace(results=Path("res"), steps="40"))
    assert "| supernet | 40 | 1 | 4 | +0.67 (" in text
    assert "here seeds 0, 1" in text


def test_ranks_against_validation_never_test(fr, tmp_path):
    """The ranking that chooses search.finetune_steps reads each sample's val.json; a results.json (test)
    that disagrees changes nothing."""
    from nas_engine.genotype import Genotype

    geno = Genotype.from_dict({"space": "A", "ops": ["sep_conv_3x3", "dil_2_conv_3x3", "dil_3_conv_3x3", "skip_connect",
                                                     "none"], "cells": 1, "nodes": 1,
                               "cell": [[{"input": 0, "op": "skip_connect"}, {"input": 1, "op": "sep_conv_3x3"}]]})
    for i, (val, test) in enumerate([(21.0, 30.0), (22.0, 10.0)], 1):
        for seed in (0, 1):
            d = tmp_path / f"c_sample_{i}" / f"seed{seed}"
            d.mkdir(parents=True)
            (d / "genotype.json").write_text(geno.to_json())
            (d / "val.json").write_text(json.dumps({"epoch": 10, "val_psnr": val + seed}))
            (d / "results.json").write_text(json.dumps({"overall": {"psnr": {"mean": test}}}))
    got = fr.samples_of(tmp_path)
    assert {k: v for k, (_, v) in got.items()} == {"c_sample_1": 21.5, "c_sample_2": 22.5}
