"""Thin bones cut obliquely by thick slices (issue 11, fifth round).

A thin bone's rim and depth limits are a fraction of its deepest point. When one slice
holds a few deeper voxels (the bone cut obliquely), the bone's other slices are all
within half a pixel of a surface and could never start a region: with
``thin_bone_per_slice`` the limits are taken per slice there, for voxels darker on T1
than the soft tissue around the bones (no partial volume with muscle explains those).
Small synthetic grids, the rules of ``_compare`` checked directly (fast).
"""

from __future__ import annotations

import math

import numpy as np

from bmes_imaging.detection import DetectionConfig
from bmes_imaging.detection._compare import Ratios, bone_depth, flag_edema

VS = np.array([0.7, 0.7, 4.0])  # 4 mm slices, as a sagittal foot series
BONE = 11


def _oblique_thin_bone(lesion_t1: float, soft_t1: float = 0.45
                       ) -> tuple[Ratios, np.ndarray]:
    """A thin bone: two full slices and a small patch in a third slice, which gives
    the middle slice a few deeper voxels; a lesion fills the other full slice."""
    lab = np.zeros((60, 40, 6), np.uint8)
    lab[10:50, 10:30, 2:4] = BONE
    lab[30:34, 16:22, 1] = BONE  # the patch: slice 2 gets voxels deeper than the rest
    t1 = np.ones(lab.shape, np.float32)
    fl = np.ones(lab.shape, np.float32)
    lesion = np.zeros(lab.shape, bool)
    lesion[10:50, 10:30, 3] = True  # 45 % of the bone, every voxel on a surface
    t1[lesion], fl[lesion] = lesion_t1, 3.0
    depth = bone_depth(lab, VS)
    crop = (slice(0, lab.shape[0]), slice(0, lab.shape[1]), slice(0, lab.shape[2]))
    r = Ratios(crop, lab, depth, np.ones(lab.shape, bool), t1, fl, 1.0, 1.0, 1000,
               t1_spread=0.05, fluid_spread=0.15, soft_tissue_fluid=2.5,
               voxel_sizes=(0.7, 0.7, 4.0), soft_tissue_t1=soft_t1)
    return r, lesion


def test_the_grid_is_a_thin_bone_whose_lesion_slice_is_all_rim() -> None:
    r, lesion = _oblique_thin_bone(0.3)
    cfg = DetectionConfig()
    assert r.thin_bones(cfg)[BONE]
    rim, _ = r.depth_limits(cfg)
    # the whole-bone rim lies deeper than every voxel of the lesion's slice
    assert r.depth[lesion].max() < rim[BONE]


def test_lesion_darker_than_muscle_in_an_all_surface_slice_is_found() -> None:
    r, lesion = _oblique_thin_bone(0.3)  # T1 0.3, the soft tissue 0.45
    edema = flag_edema(r, VS, DetectionConfig(), r.labels.shape)
    assert (edema[lesion] == BONE).mean() > 0.9
    assert not edema[~lesion].any()


def test_the_lesion_is_lost_when_the_rule_is_off() -> None:
    r, _ = _oblique_thin_bone(0.3)
    off = DetectionConfig(thin_bone_per_slice=False)
    assert not flag_edema(r, VS, off, r.labels.shape).any()


def test_signal_muscle_partial_volume_explains_does_not_start_a_region() -> None:
    # as bright as muscle mixing could make it, and not darker than muscle on T1
    r, _ = _oblique_thin_bone(0.6)
    cfg = DetectionConfig()
    assert not flag_edema(r, VS, cfg, r.labels.shape).any()
    # the T1 guard is what keeps it out
    loose = cfg.replace(thin_bone_slice_t1_max=math.inf)
    assert flag_edema(r, VS, loose, r.labels.shape).any()


def test_without_a_soft_tissue_level_the_slices_are_not_relaxed() -> None:
    r, _ = _oblique_thin_bone(0.3, soft_t1=float("nan"))
    assert not flag_edema(r, VS, DetectionConfig(), r.labels.shape).any()


def test_fine_isotropic_grids_keep_the_whole_bone_limits() -> None:
    r, _ = _oblique_thin_bone(0.3)
    iso = Ratios(r.crop, r.labels, r.depth, r.covered, r.t1_ratio, r.fluid_ratio, 1.0,
                 1.0, 1000, t1_spread=0.05, fluid_spread=0.15, soft_tissue_fluid=2.5,
                 voxel_sizes=(1.0, 1.0, 1.0), soft_tissue_t1=0.45)
    rim_v, _ = iso.voxel_depth_limits(DetectionConfig())
    rim, _ = iso.depth_limits(DetectionConfig())
    assert np.all(rim_v[iso.labels == BONE] == rim[BONE])
