"""No patient key, name or DICOM PatientID ever reaches the log."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.clinical import ClinicalTableError
from bmes_imaging.store import open_store, reader_agreement
from bmes_imaging.volume import SeriesInfo, Volume

KEY = "PSN-4471"
OTHER_KEY = "PSN-9802"
DICOM_ID = "HOSP-00731"
NAME = "Yilmaz^Ayse"


def test_no_identifier_in_logs(tmp_path: Path, store_url: str,
                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    table = tmp_path / "clinic.csv"
    table.write_text("patient,age,sex,side,primary_bone,vitamin_d,vitamin_d_unit\n"
                     f"{KEY},40,F,R+L,talus,30,nmol/L\n{OTHER_KEY},41,M,L,cuboid,12,ng/mL\n",
                     encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("patient,age,sex,side,primary_bone\n"
                   f"{KEY},40,F,R,talus\n{KEY},40,F,R,talus\nYilmaz Ayse,40,F,R,talus\n",
                   encoding="utf-8")
    mapping = tmp_path / "map.csv"
    mapping.write_text(f"patient,patient_id\n{KEY},{DICOM_ID}\n", encoding="utf-8")
    labels = Volume(np.ones((4, 4, 4), np.uint8), np.eye(4))
    with open_store(store_url, annotation_dir=tmp_path / "a") as store:
        store.import_clinical(table)
        store.import_clinical(table, dry_run=True)
        with pytest.raises(ClinicalTableError) as info:
            store.import_clinical(bad)
        assert KEY not in str(info.value) and "Yilmaz" not in str(info.value)
        store.update_clinical(KEY, "L", age=41)
        store.register_study(SeriesInfo(study_instance_uid="9.9", series_instance_uid="9.9.1",
                                        patient_id=DICOM_ID, laterality="R"),
                             patient_name=NAME)
        report = store.link_studies(mapping)
        assert len(report.linked) == 1
        store.save_findings("9.9", [{"bone": "talus", "grade": 2}], "detector")
        store.save_annotation("9.9", "reader1", [{"bone": "talus", "grade": 2}], labels)
        store.save_annotation("9.9", "reader2", [{"bone": "talus", "grade": 1}], labels)
        assert store.latest_annotation("9.9") is not None
        reader_agreement(store, "reader1", "reader2")
        store.clinical_records(KEY)
    text = caplog.text
    assert caplog.records, "the store should log what it does"
    for identifier in (KEY, OTHER_KEY, DICOM_ID, NAME, "Yilmaz", "Ayse"):
        assert identifier not in text
