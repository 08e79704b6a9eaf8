"""Parametric evaluation anatomy and the articulated pose (flexion, deformation)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bmes_imaging.anatomy import (
    CARTILAGE,
    CORTEX_BIT,
    Atlas,
    FootPose,
    atlas,
    bone_label_of,
    draw_pose,
)
from bmes_imaging.bones import Bone
from bmes_imaging.errors import PhantomError
from bmes_imaging.phantom._parametric import parametric_atlas

# published adult ranges (ml) at size 1, generous enough for +-12 % proportions
_VOLUME_ML = {
    Bone.TALUS: (25.0, 50.0), Bone.CALCANEUS: (50.0, 100.0), Bone.NAVICULAR: (5.0, 16.0),
    Bone.CUBOID: (7.0, 22.0), Bone.MEDIAL_CUNEIFORM: (5.0, 16.0),
    Bone.INTERMEDIATE_CUNEIFORM: (1.5, 7.0), Bone.LATERAL_CUNEIFORM: (2.5, 10.0),
    Bone.FIRST_METATARSAL: (8.0, 24.0), Bone.SECOND_METATARSAL: (4.0, 13.0),
    Bone.THIRD_METATARSAL: (3.5, 12.0), Bone.FOURTH_METATARSAL: (3.0, 11.0),
    Bone.FIFTH_METATARSAL: (3.0, 12.0),
}
SEEDS = (1, 2)


def _volumes(seed: int) -> dict[Bone, float]:
    a = parametric_atlas(seed)
    labels = bone_label_of(a.codes)
    counts = np.bincount(labels.reshape(-1), minlength=16)
    scale = a.meta["parameters"]["scale"]
    ml = a.pitch ** 3 / 1000.0 / scale ** 3  # back to size 1
    return {b: float(counts[int(b)] * ml) for b in Bone}


@pytest.mark.parametrize("seed", SEEDS)
def test_parametric_bones_have_published_volumes(seed: int) -> None:
    vols = _volumes(seed)
    for b in Bone:
        assert vols[b] > 0.5, f"{b.bone_name} missing from parametric foot {seed}"
    for b, (lo, hi) in _VOLUME_ML.items():
        assert lo <= vols[b] <= hi, f"seed {seed}: {b.bone_name} {vols[b]:.1f} ml"


@pytest.mark.parametrize("seed", SEEDS)
def test_bones_are_separated_by_joint_spaces(seed: int) -> None:
    labels = bone_label_of(parametric_atlas(seed).codes)
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1], a[1:]
        touching = (lo > 0) & (hi > 0) & (lo != hi)
        assert not touching.any(), f"two bones share a face along axis {axis}"
    codes = parametric_atlas(seed).codes
    assert (codes == CARTILAGE).sum() > 10_000  # joint spaces exist
    for b in (Bone.TALUS, Bone.NAVICULAR, Bone.FIRST_METATARSAL):
        bone = bone_label_of(codes) == int(b)
        cortex = codes == (int(b) | CORTEX_BIT)
        assert 0.05 < cortex.sum() / bone.sum() < 0.5, f"{b.bone_name} cortex share"


def test_same_codes_and_meta_as_the_committed_atlas() -> None:
    vhf, par = atlas(), parametric_atlas(SEEDS[0])
    assert par.pitch == vhf.pitch
    assert set(vhf.meta) <= set(par.meta)
    assert set(par.meta["landmarks"]) == set(vhf.meta["landmarks"])
    assert set(np.unique(par.codes).tolist()) <= set(np.unique(vhf.codes).tolist())
    # the frame: talus around the origin, forefoot anterior, heel posterior and low
    marks = par.meta["landmarks"]
    assert marks["first_metatarsal_head"][1] > marks["talus_head"][1] > 0
    assert marks["calcaneus_posterior"][1] < -40 and marks["heel_bottom"][2] < -45
    assert marks["lateral_malleolus_tip"][0] > 0 > marks["medial_malleolus_tip"][0]
    assert not par.codes.flags.writeable


def test_left_is_the_mirror_of_right() -> None:
    r, left = parametric_atlas(SEEDS[0], "R"), parametric_atlas(SEEDS[0], "l")
    assert np.array_equal(left.codes, r.codes[::-1])
    n = r.codes.shape[0]
    # voxel i of the left foot sits where voxel n-1-i of the right one sits, mirrored
    assert left.origin[0] + 7 * left.pitch == pytest.approx(
        -(r.origin[0] + (n - 1 - 7) * r.pitch))
    for name, p in r.meta["landmarks"].items():
        assert left.meta["landmarks"][name] == [-p[0], p[1], p[2]]
    with pytest.raises(PhantomError, match="side"):
        parametric_atlas(1, "X")


def test_seeds_vary_the_shapes_and_repeat_exactly() -> None:
    v1, v2 = _volumes(SEEDS[0]), _volumes(SEEDS[1])
    diffs = [abs(v1[b] / v2[b] - 1) for b in Bone]
    assert max(diffs) > 0.08, "two seeds gave nearly the same bones"
    a = parametric_atlas(SEEDS[0])
    assert parametric_atlas(SEEDS[0]) is a  # cached
    parametric_atlas.cache_clear()
    again = parametric_atlas(SEEDS[0])
    assert again is not a and np.array_equal(again.codes, a.codes)


def _codes(a: Atlas, ix: np.ndarray, iy: np.ndarray, iz: np.ndarray,
           inside: np.ndarray) -> np.ndarray:
    c = a.codes[ix, iy, iz].copy()
    c[~inside] = 0
    return c.reshape(400, 360)


def _plain_pose(flexion: float) -> FootPose:
    return FootPose(np.eye(4), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), flexion)


@pytest.mark.parametrize("which", ["vhf", "parametric"])
def test_flexion_turns_the_foot_and_not_the_leg(which: str) -> None:
    a = atlas() if which == "vhf" else parametric_atlas(SEEDS[0])
    pose = _plain_pose(30.0)
    leg = np.array([[0.0, 2.0, 60.0], [2.0, 0.0, 40.0]])
    assert np.allclose(pose.to_atlas_mm(leg, a), leg, atol=1e-3)
    assert np.allclose(pose.to_world(leg, a), leg, atol=1e-3)
    head = np.array([a.landmark("first_metatarsal_head")])
    world = pose.to_world(head, a)
    # plantar flexion: the forefoot goes down and back, about 30 degrees about the ankle
    assert world[0, 2] < head[0, 2] - 30.0
    r0, r1 = np.linalg.norm(head[0, 1:]), np.linalg.norm(world[0, 1:])
    assert r1 == pytest.approx(r0, rel=0.05)
    assert np.allclose(pose.to_atlas_mm(world, a), head, atol=0.5)
    # the image: a plane through the leg shows the same voxels, the foot's changes
    plane = (np.array([0.0, -60.0, 90.0]), np.array([0.0, 0.5, 0.0]),
             np.array([0.0, 0.0, -0.5]), 400, 360)
    flat = _codes(a, *_plain_pose(0.0).plane_voxels(a, *plane))
    bent = _codes(a, *pose.plane_voxels(a, *plane))
    assert np.array_equal(flat[:, :80], bent[:, :80])  # z above +50 mm: the leg
    low = (slice(None), slice(260, None))  # z below -40 mm: the foot
    assert np.mean(flat[low] != bent[low]) > 0.2
    tibia = int(Bone.TIBIA)
    assert (bone_label_of(bent[:, :80]) == tibia).sum() > 1000


def test_defaults_leave_the_pose_unchanged() -> None:
    def draw(**kw: object) -> tuple[FootPose, float]:
        rng = np.random.default_rng(17)
        pose = draw_pose(rng, "L", 1.02, **kw)  # type: ignore[arg-type]
        return pose, float(rng.uniform())  # what the study draws next

    base, nxt = draw()
    for kw in ({"flexion_deg": 0.0, "deformation": None, "rotation_deg": 4.0,
                "placement_mm": 0.0}, {"deformation": 0.0}):
        other, nxt2 = draw(**kw)
        assert nxt2 == nxt
        for f in dataclasses.fields(FootPose):
            assert np.array_equal(getattr(base, f.name), getattr(other, f.name)), f.name
    assert base.flexion_deg == 0.0 and not base.fov_offset.any()


def test_strong_deformation_is_larger_and_never_folds() -> None:
    base = draw_pose(np.random.default_rng(3), "R")
    strong = draw_pose(np.random.default_rng(3), "R", deformation=2.0, placement_mm=20.0)
    assert len(strong.phase) > len(base.phase)
    bound = np.sum(np.linalg.norm(strong.amp, axis=1) * np.linalg.norm(strong.wave, axis=1))
    assert bound <= 0.6 + 1e-9
    pts = np.random.default_rng(0).uniform(-60, 100, (2000, 3))
    shift = np.linalg.norm(strong.to_atlas_mm(pts) - base.to_atlas_mm(pts), axis=1)
    assert shift.max() > 2.0
    assert 0 < np.linalg.norm(strong.fov_offset) <= 20.0
    with pytest.raises(PhantomError, match="flexion"):
        draw_pose(np.random.default_rng(0), "R", flexion_deg=80.0)


def test_a_study_renders_from_the_parametric_anatomy() -> None:
    from bmes_imaging.phantom import PhantomSpec, generate_study

    if "anatomy" not in {f.name for f in dataclasses.fields(PhantomSpec)}:
        pytest.skip("PhantomSpec has no anatomy field yet")
    spec = PhantomSpec(seed=SEEDS[0], anatomy="parametric",  # type: ignore[call-arg]
                       edema_bones=("navicular",), resolution=3.0, snr=None)
    study = generate_study(spec)
    present = {row["bone"] for row in study.involvement}
    assert {"talus", "calcaneus", "navicular", "tibia"} <= present
    edema = [row["bone"] for row in study.involvement if row["edema_volume_ml"] > 0]
    assert edema == ["navicular"]

    def fibula_side(st: object) -> float:  # fibula x minus tibia x (world RAS, mm)
        bones = st.bones  # type: ignore[attr-defined]
        ijk = {b: np.argwhere(bones.array == int(b)).mean(0) for b in (Bone.FIBULA, Bone.TIBIA)}
        world = {b: bones.affine[:3, :3] @ v + bones.affine[:3, 3] for b, v in ijk.items()}
        return float(world[Bone.FIBULA][0] - world[Bone.TIBIA][0])

    left = generate_study(dataclasses.replace(spec, side="L"))
    assert fibula_side(study) > 5.0 > -5.0 > fibula_side(left)  # the fibula is lateral
