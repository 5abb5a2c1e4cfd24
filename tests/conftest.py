import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as nas_engine sets it, before anything loads torch here
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n N` (make test) each worker, and every command it starts, gets one torch/OpenMP
    # thread: N workers of two threads each on a 2-core machine spin against each other.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Long tests first, balanced over the workers. xdist's worksteal scheduler hands each of its N
    workers one contiguous Nth of the collection, and a worker that runs dry steals from the end of
    another's queue: a long test that comes last keeps one worker busy while the others idle (a
    9.8 s SIGKILL test did, alone at the end). So the tests marked ``long(seconds)`` go to the fronts
    of the N parts, the heaviest first to the lightest part; the tests of one ``group=`` stay in
    one part, so that a fixture they share is built once. Only the order changes."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    groups: dict[str, list] = {}
    weight: dict[str, float] = {}
    rest = []
    for item in items:
        mark = item.get_closest_marker("long")
        if mark is None:
            rest.append(item)
            continue
        key = mark.kwargs.get("group", item.nodeid)
        groups.setdefault(key, []).append(item)
        weight[key] = weight.get(key, 0.0) + float(mark.args[0])
    parts: list[list] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for key in sorted(groups, key=lambda k: -weight[k]):
        i = load.index(min(load))
        parts[i] += groups[key]
        load[i] += weight[key]
    ordered, left = [], len(items)
    for i, part in enumerate(parts):  # the sizes xdist gives: n // N, then (n - that) // (N - 1), ...
        size = left // (workers - i)
        take = max(0, size - len(part))
        ordered += part + rest[:take]
        rest = rest[take:]
        left -= size
    items[:] = ordered + rest


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_cache(tmp_path_factory):
    """Tests build the embedded data into their own cache, never the user's."""
    root = tmp_path_factory.mktemp("nasengine-cache")
    old = os.environ.get("NASENGINE_DATA")
    os.environ["NASENGINE_DATA"] = str(root)
    yield root
    if old is None:
        os.environ.pop("NASENGINE_DATA", None)
    else:
        os.environ["NASENGINE_DATA"] = old


@pytest.fixture(scope="session")
def embedded(_isolated_data_cache) -> Path:
    from tasks.csmri.embedded import ensure_embedded

    return ensure_embedded(96)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """A small embedded dataset (32 x 32) for fast training tests."""
    from tasks.csmri.embedded import build

    return build(tmp_path_factory.mktemp("small") / "data", size=32, quiet=True)


@pytest.fixture(scope="session")
def multicoil_data(tmp_path_factory) -> Path:
    """A small multi-coil embedded dataset (48 x 48, 4 coils): fastMRI's multi-coil layout."""
    from tasks.csmri.embedded import build

    return build(tmp_path_factory.mktemp("multicoil") / "data", size=48, quiet=True, coils=4)


def _write_h5(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
    return path


@pytest.fixture
def write_h5():
    """``write_h5(path, kspace=..., ...)``: an .h5 file with these datasets."""
    return _write_h5


@pytest.fixture
def good_kspace() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 40, 36)) + 1j * rng.standard_normal((2, 40, 36))).astype(np.complex64)


def _wait_for_epochs(proc, history: Path, n: int, timeout: float = 300) -> None:
    """Poll a running search until its ``history.json`` lists ``n`` epochs (or it ends)."""
    import json
    import time

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if len(json.loads(history.read_text())) >= n:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.01)


@pytest.fixture
def wait_for_epochs():
    """``wait_for_epochs(proc, history_json, n)``: poll a running search until it lists ``n`` epochs."""
    return _wait_for_epochs


@pytest.fixture
def cli(capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)``: the command line, run in this process."""
    from nas_engine.app.cli import main

    def run(*argv):
        rc = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "nas_engine.app.cli", *map(str, args)]


@pytest.fixture
def cli_process():
    """``cli_process(*args)``: the argv that runs the command line in a process of its own."""
    return cli_command


# What a fresh interpreter has imported after each of these steps, in this order (each step only
# adds modules, so one interpreter start serves every test that asks: a start imports torch,
# Lightning and NNI, ~5 s). The tests that read it: test_genotype (the fixed network needs no NNI),
# test_tables (a benchmark's loader imports nothing lazy until preload_modules), test_search_cli
# (the engine never imports a task).
IMPORT_STEPS = """
import json, sys
steps = {}
def seen(name):
    steps[name] = sorted(m for m in sys.modules if m.split('.')[0] in ('nni', 'tasks', 'nas_engine', 'search_spaces'))
from nas_engine.network import fixed_module_factory
from nas_engine.genotype import Genotype
import search_spaces
seen('fixed network')
from nas_engine.app.benchmark_commands import preload_modules
seen('benchmark loader')
import nas_engine.search, nas_engine.retrain, nas_engine.genotype, nas_engine.oneshot.supernet, nas_engine.network
import nas_engine.config, nas_engine.complexity, nas_engine.app.cli
seen('engine')
steps['preloaded'] = preload_modules('nas_engine', 'search_spaces', 'tasks.csmri')
seen('preload')
print(json.dumps(steps))
"""


@pytest.fixture(scope="session")
def import_steps() -> dict[str, list[str]]:
    """``{step: modules of nni, tasks, nas_engine and search_spaces imported after it}`` in a fresh
    interpreter (see ``IMPORT_STEPS``), and ``'preloaded'``: what ``preload_modules`` returned."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-c", IMPORT_STEPS], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
