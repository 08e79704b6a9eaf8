"""Folder index: walk a tree of DICOM files and group it into patients, studies, stacks.

Handles PACS exports, CD copies with a DICOMDIR, loose files with or without the
``.dcm`` extension and with or without the 128-byte preamble. Only headers are read
(see :mod:`._header`); files are grouped into series and split into stacks where
dcm2niix would (see :mod:`._stacks`). Every file that is not used is listed with a
reason; the index never raises for a bad file.

Examples
--------
>>> from bmes_imaging.dicom import index_folder
>>> index = index_folder("sample_data")              # doctest: +SKIP
>>> for stack in index.stacks:                       # doctest: +SKIP
...     print(stack.series_number, stack.sequence, stack.plane, stack.n_images)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DicomFileError
from ._careful import read_header
from ._complete import refuse_incomplete
from ._header import HeaderRecord
from ._stacks import RejectedFile, SeriesStack, build_stacks, patient_key

log = logging.getLogger(__name__)

__all__ = ["FolderIndex", "RejectedFile", "SeriesStack", "index_files", "index_folder"]

#: Below this many files the index reads headers in this process (a process pool costs
#: more to start than it saves).
PARALLEL_THRESHOLD = 20_000


@dataclass
class FolderIndex:
    """What :func:`index_folder` / :func:`index_files` found.

    Attributes
    ----------
    stacks
        Image stacks, sorted by study, series number and stack id.
    rejected
        Files not used, each with the reason.
    root
        The folder indexed (None for :func:`index_files`).
    n_files
        Number of files examined.
    seconds
        Wall time of the index.
    notes
        Observations about the folder as a whole, e.g. a DICOMDIR that lists files
        which are not there (an incomplete CD copy).
    """

    stacks: list[SeriesStack]
    rejected: list[RejectedFile]
    root: Path | None = None
    n_files: int = 0
    seconds: float = field(default=0.0, compare=False)
    notes: list[str] = field(default_factory=list)

    def studies(self) -> dict[str, dict[str, list[SeriesStack]]]:
        """Group the stacks: patient key -> StudyInstanceUID -> stacks.

        The patient key is the short hash of :func:`patient_key`, not the PatientID, so
        the grouping can be printed or logged.
        """
        out: dict[str, dict[str, list[SeriesStack]]] = {}
        for st in self.stacks:
            pk = patient_key(st.patient_id, st.patient_name)
            out.setdefault(pk, {}).setdefault(st.study_instance_uid or "", []).append(st)
        return out

    def stack(self, stack_id: str) -> SeriesStack:
        """The stack named ``stack_id``.

        Raises
        ------
        KeyError
            If no stack has that id.
        """
        for st in self.stacks:
            if st.stack_id == stack_id:
                return st
        raise KeyError(stack_id)

    def __len__(self) -> int:
        return len(self.stacks)


def _walk(root: Path, problems: list[str] | None = None) -> Iterator[Path]:
    """Regular files under ``root`` (symlinked directories are not followed).

    Folders that cannot be listed are reported in ``problems``.
    """
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("cannot list a folder (%s): %s", exc.__class__.__name__, d)
            if problems is not None:
                problems.append(f"{d}: folder cannot be listed "
                                f"({exc.strerror or exc.__class__.__name__}); its files "
                                "were not indexed")
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file() or (e.is_symlink() and not e.is_dir()):
                    yield Path(e.path)  # a dangling link is listed as unreadable
            except OSError:
                continue


def _read_chunk(paths: list[Path]) -> list[HeaderRecord | RejectedFile]:
    out: list[HeaderRecord | RejectedFile] = []
    for p in paths:
        got = read_header(p)
        out.append(RejectedFile(p, got) if isinstance(got, str) else got)
    return out


def _read_all(paths: list[Path], workers: int | None) -> list[HeaderRecord | RejectedFile]:
    if workers is None:
        workers = 1 if len(paths) < PARALLEL_THRESHOLD else min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(paths) < 2 * workers:
        return _read_chunk(paths)
    n_chunks = workers * 8
    size = max(1, -(-len(paths) // n_chunks))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    out: list[HeaderRecord | RejectedFile] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_read_chunk, chunks):
            out.extend(part)
    return out


def index_files(paths: Iterable[str | os.PathLike[str]], *,
                workers: int | None = None) -> FolderIndex:
    """Index a list of files (headers only) into stacks.

    Parameters
    ----------
    paths
        Files to examine. Directories in the list are walked.
    workers
        Processes reading headers; None: one below :data:`PARALLEL_THRESHOLD` files,
        else up to the number of CPUs.

    Returns
    -------
    FolderIndex
        Stacks and rejected files. Never raises for a bad file.
    """
    t0 = time.perf_counter()
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(_walk(path, problems))
        else:
            files.append(path)
    return _index(files, None, workers, t0, problems)


def index_folder(path: str | os.PathLike[str], *, workers: int | None = None) -> FolderIndex:
    """Walk a folder tree and index every DICOM file in it (headers only).

    Parameters
    ----------
    path
        Folder (PACS export, CD copy with a DICOMDIR, loose files) or a single file.
    workers
        Processes reading headers; None: one below :data:`PARALLEL_THRESHOLD` files,
        else up to the number of CPUs.

    Returns
    -------
    FolderIndex
        Stacks sorted by study and series number, and every unused file with a reason.

    Raises
    ------
    DicomFileError
        Only if ``path`` itself does not exist (bad files never raise).
    """
    t0 = time.perf_counter()
    root = Path(path)
    if root.is_file() and root.name.upper() == "DICOMDIR":
        root = root.parent  # a CD's directory file: index the CD
    if root.is_file():
        return _index([root], root, workers, t0)
    if not root.is_dir():
        raise DicomFileError(root, "no such file or folder; give the folder that holds "
                             "the DICOM files (or a single file)")
    problems: list[str] = []
    files = list(_walk(root, problems))
    return _index(files, root, workers, t0, problems)


def _index(files: list[Path], root: Path | None, workers: int | None,
           t0: float, problems: list[str] | None = None) -> FolderIndex:
    results = _read_all(files, workers)
    records = [r for r in results if isinstance(r, HeaderRecord)]
    rejected = [r for r in results if isinstance(r, RejectedFile)]
    stacks, more = build_stacks(records)
    # a series with a damaged file is refused, not indexed as a shorter stack (issue 21)
    stacks, rejected = refuse_incomplete(stacks, rejected + more, records)
    rejected = sorted(rejected, key=lambda r: str(r.path))
    notes = list(problems or []) + _dicomdir_notes(
        [r.path for r in rejected if r.reason == "DICOMDIR (directory record)"], files)
    seconds = time.perf_counter() - t0
    log.info("indexed %d files in %.2f s: %d stacks, %d files not used",
             len(files), seconds, len(stacks), len(rejected))
    return FolderIndex(stacks, rejected, root, len(files), seconds, notes)


def _dicomdir_notes(dicomdirs: list[Path], files: list[Path]) -> list[str]:
    """Notes on DICOMDIRs that reference files missing from the folder."""
    if not dicomdirs:
        return []
    import warnings

    import pydicom

    present = {str(f).lower() for f in files}
    notes = []
    for dd in dicomdirs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(dd, force=True)
                refs = [r.get("ReferencedFileID") for r in
                        ds.get("DirectoryRecordSequence") or []]
            except Exception as exc:  # noqa: BLE001 - any corrupt DICOMDIR is only a note
                notes.append(f"{dd}: DICOMDIR cannot be read ({exc.__class__.__name__}); "
                             "the files were indexed by walking the folder")
                continue
        missing = 0
        total = 0
        for ref in refs:
            if not ref:
                continue
            parts = [ref] if isinstance(ref, str) else [str(p) for p in ref]
            total += 1
            if str(dd.parent.joinpath(*parts)).lower() not in present:
                missing += 1
        if missing:
            notes.append(f"{dd}: the DICOMDIR lists {total} files, {missing} of them are "
                         "not in the folder (incomplete copy of the CD?)")
    return notes
