"""Detection in a napari worker thread: progress to the GUI thread, cancellable.

The thread mostly waits: the detection itself runs in the bone-mask process when it
runs (:mod:`.._remote_detection`), so this process does no numpy work of it.

:class:`DetectionRun` is the run itself; :class:`DetectionController` is given the
review model, the viewer and the dock's progress controls and runs it for the review
dock (start / cancel, progress, the result into the model; the dock listens to its
signals).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, QTimer, Signal

from .._layers import volume_from_layer
from .._remote_detection import DetectionCancelled
from ._background import set_progress
from ._prompts import notify_error, notify_info
from ._viewer_layers import bones_layer_for_detection

if TYPE_CHECKING:
    from qtpy.QtWidgets import QLabel, QProgressBar

    from .._review_model import ReviewModel
    from ._background import BackgroundJobs

__all__ = ["DetectionCancelled", "DetectionController", "DetectionRun"]


class DetectionRun(QObject):
    """One run of ``func(progress=..., cancelled=..., **kwargs)`` in a ``napari``
    worker thread.

    ``progressed(stage, fraction)`` arrives in the GUI thread (queued signal). Cancel
    makes ``cancelled()`` True and the next progress call raise
    :class:`DetectionCancelled`, which reaches
    ``worker.errored`` like any other error: connect ``returned``, ``errored`` and
    ``finished`` of :attr:`worker`.
    """

    progressed = Signal(str, float)

    def __init__(self, func: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__()
        from napari.qt.threading import create_worker

        self.cancel_requested = False
        # errors reach the reader through `errored` (a notification), not a re-raise
        self.worker = create_worker(func, progress=self._progress,
                                    cancelled=self._cancelled, _start_thread=False,
                                    _ignore_errors=True, **kwargs)

    def _cancelled(self) -> bool:  # worker thread
        return self.cancel_requested

    def _progress(self, stage: str, fraction: float) -> None:  # worker thread
        if self.cancel_requested:
            raise DetectionCancelled(stage)
        self.progressed.emit(str(stage), float(fraction))

    def start(self) -> Any:
        """Start the thread; returns the worker."""
        self.worker.start()
        return self.worker

    def cancel(self) -> None:
        """Stop at the detector's next progress step."""
        self.cancel_requested = True


class DetectionController(QObject):
    """Runs detection for a review: given the model, the viewer, the dock's background
    jobs and its progress bar and line; start / cancel, progress, the result into the
    model, then :attr:`detected` (the dock draws the labels and selects a candidate).

    Parameters
    ----------
    viewer
        The napari viewer (an imported bone label layer there is used as the bones).
    model
        The :class:`~bmes_imaging_napari._review_model.ReviewModel` detection fills.
    jobs
        The dock's :class:`~._background.BackgroundJobs` (caching, storing candidates;
        while a study opens, detection waits for it).
    progress, status
        Progress bar and status line the run reports to.
    ask_yes_no
        ``(question) -> bool``, asked before the reader's edema would be replaced.
    parent
        Owner of this object (the dock).

    Attributes
    ----------
    worker
        The running detection's worker, None when none runs.
    prepare_worker
        The worker precomputing what recomputing after a paint stroke needs, or None.
    """

    #: the detector's result is in the model (emitted in the GUI thread)
    detected = Signal()
    #: a run started or ended
    running_changed = Signal()

    def __init__(self, viewer: Any, model: ReviewModel, jobs: BackgroundJobs,
                 progress: QProgressBar, status: QLabel, *,
                 ask_yes_no: Callable[[str], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.model = model
        self.jobs = jobs
        self.progress = progress
        self.status = status
        self.ask_yes_no = ask_yes_no
        self.worker: Any = None
        self.prepare_worker: Any = None
        self._run: DetectionRun | None = None
        self._after_open = False
        self._unstored: Any = None  # the last result's candidates, stored once shown

    @property
    def running(self) -> bool:
        """True while detection runs."""
        return self.worker is not None

    def run(self) -> Any:
        """Start detection in a worker thread; returns the worker (or None). While a
        study is being opened, detection starts once it is shown (:meth:`run_pending`)."""
        if self.jobs.busy("open"):  # e.g. bmes view --detect: once the study is shown
            self._after_open = True
            return None
        model = self.model
        if model.study is None:
            notify_error("Open a study first (File > Open, or 'Open study…').")
            return None
        if self.worker is not None:
            return self.worker
        if (model.edema is not None and (model.dirty or model.findings)
                and not self.ask_yes_no("Replace the current edema labels and findings "
                                        "with new detector candidates?")):
            return None
        kwargs: dict[str, Any] = {}
        bones_layer = bones_layer_for_detection(self.viewer, model.study.key)
        if bones_layer is not None:  # an imported or earlier bone label map: use it
            kwargs["bones"] = volume_from_layer(bones_layer)
        self._run = DetectionRun(model.run_detection, **kwargs)
        self._run.progressed.connect(self._on_progress)
        worker = self._run.worker
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        set_progress(self.progress, 0, maximum=None)
        self.status.setText("Detecting…")
        self.running_changed.emit()
        worker.start()
        return worker

    def run_pending(self) -> None:
        """Start the run asked for while the study was opening, if any (queued)."""
        if self._after_open:
            self._after_open = False
            QTimer.singleShot(0, self.run)

    def cancel(self) -> None:
        """Ask the running detection to stop at its next progress step."""
        if self.worker is not None and self._run is not None:
            self._run.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, stage: str, fraction: float) -> None:
        set_progress(self.progress, round(100 * max(0.0, min(1.0, fraction))),
                     maximum=None)
        self.status.setText(stage)

    def _on_returned(self, result: Any) -> None:
        model = self.model
        model.set_detection(result, cache=False)
        if not getattr(result, "cache_written", False):  # (the bone-mask process writes it)
            self.jobs.start("cache", model.cache_detection, text="", quiet=True)
        snapshot = model.candidates_snapshot()
        set_progress(self.progress, 100, maximum=None)
        n = sum(1 for f in model.findings if f.edema_volume_ml > 0)
        self.status.setText(f"{n} bone(s) with candidate edema")
        notes = list(getattr(result, "coverage_notes", []) or [])
        if notes:
            notify_info("Detection notes: " + "; ".join(notes))
        self.status.setToolTip("\n".join(notes))
        self._unstored = snapshot  # stored once shown (store_candidates)
        self.detected.emit()
        self.prepare_painting()

    def store_candidates(self) -> None:
        """Store the last detection's candidates, in a worker: called once the result
        is shown (the store write holds the GIL: not while napari draws it)."""
        snapshot, self._unstored = self._unstored, None
        if snapshot is not None:
            self.jobs.start("candidates", self.model.save_candidates, snapshot, text="",
                            errored=self._candidates_not_stored, quiet=True)

    def prepare_painting(self) -> None:
        """Precompute, in a worker thread, what recomputing after a paint stroke needs
        (asked of the bone-mask process when it detected)."""
        if not self.model.can_recompute():
            return
        from napari.qt.threading import create_worker

        worker = create_worker(self.model.prepare_recompute, _start_thread=False,
                               _ignore_errors=True)  # painting recomputes if this fails
        controller = weakref.ref(self)  # a closed viewer must not be kept alive by it

        def finished() -> None:
            alive = controller()
            if alive is not None and alive.prepare_worker is worker:  # not an earlier
                alive.prepare_worker = None                           # study's worker

        worker.finished.connect(finished)
        self.prepare_worker = worker
        worker.start()

    def _candidates_not_stored(self, exc: BaseException) -> None:
        notify_error(f"Candidates not stored (detection will run again next time): {exc}")

    def _on_errored(self, exc: BaseException) -> None:
        if isinstance(exc, DetectionCancelled):
            self.status.setText("Detection cancelled")
            set_progress(self.progress, 0, maximum=None)
            return
        self.status.setText("Detection failed")
        notify_error(f"Detection failed: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self._run = None
        self.running_changed.emit()
