"""The sixth split ``"vault"``: its own seeds and corner cases, pinned before tuning.

The ``"sealed"`` split was run once after the fifth tuning round and its misses were read
(small lesions of an intermediate cuneiform, a fifth and a second metatarsal in 5 mm
slices), so the sixth round is reported on a new split. Its 64 specs are compared with a
digest taken when it was written, before any tuning of that round, so that nothing tuned
afterwards can move it.
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
    SEALED_CORNERS,
    VAULT_CORNERS,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("vault")`` (64
#: studies), computed when the split was added, before the sixth round of tuning.
VAULT_64_DIGEST = "3d707696aac677fac519264603748a0b9de94a3bb0e1ebe11b8057ed26884758"

def test_vault_split_is_pinned() -> None:
    specs = cohort_specs("vault")
    assert len(specs) == 64
    assert cohort_digest(specs) == VAULT_64_DIGEST


def test_vault_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("vault")


def test_vault_corners_cover_every_range_and_the_fifth_rounds_misses() -> None:
    specs = checked_corner_specs("vault", VAULT_CORNERS, SEALED_CORNERS)
    assert_spans_the_main_ranges(specs)
    lesions = [s for s in specs if not s.normal]
    thin_5mm = [s for s in lesions if s.slice_mm >= 5.0 and s.edema_extent == "subchondral"
                and set(s.edema_bones) <= THIN_BONES]
    assert len(thin_5mm) >= 6
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in thin_5mm}
    assert sum(s.normal for s in specs) >= 8
    assert {"vhf", "parametric"} <= {s.anatomy for s in specs}
