"""The review dock's progress bar never repaints inside the caller's turn, and a busy bar
redraws a few times a second only (issue 15: each repaint composes the whole napari
window with its OpenGL canvas). Real Qt widgets under Xvfb."""

from __future__ import annotations

import time
from typing import Any

import pytest
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication, QProgressBar

from bmes_imaging_napari._qt._background import BUSY_REDRAW_MS, BusyPulse, set_progress

pytestmark = pytest.mark.gui


class _Paints(QObject):
    def __init__(self, widget: Any) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: Any, event: Any) -> bool:  # Qt's name
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


@pytest.fixture
def bar(qtbot: Any) -> QProgressBar:
    """A progress bar shown on screen (exposed), closed with the test."""
    widget = QProgressBar()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.002)


def test_set_progress_paints_later_not_in_the_call(qtbot: Any, bar: QProgressBar) -> None:
    paints = _Paints(bar)
    _spin(0.1)
    paints.count = 0
    set_progress(bar, 42)  # QProgressBar.setValue alone repaints at once
    assert paints.count == 0 and bar.value() == 42 and bar.updatesEnabled()
    handle = bar.windowHandle()
    if handle is not None and handle.isExposed():  # (a window left on top hides it)
        qtbot.waitUntil(lambda: paints.count > 0, timeout=2_000)  # on the next paint
    set_progress(bar, 0, maximum=0)
    assert bar.maximum() == 0  # busy
    set_progress(bar, 7, maximum=None)  # keeps the range (busy: the value is ignored)
    assert bar.maximum() == 0


def test_a_busy_bar_redraws_a_few_times_a_second_then_as_before(bar: QProgressBar) -> None:
    pulse = BusyPulse(bar)
    paints = _Paints(bar)
    set_progress(bar, 0, maximum=0)
    pulse.start()
    _spin(0.3)
    paints.count = 0
    _spin(1.0)
    # about 1000 / BUSY_REDRAW_MS redraws (Qt animates a busy bar at ~30 a second)
    assert paints.count <= 2 * 1000 // BUSY_REDRAW_MS
    handle = bar.windowHandle()
    if handle is not None and handle.isExposed():  # (a window left on top hides it)
        assert paints.count >= 1  # it still moves
    pulse.stop()
    assert bar.updatesEnabled() and not pulse.timer.isActive()
    set_progress(bar, 100)
    _spin(2.5 * BUSY_REDRAW_MS / 1000)  # no muting left over from the pulse
    assert bar.updatesEnabled() and bar.value() == 100


def test_the_pulse_draws_even_when_the_bar_animates_nothing(bar: QProgressBar) -> None:
    """A bar that draws no frame of its own (here: a fixed value, no busy animation; in
    the full suite a busy bar whose style animation had not started) still gets a
    redraw from the pulse a few times a second: it never looks frozen."""
    pulse = BusyPulse(bar)
    paints = _Paints(bar)
    set_progress(bar, 30)
    _spin(0.3)
    pulse.start()
    paints.count = 0
    _spin(1.0)
    pulse.stop()
    handle = bar.windowHandle()
    if handle is not None and handle.isExposed():
        assert 2 <= paints.count <= 2 * 1000 // BUSY_REDRAW_MS
