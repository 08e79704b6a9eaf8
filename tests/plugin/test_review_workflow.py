"""The review workflow end to end: open, detect, decide, paint, save, reopen, restore.

Real components throughout: the detector, a SQLite store, napari under Xvfb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging_napari._qt._review_widget import ReviewWidget, camera_of
from bmes_imaging_napari._study import load_study

pytestmark = pytest.mark.gui
READER = "dr_a"


def make_widget(viewer: Any, store: Any, cache: Path) -> ReviewWidget:
    widget = ReviewWidget(viewer, store=store, cache=cache, autosave_ms=0)
    viewer.window.add_dock_widget(widget, name="Review")
    widget.ask_unsaved = lambda: "discard"
    widget.ask_yes_no = lambda question: True
    widget.reader_edit.setText(READER)
    widget._on_reader_changed()
    # the synthetic series are not moved: skip the (slow) motion refinement
    widget.model.detect_options["refine_alignment"] = False
    return widget


def detect(widget: ReviewWidget, qtbot: Any) -> None:
    worker = widget.run_detection()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.model.findings, widget.progress_label.text()


def open_with_bones(widget: ReviewWidget, viewer: Any, study_dir: Path) -> None:
    assert widget.open_study(study_dir)
    # an imported bone label map (as a reader would open it): detection uses it
    viewer.open(str(study_dir.parent / "bones.nii.gz"), plugin="bmes-imaging")


def detected_widget(viewer: Any, qtbot: Any, store: Any, study_dir: Path,
                    cache: Path) -> ReviewWidget:
    """A docked review widget with the study open (imported bones) and detection run."""
    widget = make_widget(viewer, store, cache)
    open_with_bones(widget, viewer, study_dir)
    detect(widget, qtbot)
    return widget


def statuses(widget: ReviewWidget) -> dict[Bone, tuple[str, bool]]:
    return {f.bone: (f.status, f.primary) for f in widget.model.findings}


def row_of(widget: ReviewWidget, bone: Bone) -> int:
    return [int(f.bone) for f in widget.model.findings].index(int(bone))


def test_review_save_close_reopen_restores_exactly(make_napari_viewer, qtbot, store,
                                                   nifti_study_dir, tmp_path) -> None:
    cache = tmp_path / "cache"
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, cache)
    open_with_bones(widget, viewer, nifti_study_dir)
    detect(widget, qtbot)
    assert widget.progress.value() == 100
    bones = [f.bone for f in widget.model.findings]
    assert bones == [Bone.TALUS, Bone.CALCANEUS, Bone.NAVICULAR]
    assert widget.table.rowCount() == 3
    assert widget.edema_layer is not None and widget.edema_layer.name == "Edema"
    detector_labels = widget.model.edema.array.copy()
    detector_findings = {f.bone: f.edema_volume_ml for f in widget.model.findings}

    # selecting a finding jumps to it: the slider (R) sits at the talus edema centroid
    widget.table.selectRow(row_of(widget, Bone.TALUS))
    centre = widget.model.centroid_world(Bone.TALUS)
    assert viewer.dims.point[0] == pytest.approx(centre[0], abs=3.0)
    shown = centre[list(viewer.dims.displayed)]  # (S, A): sagittal reading view
    assert np.allclose(camera_of(viewer).center[-2:], shown, atol=1.0)

    widget.confirm_selected()
    widget.table.selectRow(row_of(widget, Bone.CALCANEUS))
    widget.reject_selected()
    # relabel: the navicular candidate really lies in the cuboid
    navicular_ml = widget.model.finding(Bone.NAVICULAR).edema_volume_ml
    widget.table.selectRow(row_of(widget, Bone.NAVICULAR))
    widget.change_selected_bone(Bone.CUBOID)
    cuboid = widget.model.finding(Bone.CUBOID)
    assert cuboid.edema_volume_ml == pytest.approx(navicular_ml)
    assert widget.model.finding(Bone.NAVICULAR).edema_volume_ml == 0
    widget.table.selectRow(row_of(widget, Bone.TALUS))
    widget.toggle_primary_selected()

    # paint a region into the calcaneus with the labels layer's own tool
    layer = widget.edema_layer
    study = load_study(nifti_study_dir)
    talus_before = widget.model.finding(Bone.TALUS).edema_volume_ml
    calc_ijk = np.argwhere(widget.model.bones.array == int(Bone.CALCANEUS)).mean(axis=0)
    order = layer.metadata["bmes_imaging"]["order"]
    layer.brush_size = 5
    layer.n_edit_dimensions = 2
    viewer.dims.set_point(0, float(study.t1.world(calc_ijk)[0][0]))
    layer.paint(np.round(calc_ijk[list(order)]), int(Bone.CALCANEUS))
    qtbot.waitUntil(lambda: widget.model.finding(Bone.CALCANEUS).edema_volume_ml > 0,
                    timeout=5_000)
    calc = widget.model.finding(Bone.CALCANEUS)
    assert calc.status == "rejected"  # the reader's decision survives the recompute
    assert calc.source == READER
    assert widget.model.finding(Bone.TALUS).edema_volume_ml == talus_before
    table_ml = float(widget.table.item(row_of(widget, Bone.CALCANEUS), 1).text())
    assert table_ml == pytest.approx(calc.edema_volume_ml, abs=0.01)

    assert widget.model.dirty
    assert widget.save()
    assert not widget.model.dirty
    saved_labels = widget.model.edema.array.copy()
    saved_status = statuses(widget)
    assert saved_status[Bone.TALUS] == ("confirmed", True)
    assert saved_status[Bone.CALCANEUS][0] == "rejected"
    assert saved_status[Bone.CUBOID][0] in ("candidate", "confirmed")
    viewer.close()

    # reopen in a fresh viewer: the reader's last saved state comes back exactly
    viewer2 = make_napari_viewer()
    widget2 = make_widget(viewer2, store, cache)
    assert widget2.open_study(nifti_study_dir)
    np.testing.assert_array_equal(widget2.model.edema.array, saved_labels)
    assert statuses(widget2) == saved_status
    assert not widget2.model.dirty
    shown = widget2.edema_layer.data
    np.testing.assert_array_equal(shown, saved_labels.transpose(order))
    events = store.audit_events(study.key)
    actions = {e.action for e in events if e.actor == READER}
    assert "annotation_saved" in actions
    assert {"finding_added"} <= actions

    # another reader opening the study sees the stored detector candidates at once
    widget2.model.dirty = False
    widget2.reader_edit.setText("dr_b")
    widget2._on_reader_changed()
    assert widget2.open_study(nifti_study_dir)
    assert widget2.worker is None
    np.testing.assert_array_equal(widget2.model.edema.array, detector_labels)
    assert {f.bone: f.edema_volume_ml for f in widget2.model.findings} == detector_findings
    assert {f.status for f in widget2.model.findings} == {"candidate"}


def test_unsaved_changes_are_asked_about(make_napari_viewer, qtbot, store,
                                         nifti_study_dir, tmp_path) -> None:
    viewer = make_napari_viewer()
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    widget.table.selectRow(0)
    widget.confirm_selected()
    asked: list[str] = []

    def cancel() -> str:
        asked.append("unsaved")
        return "cancel"

    widget.ask_unsaved = cancel
    assert not widget.maybe_close_study()
    assert not widget.open_study(nifti_study_dir)  # cancelled: nothing changed
    assert asked == ["unsaved", "unsaved"] and widget.model.dirty

    widget.ask_unsaved = lambda: "save"
    assert widget.maybe_close_study()
    assert not widget.model.dirty
    assert store.latest_annotation(widget.model.study_key, reader=READER) is not None


def test_autosave_recovers_work_in_progress(make_napari_viewer, qtbot, store,
                                            nifti_study_dir, tmp_path) -> None:
    cache = tmp_path / "cache"
    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, cache)
    open_with_bones(widget, viewer, nifti_study_dir)
    detect(widget, qtbot)
    widget.table.selectRow(row_of(widget, Bone.TALUS))
    widget.reject_selected()
    widget.autosave()
    recovery = widget.model.recovery_path()
    assert recovery.is_file()
    labels = widget.model.edema.array.copy()
    widget.model.dirty = False  # as if the session crashed
    viewer.close()

    viewer2 = make_napari_viewer()
    widget2 = make_widget(viewer2, store, cache)
    questions: list[str] = []
    widget2.ask_yes_no = lambda q: questions.append(q) or True
    widget2.open_study(nifti_study_dir)
    assert questions and "Restore" in questions[0]
    assert widget2.model.finding(Bone.TALUS).status == "rejected"
    assert widget2.model.dirty
    np.testing.assert_array_equal(widget2.model.edema.array, labels)
    assert widget2.save() and not recovery.exists()


def test_detection_can_be_cancelled_and_errors_are_notified(make_napari_viewer, qtbot,
                                                            store, nifti_study_dir,
                                                            tmp_path) -> None:
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    widget = make_widget(viewer, store, tmp_path / "cache")
    open_with_bones(widget, viewer, nifti_study_dir)
    widget.run_detection()
    widget.cancel_detection()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert widget.progress_label.text() == "Detection cancelled"
    assert widget.model.findings == []

    # a study without a fluid series: the error reaches the reader as a notification
    messages: list[str] = []
    notification_manager.notification_ready.connect(lambda n: messages.append(n.message))
    study = load_study(nifti_study_dir)
    study.fluid = None
    widget.model.open(study)
    widget.run_detection()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget.progress_label.text() == "Detection failed"
    assert any("fluid-sensitive" in m for m in messages), messages


def test_keyboard_shortcuts_drive_the_review(make_napari_viewer, qtbot, store,
                                             nifti_study_dir, tmp_path) -> None:
    from qtpy.QtCore import Qt

    viewer = make_napari_viewer(show=True)
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    window = viewer.window._qt_window
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    widget.table.selectRow(0)
    first = widget.model.findings[0].bone
    qtbot.keyClick(canvas, Qt.Key.Key_C)
    assert widget.model.finding(first).status == "confirmed"
    qtbot.keyClick(canvas, Qt.Key.Key_N)
    second = widget.selected_bone()
    assert second is not None and second != first
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    assert widget.model.finding(second).status == "rejected"
    qtbot.keyClick(canvas, Qt.Key.Key_P, Qt.KeyboardModifier.ShiftModifier)
    assert widget.model.finding(second).primary
    assert widget.model.dirty
    qtbot.keyClick(canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not widget.model.dirty, timeout=10_000)  # saved in a worker
    assert store.latest_annotation(widget.model.study_key, reader=READER) is not None
    # plain P is still napari's paint mode of the active labels layer
    viewer.layers.selection.active = widget.edema_layer
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_P)
    assert widget.edema_layer.mode == "paint"
    assert widget.model.finding(second).primary  # unchanged
    # typing a name containing C / R / N in the reader field is typing, not deciding
    widget.reader_edit.setFocus()
    qtbot.keyClicks(widget.reader_edit, "CRN")
    assert widget.model.finding(first).status == "confirmed"
    assert widget.reader_edit.text().endswith("CRN")


def test_opening_another_study_places_the_reused_layers_anew(make_napari_viewer, qtbot,
                                                             store, nifti_study_dir,
                                                             tmp_path) -> None:
    from bmes_imaging.geometry import apply_affine
    from bmes_imaging_napari._layers import display_frame

    from .conftest import make_study

    viewer = make_napari_viewer()
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    n_layers = len(viewer.layers)
    oblique = make_study(rotation_deg=15.0)
    other = tmp_path / "oblique"
    oblique.t1.to_nifti(other / "t1.nii.gz")
    oblique.stir.to_nifti(other / "stir.nii.gz")
    assert widget.open_study(other)
    assert len(viewer.layers) == n_layers  # reused, not piled up
    assert widget.model.findings == [] and widget.table.rowCount() == 0
    frame = display_frame(oblique.t1)
    for role, vol in (("t1", oblique.t1), ("fluid", oblique.stir), ("edema", oblique.t1)):
        layer = widget._study_layers()[role]
        order = layer.metadata["bmes_imaging"]["order"]
        ijk = np.array([[3.0, 7.0, 2.0], [40.0, 20.0, 9.0]])
        world = np.array([layer.data_to_world(p[list(order)]) for p in ijk])
        # (NIfTI stores the affine in float32)
        np.testing.assert_allclose(world, apply_affine(frame, vol.world(ijk)), atol=1e-4)
    assert not widget._study_layers()["edema"].data.any()


def test_closing_the_viewer_with_unsaved_work_asks_first(make_napari_viewer, qtbot, store,
                                                         nifti_study_dir, tmp_path) -> None:
    viewer = make_napari_viewer()
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    widget.table.selectRow(0)
    widget.reject_selected()
    asked: list[int] = []
    widget.ask_unsaved = lambda: asked.append(1) or "cancel"
    window = viewer.window._qt_window
    assert window.close() is False  # the reader cancelled: the window stays
    assert asked == [1] and widget.model.dirty
    widget.ask_unsaved = lambda: "save"
    assert widget.maybe_close_study()
    saved = store.latest_annotation(widget.model.study_key, reader=READER)
    assert saved is not None
    assert {f.bone: f.status for f in saved.findings}[widget.model.findings[0].bone] \
        == "rejected"


def test_widgets_dock_through_npe2_like_in_napari(make_napari_viewer, qtbot, store,
                                                  nifti_study_dir, tmp_path,
                                                  monkeypatch) -> None:
    """napari hands plugin widgets a PublicOnlyProxy viewer: docking must still work
    (keys bound on the viewer, the close guard) and the widgets share the store; the
    plugin touches nothing private of napari (no FutureWarning of the proxy, which the
    test run turns into an error)."""
    from bmes_imaging_napari._qt._clinical_panel import ClinicalPanel
    from bmes_imaging_napari._qt._queue_widget import QueueWidget

    monkeypatch.setenv("BMES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BMES_READER", READER)
    viewer = make_napari_viewer()
    _, review = viewer.window.add_plugin_dock_widget("bmes-imaging", "Review")
    _, panel = viewer.window.add_plugin_dock_widget("bmes-imaging", "Clinical record")
    _, queue = viewer.window.add_plugin_dock_widget("bmes-imaging", "Study queue")
    assert isinstance(review, ReviewWidget) and isinstance(panel, ClinicalPanel)
    assert isinstance(queue, QueueWidget) and queue.review is review
    assert review.model.reader == READER
    assert review._shortcuts.bound  # bound through viewer.bind_key
    assert "C" in {str(k) for k in viewer.keymap} or viewer.keymap
    review.ask_unsaved = lambda: "discard"
    review.model.store = store
    assert review.open_study(nifti_study_dir)
    assert review.model.study is not None


def test_fast_recompute_agrees_with_findings_from_masks(make_napari_viewer, qtbot, store,
                                                        nifti_study_dir, tmp_path) -> None:
    from bmes_imaging.detection import findings_from_masks

    viewer = make_napari_viewer()
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    model = widget.model
    arr = model.edema.array
    calcaneus = np.argwhere(model.bones.array == int(Bone.CALCANEUS))
    for i, j, k in calcaneus[::7]:  # a reader's strokes
        arr[i, j, k] = int(Bone.CALCANEUS)
    arr[arr == int(Bone.NAVICULAR)] = 0  # and an erased candidate
    for _ in range(2):  # the second call reuses the cached ratios
        fast = model._findings_from_masks()
        slow = findings_from_masks(model.bones, model.edema, model.study.t1,
                                   model.fluid_aligned)
        assert fast == slow
    assert {f.bone: f.edema_volume_ml > 0 for f in fast}[Bone.CALCANEUS]


def test_review_dock_prepares_the_bone_atlas_in_the_background(make_napari_viewer, qtbot,
                                                                store, tmp_path) -> None:
    """The first automatic bone masks of a session should not wait for the atlas: the
    dock starts the bone-mask process (which loads the atlas) while the reader is still
    choosing a study, or loads the atlas in-process with one CPU."""
    import os

    from bmes_imaging.detection import _atlas
    from bmes_imaging_napari import _bone_process
    from bmes_imaging_napari._qt import _warm_up

    # as in a new session (earlier tests may have started all this already)
    _bone_process.shutdown()
    _atlas._ATLAS_CACHE.clear()
    _warm_up._warm_up_started.clear()
    _warm_up.warm_up_done.clear()
    viewer = make_napari_viewer()
    make_widget(viewer, store, tmp_path / "cache")
    assert not _bone_process.is_running()  # not in the dock's constructor: when idle
    qtbot.waitUntil(_warm_up.warm_up_done.is_set, timeout=60_000)
    if (os.cpu_count() or 1) >= 2:
        assert _bone_process.is_running()
        # the process is up with its atlas: a trivial job comes back at once
        ready = _bone_process.start()
        assert ready is not None and ready.result(timeout=10) is None
    else:
        assert {"R", "L"} <= set(_atlas._ATLAS_CACHE)
