"""The sixth split ``"vault"``: its own seeds and corner cases, pinned before tuning.

The ``"sealed"`` split was run once after the fifth tuning round and its misses were read
(small lesions of an intermediate cuneiform, a fifth and a second metatarsal in 5 mm
slices), so the sixth round is reported on a new split. Its 64 specs are compared with a
digest taken when it was written, before any tuning of that round, so that nothing tuned
afterwards can move it.
"""

from __future__ import annotations

from bmes_test_splits import assert_split_is_its_own

from bmes_imaging.phantom import cohort_specs
from bmes_imaging.phantom._distribution import (
    RANGES,
    SEALED_CORNERS,
    VAULT_CORNERS,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("vault")`` (64
#: studies), computed when the split was added, before the sixth round of tuning.
VAULT_64_DIGEST = "3d707696aac677fac519264603748a0b9de94a3bb0e1ebe11b8057ed26884758"

_THIN = {"medial_cuneiform", "intermediate_cuneiform", "lateral_cuneiform", "cuboid",
         "first_metatarsal", "second_metatarsal", "third_metatarsal", "fourth_metatarsal",
         "fifth_metatarsal"}


def test_vault_split_is_pinned() -> None:
    specs = cohort_specs("vault")
    assert len(specs) == 64
    assert cohort_digest(specs) == VAULT_64_DIGEST


def test_vault_shares_no_study_with_the_other_splits() -> None:
    assert_split_is_its_own("vault")


def test_vault_corners_cover_every_range_and_the_fifth_rounds_misses() -> None:
    pairs = cohort_specs("vault")
    names = [n for n, _ in pairs]
    assert VAULT_CORNERS[: len(SEALED_CORNERS)] == SEALED_CORNERS
    for k, (corner, _) in enumerate(VAULT_CORNERS):
        assert names[k] == f"vault{k:03d}_{corner}"
    specs = [s for _, s in pairs]
    lesions = [s for s in specs if not s.normal]
    assert set(RANGES["edema_fluid_ratio"]) <= {s.edema_fluid_ratio for s in lesions}
    assert set(RANGES["slice_mm"]) <= {s.slice_mm for s in specs}
    assert set(RANGES["size"]) <= {s.size for s in specs}
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in specs}
    thin_5mm = [s for s in lesions if s.slice_mm >= 5.0 and s.edema_extent == "subchondral"
                and set(s.edema_bones) <= _THIN]
    assert len(thin_5mm) >= 6
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in thin_5mm}
    assert sum(s.normal for s in specs) >= 8
    assert {"vhf", "parametric"} <= {s.anatomy for s in specs}
