"""The shape of the code: dependencies one way, no import cycle, short functions.

These are the rules of issue 19 made checkable: a change that brings back a cycle (a
lazy import inside a function to dodge one counts), a function over 100 lines in the
core, or a core module that reaches into the napari plugin fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"bmes_imaging": ROOT / "src" / "bmes_imaging",
            "bmes_imaging_napari": ROOT / "plugins" / "bmes_imaging_napari"}
#: Alembic revisions are history: once released they must not change, whatever their length
FROZEN = ("migrations",)
MAX_FUNCTION_LINES = 100


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            if any(part in FROZEN for part in path.relative_to(folder).parts):
                continue
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom,
             known: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    out = []
    for alias in node.names:
        if f"{target}.{alias.name}" in known:
            out.append(f"{target}.{alias.name}")
        elif target in known:
            out.append(target)
    return out


def _run_time_imports(known: dict[str, Path]) -> dict[str, set[str]]:
    """module -> modules it imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    graph: dict[str, set[str]] = {m: set() for m in known}

    def visit(module: str, path: Path, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(module, path, child, known):
                    # a module importing its own package's __init__ is a re-export, not a cycle
                    if target != module and not module.startswith(target + "."):
                        graph[module].add(target)
            visit(module, path, child)

    for module, path in known.items():
        visit(module, path, ast.parse(path.read_text(encoding="utf-8")))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle() -> None:
    cycles = _cycles(_run_time_imports(_modules()))
    assert not cycles, "import cycles (move the shared part down a layer): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_the_core_never_imports_the_plugin() -> None:
    graph = _run_time_imports(_modules())
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith("bmes_imaging.")
                   or m == "bmes_imaging" for t in targets if t.startswith("bmes_imaging_napari"))
    assert not wrong, wrong


def test_no_function_over_100_lines_in_the_core() -> None:
    long = []
    for module, path in _modules().items():
        if not module.startswith("bmes_imaging.") and module != "bmes_imaging":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name} ({n} lines)")
    assert not long, "split these: " + ", ".join(sorted(long))


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop and a longer one are found."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]
