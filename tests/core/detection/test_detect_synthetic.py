"""Detector behaviour on small synthetic feet (ellipsoid bones, exact world model)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.detection import (
    DetectionConfig,
    detect_edema,
    findings_from_masks,
    grade_for_fraction,
)
from bmes_imaging.detection._align import align_fluid
from bmes_imaging.errors import DetectionError
from bmes_imaging.geometry import apply_affine


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


@pytest.fixture(scope="module")
def diffuse_talus(synth):
    c, _ = synth.BONE_SHAPES[Bone.TALUS]
    foot = synth.Foot(edema={int(Bone.TALUS): (c, 13.0)}, effusion=True, vessel=True,
                      bias=0.3)
    t1, st, bones, edema = synth.make_study(foot, seed=1)
    return t1, st, bones, edema, detect_edema(t1, st, bones=bones, refine_alignment=False)


def test_grade_for_fraction_limits() -> None:
    assert [grade_for_fraction(f) for f in (0, 0.01, 0.2499, 0.25, 0.5, 0.5001, 1)] == [
        0, 1, 1, 2, 2, 3, 3]
    assert grade_for_fraction(float("nan")) == 0


def test_diffuse_talar_edema_found_and_graded_3(diffuse_talus) -> None:
    _t1, _, bones, truth, res = diffuse_talus
    talus = res.finding(Bone.TALUS)
    true_frac = (truth.array == 1).sum() / (bones.array == 1).sum()
    assert true_frac > 0.6
    assert talus is not None and talus.grade == 3 and talus.fraction > 0.5
    assert talus.t1_ratio < 0.7 and talus.fluid_ratio > 2.0
    assert 0.5 < talus.confidence <= 1
    assert _dice(truth.array > 0, res.edema.array > 0) > 0.8
    # edema voxels carry their bone's label
    e = res.edema.array
    assert np.array_equal(e[e > 0], res.bones.array[e > 0])


def test_effusion_and_vessel_outside_bone_never_reported(diffuse_talus, synth) -> None:
    # the diffuse study has both confounders: only the talus is positive
    assert diffuse_talus[4].positive_bones == [Bone.TALUS]
    foot = synth.Foot(effusion=True, vessel=True)
    t1, st, bones, _ = synth.make_study(foot, seed=2)
    res = detect_edema(t1, st, bones=bones, refine_alignment=False)
    assert res.positive_bones == []
    assert not res.edema.array.any()


def test_normal_study_has_no_positive_bone_despite_bias(synth) -> None:
    t1, st, bones, _ = synth.make_study(synth.Foot(bias=0.4), seed=3, noise=0.04)
    res = detect_edema(t1, st, bones=bones)
    assert res.positive_bones == []
    assert {f.bone for f in res.findings} == set(synth.BONE_SHAPES)
    assert all(f.grade == 0 and f.edema_volume_ml == 0 for f in res.findings)


def test_motion_2mm_2deg_recovered_within_half_mm(synth) -> None:
    c, _ = synth.BONE_SHAPES[Bone.TALUS]
    foot = synth.Foot(edema={int(Bone.CALCANEUS): ((2.0, -36.0, 0.0), 6.0)})
    truth = synth.rigid_matrix([1.2, 1.0, 1.2, 1.2, -1.1, 1.1], np.array(c))  # 2 mm, ~2 deg
    assert np.isclose(np.linalg.norm(truth[:3, 3] - (c - truth[:3, :3] @ c)), 1.96, atol=0.05)
    t1, st, bones, _ = synth.make_study(foot, motion=truth, seed=4)
    al = align_fluid(t1, st)
    pts = t1.world(np.argwhere(bones.array > 0)[::37])
    # the recovered correction undoes the motion: M @ P ~ identity on the foot
    err = np.linalg.norm(apply_affine(al.transform @ truth, pts) - pts, axis=1)
    assert err.max() < 0.5, err.max()
    before = np.linalg.norm(apply_affine(truth, pts) - pts, axis=1)
    assert before.mean() > 1.5


def test_left_foot_mirrored(synth) -> None:
    foot = synth.Foot(edema={int(Bone.NAVICULAR): ((-4.0, 20.0, 12.0), 7.0)}, mirror=True)
    t1, st, bones, truth = synth.make_study(foot, seed=5, side="L")
    res = detect_edema(t1, st, bones=bones, refine_alignment=False)
    assert res.positive_bones == [Bone.NAVICULAR]
    assert _dice(truth.array > 0, res.edema.array > 0) > 0.75


def test_imported_labels_in_another_grid(diffuse_talus) -> None:
    t1, st, bones, _truth, _ref = diffuse_talus
    # the same labels on a coarser, axial grid (nearest neighbour back to T1)
    from bmes_imaging.geometry import resample_to

    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    world = apply_affine(bones.affine, corners * (np.array(bones.shape) - 1))
    aff = np.diag([0.7, 0.7, 0.7, 1.0])
    aff[:3, 3] = world.min(axis=0)
    shape = np.ceil((world.max(axis=0) - world.min(axis=0)) / 0.7).astype(int) + 1
    other = resample_to(bones, aff, shape, order=0)
    res = detect_edema(t1, st, bones=other, refine_alignment=False)
    assert res.bones.shape == t1.shape
    agree = _dice(res.bones.array == 1, bones.array == 1)
    assert agree > 0.9
    assert res.positive_bones == [Bone.TALUS]


def test_bad_labels_rejected(synth) -> None:
    t1, st, bones, _ = synth.make_study(synth.Foot(), seed=6)
    with pytest.raises(DetectionError, match="outside the project"):
        detect_edema(t1, st, bones=bones.with_array(bones.array * 20),
                     refine_alignment=False)


def test_seed_outside_field_of_view_is_refused(synth, diffuse_talus) -> None:
    t1, st, _bones, _truth, _ = diffuse_talus
    with pytest.raises(DetectionError, match="outside the T1 field of view"):
        detect_edema(t1, st, seeds={Bone.TALUS: [(500.0, 0.0, 0.0)]}, refine_alignment=False)


def test_coverage_reported_when_stir_covers_less(synth) -> None:
    foot = synth.Foot(edema={int(Bone.TALUS): ((0.0, -5.0, 15.0), 8.0)})
    # STIR shifted up and short: the calcaneus is partly out, the tibia is in
    t1, st, bones, _ = synth.make_study(foot, st_shape=(84, 36, 20), st_centre=(1, -4, 30),
                                       seed=7)
    res = detect_edema(t1, st, bones=bones, refine_alignment=False)
    notes = " ".join(res.coverage_notes)
    assert "outside the STIR field of view" in notes
    assert "calcaneus" in notes
    calc = res.finding(Bone.CALCANEUS)
    assert calc is not None and calc.confidence < 0.5
    assert Bone.TALUS in res.positive_bones


def test_axial_stir_into_sagittal_t1(synth) -> None:
    foot = synth.Foot(edema={int(Bone.CALCANEUS): ((2.0, -36.0, 0.0), 8.0)})
    t1, st, bones, _truth = synth.make_study(foot, st_plane="axial", st_shape=(60, 110, 26),
                                            st_voxel=(1.0, 1.0, 3.5), seed=8)
    res = detect_edema(t1, st, bones=bones, refine_alignment=False)
    assert res.positive_bones == [Bone.CALCANEUS]


def test_findings_from_masks_after_edit(diffuse_talus) -> None:
    t1, _, _bones, _, res = diffuse_talus
    ed = res.edema.array.copy()
    ed[ed == int(Bone.TALUS)] = 0  # reader rejects the talus voxels
    again = findings_from_masks(res.bones, res.edema.with_array(ed), t1, res.fluid_aligned)
    talus = next(f for f in again if f.bone == Bone.TALUS)
    assert talus.grade == 0 and talus.edema_volume_ml == 0
    same = findings_from_masks(res.bones, res.edema, t1, res.fluid_aligned)
    assert [f.grade for f in same] == [f.grade for f in res.findings]


def test_thresholds_are_configurable(diffuse_talus) -> None:
    t1, st, bones, _, _ = diffuse_talus
    strict = DetectionConfig(fluid_ratio_min=20.0)
    res = detect_edema(t1, st, bones=bones, config=strict, refine_alignment=False)
    assert res.positive_bones == []
