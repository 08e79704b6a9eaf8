"""Checks shared by the tests of the phantom's clean evaluation splits.

Each split added before a tuning round (``final``, ``holdout``, ``sealed``, ``vault``) must
share no study with the splits before it, begin with the corner cases of the split before
it and span the main ranges; this is the one place that says how that is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bmes_imaging.phantom import PhantomSpec, cohort_specs, draw_spec
from bmes_imaging.phantom._distribution import RANGES, SEED_BASE, SPLITS, tune_corner_specs


def assert_split_is_its_own(split: str) -> None:
    """``split`` shares no study seed with any earlier split (nor the tuning corners),
    keeps its seeds in its own range and its own PatientID letter, and draws other
    values than the split before it at the same index (its own random stream)."""
    assert split in SPLITS
    earlier = SPLITS[: SPLITS.index(split)]
    mine = cohort_specs(split, n=200)
    others = [pair for name in earlier for pair in cohort_specs(name, n=200)]
    others += tune_corner_specs()
    seeds = {s.seed for _, s in mine}
    assert seeds.isdisjoint({s.seed for _, s in others})
    assert all(SEED_BASE[split] <= s <= SEED_BASE[split] + 9_999_999 for s in seeds)
    assert all(str(s.patient_id).startswith(split[0].upper()) for _, s in mine)
    a, b = draw_spec(5, split), draw_spec(5, earlier[-1])
    assert (a.edema_fluid_ratio, a.snr, a.size) != (b.edema_fluid_ratio, b.snr, b.size)


#: The thin bones (cuneiforms, cuboid, metatarsals) whose small lesions the later splits'
#: corner cases put in thick slices.
THIN_BONES = frozenset({
    "medial_cuneiform", "intermediate_cuneiform", "lateral_cuneiform", "cuboid",
    "first_metatarsal", "second_metatarsal", "third_metatarsal", "fourth_metatarsal",
    "fifth_metatarsal"})


def checked_corner_specs(split: str, corners: Sequence[tuple[str, Any]],
                         earlier: Sequence[tuple[str, Any]] = ()) -> list[PhantomSpec]:
    """The specs of ``split`` after checking that its corner cases begin with the
    ``earlier`` split's and name its first folders (``<split><k:03d>_<corner>``)."""
    pairs = cohort_specs(split)
    assert tuple(corners[: len(earlier)]) == tuple(earlier)
    names = [n for n, _ in pairs]
    for k, (corner, _) in enumerate(corners):
        assert names[k] == f"{split}{k:03d}_{corner}"
    return [s for _, s in pairs]


def assert_spans_the_main_ranges(specs: Sequence[PhantomSpec]) -> None:
    """Both ends of the fluid contrast (among lesions), slice thickness and foot size,
    and the fluid series in all three planes, are in ``specs``."""
    lesions = [s for s in specs if not s.normal]
    assert set(RANGES["edema_fluid_ratio"]) <= {s.edema_fluid_ratio for s in lesions}
    assert set(RANGES["slice_mm"]) <= {s.slice_mm for s in specs}
    assert set(RANGES["size"]) <= {s.size for s in specs}
    assert {"sagittal", "axial", "coronal"} <= {s.fluid_plane for s in specs}
