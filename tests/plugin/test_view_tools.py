"""Reading tools: window / level from the series' header and by right-drag, a ruler in
mm, edema fill or outline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.dicom import load_series, write_series
from bmes_imaging_napari._layers import image_layer_data, labels_layer_data
from bmes_imaging_napari._qt._view_tools import MEASURE_NAME, ViewTools

pytestmark = pytest.mark.gui


def test_series_window_level_and_right_drag(make_napari_viewer, synthetic_study,
                                            tmp_path: Path) -> None:
    folder = tmp_path / "T1"
    write_series(synthetic_study.t1, folder, patient_id="2", series_description="T1 SAG",
                 uid_seed="view-tools-test",
                 attributes={"ScanningSequence": "SE", "RepetitionTime": 500.0,
                             "EchoTime": 12.0, "WindowCenter": 500.0,
                             "WindowWidth": 800.0})
    volume = load_series(folder)
    viewer = make_napari_viewer()
    data, params, _ = image_layer_data(volume, role="t1")
    layer = viewer.add_image(data, **params)
    tools = ViewTools(viewer, model=None)
    assert tools.apply_preset("Series W/L") == pytest.approx((100.0, 900.0))
    assert layer.contrast_limits == pytest.approx([100.0, 900.0])
    wide = tools.apply_preset("Wide")
    assert wide is not None and wide[1] == pytest.approx(float(volume.array.max()))

    class Drag:  # what napari hands a mouse-drag callback (position in canvas pixels)
        def __init__(self) -> None:
            self.button, self.type, self.pos = 2, "mouse_press", (100.0, 100.0)

    tools._set_limits(layer, (100.0, 900.0))
    event = Drag()
    drag = tools._window_drag(viewer, event)
    assert drag is not None
    next(drag)
    event.type, event.pos = "mouse_move", (100.0, 60.0)  # up: brighter level
    next(drag)
    lo, hi = layer.contrast_limits
    assert hi - lo == pytest.approx(800.0) and (lo + hi) / 2 > 500.0
    event.pos = (180.0, 60.0)  # right: wider window
    next(drag)
    lo, hi = layer.contrast_limits
    assert hi - lo > 800.0
    event.button = 1
    assert tools._window_drag(viewer, event) is None  # left button: napari's own


def test_ruler_measures_in_mm_and_edema_outline(make_napari_viewer, synthetic_study
                                                ) -> None:
    viewer = make_napari_viewer()
    data, params, _ = image_layer_data(synthetic_study.t1, role="t1")
    viewer.add_image(data, **params)
    data, params, _ = labels_layer_data(synthetic_study.edema, role="edema")
    edema = viewer.add_labels(data, **params)
    tools = ViewTools(viewer, model=None)
    ruler = tools.start_measuring()
    assert ruler.name == MEASURE_NAME and ruler.mode == "add_line"
    ruler.add_lines(np.array([[0.0, -10.0, 0.0], [0.0, 20.0, 40.0]]))
    assert ruler.features["length_mm"].tolist() == pytest.approx([50.0])
    assert tools.start_measuring() is ruler  # one ruler layer
    assert edema.contour == 0
    tools.outline_check.setChecked(True)
    assert edema.contour == 1
    tools.outline_check.setChecked(False)
    assert edema.contour == 0


def test_three_views_are_linked_by_a_crosshair(make_napari_viewer, qtbot, tmp_path: Path,
                                               nifti_study_dir: Path) -> None:
    from bmes_imaging.store import open_store
    from bmes_imaging_napari._qt._linked_views import CROSSHAIR_NAME
    from bmes_imaging_napari._qt._review_widget import ReviewWidget

    viewer = make_napari_viewer()
    store = open_store(tmp_path / "bmes.sqlite")
    review = ReviewWidget(viewer, store=store, cache=tmp_path / "cache", autosave_ms=0)
    viewer.window.add_dock_widget(review, name="Review")
    assert review.open_study(nifti_study_dir)
    linked = review.view_tools.open_linked_views(show=False)
    try:
        views = {"sagittal": viewer, **linked.others}
        assert set(views) == {"sagittal", "coronal", "axial"}
        # each plane shows its two world axes, with the third on the slider
        assert {p: tuple(v.dims.not_displayed) for p, v in views.items()} == {
            "sagittal": (0,), "coronal": (1,), "axial": (2,)}
        for v in linked.others.values():  # the same arrays: edits show everywhere
            t1 = next(x for x in v.layers if x.name == "T1")
            assert np.shares_memory(np.asarray(t1.data),
                                    np.asarray(review._study_layers()["t1"].data))
        # moving the slice in the coronal view moves the others to the same point
        coronal = linked.others["coronal"]
        coronal.dims.set_point(1, 6.0)
        target = float(coronal.dims.point[1])
        for v in views.values():
            assert float(v.dims.point[1]) == pytest.approx(target)
            cross = next(x for x in v.layers if x.name == CROSSHAIR_NAME)
            # both lines pass through the shared point
            point = np.asarray(v.dims.point)[-3:]
            for line in cross.data:
                line = np.asarray(line)
                hits = [np.allclose(np.delete(line[0], a), np.delete(point, a))
                        and np.allclose(np.delete(line[1], a), np.delete(point, a))
                        for a in range(3)]
                assert any(hits)
    finally:
        review.view_tools.close_linked_views()
        store.close()
