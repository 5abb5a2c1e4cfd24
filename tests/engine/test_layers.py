"""The layering of the source, checked on its import statements (every import, also those inside
functions): search_spaces <- nas_engine (engine) <- tasks <- nas_engine.app (application), and no
import cycle between modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("search_spaces", "nas_engine", "tasks")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of the project modules ``path`` imports."""
    name = module_name(path, root)
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import submodule`
    return {m for m in out if m.split(".")[0] in PACKAGES}


def source_modules(root: Path = ROOT) -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")]
    mods = {module_name(p, root): p for p in files}
    graph = {}
    for name, path in mods.items():
        graph[name] = {m for m in imports_of(path, root) if m in mods and m != name}
    return graph


def layer(mod: str) -> str:
    if mod.startswith("nas_engine.app"):
        return "app"
    return mod.split(".")[0]


# which layers a module of each layer may import
ALLOWED = {
    "search_spaces": {"search_spaces"},
    "nas_engine": {"search_spaces", "nas_engine"},
    "tasks": {"search_spaces", "nas_engine", "tasks"},
    "app": {"search_spaces", "nas_engine", "app"},  # tasks only through the registry
}


def test_every_import_runs_downwards():
    graph = source_modules()
    assert "nas_engine.app.cli" in graph and "tasks.csmri.task" in graph and "search_spaces.registry" in graph
    bad = sorted(f"{m} imports {d}" for m, deps in graph.items() for d in deps if layer(d) not in ALLOWED[layer(m)])
    assert not bad, "layering broken:\n" + "\n".join(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                cycle = visit(d)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(source_modules())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_a_wrong_import(tmp_path):
    """The checker itself, on a small tree: an engine module importing a task inside a function is
    reported, and so is a cycle."""
    files = {"nas_engine/__init__.py": "", "nas_engine/probe.py": "def f():\n    from tasks.csmri import task\n",
             "tasks/__init__.py": "", "tasks/csmri/__init__.py": "", "tasks/csmri/task.py": "from . import other\n",
             "tasks/csmri/other.py": "from .task import x\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    graph = source_modules(tmp_path)
    assert "tasks.csmri.task" in graph["nas_engine.probe"]
    assert layer("tasks.csmri.task") not in ALLOWED[layer("nas_engine.probe")]
    assert graph["tasks.csmri.task"] == {"tasks.csmri", "tasks.csmri.other"}
    assert find_cycle(graph) in (["tasks.csmri.other", "tasks.csmri.task", "tasks.csmri.other"],
                                 ["tasks.csmri.task", "tasks.csmri.other", "tasks.csmri.task"])
