"""Long work of the review off the GUI thread: open, save, export.

:func:`in_background` runs a function in a napari worker thread
(:func:`napari.qt.threading.create_worker`) with both ``returned`` and ``errored``
connected (an error reaches the reader as a notification or the caller's handler,
never a silent thread death), shows a busy progress bar and a stage text while it runs,
and keeps the worker referenced until it finished.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QLabel, QProgressBar

from ._prompts import notify_error

__all__ = ["BackgroundJobs", "BusyPulse", "set_progress"]

#: A busy progress bar is redrawn this often (ms), not at every animation frame.
BUSY_REDRAW_MS = 250


class BusyPulse(QObject):
    """Lets a busy progress bar (range 0-0) redraw every :data:`BUSY_REDRAW_MS` only.

    Qt animates a busy bar at about 30 frames a second, and with napari's OpenGL canvas
    in the window each frame composes the whole window: 0.25 s of CPU per second
    measured under load, taken from the open job and the bone-mask process while a
    study opens. Between two redraws the bar's updates are off (the animation's
    frames are dropped); the bar still moves, four times a second.
    """

    def __init__(self, bar: QProgressBar) -> None:
        super().__init__(bar)
        self.bar = bar
        self.timer = QTimer(self)
        self.timer.setInterval(BUSY_REDRAW_MS)
        self.timer.timeout.connect(self._redraw)
        bar.installEventFilter(self)

    def start(self) -> None:
        """Redraw the busy bar slowly from now on."""
        if not self.timer.isActive():
            self.timer.start()

    def stop(self) -> None:
        """Back to Qt's own redraws (the job ended)."""
        self.timer.stop()
        if not self.bar.updatesEnabled():
            self.bar.setUpdatesEnabled(True)

    def _redraw(self) -> None:
        if self.bar.updatesEnabled():
            # no frame since the last redraw (the style's animation did not start or
            # stopped, e.g. the window was hidden): ask for one, so the bar still moves
            self.bar.update()
        else:
            self.bar.setUpdatesEnabled(True)  # schedules one repaint

    def eventFilter(self, watched: Any, event: Any) -> bool:  # Qt's name
        if watched is self.bar and event.type() == QEvent.Type.Paint \
                and self.timer.isActive():
            QTimer.singleShot(0, self._mute)  # after this frame
        return False

    def _mute(self) -> None:
        if self.timer.isActive():
            self.bar.setUpdatesEnabled(False)


def set_progress(bar: QProgressBar, value: int, maximum: int | None = 100) -> None:
    """Set a progress bar's range ``0..maximum`` (0: busy indicator; None: as it is)
    and value, drawn on the next paint: ``QProgressBar.setValue`` repaints at once, and
    with napari's OpenGL canvas in the window that is a composition of the whole
    window (25-45 ms under load here) inside the caller's turn."""
    if maximum is None:
        maximum = bar.maximum()
    bar.setUpdatesEnabled(False)
    try:
        if bar.maximum() != maximum or bar.minimum() != 0:
            bar.setRange(0, maximum)
        if maximum and bar.value() != value:
            bar.setValue(value)
    finally:
        bar.setUpdatesEnabled(True)  # schedules the repaint (update(), not repaint())


def _weak(callback: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """``callback`` without a strong reference to the object of a bound method (also
    inside a ``functools.partial``): napari keeps finished workers referenced from its
    task-status list, and a worker must not keep a closed review dock alive."""
    if callback is None:
        return None
    args: tuple[Any, ...] = ()
    func: Any = callback
    if isinstance(callback, functools.partial):
        func, args = callback.func, callback.args
    if not inspect.ismethod(func):
        return callback
    method = weakref.WeakMethod(func)

    def call(*more: Any) -> Any:
        bound = method()
        return None if bound is None else bound(*args, *more)

    return call


class BackgroundJobs:
    """The review dock's running background jobs (by name: one of each at a time)."""

    def __init__(self, progress: QProgressBar, label: QLabel,
                 on_change: Callable[[], None] | None = None) -> None:
        self.progress = progress
        self.label = label
        self.pulse = BusyPulse(progress)
        self.on_change: Any = (weakref.WeakMethod(on_change) if inspect.ismethod(on_change)
                               else on_change)
        self.running: dict[str, Any] = {}
        #: held jobs (:meth:`hold`): whether their worker has ended
        self.held: dict[str, bool] = {}
        self.quiet: set[str] = set()

    def busy(self, name: str | None = None) -> bool:
        """True while a job (``name``, or any) runs."""
        return bool(self.running) if name is None else name in self.running

    def start(self, name: str, func: Callable[..., Any], *args: Any,
              text: str, returned: Callable[[Any], None] | None = None,
              errored: Callable[[BaseException], None] | None = None,
              quiet: bool = False) -> Any:
        """Run ``func(*args)`` in a worker; ``returned(result)`` / ``errored(exc)`` run
        in the GUI thread; ``quiet``: no busy bar or text (housekeeping). Returns the
        worker (None if a job of that name runs)."""
        from napari.qt.threading import create_worker

        if name in self.running:
            return None
        worker = create_worker(func, *args, _start_thread=False, _ignore_errors=True)
        on_returned, on_error = _weak(returned), _weak(errored)
        jobs = weakref.ref(self)

        def on_errored(exc: BaseException) -> None:
            if on_error is not None:
                on_error(exc)
            else:
                notify_error(f"{text.rstrip('…. ')} failed: {exc}")

        def on_finished() -> None:
            alive = jobs()
            if alive is not None:
                alive.finished(name)

        if on_returned is not None:
            worker.returned.connect(on_returned)
        worker.errored.connect(on_errored)
        worker.finished.connect(on_finished)
        self.running[name] = worker
        if quiet:
            self.quiet.add(name)
        else:
            set_progress(self.progress, 0, maximum=0)  # busy indicator
            self.pulse.start()
            self.label.setText(text)
        change = self.on_change() if isinstance(self.on_change, weakref.WeakMethod) \
            else self.on_change
        if change is not None:
            change()
        worker.start()
        return worker

    def hold(self, name: str) -> None:
        """Keep the running job ``name`` busy after its worker ends, until
        :meth:`release` (its result is being shown over several event-loop turns)."""
        if name in self.running:
            self.held[name] = False

    def release(self, name: str) -> None:
        """End a :meth:`hold`; the job ends now if its worker already has."""
        if self.held.pop(name, True):
            self.finished(name)

    def finished(self, name: str) -> None:
        """A job ended (returned or errored); held: once released."""
        if name in self.held:
            self.held[name] = True  # ends at release()
            return
        self.running.pop(name, None)
        was_quiet = name in self.quiet
        self.quiet.discard(name)
        if not was_quiet and not (set(self.running) - self.quiet):
            self.pulse.stop()
            set_progress(self.progress, 100)
        change = self.on_change() if isinstance(self.on_change, weakref.WeakMethod) \
            else self.on_change
        if change is not None:
            change()

    def wait(self, timeout_ms: int = 30_000) -> None:
        """Process events until every job finished (tests, closing)."""
        from qtpy.QtCore import QCoreApplication, QElapsedTimer

        clock = QElapsedTimer()
        clock.start()
        while self.running and clock.elapsed() < timeout_ms:
            QCoreApplication.processEvents()
