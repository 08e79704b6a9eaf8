"""Report and involvement table from the annotation store (records and reader findings)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.store import open_store

ROOT = Path(__file__).resolve().parents[3]
TABLE = ROOT / "sample_data" / "table1_clinical.csv"


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BMES_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    url = str(tmp_path / "bmes.sqlite")
    store = open_store(url, annotation_dir=tmp_path / "ann")
    try:
        store.import_clinical(TABLE)
        for uid, pid, side in (("1.2.3.7", "7", "R"), ("1.2.3.11", "11", "L")):
            store.register_study(study_instance_uid=uid, patient_id=pid, laterality=side)
        store.link_studies()
        store.save_findings("1.2.3.7", [
            {"bone": Bone.MEDIAL_CUNEIFORM, "edema_volume_ml": 2.0, "grade": 2,
             "status": "confirmed", "source": "Reader^A", "primary": True},
            {"bone": Bone.LATERAL_CUNEIFORM, "edema_volume_ml": 3.0, "grade": 2,
             "status": "confirmed", "source": "Reader^A"},
            {"bone": Bone.TALUS, "edema_volume_ml": 0.0, "grade": 0,
             "status": "confirmed", "source": "Reader^A"},
        ], source="Reader^A")
        store.save_findings("1.2.3.11", [
            {"bone": Bone.TALUS, "edema_volume_ml": 1.0, "grade": 1, "status": "candidate"}])
    finally:
        store.close()
    return url


def test_report_from_store(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "rep"
    assert main(["report", "--store", store_url, "--out", str(out)]) == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "36.5 (16-55)" in text and "10 / 7" in text
    assert "Findings: confirmed only (1 feet)" in text
    assert "feet (confirmed findings)" in text


def test_involvement_from_store_reader_primary(tmp_path: Path, store_url: str) -> None:
    out = tmp_path / "t.csv"
    assert main(["export", "involvement", str(TABLE), "--store", store_url,
                 "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        rows = {(r["patient"], r["side"]): r for r in csv.DictReader(fh)}
    p7 = rows[("7", "R")]
    # reader-marked primary wins over the larger lateral cuneiform edema
    assert p7["primary_bone"] == "medial_cuneiform" and p7["primary_from"] == "reader"
    assert p7["other_bones"] == "lateral_cuneiform" and p7["n_bones"] == "2"
    assert rows[("11", "L")]["findings"] == "none"
