"""DICOM SR (TID 1500): dciodvfy clean, read back by highdicom with the same values,
references the SEG segments and the T1 series; de-identified; the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from bmes_imaging import Volume
from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.detection import grade_for_fraction
from bmes_imaging.errors import ExportError
from bmes_imaging.export import Pseudonymizer, read_edema_seg, read_edema_sr, write_edema_sr

from .conftest import finding_for, small_t1
from .test_seg_complete import dciodvfy_errors

needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                    reason="dciodvfy (dicom3tools) missing")


@pytest.fixture
def study(tmp_path: Path) -> tuple[Volume, np.ndarray, np.ndarray]:
    t1 = small_t1(tmp_path / "t1", seed=4, shape=(40, 32, 8), uid_seed="srtest")
    bones = np.zeros(t1.shape, np.uint8)
    bones[5:20, 5:20, 2:6] = int(Bone.TALUS)
    bones[22:35, 5:25, 1:7] = int(Bone.CALCANEUS)
    bones[2:8, 25:30, 3:5] = int(Bone.FIRST_METATARSAL)
    edema = np.zeros_like(bones)
    edema[6:18, 6:18, 2:6] = int(Bone.TALUS)          # 64 % of the talus: grade 3
    edema[25:28, 10:14, 2:4] = int(Bone.CALCANEUS)    # a small share
    edema[3:5, 26:28, 3:4] = int(Bone.FIRST_METATARSAL)
    return t1, bones, edema


def _expected(t1: Volume, bones: np.ndarray, edema: np.ndarray, bone: Bone) -> tuple:
    voxel_ml = float(np.prod(t1.voxel_sizes)) / 1000.0
    edema_ml = np.count_nonzero(edema == int(bone)) * voxel_ml
    fraction = edema_ml / (np.count_nonzero(bones == int(bone)) * voxel_ml)
    return edema_ml, fraction, grade_for_fraction(fraction)


@needs_dciodvfy
def test_sr_validates_and_reads_back(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    findings = [finding_for(Bone.TALUS), finding_for(Bone.CALCANEUS),
                finding_for(Bone.FIRST_METATARSAL, "candidate")]
    out = write_edema_sr(t1, tmp_path / "sr.dcm", seg_path=tmp_path / "seg.dcm",
                         edema=t1.with_array(edema), bones=t1.with_array(bones),
                         findings=findings, reader="Reader^A")
    assert dciodvfy_errors(out.path) == [] and dciodvfy_errors(out.seg.path) == []
    back = {m.bone: m for m in read_edema_sr(out.path)}
    assert set(back) == {Bone.TALUS, Bone.CALCANEUS}  # the candidate is not reported
    for bone, m in back.items():
        edema_ml, fraction, grade = _expected(t1, bones, edema, bone)
        assert m.edema_volume_ml == pytest.approx(edema_ml, rel=1e-6)
        assert m.fraction == pytest.approx(fraction, rel=1e-6)
        assert m.grade == grade and m.status == "confirmed"
        assert m.segment_number == out.seg.edema_segments[bone]
    assert (back[Bone.TALUS].grade, back[Bone.CALCANEUS].grade) == (3, 1)
    # the referenced SEG and its segments, and the T1 series as evidence
    sr = hd.sr.srread(str(out.path))
    group = sr.content.get_volumetric_roi_measurement_groups()[0]
    assert group.referenced_segment.referenced_sop_instance_uid == out.seg.sop_instance_uid
    ds = pydicom.dcmread(out.path)
    evidence = {str(i.ReferencedSOPInstanceUID) for s in
                ds.CurrentRequestedProcedureEvidenceSequence
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
    assert set(t1.info.sop_instance_uids) | {out.seg.sop_instance_uid} <= evidence
    assert ds.VerificationFlag == "VERIFIED" and ds.CompletionFlag == "COMPLETE"
    assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == "Reader^A"
    observers = sr.content.get_observer_contexts()
    assert "Reader^A" in str(observers[0])
    masks = read_edema_seg(out.seg.path, t1)
    assert masks.confirmed == (Bone.TALUS, Bone.CALCANEUS)


@needs_dciodvfy
def test_deidentified_sr(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    pseudo = Pseudonymizer(b"s" * 32)
    out = write_edema_sr(t1, tmp_path / "sr.dcm", seg_path=tmp_path / "seg.dcm",
                         edema=t1.with_array(edema), bones=t1.with_array(bones),
                         findings=[finding_for(Bone.TALUS)], reader="Reader^A",
                         deidentify=True, pseudonymizer=pseudo)
    assert dciodvfy_errors(out.path) == []
    raw = out.path.read_bytes()
    assert b"DOE^JANE" not in raw and b"Reader^A" not in raw
    ds = pydicom.dcmread(out.path)
    seg = pydicom.dcmread(out.seg.path)
    assert ds.PatientID == pseudo.patient("7") == seg.PatientID
    assert str(ds.VerifyingObserverSequence[0].VerifyingObserverName) == str(
        seg.ContentCreatorName)  # one reader, one pseudonym
    methods = {str(c.CodeValue) for c in ds.DeidentificationMethodCodeSequence}
    assert {"113100", "113104", "113107", "113108"} <= methods
    copy = pydicom.dcmread(out.seg.source_files[0])
    for obj in (ds, seg):  # patient and study as in the copies: dates shifted once
        assert (obj.StudyDate, obj.StudyInstanceUID, obj.PatientID) == (
            copy.StudyDate, copy.StudyInstanceUID, copy.PatientID)
    assert copy.StudyDate != pydicom.dcmread(t1.info.source_files[0]).StudyDate
    copies = {str(pydicom.dcmread(p).SOPInstanceUID) for p in out.seg.source_files}
    evidence = {str(i.ReferencedSOPInstanceUID) for s in
                ds.CurrentRequestedProcedureEvidenceSequence
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
    assert copies <= evidence and not set(t1.info.sop_instance_uids) & evidence
    (m,) = read_edema_sr(out.path)
    assert m.edema_volume_ml == pytest.approx(_expected(t1, bones, edema, Bone.TALUS)[0])


def test_sr_refuses_without_confirmed_edema(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    with pytest.raises(ExportError, match="no confirmed edema"):
        write_edema_sr(t1, tmp_path / "sr.dcm", seg_path=tmp_path / "seg.dcm",
                       edema=t1.with_array(edema), bones=t1.with_array(bones),
                       findings=[finding_for(Bone.TALUS, "candidate")], reader="R")


def test_cli_sr(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    t1.with_array(edema).to_nifti(tmp_path / "edema.nii.gz")
    t1.with_array(bones).to_nifti(tmp_path / "bones.nii.gz")
    assert main(["export", "sr", str(tmp_path / "t1"), "--edema",
                 str(tmp_path / "edema.nii.gz"), "--bones", str(tmp_path / "bones.nii.gz"),
                 "--confirm", "talus,calcaneus", "--reader", "Reader^B",
                 "--out", str(tmp_path / "cli_sr.dcm")]) == 0
    assert (tmp_path / "cli_sr_seg.dcm").is_file()
    back = {m.bone: m for m in read_edema_sr(tmp_path / "cli_sr.dcm")}
    assert set(back) == {Bone.TALUS, Bone.CALCANEUS}
    assert back[Bone.TALUS].grade == _expected(t1, bones, edema, Bone.TALUS)[2]
