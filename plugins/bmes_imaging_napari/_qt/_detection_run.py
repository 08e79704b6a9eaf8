"""Detection in a napari worker thread: progress to the GUI thread, cancellable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Signal

__all__ = ["DetectionCancelled", "DetectionRun"]


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
