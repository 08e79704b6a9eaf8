"""Long GUI work in several event-loop turns (issue 15): :class:`Turns` lets timers and
input run between steps, and a study opened in the background is shown that way, its
"open" job busy until the last step (so detection asked for meanwhile waits for it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from qtpy.QtCore import QTimer

from bmes_imaging_napari._qt._turns import TURN_BUDGET_MS, Turns, run_now

pytestmark = pytest.mark.gui


def _slow_steps(log: list[str], n: int) -> Any:
    for i in range(n):
        time.sleep(TURN_BUDGET_MS * 1.5 / 1000.0)  # longer than a turn's budget
        log.append(f"step {i}")
        if i == 0:
            QTimer.singleShot(0, lambda: log.append("timer"))
        yield None


def test_the_event_loop_runs_between_slow_steps(qapp: Any, qtbot: Any) -> None:
    log: list[str] = []
    done: list[bool] = []
    turns = Turns()
    turns.run(_slow_steps(log, 4), done=lambda: done.append(True))
    assert log == [] and turns.running  # nothing runs before the next turn
    qtbot.waitUntil(lambda: bool(done), timeout=5_000)
    assert done == [True] and not turns.running
    # a timer queued by the first step fired before the last step ran
    assert log.index("timer") < log.index("step 3")
    assert [e for e in log if e != "timer"] == [f"step {i}" for i in range(4)]


def test_a_failing_step_ends_the_run_and_reports(qapp: Any, qtbot: Any) -> None:
    def steps() -> Any:
        yield None
        raise ValueError("bad step")

    failed: list[BaseException] = []
    done: list[bool] = []
    turns = Turns()
    turns.run(steps(), done=lambda: done.append(True), failed=failed.append)
    qtbot.waitUntil(lambda: bool(failed), timeout=5_000)
    assert isinstance(failed[0], ValueError) and not done and not turns.running


def test_cancel_drops_and_finish_runs_the_rest(qapp: Any, qtbot: Any) -> None:
    log: list[str] = []
    turns = Turns()
    turns.run(_slow_steps(log, 3), done=lambda: log.append("done"))
    turns.cancel()
    qtbot.wait(50)
    assert log == [] and not turns.running
    turns.run(_slow_steps(log, 3), done=lambda: log.append("done"))
    turns.finish()
    assert log[-1] == "done" and log.count("done") == 1
    run_now(_slow_steps(log, 1))  # the synchronous path
    assert log[-1] == "step 0"


def test_open_job_stays_busy_until_the_study_is_shown(make_napari_viewer: Any, qtbot: Any,
                                                      nifti_study_dir: Path,
                                                      tmp_path: Path) -> None:
    from bmes_imaging.store import open_store

    from .test_background import make_widget

    viewer = make_napari_viewer()
    store = open_store(tmp_path / "bmes.sqlite")
    widget = make_widget(viewer, store, tmp_path)
    shown: list[tuple[bool, set[str]]] = []
    widget.opener.shown.connect(lambda: shown.append(
        (widget.jobs.busy("open"), set(widget._study_layers()))))
    assert widget.open_study_in_background(nifti_study_dir) is not None
    qtbot.waitUntil(lambda: not widget.jobs.busy("open"), timeout=30_000)
    # when the job ended, the study was shown: every layer in place, shown emitted once
    assert len(shown) == 1 and {"t1", "fluid", "fluid_fov"} <= shown[0][1]
    assert not shown[0][0]  # released first: detection asked for meanwhile may start
    assert widget.model.study is not None and widget.model.study.source == nifti_study_dir
    assert not widget.opener.turns.running
    widget.model.dirty = False
    store.close()
