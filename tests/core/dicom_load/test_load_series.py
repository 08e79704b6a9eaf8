"""load_series / read_stack: transfer syntaxes, rescale, multi-frame, SeriesInfo, errors."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from bmes_imaging.dicom import load_series, write_series
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.errors import DicomFileError, DicomSeriesError
from bmes_imaging.volume import Volume

needs_gdcmconv = pytest.mark.skipif(shutil.which("gdcmconv") is None,
                                    reason="needs gdcmconv (Debian libgdcm-tools)")


@pytest.fixture
def series(tmp_path, volume_factory):
    vol = volume_factory("oblique", shape=(16, 13, 9), seed=11, reverse_slices=True)
    files = write_series(vol, tmp_path / "orig", patient_id="5", uid_seed="load",
                         shuffle_seed=2, series_description="T1 SAG",
                         attributes={"Laterality": "R", "RepetitionTime": 550,
                                     "EchoTime": 12, "InversionTime": 0})
    return vol, files


def _same(a: Volume, b: Volume) -> None:
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-9)


@needs_gdcmconv
@pytest.mark.parametrize("option,syntax", [
    ("--jpegls", "1.2.840.10008.1.2.4.80"),
    ("--rle", "1.2.840.10008.1.2.5"),
    ("--jpeg", "1.2.840.10008.1.2.4.70"),
    ("--j2k", "1.2.840.10008.1.2.4.90"),
])
def test_compressed_copies_equal_original(tmp_path, series, dicom_tools, option, syntax):
    _, files = series
    original = read_stack(files)
    copies = dicom_tools["gdcmconv"](files, tmp_path / option.strip("-"), option)
    assert pydicom.dcmread(copies[0]).file_meta.TransferSyntaxUID == syntax
    loaded = read_stack(copies)
    _same(loaded, original)
    assert loaded.info.extra["transfer_syntaxes"] == [syntax]


@needs_gdcmconv
@pytest.mark.parametrize("plugin", ["gdcm", "pylibjpeg"])
def test_decoding_plugin_can_be_chosen(tmp_path, series, dicom_tools, plugin):
    _, files = series
    copies = dicom_tools["gdcmconv"](files, tmp_path / "j2k", "--j2k")
    _same(read_stack(copies, decoding_plugin=plugin), read_stack(files))


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian,
                                    DeflatedExplicitVRLittleEndian],
                         ids=["implicit", "big_endian", "deflated"])
def test_other_native_encodings_equal_original(tmp_path, series, dicom_tools, syntax):
    _, files = series
    copies = dicom_tools["recode"](files, tmp_path / "recoded", syntax)
    assert pydicom.dcmread(copies[0]).file_meta.TransferSyntaxUID == syntax
    _same(read_stack(copies), read_stack(files))


def test_values_and_info(series, dicom_tools):
    written, files = series
    vol = load_series(files[3])  # one file: one slice
    assert vol.shape[2] == 1
    vol = read_stack(files)
    # same voxels at the same places (k runs along the normal, whatever was written)
    dicom_tools["assert_same_voxels"](vol, written.affine, written.array, rtol_values=1e-3)
    info = vol.info
    assert info.patient_id == "5" and info.series_description == "T1 SAG"
    assert info.laterality == "R" and info.plane == "oblique"
    assert info.repetition_time == 550 and info.echo_time == 12
    assert info.modality == "MR" and info.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    assert len(set(info.sop_instance_uids)) == 9
    positions = [float(np.dot([float(v) for v in pydicom.dcmread(f).ImagePositionPatient],
                              np.cross(*np.reshape(
                                  [float(v) for v in pydicom.dcmread(f).ImageOrientationPatient],
                                  (2, 3)))))
                 for f in info.source_files]
    assert positions == sorted(positions)


def test_per_slice_rescale(tmp_path, volume_factory):
    vol = volume_factory("axial", shape=(6, 5, 4))
    ivol = Volume(np.rint(vol.array).astype(np.uint16), vol.affine)
    files = write_series(ivol, tmp_path, patient_id="1", uid_seed="r")
    ds = pydicom.dcmread(files[2])
    ds.RescaleSlope = "2.5"
    ds.RescaleIntercept = "-7"
    ds.save_as(files[2])
    loaded = read_stack(files)
    assert loaded.array.dtype == np.float32
    expected = ivol.array.astype(np.float64)
    expected[:, :, 2] = expected[:, :, 2] * 2.5 - 7
    np.testing.assert_allclose(loaded.array, expected, rtol=1e-6)
    assert loaded.info.extra["rescale_varies"]


def test_unscaled_integer_series_keeps_its_type(tmp_path, volume_factory, dicom_tools):
    vol = volume_factory("coronal", shape=(6, 5, 4))
    ivol = Volume(np.rint(vol.array - 400).astype(np.int16), vol.affine)
    files = write_series(ivol, tmp_path, patient_id="1", dtype="int16", uid_seed="i")
    loaded = read_stack(files)
    assert loaded.array.dtype == np.int16
    dicom_tools["assert_same_voxels"](loaded, ivol.affine, ivol.array, rtol_values=0)


def test_multiframe_per_frame_rescale(tmp_path, series, dicom_tools):
    """Enhanced MR with every functional group per frame (orientation, pixel measures,
    position and a different PixelValueTransformation per frame)."""
    _, files = series
    path = tmp_path / "enhanced.dcm"
    dicom_tools["to_multiframe"](files, path)
    ds = pydicom.dcmread(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    pvt = shared.PixelValueTransformationSequence[0]
    slope, intercept = float(pvt.RescaleSlope), float(pvt.RescaleIntercept)
    del shared.PixelValueTransformationSequence
    orientation = shared.PlaneOrientationSequence
    measures = shared.PixelMeasuresSequence
    del shared.PlaneOrientationSequence
    del shared.PixelMeasuresSequence
    for n, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        frame.PlaneOrientationSequence = copy.deepcopy(orientation)
        frame.PixelMeasuresSequence = copy.deepcopy(measures)
        item = pydicom.Dataset()
        item.RescaleSlope = slope * (n + 1)
        item.RescaleIntercept = intercept
        item.RescaleType = "US"
        frame.PixelValueTransformationSequence = pydicom.Sequence([item])
    ds.save_as(path)
    stored = ds.pixel_array
    vol = read_stack([path])
    single = read_stack(files)
    np.testing.assert_allclose(vol.affine, single.affine, atol=1e-9)
    for k, frame_number in enumerate(vol.info.frame_numbers):
        expected = stored[frame_number - 1].T * slope * frame_number + intercept
        np.testing.assert_allclose(vol.array[:, :, k], expected, rtol=1e-5)


# --------------------------------------------------------------------------- errors

def _drop(files, k):
    return [f for i, f in enumerate(files) if i != k]


def test_missing_slice_is_reported(series):
    _, files = series
    with pytest.raises(DicomSeriesError, match="1 slice\\(s\\) missing between") as err:
        read_stack(_drop(files, 4))
    assert files[3].name in str(err.value) and files[5].name in str(err.value)


def test_duplicate_position_is_reported(tmp_path, series):
    _, files = series
    copy = tmp_path / "copy.dcm"
    ds = pydicom.dcmread(files[2])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(copy)
    with pytest.raises(DicomSeriesError, match="duplicate slice position") as err:
        read_stack([*files, copy])
    assert "copy.dcm" in str(err.value) and files[2].name in str(err.value)


def test_uneven_spacing_and_tolerance(series):
    _, files = series
    ds = pydicom.dcmread(files[5])
    normal = np.cross(*np.reshape([float(v) for v in ds.ImageOrientationPatient], (2, 3)))
    ipp = np.array([float(v) for v in ds.ImagePositionPatient]) + 0.2 * normal
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.save_as(files[5])
    with pytest.raises(DicomSeriesError, match="not evenly spaced") as err:
        read_stack(files)
    assert files[5].name in str(err.value)
    # 0.2 mm of 3.3 mm is 6 %: accepted with a 10 % tolerance
    vol = read_stack(files, spacing_tolerance=0.1)
    assert vol.shape[2] == 9


def test_different_sizes_and_orientations_refused(tmp_path, volume_factory, series):
    _, files = series
    other = volume_factory("oblique", shape=(8, 13, 2), seed=1)
    extra = write_series(other, tmp_path / "small", patient_id="5", uid_seed="load")
    with pytest.raises(DicomSeriesError, match="different sizes"):
        read_stack([*files, *extra])
    ax = volume_factory("axial", shape=(16, 13, 2))
    extra = write_series(ax, tmp_path / "ax", patient_id="5", uid_seed="load")
    with pytest.raises(DicomSeriesError, match="different orientations"):
        read_stack([*files, *extra])


def test_bad_files_name_the_file(tmp_path, series):
    _, files = series
    not_dicom = tmp_path / "notes.txt"
    not_dicom.write_text("not an image")
    with pytest.raises(DicomFileError) as err:
        read_stack([*files, not_dicom])
    assert err.value.path == not_dicom
    truncated = tmp_path / "cut.dcm"
    truncated.write_bytes(files[0].read_bytes()[:-1000])
    with pytest.raises(DicomFileError) as err:
        read_stack([truncated])
    assert err.value.path == truncated
    with pytest.raises(DicomFileError):
        load_series(tmp_path / "nowhere.dcm")
    with pytest.raises(DicomSeriesError):
        read_stack([])


@needs_gdcmconv
def test_jpeg2000_multithreaded_gdcm_decode_equals_single_thread(tmp_path, series,
                                                                 dicom_tools):
    """JPEG 2000 frames decoded by GDCM's codec on 2 OpenJPEG threads are exact."""
    from bmes_imaging.dicom._j2k import decode_j2k_frames, gdcm_available

    if not gdcm_available():
        pytest.skip("python-gdcm not installed")
    _, files = series
    copies = dicom_tools["gdcmconv"](files, tmp_path / "j2k", "--j2k")
    for original, j2k_file in zip(files, copies, strict=True):
        ds = pydicom.dcmread(j2k_file)
        two = decode_j2k_frames(ds, 1, threads=2)
        one = decode_j2k_frames(ds, 1, threads=1)
        assert two is not None and one is not None
        np.testing.assert_array_equal(two[0], pydicom.dcmread(original).pixel_array)
        np.testing.assert_array_equal(one, two)
    _same(read_stack(copies, workers=2), read_stack(copies, decoding_plugin="pylibjpeg"))


@needs_gdcmconv
def test_jpeg_baseline_lossy_8bit(tmp_path, volume_factory, dicom_tools):
    vol = volume_factory("sagittal", shape=(16, 16, 4))
    scaled = (vol.array - vol.array.min()) / np.ptp(vol.array) * 250
    u8 = Volume(np.clip(scaled, 0, 255).astype(np.uint8), vol.affine)
    files = write_series(u8, tmp_path / "u8", patient_id="1", dtype="uint8", uid_seed="u8")
    copies = dicom_tools["gdcmconv"](files, tmp_path / "jpeg", "--jpeg")
    lossy = []
    for f in files:  # baseline (lossy) needs the explicit --lossy switch
        import subprocess

        target = tmp_path / "lossy" / f.name
        target.parent.mkdir(exist_ok=True)
        subprocess.run(["gdcmconv", "--jpeg", "--lossy", "-q", "95", str(f), str(target)],
                       check=True, capture_output=True)
        lossy.append(target)
    assert pydicom.dcmread(lossy[0]).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    original = read_stack(files)
    _same(read_stack(copies), original)
    baseline = read_stack(lossy)
    np.testing.assert_allclose(baseline.affine, original.affine, atol=1e-9)
    assert np.abs(baseline.array.astype(int) - original.array.astype(int)).max() <= 12


def test_files_without_preamble_or_file_meta(tmp_path, series):
    """Old CD copies: no 128-byte preamble, no File Meta group, implicit VR."""
    from pydicom.filewriter import dcmwrite

    _, files = series
    bare = []
    for f in files:
        ds = pydicom.dcmread(f)
        del ds.file_meta
        ds.preamble = None
        target = tmp_path / f"{f.stem}.raw"
        dcmwrite(target, ds, implicit_vr=True, little_endian=True)
        bare.append(target)
    assert bare[0].read_bytes()[128:132] != b"DICM"
    loaded = read_stack(bare)
    _same(loaded, read_stack(files))
    assert loaded.info.extra["transfer_syntaxes"] == ["1.2.840.10008.1.2"]
