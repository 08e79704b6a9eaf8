"""MONOCHROME1 pixel data (minimum value shown white) loads in the MONOCHROME2 convention.

Each test writes a series as MONOCHROME2, a copy of it with the stored values reflected
and PhotometricInterpretation MONOCHROME1 (the same picture on a display), and checks
the loaded MONOCHROME1 copy equals ``(min + max) - value`` over the stored range after
the rescale, on the native path and through pydicom (RLE, multi-frame).
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from bmes_imaging.dicom import load_series, write_series
from bmes_imaging.dicom._frames import native_frame
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.volume import Volume


def _as_monochrome1(files, out_dir, *, top: int | None = None, signed: bool = False,
                    bits_stored: int | None = None, rle: bool = False) -> list:
    """Copies of ``files`` as MONOCHROME1 holding the same picture (stored values
    reflected: ``top - v`` unsigned, ``-1 - v`` signed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for f in files:
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array
        if bits_stored is not None:
            ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
        flipped = (np.invert(arr) if signed
                   else (np.array(top, dtype=arr.dtype) - arr)).astype(arr.dtype)
        ds.PixelData = flipped.astype(arr.dtype.newbyteorder("<")).tobytes()
        ds.PhotometricInterpretation = "MONOCHROME1"
        target = out_dir / f.name
        if rle:
            ds.compress(RLELossless, flipped)
        ds.save_as(target)
        made.append(target)
    return made


@pytest.fixture
def unsigned12(tmp_path, volume_factory):
    """A uint16 series whose values fit in 12 bits (written with BitsStored 16)."""
    vol = volume_factory("sagittal", shape=(9, 8, 5), seed=4)
    data = np.clip(np.rint(vol.array * 3), 0, 4095).astype(np.uint16)
    ivol = Volume(data, vol.affine)
    return ivol, write_series(ivol, tmp_path / "m2", patient_id="1", uid_seed="mono")


def test_native_monochrome1_is_inverted_over_bits_stored(tmp_path, unsigned12):
    _, files = unsigned12
    m2 = read_stack(files)
    # 12 bits stored: the MONOCHROME1 copy holds 4095 - v, it must load as v
    m1_files = _as_monochrome1(files, tmp_path / "m1", top=4095, bits_stored=12)
    assert native_frame(m1_files[0]) is not None  # the fast native path reads it
    assert native_frame(m1_files[0]).monochrome1
    m1 = read_stack(m1_files)
    assert m1.array.dtype == np.uint16
    np.testing.assert_array_equal(m1.array, m2.array)
    assert m1.info.extra["monochrome1_inverted"]
    assert "monochrome1_inverted" not in m2.info.extra


def test_monochrome1_without_reflection_loads_inverted(tmp_path, unsigned12):
    """Same stored values, only the photometric flag changed: max + min - value."""
    _, files = unsigned12
    m2 = read_stack(files)
    flagged = tmp_path / "flag"
    flagged.mkdir()
    for f in files:
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(flagged / f.name)
    m1 = load_series(flagged)
    np.testing.assert_array_equal(m1.array.astype(np.int64),
                                  65535 - m2.array.astype(np.int64))


def test_rle_monochrome1_equals_native(tmp_path, unsigned12):
    """The pydicom (decoded) path inverts exactly as the native path does."""
    _, files = unsigned12
    m1_native = _as_monochrome1(files, tmp_path / "native", top=4095, bits_stored=12)
    m1_rle = _as_monochrome1(files, tmp_path / "rle", top=4095, bits_stored=12, rle=True)
    assert pydicom.dcmread(m1_rle[0]).file_meta.TransferSyntaxUID == RLELossless
    assert native_frame(m1_rle[0]) is None  # goes through pydicom
    loaded = read_stack(m1_rle)
    np.testing.assert_array_equal(loaded.array, read_stack(files).array)
    np.testing.assert_array_equal(loaded.array, read_stack(m1_native).array)


def test_signed_rescaled_monochrome1(tmp_path, volume_factory):
    """int16 with a rescale: inverted after the rescale over the rescaled range."""
    vol = volume_factory("axial", shape=(7, 6, 4), seed=2)
    ivol = Volume(np.rint(vol.array - 400).astype(np.int16), vol.affine)
    files = write_series(ivol, tmp_path / "m2", patient_id="1", dtype="int16",
                         uid_seed="s")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.RescaleSlope, ds.RescaleIntercept = "2", "-10"
        ds.save_as(f)
    m2 = read_stack(files)
    assert m2.array.dtype == np.float32
    m1 = read_stack(_as_monochrome1(files, tmp_path / "m1", signed=True))
    np.testing.assert_allclose(m1.array, m2.array)
    # flag only: (rescaled min + rescaled max) - rescaled value
    flagged = _as_monochrome1(files, tmp_path / "flag", signed=True)
    for f, g in zip(files, flagged, strict=True):
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(g)
    lo, hi = 2 * -32768 - 10, 2 * 32767 - 10
    np.testing.assert_allclose(read_stack(flagged).array, (lo + hi) - m2.array)


def test_multiframe_monochrome1(tmp_path, unsigned12, dicom_tools):
    _, files = unsigned12
    path = tmp_path / "enhanced.dcm"
    dicom_tools["to_multiframe"](files, path)
    # Enhanced MR allows MONOCHROME2 only (highdicom writes that); other multi-frame
    # objects (e.g. Enhanced XA, DX) may be MONOCHROME1: reflect the stored frames and
    # set the flag as they would
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    ds.PixelData = (np.array(4095, dtype=arr.dtype) - arr).astype("<u2").tobytes()
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsStored, ds.HighBit = 12, 11
    ds.save_as(path)
    loaded = load_series(path)
    assert len(loaded.info.frame_numbers) == 5
    np.testing.assert_allclose(loaded.array, read_stack(files).array)
