"""Multi-process training with Lightning's DDP (gloo, 2 CPU processes).

The batch size is global, so 2 processes must train the same network as 1 process:
same losses, same alphas, same genotype, same test metrics (up to float rounding).
"""

import json
import os
import re
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


EPOCHS = 10  # the killed search has epochs to spare after its second one (an epoch takes ~0.3 s)


@pytest.fixture(scope="module")
def genotype_file(tmp_path_factory):
    from nas_engine.app.cli import main

    out = tmp_path_factory.mktemp("ddp") / "search1"  # one process: in this one (a CLI start costs ~5 s)
    assert main(["search", "--out", str(out), *TINY, "--set", "search.steps_per_epoch=0", "--epochs", str(EPOCHS)]) == 0
    return out


@pytest.mark.long(32, group="ddp")  # with genotype_file: one module fixture
def test_a_killed_two_process_search_resumes_and_matches_one_process(genotype_file, tmp_path, wait_for_epochs):
    """SIGKILL on rank 0 of a 2-process search after its second epoch: the other process exits too (no
    orphan), and --resume with 2 processes runs to the end with the alphas, genotype and losses of the
    same search in one process. (Two DDP launches, the killed one and the resume, test all three:
    a launch costs two interpreter starts in a row, ~11 s.)"""
    import signal

    import psutil

    out = tmp_path / "run"
    args = [sys.executable, "-m", "nas_engine.app.cli", "search", "--out", str(out), *TINY, "--devices", "2",
            "--set", "search.steps_per_epoch=0", "--epochs", str(EPOCHS)]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    hist = out / "history.json"
    wait_for_epochs(p, hist, 2, timeout=120)  # so epoch 1's checkpoint is on disk
    children = psutil.Process(p.pid).children(recursive=True)
    assert p.poll() is None and children, "the 2-process search did not get going, or ended before the kill"
    p.send_signal(signal.SIGKILL)
    p.wait()
    gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, "rank 1 outlived rank 0"
    done = len(json.loads(hist.read_text()))
    assert 2 <= done < EPOCHS
    _cli("search", "--out", out, "--resume", "--devices", 2, "--no-progress")
    assert json.loads((out / "search_info.json").read_text())["processes"] == 2
    starts = [int(e) for e in re.findall(r"first step \(epoch (\d+)\)", (out / "log.txt").read_text())]
    assert starts[0] == 1 and 2 <= starts[-1] <= done + 1, starts  # on from the last checkpoint, not from 1
    assert (out / "cell.png").is_file()
    assert (out / "genotype.json").read_text() == (genotype_file / "genotype.json").read_text()
    one = (genotype_file / "alphas.csv").read_text().splitlines()
    two = (out / "alphas.csv").read_text().splitlines()
    assert len(one) == len(two) > 1
    for a, b in zip(one[1:], two[1:]):
        a, b = a.split(","), b.split(",")
        assert a[:4] == b[:4]
        assert float(a[4]) == pytest.approx(float(b[4]), abs=1e-4)
    h1 = json.loads((genotype_file / "history.json").read_text())
    h2 = json.loads(hist.read_text())
    assert [h["epoch"] for h in h2] == [h["epoch"] for h in h1] == list(range(1, EPOCHS + 1))
    for r1, r2 in zip(h1, h2):  # losses are averaged over both processes
        assert r2["loss_w"] == pytest.approx(r1["loss_w"], rel=1e-4)
        assert r2["loss_alpha"] == pytest.approx(r1["loss_alpha"], rel=1e-4)


@pytest.mark.long(15, group="ddp")
def test_two_process_retrain_gives_the_same_metrics(cli, genotype_file, tmp_path):
    """A 2-process retrain ends like the same retrain in one process: same losses, same test metrics.
    It gets --force on a user's folder, which DDP re-runs in every process: only rank 0 may act on it.
    (Resuming under DDP is the search test's: both go through one ``fit``.)"""
    common = [*TINY, "--genotype", genotype_file / "genotype.json", "--set", "train.steps_per_epoch=0",
              "--epochs", 2]
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    (two / "mine.txt").write_text("user's file")
    _cli("retrain", "--out", two, *common, "--devices", 2, "--force")
    moved = list(tmp_path.glob("two.old-*"))
    assert len(moved) == 1 and (moved[0] / "mine.txt").read_text() == "user's file"
    rc, _, err = cli("retrain", "--out", one, *common)  # 1 process: this one
    assert rc == 0, err
    h2, h1 = (json.loads((run / "train_history.json").read_text()) for run in (two, one))
    assert [h["epoch"] for h in h2] == [1, 2]
    assert [h["loss"] for h in h2] == pytest.approx([h["loss"] for h in h1], rel=1e-4)
    assert "2 processes (DDP)" in (two / "log.txt").read_text()
    for run in (one, two):
        rc, _, err = cli("evaluate", "--checkpoint", run, "--out", tmp_path / f"{run.name}.json", "--no-progress")
        assert rc == 0, err
    e1, e2 = (json.loads((tmp_path / f"{name}.json").read_text())["overall"] for name in ("one", "two"))
    for key in ("psnr", "ssim"):
        assert e2[key]["mean"] == pytest.approx(e1[key]["mean"], abs=1e-3)


@pytest.mark.long(7, group="ddp")
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
