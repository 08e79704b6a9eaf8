"""One foot's study: the studies a folder holds, loading one, and the run folders beside it.

The one place that decides what a study folder is (used by the napari plugin's reader,
review widget, study picker and queue, by ``bmes view``, and by ``bmes detect`` through
:func:`index_study_folder`). A file is DICOM when the core's index uses it
(:func:`is_dicom_file`, the rule ``bmes index`` follows: files without the Part 10
preamble count too).

Folders understood
------------------
* a DICOM folder of any depth (a PACS export, a phantom study's ``dicom/`` subfolder):
  indexed once, the T1 and fluid-sensitive series paired per study and side, each pair
  a :class:`StudyChoice`;
* a DICOM **series folder** (one stack, no pair): loaded as one volume;
* a **NIfTI study folder**: ``t1.nii[.gz]`` plus one of ``stir`` / ``fluid`` /
  ``t2_fs`` / ``pd_fs`` ``.nii[.gz]`` (e.g. written by :meth:`Volume.to_nifti`).

A folder holding several studies (or both feet) is never opened as its first study:
:func:`load_study` raises :class:`SeveralStudiesError` unless one is chosen.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DicomSeriesError
from .volume import SeriesInfo, Volume, load_nifti

if TYPE_CHECKING:
    from .dicom import FolderIndex
    from .dicom._sequence import PairingResult

__all__ = [
    "FLUID_SEQUENCES",
    "RunFolders",
    "SeveralStudiesError",
    "Study",
    "StudyChoice",
    "find_run_folders",
    "find_study_choices",
    "index_study_folder",
    "is_dicom_file",
    "load_study",
    "looks_like_dicom_folder",
    "nifti_study_files",
    "study_key_for_path",
]

#: Sequences the detector accepts as the fluid-sensitive series, in preference order.
FLUID_SEQUENCES: tuple[str, ...] = ("stir", "t2_fs", "pd_fs")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_NIFTI_FLUID_STEMS = ("stir", "fluid", "t2_fs", "pd_fs")
#: Names of the store file and the screening folder that ``bmes demo`` writes.
STORE_NAME, SCREEN_NAME = "bmes.sqlite", "screen"


class SeveralStudiesError(DicomSeriesError):
    """The folder holds several studies (or both feet): one must be chosen."""

    def __init__(self, message: str, choices: list[StudyChoice]) -> None:
        super().__init__(message)
        self.choices = choices


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
    study_date
        StudyDate (``YYYYMMDD``) when known.
    """

    t1: Volume
    fluid: Volume | None
    key: str
    side: str | None = None
    patient_id: str | None = field(default=None, repr=False)
    source: Path | None = None
    study_date: str | None = None


@dataclass(frozen=True)
class StudyChoice:
    """One study and side found in a folder, not loaded yet.

    Attributes
    ----------
    key
        StudyInstanceUID (NIfTI folders: :func:`study_key_for_path`).
    side, patient_id, study_date
        As in :class:`Study` (``patient_id`` is never logged).
    description
        The series chosen, e.g. ``"T1 SAG + STIR SAG"``.
    folder
        The folder it was found in.
    pair
        The DICOM :class:`~bmes_imaging.dicom.SeriesPair` (None for NIfTI studies).
    nifti
        ``(t1, fluid)`` NIfTI files (None for DICOM studies).
    """

    key: str
    side: str | None
    patient_id: str | None = field(repr=False)
    study_date: str | None
    description: str
    folder: Path
    pair: Any = field(default=None, repr=False)
    nifti: tuple[Path, Path] | None = None


@dataclass(frozen=True)
class RunFolders:
    """The store and the screening output that belong with a study folder."""

    store: Path | None = None
    screen: Path | None = None


def is_nifti_path(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` names a NIfTI file by its extension."""
    return str(path).lower().endswith(_NIFTI_SUFFIXES)


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a DICOM image the core's index uses (never raises).

    The same rule as :func:`bmes_imaging.dicom.index_folder` and ``bmes index``: the
    file's header is read by the index (files without the Part 10 preamble count too).
    """
    from .dicom import index_files

    try:
        return bool(index_files([Path(path)], workers=1).stacks)
    except (OSError, ValueError):
        return False


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


def looks_like_dicom_folder(path: str | os.PathLike[str], *, max_files: int = 40) -> bool:
    """True if a folder holds a DICOM file among its first ``max_files`` files.

    Cheap (a header read per file until one is DICOM), never raises.
    """
    root = Path(path)
    try:
        if not root.is_dir():
            return False
        return any(is_dicom_file(f) for f in _files(root, max_files)
                   if not is_nifti_path(f))
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


def index_study_folder(path: str | os.PathLike[str]) -> tuple[FolderIndex, PairingResult]:
    """Index a study folder once and pair its series: the toolkit's one rule for both.

    The folder's ``dicom/`` subfolder (a phantom study's layout) when it has one, else
    the folder itself, is indexed by :func:`bmes_imaging.dicom.index_folder` (a file is
    DICOM when the index uses it: :func:`is_dicom_file`; junk beside the images is
    ignored), and its T1 and fluid-sensitive series are paired per study and side by
    :func:`bmes_imaging.dicom.pair_series`. Used by :func:`load_study`, the napari
    plugin and ``bmes detect``.

    Returns
    -------
    tuple of FolderIndex and PairingResult
        Every stack found, and the pairs with the reasons for what stayed unpaired.
    """
    from .dicom import index_folder, pair_series

    index = index_folder(_dicom_root(Path(path)))
    return index, pair_series(index)


def _nifti_studies(root: Path, max_depth: int = 2) -> list[StudyChoice]:
    out: list[StudyChoice] = []

    def visit(folder: Path, depth: int) -> None:
        files = nifti_study_files(folder)
        if files is not None:
            out.append(StudyChoice(key=study_key_for_path(folder), side=None,
                                   patient_id=None, study_date=None,
                                   description=f"{files[0].name} + {files[1].name}",
                                   folder=folder, nifti=files))
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(p for p in folder.iterdir()
                              if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            visit(child, depth + 1)

    visit(root, 0)
    return out


def _common_folder(paths: list[Path]) -> Path:
    """The folder holding a pair's files (a phantom study's folder, not its ``dicom/``)."""
    try:
        folder = Path(os.path.commonpath([str(p.parent) for p in paths]))
    except ValueError:
        folder = paths[0].parent
    return folder.parent if folder.name == "dicom" else folder


def find_study_choices(path: str | os.PathLike[str]) -> list[StudyChoice]:
    """Every study and side (T1 + fluid pair) under ``path``, indexed once.

    NIfTI study folders (up to two levels down) and DICOM pairs; sorted by PatientID,
    study date, side. Series that pair with nothing are left out (see
    :func:`load_study` for a single series).
    """
    root = Path(path)
    if nifti_study_files(root) is not None:
        return _nifti_studies(root, max_depth=0)
    choices = _nifti_studies(root)
    for pair in index_study_folder(root)[1].pairs:
        key = pair.study_instance_uid or study_key_for_path(root)
        choices.append(StudyChoice(
            key=key, side=pair.side, patient_id=pair.patient_id,
            study_date=getattr(pair.t1, "study_date", None),
            description=f"{pair.t1.series_description or 'T1'} + "
                        f"{pair.fluid.series_description or pair.fluid.sequence or 'fluid'}",
            folder=_common_folder([*pair.t1.files, *pair.fluid.files]), pair=pair))
    choices.sort(key=lambda c: (c.patient_id or "", c.study_date or "", str(c.folder),
                                c.side or ""))
    return choices


def _load_nifti_choice(choice: StudyChoice, source: Path) -> Study:
    assert choice.nifti is not None
    t1_file, fluid_file = choice.nifti
    fluid_seq = fluid_file.name.split(".")[0]
    fluid_seq = fluid_seq if fluid_seq in FLUID_SEQUENCES else "stir"
    t1 = load_nifti(t1_file, info=SeriesInfo(study_instance_uid=choice.key, sequence="t1",
                                              series_description=t1_file.name))
    fluid = load_nifti(fluid_file, info=SeriesInfo(study_instance_uid=choice.key,
                                                   sequence=fluid_seq,
                                                   series_description=fluid_file.name))
    return Study(t1=t1, fluid=fluid, key=choice.key, source=source)


def load_choice(choice: StudyChoice) -> Study:
    """Load the T1 and fluid series of one :class:`StudyChoice`."""
    if choice.nifti is not None:
        return _load_nifti_choice(choice, choice.folder)
    from .dicom import load_series

    pair = choice.pair
    t1 = load_series(pair.t1)
    fluid = load_series(pair.fluid)
    return Study(t1=t1, fluid=fluid, key=choice.key, side=pair.side,
                 patient_id=pair.patient_id, source=choice.folder,
                 study_date=choice.study_date)


def _single_series(root: Path) -> Study | None:
    """A folder holding exactly one loadable DICOM stack, as a study without fluid."""
    from .dicom import index_folder, load_series

    index = index_folder(_dicom_root(root))
    if len(index.stacks) != 1:
        if not index.stacks:
            raise DicomSeriesError(f"{root}: no loadable DICOM series found "
                                   f"({len(index.rejected)} files rejected); point at a "
                                   "study folder holding the T1 and STIR series")
        return None
    stack = index.stacks[0]
    vol = load_series(stack)
    return Study(t1=vol, fluid=None,
                 key=vol.info.study_instance_uid or study_key_for_path(root),
                 side=vol.info.laterality, patient_id=vol.info.patient_id, source=root,
                 study_date=getattr(stack, "study_date", None))


def load_study(path: str | os.PathLike[str] | StudyChoice, *, side: str | None = None,
               study_instance_uid: str | None = None) -> Study:
    """Load the T1 and fluid-sensitive series of one foot.

    Parameters
    ----------
    path
        A :class:`StudyChoice` (from :func:`find_study_choices`), or a folder: a DICOM
        study folder (or a phantom study folder with ``dicom/``), a NIfTI study folder
        (``t1.nii.gz`` + ``stir.nii.gz``), or a DICOM series folder (loaded alone,
        ``fluid`` None).
    side, study_instance_uid
        Choose among several studies / feet in the folder.

    Returns
    -------
    Study

    Raises
    ------
    SeveralStudiesError
        If the folder holds several studies or feet and the arguments do not choose
        one (its ``choices`` list them): never the first one silently.
    DicomSeriesError
        If the folder holds no T1 + fluid pair (the message lists why each was unpaired).
    """
    if isinstance(path, StudyChoice):
        return load_choice(path)
    root = Path(path)
    choices = [c for c in find_study_choices(root)
               if (side is None or c.side == side)
               and (study_instance_uid is None or c.key == study_instance_uid)]
    if len(choices) == 1:
        study = load_choice(choices[0])
        study.source = root if choices[0].nifti is None else choices[0].folder
        return study
    if len(choices) > 1:
        raise SeveralStudiesError(
            f"{root}: holds {len(choices)} studies or feet; choose one (the study picker, "
            "or a side / StudyInstanceUID)", choices)
    if side is None and study_instance_uid is None:
        single = _single_series(root)
        if single is not None:
            return single
    result = index_study_folder(root)[1]
    reasons = "; ".join(f"{s or 'side ?'}: {why}" for _, s, why in result.unpaired)
    raise DicomSeriesError(
        f"{root}: no T1 + fluid-sensitive (STIR / T2-FS / PD-FS) pair"
        + (f" for side {side}" if side else "") + f" ({reasons or 'no reason given'})")


def find_run_folders(path: str | os.PathLike[str], *, levels: int = 3) -> RunFolders:
    """The store (``bmes.sqlite``) and screening output (``screen/studies``) of the run a
    study folder belongs to, looked for in the folder and up to ``levels`` parents.

    This is the layout ``bmes demo OUT`` writes (``OUT/cohort/<foot>``,
    ``OUT/bmes.sqlite``, ``OUT/screen``), so ``bmes view OUT/cohort/p01_L`` reviews with
    the demo's store and shows its screening candidates.
    """
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    store = screen = None
    for candidate in [folder, *folder.parents][: levels + 1]:
        if store is None and (candidate / STORE_NAME).is_file():
            store = candidate / STORE_NAME
        if screen is None and (candidate / SCREEN_NAME / "studies").is_dir():
            screen = candidate / SCREEN_NAME
        if store is not None and screen is not None:
            break
    return RunFolders(store=store, screen=screen)
