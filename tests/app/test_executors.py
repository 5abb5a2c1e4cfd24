"""Benchmark entries on Ray: the same kept numbers as the local executor, logs beside the runs, and
the options' errors."""

import json

import pytest

from nas_engine.app.executors import Executor
from nas_engine.errors import UserError


def test_executor_options_are_checked():
    with pytest.raises(UserError, match="--executor dask: choose one of local, ray"):
        Executor("dask")
    with pytest.raises(UserError, match="options of --executor ray"):
        Executor("local", workers=2)
    with pytest.raises(UserError, match="--cpus-per-entry > 0"):
        Executor("ray", cpus_per_entry=0)


@pytest.mark.long(25)
@pytest.mark.slow
def test_benchmark_random_on_ray_keeps_the_numbers_of_the_local_executor(cli, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'nasengine[ray]' (make test installs it)")
    kept = {}
    for how, extra in (("local", []), ("ray", ["--executor", "ray", "--workers", "2"])):
        # results folders apart: kept results of a sibling folder would count as done
        rc, out, err = cli("benchmark", "random", "--preset", "tiny", "--n", "2", "--out", tmp_path / how / "random",
                           "--work", tmp_path / f"work-{how}", "--no-progress", *extra)
        assert rc == 0, err
        kept[how] = {d.parent.name: json.loads((d / "results.json").read_text())["per_volume"]
                     for d in sorted((tmp_path / how / "random").glob("*/seed0"))}
    assert set(kept["ray"]) == set(kept["local"]) == {"nas_a_2n", "random_1", "random_2"}
    for row, vols in kept["local"].items():  # the same masks, seeds and steps: equal to float rounding
        for a, b in zip(vols, kept["ray"][row]):
            assert a["file"] == b["file"] and a["psnr"] == pytest.approx(b["psnr"], abs=1e-3)
    assert (tmp_path / "work-ray" / "logs" / "random_1-seed0.log").read_text().count("$ nasengine retrain") == 1
    # a rerun finds every entry kept and runs nothing
    rc, out, err = cli("benchmark", "random", "--preset", "tiny", "--n", "2", "--out", tmp_path / "ray" / "random",
                       "--work", tmp_path / "work-ray", "--no-progress", "--executor", "ray", "--workers", "2")
    assert rc == 0, err
    assert "$ nasengine" not in (tmp_path / "work-ray" / "logs" / "random_2-seed0.log").read_text().split(
        "done already")[-1]
