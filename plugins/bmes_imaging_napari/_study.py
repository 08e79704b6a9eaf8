"""The plugin's side of study folders: the queue's study folders and their keys.

Loading, the rule for what a DICOM file is and the studies a folder holds live in the
core (:mod:`bmes_imaging.study`, one loader for the plugin, ``bmes view`` and the
detector); this module re-exports them for the plugin and adds what only the Study
queue needs (:func:`find_studies`, :func:`study_key_of_folder`).
"""

from __future__ import annotations

import os
from pathlib import Path

from bmes_imaging.study import (
    FLUID_SEQUENCES,
    SeveralStudiesError,
    Study,
    StudyChoice,
    _dicom_root,
    _files,
    find_run_folders,
    find_study_choices,
    is_dicom_file,
    is_nifti_path,
    load_study,
    looks_like_dicom_folder,
    nifti_study_files,
    study_key_for_path,
)

__all__ = [
    "FLUID_SEQUENCES",
    "SeveralStudiesError",
    "Study",
    "StudyChoice",
    "find_run_folders",
    "find_studies",
    "find_study_choices",
    "is_dicom_file",
    "is_nifti_path",
    "load_study",
    "looks_like_dicom_folder",
    "nifti_study_files",
    "study_key_for_path",
    "study_key_of_folder",
]


def study_key_of_folder(path: str | os.PathLike[str]) -> str | None:
    """The study key of a study folder without loading it (one DICOM header read).

    None if the folder holds neither a NIfTI study nor a DICOM file with a
    StudyInstanceUID.
    """
    root = Path(path)
    if nifti_study_files(root) is not None:
        return study_key_for_path(root)
    from bmes_imaging.dicom import index_files

    for f in _files(_dicom_root(root), 200):
        if is_nifti_path(f):
            continue
        stacks = index_files([f], workers=1).stacks
        if stacks and stacks[0].study_instance_uid:
            return str(stacks[0].study_instance_uid)
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
                       if p.is_file() and not is_nifti_path(p))
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
