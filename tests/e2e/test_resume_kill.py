"""A search killed with SIGKILL mid-run and resumed ends exactly like an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _cli(*args):
    return [sys.executable, "-m", "nas_engine.app.cli", *map(str, args)]


@pytest.mark.long(10)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_then_resume_matches_uninterrupted(cli, tmp_path, wait_for_epochs):
    """Killed in a process of its own; the resume and the uninterrupted run in this one (the same
    code after the process start, and a process start less each)."""
    common = ["--config", "tiny", "--no-progress", "--set", "search.epochs=6", "--set", "search.steps_per_epoch=0"]
    env = dict(os.environ)
    killed = tmp_path / "killed"
    p = subprocess.Popen(_cli("search", "--out", killed, *common), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    hist = killed / "history.json"
    wait_for_epochs(p, hist, 2)
    assert p.poll() is None, "the search ended before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL
    done = len(json.loads(hist.read_text()))
    assert done < 6
    rc, _, err = cli("search", "--out", killed, "--resume", "--no-progress")
    assert rc == 0, err
    whole = tmp_path / "whole"
    rc, _, err = cli("search", "--out", whole, *common)
    assert rc == 0, err
    assert (killed / "genotype.json").read_text() == (whole / "genotype.json").read_text()
    assert (killed / "alphas.csv").read_text() == (whole / "alphas.csv").read_text()
    assert not list(Path(killed / "checkpoints").glob(".*.tmp"))
