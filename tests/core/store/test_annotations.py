"""Annotations: atomic versioned saves, exact reloads, checksums, audit trail.

Every test taking ``store`` runs on SQLite and on PostgreSQL (``conftest.py``).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.errors import StoreError
from bmes_imaging.store import Store
from bmes_imaging.volume import SeriesInfo, Volume

STUDY = "1.2.826.0.1.3680043.10.999.1"


def _labels(seed: int, shape: tuple[int, int, int] = (9, 7, 5)) -> Volume:
    rng = np.random.default_rng(seed)
    affine = np.array([[0.0, 0.0, 3.3, -12.345678901],
                       [-0.4123456789, 0.0, 0.0, 45.6],
                       [0.0, -0.4123456789, 0.0, 7.000001],
                       [0.0, 0.0, 0.0, 1.0]])
    return Volume(rng.integers(0, 15, shape).astype(np.uint8), affine,
                  SeriesInfo(series_instance_uid="1.2.3.4.5"))


def test_save_and_reload_exactly(store: Store) -> None:
    labels = _labels(1)
    findings = [{"bone": Bone.TALUS, "bone_volume_ml": 31.5, "edema_volume_ml": 9.1,
                 "fraction": 9.1 / 31.5, "grade": 2, "t1_ratio": 0.61, "fluid_ratio": 2.4,
                 "confidence": 0.9, "status": "confirmed", "primary": True},
                {"bone": "navicular", "grade": 0, "status": "rejected"}]
    version = store.save_annotation(STUDY, "dr_a", findings, labels, note="first read")
    assert version.version == 1 and version.kind == "annotation"
    # the label map lives in the database: a name, no file in any account's folder
    assert version.label_path is not None and not version.label_path.is_absolute()
    assert not store.annotation_dir.exists()
    loaded = store.latest_annotation(STUDY)
    assert loaded is not None
    assert loaded.labels is not None
    assert loaded.labels.array.dtype == np.uint8
    np.testing.assert_array_equal(loaded.labels.array, labels.array)
    np.testing.assert_array_equal(loaded.labels.affine, labels.affine)  # exact, float64
    assert loaded.labels.info.series_instance_uid == "1.2.3.4.5"
    talus, navicular = loaded.findings
    assert talus.bone is Bone.TALUS and talus.primary and talus.status == "confirmed"
    assert talus.fraction == pytest.approx(9.1 / 31.5) and talus.source == "dr_a"
    assert navicular.status == "rejected" and not navicular.involved
    assert loaded.version.note == "first read"
    # times are timezone-aware UTC, the same on save and on reload
    assert loaded.version.created_at == version.created_at
    assert loaded.version.created_at.utcoffset() is not None


def test_versions_are_kept_and_never_overwritten(store: Store) -> None:
    paths, shas = [], []
    for i in range(3):
        v = store.save_annotation(STUDY, "dr_a", [{"bone": "talus", "grade": i + 1}],
                                  _labels(i))
        assert v.version == i + 1
        paths.append(v.label_path)
        shas.append(v.label_sha256)
    other = store.save_annotation(STUDY, "dr_b", [{"bone": "cuboid", "grade": 1}], _labels(9))
    assert other.version == 1
    assert len(set(paths)) == 3
    for version, seed in zip(store.annotations(STUDY, "dr_a"), range(3), strict=True):
        loaded = store.load_annotation(version.annotation_id)
        np.testing.assert_array_equal(loaded.labels.array, _labels(seed).array)
    assert store.latest_annotation(STUDY, "dr_a").version.version == 3
    assert store.latest_annotation(STUDY, "dr_b").findings[0].bone is Bone.CUBOID
    assert store.readers(STUDY) == ["dr_a", "dr_b"]
    assert store.check_annotations() == ([], [])


def test_damaged_or_missing_label_map_is_reported(store: Store) -> None:
    from sqlalchemy import delete, select, update

    from bmes_imaging.store._models import LabelMap

    v = store.save_annotation(STUDY, "dr_a", [], _labels(3))
    where = LabelMap.annotation_id == v.annotation_id
    with store.engine.begin() as conn:
        data = bytearray(conn.execute(select(LabelMap.data).where(where)).scalar_one())
        data[-5] ^= 0xFF
        conn.execute(update(LabelMap).where(where).values(data=bytes(data)))
    with pytest.raises(StoreError, match="damaged"):
        store.latest_annotation(STUDY)
    problems, _ = store.check_annotations()
    assert len(problems) == 1 and "checksum" in problems[0]
    with store.engine.begin() as conn:
        conn.execute(delete(LabelMap).where(where))
    with pytest.raises(StoreError, match="missing"):
        store.load_annotation(v.annotation_id)


def test_detector_findings_objects_and_nan(store: Store) -> None:
    from sqlalchemy import select

    from bmes_imaging.store._models import FindingRow

    detection = pytest.importorskip("bmes_imaging.detection")
    finding = detection.BoneFinding(bone=Bone.CALCANEUS, bone_volume_ml=80.0,
                                    edema_volume_ml=30.0, fraction=0.375, grade=2,
                                    t1_ratio=float("nan"), fluid_ratio=2.0, confidence=0.7)
    store.save_findings(STUDY, [finding], "detector")
    [stored] = store.latest_findings(STUDY, "detector")
    # unknown is NaN in a finding and NULL in the database
    assert stored.bone is Bone.CALCANEUS and math.isnan(stored.t1_ratio)
    with store.engine.connect() as conn:
        assert conn.execute(select(FindingRow.t1_ratio)).scalar_one() is None
    assert stored.status == "candidate" and stored.source == "detector" and stored.positive
    assert isinstance(stored, detection.BoneFinding) and stored.finding_id is not None
    assert stored == finding and stored.as_bone_finding() is stored


@pytest.mark.parametrize(("finding", "match"), [
    ({"bone": "talsu"}, "unknown bone"),
    ({"bone": "talus", "grade": 5}, "grade"),
    ({"bone": "talus", "status": "maybe"}, "status"),
    ({"bone": "talus", "fraction": 1.5}, "fraction"),
    ({"bone": "talus", "edema_volume_ml": "lots"}, "number"),
])
def test_invalid_findings_save_nothing(store: Store, finding: dict[str, object],
                                       match: str) -> None:
    with pytest.raises(StoreError, match=match):
        store.save_annotation(STUDY, "dr_a", [finding], _labels(0))
    assert store.annotations() == []
    assert store.check_annotations() == ([], [])  # no file left behind


def test_duplicate_bone_and_float_labels_rejected(store: Store) -> None:
    with pytest.raises(StoreError, match="twice"):
        store.save_findings(STUDY, [{"bone": 1}, {"bone": "talus"}])
    fractional = Volume(np.full((2, 2, 2), 0.5), np.eye(4))
    with pytest.raises(StoreError, match="whole numbers"):
        store.save_annotation(STUDY, "dr_a", [], fractional)
    assert store.annotations() == []


def test_audit_trail_records_who_changed_which_finding(store: Store) -> None:
    store.save_findings(STUDY, [{"bone": "talus", "grade": 2},
                                {"bone": "navicular", "grade": 1}], "detector")
    store.save_annotation(STUDY, "dr_a", [{"bone": "talus", "grade": 2, "status": "confirmed"},
                                          {"bone": "navicular", "grade": 1,
                                           "status": "rejected"}], _labels(0))
    store.save_annotation(STUDY, "dr_a", [{"bone": "talus", "grade": 3,
                                           "status": "confirmed"}], _labels(1))
    events = store.audit_events(STUDY)
    actions = [(e.actor, e.action, e.bone) for e in events]
    assert actions[:3] == [("detector", "finding_added", 1), ("detector", "finding_added", 3),
                           ("detector", "findings_saved", None)]
    changed = [e for e in events if e.actor == "dr_a" and e.action == "finding_changed"]
    assert [(e.bone, e.before["status"], e.after["status"]) for e in changed[:2]] == [
        (1, "candidate", "confirmed"), (3, "candidate", "rejected")]
    assert changed[2].before["grade"] == 2 and changed[2].after["grade"] == 3
    removed = [e for e in events if e.action == "finding_removed"]
    assert [(e.actor, e.bone) for e in removed] == [("dr_a", 3)]
    assert all(e.finding_id is not None for e in changed)
    json.dumps([e.after for e in events])  # JSON-safe


def test_saves_write_no_file_and_a_large_map_is_compressed(store: Store) -> None:
    from sqlalchemy import select

    from bmes_imaging.store._models import LabelMap

    arr = np.zeros((128, 128, 40), np.uint8)
    arr[40:60, 50:70, 10:20] = 3
    v = store.save_annotation(STUDY, "dr_a", [], Volume(arr, np.eye(4)))
    assert not store.annotation_dir.exists()
    with store.engine.connect() as conn:
        n_bytes = conn.execute(select(LabelMap.n_bytes)
                               .where(LabelMap.annotation_id == v.annotation_id)).scalar_one()
    assert n_bytes < arr.nbytes / 50  # gzip-compressed
    loaded = store.load_annotation(v.annotation_id)
    np.testing.assert_array_equal(loaded.labels.array, arr)
    assert store.check_annotations() == ([], [])


def test_both_feet_of_one_study_keep_their_own_reviews(store: Store) -> None:
    """A study holding both feet: each foot's review is found by its T1 series, and a
    version saved without a series still counts for either."""
    right = Volume(_labels(2).array, _labels(2).affine,
                   SeriesInfo(series_instance_uid="1.2.3.4.100"))
    left = Volume(_labels(3).array, _labels(3).affine,
                  SeriesInfo(series_instance_uid="1.2.3.4.200"))
    store.save_annotation(STUDY, "dr_a", [{"bone": "talus", "grade": 2}], right)
    store.save_annotation(STUDY, "dr_a", [{"bone": "calcaneus", "grade": 1}], left)
    r = store.latest_annotation(STUDY, "dr_a", series_instance_uid="1.2.3.4.100")
    l_ = store.latest_annotation(STUDY, "dr_a", series_instance_uid="1.2.3.4.200")
    assert r is not None and l_ is not None
    np.testing.assert_array_equal(r.labels.array, right.array)
    np.testing.assert_array_equal(l_.labels.array, left.array)
    assert [f.bone for f in r.findings] == [Bone.TALUS]
    assert [f.bone for f in l_.findings] == [Bone.CALCANEUS]
    # without a series: the newest of the study, as before
    newest = store.latest_annotation(STUDY, "dr_a")
    assert newest is not None and newest.version.series_instance_uid == "1.2.3.4.200"
    assert [v.series_instance_uid for v in store.annotations(STUDY, "dr_a")] == [
        "1.2.3.4.100", "1.2.3.4.200"]
    # a version with no series recorded (a NIfTI study) is found for any series
    store.save_annotation(STUDY, "dr_b", [{"bone": "talus", "grade": 1}],
                          Volume(_labels(4).array, _labels(4).affine))
    assert store.latest_annotation(STUDY, "dr_b", series_instance_uid="1.2.3.4.100")
    assert store.latest_annotation(STUDY, "dr_a", series_instance_uid="9.9.9") is None
