"""The fluid image near the edge of its field of view (issue 11, seventh round).

A coronal or axial fluid series, or one covering part of the foot, leaves part of the
T1 grid without fluid signal. Smoothing the fluid image over that edge pulled the marrow
just inside it towards the empty outside (0.3-0.9x normal marrow within about 3 smoothing
sigmas), so that a lesion there was lost. With ``smooth_within_coverage`` the smoothing
averages over covered voxels only (normalised convolution). Small synthetic grids,
``compute_ratios`` and ``flag_edema`` run directly (fast).
"""

from __future__ import annotations

import numpy as np

from bmes_imaging.detection import DetectionConfig
from bmes_imaging.detection._compare import compute_ratios, flag_edema

VS = np.array([0.6, 0.6, 2.0])
BONE = 2
EDGE = 30  # the fluid series covers x >= EDGE


def _study(lesion: bool, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A large bone in muscle (air beside it); the fluid series covers x >= EDGE;
    optionally a lesion (fluid 2x, T1 0.7x) in the first 2.4 mm inside the covered
    part."""
    rng = np.random.default_rng(seed)
    shape = (60, 60, 14)
    lab = np.zeros(shape, np.uint8)
    lab[4:56, 4:56, 2:12] = BONE
    t1 = np.where(lab > 0, 1000.0, 400.0)  # marrow, muscle
    fl = np.where(lab > 0, 100.0, 150.0)
    if lesion:
        les = (slice(EDGE, EDGE + 4), slice(10, 50), slice(3, 11))
        t1[les], fl[les] = 700.0, 200.0
    t1 = t1 * (1.0 + 0.03 * rng.standard_normal(shape))
    fl = fl * (1.0 + 0.05 * rng.standard_normal(shape))
    air = np.zeros(shape, bool)  # around the foot: no signal but noise
    air[:, :2], air[:, -2:] = True, True
    t1[air], fl[air] = np.abs(rng.normal(0.0, 5.0, (2, int(air.sum()))))
    covered = np.zeros(shape, bool)
    covered[EDGE:] = True
    fl = np.where(covered, fl, 0.0)
    return t1.astype(np.float32), fl.astype(np.float32), lab, covered


def _edge_marrow(cfg: DetectionConfig) -> float:
    t1, fl, lab, cov = _study(lesion=False)
    r = compute_ratios(t1, fl, lab, cov, VS, cfg)
    full = np.zeros(lab.shape, np.float32)
    full[r.crop] = r.fluid_ratio
    return float(np.median(full[EDGE:EDGE + 2, 10:50, 4:10]))


def test_marrow_at_the_edge_of_the_fluid_series_reads_normal() -> None:
    assert abs(_edge_marrow(DetectionConfig()) - 1.0) < 0.05


def test_plain_smoothing_pulls_it_towards_the_empty_outside() -> None:
    assert _edge_marrow(DetectionConfig(smooth_within_coverage=False)) < 0.8


def _edema(within: bool) -> np.ndarray:
    t1, fl, lab, cov = _study(lesion=True)
    cfg = DetectionConfig(smooth_within_coverage=within)
    return flag_edema(compute_ratios(t1, fl, lab, cov, VS, cfg), VS, cfg, lab.shape)


def test_lesion_at_the_edge_is_found_up_to_the_edge() -> None:
    edema = _edema(True)
    assert (edema[EDGE:EDGE + 4, 10:50, 3:11] == BONE).mean() > 0.9
    assert (edema[EDGE, 10:50, 3:11] == BONE).mean() > 0.9
    assert not edema[:EDGE].any()  # nothing outside the fluid series


def test_its_voxels_at_the_edge_are_lost_when_the_rule_is_off() -> None:
    edema = _edema(False)
    assert (edema[EDGE, 10:50, 3:11] == BONE).mean() < 0.3


def test_normal_bone_at_the_edge_stays_clean() -> None:
    for seed in range(3):
        t1, fl, lab, cov = _study(lesion=False, seed=seed)
        cfg = DetectionConfig()
        r = compute_ratios(t1, fl, lab, cov, VS, cfg)
        assert not flag_edema(r, VS, cfg, lab.shape).any()
