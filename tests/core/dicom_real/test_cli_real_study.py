"""``bmes index`` and ``bmes detect`` on a study that also holds real EPI, diffusion,
ASL, field-map and localizer series.

A phantom foot study (T1 + STIR) gets, in its own folder and with its own
StudyInstanceUID and PatientID, copies of real Siemens mosaic EPI and diffusion,
XA30 enhanced ASL and field-map series, a GE-style three-plane localizer ("Loc (Right)",
9 slices a plane) and symlinks to a further real diffusion series. ``bmes index`` lists
every stack with its classification and reason; the pairing (and so ``bmes detect``)
takes the phantom's T1 and STIR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bmes_imaging.cli import main
from bmes_imaging.dicom import index_folder, pair_series, write_series
from bmes_imaging.volume import Volume

from .conftest import REAL_DICOM

COPIED = {
    "mosaic_bold": "dcm_qa_mosaic/In/cmrr_Asc_6",
    "mosaic_dwi": "dcm_qa_decubitus/In/HFS/4_ep2d_diff_mddw_20_p2",
    "xa30_asl": "dcm_qa_xa30/In/25_asl_2d_tra",
    "xa30_fieldmap": "dcm_qa_xa30/In/8_gre_field_mapping",
    "xa30_phase": "dcm_qa_xa30/In/9_gre_field_mapping",
}


def _copy_into_study(src: Path, dst: Path, study_uid: str, patient_id: str,
                     body_part: str) -> None:
    """Copies of a real series as if acquired in the phantom's study (same study UID,
    patient and body part)."""
    import pydicom

    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = study_uid
        ds.PatientID = patient_id
        ds.BodyPartExamined = body_part
        ds.save_as(dst / f.name)


def _three_plane_localizer(folder: Path, study_uid: str, patient_id: str) -> None:
    rng = np.random.default_rng(3)
    planes = [np.array([[0, 0, -1], [-1, 0, 0], [0, -1, 0]], float),
              np.array([[-1, 0, 0], [0, 0, 1], [0, -1, 0]], float),
              np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1]], float)]
    for n, rot in enumerate(planes):
        aff = np.eye(4)
        aff[:3, :3] = rot @ np.diag([2.0, 2.0, 8.0])
        vol = Volume(rng.integers(0, 300, (64, 64, 9)).astype(np.float32), aff)
        write_series(vol, folder, patient_id=patient_id, study_instance_uid=study_uid,
                     series_instance_uid="1.2.826.0.1.3680043.8.498.7777", series_number=1,
                     series_description="Loc (Right)", uid_seed=f"loc{n}",
                     manufacturer="GE MEDICAL SYSTEMS",
                     attributes={"RepetitionTime": 500, "EchoTime": 10,
                                 "ScanningSequence": "SE"},
                     filename_pattern=f"loc{n}_{{index:02d}}.dcm")


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    if not REAL_DICOM.is_dir():
        pytest.skip(f"real vendor DICOM not found at {REAL_DICOM}")
    import pydicom

    root = tmp_path_factory.mktemp("real_study")
    assert main(["phantom", str(root / "ph"), "--seed", "3", "--side", "R"]) == 0
    dicom = root / "ph" / "dicom"
    first = pydicom.dcmread(next(dicom.glob("*.dcm")), stop_before_pixels=True)
    study_uid, patient_id = str(first.StudyInstanceUID), str(first.PatientID)
    body_part = str(first.get("BodyPartExamined") or "ANKLE")
    for name, sub in COPIED.items():
        _copy_into_study(REAL_DICOM / sub, dicom / name, study_uid, patient_id, body_part)
    _three_plane_localizer(dicom / "localizer", study_uid, patient_id)
    links = dicom / "linked_dwi"  # symlinks: their own study, followed as files
    links.mkdir()
    for f in sorted((REAL_DICOM / "dcm_qa_decubitus/In/HFP/3_ep2d_diff_mddw_20_p2")
                    .glob("*.dcm")):
        (links / f.name).symlink_to(f)
    return root / "ph"


def test_bmes_index_lists_each_stack_with_classification_and_reason(study, capsys):
    assert main(["index", str(study / "dicom")]) == 0
    printed = capsys.readouterr().out
    index = index_folder(study / "dicom")
    by_folder: dict[str, list] = {}
    for st in index.stacks:
        by_folder.setdefault(st.files[0].parent.name, []).append(st)
    expected_reason = {"mosaic_bold": "MOSAIC", "mosaic_dwi": "DIFFUSION",
                       "xa30_asl": "ASL", "xa30_fieldmap": "field map",
                       "xa30_phase": "phase", "localizer": "localizer",
                       "linked_dwi": "DIFFUSION"}
    for folder, word in expected_reason.items():
        assert by_folder.get(folder), folder
        for st in by_folder[folder]:
            assert st.sequence == "other" and word.lower() in st.sequence_reason.lower()
            assert st.sequence_reason in printed  # the listing prints the reason whole
    assert len(by_folder["mosaic_bold"]) == 6 and len(by_folder["mosaic_dwi"]) == 13
    assert len(by_folder["localizer"]) == 3
    assert "volume 1 of 6 of a 4-D Siemens mosaic series" in printed
    assert "volume 1 of 7 of a 4-D series stored as one multi-frame file" in printed
    assert {st.sequence for st in by_folder["dicom"]} == {"t1", "stir"}
    assert "T1 series 3 + stir series 4" in printed


def test_pairing_and_bmes_detect_take_the_anatomy_series(study, tmp_path, capsys):
    (pair,) = pair_series(index_folder(study / "dicom")).pairs
    assert pair.t1.files[0].parent.name == "dicom" == pair.fluid.files[0].parent.name
    assert (pair.t1.sequence, pair.fluid.sequence) == ("t1", "stir")
    out = tmp_path / "out"
    rc = main(["detect", str(study / "dicom"), "--out", str(out),
               "--bones", str(study / "truth" / "bones.nii.gz")])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert (out / "involvement.csv").is_file()


def test_without_the_stir_detect_refuses_instead_of_pairing_an_epi(study, tmp_path, capsys):
    """With the phantom's STIR taken out, the real EPI / diffusion series (long TR,
    intermediate TE: 'PD-FS' by TR / TE alone) are not taken as the fluid series."""
    import shutil

    import pydicom

    folder = tmp_path / "no_stir"
    shutil.copytree(study / "dicom", folder, ignore=shutil.ignore_patterns("linked_dwi"))
    for f in folder.glob("*.dcm"):
        if "tirm" in str(pydicom.dcmread(f, stop_before_pixels=True).SeriesDescription):
            f.unlink()
    rc = main(["detect", str(folder), "--out", str(tmp_path / "out"),
               "--bones", str(study / "truth" / "bones.nii.gz")])
    captured = capsys.readouterr()
    assert rc != 0
    text = captured.out + captured.err
    assert "no fluid-sensitive series" in text
    assert "duplicate" not in text
