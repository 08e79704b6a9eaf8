"""Package-level contracts: GUI-free core, curated API, version."""

import subprocess
import sys

import bmes_imaging as bm


def test_import_loads_no_gui_toolkit() -> None:
    code = (
        "import sys, bmes_imaging, bmes_imaging.cli; bmes_imaging.cli.build_parser();"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'napari', 'magicgui', 'vispy'});"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_all_is_sorted_and_resolvable() -> None:
    assert bm.__all__ == sorted(bm.__all__)
    assert set(bm.__all__) == set(bm._EXPORTS) | {"__version__"}
    for name in bm.__all__:
        assert getattr(bm, name) is not None, name


def test_cli_version() -> None:
    out = subprocess.run([sys.executable, "-m", "bmes_imaging", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"bmes-imaging {bm.__version__}"
