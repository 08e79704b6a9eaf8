"""Phantom follow-up studies: baselines unchanged, follow-up figures equal the truth's."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.bones import Bone, bone_from_name
from bmes_imaging.followup import (
    BoneMeasure,
    CourseThresholds,
    StudyFindings,
    bone_changes,
    build_timelines,
)
from bmes_imaging.followup._register import edema_overlap, register_follow_up
from bmes_imaging.geometry import apply_affine
from bmes_imaging.phantom import FollowUp, PhantomSpec, cohort_specs, follow_up_specs, write_study
from bmes_imaging.volume import load_nifti

#: sha256 over (relative path, bytes) of every file ``write_study`` writes at resolution
#: 4.0, taken with the code before follow-up existed (commit 2b8cf57): the default spec,
#: the three-bone foot p07_R and the migratory foot p03_R of the Table 1 cohort.
BASELINE_DIGESTS = {
    "default": "e9be9195cadf9cd5a6053e823ca78910489f1f765e7cddaf678c5235eadd968e",
    "p07_R": "1f1cf8c8f3a2e202fc9ac4ddf895fcbe5a78658751b743054f810e25b34b2dab",
    "p03_R": "1f9206a7e02decfe195b28af809ebecd3c2c73eca2ca763ccda4eabb03564f6b",
}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _spec(name: str) -> PhantomSpec:
    if name == "default":
        return PhantomSpec(resolution=4.0)
    return dataclasses.replace(dict(cohort_specs("table1"))[name], resolution=4.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BASELINE_DIGESTS))
def test_baseline_studies_are_byte_identical(tmp_path: Path, name: str) -> None:
    write_study(_spec(name), tmp_path / name)
    assert _digest(tmp_path / name) == BASELINE_DIGESTS[name]


def _truth(folder: Path, uid: str, date: dt.date) -> StudyFindings:
    with (folder / "truth" / "involvement.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    measures = tuple(BoneMeasure(bone_from_name(r["bone"]), float(r["edema_volume_ml"]),
                                 float(r["fraction"]), None, float(r["bone_volume_ml"]))
                     for r in rows)
    return StudyFindings("3", "R", uid, date, "truth", "phantom", measures)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, FollowUp]:
    root = tmp_path_factory.mktemp("fu")
    spec = _spec("p07_R")
    fu = FollowUp(months=18, keep=(("medial_cuneiform", 0.3), ("intermediate_cuneiform", 0.0)),
                  new_bones=("navicular",), rotation_deg=5.0, shift_mm=7.0)
    write_study(spec, root / "base")
    write_study(spec, root / "fu", follow_up=fu)
    return root / "base", root / "fu", fu


@pytest.mark.slow
def test_follow_up_figures_equal_the_truth(pair: tuple[Path, Path, FollowUp]) -> None:
    base, fu_dir, fu = pair
    mb = json.loads((base / "truth" / "phantom.json").read_text())
    mf = json.loads((fu_dir / "truth" / "phantom.json").read_text())
    assert mf["study_instance_uid"] != mb["study_instance_uid"]
    assert mf["follow_up"] == fu.to_dict() and "follow_up" not in mb
    d0, d1 = dt.date(2015, 1, 1), dt.date(2015, 1, 1) + dt.timedelta(days=fu.days)
    a, b = _truth(base, mb["study_instance_uid"], d0), _truth(fu_dir, mf["study_instance_uid"], d1)
    t = CourseThresholds()
    changes = {(c.index, c.bone): c for c in bone_changes(build_timelines([b, a])[0], t)}
    for bone in Bone:
        v0, v1 = a.measure(bone).edema_ml, b.measure(bone).edema_ml  # type: ignore[union-attr]
        c = changes[(1, bone)]
        assert c.edema_ml == pytest.approx(v1) and c.days == fu.days
        assert c.change_since_baseline_ml == pytest.approx(v1 - v0, abs=1e-4)
        assert c.change_since_previous_ml == pytest.approx(v1 - v0, abs=1e-4)
        step = max(t.min_change_ml, t.min_change_fraction * v0)
        expect = ("none" if v0 < 0.1 and v1 < 0.1 else "resolved" if v1 < 0.1
                  else "new" if v0 < 0.1 else "improving" if v1 - v0 <= -step
                  else "worse" if v1 - v0 >= step else "stable")
        assert c.course == expect, bone
    # what the follow-up was made to show
    assert changes[(1, Bone.INTERMEDIATE_CUNEIFORM)].course == "resolved"
    assert changes[(1, Bone.NAVICULAR)].course == "new"
    assert changes[(1, Bone.MEDIAL_CUNEIFORM)].course == "improving"
    v0 = a.measure(Bone.LATERAL_CUNEIFORM).edema_ml  # type: ignore[union-attr]
    v1 = b.measure(Bone.LATERAL_CUNEIFORM).edema_ml  # type: ignore[union-attr]
    assert 0.3 < v1 / v0 < 0.75  # default_keep 0.5 of the volume


@pytest.mark.slow
def test_registration_recovers_the_repositioning(pair: tuple[Path, Path, FollowUp]) -> None:
    base, fu_dir, _ = pair
    reg = register_follow_up(load_nifti(base / "truth" / "bones.nii.gz"),
                             load_nifti(fu_dir / "truth" / "bones.nii.gz"))
    moved = np.array(json.loads((fu_dir / "truth" / "phantom.json").read_text())
                     ["details"]["repositioning"])
    fb = load_nifti(fu_dir / "truth" / "bones.nii.gz")
    pts = apply_affine(fb.affine, np.argwhere(np.asarray(fb.array) > 0)[::20])
    err = np.linalg.norm(apply_affine(reg.matrix, pts)
                         - apply_affine(np.linalg.inv(moved), pts), axis=1)
    assert np.median(err) < 1.0 and err.max() < 2.5  # 4x coarse test grid (1.8 mm pixels)
    assert abs(reg.rotation_deg - 5.0) < 1.5
    over = edema_overlap(load_nifti(base / "truth" / "edema.nii.gz"),
                         load_nifti(fu_dir / "truth" / "edema.nii.gz"), reg)
    assert over[Bone.NAVICULAR].persisting_ml == 0 and over[Bone.NAVICULAR].new_ml > 0
    assert over[Bone.INTERMEDIATE_CUNEIFORM].persisting_ml == 0
    med = over[Bone.MEDIAL_CUNEIFORM]
    assert med.persisting_ml > 2 * med.new_ml  # shrunk towards its core: it stays put


def test_cohort_follow_up_specs() -> None:
    fus = follow_up_specs("table1")
    assert len(fus) == 18 and all(14 <= fu.months <= 22 for *_, fu in fus)
    mig = {f: fu for f, _, _, fu in fus}["p03_R_fu1"]
    assert mig.new_bones == ("navicular",) and mig.keep_of(Bone.TALUS) == 0.0
    # the baseline specs are those of the cohort, unchanged
    assert [s for _, _, s, _ in fus] == [s for _, s in cohort_specs("table1", controls=0)]
