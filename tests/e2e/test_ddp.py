"""Multi-process training with Lightning's DDP (gloo, 2 CPU processes).

The batch size is global, so 2 processes must train the same network as 1 process:
same losses, same alphas, same genotype, same test metrics (up to float rounding).
"""

import json
import os
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow  # several processes, minutes

TINY = ["--config", "tiny", "--no-progress"]


def _cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "nas_engine.app.cli", *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ), timeout=600)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def genotype_file(tmp_path_factory):
    from nas_engine.app.cli import main

    out = tmp_path_factory.mktemp("ddp") / "search1"  # one process: in this one (a CLI start costs ~5 s)
    assert main(["search", "--out", str(out), *TINY, "--set", "search.steps_per_epoch=0", "--epochs", "2"]) == 0
    return out


def test_two_process_search_derives_the_same_alphas_and_genotype(genotype_file, tmp_path):
    out = tmp_path / "search2"
    _cli("search", "--out", out, *TINY, "--set", "search.steps_per_epoch=0", "--epochs", 2, "--devices", 2)
    assert json.loads((out / "search_info.json").read_text())["processes"] == 2
    assert (out / "genotype.json").read_text() == (genotype_file / "genotype.json").read_text()
    one = (genotype_file / "alphas.csv").read_text().splitlines()
    two = (out / "alphas.csv").read_text().splitlines()
    assert len(one) == len(two) > 1
    for a, b in zip(one[1:], two[1:]):
        a, b = a.split(","), b.split(",")
        assert a[:4] == b[:4]
        assert float(a[4]) == pytest.approx(float(b[4]), abs=1e-4)
    h1 = json.loads((genotype_file / "history.json").read_text())
    h2 = json.loads((out / "history.json").read_text())
    for r1, r2 in zip(h1, h2):  # losses are averaged over both processes
        assert r2["loss_w"] == pytest.approx(r1["loss_w"], rel=1e-4)
        assert r2["loss_alpha"] == pytest.approx(r1["loss_alpha"], rel=1e-4)


def test_two_process_retrain_resumes_and_gives_the_same_metrics(cli, genotype_file, tmp_path):
    """A 2-process retrain stopped after 1 epoch and resumed (2 processes) ends like 2 epochs in one
    process: same losses, same test metrics. Its first start gets --force on a user's folder, which
    DDP re-runs in every process: only rank 0 may act on it."""
    common = [*TINY, "--genotype", genotype_file / "genotype.json", "--set", "train.steps_per_epoch=0",
              "--set", "train.lr_after=1e-3"]  # one learning rate: the schedule does not depend on --epochs
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    (two / "mine.txt").write_text("user's file")
    _cli("retrain", "--out", two, *common, "--epochs", 1, "--devices", 2, "--force")
    moved = list(tmp_path.glob("two.old-*"))
    assert len(moved) == 1 and (moved[0] / "mine.txt").read_text() == "user's file"
    _cli("retrain", "--out", two, "--resume", *common, "--epochs", 2, "--devices", 2)
    rc, _, err = cli("retrain", "--out", one, *common, "--epochs", 2)  # 1 process: this one
    assert rc == 0, err
    h2, h1 = (json.loads((run / "train_history.json").read_text()) for run in (two, one))
    assert [h["epoch"] for h in h2] == [1, 2]
    assert [h["loss"] for h in h2] == pytest.approx([h["loss"] for h in h1], rel=1e-4)
    log = (two / "log.txt").read_text()
    assert "2 processes (DDP)" in log
    assert "first step (epoch 2)" in log  # the resumed start went straight to epoch 2
    for run in (one, two):
        rc, _, err = cli("evaluate", "--checkpoint", run, "--out", tmp_path / f"{run.name}.json", "--no-progress")
        assert rc == 0, err
    e1, e2 = (json.loads((tmp_path / f"{name}.json").read_text())["overall"] for name in ("one", "two"))
    for key in ("psnr", "ssim"):
        assert e2[key]["mean"] == pytest.approx(e1[key]["mean"], abs=1e-3)


def test_retrain_is_a_function_of_the_seed(cli, genotype_file, tmp_path):
    """The initial weights are seeded: two runs with one seed give identical weights, one in a process
    of its own and one in this process (after other tests ran here: nothing carries over)."""
    weights = []
    for name in ("a", "b"):
        args = ("retrain", "--out", tmp_path / name, *TINY, "--genotype", genotype_file / "genotype.json")
        if name == "a":
            _cli(*args)
        else:
            rc, _, err = cli(*args)
            assert rc == 0, err
        weights.append(torch.load(tmp_path / name / "model.pt", weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_killing_rank_0_ends_the_run_and_it_resumes_under_ddp(tmp_path, wait_for_epochs):
    """SIGKILL on rank 0 of a 2-process search: the other process exits too (no orphan), and
    --resume with 2 processes continues from the last checkpoint to the end (one epoch more)."""
    import signal

    import psutil

    out = tmp_path / "run"
    args = [sys.executable, "-m", "nas_engine.app.cli", "search", "--out", str(out), *TINY, "--devices", "2",
            "--set", "search.steps_per_epoch=0", "--epochs", "100"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    hist = out / "history.json"
    wait_for_epochs(p, hist, 1, timeout=120)
    children = psutil.Process(p.pid).children(recursive=True)
    assert p.poll() is None and children, "the 2-process search did not get going"
    p.send_signal(signal.SIGKILL)
    p.wait()
    gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, "rank 1 outlived rank 0"
    done = len(json.loads(hist.read_text()))
    assert 1 <= done < 100
    _cli("search", "--out", out, "--resume", "--devices", 2, "--epochs", done + 1, "--no-progress")
    assert [h["epoch"] for h in json.loads(hist.read_text())] == list(range(1, done + 2))
    assert (out / "cell.png").is_file()
