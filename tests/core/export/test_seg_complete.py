"""SEG completeness (issue 16): display colours, one code per bone, honest algorithm types,
``export seg --store`` with the same automatic bone segments as the review plugin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from bmes_imaging import Volume
from bmes_imaging.bones import Bone
from bmes_imaging.cli import main
from bmes_imaging.detection import BoneFinding
from bmes_imaging.dicom import load_series
from bmes_imaging.export import write_edema_seg
from bmes_imaging.export._seg import bone_code

from .conftest import small_t1

needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                    reason="dciodvfy (dicom3tools) missing")


def _finding(bone: Bone, status: str = "confirmed") -> BoneFinding:
    return BoneFinding(bone, 2.0, 0.3, 0.15, 1, 0.6, 1.8, 0.9, status=status)


def dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True,
                         check=False)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def _rgb(desc: pydicom.Dataset) -> tuple[int, int, int]:
    """The segment's RecommendedDisplayCIELabValue as RGB."""
    return hd.color.CIELabColor.from_dicom_value(
        tuple(int(v) for v in desc.RecommendedDisplayCIELabValue)).to_rgb()


@pytest.fixture
def study(tmp_path: Path) -> tuple[Volume, np.ndarray, np.ndarray]:
    t1 = small_t1(tmp_path / "t1", seed=5, shape=(36, 30, 6), uid_seed="segfull")
    bones = np.zeros(t1.shape, np.uint8)
    for k, bone in enumerate(Bone):  # every bone of the vocabulary, a small block each
        i, j = 2 + 8 * (k % 4), 2 + 7 * (k // 4)
        bones[i:i + 6, j:j + 5, 1:5] = int(bone)
    edema = np.where(np.isin(bones, [int(Bone.TALUS), int(Bone.FIRST_METATARSAL)]), bones, 0)
    edema[:, :, 1] = 0
    return t1, bones, edema.astype(np.uint8)


@needs_dciodvfy
def test_colours_codes_and_manual_bones(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    out = write_edema_seg(t1, tmp_path / "seg.dcm", edema=t1.with_array(edema),
                          bones=t1.with_array(bones), reader="Reader^A",
                          findings=[_finding(Bone.TALUS), _finding(Bone.FIRST_METATARSAL)])
    assert dciodvfy_errors(out.path) == []
    assert out.bone_algorithm_type == "MANUAL" and len(out.bone_segments) == len(Bone)
    seg = hd.seg.segread(str(out.path))
    for bone, number in {**out.bone_segments}.items():
        desc = seg.get_segment_description(number)
        assert np.allclose(_rgb(desc), bone.color, atol=1)
        assert str(desc.SegmentAlgorithmType) == "MANUAL"
        assert "SegmentationAlgorithmIdentificationSequence" not in desc
        code = desc.SegmentedPropertyTypeCodeSequence[0]
        assert (str(code.CodeValue), str(code.CodingSchemeDesignator)) == (
            bone_code(bone).value, "SCT")
        assert str(desc.TrackingID) == bone.bone_name
    for bone, number in out.edema_segments.items():
        desc = seg.get_segment_description(number)
        assert str(desc.SegmentAlgorithmType) == "SEMIAUTOMATIC"
        assert np.allclose(_rgb(desc), bone.color, atol=1)
        assert str(desc.AnatomicRegionSequence[0].CodeValue) == bone_code(bone).value
    # a code is the bone's own verified concept or a verified broader one, never an
    # unchecked code: every bone that has a verified code has one of its own
    verified = [b for b in Bone if b.info.snomed_verified]
    assert len({bone_code(b).value for b in verified}) == len(verified)
    for b in Bone:
        if not b.info.snomed_verified:
            assert bone_code(b).value != b.info.snomed_code


@needs_dciodvfy
def test_automatic_bones_are_declared_automatic(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    out = write_edema_seg(t1, tmp_path / "seg.dcm", edema=t1.with_array(edema),
                          bones=t1.with_array(bones), bone_source="automatic",
                          reader="Reader^A", findings=[_finding(Bone.TALUS)])
    assert dciodvfy_errors(out.path) == []
    seg = hd.seg.segread(str(out.path))
    desc = seg.get_segment_description(out.bone_segments[Bone.TALUS])
    assert str(desc.SegmentAlgorithmType) == "AUTOMATIC"
    assert "atlas" in str(desc.SegmentationAlgorithmIdentificationSequence[0]
                          .AlgorithmName)
    edesc = seg.get_segment_description(out.edema_segments[Bone.TALUS])
    assert "edema detection" in str(edesc.SegmentationAlgorithmIdentificationSequence[0]
                                    .AlgorithmName)


def test_cli_bones_file_is_manual(tmp_path: Path, study: tuple) -> None:
    t1, bones, edema = study
    t1.with_array(edema).to_nifti(tmp_path / "edema.nii.gz")
    t1.with_array(bones).to_nifti(tmp_path / "bones.nii.gz")
    assert main(["export", "seg", str(tmp_path / "t1"), "--edema",
                 str(tmp_path / "edema.nii.gz"), "--bones", str(tmp_path / "bones.nii.gz"),
                 "--confirm", "talus", "--reader", "R^B", "--out",
                 str(tmp_path / "m.dcm")]) == 0
    ds = pydicom.dcmread(tmp_path / "m.dcm")
    types = {str(s.SegmentLabel): str(s.SegmentAlgorithmType) for s in ds.SegmentSequence}
    assert types["Talus"] == "MANUAL" and types["Talus edema"] == "SEMIAUTOMATIC"


@pytest.mark.slow
@needs_dciodvfy
def test_cli_store_writes_the_automatic_bone_segments(tmp_path: Path) -> None:
    """Without --bones, ``export seg --db`` exports the foot atlas' bone masks (as the
    review plugin does), declared AUTOMATIC: the same segments as automatic_bones."""
    from bmes_imaging.detection import automatic_bones
    from bmes_imaging.dicom import index_folder
    from bmes_imaging.phantom import PhantomSpec, write_study
    from bmes_imaging.store import open_store
    from bmes_imaging.volume import load_nifti

    write_study(PhantomSpec(seed=3, edema_bones=("navicular",), resolution=4.0, snr=None),
                tmp_path / "ph")
    stack = next(s for s in index_folder(tmp_path / "ph" / "dicom").stacks
             if s.sequence == "t1")
    t1 = load_series(stack)
    edema = t1.with_array(np.rint(load_nifti(tmp_path / "ph/truth/edema.nii.gz").array)
                          .astype(np.uint8))
    url = str(tmp_path / "bmes.sqlite")
    with open_store(url) as store:
        store.save_annotation(str(t1.info.study_instance_uid), "Reader^C",
                              [_finding(Bone.NAVICULAR)], edema)
    folder = Path(t1.info.source_files[0]).parent
    assert main(["export", "seg", str(folder), "--db", url, "--out",
                 str(tmp_path / "s.dcm")]) == 0
    assert dciodvfy_errors(tmp_path / "s.dcm") == []
    expected = automatic_bones(t1)
    labels = sorted(int(v) for v in np.unique(expected.array) if v)
    ds = pydicom.dcmread(tmp_path / "s.dcm")
    bone_segments = [s for s in ds.SegmentSequence if not str(s.SegmentLabel).endswith("edema")]
    assert sorted(str(s.TrackingID) for s in bone_segments) == sorted(
        Bone(v).bone_name for v in labels)
    assert {str(s.SegmentAlgorithmType) for s in bone_segments} == {"AUTOMATIC"}
    from bmes_imaging.export import read_edema_seg

    back = read_edema_seg(tmp_path / "s.dcm", t1)
    assert back.bones is not None and np.array_equal(back.bones.array, expected.array)
