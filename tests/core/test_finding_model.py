"""One finding model: one frozen dataclass, one serialisation, one involved rule, read
back from every format written so far (store audit JSON, plugin recovery files)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.detection import BoneFinding
from bmes_imaging.errors import FindingError, StoreError
from bmes_imaging.findings import (
    Finding,
    FindingStatus,
    finding_from_dict,
    finding_to_dict,
    is_involved,
)
from bmes_imaging.store import StoredFinding, open_store


def _full() -> Finding:
    """A finding with every field set to something other than its default."""
    return Finding(Bone.NAVICULAR, bone_volume_ml=12.5, edema_volume_ml=3.25,
                   fraction=0.26, grade=2, t1_ratio=0.61, fluid_ratio=2.4, confidence=0.83,
                   status="confirmed", source="dr_a", primary=True, bone_mask_quality=0.9,
                   finding_id=17)


def test_detector_and_store_names_are_the_one_class() -> None:
    assert BoneFinding is Finding and StoredFinding is Finding


def test_every_field_survives_the_dict_and_json() -> None:
    f = _full()
    d = finding_to_dict(f)
    assert list(d) == [fl.name for fl in dataclasses.fields(Finding)]  # every field
    back = finding_from_dict(json.loads(json.dumps(d, allow_nan=False)))  # strict JSON
    for fl in dataclasses.fields(Finding):
        assert getattr(back, fl.name) == getattr(f, fl.name), fl.name
    assert back == f and back.finding_id == 17
    assert d["bone"] == "navicular" and d["status"] == "confirmed"


def test_unknown_numbers_are_nan_in_memory_and_null_in_json() -> None:
    f = Finding(Bone.TALUS, grade=1, t1_ratio=None)  # None given: read as NaN
    assert math.isnan(f.t1_ratio) and math.isnan(f.bone_mask_quality)
    d = finding_to_dict(f)
    assert d["t1_ratio"] is None and d["bone_volume_ml"] is None and d["grade"] == 1
    back = finding_from_dict(json.loads(json.dumps(d, allow_nan=False)))
    assert back == f and math.isnan(back.t1_ratio)
    assert Finding(Bone.TALUS) != Finding(Bone.TALUS, t1_ratio=0.5)


def test_old_plugin_recovery_dict_bone_as_number_loads() -> None:
    # what the review plugin's _findings_io.finding_to_dict wrote into recovery files:
    # bone as label number, NaN written by json.dumps as NaN, no finding_id
    old = ('{"bone": 3, "bone_volume_ml": 11.2, "edema_volume_ml": 0.0, "fraction": 0.0, '
           '"grade": 0, "t1_ratio": NaN, "fluid_ratio": 1.1, "confidence": 0.7, '
           '"status": "rejected", "source": "dr_b", "primary": false, '
           '"bone_mask_quality": NaN}')
    f = finding_from_dict(json.loads(old))
    assert f.bone is Bone(3) and f.status is FindingStatus.REJECTED and f.source == "dr_b"
    assert math.isnan(f.t1_ratio) and math.isnan(f.bone_mask_quality) and f.grade == 0
    assert f.finding_id is None and not f.involved


def test_old_store_audit_dict_bone_as_name_loads() -> None:
    # what the store's finding_to_dict wrote into the audit trail: bone by name, None
    # for unknown, no bone_mask_quality, no finding_id
    old = ('{"bone": "calcaneus", "bone_volume_ml": null, "edema_volume_ml": 4.0, '
           '"fraction": null, "grade": null, "t1_ratio": null, "fluid_ratio": null, '
           '"confidence": null, "status": "confirmed", "source": "dr_a", "primary": true}')
    f = finding_from_dict(json.loads(old))
    assert f.bone is Bone.CALCANEUS and f.grade is None and f.primary
    assert math.isnan(f.fraction) and f.edema_volume_ml == 4.0 and f.involved


def test_a_finding_is_frozen() -> None:
    f = _full()
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.status = "rejected"  # type: ignore[misc]
    changed = dataclasses.replace(f, status="rejected")
    assert f.status == "confirmed" and changed.status is FindingStatus.REJECTED
    assert hash(f) == hash(dataclasses.replace(f, finding_id=None))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"bone": 99}, "not a bone label"), ({"bone": "talsu"}, "unknown bone"),
    ({"bone": None}, "Finding.bone"), ({"bone": 1, "grade": 4}, "grade must be 0-3"),
    ({"bone": 1, "grade": 1.5}, "grade"), ({"bone": 1, "grade": True}, "grade"),
    ({"bone": 1, "status": "maybe"}, "status must be one of"),
    ({"bone": 1, "fraction": "lots"}, "fraction must be a number")])
def test_invalid_findings_are_refused_with_the_field(kwargs: dict[str, object],
                                                     match: str) -> None:
    with pytest.raises(FindingError, match=match):
        Finding(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(FindingError):
        dataclasses.replace(Finding(Bone.TALUS), **{k: v for k, v in kwargs.items()
                                                    if k != "bone"} or {"bone": 0})


def test_status_is_the_enum_and_equals_its_word() -> None:
    f = Finding("cuboid", status=" Confirmed ")
    assert f.status is FindingStatus.CONFIRMED and f.status == "confirmed"
    assert f.bone is Bone.CUBOID and Finding(Bone.CUBOID, status="confirmed") == f


def test_involved_is_one_rule_for_detector_and_stored(tmp_path: Path) -> None:
    cases = [(status, grade, ml) for status in ("candidate", "confirmed", "rejected")
             for grade, ml in ((None, None), (None, 0.0), (None, 2.0), (0, 0.0), (0, 1.0),
                               (1, 0.5), (3, 9.0))]
    made = [Finding(Bone.TALUS, edema_volume_ml=ml, grade=grade, status=status)
            for status, grade, ml in cases]
    with open_store(tmp_path / "s.sqlite") as store:
        for i, f in enumerate(made):
            store.save_findings(f"1.2.{i}", [f], "reader")
        stored = [store.latest_findings(f"1.2.{i}")[0] for i in range(len(made))]
    for (status, grade, ml), f, s in zip(cases, made, stored, strict=True):
        expected = is_involved(status, grade, ml)
        assert f.involved is f.positive is s.involved is s.positive is expected, (status,
                                                                                 grade, ml)
    assert sum(f.involved for f in made) == 8  # both outcomes are exercised


def test_store_round_trip_gives_an_equal_finding(tmp_path: Path) -> None:
    full = dataclasses.replace(_full(), finding_id=None)
    sparse = Finding(Bone.CALCANEUS, edema_volume_ml=2.0, status="confirmed", source="dr_a")
    with open_store(tmp_path / "s.sqlite") as store:
        store.save_findings("1.2.3", [full, sparse], "dr_a")
        back = sorted(store.latest_findings("1.2.3"), key=lambda f: int(f.bone))
        assert back == [sparse, full]
        assert all(isinstance(b, Finding) and b.finding_id is not None for b in back)
        # the audit trail holds the store's fields, bone by name, readable again
        after = [e.after for e in store.audit_events("1.2.3")
                 if e.action == "finding_added"]
        assert [finding_from_dict(a) for a in after] == [full, sparse]
        assert after[0]["bone_mask_quality"] == 0.9 and after[0]["bone"] == "navicular"
        assert after[1]["bone_mask_quality"] is None  # unknown: JSON null


def test_the_store_keeps_bone_mask_quality(tmp_path: Path) -> None:
    f = _full()
    with open_store(tmp_path / "s.sqlite") as store:
        store.save_findings("1.2.3", [f], "dr_a")
        [back] = store.latest_findings("1.2.3")
    assert back.bone_mask_quality == 0.9
    assert back == f


def test_store_input_checks_name_the_finding(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.sqlite") as store:
        with pytest.raises(StoreError, match=r"finding 2 \(talus\): confidence must be "
                                             r"within 0-1"):
            store.save_findings("1.2.3", [{"bone": 2}, {"bone": 1, "confidence": 1.5}])
        with pytest.raises(StoreError, match=r"finding 1: Finding\.grade must be 0-3"):
            store.save_findings("1.2.3", [{"bone": "talus", "grade": 7}])
        with pytest.raises(StoreError, match="must be finite"):
            store.save_findings("1.2.3", [Finding(Bone.TALUS, t1_ratio=math.inf)])
        assert store.annotations() == []
