"""Rendered canvas: not blank, and the T1 and STIR show the same anatomy at the same
canvas position although their voxel grids differ (1.4 vs 1.7 mm, 3.0 vs 3.5 mm slices,
different origins)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging_napari._layers import study_layer_data

from .conftest import make_study

pytestmark = pytest.mark.gui


def _gray(shot: np.ndarray) -> np.ndarray:
    return shot[..., :3].astype(np.float32).mean(axis=-1) / 255.0


def _largest_centroid(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask)
    assert n > 0, "nothing found in the screenshot"
    sizes = ndimage.sum(mask, lab, range(1, n + 1))
    return np.array(ndimage.center_of_mass(mask, lab, int(np.argmax(sizes)) + 1))



def images_and_labels(layers: list) -> list:
    """The study's series and label layers, without the hatch where STIR has no data
    (tested in test_never_mislead)."""
    return [t for t in layers if t[1]["metadata"]["bmes_imaging"]["role"] != "fluid_fov"]


@pytest.mark.parametrize("rotation_deg", [0.0, 20.0])
def test_t1_and_stir_line_up_on_the_canvas(make_napari_viewer, rotation_deg) -> None:
    study = make_study(rotation_deg)
    viewer = make_napari_viewer(show=True)
    for data, params, kind in images_and_labels(study_layer_data(study.t1, study.stir)):
        getattr(viewer, f"add_{kind}")(data, **params)
    t1_layer, stir_layer = viewer.layers
    stir_layer.colormap = "gray"
    stir_layer.blending = "translucent"
    viewer.dims.order = (0, 2, 1)
    viewer.reset_view()

    stir_layer.visible = False
    t1_shot = _gray(viewer.screenshot(canvas_only=True, flash=False))
    stir_layer.visible, t1_layer.visible = True, False
    stir_shot = _gray(viewer.screenshot(canvas_only=True, flash=False))

    for shot in (t1_shot, stir_shot):  # not blank
        assert shot.std() > 0.05
        assert (shot > 0.1).mean() > 0.05

    # the talus edema: a dark hole in bright T1 marrow, the brightest blob on STIR
    marrow = t1_shot > 0.8
    hole = ndimage.binary_fill_holes(marrow) & ~marrow
    t1_centre = _largest_centroid(ndimage.binary_opening(hole, iterations=2))
    stir_centre = _largest_centroid(ndimage.binary_opening(stir_shot > 0.97, iterations=2))
    px_per_mm = viewer.scene.camera.zoom
    assert np.linalg.norm(t1_centre - stir_centre) < max(2.0, 1.5 * px_per_mm), (
        t1_centre, stir_centre)

    # the bone edges: the talus outline is bright marrow on T1 and dark marrow enclosed
    # by brighter soft tissue on STIR; the outlined regions must coincide (centre within
    # a voxel, area within the difference that the two voxel sizes allow)
    t1_bone = _component_at(ndimage.binary_fill_holes(marrow), t1_centre)
    tissue = ndimage.median_filter(stir_shot, size=int(2 * px_per_mm) | 1) > 0.3
    stir_bone = _component_at(ndimage.binary_fill_holes(tissue) & ~tissue
                              | ndimage.binary_opening(stir_shot > 0.97, iterations=2),
                              stir_centre)
    c_t1 = np.array(ndimage.center_of_mass(t1_bone))
    c_stir = np.array(ndimage.center_of_mass(stir_bone))
    assert np.linalg.norm(c_t1 - c_stir) < 1.7 * px_per_mm, (c_t1, c_stir)
    overlap = (t1_bone & stir_bone).sum() / (t1_bone | stir_bone).sum()
    assert overlap > 0.8, overlap


def _component_at(mask: np.ndarray, point: np.ndarray) -> np.ndarray:
    lab, _ = ndimage.label(mask)
    value = lab[round(point[0]), round(point[1])]
    assert value > 0, "the point is not inside the mask"
    return lab == value
