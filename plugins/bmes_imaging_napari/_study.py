"""Find and load one foot's study (T1 + fluid-sensitive series) for review.

Non-Qt: used by the reader, the sample data, the review widget and the queue. All the
work is done by the core (:mod:`bmes_imaging.dicom`); this module only decides which
folder holds what.

Folders understood
------------------
* a DICOM **study folder** (any depth of files; a phantom study's ``dicom/`` subfolder is
  used when present): indexed, the T1 and fluid series paired;
* a DICOM **series folder** (one stack): loaded as one volume;
* a **NIfTI study folder**: ``t1.nii[.gz]`` plus one of ``stir`` / ``fluid`` /
  ``t2_fs`` / ``pd_fs`` ``.nii[.gz]`` (e.g. written by :meth:`Volume.to_nifti`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bmes_imaging.errors import DicomSeriesError
from bmes_imaging.volume import Volume, load_nifti

__all__ = [
    "FLUID_SEQUENCES",
    "Study",
    "find_studies",
    "is_dicom_file",
    "is_nifti_path",
    "load_study",
    "looks_like_dicom_folder",
    "nifti_study_files",
    "study_key_for_path",
    "study_key_of_folder",
]

#: Sequences the detector accepts as the fluid-sensitive series, in preference order.
FLUID_SEQUENCES: tuple[str, ...] = ("stir", "t2_fs", "pd_fs")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_NIFTI_FLUID_STEMS = ("stir", "fluid", "t2_fs", "pd_fs")


@dataclass
class Study:
    """One foot's images for review.

    Attributes
    ----------
    t1, fluid
        The T1 and fluid-sensitive volumes, each in its own acquisition grid.
    key
        The StudyInstanceUID (or, for NIfTI folders, a stable UID derived from the path):
        the key of annotations in the store.
    side
        ``"L"`` / ``"R"`` when known.
    patient_id
        PatientID for linking to the clinical record (never logged).
    source
        The folder the study was read from, if any.
    """

    t1: Volume
    fluid: Volume | None
    key: str
    side: str | None = None
    patient_id: str | None = None
    source: Path | None = None


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` names a NIfTI file by its extension."""
    name = str(path).lower()
    return name.endswith(_NIFTI_SUFFIXES)


def is_dicom_file(path: Path) -> bool:
    """True if ``path`` is a file with the DICOM Part 10 preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _files(root: Path, limit: int) -> Iterator[Path]:
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            yield Path(dirpath) / name
            n += 1
            if n >= limit:
                return


def looks_like_dicom_folder(path: str | os.PathLike[str], *, max_files: int = 200) -> bool:
    """True if a folder holds at least one DICOM file among its first ``max_files`` files.

    Cheap (reads 132 bytes per file), never raises.
    """
    root = Path(path)
    try:
        if not root.is_dir():
            return False
        return any(is_dicom_file(f) for f in _files(root, max_files))
    except OSError:
        return False


def nifti_study_files(path: str | os.PathLike[str]) -> tuple[Path, Path] | None:
    """The ``(t1, fluid)`` NIfTI files of a NIfTI study folder, or None if it is not one."""
    root = Path(path)
    if not root.is_dir():
        return None

    def find(stems: tuple[str, ...]) -> Path | None:
        for stem in stems:
            for suffix in _NIFTI_SUFFIXES:
                candidate = root / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate
        return None

    t1 = find(("t1",))
    fluid = find(_NIFTI_FLUID_STEMS)
    if t1 is None or fluid is None:
        return None
    return t1, fluid


def study_key_for_path(path: str | os.PathLike[str]) -> str:
    """A stable DICOM-style UID (``2.25.<n>``) for a study that has no StudyInstanceUID."""
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).digest()[:16]
    return f"2.25.{uuid.UUID(bytes=digest).int}"


def _dicom_root(path: Path) -> Path:
    sub = path / "dicom"
    return sub if sub.is_dir() else path


def _load_nifti_study(path: Path, files: tuple[Path, Path]) -> Study:
    from bmes_imaging.volume import SeriesInfo

    t1_file, fluid_file = files
    key = study_key_for_path(path)
    fluid_seq = fluid_file.name.split(".")[0]
    fluid_seq = fluid_seq if fluid_seq in FLUID_SEQUENCES else "stir"
    t1 = load_nifti(t1_file, info=SeriesInfo(study_instance_uid=key, sequence="t1",
                                              series_description=t1_file.name))
    fluid = load_nifti(fluid_file, info=SeriesInfo(study_instance_uid=key, sequence=fluid_seq,
                                                   series_description=fluid_file.name))
    return Study(t1=t1, fluid=fluid, key=key, source=path)


def load_study(path: str | os.PathLike[str], *, side: str | None = None) -> Study:
    """Load the T1 and fluid-sensitive series of one foot from a folder.

    Parameters
    ----------
    path
        A DICOM study folder (or a phantom study folder with ``dicom/``), or a NIfTI
        study folder (``t1.nii.gz`` + ``stir.nii.gz``).
    side
        ``"L"`` or ``"R"`` to choose a foot in a bilateral study; default the first pair.

    Returns
    -------
    Study

    Raises
    ------
    DicomSeriesError
        If the folder holds no T1 + fluid pair (the message lists why each was unpaired).
    """
    root = Path(path)
    nifti = nifti_study_files(root)
    if nifti is not None:
        return _load_nifti_study(root, nifti)

    from bmes_imaging.dicom import index_folder, load_series, pair_series

    dicom_root = _dicom_root(root)
    index = index_folder(dicom_root)
    if not index.stacks:
        raise DicomSeriesError(f"{root}: no loadable DICOM series found "
                               f"({len(index.rejected)} files rejected); point at a study "
                               "folder holding the T1 and STIR series")
    result = pair_series(index)
    pairs = [p for p in result.pairs if side is None or p.side == side]
    if not pairs:
        if len(index.stacks) == 1:
            vol = load_series(index.stacks[0])
            return Study(t1=vol, fluid=None,
                         key=vol.info.study_instance_uid or study_key_for_path(root),
                         side=vol.info.laterality, patient_id=vol.info.patient_id,
                         source=root)
        reasons = "; ".join(f"{s or 'side ?'}: {why}" for _, s, why in result.unpaired)
        raise DicomSeriesError(
            f"{root}: no T1 + fluid-sensitive (STIR / T2-FS / PD-FS) pair"
            + (f" for side {side}" if side else "") + f" ({reasons or 'no reason given'})")
    pair = pairs[0]
    t1 = load_series(pair.t1)
    fluid = load_series(pair.fluid)
    key = pair.study_instance_uid or t1.info.study_instance_uid or study_key_for_path(root)
    return Study(t1=t1, fluid=fluid, key=key, side=pair.side,
                 patient_id=pair.patient_id, source=root)


def study_key_of_folder(path: str | os.PathLike[str]) -> str | None:
    """The study key of a study folder without loading it (one DICOM header read).

    None if the folder holds neither a NIfTI study nor a DICOM file with a
    StudyInstanceUID.
    """
    root = Path(path)
    if nifti_study_files(root) is not None:
        return study_key_for_path(root)
    import pydicom
    from pydicom.errors import InvalidDicomError

    for f in _files(_dicom_root(root), 200):
        if not is_dicom_file(f):
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True,
                                 specific_tags=["StudyInstanceUID"])
        except (InvalidDicomError, OSError, ValueError):
            continue
        uid = ds.get("StudyInstanceUID")
        if uid:
            return str(uid)
    return None


def find_studies(root: str | os.PathLike[str], *, max_depth: int = 2) -> list[Path]:
    """Study folders under ``root`` (itself included), sorted by path.

    A study folder is a NIfTI study folder, a folder with a ``dicom/`` subfolder of
    DICOM files (phantom layout), or a folder holding DICOM files whose parent is not
    already a study. Hidden folders are skipped.
    """
    base = Path(root)
    found: list[Path] = []

    def has_dicom_files(folder: Path) -> bool:
        try:
            return any(is_dicom_file(p) for p in sorted(folder.iterdir())[:50]
                       if p.is_file())
        except OSError:
            return False

    def visit(folder: Path, depth: int) -> None:
        if nifti_study_files(folder) is not None or (
                (folder / "dicom").is_dir() and looks_like_dicom_folder(folder / "dicom")):
            found.append(folder)
            return
        if has_dicom_files(folder):
            found.append(folder)
            return
        try:
            children = sorted(p for p in folder.iterdir()
                              if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        series = [c for c in children if has_dicom_files(c)
                  and not any(g.is_dir() for g in c.iterdir())]
        if len(series) >= 2 and len(series) == len(children):
            found.append(folder)  # a study whose series are in subfolders
            return
        if depth < max_depth:
            for child in children:
                visit(child, depth + 1)

    visit(base, 0)
    return found
