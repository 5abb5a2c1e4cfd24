"""What a user meets when things go wrong: locked run directories, Ctrl-C and SIGTERM, unreadable or
mismatched checkpoints, failures that must leave nothing behind, and files that are not what the
option expects. Each ends in one line (exit 2, or 128 + signal for a stop) and keeps the user's work."""

import json
import random
import signal
import subprocess
import sys

import pytest
import torch

from nas_engine.errors import UserError
from nas_engine.genotype import Genotype
from nas_engine.rundir import RunDir
from search_spaces import SPACES

TINY = ["--config", "tiny", "--no-progress"]


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_a_run_directory_is_locked_while_a_process_writes_it(tmp_path):
    first = RunDir(tmp_path / "run", command="search")
    with pytest.raises(UserError, match=r"in use \(nasengine pid \d+\)"):
        RunDir(tmp_path / "run", resume=True)
    first.release()
    RunDir(tmp_path / "run", resume=True).release()  # free again
    # a process that ends (here: killed) drops its lock with it
    code = ("import sys, time\nfrom nas_engine.rundir import RunDir\n"
            f"r = RunDir({str(tmp_path / 'run')!r}, resume=True)\nprint('locked', flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    with pytest.raises(UserError, match="in use"):
        RunDir(tmp_path / "run", resume=True)
    p.kill()
    p.wait()
    RunDir(tmp_path / "run", resume=True).release()


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A space-A search run of one tiny epoch (it has a checkpoint)."""
    from nas_engine.app.cli import main

    out = tmp_path_factory.mktemp("rel") / "run"
    assert main(["search", "--out", str(out), *TINY, "--epochs", "2"]) == 0
    assert (out / "checkpoints" / "last.ckpt").is_file()
    return out


def test_second_resume_on_a_locked_run_is_refused(cli, one_epoch):
    lock = RunDir(one_epoch, resume=True)
    try:
        rc, _, err = cli("search", "--out", one_epoch, "--resume", "--epochs", 3, "--no-progress")
    finally:
        lock.release()
    assert rc == 2 and "is in use" in one_line(err)


def test_resume_with_another_space_names_the_conflict(cli, one_epoch):
    rc, _, err = cli("search", "--out", one_epoch, "--resume", "--space", "B", "--epochs", 3, "--no-progress")
    assert rc == 2
    assert "searches space A; a resumed search keeps its space" in one_line(err)


def test_resume_with_a_different_network_names_the_checkpoint(cli, one_epoch, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(one_epoch, run)
    rc, _, err = cli("search", "--out", run, "--resume", "--set", "model.channels=6", "--epochs", 3, "--no-progress")
    assert rc == 2
    line = one_line(err)
    assert "last.ckpt does not fit the network of this command" in line and "--set" in line


def test_corrupt_checkpoint_on_resume_is_one_line_naming_the_file(cli, one_epoch, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(one_epoch, run)
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated, as after a crash of the disk
    rc, _, err = cli("search", "--out", run, "--resume", "--epochs", 3, "--no-progress")
    assert rc == 2
    line = one_line(err)
    assert str(ckpt) in line and "unreadable checkpoint" in line
    assert ckpt.stat().st_size == 1000  # left as it was, for the user to look at


def test_failure_before_training_leaves_no_run_directory(cli, small_data, tmp_path):
    """The search splits the training volumes, and one volume is too few. The run directory made for
    it is gone again."""
    import shutil

    data = tmp_path / "one"
    for split in ("train", "val", "test"):
        (data / split).mkdir(parents=True)
        shutil.copy(sorted((small_data / split).glob("*.h5"))[0], data / split)
    rc, _, err = cli("search", "--out", tmp_path / "run", "--data", data, *TINY)
    assert rc == 2 and "at least 2 training volumes" in one_line(err)
    assert not (tmp_path / "run").exists()


def test_genotype_files_that_are_not_genotypes(cli, tmp_path):
    binary = tmp_path / "g.json"
    binary.write_bytes(bytes(range(256)) * 4)
    rc, _, err = cli("retrain", "--genotype", binary, "--out", tmp_path / "r", *TINY)
    assert rc == 2 and "not a text file" in one_line(err)
    g = Genotype.random("A", SPACES["A"], 1, 2, random.Random(0)).to_dict()
    g["ops"] = list(SPACES["B"])  # says space A, lists B's ops
    g["cell"] = [[{"input": 0, "op": "conv_9x1_1x9"}, {"input": 1, "op": "skip_connect"}]] * 2
    (tmp_path / "mixed.json").write_text(json.dumps(g))
    rc, _, err = cli("retrain", "--genotype", tmp_path / "mixed.json", "--out", tmp_path / "r", *TINY)
    assert rc == 2 and "space 'A' is built in with ops" in one_line(err)
    assert not (tmp_path / "r").exists()


def test_retrain_refuses_a_width_this_machine_cannot_hold(cli, tmp_path):
    g = tmp_path / "g.json"
    g.write_text(Genotype.random("A", SPACES["A"], 1, 2, random.Random(0)).to_json())
    rc, _, err = cli("retrain", "--genotype", g, "--set", "model.channels=100000000", "--out", tmp_path / "r", *TINY)
    assert rc == 2 and "choose a smaller model.channels" in one_line(err)
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_gpu_accelerator_without_a_gpu(cli, tmp_path):
    rc, _, err = cli("search", "--accelerator", "gpu", "--out", tmp_path / "r", *TINY)
    assert rc == 2 and "sees no CUDA GPU" in one_line(err)


@pytest.mark.long(8)
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_at_a_step_boundary_and_says_how_to_resume(cli, cli_process, wait_for_epochs, tmp_path, sig):
    out = tmp_path / "run"
    p = subprocess.Popen(cli_process("search", "--out", out, *TINY, "--epochs", 30, "--set", "search.patience=0"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_epochs(p, out / "history.json", 1)
    assert p.poll() is None, "the search ended before it could be stopped"
    p.send_signal(sig)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 128 + sig, err
    line = one_line(err)
    assert f"stopped by {signal.Signals(sig).name}" in line and f"nasengine search --resume --out {out}" in line
    done = len(json.loads((out / "history.json").read_text()))
    rc, _, err = cli("search", "--out", out, "--resume", "--epochs", done + 1, "--no-progress")
    assert rc == 0, err
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == list(range(1, done + 2))


@pytest.mark.parametrize("args,msg", [
    (["search", "--seed", "-1", "--out", "{tmp}/run"], "seed must lie in [0, 2**32), got -1"),
    (["evaluate", "--method", "zero-filled", "--out", "{tmp}", "--force"], "is a folder; evaluate writes one results file"),
])
def test_more_options_a_new_user_gets_wrong(cli, tmp_path, args, msg):
    rc, _, err = cli(*[a.format(tmp=tmp_path) for a in args], *TINY)
    assert rc == 2 and msg in one_line(err)
    assert not (tmp_path / "run").exists() and tmp_path.is_dir()


@pytest.mark.long(22)
@pytest.mark.slow
def test_dry_run_forecasts_the_peak_memory_of_the_real_run(cli_process, tmp_path):
    """``--dry-run`` measures batches 1 and 2 and extrapolates to the configured batch (8 here); the
    real run's peak RSS (whole process) lands within 35% of it, and the dry run leaves no folder.
    At 160x160 the batch-8 activations lift the real peak above what building the embedded data
    (in the dry run's process) peaked at: a forecast that read the process's lifetime peak would
    say the build's 0.7 GB for every batch (it did, until the peak window was reset per step)."""
    import re

    opts = [*TINY, "--set", "data.size=160", "--set", "search.batch_size=8", "--epochs", 1]
    r = subprocess.run(cli_process("search", "--dry-run", "--out", tmp_path / "dry", *opts),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "dry").exists()
    dry = r.stdout
    forecast = float(re.search(r"peak memory: ([\d.]+) GB at batch 8", dry).group(1))
    assert re.search(r"time: [\d.]+ s per step, [\d.]+ min per epoch \(\d+ steps\)", dry)
    # the real run's peak RSS, from a fresh parent whose only child it is
    measure = ("import resource, subprocess, sys\n"
               "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
               "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    r = subprocess.run([sys.executable, "-c", measure, *cli_process("search", "--out", tmp_path / "real", *opts)],
                       capture_output=True, text=True)
    rc, kib = map(int, r.stdout.split())
    assert rc == 0, r.stderr
    peak = kib * 1024 / 2**30
    assert abs(forecast - peak) / peak < 0.35, (forecast, peak, dry)


def test_run_cost_is_process_cpu_time_summed_over_calls(tmp_path):
    """cost.json counts CPU time (a busy loop's, not its sleep) and adds a resumed call to the first."""
    import json
    import time

    def busy(seconds: float) -> None:
        t0 = time.process_time()
        while time.process_time() - t0 < seconds:
            pass

    run = RunDir(tmp_path / "run", command="retrain")
    busy(0.3)
    time.sleep(0.3)
    run.release()
    first = json.loads((tmp_path / "run" / "cost.json").read_text())
    assert first["calls"][0]["cpu_s"] >= 0.3 and first["calls"][0]["wall_s"] >= 0.6
    assert first["calls"][0]["cpu_s"] < first["calls"][0]["wall_s"] - 0.2  # the sleep is wall time, not CPU
    again = RunDir(tmp_path / "run", resume=True, command="retrain")
    busy(0.2)
    again.record_cost()
    again.record_cost()  # written again at the next epoch: still one entry for this call
    again.release()
    cost = json.loads((tmp_path / "run" / "cost.json").read_text())
    assert len(cost["calls"]) == 2 and cost["calls"][0] == first["calls"][0]
    assert cost["cpu_s"] >= 0.5 and cost["calls"][1]["matmul_gflops"] > 0
