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
