"""DICOM SEG export: passes dciodvfy, round-trips to identical masks, de-identifies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from bmes_imaging import Volume
from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.detection import BoneFinding
from bmes_imaging.dicom import load_series, write_series
from bmes_imaging.errors import ExportError
from bmes_imaging.export import Pseudonymizer, read_edema_seg, write_edema_seg


def _finding(bone: Bone, status: str) -> BoneFinding:
    return BoneFinding(bone, 2.0, 0.3, 0.15, 1, 0.6, 1.8, 0.9, status=status)


@pytest.fixture
def study(tmp_path: Path) -> tuple[Volume, np.ndarray, np.ndarray]:
    affine = np.array([[0, 0, -3.0, 12], [0.7, 0, 0, -50], [0, 0.7, 0, -40], [0, 0, 0, 1]])
    rng = np.random.default_rng(3)
    arr = rng.uniform(0, 800, (40, 32, 8)).astype(np.float32)
    write_series(Volume(arr, affine), tmp_path / "t1", patient_id="7",
                 patient_name="DOE^JANE", series_description="T1 SAG", uid_seed="segtest",
                 shuffle_seed=1)
    t1 = load_series(tmp_path / "t1")
    bones = np.zeros(t1.shape, np.uint8)
    bones[5:20, 5:20, 2:6] = int(Bone.TALUS)
    bones[22:35, 5:25, 1:7] = int(Bone.CALCANEUS)
    bones[2:8, 25:30, 3:5] = int(Bone.FIRST_METATARSAL)  # unverified code: generic concept
    bones[30:38, 25:31, 3:6] = int(Bone.FIFTH_METATARSAL)  # its own concept, 301000
    edema = np.zeros_like(bones)
    edema[8:12, 8:12, 3:5] = int(Bone.TALUS)
    edema[25:28, 10:14, 2:4] = int(Bone.CALCANEUS)
    return t1, bones, edema


def _dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                         check=False)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) missing")
def test_seg_validates_and_round_trips(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    findings = [_finding(Bone.TALUS, "confirmed"), _finding(Bone.CALCANEUS, "candidate")]
    out = write_edema_seg(t1, tmp_path / "seg.dcm", edema=t1.with_array(edema),
                          bones=t1.with_array(bones), findings=findings, reader="Reader^A")
    assert _dciodvfy_errors(out.path) == []
    assert set(out.edema_segments) == {Bone.TALUS}  # the candidate is not exported
    back = read_edema_seg(out.path, t1)
    assert np.array_equal(back.bones.array, bones)
    assert np.array_equal(back.edema.array, np.where(edema == int(Bone.TALUS), edema, 0))
    assert back.confirmed == (Bone.TALUS,) and back.reader == "Reader^A"
    ds = pydicom.dcmread(out.path)
    ref = {str(i.ReferencedSOPInstanceUID) for s in ds.ReferencedSeriesSequence
           for i in s.ReferencedInstanceSequence}
    assert ref == set(t1.info.sop_instance_uids)
    codes = {str(s.SegmentLabel): str(s.SegmentedPropertyTypeCodeSequence[0].CodeValue)
             for s in ds.SegmentSequence}
    assert codes["Talus"] == Bone.TALUS.info.snomed_code
    assert codes["First metatarsal"] == "280711000"  # Metatarsus: no confirmed own concept
    assert codes["Fifth metatarsal"] == "301000"  # Fifth metatarsal bone (HL7 FHIR R4 lists)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) missing")
def test_deidentified_seg_keeps_references(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    pseudo = Pseudonymizer(b"k" * 32)
    out = write_edema_seg(t1, tmp_path / "seg.dcm", edema=t1.with_array(edema),
                          bones=t1.with_array(bones), reader="Reader^A", deidentify=True,
                          pseudonymizer=pseudo,
                          findings=[_finding(Bone.CALCANEUS, "confirmed")])
    assert _dciodvfy_errors(out.path) == []
    ds = pydicom.dcmread(out.path)
    assert str(ds.PatientID) == pseudo.patient("7") and "DOE" not in str(ds.PatientName)
    assert ds.PatientIdentityRemoved == "YES" and "Reader" not in str(ds.ContentCreatorName)
    copies = [pydicom.dcmread(p) for p in out.source_files]
    assert all("DOE" not in str(c.PatientName) for c in copies)
    uids = [str(c.SOPInstanceUID) for c in copies]
    assert not set(uids) & set(t1.info.sop_instance_uids)
    back = read_edema_seg(out.path, t1, source_sop_instance_uids=uids)
    assert np.array_equal(back.edema.array, np.where(edema == int(Bone.CALCANEUS), edema, 0))
    assert np.array_equal(back.bones.array, bones)


def test_nothing_confirmed_is_refused(tmp_path: Path, study: tuple) -> None:
    t1, _, edema = study
    with pytest.raises(ExportError, match="candidates are never exported"):
        write_edema_seg(t1, tmp_path / "seg.dcm", edema=t1.with_array(edema),
                        findings=[_finding(Bone.TALUS, "candidate")], reader="R")


def test_cli_seg(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    t1.with_array(edema).to_nifti(tmp_path / "edema.nii.gz")
    t1.with_array(bones).to_nifti(tmp_path / "bones.nii.gz")
    status = main(["export", "seg", str(tmp_path / "t1"), "--edema",
                   str(tmp_path / "edema.nii.gz"), "--bones", str(tmp_path / "bones.nii.gz"),
                   "--confirm", "talus,calcaneus", "--reader", "Reader^B",
                   "--out", str(tmp_path / "cli.dcm")])
    assert status == 0
    back = read_edema_seg(tmp_path / "cli.dcm", t1)
    assert np.array_equal(back.edema.array, edema) and back.reader == "Reader^B"


def test_cli_seg_from_store_annotation(tmp_path: Path, study: tuple) -> None:
    from bmes_imaging.store import open_store

    t1, bones, edema = study
    url = str(tmp_path / "bmes.sqlite")
    store = open_store(url)  # the default annotation folder, as the CLI opens it
    try:
        store.save_annotation(str(t1.info.study_instance_uid), "Reader^C",
                              [_finding(Bone.TALUS, "confirmed"),
                               _finding(Bone.CALCANEUS, "candidate")],
                              t1.with_array(edema))
    finally:
        store.close()
    t1.with_array(bones).to_nifti(tmp_path / "bones.nii.gz")
    assert main(["export", "seg", str(tmp_path / "t1"), "--store", url, "--bones",
                 str(tmp_path / "bones.nii.gz"), "--out", str(tmp_path / "s.dcm")]) == 0
    back = read_edema_seg(tmp_path / "s.dcm", t1)
    assert back.reader == "Reader^C" and back.confirmed == (Bone.TALUS,)
    assert np.array_equal(back.edema.array, np.where(edema == int(Bone.TALUS), edema, 0))
