"""End-to-end through the CLI on tiny settings: search, retrain, evaluate, plugins, second task, bad input."""

import csv
import json
import re
import shutil
import textwrap

import pytest

from nas_engine.app.cli import main
from nas_engine.genotype import Genotype

pytestmark = pytest.mark.slow  # every test here searches or trains through the CLI


def probs_by_epoch(path):
    rows = list(csv.DictReader(open(path)))
    out = {}
    for r in rows:
        out.setdefault(int(r["epoch"]), {})[(r["node"], r["input"], r["op"])] = float(r["prob"])
    return out


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("s") / "run"
    rc = main(["search", "--config", "tiny", "--out", str(out), "--no-progress", "--set", "search.epochs=2"])
    assert rc == 0
    return out


def test_tiny_search_runs_nni_darts_and_writes_the_run_directory(searched):
    for name in ("config.yaml", "genotype.json", "genotype.txt", "cell.png", "alphas.csv", "log.txt",
                 "search_info.json", "history.json", "checkpoints/last.ckpt"):
        assert (searched / name).is_file(), name
    info = json.loads((searched / "search_info.json").read_text())
    assert info["strategy"][1] == "nni.nas.oneshot.pytorch.strategy.DARTS"  # NNI's strategy (our subclass first)
    assert info["oneshot_module"][1] == "nni.nas.oneshot.pytorch.differentiable.DartsLightningModule"
    g = Genotype.load(searched / "genotype.json")
    assert (g.space, g.cells, g.nodes) == ("A", 1, 2)
    assert all(e.op != "none" for edges in g.cell for e in edges)
    # the alphas moved away from NNI's near-uniform start (randn * 1e-3): DARTS really stepped
    probs = probs_by_epoch(searched / "alphas.csv")
    assert set(probs) == {1, 2}
    n_ops = 5
    assert max(abs(p - 1 / n_ops) for p in probs[2].values()) > 0.01
    assert probs[1] != probs[2]
    # per-edge softmax rows sum to one (none = NNI's implicit zero op)
    edge_sums = {}
    for (node, inp, _), p in probs[2].items():
        edge_sums[(node, inp)] = edge_sums.get((node, inp), 0) + p
    assert all(abs(s - 1) < 1e-4 for s in edge_sums.values())
    assert (searched / "cell.png").read_bytes()[:4] == b"\x89PNG"


def test_search_is_deterministic_for_a_seed(searched, tmp_path):
    out = tmp_path / "again"
    assert main(["search", "--config", "tiny", "--out", str(out), "--no-progress", "--set", "search.epochs=2"]) == 0
    assert (out / "alphas.csv").read_text() == (searched / "alphas.csv").read_text()
    assert (out / "genotype.json").read_text() == (searched / "genotype.json").read_text()


def test_resumed_search_matches_an_uninterrupted_one(cli, searched, tmp_path, capsys):
    """Stop after 2 epochs, --resume to 3: same alphas as 3 epochs in one go (to the last digit)."""
    part = tmp_path / "part"
    assert main(["search", "--config", "tiny", "--out", str(part), "--no-progress", "--set", "search.epochs=2"]) == 0
    capsys.readouterr()
    assert main(["search", "--out", str(part), "--resume", "--epochs", "3", "--no-progress"]) == 0
    assert "resume: 2 epoch(s) done, continuing at epoch 3 of 3" in capsys.readouterr().out  # said on the console
    whole = tmp_path / "whole"
    assert main(["search", "--config", "tiny", "--out", str(whole), "--no-progress", "--set", "search.epochs=3"]) == 0
    assert set(probs_by_epoch(part / "alphas.csv")) == {1, 2, 3}
    assert (part / "alphas.csv").read_text() == (whole / "alphas.csv").read_text()
    assert (part / "genotype.json").read_text() == (whole / "genotype.json").read_text()
    rc, _, err = cli("search", "--out", tmp_path / "nothing", "--resume", "--no-progress")
    assert rc == 2 and "does not exist" in err


def test_early_stop_when_genotype_is_stable(cli, tmp_path, capsys):
    rc, out, _ = cli("search", "--config", "tiny", "--out", tmp_path / "r", "--no-progress",
                     "--set", "search.epochs=6", "--set", "search.patience=1", "--set", "search.arc_lr=1e-9")
    assert rc == 0
    assert "early stop" in out
    hist = json.loads((tmp_path / "r" / "history.json").read_text())
    assert len(hist) == 2
    before = (tmp_path / "r" / "genotype.json").read_text()
    rc, out, err = cli("search", "--out", tmp_path / "r", "--resume", "--no-progress")  # stays stopped
    assert rc == 0, err
    assert "had stopped early after epoch 2" in out and "epoch 3/6" not in out
    assert len(json.loads((tmp_path / "r" / "history.json").read_text())) == 2
    assert (tmp_path / "r" / "genotype.json").read_text() == before


def test_retrain_and_evaluate_checkpoint(cli, searched, tmp_path, capsys):
    rc, _, err = cli("retrain", "--config", "tiny", "--genotype", searched / "genotype.json",
                     "--out", tmp_path / "rt", "--no-progress")
    assert rc == 0, err
    hist = json.loads((tmp_path / "rt" / "train_history.json").read_text())
    assert [h["lr"] for h in hist] == [1e-3, 1e-4]  # paper schedule: first half 1e-3, second half 1e-4
    rc, out, err = cli("evaluate", "--checkpoint", tmp_path / "rt", "--out", tmp_path / "res.json",
                       "--no-progress")
    assert rc == 0, err
    res = json.loads((tmp_path / "res.json").read_text())
    assert set(res["by_acceleration"]) <= {"4", "8"} and res["overall"]["n_volumes"] >= 1
    # A longer (still tiny) training must beat zero-filled on the same test slices and masks.
    rc, _, err = cli("retrain", "--config", "tiny", "--genotype", searched / "genotype.json",
                     "--out", tmp_path / "rt2", "--no-progress", "--epochs", "8", "--set", "train.steps_per_epoch=8",
                     "--set", "train.lr=1e-2")
    assert rc == 0, err
    for args, name in ((["--checkpoint", tmp_path / "rt2"], "nas.json"),
                       (["--method", "zero-filled", "--config", "tiny"], "zf.json")):
        rc, _, err = cli("evaluate", *args, "--out", tmp_path / name, "--no-progress")
        assert rc == 0, err
    nas, zf = (json.loads((tmp_path / n).read_text())["overall"]["psnr"]["mean"] for n in ("nas.json", "zf.json"))
    assert nas > zf + 0.3, (nas, zf)


def test_search_levers_warmup_min_arch_steps_and_alpha_record(cli, tmp_path, capsys):
    rc, out, err = cli("search", "--config", "tiny", "--out", tmp_path / "r", "--no-progress",
                       "--set", "search.epochs=4", "--set", "search.patience=1", "--set", "search.arc_lr=1e-9",
                       "--set", "search.warmup_epochs=1", "--set", "search.min_arch_steps=6",
                       "--set", "search.op_norm=true")
    assert rc == 0, err
    hist = json.loads((tmp_path / "r" / "history.json").read_text())
    # warm-up: no architecture step in epoch 1; then 3 per epoch; patience 1 alone would stop at epoch 2,
    # min_arch_steps=6 holds the search until epoch 3
    assert [h["arch_steps"] for h in hist] == [0, 3, 3] and hist[0]["loss_alpha"] is None
    assert "early stop" in out and "after 6 architecture steps" in out
    assert abs(hist[0]["alpha_entropy"] - 1.0) < 1e-3  # alphas untouched during warm-up: uniform
    skip = [sum(e["op"] == "skip_connect" for edges in h["genotype"]["cell"] for e in edges) for h in hist]
    assert [h["param_free_ops"] for h in hist] == skip
    assert (tmp_path / "r" / "alphas.png").read_bytes()[:4] == b"\x89PNG"
    # redrawn at most every 30 s during the search (not after these sub-second epochs), and at its end
    # (early stop included): drawn after the last epoch's history
    assert (tmp_path / "r" / "alphas.png").stat().st_mtime_ns >= (tmp_path / "r" / "history.json").stat().st_mtime_ns
    rc, _, err = cli("search", "--config", "tiny", "--out", tmp_path / "bad", "--no-progress",
                     "--set", "search.warmup_epochs=1")
    assert rc == 2 and "warmup_epochs (1) must be below search.epochs (1)" in err


def test_space_b_plugin_op_and_custom_space(cli, tmp_path, capsys):
    plugin = tmp_path / "my_ops.py"
    plugin.write_text(textwrap.dedent("""
        from torch import nn
        from search_spaces import register_op

        @register_op("conv_3x3_plugin")
        def conv_3x3_plugin(channels: int) -> nn.Module:
            return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False))
    """))
    space = tmp_path / "mine.yaml"
    space.write_text("[conv_3x3_plugin, skip_connect, none]\n")
    rc, out, err = cli("search", "--config", "tiny", "--space", space, "--plugin", plugin,
                       "--out", tmp_path / "p", "--no-progress", "--set", "search.arc_lr=0.5")
    assert rc == 0, err
    g = Genotype.load(tmp_path / "p")
    assert g.space == "mine" and g.ops == ("conv_3x3_plugin", "skip_connect", "none")
    probs = probs_by_epoch(tmp_path / "p" / "alphas.csv")[1]
    assert any(op == "conv_3x3_plugin" for (_, _, op) in probs)
    rc, out, err = cli("search", "--config", "tiny", "--space", "B", "--out", tmp_path / "b", "--no-progress")
    assert rc == 0, err
    assert Genotype.load(tmp_path / "b").ops[2] == "conv_9x1_1x9"


def test_denoise_task_search_retrain_evaluate(cli, tmp_path, capsys):
    rc, _, err = cli("search", "--task", "denoise", "--space", "B", "--config", "tiny",
                     "--out", tmp_path / "s", "--no-progress")
    assert rc == 0, err
    rc, _, err = cli("retrain", "--task", "denoise", "--config", "tiny", "--genotype", tmp_path / "s",
                     "--out", tmp_path / "r", "--no-progress")
    assert rc == 0, err
    rc, _, err = cli("evaluate", "--checkpoint", tmp_path / "r", "--out", tmp_path / "n.json", "--no-progress")
    assert rc == 0, err
    rc, _, err = cli("evaluate", "--task", "denoise", "--method", "noisy", "--out", tmp_path / "z.json",
                     "--no-progress")
    assert rc == 0, err
    noisy = json.loads((tmp_path / "z.json").read_text())["overall"]["psnr"]["mean"]
    assert 20.0 < noisy < 21.0  # sigma 25/255 -> 20.17 dB before clipping
    assert json.loads((tmp_path / "n.json").read_text())["overall"]["n_volumes"] == 2


@pytest.mark.long(2.5, group="import_steps")
def test_engine_does_not_import_the_csmri_adapter(import_steps):
    from pathlib import Path

    import nas_engine

    for f in Path(nas_engine.__file__).parent.glob("*.py"):
        assert "tasks.csmri" not in f.read_text() and "tasks.denoise" not in f.read_text(), f.name
    # a fresh interpreter (``import_steps``: conftest) that imported the engine and its CLI
    assert "nas_engine.search" in import_steps["engine"] and "nas_engine.app.cli" in import_steps["engine"]
    assert not [m for m in import_steps["engine"] if m.split(".")[0] == "tasks"]


@pytest.mark.parametrize("args,msg", [
    (["search", "--space", "Z"], "unknown space 'Z'"),
    (["search", "--task", "ct"], "unknown task 'ct'"),
    (["search", "--set", "search.epohcs=3"], "unknown config key 'search.epohcs' (did you mean 'epochs'?)"),
    (["search", "--set", "modle.channels=3"], "did you mean 'model'"),
    (["search", "--epochs", "-1"], "search.epochs must be > 0, got -1"),
    (["search", "--set", "model.channels=wide"], "model.channels: expected an integer"),
    (["search", "--config", "huge"], "unknown config preset 'huge'"),
    (["search", "--set", "data.cascade=2"], "did you mean 'cascades'"),
    (["retrain", "--genotype", "/nonexistent/g.json"], "does not exist"),
    (["evaluate", "--checkpoint", "/nonexistent/run"], "not a run directory"),
    (["search", "--plugin", "no_such_plugin_mod"], "failed to import"),
    (["search", "--set", "data.size=-5"], "data.size must be between 16 and 512"),
    (["search", "--set", "model.channels=100000000"], "choose a smaller model.channels"),
    (["evaluate", "--checkpoint", "/nonexistent/run", "--set", "model.channels=8"], "would be ignored"),
    (["evaluate", "--method", "zero-filled", "--tune"], "has no parameters to tune"),
    (["evaluate", "--task", "denoise", "--method", "noisy", "--accelerations", "4"], "option of task csmri"),
])
def test_bad_input_one_line_exit_2(cli, capsys, tmp_path, args, msg):
    extra = ["--out", str(tmp_path / "o")] if args[0] != "evaluate" else ["--out", str(tmp_path / "o.json")]
    rc, _, err = cli(*args, *extra, "--no-progress")
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert msg in lines[0], lines[0]
    assert not (tmp_path / "o").exists()  # a command that fails on bad input leaves no run directory


def test_malformed_genotype_and_unknown_op_in_retrain(cli, tmp_path, capsys):
    g = tmp_path / "g.json"
    g.write_text(json.dumps({"space": "x", "ops": ["my_op"], "cells": 1, "nodes": 1,
                             "cell": [[{"input": 0, "op": "my_op"}, {"input": 1, "op": "my_op"}]]}))
    rc, _, err = cli("retrain", "--config", "tiny", "--genotype", g, "--out", tmp_path / "r", "--no-progress")
    assert rc == 2 and "unknown op 'my_op'" in err
    g.write_text('{"space": "A"}')
    rc, _, err = cli("retrain", "--genotype", g, "--out", tmp_path / "r", "--no-progress")
    assert rc == 2 and "malformed genotype" in err


def test_existing_run_directory_needs_resume_or_force(cli, searched, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    rc, _, err = cli("search", "--config", "tiny", "--out", out, "--no-progress")
    assert rc == 2 and "already exists" in err and "--force" in err
    assert (out / "mine.txt").read_text() == "keep"
    rc, _, err = cli("search", "--config", "tiny", "--out", out, "--no-progress", "--force")
    assert rc == 0, err
    aside = [p for p in tmp_path.iterdir() if re.match(r"run\.old-\d{8}-\d{6}", p.name)]
    assert len(aside) == 1 and (aside[0] / "mine.txt").read_text() == "keep"


def test_ops_and_spaces_commands(cli, capsys):
    rc, out, _ = cli("ops", "--size", "64")
    assert rc == 0
    row = next(line for line in out.splitlines() if line.startswith("sep_conv_3x3"))
    assert row.split()[1] == str(32 * 9 + 32 * 32)  # depthwise 3x3 + pointwise 1x1, no bias
    rc, out, _ = cli("spaces")
    assert "A: sep_conv_3x3, dil_2_conv_3x3, dil_3_conv_3x3, skip_connect, none\n" in out
    assert "; macro choices: width [8, 16, 24]; cascades [1, 2, 3, 4, 5]; share [False, True]" in out


@pytest.mark.long(13)
def test_benchmark_table_tiny_report_and_resume(cli, tmp_path, capsys):
    out, work = tmp_path / "res" / "table3", tmp_path / "work"
    args = ["benchmark", "table3", "--preset", "tiny", "--out", out, "--work", work, "--no-progress", "--seeds", "1"]
    rc, stdout, err = cli(*args)
    assert rc == 0, err
    report = (out / "report.md").read_text()
    assert "| NAS A 3n | 1 |" in report and "| NAS B 3n | 1 |" in report and "Paper's claim" not in report
    for fig in ("psnr_vs_flops.png", "recon_panel.png", "nas_a_3n/seed0/cell.png", "nas_b_3n/seed0/alphas.png"):
        assert (out / fig).read_bytes()[:4] == b"\x89PNG", fig
    before = (out / "nas_b_3n" / "seed0" / "results.json").stat().st_mtime_ns
    rc, stdout, err = cli(*args)
    assert rc == 0 and stdout.count("done already") == 2 and "$ nasengine search" not in stdout
    assert (out / "nas_b_3n" / "seed0" / "results.json").stat().st_mtime_ns == before
    # --only runs just the rows named (a second seed of one row); the report still lists every kept row.
    rc, stdout, err = cli(*args[:-1], "2", "--only", "NAS B 3n")
    assert rc == 0, err
    assert "NAS B 3n, seed 1" in stdout and "NAS A 3n, seed 1" not in stdout
    rows = list(csv.DictReader(open(out / "table3.csv")))
    assert [(r["method"], r["seeds"]) for r in rows] == [("NAS A 3n", "1"), ("NAS B 3n", "2")]
    assert float(rows[1]["flops"]) > 0 and float(rows[1]["params"]) > 0 and float(rows[1]["psnr_std"]) >= 0
    assert rows[0]["psnr_std"] == ""  # no spread from one seed
    kept = json.loads((out / "nas_b_3n" / "seed1" / "entry.json").read_text())
    assert kept["key"]["seed"] == 1 and kept["key"]["preset"] == "tiny" and kept["seconds"]["retrain"] > 0
    assert kept["cpu_seconds"]["retrain"] > 0 and kept["cpu_seconds"]["search"] > 0 and kept["matmul_gflops"] > 0
    # Kept results alone (a fresh clone: no work folder) count as done, for this table and for another
    # table of the same results folder that shares the entry.
    shutil.rmtree(work)
    rc, stdout, err = cli("benchmark", "table2", "--preset", "tiny", "--out", tmp_path / "res" / "table2",
                          "--work", work, "--no-progress", "--seeds", "1", "--only", "NAS A 3n")
    assert rc == 0, err
    assert stdout.count("done already") == 1 and "$ nasengine" not in stdout
    assert [r["method"] for r in csv.DictReader(open(tmp_path / "res" / "table2" / "table2.csv"))] == ["NAS A 3n"]
    # A kept seed without weights (kept before weights were): --restore-weights retrains its kept genotype
    # (no search) and gets the kept numbers again (one machine, one seed: the same training).
    seed1 = out / "nas_b_3n" / "seed1"
    (seed1 / "model.pt").unlink()
    rc, stdout, err = cli(*args[:-1], "2", "--only", "NAS B 3n", "--restore-weights")
    assert rc == 0, err
    assert "kept without weights" in stdout and "$ nasengine search" not in stdout and "$ nasengine retrain" in stdout
    restored = json.loads((seed1 / "entry.json").read_text())["restored"]
    assert restored["psnr_after"] == pytest.approx(restored["psnr_before"], abs=0.05)
    assert restored["cpu_seconds"]["retrain"] > 0 and (seed1 / "model.pt").is_file()
    rc, stdout, err = cli("evaluate", "--checkpoint", seed1, "--no-progress", "--seed", "0", "--out", tmp_path / "e.json")
    assert rc == 0, err  # the kept numbers are those of the kept (half-precision) weights
    again = json.loads((tmp_path / "e.json").read_text())["overall"]["psnr"]["mean"]
    assert again == pytest.approx(json.loads((seed1 / "results.json").read_text())["overall"]["psnr"]["mean"], abs=0.05)
    rc, _, err = cli(*args, "--only", "NAS C 9n")
    assert rc == 2 and "no such row" in err
    # Another preset into the same folder is refused rather than mixed.
    rc, _, err = cli(*args[:3], "demo", *args[4:])
    assert rc == 2 and "another experiment" in err and "preset" in err


@pytest.mark.long(6)
def test_benchmark_random_tiny(cli, tmp_path, capsys):
    out = tmp_path / "random"
    rc, stdout, err = cli("benchmark", "random", "--preset", "tiny", "--n", "2", "--out", out,
                          "--work", tmp_path / "work", "--no-progress")
    assert rc == 0, err
    rows = list(csv.DictReader(open(out / "random.csv")))
    assert [r["method"] for r in rows] == ["NAS A 2n", "random-1", "random-2"]
    cells = [json.loads((out / f"random_{k}" / "seed0" / "genotype.json").read_text())["cell"] for k in (1, 2)]
    assert cells[0] != cells[1]
    report = (out / "report.md").read_text()
    assert "Does the search beat random sampling here?" in report and "| random-2 | 1 |" in report
    assert (out / "random.png").read_bytes()[:4] == b"\x89PNG"
    # --ops: cells of one op only, next to the same searched cell (kept in the sibling folder, not rerun)
    rc, stdout, err = cli("benchmark", "random", "--preset", "tiny", "--n", "2", "--ops", "skip_connect",
                          "--out", tmp_path / "random_skip", "--work", tmp_path / "work", "--no-progress")
    assert rc == 0, err
    assert "[NAS A 2n seed 0] done already" in stdout and "$ nasengine search" not in stdout
    rows = list(csv.DictReader(open(tmp_path / "random_skip" / "random.csv")))
    assert [r["method"] for r in rows] == ["NAS A 2n", "random-skip_connect-1", "random-skip_connect-2"]
    for k in (1, 2):
        g = json.loads((tmp_path / "random_skip" / f"random_skip_connect_{k}" / "seed0" / "genotype.json").read_text())
        assert {e["op"] for edges in g["cell"] for e in edges} == {"skip_connect"}
    assert "`skip_connect` alone" in (tmp_path / "random_skip" / "report.md").read_text()
    rc, _, err = cli("benchmark", "random", "--preset", "tiny", "--ops", "sep_conv_3x3,conv_7x7",
                     "--out", tmp_path / "bad", "--work", tmp_path / "work", "--no-progress")
    assert rc == 2 and "conv_7x7" in err and "choose from" in err and len(err.strip().splitlines()) == 1


def test_benchmark_complexity_json(cli, capsys):
    """At 64x64 (the 320x320 numbers are test_baselines' test_complexity_reproduces_table1_within_1_percent):
    the same parameters, and FLOPs in proportion to the pixels, (320/64)^2 = 25 times fewer."""
    rc, out, err = cli("benchmark", "complexity", "--json", "--no-latency", "--size", "64")
    assert rc == 0, err
    rows = json.loads(out)
    assert [r["method"] for r in rows] == ["U-Net", "DCCNN-3", "DCCNN-11", "MoDL-3", "MoDL-11", "RDN-3", "RDN-8"]
    for r in rows:
        assert abs(r["flops"] * 25 / r["paper_flops"] - 1) < 0.01, r
        assert abs(r["params"] / r["paper_params"] - 1) < 0.01, r


def test_checkpoint_from_another_architecture(cli, searched, tmp_path, capsys):
    rc, _, err = cli("retrain", "--config", "tiny", "--genotype", searched, "--out", tmp_path / "rt",
                     "--no-progress")
    assert rc == 0, err
    # swap in a genotype of another shape: the saved weights no longer fit
    g = json.loads((tmp_path / "rt" / "genotype.json").read_text())
    g["cell"][0][0]["op"] = "skip_connect" if g["cell"][0][0]["op"] != "skip_connect" else "sep_conv_3x3"
    (tmp_path / "rt" / "genotype.json").write_text(json.dumps(g))
    rc, _, err = cli("evaluate", "--checkpoint", tmp_path / "rt", "--out", tmp_path / "e.json", "--no-progress")
    assert rc == 2 and "does not fit the genotype/config" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.json").exists()


def test_diverging_loss_stops_with_one_line_and_keeps_the_checkpoint(cli, tmp_path, capsys):
    # lr 1e30 makes the weights explode after the first steps: the loss turns inf/NaN
    rc, _, err = cli("retrain", "--config", "tiny", "--method", "dccnn-1", "--out", tmp_path / "r",
                     "--no-progress", "--set", "train.lr=1e30", "--set", "train.epochs=3")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "non-finite loss" in lines[0] and "epoch" in lines[0] and "batch" in lines[0]


def test_demo_pipeline_tiny(cli, tmp_path, capsys):
    rc, out, err = cli("demo", "--config", "tiny", "--out", tmp_path / "d", "--no-progress")
    assert rc == 0, err
    for f in ("search/genotype.json", "search/cell.png", "retrain/model.pt", "zero_filled.json", "nas.json"):
        assert (tmp_path / "d" / f).is_file(), f
    table = out[out.index("result on the test split"):]
    assert "zero-filled" in table and "NAS" in table
    # a picture of the outputs, named in the last line with the cell's; no lock file left in finished runs
    assert (tmp_path / "d" / "outputs.png").read_bytes()[:4] == b"\x89PNG"
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"all outputs under {tmp_path / 'd'}; pictures: {tmp_path / 'd' / 'outputs.png'}")
    assert "search/cell.png" in last
    assert not list((tmp_path / "d").rglob(".lock"))
    # the log says how long the genotype has stood, without "0 epoch(s)"
    log = (tmp_path / "d" / "search" / "log.txt").read_text()
    assert "first genotype" in log and "0 epoch(s)" not in log


@pytest.mark.long(8)
@pytest.mark.slow
def test_demo_of_the_denoise_task_compares_with_its_own_reference_method(cli, tmp_path, capsys):
    rc, out, err = cli("demo", "--task", "denoise", "--config", "tiny", "--out", tmp_path / "d", "--no-progress")
    assert rc == 0, err
    table = out[out.index("result on the test split"):]
    assert "\nnoisy\n" in table and "\nNAS\n" in table and (tmp_path / "d" / "noisy.json").is_file()


def test_evaluate_checkpoint_says_what_the_folder_is(cli, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = cli("evaluate", "--checkpoint", empty, "--out", tmp_path / "r.json")
    assert rc == 2 and "an empty folder; expected the --out of `nasengine retrain`" in err
    search = tmp_path / "search"
    search.mkdir()
    (search / "genotype.json").write_text("{}")
    (search / "search_info.json").write_text("{}")
    rc, _, err = cli("evaluate", "--checkpoint", search, "--out", tmp_path / "r.json")
    assert rc == 2 and "a search run, not a trained network; retrain its genotype first" in err
    (search / "search_info.json").unlink()
    (search / "genotype.json").unlink()
    (search / "checkpoints").mkdir()
    (search / "checkpoints" / "last.ckpt").write_bytes(b"x")
    rc, _, err = cli("evaluate", "--checkpoint", search, "--out", tmp_path / "r.json")
    assert rc == 2 and f"nasengine retrain --resume --out {search}" in err


def test_a_misspelt_command_gets_a_suggestion(cli, capsys):
    rc, _, err = cli("serach")
    assert rc == 2 and "unknown command 'serach' (did you mean 'search'?)" in err and len(err.strip().splitlines()) == 1
    rc, _, err = cli("benchmark", "spce")
    assert rc == 2 and "(did you mean 'space'?)" in err


def test_retrain_can_stack_the_searched_cell_deeper(cli, searched, tmp_path, capsys):
    rc, _, err = cli("retrain", "--config", "tiny", "--genotype", searched, "--out", tmp_path / "deep",
                     "--no-progress", "--set", "model.cells=3", "--set", "train.epochs=1")
    assert rc == 0, err
    g = Genotype.load(tmp_path / "deep")
    assert g.cells == 3 and g.cell == Genotype.load(searched).cell
    rc, _, err = cli("evaluate", "--checkpoint", tmp_path / "deep", "--out", tmp_path / "e.json", "--no-progress")
    assert rc == 0, err


def test_nearly_full_disk_fails_before_work(cli, tmp_path, capsys, monkeypatch):
    import shutil as _shutil

    import nas_engine.rundir as R

    real = _shutil.disk_usage
    monkeypatch.setattr(R.shutil, "disk_usage", lambda p: real(p)._replace(free=5 * 2**20))
    for argv in (["retrain", "--method", "dccnn-1", "--out", tmp_path / "r"],
                 ["search", "--out", tmp_path / "s"],
                 ["evaluate", "--method", "zero-filled", "--out", tmp_path / "e.json"]):
        rc, _, err = cli(*argv, "--config", "tiny", "--no-progress")
        assert rc == 2
        assert len(err.strip().splitlines()) == 1 and "only 5 MiB free" in err and "needs about" in err
    assert not any(tmp_path.iterdir())
    # a virtual file system (no disk behind it: total 0) is not "full"
    monkeypatch.setattr(R.shutil, "disk_usage", lambda p: real(p)._replace(free=0, total=0))
    rc, _, err = cli("search", "--out", tmp_path / "v", "--config", "tiny", "--no-progress")
    assert rc == 2 and "is on a virtual file system (like /proc or /sys), not a disk" in err and "MiB free" not in err


def test_unwritable_data_folders_are_one_line(cli, tmp_path, monkeypatch):
    """NASENGINE_DATA naming a file, or a folder that cannot be made; data build --out where nothing can be written."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for root, msg in ((afile, "is a file, not a folder; set NASENGINE_DATA to a folder you can write"),
                      (afile / "sub", "cannot write the embedded data's folder")):
        monkeypatch.setenv("NASENGINE_DATA", str(root))
        rc, _, err = cli("evaluate", "--method", "zero-filled", "--config", "tiny", "--out", tmp_path / "e.json",
                         "--no-progress")
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = cli("data", "build", "--out", afile / "data")
    assert rc == 2 and "the folder of" in err and "is a file, not a folder; choose another --out" in err, err
    assert not (tmp_path / "e.json").exists()


def test_disk_full_during_a_run_keeps_the_last_checkpoint(cli, tmp_path, capsys, monkeypatch):
    import errno

    import pytorch_lightning as pl
    import torch

    real, calls = pl.Trainer.save_checkpoint, []

    def save(self, path, *a, **k):
        calls.extend([path] if "last" in str(path) else [])
        if "last" in str(path) and len(calls) == 2:  # the second epoch's checkpoint: the disk fills up half way
            open(path, "wb").write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pl.Trainer, "save_checkpoint", save)
    out = tmp_path / "r"
    rc, _, err = cli("retrain", "--config", "tiny", "--method", "dccnn-1", "--out", out, "--no-progress",
                     "--set", "train.epochs=3")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "disk full at epoch 2" in lines[0] and "--resume" in lines[0]
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["epoch"] == 0  # epoch 1's checkpoint is intact
    # the failed write left no temporary file (best.ckpt: the validation's best epoch so far)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    monkeypatch.setattr(pl.Trainer, "save_checkpoint", real)
    rc, _, err = cli("retrain", "--out", out, "--resume", "--no-progress", "--method", "dccnn-1")
    assert rc == 0, err
    assert [h["epoch"] for h in json.loads((out / "train_history.json").read_text())] == [1, 2, 3]


@pytest.mark.parametrize("strategy", ["gdas", "pcdarts", "proxyless"])
def test_other_strategies_search_end_to_end(cli, tmp_path, strategy):
    out = tmp_path / "run"
    rc, _, err = cli("search", "--config", "tiny", "--set", f"search.strategy={strategy}", "--epochs", 2, "--out", out,
                     "--no-progress")
    assert rc == 0, err
    g = Genotype.load(out / "genotype.json")
    assert g.space == "A" and g.nodes == 2
    info = json.loads((out / "search_info.json").read_text())
    assert info["strategy"][0].endswith({"gdas": "GDAS", "pcdarts": "PCDARTS", "proxyless": "Proxyless"}[strategy])
    assert len(json.loads((out / "history.json").read_text())) == 2


def test_architecture_steps_take_their_own_batch_size(cli, tmp_path):
    """search.arch_batch_size: the architecture loader's batches (averaging the alpha gradient's
    noise, benchmarks/results/alpha_gradient.txt); the weight steps keep search.batch_size."""
    out = tmp_path / "run"
    rc, _, err = cli("search", "--config", "tiny", "--set", "search.arch_batch_size=4", "--out", out, "--no-progress")
    assert rc == 0, err
    info = json.loads((out / "search_info.json").read_text())
    assert info["batch_size"] == {"weights": 2, "architecture": 4}
    assert Genotype.load(out / "genotype.json").nodes == 2
    rc, _, err = cli("search", "--config", "tiny", "--set", "search.arch_batch_size=-1", "--out", tmp_path / "bad",
                     "--no-progress")
    assert rc == 2 and "search.arch_batch_size must be >= 0, got -1" in err
