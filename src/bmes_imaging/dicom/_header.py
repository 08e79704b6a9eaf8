"""Read the few header attributes the folder index and the loader need, fast.

Two readers with one result type (:class:`HeaderRecord`):

* :func:`scan_header` walks the data elements of an explicit or implicit VR
  little-endian file in pure Python from the first bytes (read in 16 KiB chunks, long
  values skipped with a seek), keeps only the wanted tags and stops at the pixel data
  element, recording where a native pixel data value starts. It never decodes pixels
  and costs a few tens of microseconds per file. :func:`scan_native` is the same walk
  for the loader: its own tags (:data:`NATIVE_WANTED`, raw text kept for the loader to
  validate) and only for native (uncompressed little-endian) files.
* :func:`._careful.careful_header` reads the file with pydicom (``defer_size`` so pixel
  data is not loaded). :func:`read_header` uses it when the fast walker cannot decide:
  big endian or deflated transfer syntaxes, files without a File Meta header, or
  anything the walker finds odd; multi-frame files get their per-frame geometry
  (functional group sequences) from pydicom too.

Both return either a :class:`HeaderRecord` or a rejection reason (a ``str``); neither
raises for a bad file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from struct import Struct, unpack_from
from struct import error as StructError
from typing import Any, NamedTuple

__all__ = ["NATIVE_WANTED", "WANTED", "FrameKey", "HeaderRecord",
           "scan_header", "scan_native"]

#: Media Storage Directory Storage: the SOP class of a DICOMDIR file.
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"

_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")

_CHUNK = 16384
_NATIVE_CHUNK = 32768
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)

#: Wanted tags: (group << 16 | element) -> (keyword, kind). Kinds: "s" string,
#: "m" multi-valued string, "f" float(s), "i" integer, "u" unsigned short, "p" person name.
WANTED: dict[int, tuple[str, str]] = {
    0x00020002: ("MediaStorageSOPClassUID", "s"),
    0x00020010: ("TransferSyntaxUID", "s"),
    0x00080005: ("SpecificCharacterSet", "m"),
    0x00080008: ("ImageType", "m"),
    0x00080016: ("SOPClassUID", "s"),
    0x00080018: ("SOPInstanceUID", "s"),
    0x00080020: ("StudyDate", "s"),
    0x00080060: ("Modality", "s"),
    0x00080070: ("Manufacturer", "s"),
    0x00081030: ("StudyDescription", "s"),
    0x0008103E: ("SeriesDescription", "s"),
    0x00100010: ("PatientName", "p"),
    0x00100020: ("PatientID", "s"),
    0x00180015: ("BodyPartExamined", "s"),
    0x00180020: ("ScanningSequence", "m"),
    0x00180021: ("SequenceVariant", "m"),
    0x00180022: ("ScanOptions", "m"),
    0x00180023: ("MRAcquisitionType", "s"),
    0x00180024: ("SequenceName", "s"),
    0x00180050: ("SliceThickness", "f"),
    0x00180080: ("RepetitionTime", "f"),
    0x00180081: ("EchoTime", "f"),
    0x00180082: ("InversionTime", "f"),
    0x00180086: ("EchoNumbers", "i"),
    0x00180087: ("MagneticFieldStrength", "f"),
    0x00181030: ("ProtocolName", "s"),
    0x00181314: ("FlipAngle", "f"),
    0x0020000D: ("StudyInstanceUID", "s"),
    0x0020000E: ("SeriesInstanceUID", "s"),
    0x00200011: ("SeriesNumber", "i"),
    0x00200013: ("InstanceNumber", "i"),
    0x00200032: ("ImagePositionPatient", "f"),
    0x00200037: ("ImageOrientationPatient", "f"),
    0x00200052: ("FrameOfReferenceUID", "s"),
    0x00200060: ("Laterality", "s"),
    0x00200062: ("ImageLaterality", "s"),
    0x00201002: ("ImagesInAcquisition", "i"),
    0x00280002: ("SamplesPerPixel", "u"),
    0x00280008: ("NumberOfFrames", "i"),
    0x00280010: ("Rows", "u"),
    0x00280011: ("Columns", "u"),
    0x00280030: ("PixelSpacing", "f"),
    0x00280100: ("BitsAllocated", "u"),
    0x00281052: ("RescaleIntercept", "f"),
    0x00281053: ("RescaleSlope", "f"),
}
#: Tags the loader keeps (:func:`scan_native`). Kinds: "t" text exactly as stored
#: (ASCII, the loader parses and checks numbers itself), "U" one unsigned short.
NATIVE_WANTED: dict[int, tuple[str, str]] = {
    0x00080016: ("SOPClassUID", "t"),
    0x00080018: ("SOPInstanceUID", "t"),
    0x00180050: ("SliceThickness", "t"),
    0x0020000E: ("SeriesInstanceUID", "t"),
    0x00200013: ("InstanceNumber", "t"),
    0x00200032: ("ImagePositionPatient", "t"),
    0x00200037: ("ImageOrientationPatient", "t"),
    0x00280002: ("SamplesPerPixel", "U"),
    0x00280004: ("PhotometricInterpretation", "t"),
    0x00280008: ("NumberOfFrames", "t"),
    0x00280010: ("Rows", "U"),
    0x00280011: ("Columns", "U"),
    0x00280030: ("PixelSpacing", "t"),
    0x00280100: ("BitsAllocated", "U"),
    0x00280101: ("BitsStored", "U"),
    0x00280103: ("PixelRepresentation", "U"),
    0x00281052: ("RescaleIntercept", "t"),
    0x00281053: ("RescaleSlope", "t"),
}
#: Attributes that differ from file to file of a series (not worth caching).
_PER_FILE = frozenset({"SOPInstanceUID", "InstanceNumber", "ImagePositionPatient",
                       "MediaStorageSOPClassUID"})
_MISS = object()
_CACHE_LIMIT = 50_000


def _swap(tag: int) -> int:
    # The walker reads little-endian u32 at the tag position: element << 16 | group.
    return ((tag & 0xFFFF) << 16) | (tag >> 16)


def _swapped(wanted: dict[int, tuple[str, str]]
             ) -> dict[int, tuple[str, str, dict[bytes, Any] | None]]:
    # Values repeat across the files of a series, so decoded values are cached by raw bytes.
    return {_swap(t): (kw, kind, None if kw in _PER_FILE else {})
            for t, (kw, kind) in wanted.items()}


_WANTED_SWAPPED = _swapped(WANTED)
_PIXEL_SWAPPED = frozenset(_swap(t) for t in _PIXEL_TAGS)
_PIXEL_DATA = _swap(0x7FE00010)
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UR",
                       b"UT", b"UN", b"SV", b"UV"})
_VALID_VRS = _LONG_VRS | frozenset({
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
    b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
_ITEM = 0xE000FFFE          # swapped (FFFE,E000)
_ITEM_END = 0xE00DFFFE      # swapped (FFFE,E00D)
_SEQ_END = 0xE0DDFFFE       # swapped (FFFE,E0DD)
_UNDEFINED = 0xFFFFFFFF
_UNPACK_EXPLICIT = Struct("<I2sHI").unpack_from
_UNPACK_IMPLICIT = Struct("<II").unpack_from
#: What the walker does per tag: wanted attributes, pixel data ("P"), and item /
#: delimiter tags that must not appear at the top level ("X"). One table per reader.
_MARKS: dict[int, tuple[str, str, dict[bytes, Any] | None]] = {
    **{t: ("", "P", None) for t in _PIXEL_SWAPPED},
    _ITEM: ("", "X", None), _ITEM_END: ("", "X", None), _SEQ_END: ("", "X", None),
}
_SCAN_TABLE = {**_WANTED_SWAPPED, **_MARKS}
_NATIVE_TABLE = {**_swapped(NATIVE_WANTED), **_MARKS}


class FrameKey(NamedTuple):
    """Per-frame values of a multi-frame file that separate the stacks it holds.

    The multi-frame counterpart of :func:`._stacks.stack_key` (orientation is compared
    separately, with a tolerance). Read from the per-frame, else the shared, functional
    groups by :func:`._careful.frame_split_keys`.
    """

    echo_time: float | None = None  # MREchoSequence EffectiveEchoTime (ms, 2 decimals)
    inversion_time: float | None = None  # MRModifierSequence InversionTimes[0]
    frame_type: tuple[str, ...] = ()  # MRImageFrameTypeSequence FrameType
    complex_component: str = ""  # MRImageFrameTypeSequence ComplexImageComponent
    stack_id: str = ""  # FrameContentSequence StackID


@dataclass(slots=True)
class HeaderRecord:
    """Header attributes of one DICOM file (no pixel data).

    Attributes
    ----------
    path
        The file.
    values
        Decoded attribute values by DICOM keyword (only attributes present).
    size
        File size in bytes.
    has_pixels
        True if the file holds a pixel data element.
    transfer_syntax
        Transfer Syntax UID ('' if the file has no File Meta header).
    frames
        Per-frame geometry of multi-frame files: ``(position, orientation)`` per frame
        (either may be None); empty for single-frame files.
    shared_orientation
        ImageOrientationPatient from the shared functional groups (multi-frame).
    via
        "fast" or "pydicom": which reader produced the record.
    pixel_offset, pixel_length
        File offset and length of a native PixelData value (defined length, OB/OW or
        implicit VR) found by the fast walker; ``None`` and 0 otherwise.
    frame_keys
        Multi-frame files: one :class:`FrameKey` per frame (echo time, inversion time,
        frame type, StackID), parallel to ``frames``; empty for single-frame files.
    """

    path: Path
    values: dict[str, Any] = field(repr=False)  # holds PatientName / PatientID
    size: int
    has_pixels: bool
    transfer_syntax: str = ""
    frames: list[tuple[tuple[float, ...] | None, tuple[float, ...] | None]] = field(
        default_factory=list)
    shared_orientation: tuple[float, ...] | None = None
    via: str = "fast"
    pixel_offset: int | None = None
    pixel_length: int = 0
    frame_keys: list[FrameKey] = field(default_factory=list)

    def get(self, keyword: str, default: Any = None) -> Any:
        """Value of ``keyword`` or ``default``."""
        return self.values.get(keyword, default)


class _NeedCareful(Exception):
    """The fast walker cannot decide; use :func:`careful_header`."""


class _Truncated(Exception):
    """The file ends inside a data element."""


def _decode_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.strip("\x00 ")


def _decode(raw: bytes, kind: str) -> Any:
    if kind == "t":
        try:
            return raw.decode("ascii").strip(" \x00")
        except UnicodeDecodeError:
            raise _NeedCareful from None
    if kind == "U":
        if len(raw) != 2:
            raise _NeedCareful
        return unpack_from("<H", raw)[0]
    if kind == "u":
        if len(raw) < 2:
            return None
        return unpack_from("<H", raw)[0]
    text = _decode_text(raw)
    if kind in ("s", "p"):
        return text
    parts = [p.strip() for p in text.split("\\")]
    if kind == "m":
        return tuple(p for p in parts if p)
    try:
        if kind == "f":
            nums = tuple(float(p) for p in parts if p)
            if not nums:
                return None
            return nums[0] if len(nums) == 1 else nums
        if kind == "i":
            return int(float(parts[0])) if parts and parts[0] else None
    except (ValueError, OverflowError):  # "abc", or "inf" / "1e999" in an IS value
        return None
    return text


class _Walker:
    """Chunked little-endian element walker over one open file."""

    __slots__ = ("base", "buf", "f", "size")

    def __init__(self, f: Any, size: int, first: bytes) -> None:
        self.f = f
        self.buf = first
        self.base = 0
        self.size = size

    def at(self, pos: int, n: int) -> tuple[bytes, int]:
        """Buffer holding file bytes [pos, pos+n) and the offset of pos in it."""
        rel = pos - self.base
        if rel >= 0 and rel + n <= len(self.buf):
            return self.buf, rel
        if pos + n > self.size:
            raise _Truncated
        self.f.seek(pos)
        self.buf = self.f.read(max(n, _CHUNK))
        self.base = pos
        if len(self.buf) < n:
            raise _Truncated
        return self.buf, 0

    def skip_undefined(self, pos: int, explicit: bool, depth: int = 0) -> int:
        """Skip an undefined-length sequence value starting at ``pos``; return its end."""
        if depth > 16:
            raise _NeedCareful
        while True:
            buf, r = self.at(pos, 8)
            tag, length = unpack_from("<II", buf, r)
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise _NeedCareful
            if length != _UNDEFINED:
                pos += length
                continue
            # undefined-length item: walk its elements up to the item delimiter
            while True:
                buf, r = self.at(pos, 8)
                tag = unpack_from("<I", buf, r)[0]
                if tag == _ITEM_END:
                    pos += 8
                    break
                pos, length, hdr, _vr = self.element(pos, explicit)
                if length == _UNDEFINED:
                    pos = self.skip_undefined(pos + hdr, explicit, depth + 1)
                else:
                    pos += hdr + length

    def element(self, pos: int, explicit: bool) -> tuple[int, int, int, bytes]:
        """Header of the element at ``pos``: (pos, value length, header length, VR)."""
        buf, r = self.at(pos, 8)
        if explicit:
            vr = buf[r + 4:r + 6]
            if vr in _LONG_VRS:
                buf, r = self.at(pos, 12)
                return pos, unpack_from("<I", buf, r + 8)[0], 12, vr
            if vr not in _VALID_VRS:
                raise _NeedCareful
            return pos, unpack_from("<H", buf, r + 6)[0], 8, vr
        return pos, unpack_from("<I", buf, r + 4)[0], 8, b""


def scan_header(path: Path) -> HeaderRecord | str | None:
    """Fast header read of one file.

    Returns
    -------
    HeaderRecord, str or None
        The record; a rejection reason when the file is clearly unusable (not DICOM,
        truncated); ``None`` when the careful reader must decide.
    """
    try:
        return _walk_file(path, native=False)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"


def scan_native(path: Path) -> HeaderRecord | None:
    """The loader's fast header read: :data:`NATIVE_WANTED` of a native file.

    Returns
    -------
    HeaderRecord or None
        The record (``values`` hold raw text and ints) when the file is explicit or
        implicit VR little endian with a native PixelData value (``pixel_offset`` set);
        ``None`` for anything else (other transfer syntax, no or encapsulated pixel
        data, malformed or truncated header...): pydicom must read it.

    Raises
    ------
    OSError
        If the file cannot be opened or read.
    """
    got = _walk_file(path, native=True)
    if isinstance(got, HeaderRecord) and got.pixel_offset is not None:
        return got
    return None


def _walk_file(path: Path, native: bool) -> HeaderRecord | str | None:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # a loaded image's header often holds private blocks of a few tens of KiB
            first = f.read(_NATIVE_CHUNK if native else _CHUNK)
            return _scan(path, f, size, first, native)
    except _NeedCareful:
        return None
    except _Truncated:
        return "truncated header (the file ends inside a data element)"
    except (StructError, ValueError, IndexError):
        return None


def _walk_meta(w: _Walker, first: bytes, pos: int, native: bool,
               values: dict[str, Any]) -> int:
    """Read the File Meta group (always explicit VR little endian) into ``values``.

    Returns the position of the first element after it; raises :class:`_NeedCareful`
    for anything pydicom should judge.
    """
    while True:
        if pos + 12 <= len(first):
            buf, r = first, pos
        else:
            buf, r = w.at(pos, 12)
        tag, vr, length, long_length = _UNPACK_EXPLICIT(buf, r)
        if tag & 0xFFFF != 0x0002:
            return pos
        if vr in _LONG_VRS:
            length, hdr = long_length, 12
        elif vr in _VALID_VRS or native:  # the loader only reads the transfer syntax
            hdr = 8
        else:
            raise _NeedCareful
        if length == _UNDEFINED:
            raise _NeedCareful
        spec = _WANTED_SWAPPED.get(tag)
        if spec is not None:
            buf, r = w.at(pos + hdr, length)
            values[spec[0]] = _decode(bytes(buf[r:r + length]), spec[1])
        pos += hdr + length


def _explicit_vr(ts: str, native: bool) -> bool:
    """Whether the data set is explicit VR; :class:`_NeedCareful` for syntaxes the walker
    leaves to pydicom (big endian, deflated, none; anything but explicit LE for the loader)."""
    if ts == _IMPLICIT_LE:
        return False
    if ts == _BIG_ENDIAN or ts in _DEFLATED or not ts or (native and ts != _EXPLICIT_LE):
        raise _NeedCareful
    return True


def _scan(path: Path, f: Any, size: int, first: bytes,
          native: bool) -> HeaderRecord | str | None:
    values: dict[str, Any] = {}
    w = _Walker(f, size, first)
    if first[128:132] == b"DICM":
        pos = 132
    elif len(first) >= 8 and unpack_from("<H", first, 0)[0] in (0x0002, 0x0008,
                                                                   0x0200, 0x0800):
        return None  # no preamble (or big endian without meta): let pydicom handle it
    else:
        return _not_dicom(first, size)
    pos = _walk_meta(w, first, pos, native, values)
    ts = values.get("TransferSyntaxUID", "")
    if values.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS:
        return HeaderRecord(path, values, size, False, ts)
    explicit = _explicit_vr(ts, native)
    get = (_NATIVE_TABLE if native else _SCAN_TABLE).get
    long_vrs, valid, undefined = _LONG_VRS, _VALID_VRS, _UNDEFINED
    unpack = _UNPACK_EXPLICIT if explicit else _UNPACK_IMPLICIT
    # The index jumps to pixel data found at the end of the file; the loader walks every
    # element so that a malformed header goes to pydicom (which explains the fault).
    shortcut_pending = not native
    buf, base = w.buf, w.base
    blen = len(buf)
    while pos < size:
        r = pos - base
        if r + 12 > blen:
            if pos + 8 > size:
                raise _Truncated
            buf, r = w.at(pos, min(12, size - pos))
            base, blen = w.base, len(buf)
            if r + 12 > blen:  # a short element ends the file: pad for the unpack
                buf = bytes(buf[r:]) + b"\x00" * 12
                base, r, blen = pos, 0, size - pos
        if explicit:
            tag, vr, length, long_length = unpack(buf, r)
            if vr in long_vrs:
                length, hdr = long_length, 12
            elif vr in valid:
                hdr = 8
            else:
                raise _NeedCareful
        else:
            tag, length = unpack(buf, r)
            vr, hdr = b"", 8
        spec = get(tag)
        if spec is None:
            if native and (tag & 0xFFFF) >= 0x7FE0 and _swap(tag) > 0x7FE00010:
                raise _NeedCareful  # the loader wants PixelData to be the last element
            if length == undefined:
                if explicit and vr != b"SQ" and not (native and vr == b"UN"):
                    raise _NeedCareful
                # UN of undefined length holds implicit VR items
                pos = w.skip_undefined(pos + hdr, explicit and vr == b"SQ")
                buf, base, blen = w.buf, w.base, len(w.buf)
                continue
            if shortcut_pending and (tag & 0xFFFF) > 0x0028:
                # Past the image pixel module: look for the pixel data element where an
                # uncompressed image puts it (at the end of the file) before walking
                # large private groups element by element.
                shortcut_pending = False
                at_end = _pixel_element_at_end(w, values, size, explicit)
                buf, base, blen = w.buf, w.base, len(w.buf)
                if at_end is not None:
                    pos = at_end
                    continue
            pos += hdr + length
            continue
        kind = spec[1]
        if kind == "P":
            return _with_pixels(HeaderRecord(path, values, size, True, ts), w, pos, hdr,
                                length, tag == _PIXEL_DATA and (
                                    not explicit or vr in (b"OB", b"OW")), native)
        if kind == "X" or length == undefined:
            raise _NeedCareful
        start = r + hdr
        if start + length > blen:
            vbuf, vr0 = w.at(pos + hdr, length)
            raw = bytes(vbuf[vr0:vr0 + length])
            buf, base, blen = w.buf, w.base, len(w.buf)
        else:
            raw = buf[start:start + length]
        cache = spec[2]
        if cache is None:
            values[spec[0]] = _decode(raw, kind)
        else:
            v = cache.get(raw, _MISS)
            if v is _MISS:
                v = _decode(raw, kind)
                if len(cache) < _CACHE_LIMIT:
                    cache[raw] = v
            values[spec[0]] = v
        pos += hdr + length
    if pos > size:
        raise _Truncated
    return HeaderRecord(path, values, size, False, ts)


def _with_pixels(rec: HeaderRecord, w: _Walker, pos: int, hdr: int, length: int,
                 native_value: bool, native: bool) -> HeaderRecord | str:
    """The record of a file whose pixel element starts at ``pos``; a reason if it is cut.

    ``native_value``: the element is PixelData as OB / OW (or implicit VR), so where its
    value starts is kept for the loader's direct read.
    """
    size = rec.size
    if length != _UNDEFINED:
        if native_value:
            rec.pixel_offset, rec.pixel_length = pos + hdr, length
        if not native and pos + hdr + length > size:
            return (f"truncated: pixel data needs {length} bytes, the file "
                    f"holds {size - pos - hdr}")
    elif not native:
        reason = _check_fragments(w, pos + hdr, size)
        if reason:
            return reason
    return rec


def _check_fragments(w: _Walker, pos: int, size: int) -> str | None:
    """Walk encapsulated pixel data items; a reason if the file ends before the end."""
    n = 0
    while True:
        if pos + 8 > size:
            return ("truncated: encapsulated pixel data ends before its sequence "
                    f"delimiter (after {n} fragments)")
        buf, r = w.at(pos, 8)
        tag, length = unpack_from("<II", buf, r)
        pos += 8
        if tag == _SEQ_END:
            return None
        if tag != _ITEM or length == _UNDEFINED:
            return f"corrupt encapsulated pixel data (unexpected element after {n} fragments)"
        if pos + length > size:
            return (f"truncated: pixel data fragment {n + 1} needs {length} bytes, the "
                    f"file holds {size - pos}")
        pos += length
        n += 1


_ARCHIVES = ((b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"), (b"BZh", "bzip2"),
             (b"\xfd7zXZ", "xz"), (b"7z\xbc\xaf", "7-Zip"))


def _not_dicom(first: bytes, size: int) -> str:
    for magic, what in _ARCHIVES:
        if first.startswith(magic):
            return f"not DICOM ({what}-compressed file: extract it, then index again)"
    if size < 132:
        return "not DICOM (too short for a DICOM header)" if size else "empty file"
    return "not DICOM (no 'DICM' marker and no recognisable header)"


_UNCOMPRESSED = frozenset({_EXPLICIT_LE, _IMPLICIT_LE})


def _pixel_element_at_end(w: _Walker, values: dict[str, Any], size: int,
                          explicit: bool) -> int | None:
    """File offset of the pixel data element if it sits, uncompressed, at the end."""
    ts = values.get("TransferSyntaxUID")
    rows, cols = values.get("Rows"), values.get("Columns")
    bits, spp = values.get("BitsAllocated"), values.get("SamplesPerPixel") or 1
    frames = values.get("NumberOfFrames") or 1
    if ts not in _UNCOMPRESSED or not rows or not cols or bits not in (8, 16, 32, 64):
        return None
    length = rows * cols * spp * frames * bits // 8
    length += length & 1
    hdr = 12 if explicit else 8
    pos = size - length - hdr
    if pos < 132:
        return None
    try:
        buf, r = w.at(pos, hdr)
    except _Truncated:
        return None
    tag = unpack_from("<I", buf, r)[0]
    got = unpack_from("<I", buf, r + (8 if explicit else 4))[0]
    if tag in _PIXEL_SWAPPED and got == length and (
            not explicit or buf[r + 4:r + 6] in (b"OW", b"OB", b"OF", b"OD")):
        return pos
    return None
