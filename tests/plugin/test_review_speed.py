"""Review speed: Next only through candidates, undo / redo of every kind of step, the
findings table showing all 14 bones at 1600x1000 in the window ``bmes view`` builds."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import pytest

from bmes_imaging.bones import Bone

from .test_review_workflow import detected_widget, row_of

pytestmark = pytest.mark.gui


def test_next_steps_only_through_undecided_candidates(make_napari_viewer, qtbot,
                                                      store, nifti_study_dir,
                                                      tmp_path) -> None:
    viewer = make_napari_viewer()
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    findings = widget.model.findings
    with_edema = [f.bone for f in findings if f.edema_volume_ml > 0]
    assert len(with_edema) >= 2 and len(with_edema) < len(findings)
    assert widget.selected_bone() == with_edema[0]  # detection selects a candidate
    seen = []
    for _ in range(len(with_edema)):
        seen.append(widget.selected_bone())
        widget.select_next()
    assert seen == with_edema and widget.selected_bone() == with_edema[0]  # wraps
    widget.confirm_selected()
    widget.select_next()  # the confirmed one is skipped from now on
    assert widget.selected_bone() == with_edema[1]
    widget.select_next()
    assert widget.selected_bone() == with_edema[1] or len(with_edema) > 2
    # a bone without edema cannot be confirmed by a stray key press
    empty = next(f.bone for f in findings if f.edema_volume_ml == 0)
    widget.table.selectRow(row_of(widget, empty))
    widget.confirm_selected()
    assert widget.model.finding(empty).status == "candidate"


def test_undo_and_redo_every_kind_of_step(make_napari_viewer, qtbot, store,
                                          nifti_study_dir, tmp_path) -> None:
    viewer = make_napari_viewer()
    widget = detected_widget(viewer, qtbot, store, nifti_study_dir, tmp_path / "cache")
    model = widget.model
    start = [(f.bone, f.status, f.primary, f.edema_volume_ml) for f in model.findings]
    edema0, bones0 = model.edema.array.copy(), model.bones.array.copy()
    talus = Bone.TALUS
    widget.table.selectRow(row_of(widget, talus))
    widget.confirm_selected()
    widget.toggle_primary_selected()
    widget.reject_selected()
    assert model.finding(talus).status == "rejected" and model.finding(talus).primary
    # a paint stroke in the calcaneus (no edema there before)
    layer = widget.edema_layer
    order = layer.metadata["bmes_imaging"]["order"]
    ijk = np.round(np.argwhere(model.bones.array == int(Bone.CALCANEUS)).mean(axis=0))
    layer.brush_size = 3
    layer.paint(ijk[list(order)], int(Bone.CALCANEUS))
    widget.flush_edits()
    painted = model.edema.array.copy()
    assert model.finding(Bone.CALCANEUS).edema_volume_ml > 0
    widget.table.selectRow(row_of(widget, Bone.NAVICULAR))
    widget.change_selected_bone(Bone.CUBOID)
    assert not (model.edema.array == int(Bone.NAVICULAR)).any()
    # five undos, back to the detector's candidates, voxel for voxel
    for expected in ("relabel", "paint", "rejected", "primary", "confirmed"):
        assert model.undo() == expected
    assert model.undo() is None
    assert [(f.bone, f.status, f.primary, f.edema_volume_ml)
            for f in model.findings] == start
    np.testing.assert_array_equal(model.edema.array, edema0)
    np.testing.assert_array_equal(model.bones.array, bones0)
    assert np.shares_memory(np.asarray(layer.data), model.edema.array)  # the canvas too
    # and forward again
    for _ in range(4):
        widget.redo()
    np.testing.assert_array_equal(model.edema.array, painted)
    assert model.finding(talus).status == "rejected"
    widget.redo()
    assert not (model.edema.array == int(Bone.NAVICULAR)).any()
    assert model.redo() is None
    widget.undo()  # the relabel again, through the widget (buttons / Ctrl+Z)
    assert (model.edema.array == int(Bone.NAVICULAR)).any()
    assert widget.redo_button.isEnabled()


def _bone_findings() -> list[Any]:
    from bmes_imaging.detection import BoneFinding

    return [BoneFinding(bone=b, bone_volume_ml=12.5, edema_volume_ml=1.25, fraction=0.1,
                        grade=1, t1_ratio=0.5, fluid_ratio=2.0, confidence=0.75,
                        bone_mask_quality=math.nan) for b in Bone]


def test_the_table_shows_all_bones_at_1600x1000(make_napari_viewer, qtbot, tmp_path,
                                                monkeypatch) -> None:
    """The window ``bmes view`` builds (its own function), at 1600x1000."""
    import napari

    from bmes_imaging.cli._view import _open_viewer

    monkeypatch.setenv("BMES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BMES_DB", str(tmp_path / "bmes.sqlite"))
    args = argparse.Namespace(queue=None, sample=False, path=None, bones=None, detect=False)
    viewer = _open_viewer(napari, args)
    try:
        viewer.window.resize(1600, 1000)
        viewer.window.show()
        review = next(w for w in _docked_widgets(viewer) if hasattr(w, "table"))
        findings = _bone_findings()
        assert len(findings) == 14
        review.table.show_findings(findings)
        qtbot.waitUntil(lambda: review.table.isVisible(), timeout=5_000)
        qtbot.wait(100)
        table = review.table
        last = table.rowViewportPosition(13) + table.rowHeight(13)
        assert 0 < last <= table.viewport().height(), (last, table.viewport().height())
        header = table.horizontalHeader()
        prim = header.sectionViewportPosition(6) + header.sectionSize(6)
        assert prim <= table.viewport().width()  # the "Prim" column is not cut
    finally:
        viewer.close()


def _docked_widgets(viewer: Any) -> list[Any]:
    from qtpy.QtWidgets import QDockWidget

    main = viewer.window._qt_window  # test-side lookup only
    return [d.widget() for d in main.findChildren(QDockWidget)]


def test_history_is_bounded_and_cleared_per_study() -> None:
    from bmes_imaging_napari._history import History

    class Model:
        def __init__(self) -> None:
            self.findings = [1]
            self.edema = None
            self.bones = None

        def after_restore(self, **kwargs: Any) -> None:
            pass

    model, history = Model(), History(limit=3)
    for n in range(5):
        history.record(model, f"step{n}")
        model.findings = [n + 2]
    assert [s.label for s in history.undo_stack] == ["step2", "step3", "step4"]
    assert history.undo(model) == "step4" and model.findings == [5]
    history.reset(model)
    assert not history.can_undo and not history.can_redo
