import json
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from tasks.csmri.data import list_volumes


def test_tasks_lists_csmri(cli, capsys):
    rc, out, _ = cli("tasks")
    assert rc == 0 and "csmri" in out and "zero-filled" in out


def test_evaluate_zero_filled_end_to_end(cli, capsys, embedded, tmp_path):
    out_json = tmp_path / "results.json"
    recons = tmp_path / "recons"
    rc, out, err = cli("evaluate", "--task", "csmri", "--method", "zero-filled", "--out", str(out_json),
                       "--save-recons", str(recons), "--no-progress")
    assert rc == 0, err
    res = json.loads(out_json.read_text())
    for key in ("overall", "by_acceleration", "per_volume"):
        assert key in res
    assert set(res["by_acceleration"]) == {"4", "8"}
    m4, m8 = res["by_acceleration"]["4"], res["by_acceleration"]["8"]
    for m in (m4, m8, res["overall"]):
        assert set(m) == {"mse", "nmse", "psnr", "ssim", "n_volumes"}
        assert set(m["psnr"]) == {"mean", "std"}
    assert m4["psnr"]["mean"] > m8["psnr"]["mean"] > 15.0
    assert m4["ssim"]["mean"] > m8["ssim"]["mean"]
    test_files = list_volumes(embedded / "test")
    assert res["overall"]["n_volumes"] == len(test_files) == len(res["per_volume"])
    # fastMRI submission layout, one file per volume, named as the input
    for f in test_files:
        with h5py.File(recons / f.name, "r") as h, h5py.File(f, "r") as src:
            assert h["reconstruction"].dtype == np.float32
            assert h["reconstruction"].shape == src["reconstruction_esc"].shape
    assert "4x" in out and "8x" in out


def test_evaluate_on_a_flat_folder_and_single_file(cli, capsys, embedded, tmp_path):
    one = list_volumes(embedded / "test")[0]
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--data", str(one), "--out",
                     str(tmp_path / "r.json"), "--accelerations", "4", "--no-progress")
    assert rc == 0, err
    res = json.loads((tmp_path / "r.json").read_text())
    assert list(res["by_acceleration"]) == ["4"] and res["overall"]["n_volumes"] == 1


def test_existing_output_is_not_overwritten(cli, capsys, embedded, tmp_path):
    out_json = tmp_path / "r.json"
    out_json.write_text("precious")
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--out", str(out_json), "--no-progress")
    assert rc == 2 and "already exists" in err and out_json.read_text() == "precious"
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--out", str(out_json), "--no-progress", "--force")
    assert rc == 0
    moved = list(tmp_path.glob("r.json.old-*"))
    assert len(moved) == 1 and moved[0].read_text() == "precious"


@pytest.fixture
def bad_dir(tmp_path, embedded):
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(list_volumes(embedded / "test")[0], d / "good.h5")
    (d / "broken.h5").write_bytes(b"\x89HDF\r\n garbage")
    return d


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--task", "ct", "--method", "zero-filled"], "unknown task 'ct'"),
        (["--task", "csmr", "--method", "zero-filled"], "did you mean 'csmri'"),
        (["--method", "magic"], "unknown method 'magic'"),
        (["--method", "zero-filled", "--data", "/nonexistent/dir"], "no such file"),
        (["--method", "zero-filled", "--accelerations", "0.5"], "acceleration must be >= 1"),
        (["--method", "zero-filled", "--center-fractions", "1.5", "1.5"], r"\(0, 1\)"),
        (["--method", "zero-filled", "--crop", "400"], "larger than the image"),
        (["--method", "zero-filled", "--mask", "spiral"], "unknown mask type"),
        (["--method", "zero-filled", "--accelerations", "four"], "invalid float value"),
    ],
)
def test_bad_evaluate_input_one_line_exit_2(cli, capsys, embedded, tmp_path, args, msg):
    out_json = tmp_path / "r.json"
    rc, _, err = cli("evaluate", *args, "--out", str(out_json), "--no-progress")
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert re.search(msg, lines[0]), lines[0]
    assert not out_json.exists()


def test_directory_with_a_bad_file_names_it(cli, capsys, bad_dir, tmp_path):
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--data", str(bad_dir), "--out",
                     str(tmp_path / "r.json"), "--no-progress")
    assert rc == 2 and "broken.h5" in err and "HDF5" in err


def test_data_inspect_and_bad_file(cli, capsys, embedded, tmp_path, good_kspace, write_h5):
    f = list_volumes(embedded / "test")[0]
    rc, out, _ = cli("data", "inspect", str(f))
    assert rc == 0 and "192 x 110" in out and "96 x 96" in out
    nan = good_kspace.copy()
    nan[0, 0, 0] = np.inf
    rc, _, err = cli("evaluate", "--method", "zero-filled", "--data",
                     str(write_h5(tmp_path / "inf.h5", kspace=nan)), "--crop", "20", "--out", str(tmp_path / "r.json"),
                     "--no-progress")
    assert rc == 2 and "inf.h5: slice 0" in err and "NaN or Inf" in err


def test_data_build_small_and_refuses_existing(cli, capsys, tmp_path):
    out = tmp_path / "d"
    rc, out_txt, _ = cli("data", "build", "--out", str(out), "--size", "32")
    assert rc == 0
    assert list_volumes(out / "train") and list_volumes(out / "test")
    with h5py.File(list_volumes(out / "test")[0], "r") as h:
        assert h["reconstruction_esc"].shape[1:] == (32, 32)
    rc, _, err = cli("data", "build", "--out", str(out), "--size", "32")
    assert rc == 2 and "already exists" in err


def test_console_script_prints_no_traceback(tmp_path):
    exe = shutil.which("nasengine") or str(__import__("pathlib").Path(sys.executable).parent / "nasengine")
    p = subprocess.run([exe, "evaluate", "--method", "zero-filled", "--data", str(tmp_path / "missing"),
                        "--out", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_atomic_writes_get_the_users_normal_permissions(tmp_path):
    import os
    import stat

    from nas_engine.files import write_text

    old = os.umask(0o022)
    try:
        p = write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_every_option_has_help_and_usage_errors_are_one_clean_line(cli):
    import argparse

    from nas_engine import __version__
    from nas_engine.app.cli import build_parser

    missing = []

    def walk(parser, name):
        assert "``" not in (parser.description or ""), name  # no raw docstring markup in --help
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub, p in a.choices.items():
                    walk(p, f"{name} {sub}")
            elif not a.help and a.dest != "help":
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")

    walk(build_parser(), "nasengine")
    assert not missing, missing
    # the main command says what it is, where its options are documented, and shows examples
    search = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["search"]
    text = search.format_help()
    assert "docs/search.md" in text and "nas_engine/config.py" in text and "examples:" in text
    assert "search.strategy=ranked" in text and "--resume --out" in text
    rc, out, err = cli("search", "--bogus")
    assert rc == 2 and err.count("error:") == 1 and err.count("nasengine") == 2  # "nasengine: error: ... --help"
    assert err.strip().startswith("nasengine: error: unrecognized arguments: --bogus")
    with pytest.raises(SystemExit) as e:
        cli("--version")
    assert e.value.code == 0
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_epoch_lines_print_metrics_with_fixed_decimals():
    from nas_engine.retrain import metric_text

    assert [metric_text(v) for v in (20.0, 22.049, 0.70312, 0.0193, 0.00012)] == ["20.00", "22.05", "0.7031", "0.0193",
                                                                              "0.00012"]


def test_quiet_prints_no_epoch_lines(cli, tmp_path):
    rc, out, err = cli("retrain", "--config", "tiny", "--method", "dccnn-1", "--out", tmp_path / "r", "--quiet",
                       "--set", "train.validate=false")
    assert rc == 0, err
    assert "epoch 1/2" not in out and "trained weights:" in out and not err.strip()
    assert "epoch 1/2" in (tmp_path / "r" / "log.txt").read_text()  # the log still has them
    rc, out, _ = cli("retrain", "--config", "tiny", "--method", "dccnn-1", "--out", tmp_path / "v",
                     "--set", "train.validate=false")
    assert "epoch 1/2" in out and "\r" not in out  # stdout is not a terminal here: no bar updates
