"""Fixtures of the fuzz suite: the mutation engine and the unmutated series."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _engine() -> ModuleType:
    name = "bmes_dicom_fuzz"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("dicom_fuzz.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


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
