"""Checks shared by the tests of the phantom's clean evaluation splits.

Each split added before a tuning round (``final``, ``holdout``, ``sealed``, ``vault``) must share
no study with the splits before it; this is the one place that says how that is checked.
"""

from __future__ import annotations

from bmes_imaging.phantom import cohort_specs, draw_spec
from bmes_imaging.phantom._distribution import SEED_BASE, SPLITS, tune_corner_specs


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
