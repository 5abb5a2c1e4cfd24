"""The repository's text describes the product, not how it was built: no tracked text file mentions
numbered development sessions or similar work-diary wording. Commit messages keep the history."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve()

PATTERNS = [re.compile(p) for p in (r"\b[Ss]ession \d+\b", r"\bin session\b", r"fresh clone " r"here", r"\bwork period\b")]


def tracked_text_files() -> list[Path]:
    """Tracked files that exist and read as UTF-8 text (binary files, e.g. PNGs, are skipped)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    r = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    out = r.stdout
    files = []
    for name in out.decode("utf-8").split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.resolve() == SELF:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def test_no_development_history_in_tracked_files():
    files = tracked_text_files()
    assert files, "git ls-files listed no text files"
    hits = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(p.search(line) for p in PATTERNS):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "development history in tracked files:\n" + "\n".join(hits)
