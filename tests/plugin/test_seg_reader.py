"""A DICOM SEG opens in napari as bones and edema labels, on the T1 it was drawn on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.bones import Bone, label_colormap
from bmes_imaging.detection import BoneFinding
from bmes_imaging.dicom import write_series
from bmes_imaging.export import write_edema_seg
from bmes_imaging.geometry import apply_affine, napari_display_frame
from bmes_imaging_napari._reader import get_reader
from bmes_imaging_napari._study import load_study

from .conftest import EDEMA_SHAPES, make_study

pytestmark = pytest.mark.gui


def _dicom_study(folder: Path, rotation_deg: float) -> Any:
    """T1 + STIR as DICOM series, the synthetic anatomy's bones and edema beside them."""
    study = make_study(rotation_deg)
    common: dict[str, Any] = {"patient_id": "2", "uid_seed": f"segreader{rotation_deg}",
              "study_instance_uid": "1.2.826.0.1.3680043.8.498.77.1",
              "frame_of_reference_uid": "1.2.826.0.1.3680043.8.498.77.2"}
    write_series(study.t1, folder / "t1", series_description="T1 SAG", series_number=1,
                 **common)
    write_series(study.stir, folder / "stir", series_description="STIR SAG",
                 series_number=2, attributes={"InversionTime": 150, "RepetitionTime": 4000,
                                              "EchoTime": 40}, **common)
    return study


def _export_seg(folder: Path, study: Any) -> Path:
    t1 = load_study(folder).t1
    findings = [BoneFinding(b, 2.0, 0.3, 0.15, 1, 0.6, 1.8, 0.9, status="confirmed")
                for b, _, _ in EDEMA_SHAPES]
    return write_edema_seg(t1, folder / "seg.dcm", edema=t1.with_array(study.edema.array),
                           bones=t1.with_array(study.bones.array), findings=findings,
                           reader="Reader^A").path


@pytest.mark.parametrize("rotation_deg", [0.0, 17.0])
def test_seg_opens_over_its_t1(make_napari_viewer: Any, tmp_path: Path, rotation_deg: float
                               ) -> None:
    folder = tmp_path / "study"
    study = _dicom_study(folder, rotation_deg)
    seg_path = _export_seg(folder, study)
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="bmes-imaging")
    seg_layers = viewer.open(str(seg_path), plugin="bmes-imaging")
    assert [layer.name for layer in seg_layers] == ["seg bones", "seg edema"]
    t1_layer = next(layer for layer in viewer.layers if layer.name == "T1")
    bones_layer, edema_layer = seg_layers
    frame = napari_display_frame(study.t1.affine)
    rng = np.random.default_rng(1)
    ijk = rng.uniform(0, np.array(study.t1.shape) - 1, size=(6, 3))
    for layer in (t1_layer, bones_layer, edema_layer):  # same voxel, same world point
        order = list(layer.metadata["bmes_imaging"]["order"])
        world = np.array([layer.data_to_world(p[order]) for p in ijk])
        np.testing.assert_allclose(world, apply_affine(frame, study.t1.world(ijk)),
                                   atol=1e-5)
    # every voxel as drawn, and the anatomy under it where the T1 shows it
    order = bones_layer.metadata["bmes_imaging"]["order"]
    np.testing.assert_array_equal(np.asarray(bones_layer.data),
                                  study.bones.array.transpose(order))
    np.testing.assert_array_equal(np.asarray(edema_layer.data),
                                  study.edema.array.transpose(order))
    talus = apply_affine(frame, [[0.0, -6.0, 0.0]])[0]
    assert bones_layer.get_value(talus, world=True) == int(Bone.TALUS)
    assert t1_layer.get_value(talus, world=True) > 800
    edema_centre = apply_affine(frame, [EDEMA_SHAPES[0][1]])[0]
    assert edema_layer.get_value(edema_centre, world=True) == int(Bone.TALUS)
    cmap = label_colormap()
    for bone in (Bone.TALUS, Bone.CALCANEUS, Bone.NAVICULAR):
        np.testing.assert_allclose(bones_layer.get_color(int(bone)), cmap[int(bone)],
                                   atol=1e-6)
    names = dict(zip(bones_layer.features["index"], bones_layer.features["bone"],
                     strict=True))
    assert names[int(Bone.CALCANEUS)] == "Calcaneus"
    assert bones_layer.metadata["bmes_imaging"]["seg_grid"] == "source"


def test_reader_returns_none_for_dicom_that_is_not_a_seg(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    _dicom_study(folder, 0.0)
    image = next((folder / "t1").iterdir())
    assert get_reader(str(image)) is None
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 40)
    assert get_reader(str(fake)) is None
    assert get_reader([str(fake), str(image)]) is None
