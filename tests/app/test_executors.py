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


@pytest.mark.long(45)
@pytest.mark.slow
def test_a_killed_ray_worker_leaves_no_half_result_and_its_entry_reruns(tmp_path):
    """SIGKILL the worker of one running entry: Ray runs the entry again (its retraining resumes or
    restarts in the same work folder), the command ends well, every entry is kept whole."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'nasengine[ray]' (make test installs it)")
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    out = tmp_path / "results" / "random"
    cmd = [sys.executable, "-m", "nas_engine.app.cli", "benchmark", "random", "--preset", "tiny", "--n", "1",
           "--set", "train.epochs=40", "--set", "train.steps_per_epoch=4", "--out", str(out), "--work",
           str(tmp_path / "work"), "--no-progress", "--executor", "ray", "--workers", "2"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    import re

    killed = None
    log = tmp_path / "work" / "logs" / "random_1-seed0.log"
    deadline = time.time() + 240
    while killed is None and time.time() < deadline and p.poll() is None:
        text = log.read_text() if log.is_file() else ""
        pid = re.search(r"Ray worker pid (\d+)", text)
        if pid and "epoch 3/40" in text and psutil.pid_exists(int(pid.group(1))):  # mid-retraining
            killed = int(pid.group(1))
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    stdout, _ = p.communicate(timeout=600)
    assert killed is not None, stdout[-2000:]
    assert p.returncode == 0, stdout[-2000:]
    for row in ("nas_a_2n", "random_1"):
        d = out / row / "seed0"
        assert (d / "results.json").is_file() and (d / "entry.json").is_file()
        assert json.loads((d / "results.json").read_text())["overall"]["n_volumes"] == 2
    assert not list((tmp_path / "work").rglob(".results.json.partial"))
    text = log.read_text()
    assert text.count("$ nasengine retrain") >= 2 and text.count("Ray worker pid") >= 2  # it ran again
