"""Malformed clinical tables: a clear error naming row and column, and the store unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.cli import main
from bmes_imaging.clinical import (
    ClinicalTableError,
    read_clinical_table,
    sample_table_path,
    validate_clinical_table,
)
from bmes_imaging.errors import ClinicalRecordError
from bmes_imaging.volume import Volume

HEADER = "patient,age,sex,side,primary_bone,symptom_months,complaint_to_visit_months," \
         "vitd_ng_ml,aofas_initial,aofas_final,rheumatoid_arthritis\n"
GOOD = "1,17,M,L,calcaneus,5,1,8.4,62,97,no\n"


def _csv(*rows: str, header: str = HEADER) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        p = folder / "bad.csv"
        p.write_text(header + "".join(rows), encoding="utf-8")
        return p
    return build


def _bytes(data: bytes, name: str = "bad.csv") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        p = folder / name
        p.write_bytes(data)
        return p
    return build


def _xlsx(rows: list[list[object]], merge: str | None = None) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        for row in rows:
            ws.append(row)
        if merge:
            ws.merge_cells(merge)
        p = folder / "bad.xlsx"
        wb.save(p)
        return p
    return build


_XLSX_HEADER = HEADER.strip().split(",")

# (id, builder, expected row, expected column)
CASES: list[tuple[str, Callable[[Path], Path], int, str | None]] = [
    ("wrong_type_age", _csv(GOOD, "2,abc,M,R,talus,4,2,7.9,52,90,no\n"), 3, "age"),
    ("aofas_out_of_range", _csv(GOOD, "2,37,M,R,talus,4,2,7.9,52,140,no\n"), 3, "aofas_final"),
    ("age_out_of_range", _csv("2,130,M,R,talus,4,2,7.9,52,90,no\n"), 2, "age"),
    ("age_not_whole", _csv("2,36.5,M,R,talus,4,2,7.9,52,90,no\n"), 2, "age"),
    ("unknown_bone", _csv(GOOD, GOOD.replace("1,", "3,", 1).replace("calcaneus", "talsu")),
     3, "primary_bone"),
    ("unknown_bone_in_list", _csv("2,37,M,R,talus+navicullar,4,2,7.9,52,90,no\n"), 2,
     "primary_bone"),
    ("duplicate_patient", _csv(GOOD, "2,37,M,R,talus,4,2,7.9,52,90,no\n", GOOD), 4,
     "patient"),
    ("bilateral_overlaps_single", _csv("11,18,M,R+L,talus,4,1,12,70,88,no\n",
                                       "11,18,M,L,talus,4,1,12,70,88,no\n"), 3, "patient"),
    ("patient_fields_disagree", _csv("5,27,F,L,cuboid,6,0,24.7,74,94,no\n",
                                     "5,28,F,R,cuboid,6,0,24.7,74,94,no\n"), 3, "age"),
    ("latin1_bytes", _bytes((HEADER + "5,27,F,L,k\xfcboid,6,0,24.7,74,94,no\n")
                            .encode("latin-1")), 2, "primary_bone"),
    ("missing_column", _csv("1,17,L,calcaneus\n", header="patient,age,side,primary_bone\n"),
     1, "sex"),
    ("unknown_extra_column", _csv("1,17,M,L,calcaneus,62\n",
                                  header="patient,age,sex,side,primary_bone,aofas_inital\n"),
     1, "aofas_inital"),
    ("header_only", _csv(), 2, None),
    ("bad_side", _csv(GOOD, "2,37,M,X,talus,4,2,7.9,52,90,no\n"), 3, "side"),
    ("bad_sex", _csv("2,37,Q,R,talus,4,2,7.9,52,90,no\n"), 2, "sex"),
    ("negative_months", _csv("2,37,M,R,talus,-4,2,7.9,52,90,no\n"), 2, "symptom_months"),
    ("visit_after_symptoms", _csv("2,37,M,R,talus,4,6,7.9,52,90,no\n"), 2,
     "complaint_to_visit_months"),
    ("vitamin_d_nmol_in_ng_column", _csv("2,37,M,R,talus,4,2,187,52,90,no\n"), 2,
     "vitd_ng_ml"),
    ("vitamin_d_unit_conflict", _csv("2,37,M,R,talus,4,2,35 nmol/L,52,90,no\n"), 2,
     "vitd_ng_ml"),
    ("vitamin_d_unknown_unit", _csv("2,37,M,R,talus,25,mg\n",
                                    header="patient,age,sex,side,primary_bone,vitamin_d,"
                                           "vitamin_d_unit\n"), 2, "vitamin_d_unit"),
    ("bad_boolean", _csv("2,37,M,R,talus,4,2,7.9,52,90,maybe\n"), 2, "rheumatoid_arthritis"),
    ("patient_key_is_a_name", _csv("Ayse Yilmaz,37,F,R,talus,4,2,7.9,52,90,no\n"), 2,
     "patient"),
    ("empty_file", _bytes(b""), 1, None),
    ("utf16", _bytes((HEADER + GOOD).encode("utf-16")), 1, None),
    ("xlsx_merged_cells", _xlsx([_XLSX_HEADER, [1, 17, "M", "L", "calcaneus", 5, 1, 8.4, 62,
                                               97, "no"],
                                 [2, 37, "M", "R", "talus", 4, 2, 7.9, 52, 90, "no"]],
                                merge="E2:E3"), 2, "primary_bone"),
    ("xlsx_date_in_number_cell", _xlsx([_XLSX_HEADER, [1, __import__("datetime").datetime(
        2016, 5, 1), "M", "L", "calcaneus", 5, 1, 8.4, 62, 97, "no"]]), 2, "age"),
    ("xlsx_corrupt", _bytes(b"PK\x03\x04 this is not a workbook", "bad.xlsx"), 1, None),
    ("stray_separator", _csv("1,17,M,L,calcaneus,5,1,8.4,62,97,no,extra\n"), 2, None),
]


@pytest.fixture(scope="module")
def populated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bmes_imaging.store import open_store

    folder = tmp_path_factory.mktemp("store")
    db = folder / "bmes.sqlite"
    with open_store(db) as store:
        store.import_clinical(sample_table_path())
        labels = Volume(np.arange(60, dtype=np.uint8).reshape(3, 4, 5) % 3, np.eye(4))
        store.save_annotation("1.2.826.0.1.1", "reader1", [{"bone": "talus", "grade": 1}],
                              labels)
    return db


def _snapshot(db: Path) -> dict[str, str]:
    out = {}
    for suffix in ("", "-wal"):
        p = Path(str(db) + suffix)
        data = p.read_bytes() if p.exists() else b""
        out[suffix or "db"] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.parametrize(("case", "build", "row", "column"), CASES,
                         ids=[c[0] for c in CASES])
def test_malformed_file_is_rejected_and_store_unchanged(
        case: str, build: Callable[[Path], Path], row: int, column: str | None,
        tmp_path: Path, populated_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = build(tmp_path)
    with pytest.raises(ClinicalRecordError) as info:
        read_clinical_table(path)
    err = info.value
    assert err.row == row, str(err)
    assert err.column == column, str(err)
    assert f"row {row}" in str(err)
    if column is not None:
        assert repr(column) in str(err)
    assert "Ayse" not in str(err) and "Yilmaz" not in str(err)
    problems = validate_clinical_table(path)
    assert problems and (problems[0].row, problems[0].column) == (row, column)

    before = _snapshot(populated_db)
    assert main(["clinical", "import", str(path), "--db", str(populated_db)]) == 1
    captured = capsys.readouterr()
    assert f"row {row}" in captured.err
    assert _snapshot(populated_db) == before


def test_every_problem_is_reported_at_once(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = _csv("2,abc,M,R,talus,4,2,7.9,52,90,no\n", "3,30,Q,X,talsu,4,2,7.9,52,140,no\n",
                "4,30,M,R,talus,4,2,7.9,52,90,no\n")(tmp_path)
    problems = validate_clinical_table(path)
    assert [(p.row, p.column) for p in problems] == [
        (2, "age"), (3, "sex"), (3, "side"), (3, "primary_bone"), (3, "aofas_final")]
    with pytest.raises(ClinicalTableError) as info:
        read_clinical_table(path)
    assert len(info.value.errors) == 5 and "5 problems" in str(info.value)
    assert main(["clinical", "import", str(path), "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert out.count("bad.csv, row") == 5


def test_unknown_column_and_row_problems_are_reported_together(tmp_path: Path) -> None:
    path = _csv("1,17,M,L,calcaneus,x\n", "2,170,M,R,talus,y\n",
                header="patient,age,sex,side,primary_bone,comment\n")(tmp_path)
    problems = validate_clinical_table(path)
    assert [(p.row, p.column) for p in problems] == [(1, "comment"), (3, "age")]
