"""bmes report: the study's figures recomputed from the sample table, disagreements listed."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.errors import ExportError
from bmes_imaging.export import (
    FootFindings,
    read_findings_table,
    read_records,
    summarize_cohort,
    write_cohort_report,
)

ROOT = Path(__file__).resolve().parents[3]
TABLE = ROOT / "sample_data" / "table1_clinical.csv"
STATED = ROOT / "sample_data" / "study_text_figures.json"


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pseudonym.key"
    monkeypatch.setenv("BMES_PSEUDONYM_KEY_FILE", str(path))
    return path


def test_summary_recomputes_the_studys_figures() -> None:
    s = summarize_cohort(read_records(TABLE))
    assert round(s["age_mean"].value, 1) == 36.5
    assert (s["sex_male"].value, s["sex_female"].value) == (10, 7)
    assert round(s["vitamin_d_mean"].value, 2) == 14.35
    assert (s["vitamin_d_deficient"].value, s["vitamin_d_insufficient"].value) == (13, 4)
    assert round(s["aofas_initial_mean"].value, 1) == 63.4
    assert round(s["aofas_final_mean"].value, 1) == 92.5
    assert round(s["symptom_months_mean"].value, 1) == 7.1
    # patient 11 is bilateral: 10 talus feet from the primary column alone, a lower bound
    assert s["feet_talus"].value == 10 and s["feet_talus"].bound == "at_least"


def test_report_lists_the_texts_disagreements(tmp_path: Path, key_file: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    status = main(["report", str(TABLE), "--stated", str(STATED), "--out", str(out)])
    assert status == 0
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "36.5 (16-55)" in text and "10 / 7" in text and "13 / 4 / 0" in text
    assert "63.4 -> 92.5" in text and "7.12 (3-20)" in text and "14.35" in text
    dis = text.split("## Disagreements")[1].split("## Rounding")[0]
    rows = {line.split("|")[1].strip(): line for line in dis.splitlines()
            if line.startswith("| ") and not line.startswith("| figure")}
    assert "| 9 | 10 |" in rows["Male patients"]
    assert "| 8 | 7 |" in rows["Female patients"]
    assert "| 9 | >= 10 |" in rows["Feet with edema in talus"]
    assert "Feet with edema in calcaneus" not in rows  # 4 stated, >= 2 recomputed: consistent
    err = capsys.readouterr().err
    assert "Male patients: stated 9" in err
    for name in ("plots/bones_involved.png", "plots/aofas_before_after.png",
                 "plots/vitamin_d.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    # de-identified by default: no clinical patient number appears as a patient
    per_patient = text.split("## Per patient")[1].split("##")[0]
    names = [line.split("|")[1].strip() for line in per_patient.splitlines()
             if line.startswith("| P-")]
    assert len(names) == 17 and len(set(names)) == 17
    assert key_file.exists()


def test_pseudonyms_are_stable_and_html_renders(tmp_path: Path, key_file: Path) -> None:
    del key_file
    a = write_cohort_report(TABLE, tmp_path / "a", fmt="html")
    b = write_cohort_report(TABLE, tmp_path / "b", fmt="markdown")
    html_text = a.path.read_text(encoding="utf-8")
    md_text = b.path.read_text(encoding="utf-8")
    pseudo = set(re.findall(r"<td>(P-[0-9A-F]{8})</td>", html_text))
    assert len(pseudo) == 17 and pseudo == set(re.findall(r"\| (P-[0-9A-F]{8}) \|", md_text))
    ident = write_cohort_report(TABLE, tmp_path / "c", deidentify=False)
    assert "| 11 | L+R | 18 | M |" in ident.path.read_text(encoding="utf-8")


def test_findings_of_one_status_only(tmp_path: Path) -> None:
    table = tmp_path / "involvement.csv"
    cols = ["study_instance_uid", "patient_id", "side", "bone", "bone_label",
            "edema_volume_ml", "status"]
    rows = [["1.2", "2", "R", "talus", 1, 3.5, "confirmed"],
            ["1.2", "2", "R", "navicular", 3, 0.5, "candidate"],
            ["1.3", "4", "L", "calcaneus", 2, 1.0, "candidate"]]
    with table.open("w", newline="") as fh:
        csv.writer(fh).writerows([cols, *rows])
    confirmed = read_findings_table(table, status="confirmed")
    assert [(f.patient, f.bones) for f in confirmed] == [("2", (Bone.TALUS,))]
    cand = read_findings_table(table, status="candidate")
    assert sorted(f.patient for f in cand) == ["2", "4"]
    s = summarize_cohort(read_records(TABLE), confirmed)
    assert s["findings_feet_talus"].value == 1 and s.findings_status == "confirmed"
    rep = write_cohort_report(TABLE, tmp_path / "rep", findings=confirmed, deidentify=False)
    text = rep.path.read_text(encoding="utf-8")
    assert "## Clinical records against confirmed findings" in text
    assert "findings in 1 of 1 feet with findings (17 feet without)" in text
    assert "| 2 | R | Talus | Talus | yes | - |" in text
    with pytest.raises(ExportError, match="mix candidate and confirmed"):
        summarize_cohort(read_records(TABLE), [*confirmed,
                                               FootFindings("4", "L", (Bone.CALCANEUS,),
                                                            status="candidate")])


def test_stated_figures_in_csv_and_bad_file(tmp_path: Path, key_file: Path) -> None:
    del key_file
    stated = tmp_path / "stated.csv"
    stated.write_text("figure,value,where\nage_mean,36.5,abstract\nsex_male,9,text\n")
    rep = write_cohort_report(TABLE, tmp_path / "r", stated=stated)
    assert [c.stated.figure for c in rep.disagreements] == ["sex_male"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"figures": [{"value": 3}]}))
    with pytest.raises(ExportError, match="needs 'figure'"):
        write_cohort_report(TABLE, tmp_path / "r2", stated=bad)
