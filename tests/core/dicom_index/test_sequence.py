"""Sequence classification across vendor conventions, laterality, and T1-fluid pairing."""

from __future__ import annotations

from typing import Any

import pytest

from bmes_imaging.dicom import classify_stack, index_folder, pair_series
from bmes_imaging.dicom._sequence import side_of
from bmes_imaging.dicom._stacks import SeriesStack

SAG = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
COR = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
AX = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def stack(description: str = "", **kw: Any) -> SeriesStack:
    kw.setdefault("n_images", 20)
    kw.setdefault("modality", "MR")
    return SeriesStack(kw.pop("stack_id", description or "x"), (),
                       series_description=description, **kw)


SE = ("SE",)
IR = ("IR",)

# (vendor, description, header attributes, expected sequence)
VENDOR_TABLE: list[tuple[str, str, dict[str, Any], str]] = [
    # Siemens
    ("siemens", "t1_tse_sag", {"scanning_sequence": SE, "repetition_time": 600.0,
                                   "echo_time": 12.0}, "t1"),
    ("siemens", "t2_tirm_sag", {"scanning_sequence": ("SE", "IR"), "repetition_time": 4000.0,
                                    "echo_time": 40.0, "inversion_time": 150.0}, "stir"),
    ("siemens", "t2_tse_fs_sag", {"scanning_sequence": SE, "scan_options": ("FS",),
                                      "repetition_time": 4000.0, "echo_time": 80.0}, "t2_fs"),
    ("siemens", "pd_tse_fs_cor", {"scanning_sequence": SE, "scan_options": ("FS",),
                                      "repetition_time": 3000.0, "echo_time": 30.0}, "pd_fs"),
    ("siemens", "stir_cor", {}, "stir"),
    ("siemens", "t2_tse_sag", {"repetition_time": 4000.0, "echo_time": 90.0}, "other"),
    ("siemens", "localizer", {}, "other"),
    ("siemens", "t1_tse_fs_sag_post", {"scan_options": ("FS",)}, "t1"),
    ("siemens", "t2_tse_dixon_sag_W", {}, "t2_fs"),
    ("siemens", "t2_tse_dixon_sag_F", {}, "other"),
    ("siemens", "ep2d_diff_tra", {}, "other"),
    ("siemens", "t2_tirm_tra_dark-fluid", {}, "other"),
    ("siemens", "t1_vibe_fs_tra", {}, "t1"),
    ("siemens", "pd_space_fs_sag_iso", {}, "pd_fs"),
    # GE
    ("ge", "Sag T1 FSE", {"repetition_time": 550.0, "echo_time": 10.0}, "t1"),
    ("ge", "STIR", {"scanning_sequence": ("SE", "IR"), "inversion_time": 150.0}, "stir"),
    ("ge", "Cor STIR", {}, "stir"),
    ("ge", "T2 FRFSE FS", {"repetition_time": 4200.0, "echo_time": 85.0}, "t2_fs"),
    ("ge", "Ax PD FS", {"repetition_time": 3000.0, "echo_time": 30.0}, "pd_fs"),
    ("ge", "Sag PD FSE FS", {}, "pd_fs"),
    ("ge", "WATER: Sag T2 IDEAL", {}, "t2_fs"),
    ("ge", "FAT: Sag T2 IDEAL", {}, "other"),
    ("ge", "Sag T2 FSE", {}, "other"),
    ("ge", "3-Pl Loc", {}, "other"),
    ("ge", "3 Plane Localizer T1", {}, "other"),
    ("ge", "Ax T2 FLAIR", {}, "other"),
    # Philips
    ("philips", "T1W_TSE_SAG", {}, "t1"),
    ("philips", "STIR_COR", {}, "stir"),
    ("philips", "T2W_SPAIR", {}, "t2_fs"),
    ("philips", "T2W_TSE_SPAIR SAG", {}, "t2_fs"),
    ("philips", "PDW_SPAIR", {}, "pd_fs"),
    ("philips", "PDW_SPIR_COR", {}, "pd_fs"),
    ("philips", "T2W_SPIR", {}, "t2_fs"),
    ("philips", "Survey", {}, "other"),
    ("philips", "PDW_TSE", {}, "other"),
    ("philips", "T2W_mDIXON_W", {}, "t2_fs"),
    ("philips", "STIR_TSE", {}, "stir"),
    # Canon / Toshiba
    ("canon", "T1WI", {}, "t1"),
    ("canon", "Sag T1WI", {}, "t1"),
    ("canon", "STIR", {}, "stir"),
    ("canon", "FS T2WI", {}, "t2_fs"),
    ("canon", "T2WI_FS_COR", {}, "t2_fs"),
    ("canon", "PDWI FS", {}, "pd_fs"),
    ("canon", "FS PDWI", {}, "pd_fs"),
    ("canon", "FSE T2WI", {}, "other"),
    ("canon", "PDWI FatSat", {}, "pd_fs"),
    ("canon", "FS-T2WI_SAG", {}, "t2_fs"),
    ("other", "DP FS SAG", {}, "pd_fs"),
]


@pytest.mark.parametrize(("vendor", "description", "attrs", "expected"), VENDOR_TABLE,
                         ids=[f"{v}:{d}" for v, d, _a, _e in VENDOR_TABLE])
def test_vendor_descriptions(vendor, description, attrs, expected):
    c = classify_stack(stack(description, **attrs))
    assert c.sequence == expected, c.reason
    assert c.reason  # the evidence is recorded


# (header attributes without description, expected sequence, word expected in reason)
HEADER_TABLE: list[tuple[dict[str, Any], str, str]] = [
    ({"scanning_sequence": IR, "repetition_time": 5000.0, "echo_time": 30.0,
          "inversion_time": 150.0}, "stir", "inversion time 150"),
    ({"scanning_sequence": ("SE", "IR"), "sequence_name": "*tir2d1_13",
          "inversion_time": 220.0, "repetition_time": 4500.0, "echo_time": 35.0}, "stir", "IR"),
    ({"sequence_name": "*tir2d1_13", "inversion_time": 160.0, "repetition_time": 4500.0,
          "echo_time": 35.0}, "stir", "sequence name"),
    ({"scanning_sequence": SE, "repetition_time": 500.0, "echo_time": 15.0}, "t1", "TR 500"),
    ({"scanning_sequence": SE, "repetition_time": 3500.0, "echo_time": 90.0,
          "scan_options": ("FS", "PFP")}, "t2_fs", "ScanOptions FS"),
    ({"scanning_sequence": SE, "repetition_time": 3000.0, "echo_time": 35.0,
          "scan_options": ("SFS",)}, "pd_fs", "PD"),
    ({"scanning_sequence": SE, "repetition_time": 3000.0, "echo_time": 35.0,
          "scan_options": ("SAT1",)}, "other", "without fat suppression"),
    ({"scanning_sequence": IR, "repetition_time": 9000.0, "echo_time": 120.0,
          "inversion_time": 2500.0}, "other", "FLAIR"),
    ({"scanning_sequence": ("GR",), "repetition_time": 20.0, "echo_time": 4.0,
      "flip_angle": 60.0}, "t1", "spoiled gradient echo"),
    ({"scanning_sequence": ("GR",), "repetition_time": 14.0, "echo_time": 5.0,
      "flip_angle": 25.0}, "other", "gradient echo"),
    ({}, "other", "no description keyword"),
    ({"repetition_time": 4000.0, "echo_time": 70.0, "image_type": ("DERIVED", "PRIMARY",
                                                                "DIXON", "WATER")},
     "t2_fs", "WATER"),
]


@pytest.mark.parametrize(("attrs", "expected", "word"), HEADER_TABLE)
def test_header_evidence(attrs, expected, word):
    c = classify_stack(stack("", **attrs))
    assert c.sequence == expected, c.reason
    assert word in c.reason


def test_series_description_wins_over_a_generic_protocol_name():
    c = classify_stack(stack("T2 FS SAG", protocol_name="ANKLE T1 T2 PD"))
    assert c.sequence == "t2_fs", c.reason
    c = classify_stack(stack("SAG 3", protocol_name="t2_tirm_sag"))
    assert c.sequence == "stir", c.reason


def test_description_names_stir_even_without_ir_tags():
    c = classify_stack(stack("cor_stir", repetition_time=4000.0, echo_time=40.0))
    assert c.sequence == "stir" and "STIR" in c.reason


@pytest.mark.parametrize(("iop", "description", "plane"), [
    (SAG, "", "sagittal"), (COR, "", "coronal"), (AX, "", "axial"),
    ((1.0, 0.0, 0.0, 0.0, 0.866, -0.5), "", "oblique"),
    (None, "T1 SAG", "sagittal"), (None, "Ax PD FS", "axial"), (None, "t1_tse_tra", "axial"),
    (None, "STIR", None),
])
def test_plane(iop, description, plane):
    assert classify_stack(stack(description, image_orientation=iop)).plane == plane


@pytest.mark.parametrize(("kw", "side"), [
    ({"laterality": "L"}, "L"),
    ({"description": "PD_FS_SAG_R"}, "R"),
    ({"description": "RT ANKLE T1"}, "R"),
    ({"description": "T1 SAG LEFT FOOT"}, "L"),
    ({"description": "Sag STIR L "}, "L"),
    ({"description": "T2W_SPAIR", "study_description": "Ayak bilegi MR sağ"}, "R"),
    ({"description": "t1_tse_sag", "protocol_name": "sol ayak"}, "L"),
    ({"description": "T1 R L compare"}, None),
    ({"description": "Sag T1 FSE"}, None),
    ({"description": "T2W_SPAIR", "body_part": "ANKLE"}, None),
])
def test_side(kw, side):
    desc = kw.pop("description", "")
    assert side_of(stack(desc, **kw))[0] == side


# --- pairing ---------------------------------------------------------------------------

def geo(iop: tuple[float, ...], n: int = 20, origin: tuple[float, float, float] = (0, 0, 0),
        step: float = 3.0, size: int = 256, spacing: float = 0.6) -> dict[str, Any]:
    """Geometry fields of a stack: n slices stepping along the normal."""
    import numpy as np

    a = np.asarray(iop)
    normal = np.cross(a[:3], a[3:])
    positions = tuple(tuple(float(v) for v in np.asarray(origin) + normal * step * k)
                      for k in range(n))
    return {"image_orientation": iop, "positions": positions, "rows": size, "columns": size,
                "pixel_spacing": (spacing, spacing), "slice_thickness": step, "n_images": n}


def classified(st: SeriesStack) -> SeriesStack:
    c = classify_stack(st)
    return st.replace(sequence=c.sequence, plane=c.plane, sequence_reason=c.reason)


def study(*stacks: SeriesStack) -> list[SeriesStack]:
    return [classified(s.replace(study_instance_uid="1.2.3", patient_id="7")) for s in stacks]


def test_stir_preferred_over_t2_fs_and_pd_fs():
    stacks = study(
        stack("t1_tse_sag", stack_id="t1", series_number=2, **geo(SAG)),
        stack("pd_tse_fs_sag", stack_id="pd", series_number=3, **geo(SAG)),
        stack("t2_tse_fs_sag", stack_id="t2", series_number=4, **geo(SAG)),
        stack("t2_tirm_sag", stack_id="stir", series_number=5, **geo(SAG)),
    )
    result = pair_series(stacks)
    assert len(result.pairs) == 1 and result.unpaired == []
    p = result.pairs[0]
    assert (p.t1.stack_id, p.fluid.stack_id) == ("t1", "stir")
    assert p.same_plane and p.overlap == pytest.approx(1.0)
    assert "STIR" in p.reason and "same plane (sagittal)" in p.reason
    assert p.patient_id == "7" and p.study_instance_uid == "1.2.3"
    # without the STIR, T2 FS wins over PD FS
    p2 = pair_series([s for s in stacks if s.stack_id != "stir"]).pairs[0]
    assert p2.fluid.stack_id == "t2"


def test_same_plane_t1_is_chosen():
    stacks = study(
        stack("t1_tse_sag", stack_id="t1sag", **geo(SAG)),
        stack("t1_tse_cor", stack_id="t1cor", **geo(COR, origin=(-30, 0, 0))),
        stack("stir_cor", stack_id="stircor", **geo(COR, origin=(-30, 0, 0))),
    )
    p = pair_series(stacks).pairs[0]
    assert (p.t1.stack_id, p.fluid.stack_id) == ("t1cor", "stircor")
    assert p.same_plane


def test_best_coverage_overlap_is_chosen():
    stacks = study(
        stack("t1_tse_sag", stack_id="t1", **geo(SAG)),
        stack("stir_sag", stack_id="far", **geo(SAG, origin=(45, 0, 0))),
        stack("stir_sag", stack_id="near", **geo(SAG, origin=(3, 0, 0))),
    )
    p = pair_series(stacks).pairs[0]
    assert p.fluid.stack_id == "near"
    assert 0.9 < p.overlap < 1.0
    assert "coverage overlap" in p.reason


def test_plain_t1_preferred_over_fat_suppressed_post_contrast():
    stacks = study(
        stack("t1_tse_fs_sag_post_gd", stack_id="post", scan_options=("FS",), **geo(SAG)),
        stack("t1_tse_sag", stack_id="plain", **geo(SAG)),
        stack("stir_sag", stack_id="stir", **geo(SAG)),
    )
    assert pair_series(stacks).pairs[0].t1.stack_id == "plain"


def test_two_sides_in_one_study_from_descriptions():
    stacks = study(
        stack("T1 SAG R", stack_id="t1r", **geo(SAG, origin=(-80, 0, 0))),
        stack("STIR SAG R", stack_id="stirr", **geo(SAG, origin=(-80, 0, 0))),
        stack("T1 SAG L", stack_id="t1l", **geo(SAG, origin=(80, 0, 0))),
        stack("PD FS SAG L", stack_id="pdl", **geo(SAG, origin=(80, 0, 0))),
        stack("T2 FS AX", stack_id="noside", **geo(AX)),
    )
    result = pair_series(stacks)
    pairs = {p.side: (p.t1.stack_id, p.fluid.stack_id) for p in result.pairs}
    assert pairs == {"R": ("t1r", "stirr"), "L": ("t1l", "pdl")}


def test_unsided_series_join_the_only_side_of_the_study():
    stacks = study(
        stack("t1_tse_sag", stack_id="t1", laterality="R", **geo(SAG)),
        stack("stir_sag", stack_id="stir", **geo(SAG)),
    )
    result = pair_series(stacks)
    assert [(p.side, p.fluid.stack_id) for p in result.pairs] == [("R", "stir")]


def test_unpaired_reasons():
    only_t1 = study(stack("t1_tse_sag", **geo(SAG)))
    assert pair_series(only_t1).unpaired == [("1.2.3", None, "no fluid-sensitive series")]
    only_stir = study(stack("stir_sag", **geo(SAG)))
    assert pair_series(only_stir).unpaired == [("1.2.3", None, "no T1")]
    neither = study(stack("t2_tse_sag", **geo(SAG)))
    assert pair_series(neither).unpaired == [
        ("1.2.3", None, "no T1 and no fluid-sensitive series")]
    localizer = study(stack("t1_tse_sag", **geo(SAG)),
                      stack("stir", localizer=True, **geo(SAG)))
    assert pair_series(localizer).unpaired[0][2] == "no fluid-sensitive series"


def test_pairing_from_written_files(tmp_path, make_series):
    """Index real files of two studies and pair them; laterality from the tag."""
    t1 = {"ScanningSequence": "SE", "RepetitionTime": 600, "EchoTime": 12}
    stir = {"ScanningSequence": "IR", "RepetitionTime": 4000, "EchoTime": 40,
            "InversionTime": 160}
    for i, side in enumerate(("L", "R")):
        uid = f"1.2.826.0.1.3680043.8.498.{100 + i}"
        make_series(tmp_path / side, description="Sag T1 FSE", number=3, study=uid,
                    attributes={**t1, "Laterality": side}, n=5)
        make_series(tmp_path / side, description="COR STIR", number=4, study=uid,
                    plane="coronal", attributes={**stir, "Laterality": side}, n=5)
        make_series(tmp_path / side, description="Sag STIR", number=5, study=uid,
                    attributes={**stir, "Laterality": side}, n=5)
    result = pair_series(index_folder(tmp_path))
    assert result.unpaired == []
    assert sorted(p.side for p in result.pairs) == ["L", "R"]
    for p in result.pairs:
        assert (p.t1.series_number, p.fluid.series_number) == (3, 5)
        assert p.t1.plane == p.fluid.plane == "sagittal"
