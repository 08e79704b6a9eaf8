"""Classification from the acquisition physics, on real vendor headers and variants.

No EPI, diffusion, ASL, BOLD, field map, phase image or localizer is classified T1 /
STIR / T2-FS / PD-FS; every stack keeps the evidence in ``sequence_reason``; anatomy
T1 series (Siemens fl2d, XA30 MPRAGE ``*tfl``) stay T1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.dicom import index_folder, write_series
from bmes_imaging.dicom._sequence import classify_stack
from bmes_imaging.dicom._stacks import SeriesStack
from bmes_imaging.volume import Volume

REAL_DICOM = Path(__file__).resolve().parents[3].parent / "shared" / "real-dicom"
ANATOMY = {"t1", "stir", "t2_fs", "pd_fs"}

#: Per vendor / collection: sub-folder -> (expected sequence or None for "not anatomy",
#: a word the reason must hold).
EXPECTED = {
    "siemens_classic": ("dcm_qa_decubitus", {
        "HFS/3_t1_fl2d_sag": ("t1", "T1"),
        "HFP/2_t1_fl2d_sag": ("t1", "T1"),
        "HFS/4_ep2d_diff_mddw_20_p2": (None, "DIFFUSION"),
        "HFP/3_ep2d_diff_mddw_20_p2": (None, "DIFFUSION"),
    }),
    "siemens_xa30_enhanced": ("dcm_qa_xa30", {
        "5_anat-T1w_acq-tfl": ("t1", "T1"),
        "7_func-bold_task-fa_run-1": (None, "FMRI"),
        "8_gre_field_mapping": (None, "field map"),
        "9_gre_field_mapping": (None, "phase"),
        "10_DWI_dir80_PA": (None, "DIFFUSION"),
        "11_DWI_dir80_PA": (None, "DIFFUSION"),
        "25_asl_2d_tra": (None, "ASL"),
        "27_asl_2d_tra": (None, "ASL"),
        "28_asl_2d_tra": (None, "ASL"),
    }),
    "siemens_mosaic": ("dcm_qa_mosaic", {
        "cmrr_Asc_6": (None, "MOSAIC"),
        "ep2d_Int_HF_5": (None, "MOSAIC"),
    }),
    "philips_enhanced": ("dcm_qa_enh", {"Philips": (None, "field map")}),
    "siemens_xa10_enhanced": ("dcm_qa_enh", {"Siemens/XA10": (None, "echo planar")}),
    "siemens_transfer_syntaxes": ("dcm_qa_ts", {".": (None, "MOSAIC")}),
    # three copies of one image (one SOPInstanceUID): each file indexed on its own
    "siemens_12bit": ("dcm_qa_12bit", {f: (None, "MOSAIC") for f in (
        "12bitSigned_0x0F0F.dcm", "12bitUnsigned.dcm", "12bitUnsigned_0x0F0F.dcm")}),
}


@pytest.fixture(scope="module")
def real_root() -> Path:
    if not REAL_DICOM.is_dir():
        pytest.skip(f"real vendor DICOM not found at {REAL_DICOM}")
    return REAL_DICOM


@pytest.mark.parametrize("vendor", list(EXPECTED))
def test_real_series_classified_from_physics(real_root, vendor):
    folder, cases = EXPECTED[vendor]
    for sub, (sequence, word) in cases.items():
        index = index_folder(real_root / folder / "In" / sub)
        assert index.stacks, sub
        for st in index.stacks:
            assert st.sequence_reason, (sub, st.stack_id)
            if sequence is None:
                assert st.sequence not in ANATOMY, (sub, st.sequence, st.sequence_reason)
            else:
                assert st.sequence == sequence, (sub, st.sequence_reason)
            assert word.lower() in st.sequence_reason.lower(), (sub, st.sequence_reason)


def test_no_real_non_anatomy_stack_is_anatomy(real_root, real_index):
    """Across every collection: only the two T1 anatomy series are T1, nothing is fluid."""
    seen = 0
    for folder in sorted(p for p in real_root.iterdir() if p.is_dir()):
        for st in real_index(folder.name).stacks:
            seen += 1
            assert st.sequence_reason
            if st.sequence in ANATOMY:
                assert st.sequence == "t1" and "t1" in st.series_description.lower(), st
    assert seen > 150


# ------------------------------------------------------- header variants, by vendor

def _stack(**fields) -> SeriesStack:
    base = {"repetition_time": 4000.0, "echo_time": 60.0, "scan_options": ("FS",),
            "image_orientation": (0, 1, 0, 0, 0, -1)}
    base.update(fields)
    return SeriesStack("1.2.3", (), **base)


@pytest.mark.parametrize("fields, word", [
    # Siemens: EPI by ScanningSequence, sequence names, ImageType, b-value names
    ({"scanning_sequence": ("EP",), "series_description": "t2_tse_fs_sag"}, "EP"),
    ({"sequence_name": "*epfid2d1_64", "series_description": "pd_fs"}, "epfid"),
    ({"sequence_name": "*ep_b1000#4"}, "b-value 1000"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "DIFFUSION", "NONE")}, "DIFFUSION"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "PERFUSION", "NONE")}, "PERFUSION"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "ASL", "NONE")}, "ASL"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "P", "ND")}, "phase"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC")}, "MOSAIC"),
    ({"sequence_name": "*fm2d2r", "repetition_time": 600.0, "echo_time": 5.0}, "field map"),
    # GE: EPI scan option and pulse names, b-value in the description, localizer
    ({"scan_options": ("EPI_GEMS", "FS"), "series_description": "Ax DWI"}, "EPI_GEMS"),
    ({"sequence_name": "epi2", "series_description": "PD FS"}, "echo planar"),
    ({"series_description": "AX b1000 FS"}, "b-value 1000"),
    ({"series_description": "Loc (Right)", "repetition_time": 500.0,
      "echo_time": 10.0}, "localizer"),
    # Philips: pulse names
    ({"sequence_name": "FEEPI", "series_description": "T2W_SPAIR"}, "echo planar"),
    ({"sequence_name": "DwiSE", "series_description": "PDW_SPAIR"}, "diffusion"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "T1", "FIELD_MAP", "R"),
      "repetition_time": 4.0, "echo_time": 1.5}, "FIELD_MAP"),
    # description words
    ({"series_description": "bold_rest_run1"}, "bold"),
    ({"series_description": "pcasl_tra"}, "arterial spin"),
    ({"series_description": "B0 map"}, "field map"),
    ({"image_type": ("ORIGINAL", "PRIMARY", "LOCALIZER")}, "LOCALIZER"),
])
def test_non_anatomy_headers_are_other_with_reason(fields, word):
    c = classify_stack(_stack(**fields))
    assert c.sequence == "other", c
    assert word.lower() in c.reason.lower(), c.reason


@pytest.mark.parametrize("fields, word", [
    ({"sequence_name": "*tfl3d1_16ns", "series_description": "sag 3d", "scan_options": (),
      "repetition_time": 2300.0, "echo_time": 2.3, "inversion_time": 900.0}, "tfl3d"),
    ({"sequence_name": "*fl3d1", "flip_angle": 12.0, "scan_options": (),
      "repetition_time": 9.0, "echo_time": 4.0}, "FLASH"),
    ({"sequence_name": "T1TFE", "mr_acquisition_type": "3D", "scan_options": (),
      "series_description": "sag 3D", "repetition_time": 8.0, "echo_time": 3.7}, "TFE"),
    ({"series_description": "3D_MPRAGE", "scan_options": (), "repetition_time": 2000.0,
      "echo_time": 3.0}, "MPRAGE"),
    ({"sequence_name": "efgre3d", "scan_options": (), "series_description": "Sag BRAVO",
      "repetition_time": 8.0, "echo_time": 3.0}, "BRAVO"),
])
def test_vendor_t1_gradient_echo_names_are_t1(fields, word):
    c = classify_stack(_stack(**fields))
    assert c.sequence == "t1", c
    assert word.lower() in c.reason.lower(), c.reason


def test_genuine_fluid_sensitive_series_stay_fluid_sensitive():
    """The physics checks do not touch ordinary TSE / STIR headers."""
    assert classify_stack(_stack(series_description="t2_tirm_sag",
                                 scanning_sequence=("SE", "IR"),
                                 inversion_time=150.0)).sequence == "stir"
    assert classify_stack(_stack(series_description="pd_tse_fs_sag", echo_time=30.0,
                                 scanning_sequence=("SE",),
                                 sequence_name="*tse2d1_13")).sequence == "pd_fs"
    assert classify_stack(_stack(series_description="Sag T2 FRFSE FS",
                                 scan_options=("FAST_GEMS", "FS"))).sequence == "t2_fs"


def test_ge_three_plane_localizer_of_nine_slices_a_plane(tmp_path):
    """One series holding sagittal, coronal and axial groups of 9 slices is a localizer
    (any slice count), even without a telling description."""
    rng = np.random.default_rng(0)
    uid = "1.2.826.0.1.3680043.8.498.777"
    planes = {"sag": np.array([[0, 0, -1], [-1, 0, 0], [0, -1, 0]], float),
              "cor": np.array([[-1, 0, 0], [0, 0, 1], [0, -1, 0]], float),
              "ax": np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], float)}
    for n, (name, rot) in enumerate(planes.items()):
        aff = np.eye(4)
        aff[:3, :3] = rot @ np.diag([1.0, 1.0, 6.0])
        vol = Volume(rng.integers(0, 500, (32, 32, 9)).astype(np.float32), aff)
        write_series(vol, tmp_path / name, patient_id="1", series_instance_uid=uid,
                     series_number=1, series_description="3 pl", uid_seed=name,
                     attributes={"RepetitionTime": 500, "EchoTime": 10,
                                 "ScanningSequence": "SE"},
                     filename_pattern=f"{n}_{{index:03d}}.dcm")
    index = index_folder(tmp_path)
    assert len(index.stacks) == 3
    for st in index.stacks:
        assert st.localizer and st.sequence == "other", st.sequence_reason
        assert "localizer" in st.sequence_reason


def test_time_of_flight_flash_is_not_t1():
    """Siemens ``*fl3d1r_t70`` (ramped 3D FLASH: TOF angiography) is not a T1 FLASH."""
    c = classify_stack(_stack(sequence_name="*fl3d1r_t70", flip_angle=25.0, scan_options=(),
                              scanning_sequence=("GR",), repetition_time=22.0,
                              echo_time=3.6, series_description="angio"))
    assert c.sequence == "other", c


def test_mosaic_diffusion_volumes_name_their_b_value(real_root):
    """Each volume of a Siemens mosaic DWI series is a stack whose split reason names
    the volume and its b-value (CSA B_value)."""
    stacks = index_folder(real_root / "dcm_qa_decubitus/In/HFS/4_ep2d_diff_mddw_20_p2").stacks
    assert len(stacks) == 13
    reasons = [st.split_reason for st in stacks]
    assert all("of 13 of a 4-D Siemens mosaic series" in r for r in reasons)
    assert sum("b-value 0" in r for r in reasons) >= 1
    assert sum("b-value 1000" in r for r in reasons) >= 10
