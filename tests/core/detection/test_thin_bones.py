"""Thin bones, the soft-tissue level and seeds that cross a joint (issue 11, third round).

Small synthetic grids with known values: the rules of ``_compare`` are checked directly,
without a phantom (fast).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from bmes_imaging.detection import DetectionConfig
from bmes_imaging.detection._compare import (
    Ratios,
    _soft_tissue_fluid,
    bone_depth,
    flag_edema,
)

VS = np.array([0.5, 0.5, 4.0])  # 4 mm slices, as a sagittal foot series


def _ratios(labels: np.ndarray, t1: np.ndarray, fluid: np.ndarray,
            soft: float = float("nan")) -> Ratios:
    lab = labels.astype(np.uint8)
    crop = (slice(0, lab.shape[0]), slice(0, lab.shape[1]), slice(0, lab.shape[2]))
    return Ratios(crop, lab, bone_depth(lab, VS), np.ones(lab.shape, bool),
                  t1.astype(np.float32), fluid.astype(np.float32), 1.0, 1.0, 1000,
                  t1_spread=0.05, fluid_spread=0.15, soft_tissue_fluid=soft)


def test_soft_tissue_level_is_the_muscle_around_the_bones_not_fat() -> None:
    lab = np.zeros((60, 60, 5), np.uint8)
    lab[20:40, 20:40, 1:4] = 5
    t1 = np.full(lab.shape, 1.2, np.float32)  # fat: bright on T1 ...
    fl = np.full(lab.shape, 0.3, np.float32)  # ... dark on the fluid image
    muscle = np.zeros(lab.shape, bool)
    muscle[15:45, 15:45, :] = True
    muscle &= lab == 0
    t1[muscle], fl[muscle] = 0.45, 2.5
    t1[lab > 0], fl[lab > 0] = 1.0, 1.0
    level = _soft_tissue_fluid(lab, np.ones(lab.shape, bool), t1, fl, VS)
    assert level == 2.5
    # no non-fatty tissue around the bones: unknown, and the rules fall back
    fat_only = _soft_tissue_fluid(lab, np.ones(lab.shape, bool), np.where(muscle, 1.2, t1),
                                  np.where(muscle, 0.3, fl), VS)
    assert math.isnan(fat_only)


def test_thin_bone_is_two_slices_thick_and_the_limit_can_be_set() -> None:
    lab = np.zeros((50, 50, 8), np.uint8)
    lab[10:40, 10:40, 1:3] = 9  # two 4 mm slices: every voxel on the surface
    lab[10:40, 10:40, 4:8] = 1  # a thick bone beside it
    r = _ratios(lab, np.ones(lab.shape), np.ones(lab.shape))
    cfg = DetectionConfig()
    thin = r.thin_bones(cfg)
    assert thin[9] and not thin[1]
    rim, _ = r.depth_limits(cfg)
    assert rim[9] < cfg.rim_mm and rim[1] == np.float32(cfg.rim_mm)
    assert not r.thin_bones(cfg.replace(thin_bone_depth_mm=0.1))[9]


def _thin_bone_with_focus(fluid_in_focus: float) -> tuple[Ratios, np.ndarray]:
    """A bone two slices thick, a focus over 15 % of it (under the 30 % extent rule)."""
    lab = np.zeros((60, 40, 4), np.uint8)
    lab[5:55, 10:30, 1:3] = 9
    t1 = np.ones(lab.shape, np.float32)
    fl = np.ones(lab.shape, np.float32)
    focus = np.zeros(lab.shape, bool)
    focus[5:13, 10:30, 1:3] = True  # 8 of 50 rows: 16 %
    t1[focus], fl[focus] = 0.7, fluid_in_focus
    return _ratios(lab, t1, fl, soft=2.5), focus


def test_small_thin_bone_focus_brighter_than_muscle_is_kept() -> None:
    cfg = DetectionConfig()
    r, focus = _thin_bone_with_focus(3.5)  # 1.4x the soft tissue
    edema = flag_edema(r, VS, cfg, r.labels.shape)
    assert (edema[focus] == 9).mean() > 0.9
    # the same focus with the soft-tissue rule off: under the thin-bone extent rule
    off = cfg.replace(thin_bone_soft_tissue_focal=math.inf)
    assert not flag_edema(r, VS, off, r.labels.shape).any()


def test_thin_bone_focus_no_brighter_than_muscle_is_partial_volume() -> None:
    cfg = DetectionConfig()
    r, _ = _thin_bone_with_focus(2.2)  # 0.88x the soft tissue: muscle-like
    assert not flag_edema(r, VS, cfg, r.labels.shape).any()
    # extensive but muscle-dark: still partial volume
    lab = r.labels
    wide = np.ones(lab.shape, np.float32)
    wide[lab > 0] = 2.0
    t1 = np.where(lab > 0, 0.7, 1.0).astype(np.float32)
    r2 = _ratios(lab, t1, wide, soft=2.5)
    assert not flag_edema(r2, VS, cfg, lab.shape).any()
    assert flag_edema(r2, VS, cfg.replace(thin_bone_soft_tissue_min=0.0), lab.shape).any()


def test_a_candidate_region_across_a_joint_grows_in_both_bones() -> None:
    """Two bones two slices thick touching end to end (a cuneiform and a metatarsal in
    4 mm slices): the rim is relaxed, so one candidate region crosses the joint; each
    bone's part must grow in its own bone (before, the smaller part was dropped)."""
    lab = np.zeros((70, 40, 4), np.uint8)
    lab[5:35, 10:30, 1:3] = 7    # intermediate cuneiform
    lab[35:65, 10:30, 1:3] = 10  # third metatarsal, touching it
    t1 = np.ones(lab.shape, np.float32)
    fl = np.ones(lab.shape, np.float32)
    lesion = np.zeros(lab.shape, bool)
    lesion[20:35, 10:30, 1:3] = True  # half of the cuneiform ...
    lesion[35:42, 10:30, 1:3] = True  # ... and 23 % of the metatarsal, connected
    t1[lesion], fl[lesion] = 0.6, 4.0
    r = _ratios(lab, t1, fl, soft=2.5)
    cfg = DetectionConfig()
    comp, _ = ndimage.label(r.candidates(cfg))
    crossing = [c for c in np.unique(comp[comp > 0])
                if {7, 10} <= set(np.unique(lab[comp == c]).tolist())]
    assert crossing, "the test needs a candidate region that crosses the joint"
    edema = flag_edema(r, VS, cfg, lab.shape)
    assert set(np.unique(edema).tolist()) == {0, 7, 10}
    assert (edema[lesion & (lab == 10)] == 10).mean() > 0.9


def _rim_lesion(beyond_fluid: float) -> tuple[Ratios, np.ndarray]:
    """A bone three 4 mm slices thick whose lesion fills its top slice only (the rim).

    Beyond the top slice lies tissue with fluid ratio ``beyond_fluid``: fat (dark on
    the fluid image) or joint fluid (brighter than the lesion).
    """
    lab = np.zeros((60, 40, 6), np.uint8)
    lab[5:55, 10:30, 1:4] = 13
    t1 = np.full(lab.shape, 1.1, np.float32)
    fl = np.full(lab.shape, 0.4, np.float32)
    fl[:, :, 4:] = beyond_fluid
    t1[lab > 0], fl[lab > 0] = 1.0, 1.0
    lesion = np.zeros(lab.shape, bool)
    lesion[5:35, 10:30, 3] = True  # 60 % of the top slice: 20 % of the bone
    t1[lesion], fl[lesion] = 0.6, 4.0
    return _ratios(lab, t1, fl, soft=2.0), lesion


def test_rim_lesion_no_partial_volume_explains_is_found() -> None:
    r, lesion = _rim_lesion(beyond_fluid=0.4)
    cfg = DetectionConfig()
    deep, rim_seeds = r.candidate_parts(cfg)
    assert not (deep & lesion).any()  # wholly in the rim: the depth rule alone misses it
    assert rim_seeds[lesion].mean() > 0.5
    edema = flag_edema(r, VS, cfg, r.labels.shape)
    assert (edema[lesion] == 13).mean() > 0.8
    assert not edema[~lesion].any()
    # with the rule turned off the lesion is lost, as before the fourth round
    assert not flag_edema(r, VS, cfg.replace(rim_seed_margin=math.inf), r.labels.shape).any()


def test_rim_signal_next_to_joint_fluid_does_not_start_a_region() -> None:
    r, _ = _rim_lesion(beyond_fluid=6.0)  # joint fluid brighter than the rim voxel
    cfg = DetectionConfig()
    _, rim_seeds = r.candidate_parts(cfg)
    assert not rim_seeds.any()
    assert not flag_edema(r, VS, cfg, r.labels.shape).any()


def test_rim_voxel_as_bright_as_muscle_is_not_a_seed() -> None:
    r, _ = _rim_lesion(beyond_fluid=0.4)
    dim = Ratios(r.crop, r.labels, r.depth, r.covered, r.t1_ratio, r.fluid_ratio,
                 1.0, 1.0, 1000, t1_spread=0.05, fluid_spread=0.15,
                 soft_tissue_fluid=3.5)  # 4.0 is under 1.3 x 3.5
    _, rim_seeds = dim.candidate_parts(DetectionConfig())
    assert not rim_seeds.any()
