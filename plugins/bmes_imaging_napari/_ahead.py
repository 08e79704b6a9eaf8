"""Work done ahead of the reader: bone masks before detection is asked for, and what
opening a study shows read in the worker that loads it; detection itself, in the
bone-mask process beside those masks (else in-process).

Functions of a :class:`~bmes_imaging_napari._review_model.ReviewModel` (given as
``model``), kept apart so the model module holds the review's state and operations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.errors import BmesError
from bmes_imaging.volume import Volume, load_nifti

from ._study import Study

__all__ = ["compute_bones_ahead", "prefetch", "read_cached", "run_detection"]

#: Detector output kept per study in the cache folder, so that reopening a study does
#: not register the atlas again (uncompressed: fast to write and read).
CACHED_BONES, CACHED_FLUID = "bones.nii", "fluid_aligned.nii"
DETECTOR = "detector"


def compute_bones_ahead(model: Any, study: Study) -> None:
    """Start the automatic bone masks of ``study`` in the bone-mask process.

    A reader who opens a study without candidates asks for them next; the automatic
    bone masks (the slow part of detection, needing only T1) are then computed on
    the other core while the layers are drawn and the series aligned.
    The masks stay in that process, where :func:`run_detection` uses them (the
    future completes, with None, when they are ready). Does nothing when masks for
    the study are cached or under way, a bone map was given, or there is no bone-mask
    process (one CPU).
    """
    if (study.fluid is None or "bones" in model.detect_options
            or "seeds" in model.detect_options
            or (model._bones_ahead is not None and model._bones_ahead[0] == study.key)
            or (model.study is study and model.bones is not None)
            or (model._cache_for(study.key) / CACHED_BONES).is_file()):
        return
    from ._bone_process import submit_bones_ahead

    future = submit_bones_ahead(study.key, study.t1, model.config)
    if future is not None:
        model._bones_ahead = (study.key, future)


def run_detection(model: Any, progress: Callable[[str, float], None] | None,
                  cancelled: Callable[[], bool] | None, kwargs: dict[str, Any]) -> Any:
    """Detection of the open study (``detect_edema(t1, fluid, **kwargs)``, blocking):
    in the bone-mask process, with the masks started there ahead, which also writes
    the study's detector cache (``result.cache_written``); in this process when there
    is no such process or it ended (the same result: :mod:`._remote_detection`)."""
    from ._bone_process import WorkerGone, WorkerStopped
    from ._remote_detection import DetectionCancelled, detect_in_worker, detect_with_masks

    study = model.study
    model._bones_ahead = None  # the masks ahead are the bone-mask process's
    folder = str(model._cache_for(study.key))
    try:
        result = detect_in_worker(study.key, study.t1, study.fluid, kwargs, progress,
                                  cancelled, folder)
    except WorkerStopped as stopped:  # the session ends: no detection here at exit
        raise DetectionCancelled("the bone-mask process was stopped") from stopped
    except WorkerGone:
        result = None  # the process ended: here, from the start
    if result is not None:
        result.cache_written = True
        return result

    def checked(stage: str, fraction: float) -> None:
        if cancelled is not None and cancelled():
            raise DetectionCancelled(stage)
        if progress is not None:
            progress(stage, fraction)

    return detect_with_masks(study.t1, study.fluid, None, checked, **kwargs)


def write_cached(folder: Path, bones: Volume | None, fluid_aligned: Volume | None) -> None:
    """Write a study's detector cache (bones, aligned fluid) into ``folder`` (made 0700
    with its missing parents, the files 0600 and atomic: ``Volume.to_nifti``)."""
    if bones is not None:
        bones.to_nifti(folder / CACHED_BONES)
    if fluid_aligned is not None:
        fluid_aligned.to_nifti(folder / CACHED_FLUID)


def read_cached(model: Any, study: Study) -> tuple[Volume, Volume] | None:
    """The cached detector output (bones, aligned fluid) of ``study``, if it fits."""
    folder = model._cache_for(study.key)
    bones, fluid = folder / CACHED_BONES, folder / CACHED_FLUID
    if not (bones.is_file() and fluid.is_file()):
        return None
    b = load_nifti(bones)
    if b.shape != study.t1.shape or not np.allclose(b.affine, study.t1.affine):
        return None
    return b, load_nifti(fluid)


def prefetch(model: Any, study: Study) -> None:
    """Read what opening ``study`` shows; kept in ``model._prefetched`` for the GUI
    thread (which reads again, and reports, whatever failed here)."""
    from ._screen_candidates import read_screening_candidates

    series = study.t1.info.series_instance_uid or None
    got: dict[str, Any] = {}
    try:
        if model.reader:
            got["saved"] = model.store.latest_annotation(
                study.key, reader=model.reader, series_instance_uid=series)
        got["detector"] = model.store.latest_annotation(
            study.key, reader=DETECTOR, series_instance_uid=series)
        if got["detector"] is None or got["detector"].labels is None:
            got["screened"] = read_screening_candidates(study)
        got["cached"] = read_cached(model, study)
    except (BmesError, OSError, ValueError):
        pass
    model._prefetched = (study.key, model.reader, got)
