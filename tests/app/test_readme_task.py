"""The task plugin of docs/extending.md ("Adding a task"): ``examples/deblur.py``, run with exactly the
commands of that section's bash block from a folder outside the package: the plugin task is listed,
searched, retrained and evaluated, the network beats its blurred input, and the space benchmark runs on it."""

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENDING = ROOT / "docs" / "extending.md"  # its "## Adding a task" section holds the commands
EXAMPLE = ROOT / "examples" / "deblur.py"  # the plugin those commands run


def example_and_commands() -> tuple[str, list[str]]:
    """The plugin's code, and the ``nasengine ...`` lines of the section's bash block."""
    code = EXAMPLE.read_text(encoding="utf-8")
    text = EXTENDING.read_text(encoding="utf-8")
    section = text[text.index("## Adding a task"):]
    section = section[: section.index("\n## ", 1)]
    assert "examples/deblur.py" in section, "the section no longer points at the example"
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in bash.splitlines() if line.startswith("nasengine ")]
    return code, commands


def test_the_example_is_a_complete_plugin():
    code, commands = example_and_commands()
    assert code.startswith("# deblur.py") and "@register_task(\"deblur\")" in code
    assert 60 <= len(code.splitlines()) <= 110
    assert [c.split()[1] for c in commands] == ["tasks", "search", "retrain", "evaluate", "evaluate", "benchmark"]


# The commands run one after another in one fresh Python process (outside the package, as a user's
# shell would run them), each through the console script's entry point: one interpreter start instead
# of five (each start imports torch, Lightning and NNI: ~5 s).
DRIVER = """
import contextlib, io, json, sys
from nas_engine.app.cli import main
outs = []
for argv in json.loads(sys.argv[1]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    outs.append((rc, buf.getvalue()))
    if rc != 0:
        break
print(json.dumps(outs))
"""


@pytest.mark.long(12)
@pytest.mark.slow
def test_the_example_task_searches_retrains_and_beats_its_input(tmp_path):
    code, commands = example_and_commands()
    (tmp_path / "deblur.py").write_text(code)
    argvs = [[*shlex.split(c)[1:], *(["--no-progress"] if c.split()[1] != "tasks" else [])] for c in commands]
    r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argvs)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    done = json.loads(r.stdout.strip().splitlines()[-1])
    assert [rc for rc, _ in done] == [0] * len(commands), (done[-1], r.stderr[-2000:])
    outs = [out for _, out in done]
    assert re.search(r"^deblur\s+Gaussian deblurring", outs[0], re.M)
    assert (tmp_path / "runs/deblur-search/cell.png").is_file()
    net = json.loads((tmp_path / "runs/deblur-net.json").read_text())["overall"]
    blurred = json.loads((tmp_path / "runs/blurred.json").read_text())["overall"]
    assert net["psnr"]["mean"] > blurred["psnr"]["mean"] + 0.5, (net["psnr"], blurred["psnr"])
    assert net["n_volumes"] == blurred["n_volumes"] == 2
    # the benchmark layer on the plugin task: 2 sampled architectures x 2 seeds, FLOPs by the default
    # image_modules (the whole network), the macro choices deblur does not build named as left out
    report = (tmp_path / "runs/deblur-space/report.md").read_text()
    assert "Task `deblur` does not build the space's macro choice(s) cascades, share: not sampled." in report
    assert "Over the 2 architectures with two or more seeds (4 trainings)" in report
    rows = list(csv.DictReader(open(tmp_path / "runs/deblur-space/space.csv")))
    assert [(r["method"], r["seeds"]) for r in rows] == [("C-sample-1", "2"), ("C-sample-2", "2")]
    # C-sample-1 is 16 channels wide, C-sample-2 8: the whole network's FLOPs follow the width
    assert float(rows[0]["flops"]) > 2 * float(rows[1]["flops"]) > 0
