"""The plugin's shape (issue 19): widgets composed of parts, not mixins; one study
loader (the core's); modules and functions of a readable size."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PLUGIN = Path(__file__).parents[2] / "plugins" / "bmes_imaging_napari"
#: calls that walk a folder
WALKING = {"walk", "scandir", "iterdir", "glob", "rglob", "listdir"}


def _trees() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for p in sorted(PLUGIN.rglob("*.py"))}


def test_no_mixins_and_one_base_per_class() -> None:
    """A class is composed of the parts it holds, not assembled from several bases."""
    found = []
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and ("Mixin" in node.name
                                                   or len(node.bases) > 1):
                found.append(f"{path.relative_to(PLUGIN)}: {node.name}")
    assert found == []


def test_study_folders_are_walked_only_by_the_core() -> None:
    """_study.py re-exports the core's loader; the reader and the docks walk no folder."""
    owners = ["_study.py", "_reader.py", "_qt/_queue_widget.py", "_qt/_study_opener.py",
              "_qt/_review_widget.py"]
    for name in owners:
        tree = ast.parse((PLUGIN / name).read_text())
        calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                 for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert not calls & WALKING, (name, calls & WALKING)
    study = ast.parse((PLUGIN / "_study.py").read_text())
    assert not [n for n in study.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    imported = [n for n in study.body if isinstance(n, ast.ImportFrom)]
    assert {n.module for n in imported} == {"__future__", "bmes_imaging.study"}


def test_no_module_over_600_lines_and_no_function_over_100() -> None:
    long_modules, long_functions = [], []
    for path, tree in _trees().items():
        lines = len(path.read_text().splitlines())
        if lines > 600:
            long_modules.append((path.name, lines))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > 100:
                    long_functions.append((path.name, node.name, n))
    assert long_modules == []
    assert long_functions == []


def test_the_plugin_uses_napari_public_api_only() -> None:
    """Issue 19: no napari (or vispy / Qt window) internals reached from the plugin.

    Attribute names that start with an underscore, read off napari's objects, are
    private and change between releases; the known ones the plugin once used are listed.
    """
    private = re.compile(r"\.(_qt_window|_qt_viewer|_block_refresh|__wrapped__"
                         r"|_slice_input|_overlays|_vispy_\w+)\b"
                         r"|getattr\([^)]*[\"'](_qt_window|_block_refresh|_qt_viewer)[\"']")
    hits = [f"{path.name}:{n}: {line.strip()}"
            for path in sorted(PLUGIN.rglob("*.py"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if private.search(line) and not line.lstrip().startswith("#")]
    assert hits == []
