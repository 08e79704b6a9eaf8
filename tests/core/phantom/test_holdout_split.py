"""The fourth split ``"holdout"``: its own seeds and corner cases, pinned before tuning.

The ``"final"`` split was run once after the third tuning round and its misses were read
(small lesions of thin bones in thick slices), so the fourth round is reported on a new
split. Its 48 specs are compared with a digest taken when it was written, before any
tuning of that round, so that nothing tuned afterwards can move it.
"""

from __future__ import annotations

from bmes_test_splits import assert_split_is_its_own

from bmes_imaging.phantom import cohort_specs
from bmes_imaging.phantom._distribution import (
    FINAL_CORNERS,
    HOLDOUT_CORNERS,
    RANGES,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("holdout")`` (48
#: studies), computed when the split was added, before the fourth round of tuning.
HOLDOUT_48_DIGEST = "a00fa72577d68e7537ba3f4f9ecf1c08c69520ae06c40cd274845ecae9e87a4d"

_THIN = {"medial_cuneiform", "intermediate_cuneiform", "lateral_cuneiform", "cuboid",
         "first_metatarsal", "second_metatarsal", "third_metatarsal", "fourth_metatarsal",
         "fifth_metatarsal"}


def test_holdout_split_is_pinned() -> None:
    specs = cohort_specs("holdout")
    assert len(specs) == 48
    assert cohort_digest(specs) == HOLDOUT_48_DIGEST


def test_holdout_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("holdout")


def test_holdout_corners_cover_every_range_and_thin_bone_lesions() -> None:
    pairs = cohort_specs("holdout")
    names = [n for n, _ in pairs]
    assert HOLDOUT_CORNERS[: len(FINAL_CORNERS)] == FINAL_CORNERS
    for k, (corner, _) in enumerate(HOLDOUT_CORNERS):
        assert names[k] == f"holdout{k:03d}_{corner}"
    specs = [s for _, s in pairs]
    lesions = [s for s in specs if not s.normal]
    assert set(RANGES["edema_fluid_ratio"]) <= {s.edema_fluid_ratio for s in lesions}
    assert set(RANGES["slice_mm"]) <= {s.slice_mm for s in specs}
    assert set(RANGES["size"]) <= {s.size for s in specs}
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in specs}
    thin_small = [s for s in lesions if s.slice_mm >= 4.0 and s.edema_extent == "subchondral"
                  and set(s.edema_bones) <= _THIN]
    assert len(thin_small) >= 2
    assert sum(s.normal for s in specs) >= 6
