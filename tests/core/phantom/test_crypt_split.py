"""The seventh split ``"crypt"``: its own seeds and corner cases, pinned before tuning.

The ``"vault"`` split was run once after the sixth tuning round and its misses were read
(small lesions of thin bones in 5 mm slices or with a coronal fluid series, low contrast;
five false bones in one study in 5 mm slices), so the seventh round is reported on a new
split. Its 64 specs are compared with a digest taken when it was written, before any
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
    CRYPT_CORNERS,
    VAULT_CORNERS,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("crypt")`` (64
#: studies), computed when the split was added, before the seventh round of tuning.
CRYPT_64_DIGEST = "c108cbaa47b08eb06947a328b5d72245d54549a4b4077d3b05c536d8c5d21feb"


def test_crypt_split_is_pinned() -> None:
    specs = cohort_specs("crypt")
    assert len(specs) == 64
    assert cohort_digest(specs) == CRYPT_64_DIGEST


def test_crypt_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("crypt")


def test_crypt_corners_cover_every_range_and_the_sixth_rounds_misses() -> None:
    specs = checked_corner_specs("crypt", CRYPT_CORNERS, VAULT_CORNERS)
    assert_spans_the_main_ranges(specs)
    lesions = [s for s in specs if not s.normal]
    small_thin = [s for s in lesions if s.edema_extent == "subchondral"
                  and set(s.edema_bones) <= THIN_BONES]
    thin_5mm = [s for s in small_thin if s.slice_mm >= 5.0]
    assert len(thin_5mm) >= 10
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in thin_5mm}
    # small, low-contrast lesions with the fluid series in another plane than the T1
    low_other_plane = [s for s in small_thin if s.fluid_plane != "sagittal"
                       and s.edema_fluid_ratio <= 2.0]
    assert len(low_other_plane) >= 3
    # normal feet in 5 mm slices with the fluid series coronal and axial
    normal_5mm = {s.fluid_plane for s in specs if s.normal and s.slice_mm >= 5.0}
    assert {"axial", "coronal"} <= normal_5mm
    assert sum(s.normal for s in specs) >= 8
    assert {"vhf", "parametric"} <= {s.anatomy for s in specs}
