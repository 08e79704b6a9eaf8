"""The fourth split ``"holdout"``: its own seeds and corner cases, pinned before tuning.

The ``"final"`` split was run once after the third tuning round and its misses were read
(small lesions of thin bones in thick slices), so the fourth round is reported on a new
split. Its 48 specs are compared with a digest taken when it was written, before any
tuning of that round, so that nothing tuned afterwards can move it.
"""

from __future__ import annotations

from bmes_test_splits import (
    THIN_BONES,
    assert_spans_the_main_ranges,
    assert_split_is_its_own,
    checked_corner_specs,
)

from bmes_imaging.phantom import cohort_specs
from bmes_imaging.phantom._distribution import (
    FINAL_CORNERS,
    HOLDOUT_CORNERS,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("holdout")`` (48
#: studies), computed when the split was added, before the fourth round of tuning.
HOLDOUT_48_DIGEST = "a00fa72577d68e7537ba3f4f9ecf1c08c69520ae06c40cd274845ecae9e87a4d"

def test_holdout_split_is_pinned() -> None:
    specs = cohort_specs("holdout")
    assert len(specs) == 48
    assert cohort_digest(specs) == HOLDOUT_48_DIGEST


def test_holdout_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("holdout")


def test_holdout_corners_cover_every_range_and_thin_bone_lesions() -> None:
    specs = checked_corner_specs("holdout", HOLDOUT_CORNERS, FINAL_CORNERS)
    assert_spans_the_main_ranges(specs)
    lesions = [s for s in specs if not s.normal]
    thin_small = [s for s in lesions if s.slice_mm >= 4.0 and s.edema_extent == "subchondral"
                  and set(s.edema_bones) <= THIN_BONES]
    assert len(thin_small) >= 2
    assert sum(s.normal for s in specs) >= 6
