"""Automatic bone masks fit the foot in front of them and say when not to trust them
(issue 12, builds 1 and 3)."""

from __future__ import annotations

import numpy as np
import pytest

from bmes_imaging.bones import TARSAL_BONES, Bone
from bmes_imaging.detection import INVOLVEMENT_COLUMNS, automatic_bones, detect_edema
from bmes_imaging.detection._atlas import bone_mask_quality
from bmes_imaging.detection._study import involvement_rows
from bmes_imaging.phantom import PhantomSpec, generate_study

pytestmark = pytest.mark.slow  # automatic bone masks on several phantom feet


def _dice(truth: np.ndarray, pred: np.ndarray, b: int) -> float:
    t, p = truth == b, pred == b
    return float(2 * (t & p).sum() / max(t.sum() + p.sum(), 1))


@pytest.fixture(scope="module")
def flexed_large_left() -> tuple[object, object]:
    """A large left foot in 30 degrees of plantar flexion, strongly deformed, with
    diffuse edema (dark marrow on T1) in the talus and calcaneus."""
    spec = PhantomSpec(seed=31, side="L", resolution=2.0, flexion_deg=30.0, size=1.2,
                       deformation=2.0, edema_bones=("talus", "calcaneus"),
                       edema_extent="diffuse")
    study = generate_study(spec)
    return study, detect_edema(study.t1, study.stir)


def test_masks_follow_a_flexed_large_deformed_foot(flexed_large_left) -> None:
    study, res = flexed_large_left
    truth, pred = study.bones.array, res.bones.array
    tarsal = [_dice(truth, pred, int(b)) for b in TARSAL_BONES if (truth == int(b)).any()]
    assert min(tarsal) > 0.7 and float(np.median(tarsal)) > 0.85, tarsal
    # edematous (dark) marrow is still bone
    for b in (Bone.TALUS, Bone.CALCANEUS):
        assert _dice(truth, pred, int(b)) > 0.85, b
    # the leg was fitted on its own: the tibia follows although the foot turned
    assert _dice(truth, pred, int(Bone.TIBIA)) > 0.75  # global affine alone: about 0.5


def test_involvement_rows_carry_the_quality_and_confidence_respects_it(flexed_large_left
                                                                     ) -> None:
    _, res = flexed_large_left
    assert INVOLVEMENT_COLUMNS[-1] == "bone_mask_quality"
    quality = res.bones.info.extra["bone_mask_quality"]
    rows = involvement_rows(res)
    assert rows and all(list(r) == list(INVOLVEMENT_COLUMNS) for r in rows)
    for f, r in zip(res.findings, rows, strict=True):
        assert 0.0 <= f.bone_mask_quality <= 1.0
        assert f.bone_mask_quality == quality[int(f.bone)]
        assert f.confidence <= f.bone_mask_quality + 1e-9
        assert float(r["bone_mask_quality"]) == pytest.approx(f.bone_mask_quality, abs=1e-3)


def test_quality_drops_when_the_masks_sit_beside_the_bones() -> None:
    study = generate_study(PhantomSpec(seed=32, resolution=2.0, normal=True))
    truth = study.bones.array
    good = bone_mask_quality(study.t1, truth)
    shift = np.round(6.0 / study.t1.voxel_sizes[:2]).astype(int)
    moved = np.roll(truth, (int(shift[0]), int(shift[1])), axis=(0, 1))
    bad = bone_mask_quality(study.t1, moved)
    tarsals = [int(b) for b in TARSAL_BONES if int(b) in good and int(b) in bad]
    assert len(tarsals) >= 5
    assert np.median([good[b] for b in tarsals]) > 0.7
    assert all(bad[b] < good[b] for b in tarsals), (good, bad)
    assert np.median([bad[b] for b in tarsals]) < 0.5


def test_imported_masks_have_no_quality_and_keep_their_confidence() -> None:
    study = generate_study(PhantomSpec(seed=33, resolution=4.0, snr=None))
    res = detect_edema(study.t1, study.stir, bones=study.bones)
    assert all(np.isnan(f.bone_mask_quality) for f in res.findings)
    assert all(r["bone_mask_quality"] == "" for r in involvement_rows(res))


def test_automatic_bones_keeps_its_signature_and_reports_the_match() -> None:
    study = generate_study(PhantomSpec(seed=34, resolution=2.0, snr=None))
    bones = automatic_bones(study.t1, None)
    assert bones.shape == study.t1.shape and bones.array.dtype == np.uint8
    assert bones.info.extra["atlas_match"] > 1.0
    assert set(bones.info.extra["bone_mask_quality"]) <= set(np.unique(bones.array)) - {0}
