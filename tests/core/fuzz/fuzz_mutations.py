"""Mutations of the fuzz suite: how a copy of the base series is damaged.

Changes of one data set (``set_raw``, ``remove``, ``text``...: applied with pydicom,
values unchecked), of the encoding (``rewrite`` with ``write_deflated`` /
``write_big_endian``), of raw bytes (truncation, deflate bombs, nested sequences,
huge length fields, seeded random damage) and of the file system (empty files,
dangling links, FIFOs, loops). Each builder returns ``mutate(folder, files)``, where
``files[k]`` is slice ``k`` of the copy. Used by :mod:`dicom_fuzz`.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Mutation = Callable[[Path, list[Path]], None]
#: The files of the copy being mutated (for mutations that read a neighbour).
current_files: list[Path] = []


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


def shift_position(mm: float, axis: int) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        pos = [float(v) for v in ds.ImagePositionPatient]
        pos[axis] += mm
        ds.ImagePositionPatient = [f"{v:.6g}" for v in pos]
    return change


def neighbour_position(ds_path_of: Callable[[], Path]) -> Callable[[Any], None]:
    import pydicom

    def change(ds: Any) -> None:
        other = pydicom.dcmread(ds_path_of(), stop_before_pixels=True)
        ds.ImagePositionPatient = other.ImagePositionPatient
    return change


def rotate_iop(degrees: float) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        a = np.radians(degrees)
        row = np.array([float(v) for v in ds.ImageOrientationPatient[:3]])
        col = np.array([float(v) for v in ds.ImageOrientationPatient[3:]])
        r2 = np.cos(a) * row + np.sin(a) * col
        c2 = -np.sin(a) * row + np.cos(a) * col
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*r2, *c2)]
    return change


def pixel_bytes(transform: Callable[[bytes], bytes]) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        ds.PixelData = transform(bytes(ds.PixelData))
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


def write_deflated(ds: Any, path: Path) -> None:
    import pydicom

    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def write_big_endian(ds: Any, path: Path) -> None:
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
        end = meta_end(data)
        meta = meta_with_syntax(data[:end], b"1.2.840.10008.1.2.1.99\x00")
        body = data[end:]
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


def meta_end(data: bytes) -> int:
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


def meta_with_syntax(meta: bytes, uid: bytes) -> bytes:
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
            at = group_start(data, 0x0029)
            f.write_bytes(data[:at] + creator + inner + data[at:])
    return mutate


def group_start(data: bytes, group: int) -> int:
    """Offset of the first element of a group >= ``group`` (explicit VR LE, after meta)."""
    pos = meta_end(data)
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


def empty_slice(k: int) -> Callable[[Path, list[Path]], None]:
    return lambda folder, files: files[k].write_bytes(b"")


def dangling(k: int) -> Callable[[Path, list[Path]], None]:
    def mutate(folder: Path, files: list[Path]) -> None:
        files[k].unlink()
        os.symlink(folder / "gone" / files[k].name, files[k])
    return mutate


def fifo_extra(folder: Path, files: list[Path]) -> None:
    os.mkfifo(folder / "IM77777.dcm")


def dir_named_dcm(folder: Path, files: list[Path]) -> None:
    (folder / "IM88888.dcm").mkdir()
    (folder / "series.dcm").mkdir()


def symlink_loop(folder: Path, files: list[Path]) -> None:
    os.symlink(folder, folder / "loop")
    os.symlink(folder / "self.dcm", folder / "self.dcm")


def extra_junk(folder: Path, files: list[Path]) -> None:
    (folder / "notes.txt").write_text("scanned by the night shift\n")
    (folder / "junk.dcm").write_bytes(b"")
    (folder / "DICOMDIR.bak").write_bytes(os.urandom(3000))


def duplicate_copy(folder: Path, files: list[Path]) -> None:
    shutil.copy(files[-1], folder / "copy of last.dcm")


def symlink_duplicate(folder: Path, files: list[Path]) -> None:
    os.symlink(files[len(files) // 2], folder / "link.dcm")


def syntax(k: int, uid: str) -> Callable[[Path, list[Path]], None]:
    """File ``k``'s File Meta names another transfer syntax (the data set unchanged)."""
    def mutate(folder: Path, files: list[Path]) -> None:
        data = files[k].read_bytes()
        end = meta_end(data)
        raw = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
        files[k].write_bytes(meta_with_syntax(data[:end], raw) + data[end:])
    return mutate


def slice_times(k: int, factor: float) -> Callable[[Any], Any]:
    def expect(a: Any) -> Any:
        out = a.astype(np.float32)
        out[:, :, k] *= factor
        return out
    return expect


def both(*changes: Callable[[Any], None]) -> Callable[[Any], None]:
    def change(ds: Any) -> None:
        for c in changes:
            c(ds)
    return change


def huge_length(k: int) -> Callable[[Path, list[Path]], None]:
    """File ``k`` holds a private OB element whose length field says 0xF0000000."""
    def mutate(folder: Path, files: list[Path]) -> None:
        data = files[k].read_bytes()
        at = group_start(data, 0x0029)
        element = struct.pack("<HH2sHI", 0x0029, 0x0010, b"OB", 0, 0xF0000000) + b"\x00" * 8
        files[k].write_bytes(data[:at] + element + data[at:])
    return mutate


def then(*steps: Callable[[Path, list[Path]], None]) -> Callable[[Path, list[Path]], None]:
    def mutate(folder: Path, files: list[Path]) -> None:
        for step in steps:
            step(folder, files)
    return mutate


def big_declared(ds: Any) -> None:
    ds.Rows = 65535
    ds.Columns = 65535


def strip_meta(folder: Path, files: list[Path]) -> None:
    for f in files:
        data = f.read_bytes()
        f.write_bytes(data[meta_end(data):])


def random_damage(k: int, kind: str, seed: int) -> Callable[[Path, list[Path]], None]:
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
