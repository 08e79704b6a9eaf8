"""The clean evaluation split ``"final"``: its own seeds and corner cases, pinned.

Issue 11 asks that the defaults be reported on studies never used to choose anything.
The ``"eval"`` split was run more than once while tuning, so a third split was added
before the last tuning round; its 40 specs are compared with a digest taken when it was
written, so that nothing tuned afterwards can move it.
"""

from __future__ import annotations

import pytest
from bmes_test_splits import assert_split_is_its_own

from bmes_imaging.errors import PhantomError
from bmes_imaging.phantom import cohort_specs, draw_spec
from bmes_imaging.phantom._distribution import (
    FINAL_CORNERS,
    RANGES,
    cohort_digest,
)

#: sha256 over (folder name, ``spec.to_dict()``) of ``cohort_specs("final", n=40)``,
#: computed when the split was added, before any tuning of that round.
FINAL_40_DIGEST = "e0b35a8ed5ebf0f2e3604c25da3bf5daa56dfe911b8faec259fcfd1e08e010e7"


def test_final_split_is_pinned() -> None:
    specs = cohort_specs("final")
    assert len(specs) == 40
    assert cohort_digest(specs) == FINAL_40_DIGEST


def test_final_split_shares_no_study_with_tune_or_eval() -> None:
    assert_split_is_its_own("final")


def test_final_corners_cover_every_range_and_normal_studies() -> None:
    pairs = cohort_specs("final")
    names = [n for n, _ in pairs]
    for k, (corner, _) in enumerate(FINAL_CORNERS):
        assert names[k] == f"final{k:03d}_{corner}"
    specs = [s for _, s in pairs]
    lesions = [s for s in specs if not s.normal]
    fluid = {s.edema_fluid_ratio for s in lesions}
    t1 = {s.edema_t1_ratio for s in lesions}
    assert set(RANGES["edema_fluid_ratio"]) <= fluid
    assert {round(1 - d, 2) for d in RANGES["t1_drop"]} <= {round(v or 0.0, 2) for v in t1}
    assert set(RANGES["slice_mm"]) <= {s.slice_mm for s in specs}
    assert set(RANGES["pixel_mm"]) <= {s.pixel_mm for s in specs}
    assert set(RANGES["size"]) <= {s.size for s in specs}
    assert set(RANGES["flexion_deg"]) <= {s.flexion_deg for s in specs}
    assert {8.0, 60.0} <= {s.snr for s in specs}
    assert {0.0, 0.8} <= {s.bias for s in specs}
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in specs}
    assert {"stir", "t2_fs", "pd_fs"} <= {s.fluid for s in specs}
    assert {1.5, 3.0} <= {s.field_strength for s in specs}
    assert any(s.coverage < 1.0 for s in specs)
    assert any(s.anatomy == "parametric" and s.deformation == 2.0 for s in specs)
    assert any(s.rescale is not None for s in specs)
    assert any((s.fat_suppression or 0.0) >= 0.4 for s in lesions)
    assert any(len(s.edema_bones) == 4 for s in lesions)
    assert {"subchondral", "diffuse"} <= {s.edema_extent for s in lesions}
    normal = [s for s in specs if s.normal]
    assert len(normal) >= 4
    assert any(s.red_marrow and (s.fat_suppression or 0.0) >= 0.4 for s in normal)
    assert any(s.effusion and s.vessel and s.motion_mm > 0 for s in normal)


def test_unknown_split_is_refused() -> None:
    with pytest.raises(PhantomError, match="split"):
        draw_spec(0, "fifth")
