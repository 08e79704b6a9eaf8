"""The plugin's view of study folders: the core's one study loader, re-exported.

What a DICOM file is, which studies (and feet) a folder holds and how one is loaded
are decided once, in the core (:mod:`bmes_imaging.study`, also used by ``bmes index``,
``bmes detect`` and ``bmes view``): the napari reader, the review dock, the study
picker and the Study queue open folders only through it. This module walks no folder
itself.
"""

from __future__ import annotations

from bmes_imaging.study import (
    FLUID_SEQUENCES,
    SeveralStudiesError,
    Study,
    StudyChoice,
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
    "find_study_choices",
    "is_dicom_file",
    "is_nifti_path",
    "load_study",
    "looks_like_dicom_folder",
    "nifti_study_files",
    "study_key_for_path",
]
