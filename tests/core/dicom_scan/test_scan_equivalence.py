"""The GDCM-based header scan (``_scan``) against the hand-written walkers it replaces.

``scan_headers(paths)`` must give what ``[_header.read_header(p) for p in paths]``
gives, field by field, and ``native_headers`` / ``native_pixel_offset`` what
``_native.walk_native`` gives, on trees written with ``write_series``, on pydicom-written
oddities (implicit VR, big endian, deflated, no preamble, no File Meta, truncated,
non-DICOM, DICOMDIR, multi-frame, trailing padding, RLE, JPEG 2000) and on every file
shipped with pydicom and pydicom-data.

Known, accepted differences (checked here so a change shows up):

* the careful (pydicom) reader drops empty values where the walkers keep ``""``,
  ``()`` or ``None`` for a present-but-empty element; when one side used the careful
  reader (e.g. ``SC_rgb_jpeg.dcm``: the walker hands it to pydicom, GDCM reads it),
  values are compared without empties;
* rejection reasons may be worded differently (e.g. ``rtplan_truncated.dcm``,
  ``emri_small_jpeg_2k_lossless_too_short.dcm``); both sides reject.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from bmes_imaging import Volume
from bmes_imaging.dicom import write_series
from bmes_imaging.dicom._header import HeaderRecord, read_header
from bmes_imaging.dicom._native import walk_native
from bmes_imaging.dicom._scan import native_headers, native_pixel_offset, scan_headers


def _shipped_dirs() -> list[Path]:
    import data_store  # the import name of the pydicom-data package

    dirs = [Path(pydicom.__file__).parent / "data" / "test_files",
            Path(data_store.__file__).parent / "data"]
    return [d for d in dirs if d.is_dir()]


def _volume(seed: int, shape: tuple[int, int, int] = (8, 6, 4)) -> Volume:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 1000, size=shape).astype(np.float32)
    affine = np.diag([0.8, 0.7, 3.0, 1.0])
    affine[:3, 3] = (-10.0, 5.0, 20.0)
    return Volume(arr, affine)


def _recode(src: Path, dst: Path, transfer_syntax: str) -> Path:
    ds = pydicom.dcmread(src)
    if transfer_syntax == ExplicitVRBigEndian:
        arr = ds.pixel_array
        ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    if transfer_syntax == RLELossless:
        ds.compress(RLELossless)
    else:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    dcmwrite(dst, ds, enforce_file_format=True)
    return dst


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of series written by write_series plus every oddity the index meets."""
    root = tmp_path_factory.mktemp("scan_tree")
    sag = write_series(_volume(1), root / "sag", patient_id="P1",
                       patient_name="Müller^Zoë", series_number=3,
                       series_description="t1_tse_sag", uid_seed="a", shuffle_seed=2,
                       attributes={"InversionTime": 150, "ScanOptions": "FS",
                                   "Laterality": "L", "ScanningSequence": "SE\\IR"})
    ax = write_series(_volume(2, (7, 5, 3)), root / "ax", patient_id="P1",
                      series_number=4, series_description="", dtype="int16",
                      uid_seed="b", attributes={"ImageLaterality": "R"})
    odd = root / "odd"
    odd.mkdir()
    src = sag[0]
    _recode(src, odd / "implicit.dcm", ImplicitVRLittleEndian)
    _recode(ax[0], odd / "implicit_odd_size.dcm", ImplicitVRLittleEndian)
    _recode(src, odd / "bigendian.dcm", ExplicitVRBigEndian)
    _recode(src, odd / "deflated.dcm", DeflatedExplicitVRLittleEndian)
    _recode(src, odd / "rle.dcm", RLELossless)
    data = src.read_bytes()
    (odd / "no_preamble.dcm").write_bytes(data[128:])      # starts with "DICM"
    (odd / "meta_no_preamble.dcm").write_bytes(data[132:])  # starts with group 0002
    meta_len = struct.unpack_from("<I", data, 140)[0]
    (odd / "no_meta.dcm").write_bytes(data[144 + meta_len:])  # dataset only
    (odd / "cut_header.dcm").write_bytes(data[:600])
    (odd / "cut_pixels.dcm").write_bytes(data[:-10])
    (odd / "cut_one_byte.dcm").write_bytes(data[:-1])
    implicit = (odd / "implicit.dcm").read_bytes()
    (odd / "implicit_cut_pixels.dcm").write_bytes(implicit[:-7])
    # trailing padding after the pixel data: the element is not last
    (odd / "padded.dcm").write_bytes(data + b"\xfc\xff\xfc\xffOB\x00\x00"
                                     + struct.pack("<I", 4) + b"\x00" * 4)
    # a value with a line break (LO must not hold one; some files do)
    (odd / "line_break.dcm").write_bytes(data.replace(b"t1_tse_sag", b"t1_tse\nsag"))
    (odd / "text.txt").write_text("not a DICOM file\n" * 20)
    (odd / "empty").write_bytes(b"")
    (odd / "short").write_bytes(b"DICM")
    (odd / "archive.dcm.gz").write_bytes(gzip.compress(data))
    # multi-frame (Enhanced MR, highdicom legacy conversion)
    from highdicom.legacy import LegacyConvertedEnhancedMRImage
    from pydicom.uid import generate_uid

    image = LegacyConvertedEnhancedMRImage(
        legacy_datasets=[pydicom.dcmread(f) for f in sorted(sag)],
        series_instance_uid=generate_uid(), series_number=99,
        sop_instance_uid=generate_uid(), instance_number=1)
    image.save_as(odd / "enhanced.dcm")
    # JPEG 2000 (gdcmconv), whole and cut inside the fragments
    if shutil.which("gdcmconv"):  # (its JPEG 2000 coder aborts on images this small)
        big = write_series(_volume(3, (32, 32, 1)), root / "big", patient_id="P2",
                           uid_seed="c")
        subprocess.run(["gdcmconv", "--j2k", str(big[0]), str(odd / "j2k.dcm")],
                       check=True, capture_output=True)
        j2k = (odd / "j2k.dcm").read_bytes()
        (odd / "j2k_cut.dcm").write_bytes(j2k[:-30])
    # a DICOMDIR with its file-set copies (pydicom FileSet)
    from pydicom.fileset import FileSet

    fs = FileSet()
    for f in ax:
        fs.add(pydicom.dcmread(f))
    try:
        fs.write(root / "cd")
    finally:
        # FileSet stages files in a TemporaryDirectory it never cleans up explicitly;
        # left to the garbage collector it raises a ResourceWarning in a later test.
        fs._stage["t"].cleanup()
    return root


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "", ())}


def _differences(paths: list[Path]) -> list[str]:
    """Every way scan_headers differs from read_header on ``paths`` (empty: equal)."""
    got = scan_headers(paths)
    assert len(got) == len(paths)
    out = []
    for p, a in zip(paths, got, strict=True):
        b = read_header(p)
        if isinstance(a, str) or isinstance(b, str):
            if isinstance(a, str) != isinstance(b, str):
                out.append(f"{p}: scan {a!r:.80} / read_header {b!r:.80}")
            continue
        careful = "pydicom" in (a.via, b.via)
        va = _without_empty(a.values) if careful else a.values
        vb = _without_empty(b.values) if careful else b.values
        for field in ("path", "size", "has_pixels", "transfer_syntax", "frames",
                      "shared_orientation"):
            if getattr(a, field) != getattr(b, field):
                out.append(f"{p}: {field} {getattr(a, field)!r:.60} / "
                           f"{getattr(b, field)!r:.60}")
        for kw in sorted(set(va) | set(vb)):
            if va.get(kw, "<absent>") != vb.get(kw, "<absent>"):
                out.append(f"{p}: {kw} {va.get(kw, '<absent>')!r} / "
                           f"{vb.get(kw, '<absent>')!r}")
    return out


def test_tree_holds_every_oddity(tree: Path) -> None:
    names = {p.name for p in _files(tree)}
    assert {"implicit.dcm", "bigendian.dcm", "deflated.dcm", "no_preamble.dcm",
            "cut_pixels.dcm", "enhanced.dcm", "DICOMDIR", "padded.dcm"} <= names


def test_scan_equals_read_header_on_written_tree(tree: Path) -> None:
    paths = _files(tree)
    assert _differences(paths) == []


def test_scan_records_come_from_gdcm_for_plain_files(tree: Path) -> None:
    paths = sorted((tree / "sag").iterdir())
    recs = scan_headers(paths)
    assert all(isinstance(r, HeaderRecord) and r.via == "gdcm" and r.has_pixels
               for r in recs)
    first = recs[0]
    assert isinstance(first, HeaderRecord)
    broken = scan_headers([tree / "odd" / "line_break.dcm"])[0]
    assert isinstance(broken, HeaderRecord)
    assert broken.get("SeriesDescription") == "t1_tse\nsag"
    assert first.get("PatientName") == "Müller^Zoë"
    assert first.get("ScanningSequence") == ("SE", "IR")
    assert first.get("InversionTime") == 150.0


def test_scan_rejects_what_the_index_must_reject(tree: Path) -> None:
    odd = tree / "odd"
    names = ["cut_header.dcm", "cut_pixels.dcm", "cut_one_byte.dcm",
             "implicit_cut_pixels.dcm", "text.txt", "empty", "short",
             "archive.dcm.gz"] + (["j2k_cut.dcm"] if (odd / "j2k_cut.dcm").exists() else [])
    got = dict(zip(names, scan_headers([odd / n for n in names]), strict=True))
    for name, r in got.items():
        assert isinstance(r, str), (name, r)
    assert got["cut_pixels.dcm"].startswith("truncated")
    assert got["implicit_cut_pixels.dcm"].startswith("truncated")
    assert "gzip" in got["archive.dcm.gz"]
    assert got["empty"] == "empty file"


def test_scan_order_duplicates_and_missing_files(tree: Path) -> None:
    a, b = sorted((tree / "sag").iterdir())[:2]
    missing = tree / "no_such_file.dcm"
    got = scan_headers([b, a, b, missing])
    assert [r.path for r in got[:3]] == [b, a, b]  # type: ignore[union-attr]
    assert isinstance(got[3], str) and "cannot be read" in got[3]
    assert scan_headers([]) == []


@pytest.mark.parametrize("folder", _shipped_dirs(), ids=lambda p: p.parent.name)
def test_scan_equals_read_header_on_shipped_files(folder: Path) -> None:
    paths = _files(folder)
    assert len(paths) > 20
    assert _differences(paths) == []


def _native_cases(tree: Path) -> list[Path]:
    return _files(tree) + [p for d in _shipped_dirs() for p in _files(d)]


def test_native_pixel_offset_agrees_with_walk_native(tree: Path) -> None:
    checked = 0
    for p in _native_cases(tree):
        h = walk_native(p)
        if h is None:
            continue
        v = h.values
        off = native_pixel_offset(p, int(v["Rows"]), int(v["Columns"]),
                                  int(v["BitsAllocated"]), transfer_syntax=h.transfer_syntax)
        # None only where the pixel data is not the last element (trailing padding)
        if off is None:
            assert p.stat().st_size > h.pixel_offset + h.pixel_length, p
            continue
        assert off == h.pixel_offset, p
        checked += 1
    assert checked >= 10


def test_native_pixel_offset_on_written_series(tree: Path) -> None:
    for f in sorted((tree / "sag").iterdir()) + sorted((tree / "ax").iterdir()):
        h = walk_native(f)
        assert h is not None
        v = h.values
        assert native_pixel_offset(f, int(v["Rows"]), int(v["Columns"]),
                                   int(v["BitsAllocated"])) == h.pixel_offset
        # the wrong size or syntax is refused, not guessed
        assert native_pixel_offset(f, int(v["Rows"]) + 1, int(v["Columns"]),
                                   int(v["BitsAllocated"])) is None
        assert native_pixel_offset(f, int(v["Rows"]), int(v["Columns"]),
                                   int(v["BitsAllocated"]),
                                   transfer_syntax=ImplicitVRLittleEndian) is None
    implicit = tree / "odd" / "implicit_odd_size.dcm"
    h = walk_native(implicit)
    assert h is not None
    assert native_pixel_offset(implicit, 5, 7, 16) == h.pixel_offset
    assert native_pixel_offset(tree / "odd" / "cut_pixels.dcm", 6, 8, 16) is None
    assert native_pixel_offset(tree / "no_such_file", 6, 8, 16) is None


def test_native_headers_agree_with_walk_native(tree: Path) -> None:
    paths = _native_cases(tree)
    got = native_headers(paths)
    same = 0
    for p, a in zip(paths, got, strict=True):
        b = walk_native(p)
        if a is None:
            # the scan declines only files walk_native declines or whose pixel data is
            # followed by padding (the loader then uses pydicom)
            assert b is None or p.stat().st_size > b.pixel_offset + b.pixel_length, p
            continue
        assert b is not None, p
        assert (a.path, a.values, a.pixel_offset, a.pixel_length, a.transfer_syntax) == \
            (b.path, b.values, b.pixel_offset, b.pixel_length, b.transfer_syntax), p
        same += 1
    assert same >= 15


def test_index_stacks_are_the_same_with_either_reader(tree: Path) -> None:
    """What the swap would change downstream: build_stacks on either reader's records."""
    from bmes_imaging.dicom._stacks import RejectedFile, build_stacks

    paths = _files(tree) + [p for d in _shipped_dirs() for p in _files(d)]

    def stacks(results: list[HeaderRecord | str]) -> tuple[list[Any], set[Path]]:
        records = [r for r in results if isinstance(r, HeaderRecord)]
        rejected = [RejectedFile(p, r) for p, r in zip(paths, results, strict=True)
                    if isinstance(r, str)]
        built, more = build_stacks(records)
        return built, {r.path for r in rejected + more}

    got_stacks, got_rejected = stacks(scan_headers(paths))
    ref_stacks, ref_rejected = stacks([read_header(p) for p in paths])
    assert got_rejected == ref_rejected
    assert [s.stack_id for s in got_stacks] == [s.stack_id for s in ref_stacks]
    assert got_stacks == ref_stacks
