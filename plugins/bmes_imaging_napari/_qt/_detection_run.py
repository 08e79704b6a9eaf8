"""Detection in a napari worker thread: progress to the GUI thread, cancellable.

:class:`DetectionRun` is the run itself; :class:`DetectionWiringMixin` is the review
widget's side of it (start / cancel, progress bar, results into the model and layers).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal

from .._layers import volume_from_layer
from ._prompts import notify_error, notify_info
from ._viewer_layers import bones_layer_for_detection

if TYPE_CHECKING:
    from qtpy.QtWidgets import QLabel, QProgressBar

    from .._review_model import ReviewModel
    from ._background import BackgroundJobs
    from ._findings_table import FindingsTable

__all__ = ["DetectionCancelled", "DetectionRun", "DetectionWiringMixin"]

class DetectionCancelled(Exception):
    """Raised inside the worker at the next progress step after Cancel."""


class DetectionRun(QObject):
    """One run of ``func(progress=..., **kwargs)`` in a ``napari`` worker thread.

    ``progressed(stage, fraction)`` arrives in the GUI thread (queued signal). Cancel
    makes the next progress call raise :class:`DetectionCancelled`, which reaches
    ``worker.errored`` like any other error: connect ``returned``, ``errored`` and
    ``finished`` of :attr:`worker`.
    """

    progressed = Signal(str, float)

    def __init__(self, func: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__()
        from napari.qt.threading import create_worker

        self.cancel_requested = False
        # errors reach the reader through `errored` (a notification), not a re-raise
        self.worker = create_worker(func, progress=self._progress, _start_thread=False,
                                    _ignore_errors=True, **kwargs)

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


class DetectionWiringMixin:
    """Running detection from the review widget (mixed into it): start it in a worker,
    show progress, cancel, and put the result into the model and the layers."""

    if TYPE_CHECKING:
        viewer: Any
        model: ReviewModel
        worker: Any
        _run: DetectionRun | None
        _prepare_worker: Any
        _detect_after_open: bool
        jobs: BackgroundJobs
        ask_yes_no: Callable[[str], bool]
        progress: QProgressBar
        progress_label: QLabel
        table: FindingsTable

        def _update_enabled(self) -> None: ...
        def _sync_layers(self) -> None: ...
        def select_first_candidate(self) -> None: ...

    def run_detection(self) -> Any:
        """Start detection in a worker thread; returns the worker (or None)."""
        if self.jobs.busy("open"):  # e.g. bmes view --detect: once the study is shown
            self._detect_after_open = True
            return None
        if self.model.study is None:
            notify_error("Open a study first (File > Open, or 'Open study…').")
            return None
        if self.worker is not None:
            return self.worker
        if (self.model.edema is not None and (self.model.dirty or self.model.findings)
                and not self.ask_yes_no("Replace the current edema labels and findings "
                                        "with new detector candidates?")):
            return None
        kwargs: dict[str, Any] = {}
        bones_layer = bones_layer_for_detection(
            self.viewer, self.model.study.key if self.model.study else None)
        if bones_layer is not None:  # an imported or earlier bone label map: use it
            kwargs["bones"] = volume_from_layer(bones_layer)
        self._run = DetectionRun(self.model.run_detection, **kwargs)
        self._run.progressed.connect(self._on_progress)
        worker = self._run.worker
        worker.returned.connect(self._on_detection_returned)
        worker.errored.connect(self._on_detection_errored)
        worker.finished.connect(self._on_detection_finished)
        self.worker = worker
        self.progress.setValue(0)
        self.progress_label.setText("Detecting…")
        self._update_enabled()
        worker.start()
        return worker

    def cancel_detection(self) -> None:
        """Ask the running detection to stop at its next progress step."""
        if self.worker is not None and self._run is not None:
            self._run.cancel()
            self.progress_label.setText("Cancelling…")

    def _on_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(round(100 * max(0.0, min(1.0, fraction))))
        self.progress_label.setText(stage)

    def _on_detection_returned(self, result: Any) -> None:
        self.model.set_detection(result, cache=False)
        self.jobs.start("cache", self.model.cache_detection, text="", quiet=True)
        snapshot = self.model.candidates_snapshot()
        self._sync_layers()
        self.progress.setValue(100)
        n = sum(1 for f in self.model.findings if f.edema_volume_ml > 0)
        self.progress_label.setText(f"{n} bone(s) with candidate edema")
        notes = list(getattr(result, "coverage_notes", []) or [])
        if notes:
            notify_info("Detection notes: " + "; ".join(notes))
        self.progress_label.setToolTip("\n".join(notes))
        self.select_first_candidate()
        if snapshot is not None:  # store the candidates, in a worker
            self.jobs.start("candidates", self.model.save_candidates, snapshot, text="",
                            errored=self._candidates_not_stored, quiet=True)
        self._prepare_painting()

    def _prepare_painting(self) -> None:
        """Precompute, in a worker thread, what recomputing after a paint stroke needs."""
        if not self.model.can_recompute():
            return
        from napari.qt.threading import create_worker

        worker = create_worker(self.model.prepare_recompute, _start_thread=False,
                               _ignore_errors=True)  # painting recomputes if this fails
        widget = weakref.ref(self)  # a closed viewer must not be kept alive by it

        def finished() -> None:
            alive = widget()
            if alive is not None:
                alive._prepare_finished(worker)

        worker.finished.connect(finished)
        self._prepare_worker = worker
        worker.start()

    def _prepare_finished(self, worker: Any) -> None:
        if self._prepare_worker is worker:  # not an earlier study's worker
            self._prepare_worker = None

    def _candidates_not_stored(self, exc: BaseException) -> None:
        notify_error(f"Candidates not stored (detection will run again next time): {exc}")

    def _on_detection_errored(self, exc: BaseException) -> None:
        if isinstance(exc, DetectionCancelled):
            self.progress_label.setText("Detection cancelled")
            self.progress.setValue(0)
            return
        self.progress_label.setText("Detection failed")
        notify_error(f"Detection failed: {exc}")

    def _on_detection_finished(self) -> None:
        self.worker = None
        self._run = None
        self._update_enabled()
