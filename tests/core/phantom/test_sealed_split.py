"""The fifth split ``"sealed"``: its own seeds and corner cases, pinned before tuning.

The ``"holdout"`` split was run once after the fourth tuning round and its misses were
read (a fifth metatarsal in 5 mm slices, an intermediate cuneiform under partial
coverage), so the fifth round is reported on a new split. Its 64 specs are compared with
a digest taken when it was written, before any tuning of that round, so that nothing
tuned afterwards can move it.
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
    HOLDOUT_CORNERS,
    SEALED_CORNERS,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("sealed")`` (64
#: studies), computed when the split was added, before the fifth round of tuning.
SEALED_64_DIGEST = "132cd850f48357ddb2f1d9f662450aa79e2ab00b724d6276b0fda7972e42fe78"

def test_sealed_split_is_pinned() -> None:
    specs = cohort_specs("sealed")
    assert len(specs) == 64
    assert cohort_digest(specs) == SEALED_64_DIGEST


def test_sealed_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("sealed")


def test_sealed_corners_cover_every_range_and_the_fourth_rounds_misses() -> None:
    specs = checked_corner_specs("sealed", SEALED_CORNERS, HOLDOUT_CORNERS)
    assert_spans_the_main_ranges(specs)
    lesions = [s for s in specs if not s.normal]
    thick_thin = [s for s in lesions if s.slice_mm >= 4.0 and set(s.edema_bones) <= THIN_BONES]
    assert len(thick_thin) >= 6
    partial_midfoot = [s for s in lesions if s.coverage < 1.0
                       and set(s.edema_bones) & {"intermediate_cuneiform", "cuboid"}]
    assert len(partial_midfoot) >= 2
    assert sum(s.normal for s in specs) >= 8
    assert {"vhf", "parametric"} <= {s.anatomy for s in specs}
