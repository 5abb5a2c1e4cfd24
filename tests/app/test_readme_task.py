"""The README's "Adding a task" block, run exactly as written from a folder outside the package: the
plugin task is listed, searched, retrained and evaluated, and the network beats its blurred input."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_blocks() -> tuple[str, list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Adding a task"):]
    section = section[: section.index("\n## ", 1)]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    bash = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in bash.splitlines() if line.startswith("nasengine ")]
    return code, commands


def test_the_readme_block_is_a_complete_plugin():
    code, commands = readme_blocks()
    assert code.startswith("# deblur.py") and "@register_task(\"deblur\")" in code
    assert 60 <= len(code.splitlines()) <= 110
    assert [c.split()[1] for c in commands] == ["tasks", "search", "retrain", "evaluate", "evaluate"]


@pytest.mark.slow
def test_the_readme_task_searches_retrains_and_beats_its_input(tmp_path):
    code, commands = readme_blocks()
    (tmp_path / "deblur.py").write_text(code)
    outs = []
    for command in commands:
        argv = [sys.executable, "-m", "nas_engine.app.cli", *shlex.split(command)[1:], "--no-progress"][
            : None if command.split()[1] != "tasks" else -1]
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, (command, r.stderr[-2000:])
        outs.append(r.stdout)
    assert re.search(r"^deblur\s+Gaussian deblurring", outs[0], re.M)
    assert (tmp_path / "runs/deblur-search/cell.png").is_file()
    net = json.loads((tmp_path / "runs/deblur-net.json").read_text())["overall"]
    blurred = json.loads((tmp_path / "runs/blurred.json").read_text())["overall"]
    assert net["psnr"]["mean"] > blurred["psnr"]["mean"] + 0.5, (net["psnr"], blurred["psnr"])
    assert net["n_volumes"] == blurred["n_volumes"] == 2
