"""Hostile DICOM input for the fuzz suite: a base series, mutation families, verdicts.

Used by ``tests/core/fuzz/test_fuzz.py`` (a bounded budget in the normal test run) and
``bench/bench_fuzz.py`` (the full table, each case in a child process with a 3 GB
address-space limit and a 60 s timeout).

The base series is written by :func:`bmes_imaging.dicom.write_series`: 10 int16 axial
slices of 20 x 16 pixels, random content, named ``IM00000.dcm`` (first slice) to
``IM00009.dcm`` (last), with a planted patient name and ID that must never appear in a
reason or on stderr. A case copies it, mutates the copy (one family of structured
mutations, or seeded random damage), then :func:`run_case` indexes the folder and
loads it. The verdict is one of

* ``typed``: a :class:`~bmes_imaging.errors.BmesError` (the index never raises);
* ``equal``: a volume equal to what the case expects (the base series, or its known
  transform: RescaleSlope -1 in every file gives the negated volume);
* ``wrong``: a volume that differs (a silently wrong or partial image);
* ``refused_valid``: a case that must load (deflated, big endian, nested private
  sequences, junk beside the series...) was refused;
* ``traceback``: any other exception;
* ``memory``: a MemoryError anywhere (the bound was not checked before allocation);

and two more flags: ``leak`` (the planted name or ID appears in a reason, an error or
stderr) and ``noise`` (anything written to stderr).

Random damage is put in the headers (the bytes before the pixel data value): a flipped
pixel value changes an image in a way no reader can see (DICOM has no checksum), so
it is not a reader's fault.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PATIENT_NAME = "Fuzzsurname^Fuzzgiven"
PATIENT_ID = "FUZZID4711"
N_SLICES = 10
FIRST, MIDDLE, LAST = 0, 5, N_SLICES - 1
WHERE = {"first": FIRST, "middle": MIDDLE, "last": LAST}
FAMILIES = ("geometry", "pixel format", "sizes", "transfer syntax", "nesting", "charset",
            "file system", "random")


def slice_name(k: int) -> str:
    return f"IM{k:05d}.dcm"


def write_base(folder: Path) -> list[Path]:
    """The unmutated series (slice k in ``IM0000k.dcm``)."""
    from bmes_imaging.dicom import write_series
    from bmes_imaging.volume import Volume

    rng = np.random.default_rng(21)
    affine = np.diag([-0.8, -0.9, 2.5, 1.0])
    affine[:3, 3] = [30.0, 20.0, -10.0]
    data = rng.integers(1, 900, size=(20, 16, N_SLICES)).astype(np.int16)
    return write_series(Volume(data, affine), folder, patient_id=PATIENT_ID,
                        patient_name=PATIENT_NAME, uid_seed="fuzz-base", dtype="int16",
                        series_description="t1_tse_sag", filename_pattern="IM{index:05d}.dcm")


# ------------------------------------------------------------------------ editing

def _quiet_edit(path: Path, change: Callable[[Any], None], *,
                write: Callable[[Any, Path], None] | None = None) -> None:
    """Read ``path`` with pydicom, apply ``change``, write it back (values unchecked)."""
    import warnings

    import pydicom
    from pydicom import config

    with warnings.catch_warnings():  # writing hostile values on purpose (test setup)
        warnings.simplefilter("ignore")
        old = config.settings.writing_validation_mode
        config.settings.writing_validation_mode = config.IGNORE
        try:
            ds = pydicom.dcmread(path, force=True)
            change(ds)
            if write is not None:
                write(ds, path)
            else:
                ds.save_as(path)
        finally:
            config.settings.writing_validation_mode = old


def set_raw(keyword_or_tag: str | int, vr: str, value: bytes) -> Callable[[Any], None]:
    """A change setting an element to raw bytes (any VR, any content)."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    tag = Tag(keyword_or_tag if isinstance(keyword_or_tag, int)
              else tag_for_keyword(keyword_or_tag))

    def change(ds: Any) -> None:
        if len(value) % 2:
            padded = value + (b"\x00" if vr == "UI" else b" ")
        else:
            padded = value
        ds._dict[tag] = RawDataElement(tag, vr, len(padded), padded, 0, False, True)

    return change


def remove(keyword: str) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        if keyword in ds:
            del ds[keyword]
    return change


def set_value(keyword: str, value: Any) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        setattr(ds, keyword, value)
    return change


def text(keyword: str, value: str, vr: str = "DS") -> Callable[[Any], None]:
    return set_raw(keyword, vr, value.encode("latin-1"))


def edit_files(targets: list[int] | str, change: Callable[[Any], None]
               ) -> Callable[[Path, list[Path]], None]:
    """A mutation applying ``change`` to the files of ``targets`` (indices or "all")."""
    def mutate(folder: Path, files: list[Path]) -> None:
        chosen = files if targets == "all" else [files[k] for k in targets]
        for f in chosen:
            _quiet_edit(f, change)
    return mutate


def _shift_position(mm: float, axis: int) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        pos = [float(v) for v in ds.ImagePositionPatient]
        pos[axis] += mm
        ds.ImagePositionPatient = [f"{v:.6g}" for v in pos]
    return change


def _neighbour_position(ds_path_of: Callable[[], Path]) -> Callable[[Any], None]:
    import pydicom

    def change(ds: Any) -> None:
        other = pydicom.dcmread(ds_path_of(), stop_before_pixels=True)
        ds.ImagePositionPatient = other.ImagePositionPatient
    return change


def _rotate_iop(degrees: float) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        a = np.radians(degrees)
        row = np.array([float(v) for v in ds.ImageOrientationPatient[:3]])
        col = np.array([float(v) for v in ds.ImageOrientationPatient[3:]])
        r2 = np.cos(a) * row + np.sin(a) * col
        c2 = -np.sin(a) * row + np.cos(a) * col
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*r2, *c2)]
    return change


def _pixel_bytes(transform: Callable[[bytes], bytes]) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        ds.PixelData = transform(bytes(ds.PixelData))
    return change


def _negate_pixels_and(keyword: str, value: str) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        setattr(ds, keyword, value)
    return change


def truncate(k: int, keep: Callable[[int, int], int]) -> Callable[[Path, list[Path]], None]:
    """Cut file ``k`` to ``keep(size, pixel_offset)`` bytes."""
    def mutate(folder: Path, files: list[Path]) -> None:
        data = files[k].read_bytes()
        files[k].write_bytes(data[:max(0, keep(len(data), pixel_offset(data)))])
    return mutate


def pixel_offset(data: bytes) -> int:
    """Offset of the PixelData value in an explicit VR little endian file."""
    at = data.rfind(b"\xe0\x7f\x10\x00OW")
    if at < 0:
        at = data.rfind(b"\xe0\x7f\x10\x00OB")
    return at + 12 if at >= 0 else len(data)


def _write_deflated(ds: Any, path: Path) -> None:
    import pydicom

    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def _write_big_endian(ds: Any, path: Path) -> None:
    import pydicom
    from pydicom.filewriter import dcmwrite

    arr = np.frombuffer(bytes(ds.PixelData), dtype="<i2")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    ds.PixelData = arr.astype(">i2").tobytes()
    dcmwrite(path, ds, little_endian=False, implicit_vr=False, force_encoding=True)


def rewrite(targets: list[int] | str, how: Callable[[Any, Path], None]
            ) -> Callable[[Path, list[Path]], None]:
    def mutate(folder: Path, files: list[Path]) -> None:
        chosen = files if targets == "all" else [files[k] for k in targets]
        for f in chosen:
            _quiet_edit(f, lambda ds: None, write=how)
    return mutate


def deflate_bomb(k: int, inflated: int) -> Callable[[Path, list[Path]], None]:
    """File ``k`` becomes a deflated file whose data set inflates to ``inflated`` bytes
    (the slice's own data set, then a private OB element of zeros)."""
    def mutate(folder: Path, files: list[Path]) -> None:
        data = files[k].read_bytes()
        meta_end = _meta_end(data)
        meta = _meta_with_syntax(data[:meta_end], b"1.2.840.10008.1.2.1.99\x00")
        body = data[meta_end:]
        pad = max(0, inflated - len(body) - 12)
        comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        out = [comp.compress(body + struct.pack("<HH2sHI", 0x7FE1, 0x0010, b"OB", 0, pad))]
        zeros = bytes(1 << 24)
        left = pad
        while left > 0:
            n = min(left, len(zeros))
            out.append(comp.compress(zeros[:n]))
            left -= n
        out.append(comp.flush())
        files[k].write_bytes(meta + b"".join(out))
    return mutate


def _meta_end(data: bytes) -> int:
    """End of the File Meta group (explicit VR little endian, after the preamble)."""
    pos = 132
    while pos + 8 <= len(data):
        group, _elem = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            return pos
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UR", b"UC"):
            length = struct.unpack_from("<I", data, pos + 8)[0]
            pos += 12 + length
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            pos += 8 + length
    return pos


def _meta_with_syntax(meta: bytes, uid: bytes) -> bytes:
    """The File Meta bytes with TransferSyntaxUID replaced and the group length fixed."""
    pos, out = 132, [meta[:132]]
    elements = []
    while pos + 8 <= len(meta):
        _group, elem = struct.unpack_from("<HH", meta, pos)
        vr = meta[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UR", b"UC"):
            length = struct.unpack_from("<I", meta, pos + 8)[0]
            raw, pos = meta[pos:pos + 12 + length], pos + 12 + length
        else:
            length = struct.unpack_from("<H", meta, pos + 6)[0]
            raw, pos = meta[pos:pos + 8 + length], pos + 8 + length
        if elem == 0x0010:
            raw = struct.pack("<HH2sH", 2, 0x10, b"UI", len(uid)) + uid
        if elem != 0x0000:
            elements.append(raw)
    body = b"".join(elements)
    out.append(struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(body)) + body)
    return b"".join(out)


def nested_private(depth: int, undefined: bool) -> Callable[[Path, list[Path]], None]:
    """A private sequence nested ``depth`` deep in every file (valid DICOM)."""
    def mutate(folder: Path, files: list[Path]) -> None:
        inner = struct.pack("<HH2sH", 0x0029, 0x1010, b"LO", 4) + b"deep"
        for _ in range(depth):
            if undefined:
                item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner \
                    + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
                inner = (struct.pack("<HH2sHI", 0x0029, 0x1020, b"SQ", 0, 0xFFFFFFFF) + item
                         + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
            else:
                item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
                inner = struct.pack("<HH2sHI", 0x0029, 0x1020, b"SQ", 0, len(item)) + item
        creator = struct.pack("<HH2sH", 0x0029, 0x0010, b"LO", 4) + b"FUZZ"
        for f in files:
            data = f.read_bytes()
            at = _group_start(data, 0x0029)
            f.write_bytes(data[:at] + creator + inner + data[at:])
    return mutate


def _group_start(data: bytes, group: int) -> int:
    """Offset of the first element of a group >= ``group`` (explicit VR LE, after meta)."""
    pos = _meta_end(data)
    while pos + 8 <= len(data):
        g = struct.unpack_from("<H", data, pos)[0]
        if g >= group:
            return pos
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UR", b"UC", b"OF", b"OD", b"OL"):
            pos += 12 + struct.unpack_from("<I", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return pos


def fs_change(action: Callable[[Path, list[Path]], None]) -> Callable[[Path, list[Path]], None]:
    return action


def _empty_slice(k: int) -> Callable[[Path, list[Path]], None]:
    return lambda folder, files: files[k].write_bytes(b"")


def _dangling(k: int) -> Callable[[Path, list[Path]], None]:
    def mutate(folder: Path, files: list[Path]) -> None:
        files[k].unlink()
        os.symlink(folder / "gone" / files[k].name, files[k])
    return mutate


def _fifo_extra(folder: Path, files: list[Path]) -> None:
    os.mkfifo(folder / "IM77777.dcm")


def _dir_named_dcm(folder: Path, files: list[Path]) -> None:
    (folder / "IM88888.dcm").mkdir()
    (folder / "series.dcm").mkdir()


def _symlink_loop(folder: Path, files: list[Path]) -> None:
    os.symlink(folder, folder / "loop")
    os.symlink(folder / "self.dcm", folder / "self.dcm")


def _extra_junk(folder: Path, files: list[Path]) -> None:
    (folder / "notes.txt").write_text("scanned by the night shift\n")
    (folder / "junk.dcm").write_bytes(b"")
    (folder / "DICOMDIR.bak").write_bytes(os.urandom(3000))


def _duplicate_copy(folder: Path, files: list[Path]) -> None:
    shutil.copy(files[LAST], folder / "copy of last.dcm")


def _symlink_duplicate(folder: Path, files: list[Path]) -> None:
    os.symlink(files[MIDDLE], folder / "link.dcm")


# ------------------------------------------------------------------------- cases

@dataclass
class Case:
    """One hostile input: how to damage the base series and what may come out."""

    family: str
    name: str
    mutate: Callable[[Path, list[Path]], None]
    must_load: bool = False  # valid input: a refusal is a failure
    expect: Callable[[Any], Any] | None = None  # expected array from the base array
    env: dict[str, str] = field(default_factory=dict)


def structured_cases(bomb_bytes: int = 64 << 20, bomb_limit: int | None = 16 << 20
                     ) -> list[Case]:
    """Every structured family. ``bomb_limit`` sets BMES_MAX_FILE_BYTES for the deflate
    bombs (None: the default limit, with bombs of ``bomb_bytes``)."""
    cases: list[Case] = []
    add = cases.append
    for where, k in WHERE.items():
        nxt = MIDDLE + 1 if k == MIDDLE else (1 if k == FIRST else LAST - 1)
        for name, change in (
            ("ImagePositionPatient removed", remove("ImagePositionPatient")),
            ("ImagePositionPatient nan", text("ImagePositionPatient", "nan\\0\\0")),
            ("ImagePositionPatient 1e400", text("ImagePositionPatient", "1e400\\0\\0")),
            ("ImagePositionPatient two values", text("ImagePositionPatient", "1\\2")),
            ("position off by 0.3 slice", _shift_position(0.75, 2)),
            ("position off the line by 5 mm", _shift_position(5.0, 0)),
            ("position of a neighbour", _neighbour_position(
                lambda nxt=nxt: _current_files[nxt])),
            ("ImageOrientationPatient removed", remove("ImageOrientationPatient")),
            ("ImageOrientationPatient zeros", text("ImageOrientationPatient",
                                                   "0\\0\\0\\0\\0\\0")),
            ("orientation rotated 10 degrees", _rotate_iop(10.0)),
            ("PixelSpacing removed", remove("PixelSpacing")),
            ("PixelSpacing 0", text("PixelSpacing", "0\\0")),
            ("PixelSpacing negative", text("PixelSpacing", "-1\\-1")),
            ("PixelSpacing other", text("PixelSpacing", "0.7\\0.7")),
        ):
            add(Case("geometry", f"{name} ({where})", edit_files([k], change)))
        for name, change in (
            ("BitsAllocated 8 over 16-bit data", set_value("BitsAllocated", 8)),
            ("Rows halved", set_value("Rows", 8)),
            ("Rows + 1", set_value("Rows", 17)),
            ("Columns - 1", set_value("Columns", 19)),
            ("BitsStored 0", set_value("BitsStored", 0)),
            ("BitsStored 17", set_value("BitsStored", 17)),
            ("PixelRepresentation 2", set_value("PixelRepresentation", 2)),
            ("SamplesPerPixel 3", set_value("SamplesPerPixel", 3)),
            ("PhotometricInterpretation RGB", text("PhotometricInterpretation", "RGB",
                                                   "CS")),
            ("RescaleSlope 0", text("RescaleSlope", "0")),
            ("RescaleSlope 1e38", text("RescaleSlope", "1e38")),
            ("RescaleSlope nan", text("RescaleSlope", "nan")),
            ("RescaleSlope abc", text("RescaleSlope", "abc")),
            ("RescaleIntercept 1e39", text("RescaleIntercept", "1e39")),
            ("RescaleIntercept inf", text("RescaleIntercept", "inf")),
        ):
            add(Case("pixel format", f"{name} ({where})", edit_files([k], change)))
        # a legal per-slice rescale: the loader must apply it (not a damage)
        add(Case("pixel format", f"RescaleSlope 3 in one slice ({where})",
                 edit_files([k], text("RescaleSlope", "3")), must_load=True,
                 expect=_slice_times(k, 3.0)))
        for name, keep in (
            ("truncated at half", lambda size, px: size // 2),
            ("truncated in the header", lambda size, px: 400),
            ("truncated before the pixels", lambda size, px: px - 4),
            ("truncated by 1 byte", lambda size, px: size - 1),
            ("truncated by one row", lambda size, px: size - 40),
        ):
            add(Case("sizes", f"{name} ({where})", truncate(k, keep)))
        add(Case("sizes", f"element length of 3.75 GiB ({where})", _huge_length(k)))
        add(Case("sizes", f"PixelData removed ({where})",
                 edit_files([k], remove("PixelData"))))
        add(Case("file system", f"slice replaced by an empty file ({where})",
                 _empty_slice(k)))
        add(Case("file system", f"slice replaced by a dangling symlink ({where})",
                 _dangling(k)))
        add(Case("transfer syntax", f"syntax says JPEG over native data ({where})",
                 _syntax(k, "1.2.840.10008.1.2.4.50")))
        add(Case("transfer syntax", f"syntax says implicit VR ({where})",
                 _syntax(k, "1.2.840.10008.1.2")))
        add(Case("transfer syntax", f"unknown transfer syntax ({where})",
                 _syntax(k, "1.2.3.4.5.6")))
        add(Case("transfer syntax", f"deflated slice ({where})",
                 rewrite([k], _write_deflated), must_load=True))
        add(Case("transfer syntax", f"big endian slice ({where})",
                 rewrite([k], _write_big_endian), must_load=True))
        env = {"BMES_MAX_FILE_BYTES": str(bomb_limit)} if bomb_limit else {}
        add(Case("sizes", f"deflate bomb ({where})", deflate_bomb(k, bomb_bytes), env=env))
        add(Case("charset", f"over-long SOPClassUID holding the name ({where})",
                 edit_files([k], set_raw("SOPClassUID", "UI", (
                     "1.2.840.10008.5.1.4.1.1.4" + "\\" + PATIENT_NAME + "\\" + PATIENT_ID
                     + "9" * 300).encode()))))
        add(Case("charset", f"over-long SeriesInstanceUID holding the ID ({where})",
                 edit_files([k], set_raw("SeriesInstanceUID", "UI", (
                     "1.2.3." + PATIENT_ID + "\x1b[2J" + PATIENT_NAME).encode()))))
    # every file
    for name, change in (
        ("Rows 65535 x Columns 65535 declared", _big_declared),
        ("NumberOfFrames 100000", text("NumberOfFrames", "100000", "IS")),
        ("BitsAllocated 8 everywhere", set_value("BitsAllocated", 8)),
        ("PixelData extended by junk", _pixel_bytes(lambda b: b + os.urandom(40))),
        ("PixelData doubled", _pixel_bytes(lambda b: b + b)),
    ):
        add(Case("pixel format" if "Bits" in name else "sizes", f"{name} (all)",
                 edit_files("all", change)))
    add(Case("pixel format", "RescaleSlope -1 (all)",
             edit_files("all", text("RescaleSlope", "-1")), must_load=True,
             expect=lambda a: -a.astype(np.float32)))
    add(Case("pixel format", "RescaleSlope 2, intercept -100 (all)",
             edit_files("all", _both(text("RescaleSlope", "2"),
                                     text("RescaleIntercept", "-100"))),
             must_load=True, expect=lambda a: 2 * a.astype(np.float32) - 100))
    add(Case("transfer syntax", "deflated series (all)", rewrite("all", _write_deflated),
             must_load=True))
    add(Case("transfer syntax", "big endian series (all)",
             rewrite("all", _write_big_endian), must_load=True))
    add(Case("transfer syntax", "no File Meta header (all)", _strip_meta, must_load=True))
    add(Case("transfer syntax", "big endian without File Meta header (all)",
             _then(rewrite("all", _write_big_endian), _strip_meta), must_load=True))
    for depth, undefined in ((200, False), (200, True), (64, True)):
        add(Case("nesting", f"private sequence {depth} deep "
                 f"({'undefined' if undefined else 'defined'} length)",
                 nested_private(depth, undefined), must_load=True))
    for depth, undefined in ((3000, True), (3000, False), (20000, True)):
        add(Case("nesting", f"private sequence {depth} deep "
                 f"({'undefined' if undefined else 'defined'} length)",
                 nested_private(depth, undefined)))
    add(Case("nesting", "sequence item longer than the file (middle)",
             edit_files([MIDDLE], set_raw(0x00291020, "SQ", struct.pack(
                 "<HHI", 0xFFFE, 0xE000, 0x7FFFFFF0) + b"x" * 8))))
    for name, change, must in (
        ("SpecificCharacterSet ISO_IR 999", text("SpecificCharacterSet", "ISO_IR 999",
                                                 "CS"), True),
        ("SeriesDescription with terminal escapes", set_raw(
            "SeriesDescription", "LO", b"\x1b]0;pwned\x07\x1b[2Jt1"), True),
        ("PatientName invalid UTF-8 under ISO_IR 192", _both(
            text("SpecificCharacterSet", "ISO_IR 192", "CS"),
            set_raw("PatientName", "PN", b"Fuzz\xff\xfe^\xc3")), True),
        ("ISO 2022 escapes in PatientName", _both(
            text("SpecificCharacterSet", "\\ISO 2022 IR 87", "CS"),
            set_raw("PatientName", "PN", b"\x1b$B\x1b(J\x1b$)")), True),
        ("100 KB StudyDescription", set_raw("StudyDescription", "LO", b"A" * 100_000),
         True),
        ("control characters in SOPInstanceUID", set_raw("SOPInstanceUID", "UI",
                                                         b"1.2.\x07\x1b[31m3"), False),
    ):
        add(Case("charset", f"{name} (all)", edit_files("all", change), must_load=must))
    for name, action, must in (
        ("junk files beside the series", _extra_junk, True),
        ("a FIFO named like a slice", _fifo_extra, True),
        ("folders named .dcm", _dir_named_dcm, True),
        ("symlink loops", _symlink_loop, True),
        ("a second copy of the last slice", _duplicate_copy, False),
        ("a symlink to a slice", _symlink_duplicate, False),
    ):
        add(Case("file system", name, fs_change(action), must_load=must))
    return cases


def _syntax(k: int, uid: str) -> Callable[[Path, list[Path]], None]:
    """File ``k``'s File Meta names another transfer syntax (the data set unchanged)."""
    def mutate(folder: Path, files: list[Path]) -> None:
        data = files[k].read_bytes()
        end = _meta_end(data)
        raw = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
        files[k].write_bytes(_meta_with_syntax(data[:end], raw) + data[end:])
    return mutate


def _slice_times(k: int, factor: float) -> Callable[[Any], Any]:
    def expect(a: Any) -> Any:
        out = a.astype(np.float32)
        out[:, :, k] *= factor
        return out
    return expect


def _both(*changes: Callable[[Any], None]) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        for c in changes:
            c(ds)
    return change


def _huge_length(k: int) -> Callable[[Path, list[Path]], None]:
    """File ``k`` holds a private OB element whose length field says 0xF0000000."""
    def mutate(folder: Path, files: list[Path]) -> None:
        data = files[k].read_bytes()
        at = _group_start(data, 0x0029)
        element = struct.pack("<HH2sHI", 0x0029, 0x0010, b"OB", 0, 0xF0000000) + b"\x00" * 8
        files[k].write_bytes(data[:at] + element + data[at:])
    return mutate


def _then(*steps: Callable[[Path, list[Path]], None]) -> Callable[[Path, list[Path]], None]:
    def mutate(folder: Path, files: list[Path]) -> None:
        for step in steps:
            step(folder, files)
    return mutate


def _big_declared(ds: Any) -> None:
    ds.Rows = 65535
    ds.Columns = 65535


def _strip_meta(folder: Path, files: list[Path]) -> None:
    for f in files:
        data = f.read_bytes()
        f.write_bytes(data[_meta_end(data):])


_current_files: list[Path] = []


def random_cases(n: int, seed: int = 21) -> list[Case]:
    """``n`` seeded random damages: bytes flipped, runs overwritten or files cut, in the
    header (or, for cuts, anywhere) of the first, last or a random file."""
    cases = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        k = rng.choice([FIRST, LAST, rng.randrange(N_SLICES)])
        kind = rng.choices(["flip", "run", "cut"], weights=[6, 2, 1])[0]
        cases.append(Case("random", f"#{i} {kind} in {slice_name(k)}",
                          _random_damage(k, kind, rng.randrange(1 << 30))))
    return cases


def _random_damage(k: int, kind: str, seed: int) -> Callable[[Path, list[Path]], None]:
    def mutate(folder: Path, files: list[Path]) -> None:
        rng = random.Random(seed)
        data = bytearray(files[k].read_bytes())
        end = pixel_offset(bytes(data))
        if kind == "cut":
            files[k].write_bytes(bytes(data[:rng.randrange(len(data))]))
            return
        if kind == "run":
            at = rng.randrange(128, end)
            data[at:at + 4] = bytes([rng.choice([0x00, 0xFF, 0x7F])]) * 4
        else:
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(128, end)
                data[at] ^= rng.randrange(1, 256)
        files[k].write_bytes(bytes(data))
    return mutate


# ---------------------------------------------------------------------- verdicts

def prepare(case: Case, base: Path, folder: Path) -> None:
    """Copy the base series to ``folder`` and apply the case's mutation."""
    shutil.copytree(base, folder, symlinks=True)
    files = [folder / slice_name(k) for k in range(N_SLICES)]
    _current_files[:] = files
    case.mutate(folder, files)


def _leaks(text: str) -> bool:
    low = text.lower()
    return any(s.lower() in low for s in ("Fuzzsurname", "Fuzzgiven", PATIENT_ID))


def run_case(case: Case, folder: Path, expected: np.ndarray, affine: np.ndarray,
             stderr_text: Callable[[], str] = lambda: "") -> dict[str, Any]:
    """Index and load ``folder``; the verdict (see the module docstring) and details."""
    from bmes_imaging.dicom import index_folder, load_series
    from bmes_imaging.errors import BmesError

    out: dict[str, Any] = {"family": case.family, "case": case.name, "leak": False,
                           "noise": False, "detail": ""}
    texts: list[str] = []
    try:
        index = index_folder(folder)
        texts += [str(r.reason) for r in index.rejected] + list(index.notes)
        texts += [s.stack_id for s in index.stacks]
        vol = load_series(folder)
    except BmesError as exc:
        texts.append(str(exc))
        memory = "MemoryError" in str(exc)
        out["verdict"] = ("memory" if memory else
                          "refused_valid" if case.must_load else "typed")
        out["detail"] = str(exc)[:300]
    except MemoryError:
        out["verdict"], out["detail"] = "memory", "MemoryError"
    except Exception as exc:  # noqa: BLE001 - the verdict records any other exception
        import traceback

        out["verdict"] = "traceback"
        out["detail"] = "".join(traceback.format_exception_only(exc))[:300]
        texts.append(out["detail"])
    else:
        want = case.expect(expected) if case.expect else expected
        same = (vol.array.shape == want.shape
                and np.allclose(vol.array, want, atol=1e-3)
                and np.allclose(vol.affine, affine, atol=0.05))
        out["verdict"] = "equal" if same else "wrong"
        if not same:
            out["detail"] = (f"loaded {vol.array.shape} (expected {want.shape}), "
                             f"max |diff| {_diff(vol.array, want)}")
    err = stderr_text()
    out["noise"] = bool(err.strip())
    out["leak"] = any(_leaks(t) for t in texts) or _leaks(err)
    if out["noise"]:
        out["detail"] += f" | stderr: {err[:200]!r}"
    return out


def _diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return "n/a"
    return f"{float(np.max(np.abs(a.astype(np.float64) - b))):.3g}"
