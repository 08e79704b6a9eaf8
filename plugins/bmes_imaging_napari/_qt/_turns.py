"""Long GUI work spread over several event-loop turns (issue 15: no stall over 100 ms).

Showing a study updates five napari layers, orients the view, restores the review and
fills the labels layers; each napari setter redraws. Done in one slot, the window froze
for 0.4-0.6 s. :class:`Turns` runs a generator of such steps: after each step it lets
the event loop run (timers, input, repaint) once a turn has taken :data:`TURN_BUDGET_MS`,
so no single turn holds the GUI much longer than its slowest step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from qtpy.QtCore import QObject, QTimer

__all__ = ["TURN_BUDGET_MS", "Turns", "run_now"]

log = logging.getLogger(__name__)

#: Steps run back to back in one turn until this much time (ms) has passed.
TURN_BUDGET_MS = 30.0


def run_now(steps: Iterable[Any]) -> None:
    """Run every step at once (the synchronous API: tests, ``open_study``)."""
    for _ in steps:
        pass


class Turns(QObject):
    """Runs the steps of one generator at a time, a few per event-loop turn.

    ``run(steps, done, failed)``: ``done()`` after the last step; ``failed(exc)`` if a
    step raises (the rest is dropped). Starting another run drops the current one
    (its ``done`` is not called).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._steps: Iterator[Any] | None = None
        self._done: Callable[[], None] | None = None
        self._failed: Callable[[BaseException], None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next)

    @property
    def running(self) -> bool:
        """True while steps remain."""
        return self._steps is not None

    def run(self, steps: Iterable[Any], done: Callable[[], None] | None = None,
            failed: Callable[[BaseException], None] | None = None) -> None:
        """Start running ``steps`` from the next event-loop turn."""
        self.cancel()
        self._steps, self._done, self._failed = iter(steps), done, failed
        self._timer.start()

    def cancel(self) -> None:
        """Drop the remaining steps (neither ``done`` nor ``failed`` is called)."""
        self._timer.stop()
        steps, self._steps = self._steps, None
        if steps is not None and hasattr(steps, "close"):
            steps.close()

    def finish(self) -> None:
        """Run the remaining steps now (e.g. before a synchronous call needs them)."""
        while self._steps is not None:
            self._next(budget_ms=float("inf"))

    def _next(self, budget_ms: float = TURN_BUDGET_MS) -> None:
        steps = self._steps
        if steps is None:
            return
        start = time.perf_counter()
        try:
            while (time.perf_counter() - start) * 1000.0 < budget_ms:
                next(steps)
        except StopIteration:
            self._end(self._done)
            return
        except Exception as exc:  # handed to failed()
            failed = self._failed
            self._steps = None
            if failed is None:
                log.exception("a step of showing the review failed")
            else:
                failed(exc)
            return
        if budget_ms != float("inf"):
            self._timer.start()

    def _end(self, done: Callable[[], None] | None) -> None:
        self._steps = None
        if done is not None:
            done()
