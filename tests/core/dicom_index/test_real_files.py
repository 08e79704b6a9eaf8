"""Robustness over real files no one here wrote.

Every file shipped as test data by pydicom, pydicom-data and nibabel (Siemens mosaic,
Philips / Enhanced MR, JPEG 2000, JPEG-LS, RLE, big endian, deflated, truncated,
DICOMDIRs, non-DICOM files): the index never raises and accounts for every file, and
loading each stack gives a Volume or a project error that names the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bmes_imaging import Volume
from bmes_imaging.dicom import index_files, index_folder, load_series
from bmes_imaging.errors import BmesError


def _data_dirs() -> list[Path]:
    import data_store  # the import name of the pydicom-data package
    import nibabel
    import pydicom

    dirs = [
        Path(pydicom.__file__).parent / "data" / "test_files",
        Path(data_store.__file__).parent / "data",
        Path(nibabel.__file__).parent / "nicom" / "tests" / "data",
    ]
    return [d for d in dirs if d.is_dir()]


DATA_DIRS = _data_dirs()
ALL_FILES = sorted(p for d in DATA_DIRS for p in d.rglob("*") if p.is_file())


def test_test_data_is_installed():
    assert len(DATA_DIRS) == 3
    assert len(ALL_FILES) > 200


@pytest.mark.parametrize("folder", DATA_DIRS, ids=lambda p: p.parent.name)
def test_index_folder_never_raises_and_accounts_for_every_file(folder):
    index = index_folder(folder)
    used = [f for s in index.stacks for f in s.files]
    rejected = [r.path for r in index.rejected]
    assert len(used) == len(set(used))
    assert sorted(used + rejected) == sorted(p for p in folder.rglob("*") if p.is_file())
    assert index.n_files == len(used) + len(rejected)
    assert all(r.reason for r in index.rejected)
    for st in index.stacks:
        assert st.sequence in ("t1", "stir", "t2_fs", "pd_fs", "other")
        assert st.n_images >= 1 and st.sequence_reason


def _names_a_file(exc: BaseException, files: tuple[Path, ...]) -> bool:
    text = str(exc)
    return any(str(f) in text or f.name in text for f in files)


def _load_all(stacks) -> list[str]:
    """Load every stack; return descriptions of guarantees broken."""
    problems = []
    for st in stacks:
        try:
            vol = load_series(st)
        except BmesError as exc:
            if not _names_a_file(exc, st.files):
                problems.append(f"{st.files[0].name}: {type(exc).__name__} does not name "
                                f"the file: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - the guarantee under test
            problems.append(f"{st.files[0].name}: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(vol, Volume):
            problems.append(f"{st.files[0].name}: returned {type(vol).__name__}")
    return problems


def test_load_every_single_file_stack():
    """Each file on its own: a Volume or a project error naming the file."""
    stacks = []
    for f in ALL_FILES:
        stacks.extend(index_files([f]).stacks)  # must not raise
    assert len(stacks) > 100
    problems = _load_all(stacks)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", DATA_DIRS, ids=lambda p: p.parent.name)
def test_load_every_stack_of_each_folder(folder):
    problems = _load_all(index_folder(folder).stacks)
    assert not problems, "\n".join(problems)
