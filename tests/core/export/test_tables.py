"""Long and wide tables: pandas reads them with its defaults into the documented columns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.export import (
    COLUMN_DOCS,
    LONG_COLUMNS,
    dictionary_path,
    long_rows,
    read_records,
    wide_columns,
    wide_rows,
    write_table,
)
from bmes_imaging.followup import BoneMeasure, StudyFindings, build_timelines

ROOT = Path(__file__).resolve().parents[3]
TABLE = ROOT / "sample_data" / "table1_clinical.csv"

NUMBER_COLUMNS = ("timepoint", "days_since_baseline", "bone_label", "volume_ml", "fraction",
                  "grade", "change_since_baseline_ml", "change_since_previous_ml", "aofas")


def _study(patient: str, side: str, uid: str, date: dt.date,
           vols: dict[Bone, float]) -> StudyFindings:
    measures = tuple(BoneMeasure(b, ml, round(ml / 40.0, 4), 1 if ml >= 0.1 else 0, 40.0)
                     for b, ml in vols.items())
    return StudyFindings(patient, side, uid, date, "candidate", "detector", measures)


@pytest.fixture
def timelines() -> list:  # type: ignore[type-arg]
    studies = [
        _study("2", "R", "1.2.2", dt.date(2016, 1, 10), {Bone.TALUS: 1.5, Bone.NAVICULAR: 0.0}),
        _study("2", "R", "1.2.1", dt.date(2015, 1, 10), {Bone.TALUS: 6.0, Bone.NAVICULAR: 0.0}),
        _study("11", "L", "1.11.1", dt.date(2015, 2, 1), {Bone.TALUS: 3.0, Bone.NAVICULAR: 0.0}),
        _study("11", "L", "1.11.2", dt.date(2016, 6, 1), {Bone.TALUS: 0.0, Bone.NAVICULAR: 2.0}),
        # a hostile reader name must never become a formula
        StudyFindings("4", "L", "1.4.1", dt.date(2015, 3, 3), "candidate", "=cmd|' /C calc'!A0",
                      (BoneMeasure(Bone.TALUS, 0.5, None, None, None),)),
    ]
    return build_timelines(studies)


def test_long_rows_figures_and_courses(timelines: list) -> None:  # type: ignore[type-arg]
    rows = long_rows(timelines, read_records(TABLE))
    by = {(r["patient"], r["timepoint"], r["bone"]): r for r in rows}
    assert [r["patient"] for r in rows][:4] == [2, 2, 2, 2]  # numbers, in key order
    talus = by[(2, 1, "talus")]
    assert talus["change_since_baseline_ml"] == -4.5 and talus["course"] == "improving"
    assert talus["days_since_baseline"] == 365 and talus["study_date"] == "2016-01-10"
    assert by[(2, 0, "talus")]["aofas"] == 52 and talus["aofas"] == 90  # Table 1, patient 2
    assert by[(11, 1, "talus")]["course"] == "resolved"
    assert by[(11, 1, "navicular")]["course"] == "new"  # migratory
    assert by[(2, 1, "navicular")]["course"] == "none"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_pandas_reads_long_table_with_defaults(tmp_path: Path, timelines: list,  # type: ignore[type-arg]
                                               suffix: str) -> None:
    path = write_table(long_rows(timelines, read_records(TABLE)), LONG_COLUMNS,
                       tmp_path / f"long{suffix}", sheet="long", about=["test"])
    df = pd.read_csv(path) if suffix == ".csv" else pd.read_excel(path)
    assert list(df.columns) == list(LONG_COLUMNS)
    assert len(df) == 9
    for c in NUMBER_COLUMNS:
        assert pd.api.types.is_numeric_dtype(df[c]), c
    for c in ("side", "study_date", "bone", "course", "status", "reader"):
        assert pd.api.types.is_string_dtype(df[c]), c
    assert pd.api.types.is_integer_dtype(df["patient"])
    assert str(df.loc[df["patient"] == 4, "reader"].iloc[0]).startswith("'=")
    if suffix == ".csv":
        doc = pd.read_csv(dictionary_path(path))
        assert list(doc.columns) == ["column", "meaning", "unit", "type"]
        assert set(LONG_COLUMNS) <= set(doc["column"])
    else:
        wb = openpyxl.load_workbook(path)
        assert wb.sheetnames == ["long", "columns", "about"]
        ws = wb["long"]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref
        assert not any(isinstance(c.value, str) and c.value.startswith("=")
                       for row in ws.iter_rows() for c in row)
        doc = pd.read_excel(path, sheet_name="columns")
        assert doc.set_index("column").loc["volume_ml", "unit"] == "mL"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_pandas_reads_wide_table_with_defaults(tmp_path: Path, timelines: list,  # type: ignore[type-arg]
                                               suffix: str) -> None:
    cols = wide_columns()
    path = write_table(wide_rows(timelines), cols, tmp_path / f"wide{suffix}")
    df = pd.read_csv(path) if suffix == ".csv" else pd.read_excel(path)
    assert list(df.columns) == cols and len(df) == 5  # one row per foot and date
    for b in Bone:
        assert pd.api.types.is_numeric_dtype(df[f"{b.bone_name}_ml"])
        assert pd.api.types.is_numeric_dtype(df[f"{b.bone_name}_grade"])
    row = df[(df["patient"] == 11) & (df["timepoint"] == 1)].iloc[0]
    assert row["talus_ml"] == 0 and row["navicular_ml"] == 2 and row["n_bones"] == 1
    assert row["total_change_since_baseline_ml"] == pytest.approx(-1.0)
    assert pd.isna(row["cuboid_ml"])  # not assessed: empty, not 0
    assert all(c in COLUMN_DOCS for c in cols)


def test_pseudonymised_rows_are_ordered_by_pseudonym(timelines: list) -> None:  # type: ignore[type-arg]
    from bmes_imaging.export import Pseudonymizer

    rows = wide_rows(timelines, pseudonymizer=Pseudonymizer(b"k" * 32))
    names = [r["patient"] for r in rows]
    assert all(n.startswith("P-") for n in names) and names == sorted(names)
