"""Fixtures of the fuzz suite: the mutation engine and the unmutated series."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _engine() -> ModuleType:
    # the engine (dicom_fuzz.py, fuzz_mutations.py) is shared with bench/bench_fuzz.py,
    # which imports it the same way: its folder on sys.path
    folder = str(Path(__file__).parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("dicom_fuzz")


@pytest.fixture(scope="session")
def fuzz() -> ModuleType:
    """``tests/core/fuzz/dicom_fuzz.py`` (shared with bench/bench_fuzz.py)."""
    return _engine()


@pytest.fixture(scope="session")
def base_series(fuzz, tmp_path_factory):
    """(folder, expected array, affine) of the unmutated series."""
    from bmes_imaging.dicom import load_series

    folder = tmp_path_factory.mktemp("fuzz") / "base"
    fuzz.write_base(folder)
    vol = load_series(folder)
    return folder, vol.array, vol.affine
