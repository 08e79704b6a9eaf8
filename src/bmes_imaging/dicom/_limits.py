"""Bounds checked before a DICOM file is read: sizes, pixel data length, rescale values.

A hostile or damaged file must be refused before it costs memory or gives a wrong
image. This module holds the checks shared by the folder index (:mod:`._header`,
:mod:`._careful`) and the loader (:mod:`._frames`, :mod:`._load`):

* **sizes**: what a file declares (``Rows x Columns x frames x samples x bytes``) and
  what a deflated file inflates to are bounded per file, and a stack per series, before
  anything is allocated. The limits are read from the environment on each call:
  ``BMES_MAX_FILE_BYTES`` (default 1 GiB) and ``BMES_MAX_SERIES_BYTES`` (default
  2 GiB, the loaded volume). A deflated data set may moreover not inflate beyond the
  pixel bytes its own header declares plus 64 MiB (a bomb stops there);
* **PixelData length**: native pixel data must hold exactly the bytes its header
  promises (one pad byte allowed for an odd length); longer or shorter data would be
  reinterpreted as another image;
* **rescale**: a RescaleSlope of 0, a non-finite slope or intercept, ``|slope| > 1e6``
  or ``|intercept| > 1e7`` is refused (a -1 slope is legal);
* :func:`read_dataset`: ``pydicom.dcmread`` with a bounded inflater in front of
  deflated files, enough recursion depth for deeply nested sequences, and pydicom's
  warnings kept off stderr (:func:`._quiet.quiet_pydicom`).

Examples
--------
>>> pixel_length_problem(rows=4, columns=3, frames=1, samples=1, bits=16, length=24)
>>> pixel_length_problem(rows=2, columns=3, frames=1, samples=1, bits=16, length=24)[:40]
'PixelData holds 24 bytes, but Rows x Col'
>>> rescale_problem(0.0, 0.0)
'RescaleSlope is 0: every pixel would be the intercept'
>>> rescale_problem(-1.0, 0.0) is None
True
"""

from __future__ import annotations

import math
import os
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DicomFileError
from ._quiet import quiet_pydicom

__all__ = ["DEFLATED_SYNTAXES", "MAX_ABS_INTERCEPT", "MAX_ABS_SLOPE", "NATIVE_SYNTAXES",
           "declared_size_problem", "element_bounds_problem", "max_file_bytes",
           "max_series_bytes",
           "pixel_length_problem", "read_dataset", "rescale_problem"]

#: Default bound on what one file declares or inflates to (bytes).
DEFAULT_MAX_FILE_BYTES = 1 << 30
#: Default bound on one loaded stack (bytes of the output array).
DEFAULT_MAX_SERIES_BYTES = 2 << 30
MAX_ABS_SLOPE = 1e6
MAX_ABS_INTERCEPT = 1e7
DEFLATED_SYNTAXES = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"})
#: Transfer syntaxes whose pixel data is stored as is (its length is checked).
NATIVE_SYNTAXES = frozenset({"", "1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                             "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})
#: Recursion limit while pydicom reads: a private sequence nested 200 deep takes ~6
#: Python frames per level.
_RECURSION = 8000
_INFLATE_CHUNK = 1 << 20
#: Room for the header on top of the pixel data limit when a file's size is checked.
_HEADER_ROOM = 64 << 20


def _env_bytes(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        return default
    return value if value > 0 else default


def max_file_bytes() -> int:
    """Largest pixel data one file may declare or inflate to (``BMES_MAX_FILE_BYTES``)."""
    return _env_bytes("BMES_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)


def max_series_bytes() -> int:
    """Largest loaded stack, in bytes of its array (``BMES_MAX_SERIES_BYTES``)."""
    return _env_bytes("BMES_MAX_SERIES_BYTES", DEFAULT_MAX_SERIES_BYTES)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def expected_pixel_bytes(rows: int, columns: int, frames: int, samples: int,
                         bits: int) -> int:
    """Bytes of native pixel data for the declared image (without the pad byte)."""
    n = rows * columns * frames * samples
    return (n + 7) // 8 if bits == 1 else n * (bits // 8)


def declared_size_problem(rows: Any, columns: Any, frames: Any, samples: Any,
                          bits: Any) -> str | None:
    """Reason if the declared image exceeds :func:`max_file_bytes` (None if it fits)."""
    try:
        r, c, f, s, b = (int(v) for v in (rows, columns, frames or 1, samples or 1, bits))
    except (TypeError, ValueError, OverflowError):
        return None
    if min(r, c, f, s, b) < 1:
        return None
    size = expected_pixel_bytes(r, c, f, s, max(b, 8) if b != 1 else 1)
    limit = max_file_bytes()
    if size > limit:
        return (f"declares {r} x {c} pixels x {f} frame(s) x {s} sample(s) x {b} bits = "
                f"{_mib(size)}, beyond the limit of {_mib(limit)} per file "
                "(raise BMES_MAX_FILE_BYTES if the image is real)")
    return None


def zero_tail(path: Path, offset: int | None) -> Callable[[int, int], bool] | None:
    """A ``padding`` check for :func:`pixel_length_problem` reading ``path`` at the
    pixel data ``offset``: True if ``count`` bytes from ``start`` are all zero."""
    if offset is None:
        return None

    def check(start: int, count: int) -> bool:
        try:
            with open(path, "rb") as fh:
                fh.seek(offset + start)
                tail = fh.read(count)
        except OSError:
            return False
        return len(tail) == count and not tail.strip(b"\x00")

    return check


def pixel_length_problem(*, rows: Any, columns: Any, frames: Any, samples: Any, bits: Any,
                         length: int, padding: Callable[[int, int], bool] | None = None
                         ) -> str | None:
    """Reason if native PixelData of ``length`` bytes does not fit the declared image.

    Exactly ``Rows x Columns x frames x samples x BitsAllocated / 8`` bytes are
    expected, plus one pad byte when that is odd. Longer data is accepted only as
    zero padding: at most an eighth more, every extra byte zero, as ``padding(start,
    count)`` says (pydicom's ``MR_small_padded.dcm``; dcm2niix reads it too). Returns
    None when the values needed are missing (other checks refuse those files).
    """
    try:
        r, c, f, s, b = (int(v) for v in (rows, columns, frames or 1, samples or 1, bits))
    except (TypeError, ValueError, OverflowError):
        return None
    if min(r, c, f, s) < 1 or b not in (1, 8, 16, 32, 64):
        return None
    expected = expected_pixel_bytes(r, c, f, s, b)
    if length == expected or (expected % 2 == 1 and length == expected + 1):
        return None
    if (length > expected and padding is not None and length - expected <= expected // 8
            and padding(expected, length - expected)):
        return None
    what = "more" if length > expected else "fewer"
    return (f"PixelData holds {length} bytes, but Rows x Columns x frames x samples x "
            f"bits = {r} x {c} x {f} x {s} x {b} needs {expected}: {what} bytes than the "
            "header promises, the image cannot be read right (wrong Rows, Columns or "
            "BitsAllocated, or a damaged file)")


def rescale_problem(slope: float | None, intercept: float | None) -> str | None:
    """Reason if RescaleSlope / RescaleIntercept cannot give a real image (None if fine)."""
    if slope is not None:
        if not math.isfinite(slope):
            return "RescaleSlope is not a finite number"
        if slope == 0:
            return "RescaleSlope is 0: every pixel would be the intercept"
        if abs(slope) > MAX_ABS_SLOPE:
            return (f"RescaleSlope {slope:.3g} is implausible (|slope| above "
                    f"{MAX_ABS_SLOPE:g})")
    if intercept is not None:
        if not math.isfinite(intercept):
            return "RescaleIntercept is not a finite number"
        if abs(intercept) > MAX_ABS_INTERCEPT:
            return (f"RescaleIntercept {intercept:.3g} is implausible (|intercept| above "
                    f"{MAX_ABS_INTERCEPT:g})")
    return None


def element_bounds_problem(ds: Any, size: int, depth: int = 0) -> str | None:
    """Reason if a not-yet-read (deferred) value of ``ds`` runs past the end of the file.

    A damaged length field (``0xFF000010``) would make pydicom allocate gigabytes when
    the value is read; checked on the raw elements, sequence items included, without
    reading anything.
    """
    from pydicom.dataelem import RawDataElement

    for tag, elem in ds._dict.items():
        if isinstance(elem, RawDataElement):
            if (elem.value is None and elem.length != 0xFFFFFFFF
                    and elem.value_tell + elem.length > size):
                return (f"truncated or corrupt: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) "
                        f"needs {elem.length} bytes, the file holds "
                        f"{max(0, size - elem.value_tell)} after it")
            continue
        if elem.VR == "SQ" and depth < 256 and isinstance(elem.value, list):
            for item in elem.value:
                reason = element_bounds_problem(item, size, depth + 1)
                if reason:
                    return reason
    return None


def _deflated_start(path: Path) -> int | None:
    """Offset of the deflated data set of ``path``, or None if it is not deflated."""
    from pydicom.filereader import _read_file_meta_info, read_preamble

    try:
        with open(path, "rb") as fp:
            read_preamble(fp, True)
            meta = _read_file_meta_info(fp)
            ts = str(meta.get("TransferSyntaxUID", "")).strip("\x00 ")
            return fp.tell() if ts in DEFLATED_SYNTAXES else None
    except OSError:
        raise
    except Exception:  # noqa: BLE001 - a malformed meta header: pydicom's full read decides
        return None


#: Verdicts of :func:`check_inflated_size` by (path, size, mtime, inode): a bomb is
#: inflated once per process, not by every reader of the index and the loader.
_INFLATE_VERDICTS: dict[tuple[str, int, int, int, int], str | None] = {}
#: Deflate cannot expand data more than about 1032 times.
_MAX_DEFLATE_RATIO = 1032
#: Room for header elements on top of the declared pixel data in an inflated data set.
_INFLATED_HEADER_ROOM = 64 << 20


def check_inflated_size(path: Path, start: int, limit: int) -> None:
    """Raise if the deflated data set of ``path`` inflates beyond what it may hold.

    Nothing is kept: the data set is inflated in chunks and counted. The bound is
    ``limit``, or less when the first inflated MiB declares the image (Rows, Columns,
    frames, samples, bits): its pixel bytes plus 64 MiB of header. A file too small
    to reach the bound even at deflate's largest ratio is not inflated at all.
    """
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino, limit)
    if key in _INFLATE_VERDICTS:
        reason = _INFLATE_VERDICTS[key]
    elif (st.st_size - start) * _MAX_DEFLATE_RATIO <= limit:
        reason = None
    else:
        reason = _inflate_counting(path, start, limit)
        if len(_INFLATE_VERDICTS) > 4096:
            _INFLATE_VERDICTS.clear()
        _INFLATE_VERDICTS[key] = reason
    if reason:
        raise DicomFileError(path, reason)


def _inflate_counting(path: Path, start: int, limit: int) -> str | None:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total, bound, head = 0, limit, b""
    why = f"{_mib(limit)}, the limit per file; raise BMES_MAX_FILE_BYTES if the file is real"
    with open(path, "rb") as fp:
        fp.seek(start)
        while True:
            chunk = fp.read(_INFLATE_CHUNK)
            data = inflater.unconsumed_tail + chunk if inflater.unconsumed_tail else chunk
            while data:
                try:
                    out = inflater.decompress(data, _INFLATE_CHUNK)
                except zlib.error:
                    return "deflated data set is corrupt (not valid deflate data)"
                if not head:
                    head = out
                    declared = _declared_bytes(head)
                    if declared is not None and declared + _INFLATED_HEADER_ROOM < bound:
                        bound = declared + _INFLATED_HEADER_ROOM
                        why = (f"its header declares {declared} bytes of pixels, plus "
                               f"{_mib(_INFLATED_HEADER_ROOM)} for the header")
                total += len(out)
                if total > bound:
                    return f"deflated data set inflates beyond {bound} bytes ({why})"
                data = inflater.unconsumed_tail
                if not out or inflater.eof:
                    break
            if inflater.eof or not chunk:
                return None


def _declared_bytes(head: bytes) -> int | None:
    """Pixel bytes the image attributes at the start of an inflated data set declare."""
    from io import BytesIO

    from pydicom.filereader import read_dataset as read_raw

    try:
        ds = read_raw(BytesIO(head), False, True, stop_when=lambda tag, vr, length:
                      tag.group > 0x0028)
        dims = [ds.get(kw) for kw in ("Rows", "Columns", "BitsAllocated")]
        frames = int(ds.get("NumberOfFrames") or 1)
        samples = int(ds.get("SamplesPerPixel") or 1)
    except Exception:  # noqa: BLE001 - a header that cannot be read: the file limit applies
        return None
    if not all(isinstance(v, int) and v > 0 for v in dims) or frames < 1 or samples < 1:
        return None
    return expected_pixel_bytes(dims[0], dims[1], frames, samples, dims[2])


def read_dataset(path: Path, *, defer_size: int | None = None,
                 stop_before_pixels: bool = False, force: bool = True) -> Any:
    """``pydicom.dcmread`` with the bounds of this module.

    Deflated files are first inflated in chunks without keeping the output, and
    refused if they inflate beyond :func:`max_file_bytes` (pydicom itself inflates the
    whole data set in memory); ``defer_size`` is ignored for them (a deferred value
    would be read from the compressed file at an inflated offset).

    Raises
    ------
    DicomFileError
        If the file inflates beyond the limit or its deflate stream is corrupt.
    OSError, and pydicom's errors for malformed files
        As ``pydicom.dcmread``.
    """
    import pydicom

    quiet_pydicom()
    if sys.getrecursionlimit() < _RECURSION:
        sys.setrecursionlimit(_RECURSION)
    size = path.stat().st_size
    limit = max_file_bytes()
    if size > limit + _HEADER_ROOM:
        raise DicomFileError(path, f"file of {_mib(size)} is beyond the limit of "
                             f"{_mib(limit)} per file (raise BMES_MAX_FILE_BYTES if the "
                             "file is real)")
    start = _deflated_start(path)
    if start is not None:
        check_inflated_size(path, start, max_file_bytes())
        defer_size = None
    return pydicom.dcmread(path, defer_size=defer_size,
                           stop_before_pixels=stop_before_pixels, force=force)
