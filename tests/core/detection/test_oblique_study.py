"""Detection on oblique acquisitions: a plane the phantom does not produce by default.

Foot MRI is often planned oblique (sagittal along the foot's axis, not the magnet's). A
phantom study is resampled into grids tilted 18 degrees (T1) and -15 degrees (fluid
series) about two axes, written as DICOM with those orientations and run through
``detect_study`` with the true bones given (in their own grid): the same bones must come
out positive, with volumes near the truth, and the loader must see both series as
oblique.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.detection import detect_study
from bmes_imaging.dicom import index_folder
from bmes_imaging.geometry import resample_to
from bmes_imaging.phantom import generate_study, write_study
from bmes_imaging.phantom._distribution import draw_spec
from bmes_imaging.volume import Volume

pytestmark = pytest.mark.slow


def _rotation(axis: int, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    rot = np.eye(4)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = np.cos(t), -np.sin(t), np.sin(t), np.cos(t)
    return rot


def _tilted(vol: Volume, degrees: float) -> Volume:
    """``vol`` resampled into its own grid rotated by ``degrees`` about the world x and
    z axes (so that a sagittal, coronal or axial slice normal leaves its axis)."""
    rot = _rotation(0, degrees) @ _rotation(2, degrees)
    affine = np.asarray(vol.affine, float)
    centre = affine @ np.r_[(np.array(vol.shape) - 1) / 2.0, 1.0]
    to, back = np.eye(4), np.eye(4)
    to[:3, 3], back[:3, 3] = centre[:3], -centre[:3]
    tilted = to @ rot @ back @ affine
    out = resample_to(vol, tilted, vol.shape, order=1)
    return Volume(np.asarray(out.array, np.float32), tilted, vol.info)


def test_oblique_t1_and_fluid_series_give_the_same_findings(tmp_path: Path) -> None:
    spec = dataclasses.replace(draw_spec(3, "tune"), normal=False,
                               edema_bones=("talus", "cuboid"), edema_extent="moderate",
                               edema_fluid_ratio=3.0, edema_t1_ratio=0.6)
    study = generate_study(spec)
    oblique = dataclasses.replace(study, t1=_tilted(study.t1, 18.0),
                                  stir=_tilted(study.stir, -15.0))
    folder = write_study(oblique, tmp_path / "study")
    stacks = index_folder(folder / "dicom").stacks
    assert len(stacks) == 2
    assert {s.plane for s in stacks} == {"oblique"}

    result = detect_study(folder / "dicom", tmp_path / "out",
                          bones_path=folder / "truth" / "bones.nii.gz")
    rows = {r["bone"]: r for r in result.rows}
    positive = {b for b, r in rows.items() if float(r["edema_volume_ml"]) > 0.05}
    assert positive == {"talus", "cuboid"}
    with open(folder / "truth" / "involvement.csv", encoding="utf-8") as fh:
        truth = {r["bone"]: float(r["edema_volume_ml"]) for r in csv.DictReader(fh)}
    # the talus lies wholly inside both tilted fields of view
    assert float(rows["talus"]["edema_volume_ml"]) == pytest.approx(truth["talus"], rel=0.25)
