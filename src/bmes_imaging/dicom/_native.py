"""Fast path for natively encoded single-frame images: header walk and pixel location.

Most MR series arrive as one uncompressed little-endian file per slice. For those,
:func:`walk_native` reads only the first bytes of a file, walks the data elements in
pure Python (explicit or implicit VR little endian, nested sequences skipped), keeps
the few attributes the loader needs and records where the pixel bytes start, so the
loader can later read them straight into its output array (``readinto``) without
pydicom parsing the whole file.

Anything unusual (another transfer syntax, multi-frame, encapsulated pixels, odd bit
depths, malformed elements, a truncated file) returns ``None``: the caller then reads
the file with pydicom, which either decodes it or explains what is wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NativeHeader", "walk_native"]

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"

_HEAD_CHUNK = 32768
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN",
                       b"UR", b"UT", b"SV", b"UV"})
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")
_TAG_LEN = struct.Struct("<HHI")

#: Tags kept by the walk: tag -> keyword.
_WANTED: dict[int, str] = {
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x00180050: "SliceThickness",
    0x0020000E: "SeriesInstanceUID",
    0x00200013: "InstanceNumber",
    0x00200032: "ImagePositionPatient",
    0x00200037: "ImageOrientationPatient",
    0x00280002: "SamplesPerPixel",
    0x00280004: "PhotometricInterpretation",
    0x00280008: "NumberOfFrames",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280030: "PixelSpacing",
    0x00280100: "BitsAllocated",
    0x00280101: "BitsStored",
    0x00280103: "PixelRepresentation",
    0x00281052: "RescaleIntercept",
    0x00281053: "RescaleSlope",
}
_US_TAGS = frozenset({0x00280002, 0x00280010, 0x00280011, 0x00280100, 0x00280101,
                      0x00280103})


@dataclass(slots=True)
class NativeHeader:
    """What the loader needs from one native single-frame file.

    Attributes
    ----------
    path
        The file.
    values
        Raw attribute values by keyword: ``str`` for text, ``int`` for US.
    pixel_offset, pixel_length
        Byte offset and length of the PixelData value in the file.
    transfer_syntax
        Transfer Syntax UID (explicit or implicit VR little endian).
    """

    path: Path
    values: dict[str, str | int]
    pixel_offset: int
    pixel_length: int
    transfer_syntax: str


class _NeedMore(Exception):
    """The walk ran past the bytes read so far."""


class _Odd(Exception):
    """Something the fast walk does not handle; let pydicom read the file."""


def _need(buf: bytes, end: int) -> None:
    if end > len(buf):
        raise _NeedMore


def _skip_sequence(buf: bytes, pos: int, explicit: bool, depth: int) -> int:
    """Skip an undefined-length sequence value starting at ``pos``; return the end."""
    if depth > 32:
        raise _Odd
    while True:
        _need(buf, pos + 8)
        group, elem, length = _TAG_LEN.unpack_from(buf, pos)
        pos += 8
        if group != 0xFFFE:
            raise _Odd
        if elem == 0xE0DD:  # sequence delimitation
            return pos
        if elem != 0xE000:
            raise _Odd
        if length == _UNDEFINED:
            pos = _walk_elements(buf, pos, explicit, None, depth + 1)
        else:
            pos += length


_VALID_VRS = _LONG_VRS | frozenset({
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
    b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
_EXPLICIT_SHORT = struct.Struct("<HH2sH")


def _walk_elements(buf: bytes, pos: int, explicit: bool, out: dict[str, str | int] | None,
                   depth: int) -> int:
    """Walk elements from ``pos``.

    At top level (``out`` given) stop at PixelData and return its header position;
    inside an undefined-length item stop after the item delimiter and return the end.
    Reading past the end of ``buf`` raises ``struct.error`` or :class:`_NeedMore`.
    """
    unpack_short = _EXPLICIT_SHORT.unpack_from
    unpack_tag_len = _TAG_LEN.unpack_from
    unpack_u32 = _U32.unpack_from
    top = out is not None
    while True:
        if explicit:
            group, elem, vr, length = unpack_short(buf, pos)
        else:
            group, elem, length = unpack_tag_len(buf, pos)
            vr = b""
        tag = (group << 16) | elem
        if group == 0xFFFE:
            if not top and elem == 0xE00D:  # item delimitation
                return pos + 8
            raise _Odd
        if top and tag >= _PIXEL_DATA:
            if tag != _PIXEL_DATA:
                raise _Odd
            return pos
        if explicit:
            if vr in _LONG_VRS:
                length = unpack_u32(buf, pos + 8)[0]
                pos += 12
            elif vr in _VALID_VRS:
                pos += 8
            else:
                raise _Odd
        else:
            pos += 8
        if length == _UNDEFINED:
            # explicit SQ, or implicit (always SQ), or UN (content is implicit VR)
            if explicit and vr not in (b"SQ", b"UN"):
                raise _Odd
            pos = _skip_sequence(buf, pos, explicit and vr == b"SQ", depth)
            continue
        if top and tag in _WANTED:
            end = pos + length
            if end > len(buf):
                raise _NeedMore
            if tag in _US_TAGS:
                if length != 2:
                    raise _Odd
                out[_WANTED[tag]] = _U16.unpack_from(buf, pos)[0]  # type: ignore[index]
            else:
                try:
                    out[_WANTED[tag]] = buf[pos:end].decode("ascii").strip(" \x00")  # type: ignore[index]
                except UnicodeDecodeError:
                    raise _Odd from None
        pos += length


def _walk(buf: bytes) -> tuple[dict[str, str | int], int, int, str]:
    if len(buf) < 132 or buf[128:132] != b"DICM":
        raise _Odd
    # File Meta: explicit VR little endian, group 0002
    pos = 132
    transfer_syntax = ""
    while True:
        _need(buf, pos + 8)
        group, elem = _TAG.unpack_from(buf, pos)
        if group != 0x0002:
            break
        vr = buf[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            _need(buf, pos + 12)
            length = _U32.unpack_from(buf, pos + 8)[0]
            pos += 12
        else:
            length = _U16.unpack_from(buf, pos + 6)[0]
            pos += 8
        if length == _UNDEFINED:
            raise _Odd
        if elem == 0x0010:
            _need(buf, pos + length)
            try:
                transfer_syntax = buf[pos:pos + length].decode("ascii").strip(" \x00")
            except UnicodeDecodeError:
                raise _Odd from None
        pos += length
    if transfer_syntax not in (EXPLICIT_LE, IMPLICIT_LE):
        raise _Odd
    explicit = transfer_syntax == EXPLICIT_LE
    values: dict[str, str | int] = {}
    pos = _walk_elements(buf, pos, explicit, values, 0)
    # PixelData element header
    if explicit:
        _need(buf, pos + 12)
        if buf[pos + 4:pos + 6] not in (b"OW", b"OB"):
            raise _Odd
        length = _U32.unpack_from(buf, pos + 8)[0]
        pos += 12
    else:
        _need(buf, pos + 8)
        length = _U32.unpack_from(buf, pos + 4)[0]
        pos += 8
    if length == _UNDEFINED:
        raise _Odd  # encapsulated: not native
    return values, pos, length, transfer_syntax


def _usable(values: dict[str, str | int], length: int, file_size: int, offset: int) -> bool:
    try:
        rows, cols = int(values["Rows"]), int(values["Columns"])
        bits = int(values["BitsAllocated"])
        spp = int(values.get("SamplesPerPixel", 1))
        frames = int(str(values.get("NumberOfFrames", "1") or "1"))
    except (KeyError, ValueError):
        return False
    if bits not in (8, 16, 32) or spp != 1 or frames != 1 or rows < 1 or cols < 1:
        return False
    if str(values.get("PhotometricInterpretation", "MONOCHROME2")) not in (
            "MONOCHROME1", "MONOCHROME2"):
        return False
    needed = rows * cols * bits // 8
    return length >= needed and offset + needed <= file_size


def walk_native(path: Path) -> NativeHeader | None:
    """Walk the header of ``path`` if it is a native little-endian single-frame image.

    Parameters
    ----------
    path
        A DICOM file.

    Returns
    -------
    NativeHeader or None
        ``None`` when the file needs pydicom (other transfer syntax, multi-frame,
        encapsulated or missing pixels, malformed or truncated header...).

    Raises
    ------
    OSError
        If the file cannot be opened or read.
    """
    with open(path, "rb") as fh:
        buf = fh.read(_HEAD_CHUNK)
        size = len(buf)
        if size == _HEAD_CHUNK:
            size = fh.seek(0, 2)
            fh.seek(_HEAD_CHUNK)
        for attempt in range(2):
            try:
                values, offset, length, ts = _walk(buf)
            except (_NeedMore, struct.error):
                if attempt == 0 and size > len(buf):
                    buf += fh.read()
                    continue
                return None
            except (_Odd, RecursionError):
                return None
            if not _usable(values, length, size, offset):
                return None
            return NativeHeader(path, values, offset, length, ts)
    return None
