"""Fixtures of the plugin tests: a small synthetic foot study in world coordinates.

Intensities are defined as functions of RAS+ position and sampled on each series' own
grid, so the T1 and STIR volumes (different voxel sizes, different origins) show the
same anatomy at the same world positions, as real co-registered series do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.store import open_store
from bmes_imaging.volume import SeriesInfo, Volume

# (bone, centre RAS mm, radii mm)
BONE_SHAPES = (
    (Bone.TALUS, (0.0, 0.0, 0.0), (12.0, 15.0, 10.0)),
    (Bone.CALCANEUS, (0.0, -26.0, -16.0), (12.0, 16.0, 9.0)),
    (Bone.NAVICULAR, (0.0, 23.0, -2.0), (10.0, 6.0, 8.0)),
)
# edema spheres (bone, centre, radius)
EDEMA_SHAPES = (
    (Bone.TALUS, (0.0, 4.0, 0.0), 6.0),
    (Bone.NAVICULAR, (0.0, 23.0, -2.0), 4.0),
)
STUDY_UID = "1.2.826.0.1.3680043.8.498.9999.1"


def sagittal_affine(voxel: tuple[float, float, float], shape: tuple[int, int, int],
                    centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
                    rotation_deg: float = 0.0) -> np.ndarray:
    """RAS+ affine of a sagittal stack (i posterior, j inferior, k right) centred on
    ``centre``; ``rotation_deg`` tilts the plane about the S axis (oblique)."""
    # columns: i -> posterior (-A), j -> inferior (-S), k -> right (+R)
    directions = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    t = np.radians(rotation_deg)
    rot = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0],
                    [0.0, 0.0, 1.0]])
    m = rot @ directions @ np.diag(voxel)
    a = np.eye(4)
    a[:3, :3] = m
    middle = (np.asarray(shape) - 1) / 2.0
    a[:3, 3] = np.asarray(centre) - m @ middle
    return a


def label_maps(affine: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(bones, edema) label arrays of the synthetic anatomy on a grid."""
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    bones = np.zeros(len(xyz), np.uint8)
    for bone, c, r in BONE_SHAPES:
        inside = (((xyz - c) / r) ** 2).sum(axis=1) <= 1.0
        bones[inside & (bones == 0)] = int(bone)
    edema = np.zeros(len(xyz), np.uint8)
    for bone, c, r in EDEMA_SHAPES:
        inside = (((xyz - c) / r) ** 2).sum(axis=1) <= 1.0
        edema[inside & (bones == int(bone))] = int(bone)
    return bones.reshape(shape), edema.reshape(shape)


def images(affine: np.ndarray, shape: tuple[int, int, int], seed: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """(t1, stir) float32 arrays: marrow bright on T1 and dark on STIR; edema the
    opposite; soft tissue in a box around the bones; air outside."""
    bones, edema = label_maps(affine, shape)
    ijk = np.indices(shape).reshape(3, -1).T
    xyz = (ijk @ affine[:3, :3].T + affine[:3, 3]).reshape(*shape, 3)
    tissue = np.all(np.abs(xyz) <= (20.0, 48.0, 30.0), axis=-1)
    t1 = np.where(tissue, 300.0, 0.0)
    stir = np.where(tissue, 150.0, 0.0)
    t1 = np.where(bones > 0, 1000.0, t1)
    stir = np.where(bones > 0, 100.0, stir)
    t1 = np.where(edema > 0, 420.0, t1)
    stir = np.where(edema > 0, 520.0, stir)
    rng = np.random.default_rng(seed)
    t1 = t1 + rng.normal(0, 10, shape) * tissue
    stir = stir + rng.normal(0, 6, shape) * tissue
    return t1.astype(np.float32), stir.astype(np.float32)


@dataclass
class SyntheticStudy:
    t1: Volume
    stir: Volume
    bones: Volume
    edema: Volume


def make_study(rotation_deg: float = 0.0) -> SyntheticStudy:
    t1_shape = (72, 60, 12)
    t1_aff = sagittal_affine((1.4, 1.4, 3.0), t1_shape, rotation_deg=rotation_deg)
    st_shape = (60, 50, 10)
    st_aff = sagittal_affine((1.7, 1.7, 3.5), st_shape, centre=(1.0, -1.5, 2.0),
                             rotation_deg=rotation_deg)
    t1, _ = images(t1_aff, t1_shape, seed=1)
    _, stir = images(st_aff, st_shape, seed=2)
    bones, edema = label_maps(t1_aff, t1_shape)
    common = {"study_instance_uid": STUDY_UID, "patient_id": "2", "laterality": "R",
              "plane": "sagittal"}
    return SyntheticStudy(
        t1=Volume(t1, t1_aff, SeriesInfo(sequence="t1", series_description="T1 SAG",
                                         **common)),
        stir=Volume(stir, st_aff, SeriesInfo(sequence="stir",
                                             series_description="STIR SAG", **common)),
        bones=Volume(bones, t1_aff), edema=Volume(edema, t1_aff))


@pytest.fixture(scope="session")
def synthetic_study() -> SyntheticStudy:
    """A small sagittal T1 + STIR foot study with talus and navicular edema."""
    return make_study()


@pytest.fixture
def nifti_study_dir(tmp_path: Path, synthetic_study: SyntheticStudy) -> Path:
    """A NIfTI study folder (t1, stir) plus the bone labels beside it."""
    folder = tmp_path / "study"
    synthetic_study.t1.to_nifti(folder / "t1.nii.gz")
    synthetic_study.stir.to_nifti(folder / "stir.nii.gz")
    synthetic_study.bones.to_nifti(tmp_path / "bones.nii.gz")
    return folder


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the plugin's cache (detector output, recovery files) at a temp folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BMES_CACHE", str(cache))
    return cache


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A SQLite store in a temp folder, also named by ``BMES_DB`` (the plugin's store)."""
    db = tmp_path / "bmes.sqlite"
    monkeypatch.setenv("BMES_DB", str(db))
    s = open_store(db)
    yield s
    s.close()
