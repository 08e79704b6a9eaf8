"""Hostile and damaged DICOM input (issue 21): refused with a reason naming the file,
never loaded shorter or reinterpreted, never quoting identifiers or raw values."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from bmes_imaging.dicom import index_folder, load_series, write_series
from bmes_imaging.dicom._careful import safe_uid
from bmes_imaging.dicom._limits import pixel_length_problem, rescale_problem
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.dicom._quiet import error_text, printable
from bmes_imaging.errors import DicomFileError, DicomSeriesError
from bmes_imaging.volume import Volume

NAME, PID = "Hostilesurname^Given", "HOSTILE42"
N = 8


@pytest.fixture
def series(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(3)
    affine = np.diag([0.7, 0.8, 3.0, 1.0])
    data = rng.integers(1, 700, size=(14, 12, N)).astype(np.int16)
    return write_series(Volume(data, affine), tmp_path / "s", patient_id=PID,
                        patient_name=NAME, uid_seed="hostile", dtype="int16",
                        filename_pattern="IM{index:05d}.dcm")


def _edit(path: Path, **raw: tuple[str, bytes]) -> None:
    """Set elements to raw bytes (any value, valid or not)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        for keyword, (vr, value) in raw.items():
            tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
            value += b" " if len(value) % 2 else b""
            ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
        ds.save_as(path)


def _set(path: Path, **values: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        if value is None:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    ds.save_as(path)


# ------------------------------------------------------------- missing slices

@pytest.mark.parametrize("k", [0, 3, N - 1], ids=["first", "middle", "last"])
def test_truncated_slice_refuses_the_series_naming_it(series, k) -> None:
    data = series[k].read_bytes()
    series[k].write_bytes(data[:-50])
    index = index_folder(series[0].parent)
    assert index.stacks == []
    reasons = {r.path.name: str(r.reason) for r in index.rejected}
    assert "truncated" in reasons[series[k].name]
    assert all(series[k].name in why for name, why in reasons.items() if name != series[k].name)
    with pytest.raises(DicomSeriesError) as err:
        load_series(series[0].parent)
    assert series[k].name in str(err.value) and "truncated" in str(err.value)


def test_slice_without_pixel_data_is_named_not_its_neighbours(series) -> None:
    _set(series[4], PixelData=None)
    with pytest.raises(DicomSeriesError) as err:
        load_series(series[0].parent)
    message = str(err.value)
    assert f"{series[4].name}: no pixel data" in message and "same series" in message
    assert "missing between" not in message


@pytest.mark.parametrize("k", [0, N - 1], ids=["first", "last"])
def test_slice_replaced_by_empty_file_or_dangling_link_is_not_silently_dropped(
        series, k) -> None:
    series[k].write_bytes(b"")
    with pytest.raises(DicomSeriesError, match=series[k].name):
        load_series(series[0].parent)
    series[k].unlink()
    os.symlink(series[k].parent / "gone" / series[k].name, series[k])
    with pytest.raises(DicomSeriesError, match=series[k].name):
        load_series(series[0].parent)


def test_damaged_second_copy_of_a_slice_does_not_refuse_the_series(series) -> None:
    (series[0].parent / "copy.dcm").write_bytes(series[N - 1].read_bytes()[:-30])
    assert load_series(series[0].parent).shape[2] == N


# ----------------------------------------------------------------- pixel format

@pytest.mark.parametrize("change", [{"Rows": 6}, {"Columns": 13}, {"BitsAllocated": 8}],
                         ids=["rows halved", "columns - 1", "8 bits over 16"])
def test_pixel_data_longer_than_the_header_says_is_refused(series, change) -> None:
    _set(series[2], **change)
    with pytest.raises(DicomFileError) as err:
        read_stack(series)
    assert err.value.path == series[2] and "PixelData holds 336 bytes" in err.value.reason
    index = index_folder(series[0].parent)
    assert index.stacks == []
    assert any(r.path == series[2] and "PixelData holds" in r.reason for r in index.rejected)


def test_pixel_length_rule() -> None:
    assert pixel_length_problem(rows=3, columns=3, frames=1, samples=1, bits=8,
                                length=10) is None  # one pad byte
    assert pixel_length_problem(rows=4, columns=4, frames=1, samples=1, bits=16,
                                length=34) is not None
    assert pixel_length_problem(rows=4, columns=4, frames=1, samples=1, bits=16,
                                length=30) is not None
    def zero(start: int, count: int) -> bool:  # an all-zero tail
        return True

    assert pixel_length_problem(rows=8, columns=8, frames=1, samples=1, bits=16,
                                length=136, padding=zero) is None
    assert pixel_length_problem(rows=8, columns=8, frames=1, samples=1, bits=16,
                                length=256, padding=zero) is not None  # not padding


@pytest.mark.parametrize("slope,intercept", [(b"0", b"0"), (b"1e38", b"0"),
                                             (b"nan", b"0"), (b"1", b"1e39"),
                                             (b"-2e6", b"0")])
def test_implausible_rescale_is_refused_per_file(series, slope, intercept) -> None:
    _edit(series[5], RescaleSlope=("DS", slope), RescaleIntercept=("DS", intercept))
    with pytest.raises(DicomFileError) as err:
        read_stack(series)
    assert err.value.path == series[5] and "Rescale" in err.value.reason
    with pytest.raises(DicomSeriesError, match=series[5].name):
        load_series(series[0].parent)


def test_rescale_slope_minus_one_everywhere_loads_negated(series) -> None:
    plain = load_series(series[0].parent).array
    for f in series:
        _edit(f, RescaleSlope=("DS", b"-1"))
    vol = load_series(series[0].parent)
    assert np.array_equal(vol.array, -plain.astype(np.float32))
    assert rescale_problem(-1.0, 0.0) is None


# ------------------------------------------------------------------------ sizes

def test_declared_size_beyond_the_limit_is_refused_before_reading(series) -> None:
    _set(series[1], Rows=65535, Columns=65535)
    with pytest.raises(DicomFileError, match="beyond the limit of 1024 MiB per file"):
        read_stack(series)


def test_series_limit_is_settable(series, monkeypatch) -> None:
    monkeypatch.setenv("BMES_MAX_SERIES_BYTES", "1000")
    with pytest.raises(DicomSeriesError, match="BMES_MAX_SERIES_BYTES"):
        load_series(series[0].parent)


def _deflated(path: Path) -> None:
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def test_deflated_series_loads(series) -> None:
    plain = load_series(series[0].parent)
    for f in series:
        _deflated(f)
    index = index_folder(series[0].parent)
    assert [s.n_images for s in index.stacks] == [N] and not index.rejected
    vol = load_series(series[0].parent)
    assert np.array_equal(vol.array, plain.array) and np.allclose(vol.affine, plain.affine)


def test_deflate_bomb_is_refused_within_the_limit(series, monkeypatch) -> None:
    import zlib

    monkeypatch.setenv("BMES_MAX_FILE_BYTES", str(1 << 20))
    _deflated(series[3])
    data = series[3].read_bytes()
    meta_end = _meta_end(data)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = comp.compress(zlib.decompress(data[meta_end:], -zlib.MAX_WBITS))
    body += comp.compress(struct.pack("<HH2sHI", 0x7FE1, 0x10, b"OB", 0, 32 << 20))
    body += comp.compress(bytes(32 << 20)) + comp.flush()
    series[3].write_bytes(data[:meta_end] + body)
    assert len(body) < 100_000  # a small file that inflates to 32 MiB
    with pytest.raises(DicomSeriesError) as err:
        load_series(series[0].parent)
    assert "inflates beyond 1048576 bytes" in str(err.value)
    assert series[3].name in str(err.value)
    with pytest.raises(DicomFileError, match="inflates beyond 1048576 bytes"):
        read_stack(series)


def _meta_end(data: bytes) -> int:
    pos = 132
    while struct.unpack_from("<H", data, pos)[0] == 0x0002:
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            pos += 12 + struct.unpack_from("<I", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return pos


# ------------------------------------------------- encodings and nesting

def test_big_endian_series_loads(series) -> None:
    from pydicom.filewriter import dcmwrite

    plain = load_series(series[0].parent)
    for f in series:
        ds = pydicom.dcmread(f)
        arr = np.frombuffer(bytes(ds.PixelData), dtype="<i2")
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
        ds.PixelData = arr.astype(">i2").tobytes()
        dcmwrite(f, ds, little_endian=False, implicit_vr=False, force_encoding=True)
    assert np.array_equal(load_series(series[0].parent).array, plain.array)


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined", "defined"])
def test_private_sequences_nested_200_deep_load(series, undefined) -> None:
    plain = load_series(series[0].parent)
    inner = struct.pack("<HH2sH", 0x0029, 0x1010, b"LO", 4) + b"deep"
    for _ in range(200):
        if undefined:
            item = (struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner
                    + struct.pack("<HHI", 0xFFFE, 0xE00D, 0))
            inner = (struct.pack("<HH2sHI", 0x0029, 0x1020, b"SQ", 0, 0xFFFFFFFF) + item
                     + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
        else:
            item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
            inner = struct.pack("<HH2sHI", 0x0029, 0x1020, b"SQ", 0, len(item)) + item
    private = struct.pack("<HH2sH", 0x0029, 0x0010, b"LO", 4) + b"DEEP" + inner
    for f in series:
        data = f.read_bytes()
        at = data.rindex(struct.pack("<HH2s", 0x7FE0, 0x0010, b"OW"))  # group 0029 < 7FE0
        f.write_bytes(data[:at] + private + data[at:])
    index = index_folder(series[0].parent)
    assert [s.n_images for s in index.stacks] == [N], [r.reason for r in index.rejected]
    assert np.array_equal(load_series(series[0].parent).array, plain.array)


# ------------------------------------------------------------- what is printed

def test_reasons_quote_no_identifier_nor_raw_value(series) -> None:
    junk = ("1.2.840.10008.5.1.4.1.1.4\\" + NAME + "\\" + PID + "\x1b[2J" + "9" * 500)
    _edit(series[2], SOPClassUID=("UI", junk.encode()))
    _edit(series[6], SeriesInstanceUID=("UI", ("1.2." + PID + NAME).encode()),
          SeriesDescription=("LO", b"\x1b]0;title\x07\x1b[2J" + b"D" * 3000))
    index = index_folder(series[0].parent)
    texts = [str(r.reason) for r in index.rejected] + [s.stack_id for s in index.stacks]
    with pytest.raises(DicomSeriesError) as err:
        load_series(series[0].parent)
    texts.append(str(err.value))
    assert "holds 2 image stacks" in texts[-1] and len(texts[-1]) < 2000
    for text in texts:
        assert "Hostilesurname" not in text and PID not in text, text
        assert "\x1b" not in text and "\x07" not in text, text


def test_quoting_helpers() -> None:
    assert printable("a\x1b]0;t\x07" + "x" * 200, limit=20) == "a\\x1b]0;t\\x07xxxxxxx…"
    assert printable(b"\xff\x00ok") == "ÿ\\x00ok"
    assert error_text(ValueError(f"Invalid value for VR PN: '{NAME}'")) == \
        "ValueError: Invalid value for VR PN: '…'"
    assert safe_uid("1.2.3") == "1.2.3"
    assert safe_uid("1.2." + NAME).startswith("invalid-uid-")
    assert safe_uid("1.2." + NAME) == safe_uid("1.2." + NAME)


def test_pydicom_warnings_never_reach_stderr(series) -> None:
    """In a fresh process with logging on stderr (as the CLI sets it up)."""
    for f in series:
        _edit(f, SOPInstanceUID=("UI", f"1.2.{f.stem}^{NAME}".encode()),
              StudyDate=("DA", NAME.encode()), PatientAge=("AS", PID.encode()))
    code = textwrap.dedent(f"""
        import logging, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        from bmes_imaging.dicom import index_folder, load_series
        from bmes_imaging.dicom._load import read_stack
        from bmes_imaging.dicom._frames import decoded_frames
        from pathlib import Path
        folder = Path({str(series[0].parent)!r})
        print(len(index_folder(folder).stacks))
        print(load_series(folder).shape)
        print(len(decoded_frames(sorted(folder.iterdir())[0])))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=120, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["1", f"(14, 12, {N})"]
    assert run.stderr == ""


def test_deleted_end_slice_is_found_from_images_in_acquisition(tmp_path) -> None:
    rng = np.random.default_rng(4)
    vol = Volume(rng.integers(1, 300, size=(10, 8, 6)).astype(np.int16),
                 np.diag([0.7, 0.8, 3.0, 1.0]))
    files = write_series(vol, tmp_path / "s", patient_id="1", dtype="int16",
                         attributes={"ImagesInAcquisition": 6},
                         filename_pattern="IM{index:05d}.dcm")
    assert load_series(tmp_path / "s").shape[2] == 6
    files[-1].unlink()  # the last slice is gone: nothing damaged, only the count says so
    with pytest.raises(DicomSeriesError, match="ImagesInAcquisition 6, the folder holds 5"):
        load_series(tmp_path / "s")


REAL = Path("/work/shared/real-dicom")


@pytest.mark.skipif(not (REAL / "dcm_qa_12bit").is_dir(),
                    reason="real vendor DICOM (/work/shared/real-dicom) not present")
def test_real_variants_of_one_mosaic_are_ambiguous_not_a_lost_slice() -> None:
    """dcm_qa_12bit holds one Siemens mosaic three times (12-bit signed / unsigned
    variants, one SOPInstanceUID and position, other pixels): not a lost slice (the
    position is the kept file's), but which file is the image is a guess: refused."""
    index = index_folder(REAL / "dcm_qa_12bit")
    assert index.stacks == []  # three different images under one UID: ambiguous
    reasons = [r.reason for r in index.rejected if r.path.suffix == ".dcm"]
    assert len(reasons) == 3 and all("duplicate SOPInstanceUID" in r for r in reasons)
    assert sum(r.startswith("series ambiguous") for r in reasons) == 1


def test_identical_copy_loads_but_a_conflicting_one_refuses(series) -> None:
    import shutil

    shutil.copy(series[2], series[0].parent / "copy.dcm")
    assert load_series(series[0].parent).shape[2] == N
    other = pydicom.dcmread(series[2])
    other.PixelData = bytes(len(other.PixelData))  # same UID and position, other image
    other.save_as(series[0].parent / "copy.dcm")
    with pytest.raises(DicomSeriesError, match=r"duplicate SOPInstanceUID of .* with other "
                                               r"content"):
        load_series(series[0].parent)


def test_deflate_bomb_bound_by_the_declared_image(series) -> None:
    """A data set that could pass the file limit is counted while inflating, against its
    declared pixels plus 64 MiB of header: a bomb stops there, not at 1 GiB."""
    import zlib

    from bmes_imaging.dicom._limits import _inflate_counting

    _deflated(series[0])
    data = series[0].read_bytes()
    meta_end = _meta_end(data)
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = comp.compress(zlib.decompress(data[meta_end:], -zlib.MAX_WBITS))
    body += comp.compress(struct.pack("<HH2sHI", 0x7FE1, 0x10, b"OB", 0, 80 << 20))
    body += comp.compress(bytes(80 << 20)) + comp.flush()
    series[0].write_bytes(data[:meta_end] + body)
    reason = _inflate_counting(series[0], meta_end, 1 << 30)
    assert reason is not None and "its header declares 336 bytes of pixels" in reason
    _deflated(series[1])  # a valid deflated slice passes
    assert _inflate_counting(series[1], _meta_end(series[1].read_bytes()), 1 << 30) is None
