"""napari reader: DICOM study folders, DICOM series folders and NIfTI files.

:func:`get_reader` only looks at the path (extension, a few file headers) and returns
None for anything it does not handle; it never raises. Loading itself is done by the
core and may raise the project's errors (napari shows them to the reader).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from bmes_imaging.volume import Volume, load_nifti

from ._layers import image_layer_data, labels_layer_data, study_layer_data
from ._seg_reader import get_seg_reader, one_path  # a DICOM SEG file, else None
from ._study import (
    FLUID_SEQUENCES,
    SeveralStudiesError,
    StudyChoice,
    is_nifti_path,
    load_study,
    looks_like_dicom_folder,
    nifti_study_files,
)

__all__ = ["get_reader", "read_nifti", "read_study"]

PathLike = str | os.PathLike[str]
LayerDataTuple = tuple[Any, dict[str, Any], str]
ReaderFunction = Callable[[PathLike | Sequence[PathLike]], list[LayerDataTuple]]

_LABEL_WORDS = ("edema", "oedema", "bone", "label", "seg", "mask")


def get_reader(path: PathLike | Sequence[PathLike]) -> ReaderFunction | None:
    """Return a reader function for ``path``, or None if this plugin does not handle it.

    Handled: a ``.nii`` / ``.nii.gz`` file; a folder holding DICOM files (a study: the
    T1 and fluid series are paired and opened together; a single series: opened alone);
    a NIfTI study folder (``t1.nii.gz`` + ``stir.nii.gz``); a DICOM SEG file (bones and
    edema as labels layers, :mod:`._seg_reader`). Lists of several paths are left to
    other readers.
    """
    try:
        p = one_path(path)
        if p is None:
            return None
        if p.is_file():
            if is_nifti_path(p):
                return read_nifti

            return get_seg_reader(p)
        if p.is_dir() and (nifti_study_files(p) is not None or looks_like_dicom_folder(p)):
            return read_study
        return None
    except OSError:
        return None


def _role_for_name(name: str, volume: Volume) -> tuple[str, str]:
    low = name.lower()
    integer = volume.array.dtype.kind in "iub"
    if integer and any(w in low for w in _LABEL_WORDS):
        role = "edema" if ("edema" in low or "oedema" in low) else "bones"
        return role, "labels"
    seq = volume.info.sequence
    if seq == "t1" or "t1" in low:
        return "t1", "image"
    return "fluid" if (seq in FLUID_SEQUENCES or any(s in low for s in FLUID_SEQUENCES)
                       or "fluid" in low) else "image", "image"


def read_nifti(path: PathLike | Sequence[PathLike]) -> list[LayerDataTuple]:
    """Read one NIfTI file as an image layer (or a labels layer for label maps).

    Files named like a label map (``edema``, ``bones``, ``labels``, ``seg``, ``mask``)
    with integer voxels open as labels layers with the bone vocabulary's colours.
    """
    p = one_path(path)
    if p is None:
        raise ValueError("read_nifti expects one path")
    vol = load_nifti(p)
    name = p.name.split(".")[0]
    role, kind = _role_for_name(p.name, vol)
    if kind == "labels":
        return [labels_layer_data(vol, role=role, name=name)]
    return [image_layer_data(vol, role=role, name=name)]


def _pick(several: SeveralStudiesError) -> StudyChoice | None:
    """The study picker (in napari), or the error itself without a running GUI."""
    from qtpy.QtWidgets import QApplication

    if QApplication.instance() is None:
        raise several
    from ._qt._study_picker import pick_study_dialog

    return pick_study_dialog(None, several.choices)


def read_study(path: PathLike | Sequence[PathLike]) -> list[LayerDataTuple]:
    """Read a study folder: T1 and fluid series as image layers in one world frame."""
    p = one_path(path)
    if p is None:
        raise ValueError("read_study expects one folder")
    try:
        study = load_study(p)
    except SeveralStudiesError as several:  # never the first one silently: ask
        choice = _pick(several)
        if choice is None:  # cancelled: napari's "nothing to add" sentinel
            return [(None,)]  # type: ignore[list-item]
        study = load_study(choice)
    layers = study_layer_data(study.t1, study.fluid, study_key=study.key)
    for _, params, _ in layers:
        params["metadata"]["bmes_imaging"].update(source=str(study.source or p),
                                                  study_date=study.study_date)
    if study.fluid is None:  # one series: name it after its sequence, keep its role
        role = "t1" if study.t1.info.sequence in (None, "t1") else "fluid"
        return [image_layer_data(study.t1, role=role, study_key=study.key)]
    return layers
