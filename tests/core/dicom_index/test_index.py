"""Folder index: grouping, splitting, rejected files, DICOMDIR, transfer syntaxes."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, generate_uid

from bmes_imaging.dicom import index_files, index_folder
from bmes_imaging.dicom._careful import careful_header
from bmes_imaging.dicom._header import WANTED, scan_header
from bmes_imaging.errors import DicomFileError

T1 = {"ScanningSequence": "SE", "SequenceVariant": "SK", "RepetitionTime": 550,
      "EchoTime": 12}
STIR = {"ScanningSequence": "IR", "SequenceVariant": "SK", "RepetitionTime": 4000,
        "EchoTime": 40, "InversionTime": 160}


def _slice_positions(stack) -> list[float]:
    iop = np.asarray(stack.image_orientation)
    normal = np.cross(iop[:3], iop[3:])
    return [float(np.dot(normal, p)) for p in stack.positions]


def test_mixed_tree_is_grouped_into_series(tmp_path, make_series, study_uid):
    make_series(tmp_path / "a" / "b", description="t1_tse_sag", number=2, n=6,
                attributes=T1, study=study_uid)
    make_series(tmp_path / "a", description="t2_tirm_sag", number=3, n=5,
                attributes=STIR, study=study_uid)
    index = index_folder(tmp_path)
    assert index.n_files == 11
    assert index.rejected == []
    assert [s.series_number for s in index.stacks] == [2, 3]
    t1, stir = index.stacks
    assert (t1.n_images, stir.n_images) == (6, 5)
    assert (t1.sequence, stir.sequence) == ("t1", "stir")
    assert t1.plane == stir.plane == "sagittal"
    # files ordered along the slice normal although names were shuffled
    pos = _slice_positions(t1)
    assert pos == sorted(pos) and len(set(pos)) == 6
    assert [s.stack_id for s in index.stacks] == [s.series_instance_uid for s in index.stacks]
    # grouping by patient and study
    studies = index.studies()
    assert len(studies) == 1
    (pk, by_study), = studies.items()
    assert pk == t1.patient_key and list(by_study) == [study_uid]


def test_files_without_extension_or_preamble_and_other_syntaxes(tmp_path, make_series):
    files = make_series(tmp_path / "src", description="t1_tse_sag", n=4, attributes=T1)
    out = tmp_path / "tree"
    out.mkdir()
    # 1: no preamble, no file meta, implicit VR
    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.preamble = None
    ds.save_as(out / "nopreamble", enforce_file_format=False, implicit_vr=True,
               little_endian=True)
    # 2: implicit VR little endian with meta
    ds = pydicom.dcmread(files[1])
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(out / "implicit.dcm", enforce_file_format=True)
    # 3: explicit big endian
    ds = pydicom.dcmread(files[2])
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    pydicom.dcmwrite(out / "IMG0003", ds, implicit_vr=False, little_endian=False,
                     force_encoding=True)
    shutil.copy(files[3], out / "plain")
    index = index_folder(out)
    assert index.rejected == []
    assert len(index.stacks) == 1
    assert index.stacks[0].n_images == 4
    assert sorted(p.name for p in index.stacks[0].files) == sorted(
        ["nopreamble", "implicit.dcm", "IMG0003", "plain"])


def test_dicomdir_is_listed_as_directory_record(tmp_path, make_series):
    from pydicom.fileset import FileSet

    files = make_series(tmp_path / "src", description="PD FS SAG", n=4,
                        attributes={"RepetitionTime": 3000, "EchoTime": 30,
                                    "ScanOptions": "FS"})
    fs = FileSet()
    for f in files:
        fs.add(pydicom.dcmread(f))
    cd = tmp_path / "cd"
    try:
        fs.write(cd)
    finally:
        # FileSet stages files in a TemporaryDirectory it never cleans up explicitly;
        # left to the garbage collector it raises a ResourceWarning in a later test.
        fs._stage["t"].cleanup()
    index = index_folder(cd)
    assert [r.reason for r in index.rejected] == ["DICOMDIR (directory record)"]
    assert index.rejected[0].path.name == "DICOMDIR"
    assert len(index.stacks) == 1 and index.stacks[0].n_images == 4
    assert index.stacks[0].sequence == "pd_fs"
    assert index.notes == []
    # pointing at the DICOMDIR file indexes the CD
    assert index_folder(cd / "DICOMDIR").stacks == index.stacks
    # an incomplete copy: a referenced file is missing
    index.stacks[0].files[0].unlink()
    again = index_folder(cd)
    assert again.stacks[0].n_images == 3
    assert len(again.notes) == 1 and "1 of them are not in the folder" in again.notes[0]


def test_series_with_two_orientations_is_split(tmp_path, make_series):
    uid = "1.2.826.0.1.3680043.8.498.77"
    make_series(tmp_path, plane="sagittal", n=4, series=uid, seed="x1")
    make_series(tmp_path, plane="coronal", n=4, series=uid, seed="x2")
    index = index_folder(tmp_path)
    assert len(index.stacks) == 2
    assert sorted(s.stack_id for s in index.stacks) == [f"{uid}#1", f"{uid}#2"]
    assert sorted(s.plane for s in index.stacks) == ["coronal", "sagittal"]
    assert all("orientation" in s.split_reason for s in index.stacks)
    assert all(not s.localizer for s in index.stacks)
    # ids are stable: indexing again gives the same stacks
    again = index_folder(tmp_path)
    assert [(s.stack_id, s.files) for s in again.stacks] == \
        [(s.stack_id, s.files) for s in index.stacks]


def test_series_with_two_echo_times_is_split(tmp_path, make_series):
    uid = "1.2.826.0.1.3680043.8.498.78"
    make_series(tmp_path, n=4, series=uid, seed="e1",
                attributes={"EchoTime": 12, "EchoNumbers": 1, "RepetitionTime": 3000})
    make_series(tmp_path, n=4, series=uid, seed="e2",
                attributes={"EchoTime": 80, "EchoNumbers": 2, "RepetitionTime": 3000})
    index = index_folder(tmp_path)
    assert [s.echo_time for s in index.stacks] == [12.0, 80.0]
    assert all("echo" in s.split_reason for s in index.stacks)
    assert all(s.n_images == 4 for s in index.stacks)


def test_series_with_two_image_sizes_is_split(tmp_path, make_series):
    uid = "1.2.826.0.1.3680043.8.498.79"
    make_series(tmp_path, n=3, size=8, series=uid, seed="z1")
    make_series(tmp_path, n=3, size=10, series=uid, seed="z2")
    index = index_folder(tmp_path)
    assert sorted(s.rows for s in index.stacks) == [8, 10]
    assert all("image size" in s.split_reason for s in index.stacks)


def test_localizer_is_separated_and_flagged(tmp_path, make_series):
    uid = "1.2.826.0.1.3680043.8.498.80"
    for plane in ("sagittal", "coronal", "axial"):
        make_series(tmp_path / "loc", plane=plane, n=1, series=uid, seed=f"l{plane}",
                    description="localizer_3pl")
    make_series(tmp_path / "t1", n=5, description="t1_tse_sag", attributes=T1)
    index = index_folder(tmp_path)
    loc = [s for s in index.stacks if s.series_instance_uid == uid]
    assert len(loc) == 3
    assert all(s.localizer and s.sequence == "other" for s in loc)
    assert all("localizer" in s.sequence_reason for s in loc)
    main = [s for s in index.stacks if s.series_instance_uid != uid]
    assert len(main) == 1 and not main[0].localizer and main[0].sequence == "t1"


def test_orthogonal_single_slices_without_keyword_are_a_localizer(tmp_path, make_series):
    uid = "1.2.826.0.1.3680043.8.498.81"
    for plane in ("sagittal", "coronal", "axial"):
        make_series(tmp_path, plane=plane, n=1, series=uid, seed=f"m{plane}")
    index = index_folder(tmp_path)
    assert len(index.stacks) == 3 and all(s.localizer for s in index.stacks)


def _write_sr(path: Path) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.SeriesInstanceUID = generate_uid()
    ds.save_as(path, enforce_file_format=True)


def test_every_unused_file_has_a_reason(tmp_path, make_series):
    files = make_series(tmp_path, n=4, description="t1_tse_sag", attributes=T1)
    good = files[0].read_bytes()
    (tmp_path / "notes.txt").write_text("not an image\n")
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "small").write_bytes(b"DICM")
    (tmp_path / "image.dcm.gz").write_bytes(gzip.compress(good))
    (tmp_path / "cut_pixels.dcm").write_bytes(good[:-50])
    (tmp_path / "cut_header.dcm").write_bytes(good[:300])
    shutil.copy(files[1], tmp_path / "copy_of_slice.dcm")
    _write_sr(tmp_path / "report.dcm")
    nopix = pydicom.dcmread(files[2])
    del nopix.PixelData
    nopix.SOPInstanceUID = nopix.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    nopix.save_as(tmp_path / "nopixels.dcm")
    index = index_folder(tmp_path)
    reasons = {r.path.name: r.reason for r in index.rejected}
    assert "not DICOM" in reasons["notes.txt"]
    assert reasons["empty"] == "empty file"
    assert "not DICOM" in reasons["small"]
    assert "gzip" in reasons["image.dcm.gz"]
    assert "truncated" in reasons["cut_pixels.dcm"]
    assert "truncated" in reasons["cut_header.dcm"] or "unreadable" in reasons[
        "cut_header.dcm"]
    dup = [n for n in reasons if "duplicate SOPInstanceUID" in reasons[n]]
    assert len(dup) == 1 and dup[0] in ("copy_of_slice.dcm", files[1].name)
    assert "unsupported SOP class" in reasons["report.dcm"]
    assert "structured report" in reasons["report.dcm"]
    assert "no pixel data" in reasons["nopixels.dcm"]
    assert len(index.stacks) == 1 and index.stacks[0].n_images == 4
    assert index.n_files == len(index.rejected) + 4


def test_index_files_and_single_file(tmp_path, make_series):
    a = make_series(tmp_path / "a", n=3, description="t1_tse_sag", attributes=T1)
    b = make_series(tmp_path / "b", n=3, description="stir_sag", attributes=STIR)
    index = index_files(a + [str(b[0])])
    assert sorted(s.n_images for s in index.stacks) == [1, 3]
    one = index_folder(a[0])
    assert len(one.stacks) == 1 and one.stacks[0].files == (a[0],)
    assert index_files([]).stacks == []
    assert index_files([tmp_path / "b"]).stacks[0].n_images == 3


def test_missing_folder_raises_typed_error(tmp_path):
    with pytest.raises(DicomFileError, match="no such file or folder"):
        index_folder(tmp_path / "nothing")


def test_multiframe_file_is_one_stack():
    import data_store

    path = Path(data_store.__file__).parent / "data" / "emri_small.dcm"
    index = index_files([path])
    assert len(index.stacks) == 1
    st = index.stacks[0]
    assert st.multiframe and st.n_images == 10 and st.files == (path,)


def test_fast_reader_agrees_with_pydicom(tmp_path, make_series):
    files = make_series(tmp_path, n=3, description="T2W_SPAIR", patient_name="Ünal^Ayşe",
                        attributes={"RepetitionTime": 3200.5, "EchoTime": 80,
                                    "ScanOptions": ["FS", "PFP"], "Laterality": "R",
                                    "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
                                    "SpecificCharacterSet": "ISO_IR 192"})
    for f in files:
        fast = scan_header(f)
        slow = careful_header(f)
        assert fast is not None and not isinstance(fast, str)
        assert not isinstance(slow, str)
        assert fast.has_pixels and slow.has_pixels
        for kw, _kind in WANTED.values():
            a, b = fast.get(kw), slow.get(kw)
            if isinstance(a, float) or isinstance(b, float):
                assert a == pytest.approx(b), kw
            elif isinstance(a, tuple) and a and isinstance(a[0], float):
                assert np.allclose(a, b), kw
            else:
                assert (a or None) == (b or None), kw
        assert fast.get("PatientName") == "Ünal^Ayşe"


def test_patient_identifiers_are_never_logged(tmp_path, make_series, caplog):
    make_series(tmp_path, n=3, patient_id="SECRET-ID-991", patient_name="Hidden^Name")
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 500)
    with caplog.at_level(logging.DEBUG, logger="bmes_imaging"):
        index = index_folder(tmp_path)
    assert index.stacks[0].patient_id == "SECRET-ID-991"
    assert "SECRET-ID-991" not in caplog.text and "Hidden" not in caplog.text
    # nor shown by repr() (assertion messages, debug prints, batch logs)
    text = repr(index)
    assert "SECRET-ID-991" not in text and "Hidden" not in text


def _summary(index):
    return ([(s.stack_id, s.files, s.sequence, s.plane, s.n_images, s.image_orientation,
              s.positions, s.echo_time, s.laterality) for s in index.stacks],
            [(r.path, r.reason.split(" (")[0]) for r in index.rejected])


def test_fast_and_careful_readers_give_the_same_index(tmp_path, make_series, monkeypatch):
    uid = "1.2.826.0.1.3680043.8.498.90"
    make_series(tmp_path, plane="sagittal", n=4, series=uid, seed="f1",
                description="T2W_SPAIR", attributes={"Laterality": "R"})
    make_series(tmp_path, plane="axial", n=3, series=uid, seed="f2")
    make_series(tmp_path, n=3, description="STIR", seed="f3",
                attributes={"EchoTime": 30, "InversionTime": 150})
    (tmp_path / "junk.txt").write_text("x" * 300)
    fast = index_folder(tmp_path)
    from bmes_imaging.dicom import _header

    monkeypatch.setattr(_header, "scan_header", lambda path: None)  # force pydicom path
    careful = index_folder(tmp_path)
    assert _summary(fast) == _summary(careful)
    assert len(fast.stacks) == 3


def test_process_pool_gives_the_same_index(tmp_path, make_series):
    make_series(tmp_path / "a", n=6, description="t1_tse_sag", attributes=T1)
    make_series(tmp_path / "b", n=5, description="stir_sag", attributes=STIR)
    (tmp_path / "junk").write_bytes(b"\x00" * 10)
    assert _summary(index_folder(tmp_path, workers=2)) == _summary(index_folder(tmp_path))


def test_enhanced_mr_timing_from_functional_groups(tmp_path):
    """TR / TE / TI / fat suppression of an Enhanced MR live in functional groups."""
    import data_store

    ds = pydicom.dcmread(Path(data_store.__file__).parent / "data" / "emri_small.dcm")
    timing = Dataset()
    timing.RepetitionTime, timing.FlipAngle = 4200.0, 150.0
    echo = Dataset()
    echo.EffectiveEchoTime = 35.0
    modifier = Dataset()
    modifier.InversionTimes = [160.0]
    orient = Dataset()
    orient.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    shared = Dataset()
    shared.MRTimingAndRelatedParametersSequence = [timing]
    shared.MREchoSequence = [echo]
    shared.MRModifierSequence = [modifier]
    shared.PlaneOrientationSequence = [orient]
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.InversionRecovery = "YES"
    ds.EchoPulseSequence = "SPIN"
    ds.PulseSequenceName = "TSE_IR"
    ds.SeriesDescription = "COR"
    ds.save_as(tmp_path / "enhanced.dcm")
    st = index_folder(tmp_path).stacks[0]
    assert st.multiframe and st.n_images == 10
    assert (st.repetition_time, st.echo_time, st.inversion_time) == (4200.0, 35.0, 160.0)
    assert st.scanning_sequence == ("SE", "IR")
    assert st.image_orientation == (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    assert (st.sequence, st.plane) == ("stir", "sagittal")


@pytest.mark.parametrize("parts", [
    pytest.param([{"plane": "sagittal"}, {"plane": "coronal"}], id="orientation"),
    pytest.param([{"attributes": {"EchoTime": 10, "EchoNumbers": 1}},
                  {"attributes": {"EchoTime": 80, "EchoNumbers": 2}}], id="echo"),
    pytest.param([{"size": 8}, {"size": 10}], id="image-size"),
    pytest.param([{"attributes": {"ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"]}},
                  {"attributes": {"ImageType": ["ORIGINAL", "PRIMARY", "P", "ND"]}}],
                 id="magnitude-phase"),
    pytest.param([{}], id="plain"),
])
def test_series_split_like_dcm2niix(tmp_path, make_series, parts):
    """The real dcm2niix writes one NIfTI per stack the index finds."""
    import subprocess

    src, out = tmp_path / "src", tmp_path / "out"
    out.mkdir()
    uid = "1.2.826.0.1.3680043.8.498.95"
    for n, kw in enumerate(parts):
        make_series(src, series=uid, seed=f"d{n}", study="1.2.826.0.1.3680043.8.498.96",
                    **kw)
    subprocess.run(["dcm2niix", "-b", "n", "-z", "n", "-f", "%s_%p", "-o", str(out),
                    str(src)], check=True, capture_output=True)
    written = list(out.glob("*.nii"))
    assert len(index_folder(src).stacks) == len(written) == len(parts)


def test_infinite_integer_string_does_not_break_the_index(tmp_path) -> None:
    """An IS value of 'inf' (InstanceNumber) is treated as missing, never raised."""
    import numpy as np
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from bmes_imaging.dicom import index_folder

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.PixelData = np.zeros((4, 4), np.uint16).tobytes()
    ds.InstanceNumber = 7373  # placeholder, patched to "inf " below
    path = tmp_path / "inf.dcm"
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    raw = path.read_bytes()
    assert raw.count(b"7373") == 1
    path.write_bytes(raw.replace(b"7373", b"inf "))
    index = index_folder(tmp_path)
    assert len(index.stacks) + len(index.rejected) == 1
