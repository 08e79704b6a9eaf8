"""Clinical records in the store: all-or-nothing import, dry run, updates, linking."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmes_imaging.cli import main
from bmes_imaging.clinical import (
    ClinicalTableError,
    read_clinical_table,
    sample_table_path,
    write_template,
)
from bmes_imaging.errors import ClinicalRecordError, StoreError
from bmes_imaging.store import Store, open_store
from bmes_imaging.volume import SeriesInfo


def test_import_round_trips_every_record(store: Store) -> None:
    report = store.import_clinical(sample_table_path())
    assert (report.n_patients, report.n_feet, report.n_new_feet) == (17, 18, 18)
    assert store.clinical_records() == read_clinical_table(sample_table_path())
    with pytest.raises(StoreError, match="both feet"):
        store.clinical_record("11")
    assert store.clinical_record("11", "L").side == "L"
    assert store.clinical_record("99") is None
    again = store.import_clinical(sample_table_path())
    assert (again.n_new_feet, again.n_updated_feet) == (0, 0)
    assert len(store.clinical_records()) == 18


def test_template_with_labs_round_trips(store: Store, tmp_path: Path) -> None:
    path = write_template(tmp_path / "template.csv")
    store.import_clinical(path)
    assert store.clinical_records() == read_clinical_table(path)
    assert store.clinical_record("P002").vitamin_d_unit == "nmol/L"


def test_dry_run_writes_nothing(store: Store, tmp_path: Path) -> None:
    report = store.import_clinical(sample_table_path(), dry_run=True)
    assert report.dry_run and report.n_new_feet == 18
    assert store.clinical_records() == []
    assert main(["clinical", "import", str(sample_table_path()), "--dry-run", "--db",
                 store.url]) == 0
    assert store.clinical_records() == []


def test_update_validates_and_audits(store: Store) -> None:
    store.import_clinical(sample_table_path())
    updated = store.update_clinical("4", "L", vitamin_d=60.0, vitamin_d_unit="nmol/L",
                                    actor="nurse1")
    assert updated.vitamin_d_class == "insufficient"
    assert store.clinical_record("4").vitamin_d_unit == "nmol/L"
    with pytest.raises(ClinicalTableError) as info:
        store.update_clinical("4", "L", aofas_final=140)
    assert info.value.column == "aofas_final"
    assert store.clinical_record("4").aofas_final == 98
    event = [e for e in store.audit_events() if e.action == "clinical_updated"][-1]
    assert event.actor == "nurse1"
    assert event.before["vitamin_d"] == 24.2 and event.after["vitamin_d_class"] == "insufficient"


def _register(store: Store, uid: str, patient_id: str, laterality: str | None) -> None:
    store.register_study(SeriesInfo(study_instance_uid=uid, series_instance_uid=uid + ".1",
                                    patient_id=patient_id, laterality=laterality,
                                    sequence="t1"))


def test_link_by_patient_id_and_lists_the_rest(store: Store) -> None:
    store.import_clinical(sample_table_path())
    _register(store, "1.1", "7", "R")
    _register(store, "1.2", "11", "L")
    _register(store, "1.3", "11", "R")
    _register(store, "1.4", "3", "L")        # patient 3 has only a right-foot record
    _register(store, "1.5", "99", "R")       # no such patient
    _register(store, "1.6", "5", None)       # no laterality: never guessed
    store.register_study(study_instance_uid="1.7", series_instance_uid="1.7.1",
                         patient_id="6", laterality="R")
    store.register_study(study_instance_uid="1.7", series_instance_uid="1.7.2",
                         laterality="L")     # series disagree
    report = store.link_studies()
    assert sorted((s.study_instance_uid, s.patient, s.side) for s in report.linked) == [
        ("1.1", "7", "R"), ("1.2", "11", "L"), ("1.3", "11", "R")]
    reasons = dict(report.unlinked_studies)
    assert set(reasons) == {"1.4", "1.5", "1.6", "1.7"}
    assert "side L" in reasons["1.4"] and "laterality" in reasons["1.6"]
    assert "disagree" in reasons["1.7"]
    assert ("7", "R") not in report.unlinked_records
    assert len(report.unlinked_records) == 18 - 3
    assert store.study_foot("1.2") == ("11", "L")
    again = store.link_studies()
    assert again.linked == []  # already linked studies are kept


def test_link_by_mapping_table(store: Store, tmp_path: Path) -> None:
    store.import_clinical(sample_table_path())
    _register(store, "2.1", "ANON-0001", "L")
    _register(store, "2.2", "ANON-0002", "R")
    mapping = tmp_path / "map.csv"
    mapping.write_text("patient,patient_id\n1,ANON-0001\n")
    report = store.link_studies(mapping)
    assert [(s.study_instance_uid, s.patient, s.method) for s in report.linked] == [
        ("2.1", "1", "mapping")]
    assert report.unlinked_studies == [("2.2", "its PatientID is not in the mapping table")]
    bad = tmp_path / "bad_map.csv"
    bad.write_text("patient,patient_id\n1,A\n2,A\n")
    with pytest.raises(ClinicalRecordError) as info:
        store.link_studies(bad)
    assert (info.value.row, info.value.column) == (3, "patient_id")


def test_cli_import_show_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "cli.sqlite")
    assert main(["clinical", "import", str(sample_table_path()), "--db", db]) == 0
    assert "17 patients, 18 feet" in capsys.readouterr().out
    with open_store(db) as s:
        _register(s, "3.1", "7", "R")
    assert main(["clinical", "link", "--db", db]) == 0
    assert "1 linked" in capsys.readouterr().out
    ranges = tmp_path / "ranges.json"
    ranges.write_text('{"esr_mm_h": [null, 15]}')
    assert main(["clinical", "show", "7", "--db", db, "--reference-ranges", str(ranges)]) == 0
    out = capsys.readouterr().out
    assert "25(OH)D 16.7 ng/mL" in out and "deficient" in out and "study 3.1" in out
    assert "rheumatoid arthritis yes" in out
    assert main(["clinical", "show", "nobody", "--db", db]) == 1


def test_cli_link_from_a_dicom_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import numpy as np

    from bmes_imaging.dicom import write_series
    from bmes_imaging.volume import Volume

    caplog.set_level(logging.DEBUG)
    vol = Volume(np.zeros((6, 6, 3), np.float32), np.diag([0.5, 0.5, 3.0, 1.0]))
    write_series(vol, tmp_path / "dcm" / "a", patient_id="7", patient_name="Doe^John",
                 series_description="T1 SAG", attributes={"Laterality": "R"}, uid_seed="s1")
    write_series(vol, tmp_path / "dcm" / "b", patient_id="ANON-77",
                 patient_name="Roe^Jane", series_description="STIR",
                 attributes={"Laterality": "L"}, uid_seed="s2")
    db = str(tmp_path / "cli.sqlite")
    assert main(["clinical", "import", str(sample_table_path()), "--db", db]) == 0
    assert main(["clinical", "link", "--dicom", str(tmp_path / "dcm"), "--db", db,
                 "--show-identifiers"]) == 0  # the key linked by PatientID is the PatientID
    out = capsys.readouterr().out
    assert "-> patient 7 foot R (by patient_id)" in out
    assert "1 linked, 1 studies unlinked, 17 feet without a study" in out
    mapping = tmp_path / "map.csv"
    mapping.write_text("patient,patient_id\n14,ANON-77\n")
    assert main(["clinical", "link", "--mapping", str(mapping), "--db", db]) == 0
    assert "-> patient 14 foot L (by mapping)" in capsys.readouterr().out
    for secret in ("Doe", "Roe", "ANON-77"):
        assert secret not in caplog.text


def test_identity_is_kept_apart(store: Store, tmp_path: Path) -> None:
    store.import_clinical(sample_table_path())
    store.set_patient_identity("7", name="Doe^John", hospital_number="H-123")
    assert store.patient_identity("7") == {"name": "Doe^John", "hospital_number": "H-123",
                                           "birth_date": None}
    assert store.patient_identity("8") is None
    with pytest.raises(StoreError):
        store.set_patient_identity("nobody", name="x")
    assert "Doe" not in repr(store.clinical_record("7"))
    _register(store, "4.1", "7", "R")
    _register(store, "4.2", "7", None)
    store.link_studies()
    assert store.study_links() == {"4.1": ("7", "R"), "4.2": None}


def test_patient_fields_stay_consistent_across_feet(store: Store) -> None:
    store.import_clinical(sample_table_path())
    store.update_clinical("11", "R", age=19, sex="F")
    right, left = store.clinical_records("11")
    assert (right.side, left.side) == ("R", "L")
    assert right.age == left.age == 19 and right.sex == left.sex == "F"


def test_phantom_table1_cohort_links_to_every_clinical_foot(store: Store) -> None:
    phantom = pytest.importorskip("bmes_imaging.phantom")
    store.import_clinical(sample_table_path())
    specs = phantom.cohort_specs("table1")
    for i, (_folder, spec) in enumerate(specs):
        store.register_study(study_instance_uid=f"2.25.{i + 1}",
                             series_instance_uid=f"2.25.{i + 1}.1",
                             patient_id=spec.patient_id, laterality=spec.side)
    report = store.link_studies()
    assert report.unlinked_records == []
    assert len(report.linked) == 18
    controls = [uid for uid, _ in report.unlinked_studies]
    assert len(controls) == len(specs) - 18
    assert all("no clinical record" in reason for _, reason in report.unlinked_studies)
