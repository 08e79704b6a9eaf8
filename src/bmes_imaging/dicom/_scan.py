"""Header reading for the folder index and the loader on GDCM's scanner (python-gdcm).

Design note
-----------
The index (:mod:`._header`) and the loader (:mod:`._native`) each walk DICOM data
elements in pure Python for speed. Walking elements is what GDCM (C++, python-gdcm)
does, so this module hands that job to :class:`gdcm.Scanner`: **one** ``Scan`` over all
files with every wanted tag added; GDCM parses each file only up to the largest wanted
tag (group 0028), so large private groups and pixel data are not read. The scanner's
whole mapping is taken in one call (its text rendering, parsed here; a block that does
not parse cleanly is asked tag by tag), since one ``GetValue`` call per file and tag
costs more than the scan. What is left in Python is small and not a parser:

* turning the scanner's value strings into the values the index uses
  (:data:`._header.WANTED` kinds), decoded once per distinct string;
* **one check of one known element header** per file: uncompressed pixel data is
  normally the last element, so the 8 (implicit VR) or 12 (explicit VR, ``OW``/``OB``)
  bytes before ``file size - pixel bytes`` must be the (7FE0,0010) header with that
  length (:func:`native_pixel_offset`). This proves the pixel data is present and
  complete and gives the loader its byte offset;
* files the check cannot confirm (trailing padding, encapsulated pixel data, no pixel
  data, truncation) get a second GDCM pass that reads up to the pixel data: GDCM refuses
  files cut inside an element or inside native pixel data; encapsulated pixel data
  must also end the file with the sequence delimiter. Whatever is still undecided, and
  every file GDCM cannot parse, the fast walker never took (big endian, deflated, no
  File Meta, no preamble) or that is multi-frame (functional groups) goes to
  :func:`._careful.careful_header` (pydicom), as :func:`._header.read_header` routes it.

Result: the same records and verdicts as :func:`._header.read_header` on every test
file (``tests/core/dicom_scan``); ``via`` is ``"gdcm"``.

Measured here (``bench/bench_scan.py``, same run, CPU seconds): the scan is **not**
faster. On the 3,000-file tree ``gdcm.Scanner.Scan`` alone needs ~2x the CPU of the
whole pure-Python index walker (which caches decoded values by raw bytes), and
:func:`scan_headers` ~2.9x; for the loader's 512x512x300 series :func:`native_headers`
needs ~2.6x the CPU of :func:`._native.walk_native`. GDCM holds the GIL while scanning.
GDCM also trusts declared value lengths on its recovery path for malformed elements:
on corrupt files it allocates up to gigabytes and takes seconds (pydicom's own
``SC_rgb_jpeg.dcm``: 1.7 s, 1.3 GB; about 2.6 % of randomly byte-flipped files: median
0.8 GB, up to 3.6 GB, 6 s, where the walker answers in milliseconds; upstream
CVE-2026-3650, malaterre/GDCM#214 reverted, #233 open). So this module is a
verified, equivalent alternative, not a recommended replacement of the walkers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._careful import add_frame_geometry, careful_header
from ._header import DICOMDIR_SOP_CLASS, WANTED, HeaderRecord, _not_dicom
from ._native import NativeHeader

__all__ = ["native_headers", "native_pixel_offset", "scan_headers"]

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_DEFLATED = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"})
_UNCOMPRESSED = frozenset({EXPLICIT_LE, IMPLICIT_LE})

#: (7FE0,0010) as stored little endian, the explicit VRs allowed for it, and the
#: sequence delimitation item (FFFE,E0DD) with length 0 that ends encapsulated pixels.
_PIXEL_TAG_LE = b"\xe0\x7f\x10\x00"
_PIXEL_VRS = (b"OW", b"OB")
_SEQ_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_HEAD = 132

#: Tags the loader needs (as :mod:`._native`), plus the transfer syntax. US values
#: come back from GDCM as decimal text.
_NATIVE_TEXT: dict[int, str] = {
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x00180050: "SliceThickness",
    0x0020000E: "SeriesInstanceUID",
    0x00200013: "InstanceNumber",
    0x00200032: "ImagePositionPatient",
    0x00200037: "ImageOrientationPatient",
    0x00280004: "PhotometricInterpretation",
    0x00280008: "NumberOfFrames",
    0x00280030: "PixelSpacing",
    0x00281052: "RescaleIntercept",
    0x00281053: "RescaleSlope",
}
_NATIVE_US: dict[int, str] = {
    0x00280002: "SamplesPerPixel",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280100: "BitsAllocated",
    0x00280101: "BitsStored",
    0x00280103: "PixelRepresentation",
}
_TS_TAG = 0x00020010
_PIXEL_DATA = 0x7FE00010

_gdcm_lock = threading.Lock()
_gdcm_quiet = False


def _gdcm() -> Any:
    """The gdcm module, with its warnings to stderr switched off (bad files are normal)."""
    global _gdcm_quiet
    import gdcm

    if not _gdcm_quiet:
        with _gdcm_lock:
            gdcm.Trace.WarningOff()
            gdcm.Trace.ErrorOff()
            gdcm.Trace.DebugOff()
            _gdcm_quiet = True
    return gdcm


def _scanner(tags: Iterable[int], names: list[str]) -> Any:
    """A gdcm.Scanner that has scanned ``names`` for ``tags``."""
    gdcm = _gdcm()
    scanner = gdcm.Scanner()
    for t in tags:
        scanner.AddTag(gdcm.Tag(t >> 16, t & 0xFFFF))
    if names:
        scanner.Scan(names)
    return scanner


def _gdcm_name(path: Path) -> str | None:
    """``path`` as GDCM takes it (UTF-8), or None if the name is not valid UTF-8."""
    name = os.fspath(path)
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the file name (surrogateescape)
        return None
    return name


def _tag_text(t: int) -> str:
    """A tag as GDCM prints it: ``(0020,000e)``."""
    return f"({t >> 16:04x},{t & 0xFFFF:04x})"


def _raw_values(scanner: Any, names: Sequence[str | None], scanned: list[str],
                tags: dict[int, str]) -> list[dict[str, str] | None]:
    """Raw value strings by keyword per name (None: GDCM could not read the file).

    One call renders the scanner's whole mapping as text (``Filename: ... (could be
    read)`` then one ``(gggg,eeee) -> [value]`` line per tag found); that is parsed
    here, about 10x cheaper than one ``GetValue`` call per file and tag. A file whose
    block does not parse cleanly (a value with a line break) is asked tag by tag.
    """
    gdcm = _gdcm()
    by_text = {_tag_text(t): kw for t, kw in tags.items()}
    text = str(scanner)
    blocks: dict[str, dict[str, str] | None] = {}
    start = text.find("\nMapping:\n")
    pos = 0 if start < 0 else start + len("\nMapping:\n")
    header = [f"Filename: {n} (could be read)\n" for n in scanned]
    for k, name in enumerate(scanned):
        if not text.startswith(header[k], pos):
            # not read by GDCM (or an unexpected layout): skip to the next file's block
            nxt = text.find("\nFilename: ", pos)
            pos = len(text) if nxt < 0 else nxt + 1
            continue
        body_start = pos + len(header[k])
        end = len(text)
        if k + 1 < len(scanned):
            nxt = text.find("\nFilename: " + scanned[k + 1] + " (", body_start - 1)
            end = len(text) if nxt < 0 else nxt + 1
        parsed: dict[str, str] = {}
        clean = True
        for line in text[body_start:end].splitlines():
            kw = by_text.get(line[:11])
            if kw is None or line[11:16] != " -> [" or line[-1:] != "]":
                clean = False  # a value with a line break: ask GDCM tag by tag below
                break
            parsed[kw] = line[16:-1]
        blocks[name] = parsed if clean else None
        pos = end
    out: list[dict[str, str] | None] = []
    for n in names:
        if n is None:
            out.append(None)
            continue
        raw = blocks.get(n, {})
        if raw is None:
            raw = {}
            for t, kw in tags.items():
                v = scanner.GetValue(n, gdcm.Tag(t >> 16, t & 0xFFFF))
                if v is not None:
                    raw[kw] = v
        out.append(raw)
    return out


# ----------------------------------------------------------------- value decoding

def _text(raw: str) -> str:
    """Decoded text as :mod:`._header` decodes it (UTF-8, else Latin-1; padding off).

    GDCM hands bytes that are not UTF-8 over as lone surrogates; they are turned back
    into the original bytes first.
    """
    if not raw.isascii():
        data = raw.encode("utf-8", "surrogateescape")
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            raw = data.decode("latin-1")
    return raw.strip("\x00 ")


def _value(raw: str, kind: str) -> Any:
    """The Python value of one scanned string for a :data:`._header.WANTED` kind."""
    text = _text(raw)
    if kind in ("s", "p"):
        return text
    if kind == "u":  # US arrives as decimal text; the first value counts
        first = text.split("\\", 1)[0].strip()
        return int(first) if first.isdigit() else None
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
            return int(float(parts[0])) if parts[0] else None
    except (ValueError, OverflowError):
        return None
    return text


# ------------------------------------------------------------- pixel element check

def _check_tail(fh: Any, size: int, nbytes: int, explicit: bool | None) -> int | None:
    """Offset of the pixel value if it is the last element with ``nbytes`` (padded)."""
    length = nbytes + (nbytes & 1)
    start = size - length - 12
    if length <= 0 or start < _HEAD:
        return None
    fh.seek(start)
    hdr = fh.read(12)
    if len(hdr) != 12:
        return None
    want = length.to_bytes(4, "little")
    if explicit is not False and hdr[:4] == _PIXEL_TAG_LE and hdr[4:6] in _PIXEL_VRS \
            and hdr[6:8] == b"\x00\x00" and hdr[8:] == want:
        return size - length
    if explicit is not True and hdr[4:8] == _PIXEL_TAG_LE and hdr[8:] == want:
        return size - length
    return None


def native_pixel_offset(path: str | os.PathLike[str], rows: int, columns: int,
                        bits_allocated: int, samples: int = 1, frames: int = 1, *,
                        transfer_syntax: str | None = None) -> int | None:
    """Byte offset of uncompressed pixel data that ends the file, or None.

    An uncompressed little-endian image keeps its pixel data as the last element. This
    checks that the bytes just before ``file size - pixel bytes`` are the (7FE0,0010)
    element header (explicit VR ``OW``/``OB`` with 12 bytes, or implicit VR with 8)
    with the expected length. It is a check of one known element header, not a parser.

    Parameters
    ----------
    path
        The file.
    rows, columns, bits_allocated, samples, frames
        Image Pixel attributes of the file (as the header scan read them).
    transfer_syntax
        If given, only the header form of that syntax (explicit or implicit VR
        little endian) is accepted.

    Returns
    -------
    int or None
        Offset of the first pixel byte; None if the pixel data is not found there
        (compressed, truncated, followed by padding, ...): read the file with pydicom.

    Examples
    --------
    >>> native_pixel_offset("IM00001.dcm", 512, 512, 16)   # doctest: +SKIP
    1484
    """
    if min(rows, columns, samples, frames) < 1 or bits_allocated not in (8, 16, 32, 64):
        return None
    explicit = None if transfer_syntax is None else transfer_syntax == EXPLICIT_LE
    if transfer_syntax is not None and transfer_syntax not in _UNCOMPRESSED:
        return None
    nbytes = rows * columns * samples * frames * bits_allocated // 8
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return _check_tail(fh, size, nbytes, explicit)
    except OSError:
        return None


def _probe(name: str, nbytes: int | None, explicit: bool | None
           ) -> tuple[int, bytes, int | None, bool]:
    """One open: file size, first 132 bytes, pixel offset (uncompressed check when
    ``nbytes`` is given) and whether the file ends with a sequence delimiter."""
    with open(name, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(_HEAD)
        if nbytes is not None:
            return size, head, _check_tail(fh, size, nbytes, explicit), False
        if size < _HEAD + 8:
            return size, head, None, False
        fh.seek(size - 8)
        return size, head, None, fh.read(8) == _SEQ_DELIMITER


def _pixel_bytes(values: dict[str, Any]) -> int | None:
    rows, cols, bits = values.get("Rows"), values.get("Columns"), values.get("BitsAllocated")
    if not rows or not cols or bits not in (8, 16, 32, 64):
        return None
    spp = values.get("SamplesPerPixel") or 1
    frames = values.get("NumberOfFrames") or 1
    if not isinstance(frames, int) or frames < 1:
        return None
    return int(rows * cols * spp * frames * bits // 8)


# ------------------------------------------------------------------- the index


def scan_headers(paths: Sequence[str | os.PathLike[str]]) -> list[HeaderRecord | str]:
    """Header records of many files, read with one GDCM scan.

    Parameters
    ----------
    paths
        Files to read (regular files; bad or non-DICOM files are fine).

    Returns
    -------
    list of HeaderRecord or str
        One entry per path, in order: the record (``via`` is ``"gdcm"``, or
        ``"pydicom"`` when the careful reader decided) or the reason the file cannot be
        used. The same result as ``[read_header(p) for p in paths]``.

    Examples
    --------
    >>> from pathlib import Path
    >>> recs = scan_headers(sorted(Path("study").rglob("*")))   # doctest: +SKIP
    >>> [r.get("SeriesNumber") for r in recs if not isinstance(r, str)]  # doctest: +SKIP
    [1, 1, 1]
    """
    files = [p if isinstance(p, Path) else Path(p) for p in paths]
    asked = [_gdcm_name(p) for p in files]
    scanned = [n for n in dict.fromkeys(asked) if n is not None]
    scanner = _scanner(WANTED, scanned)
    is_key = scanner.IsKey
    names = [n if n is not None and is_key(n) else None for n in asked]
    tags = {t: kw for t, (kw, _kind) in WANTED.items()}
    raws = _raw_values(scanner, names, scanned, tags)
    # decoded values per keyword and distinct string: series share most of them
    caches: dict[str, tuple[str, dict[str, Any]]] = {
        kw: (kind, {}) for kw, kind in WANTED.values()}
    results: list[HeaderRecord | str | _Pending] = []
    for path, name, raw, tried in zip(files, names, raws, asked, strict=True):
        if name is None or raw is None:
            results.append(_careful(path, gdcm_failed=tried is not None))
            continue
        values: dict[str, Any] = {}
        for kw, text in raw.items():
            kind, cache = caches[kw]
            v = cache.get(text, cache)
            if v is cache:
                v = cache[text] = _value(text, kind)
            values[kw] = v
        results.append(_record(path, name, values))
    pending = [r for r in results if isinstance(r, _Pending)]
    if pending:
        readable, with_pixels = _pixel_elements([r.name for r in pending])
        results = [_decide(r, readable, with_pixels) if isinstance(r, _Pending) else r
                   for r in results]
    return results  # type: ignore[return-value]


class _Pending:
    """A file GDCM read whose pixel data the cheap tail check could not confirm."""

    __slots__ = ("delimited", "name", "path", "size", "ts", "values")

    def __init__(self, path: Path, name: str, values: dict[str, Any], size: int, ts: str,
                 delimited: bool) -> None:
        self.path, self.name, self.values = path, name, values
        self.size, self.ts, self.delimited = size, ts, delimited


def _careful(path: Path, gdcm_failed: bool = False) -> HeaderRecord | str:
    """The careful reader, with the fast walker's quick answer for non-DICOM files.

    When GDCM could not read the file either and pydicom finds no pixel data in it,
    pydicom has read a cut or corrupt header leniently: that is the reason given.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(_HEAD)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    if not _maybe_dicom(head):
        return _not_dicom(head, size)
    got = careful_header(path)
    if gdcm_failed and isinstance(got, HeaderRecord) and not got.has_pixels \
            and got.get("MediaStorageSOPClassUID") != DICOMDIR_SOP_CLASS:
        return _CORRUPT
    return got


_CORRUPT = ("truncated or corrupt header (a data element runs past the end of the file "
            "or cannot be parsed)")


def _maybe_dicom(head: bytes) -> bool:
    """DICM marker, or a first group that a DICOM file without preamble starts with."""
    return head[128:132] == b"DICM" or (
        len(head) >= 8 and int.from_bytes(head[:2], "little") in (0x0002, 0x0008,
                                                                   0x0200, 0x0800))


def _record(path: Path, name: str, values: dict[str, Any]) -> HeaderRecord | str | _Pending:
    """Record of a file GDCM read, the careful reader's answer, or pending (2nd pass)."""
    ts = values.get("TransferSyntaxUID") or ""
    dicomdir = values.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS
    if not dicomdir and (not ts or ts == _BIG_ENDIAN or ts in _DEFLATED):
        return _careful(path)  # as read_header: pydicom reads these syntaxes
    nbytes = _pixel_bytes(values) if ts in _UNCOMPRESSED and not dicomdir else None
    try:
        size, head, offset, delimited = _probe(
            name, nbytes, None if nbytes is None else ts == EXPLICIT_LE)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    if head[128:132] != b"DICM":
        return _careful(path)  # no preamble: as read_header, pydicom reads it
    if dicomdir:  # a directory, not an image: the File Meta is all the index needs
        meta = {k: v for k, v in values.items() if k.startswith(("MediaStorage",
                                                                   "TransferSyntax"))}
        return HeaderRecord(path, meta, size, False, ts, via="gdcm")
    if offset is None:
        return _Pending(path, name, values, size, ts, delimited)
    return _finish(HeaderRecord(path, values, size, True, ts, via="gdcm"))


def _finish(rec: HeaderRecord) -> HeaderRecord | str:
    if (rec.values.get("NumberOfFrames") or 1) > 1:
        return add_frame_geometry(rec)  # functional groups: pydicom
    return rec


def _pixel_elements(names: list[str]) -> tuple[set[str], set[str]]:
    """Files GDCM reads to their end (or to the pixel data), and those with pixel data.

    GDCM refuses a file cut inside a data element or inside native pixel data; it
    does not check the fragments of encapsulated pixel data (callers check the
    sequence delimiter that ends the file).
    """
    scanner = _scanner([_PIXEL_DATA], names)
    pixel = _tag_text(_PIXEL_DATA) + " -> ["
    readable = {n for n in names if scanner.IsKey(n)}
    with_pixels: set[str] = set()
    for block in str(scanner).split("\nFilename: ")[1:]:
        first, _, rest = block.partition(" (could be read)\n")
        if rest.startswith(pixel) and first in readable:
            with_pixels.add(first)
    return readable, with_pixels


def _decide(p: _Pending, readable: set[str], with_pixels: set[str]) -> HeaderRecord | str:
    """Record of a file whose pixel data is not simply the last element."""
    if p.name in with_pixels and (p.ts in _UNCOMPRESSED or p.delimited):
        # padded after the pixel data (uncompressed), or encapsulated pixel data whose
        # sequence ends the file: present and complete
        return _finish(HeaderRecord(p.path, p.values, p.size, True, p.ts, via="gdcm"))
    # no pixel data, truncated, odd layout: pydicom decides and explains; the values
    # stay those GDCM read, so every record of the index has the same value semantics
    verdict = careful_header(p.path)
    if isinstance(verdict, str):
        return verdict
    if p.name not in readable:  # pydicom reads leniently what GDCM cannot read
        return _CORRUPT
    return HeaderRecord(p.path, p.values, verdict.size, verdict.has_pixels, p.ts,
                        verdict.frames, verdict.shared_orientation, "gdcm")


# ------------------------------------------------------------------- the loader

def native_headers(paths: Sequence[str | os.PathLike[str]]) -> list[NativeHeader | None]:
    """Loader headers of many native single-frame files, read with one GDCM scan.

    Parameters
    ----------
    paths
        The files of a stack.

    Returns
    -------
    list of NativeHeader or None
        Per path, what :func:`._native.walk_native` returns: the attributes the loader
        needs and where the pixel bytes start, or None when the file needs pydicom
        (compressed, big endian, multi-frame, colour, unusual or malformed).
    """
    files = [p if isinstance(p, Path) else Path(p) for p in paths]
    names = [_gdcm_name(p) for p in files]
    scanned = [n for n in dict.fromkeys(names) if n is not None]
    tags = {_TS_TAG: "TransferSyntaxUID", **_NATIVE_TEXT, **_NATIVE_US}
    scanner = _scanner(tags, scanned)
    is_key = scanner.IsKey
    names = [n if n is not None and is_key(n) else None for n in names]
    raws = _raw_values(scanner, names, scanned, tags)
    out: list[NativeHeader | None] = []
    for path, name, raw in zip(files, names, raws, strict=True):
        out.append(None if name is None or raw is None else _native_one(path, name, raw))
    return out


def _native_one(path: Path, name: str, raw: dict[str, str]) -> NativeHeader | None:
    ts = raw.pop("TransferSyntaxUID", "").strip("\x00 ")
    if ts not in _UNCOMPRESSED:
        return None
    values: dict[str, str | int] = {}
    for kw, text in raw.items():
        if not text.isascii():
            return None
        if kw in _US_KEYWORDS:
            if not text.isdigit():  # absent value or several values
                return None
            values[kw] = int(text)
        else:
            values[kw] = text.strip(" \x00")
    try:
        rows, cols = int(values["Rows"]), int(values["Columns"])
        bits = int(values["BitsAllocated"])
        spp = int(values.get("SamplesPerPixel", 1))
        frames = int(str(values.get("NumberOfFrames", "1") or "1"))
    except (KeyError, ValueError):
        return None
    if bits not in (8, 16, 32) or spp != 1 or frames != 1 or rows < 1 or cols < 1:
        return None
    if str(values.get("PhotometricInterpretation", "MONOCHROME2")) not in (
            "MONOCHROME1", "MONOCHROME2"):
        return None
    nbytes = rows * cols * bits // 8
    try:
        _size, head, offset, _end = _probe(name, nbytes, ts == EXPLICIT_LE)
    except OSError:
        return None
    if offset is None or head[128:132] != b"DICM":
        return None
    return NativeHeader(path, values, offset, nbytes + (nbytes & 1), ts)


_US_KEYWORDS = frozenset(_NATIVE_US.values())
