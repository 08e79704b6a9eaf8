"""The study's Table 1 imports to the cohort the study describes."""

from __future__ import annotations

import csv
import statistics
from collections import Counter
from pathlib import Path

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.clinical import (
    TABLE1_COLUMNS,
    ClinicalRecord,
    read_clinical_table,
    sample_table_path,
    validate_clinical_table,
)

REPO = Path(__file__).resolve().parents[3]
SEED = REPO.parent / "shared" / "seed" / "table1_clinical.csv"


def _per_patient(records: list[ClinicalRecord]) -> list[ClinicalRecord]:
    first: dict[str, ClinicalRecord] = {}
    for r in records:
        first.setdefault(r.patient, r)
    return list(first.values())


@pytest.fixture(scope="module")
def records() -> list[ClinicalRecord]:
    return read_clinical_table(sample_table_path())


def test_packaged_and_sample_copies_match_the_seed() -> None:
    packaged = sample_table_path().read_bytes()
    assert (REPO / "sample_data" / "table1_clinical.csv").read_bytes() == packaged
    if SEED.exists():
        assert SEED.read_bytes() == packaged


def test_header_is_the_table1_layout() -> None:
    with open(sample_table_path(), encoding="utf-8") as fh:
        assert tuple(next(csv.reader(fh))) == TABLE1_COLUMNS


def test_patients_and_feet(records: list[ClinicalRecord]) -> None:
    assert validate_clinical_table(sample_table_path()) == []
    assert len({r.patient for r in records}) == 17
    # The study's text says 19 feet, but its Table 1 marks one bilateral patient only
    # (patient 11, "R+L"), so the records give 18 feet: a disagreement of the source
    # that the records make visible instead of hiding.
    sides = Counter(r.patient for r in records)
    bilateral = [p for p, n in sides.items() if n == 2]
    assert bilateral == ["11"]
    assert len(records) == 17 + len(bilateral) == 18
    eleven = [r for r in records if r.patient == "11"]
    assert [r.side for r in eleven] == ["R", "L"]
    assert eleven[0].primary_bones == eleven[1].primary_bones == (Bone.TALUS,)


def test_vitamin_d_classes_per_patient(records: list[ClinicalRecord]) -> None:
    classes = Counter(r.vitamin_d_class for r in _per_patient(records))
    assert classes == {"deficient": 13, "insufficient": 4}


def test_means_match_the_study_figures(records: list[ClinicalRecord]) -> None:
    patients = _per_patient(records)

    def mean(attr: str) -> float:
        return statistics.mean(getattr(r, attr) for r in patients)

    # the study reports mean age 36.5 (16-55), 25(OH)D 14.3 ng/mL, symptom duration
    # 7.12 (2-20) months, time to visit 1.5 months, AOFAS 63 -> 92
    assert mean("age") == pytest.approx(36.5, abs=0.05)
    assert min(r.age for r in patients) == 16 and max(r.age for r in patients) == 55
    assert mean("vitamin_d_ng_ml") == pytest.approx(14.3, abs=0.06)
    assert mean("symptom_months") == pytest.approx(7.12, abs=0.01)
    assert mean("complaint_to_visit_months") == pytest.approx(1.5, abs=0.05)
    assert mean("aofas_initial") == pytest.approx(63, abs=0.5)
    assert mean("aofas_final") == pytest.approx(92, abs=0.6)
    assert statistics.mean(r.aofas_change for r in patients) == pytest.approx(
        mean("aofas_final") - mean("aofas_initial"))
    sexes = Counter(r.sex for r in patients)
    assert sexes == {"M": 10, "F": 7}  # the table's count (the text says 9 / 8)
    assert {r.patient for r in patients if r.rheumatoid_arthritis} == {"7", "13"}


def test_units_recorded(records: list[ClinicalRecord]) -> None:
    assert {r.vitamin_d_unit for r in records} == {"ng/mL"}


def test_xlsx_copy_reads_the_same(tmp_path: Path, records: list[ClinicalRecord]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    with open(sample_table_path(), encoding="utf-8") as fh:
        for i, row in enumerate(csv.reader(fh)):
            ws.append([float(c) if i and c.replace(".", "").isdigit() else c for c in row])
    wb.save(tmp_path / "table1.xlsx")
    from_xlsx = read_clinical_table(tmp_path / "table1.xlsx")
    assert [(r.patient, r.side, r.vitamin_d_ng_ml, r.aofas_final) for r in from_xlsx] == \
        [(r.patient, r.side, r.vitamin_d_ng_ml, r.aofas_final) for r in records]
