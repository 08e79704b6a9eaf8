"""The tuning split's corner cases, and the evaluation split left exactly as it was.

The evaluation cohort must never change while the detector is tuned (issue 11: tune on
tune, report on eval): its 40 specs are compared with a digest computed from the code
before the tuning split got its corner cases.
"""

from __future__ import annotations

from bmes_imaging.phantom import cohort_specs
from bmes_imaging.phantom._distribution import (
    EVAL_CORNERS,
    SEED_BASE,
    TUNE_CORNER_INDEX,
    TUNE_CORNERS,
    cohort_digest,
    tune_corner_specs,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("eval", n=40)``,
#: computed from the code of commit 4c257db, before the tuning corner cases existed.
EVAL_40_DIGEST = "76e5a8359c46c35dbaf3b37040fa14c2a8d74e8a45d834804254af8d469ddb10"


def test_eval_split_is_unchanged() -> None:
    assert cohort_digest(cohort_specs("eval", n=40)) == EVAL_40_DIGEST


def test_tune_corners_use_tuning_seeds_only() -> None:
    corners = tune_corner_specs()
    assert len(corners) == len(TUNE_CORNERS)
    eval_seeds = {s.seed for _, s in cohort_specs("eval", n=len(EVAL_CORNERS) + 40)}
    tune_seeds = {s.seed for _, s in cohort_specs("tune", n=60)}
    for name, spec in corners:
        assert spec.seed >= SEED_BASE["tune"] + TUNE_CORNER_INDEX, name
        assert spec.seed < SEED_BASE["eval"], name
        assert spec.seed not in eval_seeds and spec.seed not in tune_seeds, name
        assert spec.patient_id.startswith("T"), name


def test_tune_corners_cover_the_extremes() -> None:
    specs = [s for _, s in tune_corner_specs()]
    lesions = [s for s in specs if not s.normal]
    assert {s.edema_fluid_ratio for s in lesions} >= {1.8, 8.0}
    assert {s.edema_t1_ratio for s in lesions} >= {0.85, 0.35}
    assert {s.snr for s in specs} >= {8.0, 60.0}
    assert 5.0 in {s.slice_mm for s in specs}
    assert {s.pixel_mm for s in specs} >= {0.3, 0.9}
    assert {s.fluid_plane for s in specs} >= {"axial", "coronal"}
    assert any(s.coverage < 1.0 for s in specs)
    assert any(s.flexion_deg == 40.0 for s in specs)
    assert any(s.anatomy == "parametric" for s in specs)
    assert any(len(s.edema_bones) == 4 for s in lesions)
    thin = {"medial_cuneiform", "intermediate_cuneiform", "lateral_cuneiform",
            "second_metatarsal", "fourth_metatarsal"}
    small_thin = [s for s in lesions
                  if s.edema_extent == "subchondral" and set(s.edema_bones) <= thin]
    assert len(small_thin) >= 4
    assert any(s.normal and s.red_marrow and s.fat_suppression >= 0.4 for s in specs)
