"""A finding's bone mask quality survives the store (schema 0004), on SQLite and
PostgreSQL: a known value exactly, an unknown one as NaN; out-of-range values refused.
(Stores of an older schema: ``test_migrations_up_down.py``.)"""

from __future__ import annotations

import dataclasses
import math

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.errors import StoreError
from bmes_imaging.findings import Finding, FindingStatus
from bmes_imaging.store import Store

STUDY = "1.2.826.0.1.3680043.10.999.8"


def test_known_quality_survives_exactly_and_unknown_stays_nan(store: Store) -> None:
    known = Finding(Bone.NAVICULAR, bone_volume_ml=12.5, edema_volume_ml=3.25, fraction=0.26,
                    grade=2, confidence=0.4, bone_mask_quality=0.42)
    unknown = Finding(Bone.TALUS, grade=1, status=FindingStatus.CONFIRMED)  # e.g. an imported mask
    odd = Finding(Bone.CUBOID, grade=0, bone_mask_quality=0.1 + 0.2)  # not a short decimal
    saved = store.save_findings(STUDY, [known, unknown, odd], "detector")
    for back in (store.latest_findings(STUDY), store.load_annotation(saved.annotation_id)
                 .findings):
        by_bone = {f.bone: f for f in back}
        assert by_bone[Bone.NAVICULAR].bone_mask_quality == 0.42  # exact, not approx
        assert by_bone[Bone.CUBOID].bone_mask_quality == 0.1 + 0.2
        assert math.isnan(by_bone[Bone.TALUS].bone_mask_quality)
        assert by_bone[Bone.NAVICULAR] == dataclasses.replace(known, source="detector")
    with store.engine.connect() as conn:  # unknown is SQL NULL, not a NaN float
        stored: dict[int, float | None] = dict(conn.exec_driver_sql(  # type: ignore[arg-type]
            "SELECT bone, bone_mask_quality FROM finding").all())
    assert stored[int(Bone.TALUS)] is None and stored[int(Bone.NAVICULAR)] == 0.42


def test_the_audit_trail_records_the_quality_and_its_change(store: Store) -> None:
    store.save_findings(STUDY, [Finding(Bone.TALUS, grade=1, bone_mask_quality=0.42)],
                        "dr_a")
    store.save_findings(STUDY, [Finding(Bone.TALUS, grade=1, bone_mask_quality=0.9)],
                        "dr_a")
    events = [e for e in store.audit_events(STUDY) if e.bone == int(Bone.TALUS)]
    assert [e.action for e in events] == ["finding_added", "finding_changed"]
    assert events[0].after["bone_mask_quality"] == 0.42
    assert events[1].before["bone_mask_quality"] == 0.42
    assert events[1].after["bone_mask_quality"] == 0.9


@pytest.mark.parametrize("value", [1.5, -0.1, math.inf])
def test_a_quality_outside_0_to_1_is_refused(store: Store, value: float) -> None:
    with pytest.raises(StoreError, match=r"finding 1 \(talus\): bone_mask_quality must be"):
        store.save_findings(STUDY, [Finding(Bone.TALUS, bone_mask_quality=value)])
    assert store.annotations(STUDY) == []
