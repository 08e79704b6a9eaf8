"""Volumes become layers in one RAS+ world: anisotropic and oblique grids placed exactly."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.bones import Bone, label_colormap
from bmes_imaging.geometry import apply_affine
from bmes_imaging_napari._layers import (
    contrast_limits_for,
    display_frame,
    study_layer_data,
    volume_from_layer,
)

from .conftest import make_study

pytestmark = pytest.mark.gui



def images_and_labels(layers: list) -> list:
    """The study's series and label layers, without the hatch where STIR has no data
    (tested in test_never_mislead)."""
    return [t for t in layers if t[1]["metadata"]["bmes_imaging"]["role"] != "fluid_fov"]


@pytest.mark.parametrize("rotation_deg", [0.0, 17.0])
def test_layers_map_voxels_to_the_volumes_world(make_napari_viewer, rotation_deg) -> None:
    study = make_study(rotation_deg)
    viewer = make_napari_viewer()
    layers = study_layer_data(study.t1, study.stir, bones=study.bones, edema=study.edema)
    for data, params, kind in images_and_labels(layers):
        getattr(viewer, f"add_{kind}")(data, **params)
    assert [layer.name for layer in viewer.layers] == ["T1", "STIR", "Bones", "Edema"]
    frame = display_frame(study.t1)
    assert np.allclose(frame, np.eye(4)) == (rotation_deg == 0.0)
    rng = np.random.default_rng(0)
    for layer, vol in zip(viewer.layers, (study.t1, study.stir, study.bones, study.edema),
                          strict=True):
        ijk = rng.uniform(0, np.array(vol.shape) - 1, size=(5, 3))
        order = layer.metadata["bmes_imaging"]["order"]
        world = np.array([layer.data_to_world(p[list(order)]) for p in ijk])
        np.testing.assert_allclose(world, apply_affine(frame, vol.world(ijk)), atol=1e-6)
        back = volume_from_layer(layer)
        np.testing.assert_allclose(back.affine, vol.affine)
        np.testing.assert_array_equal(back.array, vol.array)
        assert np.shares_memory(back.array, vol.array)
    assert tuple(viewer.dims.axis_labels) == ("R", "A", "S")
    # the same anatomical point (talus centre) is talus in the bone labels and bright
    # marrow in both series, looked up through each layer's own world->data transform
    centre = apply_affine(frame, [[0.0, -6.0, 0.0]])[0]
    t1_layer, stir_layer, bones_layer, _ = viewer.layers
    assert bones_layer.get_value(centre, world=True) == int(Bone.TALUS)
    assert t1_layer.get_value(centre, world=True) > 800
    assert stir_layer.get_value(centre, world=True) < 130


def test_labels_use_the_vocabulary_colours_and_names(make_napari_viewer, synthetic_study):
    viewer = make_napari_viewer()
    [(data, params, _)] = study_layer_data(synthetic_study.t1, bones=synthetic_study.bones
                                              )[1:]
    layer = viewer.add_labels(data, **params)
    cmap = label_colormap()
    for bone in (Bone.TALUS, Bone.NAVICULAR):
        np.testing.assert_allclose(layer.get_color(int(bone)), cmap[int(bone)], atol=1e-6)
    names = dict(zip(layer.features["index"], layer.features["bone"], strict=True))
    assert names[int(Bone.TALUS)] == "Talus"
    assert names[int(Bone.FIBULA)].startswith("Fibula")


def test_contrast_limits_are_per_sequence_percentiles(synthetic_study) -> None:
    t1 = synthetic_study.t1.array
    lo, hi = contrast_limits_for(t1, "t1")
    nonzero = t1[t1 != 0]
    assert np.percentile(nonzero, 0.4) <= lo <= np.percentile(nonzero, 0.6)
    assert hi <= nonzero.max()
    assert contrast_limits_for(np.zeros((3, 3, 3)), "stir") == (0.0, 1.0)
