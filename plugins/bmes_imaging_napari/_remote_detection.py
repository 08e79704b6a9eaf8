"""Detection outside the GUI process: alignment, comparison and findings in the
bone-mask process, beside the automatic bone masks it computes there.

In a thread of the napari process the T1 / fluid alignment and the signal comparison
hold the GIL for tens of milliseconds at a time while the GUI thread draws (the
longest event-loop stalls of a first detection). Here they run in the bone-mask
process (:mod:`._bone_process`, :mod:`._bone_worker`): the GUI process sends the
study's series (pickled: 3.7 MB for the sample, about 3 ms, against 0.5 s to read the
DICOM again there), the worker aligns while its own masks finish, compares, and sends
back the :class:`~bmes_imaging.detection.EdemaResult`; the signal ratios painting
reuses (:func:`painting_ratios`, 0.5-0.8 s) are computed there after that answer, when
the review asks for them (:func:`fetch_painting_ratios`), so the GUI process does no
numpy work of detection while it shows the result.

The same function, :func:`detect_with_masks`, runs in-process when there is no worker
(one CPU, or it died: :class:`~._bone_process.WorkerGone`), with the same result
byte for byte (``tests/plugin/test_remote_detection.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from bmes_imaging.volume import Volume

__all__ = ["DetectionCancelled", "detect_in_worker", "detect_with_masks",
           "fetch_painting_ratios", "painting_ratios"]

Progress = Callable[[str, float], None]
#: Seconds between two looks of the GUI process' waiting thread at Cancel.
POLL_S = 0.1


class DetectionCancelled(Exception):
    """Raised inside a detection at its next progress step after Cancel."""


def painting_ratios(t1: Volume, bones: Volume, fluid_aligned: Volume, config: Any) -> Any:
    """The signal ratios a paint stroke's recomputation of the findings reuses (what
    :meth:`ReviewModel.prepare_recompute` computes), from the detector's output."""
    from bmes_imaging.detection import DetectionConfig, compute_ratios

    fl = np.asarray(fluid_aligned.array, dtype=np.float32)
    return compute_ratios(t1.array, fl, bones.array, fl != 0, t1.voxel_sizes,
                          config or DetectionConfig())


def detect_with_masks(t1: Volume, fluid: Volume, masks: Future[Volume] | None,
                      progress: Progress | None = None, **kwargs: Any) -> Any:
    """``detect_edema(t1, fluid, **kwargs)`` with automatic bone masks computed
    elsewhere (``masks``, awaited after the alignment; None: computed by the detector
    or given in ``kwargs``). Runs in the bone-mask process and, as the fallback, in the
    GUI process's worker thread: the same result either way."""
    from bmes_imaging.detection import detect_edema

    # automatic masks given as a Future are kept with their bone_mask_quality (the
    # findings' confidence capped by it), as when the detector computes them itself
    if masks is None:
        return detect_edema(t1, fluid, progress=progress, **kwargs)
    return detect_edema(t1, fluid, bones=masks, progress=progress, **kwargs)


class _Latest:
    """The last progress report of the worker (written by the answer-reading thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: tuple[str, float] | None = None

    def put(self, value: tuple[str, float]) -> None:
        with self.lock:
            self.value = value

    def get(self) -> tuple[str, float] | None:
        with self.lock:
            return self.value


def detect_in_worker(key: str, t1: Volume, fluid: Volume, kwargs: dict[str, Any],
                     progress: Progress | None = None,
                     cancelled: Callable[[], bool] | None = None,
                     cache_folder: str | None = None) -> Any:
    """Detection of one study in the bone-mask process (blocking: call it from a worker
    thread); the worker's progress is reported through ``progress`` (which may raise to
    cancel), ``cancelled()`` is looked at every :data:`POLL_S`.

    Returns the ``EdemaResult`` (its ``worker_request``: the number
    :func:`fetch_painting_ratios` takes), or None when there is no worker process
    (compute in-process then). Raises
    :class:`~._bone_process.WorkerGone` when the process ended before answering (the
    caller computes in-process), :class:`DetectionCancelled` after Cancel, and the
    detector's own errors.
    """
    from . import _bone_process

    latest = _Latest()
    request = _bone_process.submit_detect(key, t1, fluid, kwargs, cache_folder, latest.put)
    if request is None:
        return None
    number, future = request
    shown: tuple[str, float] | None = None
    try:
        while True:
            if cancelled is not None and cancelled():  # also when the answer is in:
                raise DetectionCancelled("detection cancelled")  # Cancel came first
            try:
                result = future.result(timeout=POLL_S)
            except TimeoutError:
                pass
            else:
                if cancelled is not None and cancelled():
                    raise DetectionCancelled("detection cancelled")
                result.worker_request = number
                return result
            now = latest.get()
            if now is not None and now != shown and progress is not None:
                shown = now
                progress(*now)  # may raise to cancel
    except BaseException:
        if not future.done():
            _bone_process.cancel_request(number)  # the worker stops at its next step
        raise


def fetch_painting_ratios(request: int, timeout_s: float = 120.0) -> Any:
    """The :func:`painting_ratios` of the worker's detection ``request`` (blocking: a
    worker thread), computed in the bone-mask process; None when it cannot give them
    (no process, it ended, or it holds another detection): compute them here then."""
    from . import _bone_process

    future = _bone_process.submit_painting_ratios(request)
    if future is None:
        return None
    try:
        return future.result(timeout=timeout_s)
    except Exception:  # noqa: BLE001  any failure: the caller computes them itself
        return None
