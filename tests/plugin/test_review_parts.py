"""The review dock's parts work on their own, given a model (issue 19: widgets composed
of parts that are given the model, as napari-animation does, not mixins that need the
dock): open a study, detect, paint, save, export (refused for a NIfTI study) and the
close guard without a ReviewWidget. Real components: the detector, a SQLite store,
napari under Xvfb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qtpy.QtCore import QEvent
from qtpy.QtGui import QCloseEvent
from qtpy.QtWidgets import QLabel, QLineEdit, QProgressBar, QVBoxLayout, QWidget

from bmes_imaging.bones import Bone
from bmes_imaging.store import open_store
from bmes_imaging_napari._qt._background import BackgroundJobs
from bmes_imaging_napari._qt._detection_run import DetectionController
from bmes_imaging_napari._qt._review_layers import ReviewLayers
from bmes_imaging_napari._qt._review_session import ReviewSession
from bmes_imaging_napari._qt._study_opener import StudyOpener
from bmes_imaging_napari._qt._view_tools import ViewTools
from bmes_imaging_napari._review_model import ReviewModel

pytestmark = pytest.mark.gui


class Parts:
    """The parts wired by hand, with plain Qt controls (what a different dock would do)."""

    def __init__(self, viewer: Any, tmp_path: Path) -> None:
        self.store = open_store(tmp_path / "bmes.sqlite")
        self.model = ReviewModel(reader="dr_a", store=self.store, cache=tmp_path / "cache")
        self.model.detect_options["refine_alignment"] = False  # synthetic: not moved
        self.dock = QWidget()
        self.progress, self.status, self.state = QProgressBar(), QLabel(), QLabel()
        self.reader = QLineEdit("dr_a")
        layout = QVBoxLayout(self.dock)
        for w in (self.reader, self.progress, self.status, self.state):
            layout.addWidget(w)
        self.jobs = BackgroundJobs(self.progress, self.status)
        self.layers = ReviewLayers(viewer, self.model, ViewTools(viewer, self.model))
        self.events: list[str] = []
        self.detection = DetectionController(viewer, self.model, self.jobs, self.progress,
                                             self.status, ask_yes_no=lambda q: True)
        self.detection.detected.connect(lambda: self.events.append("detected"))
        self.opener = StudyOpener(viewer, self.model, self.jobs, self.layers, self.status,
                                  may_close=lambda: True, pick_study=lambda c, f: None,
                                  ask_yes_no=lambda q: False)
        self.opener.shown.connect(lambda: self.events.append("shown"))
        self.answers = ["cancel"]
        self.session = ReviewSession(
            self.model, self.jobs, self.reader, self.status, self.state, dock=self.dock,
            ask_unsaved=lambda: self.answers.pop(0),
            ask_save_failed=lambda reason: "cancel", flush_edits=self.layers.flush_edits,
            autosave_ms=0)
        self.session.closing.connect(lambda: self.events.append("closing"))


def test_the_parts_review_a_study_without_the_dock(make_napari_viewer, qtbot: Any,
                                                   nifti_study_dir: Path,
                                                   tmp_path: Path) -> None:
    viewer = make_napari_viewer()
    parts = Parts(viewer, tmp_path)
    model = parts.model
    assert parts.opener.open_in_background(nifti_study_dir) is not None
    qtbot.waitUntil(lambda: parts.events == ["shown"], timeout=30_000)
    assert model.study is not None and model.study.source == nifti_study_dir
    assert {"t1", "fluid"} <= set(parts.layers.study_layers())

    viewer.open(str(nifti_study_dir.parent / "bones.nii.gz"), plugin="bmes-imaging")
    assert parts.detection.run() is not None and parts.detection.running
    qtbot.waitUntil(lambda: not parts.detection.running, timeout=60_000)
    assert parts.events == ["shown", "detected"]
    assert {f.bone for f in model.findings if f.edema_volume_ml > 0} >= {
        Bone.TALUS, Bone.NAVICULAR}, parts.status.text()
    assert parts.status.text().endswith("bone(s) with candidate edema")

    parts.layers.sync()  # the edema layer shares the model's label map
    layer = parts.layers.edema_layer
    assert layer is not None and np.shares_memory(layer.data, model.edema.array)
    assert model.finding(Bone.CALCANEUS).edema_volume_ml == 0
    parts.layers.start_painting(Bone.CALCANEUS)
    assert viewer.layers.selection.active is layer and layer.mode == "paint"
    assert layer.selected_label == int(Bone.CALCANEUS)
    order = layer.metadata["bmes_imaging"]["order"]  # voxel axes as the layer shows them
    ijk = np.round(np.argwhere(model.bones.array == int(Bone.CALCANEUS)).mean(axis=0))
    layer.brush_size = 3
    layer.paint(ijk[list(order)], int(Bone.CALCANEUS))
    assert model.dirty and parts.layers.recompute_timer.isActive()
    parts.session.update_state()
    assert parts.state.text() == "Unsaved changes"

    model.confirm(Bone.TALUS)
    assert parts.session.save()  # flushes the stroke's recompute first
    assert not parts.layers.recompute_timer.isActive()
    assert model.finding(Bone.CALCANEUS).edema_volume_ml > 0  # the stroke counted
    assert parts.state.text().startswith("Saved version")
    worker = parts.session.export_seg_in_background(tmp_path / "edema_seg.dcm")
    assert worker is not None
    qtbot.waitUntil(lambda: not parts.jobs.busy(), timeout=30_000)
    # a NIfTI study has no DICOM images to reference: the worker's error reaches the
    # reader (errored is connected), nothing is written
    assert parts.status.text() == "SEG not written"
    assert not (tmp_path / "edema_seg.dcm").exists()
    parts.store.close()


def test_the_session_guards_the_window_it_is_given(qtbot: Any, nifti_study_dir: Path,
                                                   make_napari_viewer, tmp_path: Path
                                                   ) -> None:
    """Closing the dock's window over unsaved work asks; "cancel" keeps it open and
    emits nothing; a saved review closes and the session says so (closing)."""
    viewer = make_napari_viewer()
    parts = Parts(viewer, tmp_path)
    window = QWidget()
    parts.dock.setParent(window)
    qtbot.addWidget(window)
    parts.session.guard_window()
    assert parts.opener.open(nifti_study_dir)
    parts.model.edema = parts.model.study.t1.with_array(
        np.zeros(parts.model.study.t1.shape, np.uint8))
    parts.model.dirty = True

    event = QCloseEvent()
    assert parts.session.eventFilter(window, event) is True  # asked: cancelled
    assert not event.isAccepted() and parts.events == [] and parts.answers == []
    parts.answers.append("save")
    event = QCloseEvent()
    assert parts.session.eventFilter(window, event) is False  # saved, then closes
    assert event.type() == QEvent.Type.Close
    assert parts.events == ["closing"] and not parts.model.dirty
    assert parts.store.annotations(parts.model.study.key, "dr_a")
    parts.session.stop()
    parts.store.close()
