"""The ninth split ``"ledger"``: its own seeds and corner cases, pinned before tuning.

The ``"reserve"`` split was run once after the eighth tuning round and its misses were
read (with true bones given: a strong fourth metatarsal lesion at SNR 60, lesions of the
third and fourth metatarsal in 5 mm slices with an axial or coronal fluid series, the
no-bias / no-residual-fat intermediate cuneiform again; false intermediate cuneiforms in
5 mm slices and in a normal foot in plantar flexion), so the ninth round is reported on a
new split, written before any of its tuning. Its 80 specs are compared with a digest
taken when it was written, so that nothing tuned afterwards can move it.
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
    LEDGER_CORNERS,
    RESERVE_CORNERS,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("ledger")`` (80
#: studies), computed when the split was added, before the ninth round of tuning.
LEDGER_80_DIGEST = "6017fb96437a407753900512df6cdca03173ae0c96ef933f3b0e929e5abead42"


def test_ledger_split_is_pinned() -> None:
    specs = cohort_specs("ledger")
    assert len(specs) == 80
    assert cohort_digest(specs) == LEDGER_80_DIGEST


def test_ledger_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("ledger")


def test_ledger_corners_cover_every_range_and_the_eighth_rounds_misses() -> None:
    specs = checked_corner_specs("ledger", LEDGER_CORNERS, RESERVE_CORNERS)
    assert_spans_the_main_ranges(specs)
    lesions = [s for s in specs if not s.normal]
    # strong lesions just above the border in thin bones, 5 mm slices, fluid series in
    # another plane than the T1 (both other planes)
    strong_5mm = [s for s in lesions if s.slice_mm >= 5.0 and set(s.edema_bones) <= THIN_BONES
                  and (s.edema_fluid_ratio or 0) >= 2.0 and (s.edema_t1_ratio or 1) <= 0.8]
    assert {"axial", "coronal"} <= {s.fluid_plane for s in strong_5mm}
    # a thin-bone lesion at SNR 60 and 3 T; no bias and no residual fat in two bones
    assert any(s.snr == 60.0 and s.field_strength == 3.0 and set(s.edema_bones) <= THIN_BONES
               for s in lesions)
    no_fat = [s for s in lesions if s.bias == 0.0 and s.fat_suppression == 0.0]
    assert len({b for s in no_fat for b in s.edema_bones}) >= 2
    # normal feet in 5 mm slices, flexed and of the parametric family
    normals = [s for s in specs if s.normal]
    assert any(s.slice_mm == 5.0 and s.flexion_deg == 40.0 for s in normals)
    assert any(s.slice_mm == 5.0 and s.anatomy == "parametric" for s in normals)
    assert len(normals) >= 12
    # drawn studies after the corners, not only corner cases
    assert len(specs) - len(LEDGER_CORNERS) >= 12
    assert {"vhf", "parametric"} <= {s.anatomy for s in specs}
