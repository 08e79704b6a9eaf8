"""Never block the GUI: open, save and SEG export run in worker threads, with a busy
progress bar, and their errors reach the reader (``errored`` connected)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from bmes_imaging.store import open_store

from .test_review_workflow import READER, detect, make_widget, open_with_bones

pytestmark = pytest.mark.gui
SAMPLE = Path(__file__).parents[2] / "sample_data" / "study_p02_R"


class RecordingStore:
    """A real SQLite store that notes the thread each save ran in."""

    def __init__(self, path: Path) -> None:
        self._store = open_store(path)
        self.save_threads: list[int] = []

    def save_annotation(self, *args: Any, **kwargs: Any) -> Any:
        self.save_threads.append(threading.get_ident())
        return self._store.save_annotation(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_open_runs_in_a_worker_and_the_window_stays_live(make_napari_viewer, qtbot,
                                                         nifti_study_dir: Path,
                                                         tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "bmes.sqlite")
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, tmp_path / "cache")
    worker = widget.open_study_in_background(nifti_study_dir)
    assert worker is not None
    # returned at once: nothing loaded yet, the dock says what it is doing
    assert widget.model.study is None and widget.jobs.busy("open")
    assert widget.progress.maximum() == 0  # busy indicator
    assert not widget.open_button.isEnabled()
    qtbot.waitUntil(lambda: widget.model.study is not None, timeout=30_000)
    qtbot.waitUntil(lambda: not widget.jobs.busy(), timeout=5_000)
    assert {"t1", "fluid", "fluid_fov"} <= set(widget._study_layers())
    assert widget.open_button.isEnabled()
    # detection asked for while opening runs once the study is shown (bmes view --detect)
    widget.model.dirty = False
    widget.open_study_in_background(nifti_study_dir)
    assert widget.run_detection() is None
    viewer.open(str(nifti_study_dir.parent / "bones.nii.gz"), plugin="bmes-imaging")
    qtbot.waitUntil(lambda: bool(widget.model.findings), timeout=60_000)
    qtbot.waitUntil(lambda: widget.worker is None and widget._prepare_worker is None,
                    timeout=30_000)
    store.close()


def test_save_runs_in_a_worker_and_marks_the_review_saved(make_napari_viewer, qtbot,
                                                          nifti_study_dir: Path,
                                                          tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "bmes.sqlite")
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, tmp_path / "cache")
    open_with_bones(widget, viewer, nifti_study_dir)
    detect(widget, qtbot)
    widget.table.selectRow(0)
    widget.reject_selected()
    assert widget.model.dirty
    assert widget.save_in_background() is not None
    assert widget.jobs.busy("save")
    qtbot.waitUntil(lambda: not widget.model.dirty, timeout=30_000)
    saved = store.latest_annotation(widget.model.study_key, reader=READER)
    assert saved is not None
    assert store.save_threads and threading.get_ident() not in store.save_threads[-1:]
    store.close()


def test_export_errors_reach_the_reader(make_napari_viewer, qtbot, nifti_study_dir: Path,
                                        tmp_path: Path) -> None:
    from napari.utils.notifications import notification_manager

    store = RecordingStore(tmp_path / "bmes.sqlite")
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, tmp_path / "cache")
    open_with_bones(widget, viewer, nifti_study_dir)
    detect(widget, qtbot)
    messages: list[str] = []
    notification_manager.notification_ready.connect(lambda n: messages.append(n.message))
    # a NIfTI study has no DICOM to reference: the worker's error is shown
    assert widget.export_seg_in_background(tmp_path / "seg.dcm") is not None
    qtbot.waitUntil(lambda: not widget.jobs.busy(), timeout=30_000)
    assert any(m.startswith("SEG not written") and "DICOM" in m for m in messages), messages
    assert not (tmp_path / "seg.dcm").exists()
    store.close()
