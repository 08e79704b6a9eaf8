"""Every example in the core's docstrings runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bmes_imaging

#: Every module of the core (not the Alembic migration scripts, which run only inside
#: Alembic, nor ``__main__``, which runs the command line on import).
MODULES = sorted(m.name for m in pkgutil.walk_packages(bmes_imaging.__path__, "bmes_imaging.")
                 if ".migrations" not in m.name and not m.name.endswith(".__main__"))


def test_every_module_is_found() -> None:
    assert {"bmes_imaging.metrics", "bmes_imaging.dicom._load",
            "bmes_imaging.detection._compare"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=True, verbose=False)
    assert runner.failed == 0, f"{runner.failed} example(s) of {name} failed (printed above)"
