"""bmes export involvement: one row per foot, one findings status, CSV and XLSX."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from bmes_imaging.cli import main

ROOT = Path(__file__).resolve().parents[3]
TABLE = ROOT / "sample_data" / "table1_clinical.csv"
COLS = ["study_instance_uid", "patient_id", "side", "bone", "bone_label", "bone_volume_ml",
        "edema_volume_ml", "fraction", "grade", "t1_ratio", "fluid_ratio", "confidence",
        "status"]


@pytest.fixture
def findings(tmp_path: Path) -> Path:
    rows = [
        ["1.1", "7", "R", "intermediate_cuneiform", 6, 5.0, 1.2, 0.24, 1, .6, 2, .9, "confirmed"],
        ["1.1", "7", "R", "medial_cuneiform", 5, 6.0, 2.5, 0.41, 2, .6, 2, .9, "confirmed"],
        ["1.1", "7", "R", "talus", 1, 40.0, 0.0, 0.0, 0, 1, 1, .9, "confirmed"],
        ["1.1", "7", "R", "navicular", 3, 8.0, 0.4, 0.05, 1, .7, 1.5, .4, "candidate"],
        ["1.2", "11", "L", "talus", 1, 40.0, 3.0, 0.07, 1, .6, 2, .8, "candidate"],
    ]
    path = tmp_path / "involvement.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([COLS, *rows])
    return path


def test_confirmed_table_csv(tmp_path: Path, findings: Path) -> None:
    out = tmp_path / "table.csv"
    assert main(["export", "involvement", str(TABLE), "--findings", str(findings),
                 "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 18  # one per foot: patient 11 has two
    by = {(r["patient"], r["side"]): r for r in rows}
    p7 = by[("7", "R")]
    assert p7["findings"] == "confirmed" and p7["primary_bone"] == "medial_cuneiform"
    assert p7["primary_from"] == "largest edema" and p7["other_bones"] == "intermediate_cuneiform"
    assert p7["n_bones"] == "2" and p7["total_edema_ml"] == "3.7"  # talus grade 0 left out
    assert p7["vitamin_d_class"] == "deficient" and p7["aofas_initial"] == "66"
    assert by[("11", "L")]["findings"] == "none"  # its finding is only a candidate
    assert {r["findings"] for r in rows} == {"confirmed", "none"}


def test_candidate_table_xlsx_deidentified(tmp_path: Path, findings: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BMES_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    out = tmp_path / "table.xlsx"
    assert main(["export", "involvement", str(TABLE), "--findings", str(findings),
                 "--status", "candidate", "--deidentify", "--out", str(out)]) == 0
    wb = openpyxl.load_workbook(out)
    ws = wb.active
    assert ws.title == "Involvement (candidate)"
    header = [c.value for c in ws[1]]  # header in row 1: pandas.read_excel reads it
    rows = [dict(zip(header, [c.value for c in r], strict=True)) for r in ws.iter_rows(min_row=2)]
    assert ws.freeze_panes == "A2" and wb.sheetnames[1:] == ["columns", "about"]
    assert all(str(r["patient"]).startswith("P-") for r in rows)
    cand = [r for r in rows if r["findings"] == "candidate"]
    assert sorted(r["primary_bone"] for r in cand) == ["navicular", "talus"]


def test_involvement_xlsx_and_csv_open_in_pandas(tmp_path: Path, findings: Path) -> None:
    import pandas as pd

    from bmes_imaging.export import INVOLVEMENT_TABLE_COLUMNS, dictionary_path

    for suffix in (".csv", ".xlsx"):
        out = tmp_path / f"table{suffix}"
        assert main(["export", "involvement", str(TABLE), "--findings", str(findings),
                     "--out", str(out)]) == 0
        df = pd.read_csv(out) if suffix == ".csv" else pd.read_excel(out)
        assert list(df.columns) == list(INVOLVEMENT_TABLE_COLUMNS) and len(df) == 18
        for c in ("patient", "age", "n_bones", "total_edema_ml", "aofas_initial"):
            assert pd.api.types.is_numeric_dtype(df[c]), (suffix, c)
    assert dictionary_path(tmp_path / "table.csv").is_file()


def test_deidentified_rows_are_in_pseudonym_order(findings: Path) -> None:
    from bmes_imaging.export import (
        Pseudonymizer,
        involvement_rows,
        read_findings_table,
        read_records,
    )

    rows = involvement_rows(read_records(TABLE), read_findings_table(findings),
                            pseudonymizer=Pseudonymizer(b"z" * 32))
    names = [(r["patient"], r["side"]) for r in rows]
    assert len(names) == 18 and names == sorted(names)


def test_follow_up_studies_take_each_foots_first_study(tmp_path: Path, findings: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    """A screening with a follow-up of patient 7: the table shows the baseline study (by
    the archive's StudyDate with --images), and says so when no dates are given."""
    import numpy as np

    from bmes_imaging import Volume
    from bmes_imaging.dicom import write_series

    with findings.open("a", newline="") as fh:  # follow-up 1.9: talus only, an earlier UID
        csv.writer(fh).writerow(["1.0.9", "7", "R", "talus", 1, 40.0, 4.0, 0.1, 1, .6, 2, .9,
                                 "confirmed"])
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    for uid, date in (("1.1", "20190301"), ("1.0.9", "20200601"), ("1.2", "20190302")):
        write_series(Volume(np.ones((8, 8, 3), np.float32), affine), tmp_path / "img" / uid,
                     patient_id="7", study_instance_uid=uid, uid_seed=uid,
                     attributes={"StudyDate": date, "Laterality": "R"})
    combined, first = tmp_path / "combined.csv", tmp_path / "first.csv"
    assert main(["export", "involvement", str(TABLE), "--findings", str(findings),
                 "--status", "confirmed", "--out", str(combined)]) == 0
    assert "1 feet have several studies" in capsys.readouterr().err
    assert main(["export", "involvement", str(TABLE), "--findings", str(findings),
                 "--status", "confirmed", "--images", str(tmp_path / "img"),
                 "--out", str(first)]) == 0
    assert "each foot's first study" in capsys.readouterr().err
    p7 = {}
    for name, path in (("all", combined), ("1st", first)):
        with path.open(newline="", encoding="utf-8") as fh:
            p7[name] = next(r for r in csv.DictReader(fh)
                            if r["patient"] == "7" and r["side"] == "R")
    assert "talus" in p7["all"]["other_bones"] + p7["all"]["primary_bone"]
    assert p7["1st"]["primary_bone"] == "medial_cuneiform"
    assert "talus" not in p7["1st"]["other_bones"] and p7["1st"]["total_edema_ml"] == "3.7"
