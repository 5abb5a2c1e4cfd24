"""Kept benchmark entries keep their weights and are re-scored on another test set without retraining."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.mark.slow
@pytest.mark.long(8)
def test_kept_entries_are_checkpoints_and_rescore(cli, tmp_path, small_data):
    out = tmp_path / "random"
    rc, stdout, err = cli("benchmark", "random", "--preset", "tiny", "--n", "1", "--out", out, "--work", tmp_path / "w",
                          "--no-progress")
    assert rc == 0, err
    seed = out / "random_1" / "seed0"
    state = torch.load(seed / "model.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())  # half precision
    assert (seed / "config.yaml").is_file() and (seed / "genotype.json").is_file()
    # evaluate --checkpoint reads a kept folder, and its numbers are the kept ones up to half precision
    rc, stdout, err = cli("evaluate", "--checkpoint", seed, "--out", tmp_path / "again.json", "--no-progress",
                          "--seed", "0")
    assert rc == 0, err
    kept = json.loads((seed / "results.json").read_text())["overall"]["psnr"]["mean"]
    again = json.loads((tmp_path / "again.json").read_text())["overall"]["psnr"]["mean"]
    assert again == pytest.approx(kept, abs=0.05)
    # every kept entry re-scored on another test set: a column per seed and a report with the order's tau
    rc, stdout, err = cli("benchmark", "rescore", out, "--data", small_data, "--tag", "small4",
                          "--accelerations", "4", "--no-progress")
    assert rc == 0, err
    for row in ("random_1", "nas_a_2n"):
        new = json.loads((out / row / "seed0" / "results-small4.json").read_text())
        assert new["accelerations"] == [4.0] and new["data"] == str(small_data)
    report = (out / "rescore-small4.md").read_text()
    assert "| random_1 | 1 |" in report and "Kendall tau" in report and "| PSNR 4x |" in report
    assert "Per file (PSNR" in report and "| mni152_" in report.split("Per file")[1]  # a small set: each file
    # the table's own report shows the new columns, once, and keeps them when the benchmark rebuilds it
    table_report = (out / "report.md").read_text()
    assert table_report.count("## Re-scored on other test sets") == 1 and "(small4)" in table_report
    rc, stdout, err = cli("benchmark", "random", "--preset", "tiny", "--n", "1", "--out", out, "--work", tmp_path / "w",
                          "--no-progress")
    assert rc == 0 and "done already" in stdout
    rebuilt = (out / "report.md").read_text()
    assert rebuilt.count("## Re-scored on other test sets") == 1 and "| random_1 | 1 |" in rebuilt
    # resumable: a second call re-uses the kept columns
    mtime = (out / "random_1" / "seed0" / "results-small4.json").stat().st_mtime_ns
    rc, stdout, err = cli("benchmark", "rescore", out, "--data", small_data, "--tag", "small4", "--accelerations", "4")
    assert rc == 0 and (out / "random_1" / "seed0" / "results-small4.json").stat().st_mtime_ns == mtime
    # several accelerations: each on every slice, the overall number their mean
    rc, stdout, err = cli("benchmark", "rescore", out, "--data", small_data, "--tag", "both", "--accelerations", "4", "8")
    assert rc == 0, err
    both = json.loads((out / "random_1" / "seed0" / "results-both.json").read_text())
    four = json.loads((out / "random_1" / "seed0" / "results-small4.json").read_text())
    assert set(both["by_acceleration"]) == {"4", "8"}
    assert both["by_acceleration"]["4"]["psnr"]["mean"] == pytest.approx(four["overall"]["psnr"]["mean"], abs=1e-4)
    assert both["overall"]["psnr"]["mean"] == pytest.approx(
        (both["by_acceleration"]["4"]["psnr"]["mean"] + both["by_acceleration"]["8"]["psnr"]["mean"]) / 2)
    assert "| PSNR 4x | PSNR 8x |" in (out / "rescore-both.md").read_text()
    rc, stdout, err = cli("benchmark", "rescore", out, "--data", small_data, "--tag", "a/b")
    assert rc == 2 and "--tag" in err
