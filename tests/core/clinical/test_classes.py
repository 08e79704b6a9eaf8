"""Derived clinical classes: vitamin D, lab flags, AOFAS change, units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bmes_imaging.clinical import (
    NMOL_L_PER_NG_ML,
    LabReferenceRanges,
    ReferenceRange,
    aofas_change,
    read_clinical_table,
    vitamin_d_class,
    write_template,
)


@pytest.mark.parametrize(("value", "expected"), [
    (0.0, "deficient"), (7.1, "deficient"), (20.0, "deficient"),
    (20.01, "insufficient"), (20.5, "insufficient"), (21, "insufficient"),
    (29, "insufficient"), (29.99, "insufficient"),
    (30, "sufficient"), (80, "sufficient"),
])
def test_vitamin_d_class_bands(value: float, expected: str) -> None:
    assert vitamin_d_class(value) == expected


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_vitamin_d_class_rejects_nonsense(bad: float) -> None:
    with pytest.raises(ValueError):
        vitamin_d_class(bad)


def test_aofas_change() -> None:
    assert aofas_change(52, 90) == 38
    assert aofas_change(None, 90) is None


def test_lab_reference_ranges_are_configurable(tmp_path: Path) -> None:
    default = LabReferenceRanges()
    assert default.flag("esr_mm_h", 25) == "high"
    assert default.flag("esr_mm_h", None) is None
    strict = default.replace(esr_mm_h=ReferenceRange(None, 30, "mm/h"))
    assert strict.flag("esr_mm_h", 25) == "normal"
    path = tmp_path / "ranges.json"
    path.write_text(json.dumps({"crp_mg_l": {"low": None, "high": 10},
                                "hemoglobin_g_dl": [13, 17]}))
    loaded = LabReferenceRanges.from_json(path)
    assert loaded.flag("crp_mg_l", 8) == "normal"
    assert loaded.flag("hemoglobin_g_dl", 12.5) == "low"
    assert loaded.flag("rf", 20) == "high"  # default kept
    with pytest.raises(ValueError, match="unknown lab"):
        LabReferenceRanges.from_mapping({"esr": [0, 1]})
    with pytest.raises(KeyError):
        default.flag("nonsense", 1.0)


def test_template_reads_with_labs_and_units(tmp_path: Path) -> None:
    records = read_clinical_table(write_template(tmp_path / "template.csv"))
    assert [(r.patient, r.side) for r in records] == [
        ("P001", "R"), ("P002", "L"), ("P003", "R"), ("P003", "L")]
    first, second = records[0], records[1]
    assert first.esr_mm_h == 24 and LabReferenceRanges().flags(first)["esr_mm_h"] == "high"
    assert first.other_bones and first.bones[0].bone_name == "talus"
    assert second.vitamin_d_unit == "nmol/L"
    assert second.vitamin_d_ng_ml == pytest.approx(61.2 / NMOL_L_PER_NG_ML)
    assert second.vitamin_d_class == "insufficient"
    repo_copy = Path(__file__).resolve().parents[3] / "sample_data" / "clinical_template.csv"
    assert repo_copy.read_text(encoding="utf-8") == (tmp_path / "template.csv").read_text(
        encoding="utf-8")


def test_nmol_and_ng_columns_and_cell_units(tmp_path: Path) -> None:
    p = tmp_path / "units.csv"
    p.write_text("patient;age;sex;side;primary_bone;vitamin_d;vitamin_d_unit\n"
                 "a1;40;F;L;Talus;49,92;nmol/L\n"
                 "a2;41;M;R;navicular;25 ng/mL;\n", encoding="utf-8")
    a1, a2 = read_clinical_table(p)
    assert a1.vitamin_d_ng_ml == pytest.approx(20.0)
    assert a1.vitamin_d_class == "deficient" and a1.vitamin_d_unit == "nmol/L"
    assert a2.vitamin_d_ng_ml == 25 and a2.vitamin_d_unit == "ng/mL"
    q = tmp_path / "nmol.csv"
    q.write_text("patient,age,sex,side,primary_bone,vitd_nmol_l\nb,30,M,R,cuboid,74.88\n")
    [b] = read_clinical_table(q)
    assert b.vitamin_d_class == "sufficient" and b.vitamin_d_unit == "nmol/L"


def test_synonyms_and_bom(tmp_path: Path) -> None:
    p = tmp_path / "syn.csv"
    p.write_bytes("\ufeffPatient,Age,Sex,Side,Primary_Bone,other_bones,rheumatoid_arthritis\n"
                  "x1,33,kadın,sağ,median cuneiform,Lateral malleolus,evet\n"
                  "x2,34,male,both,talus,,no\n".encode("utf-8"))
    x1, x2r, x2l = read_clinical_table(p)
    assert (x1.sex, x1.side, x1.rheumatoid_arthritis) == ("F", "R", True)
    assert [b.bone_name for b in x1.bones] == ["intermediate_cuneiform", "fibula"]
    assert (x2r.side, x2l.side) == ("R", "L")


def test_configured_ranges_come_from_the_environment(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BMES_LAB_RANGES", raising=False)
    assert LabReferenceRanges.configured() == LabReferenceRanges()
    path = tmp_path / "lab.json"
    path.write_text('{"esr_mm_h": [null, 30]}')
    monkeypatch.setenv("BMES_LAB_RANGES", str(path))
    assert LabReferenceRanges.configured().flag("esr_mm_h", 25) == "normal"
    path.write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        LabReferenceRanges.configured()
