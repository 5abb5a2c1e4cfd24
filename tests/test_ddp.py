"""Multi-process training with Lightning's DDP (gloo, 2 CPU processes).

The batch size is global, so 2 processes must train the same network as 1 process:
same losses, same alphas, same genotype, same test metrics (up to float rounding).
"""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from nas_engine.cli import main
from nas_engine.lightning import Compute, EpochShuffle, rank_spread, seeded_loader

from conftest import wait_for_epochs

TINY = ["--config", "tiny", "--no-progress"]


def _cli(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "nas_engine.cli", *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ), timeout=600)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def genotype_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "search1"
    _cli("search", "--out", out, *TINY, "--set", "search.steps_per_epoch=0", "--epochs", 3)
    return out


def test_two_process_search_derives_the_same_alphas_and_genotype(genotype_file, tmp_path):
    out = tmp_path / "search2"
    _cli("search", "--out", out, *TINY, "--set", "search.steps_per_epoch=0", "--epochs", 3, "--devices", 2)
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


def test_two_process_retrain_gives_the_same_metrics(genotype_file, tmp_path):
    common = [*TINY, "--genotype", genotype_file / "genotype.json", "--set", "train.steps_per_epoch=0", "--epochs", 3]
    results = {}
    for n in (1, 2):
        run = tmp_path / f"retrain{n}"
        if n == 2:  # DDP re-runs the command line, --force included: only rank 0 may act on it
            run.mkdir()
            (run / "mine.txt").write_text("user's file")
        _cli("retrain", "--out", run, *common, "--devices", n, *(["--force"] if n == 2 else []))
        if n == 2:
            moved = list(tmp_path.glob("retrain2.old-*"))
            assert len(moved) == 1 and (moved[0] / "mine.txt").read_text() == "user's file"
            assert "2 processes (DDP)" in (run / "log.txt").read_text()
        out = tmp_path / f"eval{n}.json"
        _cli("evaluate", "--checkpoint", run, "--out", out, "--no-progress")
        results[n] = (json.loads((run / "train_history.json").read_text()), json.loads(out.read_text()))
    (h1, e1), (h2, e2) = results[1], results[2]
    assert [r["loss"] for r in h2] == pytest.approx([r["loss"] for r in h1], rel=1e-4)
    for key in ("psnr", "ssim"):
        assert e2["overall"][key]["mean"] == pytest.approx(e1["overall"][key]["mean"], abs=1e-3)


def test_two_process_retrain_resumes_from_its_checkpoint(genotype_file, tmp_path):
    """A 2-process run stopped after 2 epochs and resumed (2 processes) ends like 3 epochs in one go."""
    common = [*TINY, "--genotype", genotype_file / "genotype.json", "--set", "train.steps_per_epoch=0",
              "--set", "train.lr_after=1e-3"]  # one learning rate: the schedule does not depend on --epochs
    _cli("retrain", "--out", tmp_path / "a", *common, "--epochs", 2, "--devices", 2)
    _cli("retrain", "--out", tmp_path / "a", "--resume", *common, "--epochs", 3, "--devices", 2)
    _cli("retrain", "--out", tmp_path / "b", *common, "--epochs", 3)
    ha = json.loads((tmp_path / "a" / "train_history.json").read_text())
    hb = json.loads((tmp_path / "b" / "train_history.json").read_text())
    assert [h["epoch"] for h in ha] == [1, 2, 3]
    assert [h["loss"] for h in ha] == pytest.approx([h["loss"] for h in hb], rel=1e-4)
    log = (tmp_path / "a" / "log.txt").read_text()
    assert "first step (epoch 3)" in log  # the resumed start went straight to epoch 3


def test_retrain_is_a_function_of_the_seed(genotype_file, tmp_path):
    """The initial weights are seeded: two runs with one seed give identical weights."""
    weights = []
    for name in ("a", "b"):
        _cli("retrain", "--out", tmp_path / name, *TINY, "--genotype", genotype_file / "genotype.json")
        weights.append(torch.load(tmp_path / name / "model.pt", weights_only=True))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("args,msg", [
    (["--devices", "0"], "--devices must be at least 1"),
    (["--strategy", "ddp_spawn"], "--strategy ddp_spawn: expected one of auto, ddp"),
    (["--accelerator", "tpu"], "--accelerator tpu: expected one of"),
    (["--devices", "2", "--set", "train.batch_size=3"], "train.batch_size=3 cannot be split over 2 processes"),
])
def test_bad_compute_options_one_line_exit_2(capsys, tmp_path, args, msg):
    out = tmp_path / "run"
    rc = main(["retrain", "--method", "dccnn-1", "--out", str(out), *TINY, *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert msg in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_sampler_splits_each_global_batch_over_the_ranks(monkeypatch):
    import nas_engine.lightning as L

    n, B, world = 11, 4, 2
    one = list(EpochShuffle(n, seed=3, batch_size=B))
    batches = [one[k:k + B] for k in range(0, n, B)]
    per_rank = []
    for rank in range(world):
        monkeypatch.setattr(L, "rank_and_world", lambda r=rank: (r, world))
        s = EpochShuffle(n, seed=3, batch_size=B, world=world)
        idx = list(s)
        assert len(idx) == len(s) == 6  # 11 samples -> 3 global batches of 4, 2 per rank each
        per_rank.append([idx[k:k + B // world] for k in range(0, len(idx), B // world)])
    merged = [a + b for a, b in zip(*per_rank)]
    assert merged[:2] == batches[:2]  # whole batches: exactly the one-process batches
    assert merged[2][:3] == batches[2]  # the last one is padded by wrapping around
    assert merged[2][3] == one[0]
    with pytest.raises(ValueError):
        seeded_loader(list(range(n)), batch_size=3, seed=0, world=2)


def test_rank_spread_sees_processes_that_disagree():
    def trainer(*per_rank):
        return SimpleNamespace(world_size=len(per_rank),
                               strategy=SimpleNamespace(all_gather=lambda t: torch.stack(list(per_rank))))

    a = torch.tensor([0.1, 0.2, 0.3])
    assert rank_spread(SimpleNamespace(world_size=1), [a]) == 0.0
    assert rank_spread(trainer(a, a.clone()), [a]) == 0.0
    assert rank_spread(trainer(a, a + torch.tensor([0, 0.5, 0])), [a]) == pytest.approx(0.5)


def test_compute_maps_to_lightning():
    assert Compute().trainer_kwargs() == {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto"}
    kw = Compute(accelerator="gpu", devices=4, num_nodes=2).trainer_kwargs()
    assert kw["strategy"] == "ddp" and kw["devices"] == 4 and kw["num_nodes"] == 2
    assert Compute(devices=2, num_nodes=3).world == 6


@pytest.mark.parametrize("env,rank", [
    ({}, 0),
    ({"LOCAL_RANK": "1"}, 1),  # Lightning's extra local process
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 10_000),  # the first process of the second node
    ({"RANK": "3", "LOCAL_RANK": "1"}, 3),  # torchrun
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2"}, 2),  # srun
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}, 0),
])
def test_launched_rank_reads_the_launchers_environment(monkeypatch, env, rank):
    from nas_engine.run import launched_rank

    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert launched_rank() == rank


def test_killing_rank_0_ends_the_run_and_it_resumes_under_ddp(tmp_path):
    """SIGKILL on rank 0 of a 2-process search: the other process exits too (no orphan), and
    --resume with 2 processes continues from the last checkpoint to the end."""
    import signal

    import psutil

    out = tmp_path / "run"
    args = [sys.executable, "-m", "nas_engine.cli", "search", "--out", str(out), *TINY, "--devices", "2",
            "--set", "search.steps_per_epoch=0", "--epochs", "100"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    hist = out / "history.json"
    wait_for_epochs(p, hist, 2, timeout=120)
    children = psutil.Process(p.pid).children(recursive=True)
    assert p.poll() is None and children, "the 2-process search did not get going"
    p.send_signal(signal.SIGKILL)
    p.wait()
    gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, "rank 1 outlived rank 0"
    done = len(json.loads(hist.read_text()))
    assert 2 <= done < 100
    _cli("search", "--out", out, "--resume", "--devices", 2, "--epochs", done + 2, "--no-progress")
    assert [h["epoch"] for h in json.loads(hist.read_text())] == list(range(1, done + 3))
    assert (out / "cell.png").is_file()


def test_benchmark_tables_hand_the_compute_flags_to_the_training_steps(monkeypatch, tmp_path):
    import nas_engine.tables as T

    calls = []

    def fake_run(argv, own_process=False):
        calls.append((argv[0], own_process, argv))
        if argv[0] == "evaluate":
            out = argv[argv.index("--out") + 1]
            Path(out).write_text('{"overall": {}}')

    from pathlib import Path

    monkeypatch.setattr(T, "_run", fake_run)
    monkeypatch.setattr(T, "complexity_of", lambda *a: {})
    entry = next(e for e in T.TABLES["table1"] if e.kind == "nas")
    flags = Compute(devices=2).cli_args()
    assert flags == ["--devices", "2"]
    plan = T.Plan(common=["--config", "tiny"], work=tmp_path / "w", out=tmp_path / "o", compute=flags)
    T.run_seed(entry, 0, plan)
    kinds = {k: (own, argv) for k, own, argv in calls}
    for step in ("search", "retrain"):
        own, argv = kinds[step]
        assert own and argv[-2:] == ["--devices", "2"]
    own, argv = kinds["evaluate"]
    assert not own and "--devices" not in argv
