"""``bmes view``: registered, GUI-free until run, clear errors for bad paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_view_help_lists_the_options() -> None:
    out = subprocess.run([sys.executable, "-m", "bmes_imaging", "view", "--help"],
                         capture_output=True, text=True, check=True)
    for option in ("--reader", "--db", "--bones", "--queue", "--sample", "--detect"):
        assert option in out.stdout


def test_view_refuses_a_missing_path_before_starting_napari(tmp_path: Path) -> None:
    code = ("import sys; from bmes_imaging.cli import main; "
            f"rc = main(['view', {str(tmp_path / 'nope')!r}]); "
            "print(rc, 'napari' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["1", "False"]
    assert "no such file or folder" in out.stderr
