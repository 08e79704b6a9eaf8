"""A baseline / follow-up pair of phantom studies: registered onto the phantom's truth."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from bmes_imaging.bones import Bone, bone_from_name
from bmes_imaging.followup import (
    FollowUpPair,
    FollowUpPairError,
    StudyFindings,
    build_timelines,
    open_follow_up_pair,
    pair_of_timeline,
)
from bmes_imaging.geometry import apply_affine, world_to_voxel
from bmes_imaging.phantom import FollowUp, PhantomSpec, write_study
from bmes_imaging.volume import load_nifti

FU = FollowUp(months=18, keep=(("talus", 0.3),), new_bones=("navicular",),
              rotation_deg=5.0, shift_mm=7.0)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pair")
    spec = PhantomSpec(resolution=4.0)
    write_study(spec, root / "base")
    write_study(spec, root / "fu", follow_up=FU)
    return root / "base", root / "fu"


@pytest.fixture(scope="module")
def pair(studies: tuple[Path, Path]) -> FollowUpPair:
    return open_follow_up_pair(*studies)


def _centre(labels_path: Path, bone: Bone) -> np.ndarray:
    lab = load_nifti(labels_path)
    c = ndimage.center_of_mass(np.asarray(lab.array) == int(bone))
    return apply_affine(lab.affine, [c])[0]


def _truth_ml(folder: Path) -> dict[Bone, float]:
    with (folder / "truth" / "involvement.csv").open(newline="") as fh:
        return {bone_from_name(r["bone"]): float(r["edema_volume_ml"])
                for r in csv.DictReader(fh)}


def test_registration_matches_the_repositioning(studies: tuple[Path, Path],
                                                 pair: FollowUpPair) -> None:
    _, fu = studies
    assert pair.registration.rms_mm < 1.0
    assert abs(pair.registration.rotation_deg - FU.rotation_deg) < 1.5
    # truth: the phantom moved the foot by `repositioning` (baseline -> follow-up world)
    moved = np.array(json.loads((fu / "truth" / "phantom.json").read_text())
                     ["details"]["repositioning"])
    fb = pair.follow_up.bones
    assert fb is not None
    pts = apply_affine(fb.affine, np.argwhere(np.asarray(fb.array) > 0)[::20])
    err = np.linalg.norm(apply_affine(pair.registration.matrix, pts)
                         - apply_affine(np.linalg.inv(moved), pts), axis=1)
    assert np.median(err) < 1.0
    # the follow-up's affines are its own composed with the registration
    np.testing.assert_allclose(pair.follow_up.affines["t1"],
                               pair.registration.matrix @ pair.follow_up.t1.affine)
    np.testing.assert_allclose(pair.baseline.affines["t1"], pair.baseline.t1.affine)


@pytest.mark.parametrize("bone", [Bone.TALUS, Bone.CALCANEUS, Bone.NAVICULAR])
def test_a_bone_centre_maps_onto_the_same_bone_centre(studies: tuple[Path, Path],
                                                      pair: FollowUpPair, bone: Bone) -> None:
    base, fu = studies
    c0 = _centre(base / "truth" / "bones.nii.gz", bone)
    c1 = _centre(fu / "truth" / "bones.nii.gz", bone)
    # without the registration the centres lie apart (the foot was repositioned)
    assert np.linalg.norm(c1 - c0) > 3.0
    assert np.linalg.norm(apply_affine(pair.registration.matrix, [c1])[0] - c0) < 1.5
    # resampled onto the baseline grid, the follow-up holds that bone at the centre
    on_base = pair.follow_up_on_baseline_grid()
    assert on_base.bones is not None
    ijk = np.rint(world_to_voxel(pair.baseline.t1.affine, [c0])[0]).astype(int)
    assert on_base.bones.array[tuple(ijk)] == int(bone)
    np.testing.assert_allclose(on_base.t1.affine, pair.baseline.t1.affine)


def test_volumes_and_course_equal_the_truth(studies: tuple[Path, Path],
                                             pair: FollowUpPair) -> None:
    base, fu = studies
    v0, v1 = _truth_ml(base), _truth_ml(fu)
    assert pair.days == FU.days
    for bone in v0:
        a, b = pair.change_of(bone, 0), pair.change_of(bone, 1)
        assert a is not None and b is not None
        assert a.edema_ml == pytest.approx(v0[bone], abs=0.02), bone
        assert b.edema_ml == pytest.approx(v1[bone], abs=0.02), bone
        assert b.change_since_baseline_ml == pytest.approx(v1[bone] - v0[bone], abs=0.03)
    assert pair.change_of(Bone.TALUS, 1).course == "improving"  # type: ignore[union-attr]
    assert pair.change_of(Bone.NAVICULAR, 1).course == "new"  # type: ignore[union-attr]
    text = pair.caption(1)
    assert pair.follow_up.date_text in text and "Talus" in text and "new" in text
    assert pair.baseline.date_text in pair.caption(0)


def test_a_study_without_bone_maps_is_refused(studies: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    base, fu = studies
    bare = tmp_path / "fu"
    shutil.copytree(fu / "dicom", bare / "dicom")
    with pytest.raises(FollowUpPairError, match="no bone label map"):
        open_follow_up_pair(base, bare)


def test_a_pair_from_a_timeline(studies: tuple[Path, Path], pair: FollowUpPair) -> None:
    base, fu = studies
    points = [StudyFindings("", "R", tp.study_instance_uid, tp.date, "candidate", "detector")
              for tp in (pair.follow_up, pair.baseline)]
    timeline = build_timelines(points)[0]
    again = pair_of_timeline(timeline, {pair.baseline.study_instance_uid: base,
                                        pair.follow_up.study_instance_uid: fu})
    np.testing.assert_allclose(again.registration.matrix, pair.registration.matrix)
    assert again.baseline.date == pair.baseline.date
    with pytest.raises(FollowUpPairError, match="no study folder"):
        pair_of_timeline(timeline, {pair.baseline.study_instance_uid: base})
