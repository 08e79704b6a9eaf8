"""Regions grow into the rim only near their core (issue 11, eighth round).

A region seeded deeper than the rim grows first over the marrow deeper than the rim,
then into the rim only within ``rim_growth_mm`` of that part. A shell of partial volume
along a large bone's surface (cortex, tendon, muscle: fluid and T1 between marrow's and
theirs) no longer carries a small focus (a red-marrow island) around the bone into a
region of several percent of it, while a lesion reaching the surface keeps its rim.
Small synthetic grids, the rules of ``_compare`` checked directly (fast).
"""

from __future__ import annotations

import math

import numpy as np

from bmes_imaging.detection import DetectionConfig
from bmes_imaging.detection._compare import Ratios, bone_depth, flag_edema

VS = np.array([0.6, 0.6, 1.0])
BONE = 2
SOFT = 2.0  # fluid ratio of the soft tissue around the bones


def _grid(focus: tuple[slice, slice, slice], shell: bool = True
          ) -> tuple[Ratios, np.ndarray, np.ndarray]:
    """A large bone (24 x 24 x 14 mm) in muscle, normal marrow; a focus (fluid 2.2x,
    T1 0.6x) at ``focus``; with ``shell``, its rim (within 1.2 mm of the surface) reads
    as partial volume with bright tissue: fluid 1.6x, T1 0.8x."""
    lab = np.zeros((50, 50, 18), np.uint8)
    lab[5:45, 5:45, 2:16] = BONE
    t1 = np.full(lab.shape, 0.45, np.float32)  # muscle
    fl = np.full(lab.shape, SOFT, np.float32)
    t1[lab > 0], fl[lab > 0] = 1.0, 1.0
    depth = bone_depth(lab, VS)
    rim = (lab > 0) & (depth < 1.2)
    if shell:
        t1[rim], fl[rim] = 0.8, 1.6
    lesion = np.zeros(lab.shape, bool)
    lesion[focus] = True
    lesion &= lab > 0
    t1[lesion], fl[lesion] = 0.6, 2.2
    crop = (slice(0, lab.shape[0]), slice(0, lab.shape[1]), slice(0, lab.shape[2]))
    r = Ratios(crop, lab, depth, np.ones(lab.shape, bool), t1, fl, 1.0, 1.0, 1000,
               t1_spread=0.05, fluid_spread=0.15, soft_tissue_fluid=SOFT,
               voxel_sizes=(0.6, 0.6, 1.0), soft_tissue_t1=0.45)
    return r, lesion, rim


# a small focus (0.03 ml, 0.2 % of the bone) just inside the rim of one face
_FOCUS = (slice(7, 12), slice(20, 26), slice(7, 11))
# a lesion over a corner of the bone, reaching its surface (about 9 % of it)
_LESION = (slice(5, 20), slice(5, 20), slice(2, 10))


def test_the_shell_alone_starts_nothing() -> None:
    r, _, _ = _grid((slice(0, 0),) * 3)
    assert not flag_edema(r, VS, DetectionConfig(), r.labels.shape).any()


def test_a_small_focus_does_not_grow_around_the_bone() -> None:
    r, _, _ = _grid(_FOCUS)
    cfg = DetectionConfig()
    assert math.isfinite(cfg.rim_growth_mm)
    edema = flag_edema(r, VS, cfg, r.labels.shape)
    assert not edema.any()  # under 3 % of the bone: an island, not reported


def test_the_focus_grows_along_the_shell_when_the_rule_is_off() -> None:
    r, _, rim = _grid(_FOCUS)
    edema = flag_edema(r, VS, DetectionConfig(rim_growth_mm=math.inf), r.labels.shape)
    # the rim shell carries it over most of the bone's surface: a false region
    assert (edema[rim] > 0).mean() > 0.5
    assert (edema > 0).sum() >= 0.03 * (r.labels > 0).sum()


def test_a_lesion_reaching_the_surface_keeps_its_rim() -> None:
    r, lesion, rim = _grid(_LESION)
    edema = flag_edema(r, VS, DetectionConfig(), r.labels.shape) > 0
    assert edema[lesion].mean() > 0.95  # rim part of the lesion included
    # the shell beyond the lesion's own rim (more than 1.2 mm plus a voxel away) is not
    far = rim.copy()
    far[0:23, 0:23, 0:12] = False
    assert not edema[far].any()


def test_a_lesion_reaching_the_surface_is_found_without_the_shell() -> None:
    r, lesion, _ = _grid(_LESION, shell=False)
    for reach in (1.2, math.inf):
        edema = flag_edema(r, VS, DetectionConfig(rim_growth_mm=reach), r.labels.shape)
        assert (edema[lesion] > 0).mean() > 0.95
        assert not edema[~lesion].any()
