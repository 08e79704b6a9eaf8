"""Read one DICOM file into image frames: geometry, rescale and pixels (or their place).

A :class:`Frame` is one 2-D image of a stack: a single-frame file, or one frame of an
Enhanced (multi-frame) file. :func:`read_frames` returns the frames of a file:

* native little-endian single-frame files go through the fast header walk
  (:func:`._header.scan_native`, the walker the folder index uses); their pixels stay
  on disk and are read later straight into the output array;
* everything else (JPEG, JPEG-LS, JPEG 2000, RLE, deflated, big endian, multi-frame,
  files without a File Meta header) is read and decoded by pydicom, with the decoding
  plugin chosen per transfer syntax.

Any problem with the file becomes :class:`~bmes_imaging.errors.DicomFileError` naming
it; no other exception is raised for bad file content.
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DicomFileError
from ._header import FrameKey, HeaderRecord, scan_native
from ._j2k import J2K_SYNTAXES, decode_j2k_frames
from ._limits import (
    NATIVE_SYNTAXES,
    declared_size_problem,
    element_bounds_problem,
    pixel_length_problem,
    read_dataset,
    rescale_problem,
    zero_tail,
)
from ._quiet import error_text, printable, pydicom_notes

__all__ = ["Frame", "decoded_frames", "file_errors", "native_frame", "read_frames"]

_BASE_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
    struct.error, OverflowError, RecursionError, NotImplementedError, RuntimeError,
    zlib.error, MemoryError, AssertionError,
)


@functools.cache
def file_errors() -> tuple[type[BaseException], ...]:
    """Exceptions pydicom, its pixel plugins and numpy raise for malformed file content.

    Caught per file and turned into DicomFileError (never a bare ``except``). A function
    so that importing this package does not import pydicom.
    """
    from pydicom.errors import BytesLengthException, InvalidDicomError

    return (*_BASE_FILE_ERRORS, InvalidDicomError, BytesLengthException)


_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

#: Decoding plugins tried, in this order, when the caller names none. pydicom's GDCM
#: plugin is left out on purpose: on a corrupt JPEG 2000 codestream it throws a C++
#: exception that python-gdcm does not catch, and the whole process aborts (found by the
#: mutation test); pylibjpeg and pyjpegls raise Python exceptions instead. JPEG 2000
#: frames are first tried with GDCM's codec called directly (:mod:`._j2k`: several
#: OpenJPEG threads per frame, and a clean ``False`` on a corrupt codestream).
SAFE_PLUGINS: tuple[str, ...] = ("pylibjpeg", "pyjpegls", "pydicom", "pillow")


@dataclass(slots=True)
class Frame:
    """One 2-D image of a stack and where its pixels are.

    Exactly one of ``pixels`` (decoded) or ``pixel_offset`` (native bytes on disk) is set.
    ``pixels`` hold stored values as in the file (no rescale, no inversion);
    ``monochrome1`` is True for PhotometricInterpretation MONOCHROME1 (minimum value
    shown white): the loader inverts those values when it assembles the stack.
    """

    path: Path
    frame_number: int  # 1-based in a multi-frame file, 0 for a single-frame file
    position: NDArray[np.float64] | None
    orientation: NDArray[np.float64] | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    slope: float
    intercept: float
    stored_dtype: np.dtype[Any]
    bits_stored: int
    sop_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_class_uid: str = ""
    transfer_syntax: str = ""
    pixel_offset: int | None = None
    pixels: NDArray[Any] | None = None
    monochrome1: bool = False
    key: FrameKey | None = None  # multi-frame files: the values that split their stacks
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """File name, with the frame number for multi-frame files."""
        return (f"{self.path.name} frame {self.frame_number}" if self.frame_number
                else self.path.name)


def _float_list(path: Path, keyword: str, raw: Any, count: int) -> list[float] | None:
    """Parse ``count`` finite numbers from a DS value (string or pydicom value) or raise."""
    if raw is None or raw == "":
        return None
    try:
        if isinstance(raw, str):
            values = [float(p) for p in raw.split("\\")]
        elif isinstance(raw, (list, tuple)) or hasattr(raw, "__iter__"):
            values = [float(v) for v in raw]
        else:
            values = [float(raw)]
    except (ValueError, TypeError, OverflowError):
        raise DicomFileError(path, f"{keyword} is malformed ('{printable(raw)}'); expected "
                             f"{count} numbers") from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise DicomFileError(path, f"{keyword} must hold {count} finite numbers, found "
                             f"{values[:8]}")
    return values


def _floats(path: Path, keyword: str, raw: Any, count: int) -> NDArray[np.float64] | None:
    """Like :func:`_float_list`, as an array."""
    values = _float_list(path, keyword, raw, count)
    return None if values is None else np.array(values, dtype=np.float64)


def _number(path: Path, keyword: str, raw: Any, default: float) -> float:
    if raw is None or raw == "":
        return default
    vals = _floats(path, keyword, raw, 1)
    return float(vals[0]) if vals is not None else default


def _stored_dtype(path: Path, bits: int, pixel_representation: int) -> np.dtype[Any]:
    if bits not in (8, 16, 32) or pixel_representation not in (0, 1):
        raise DicomFileError(path, f"unsupported pixel format: BitsAllocated={bits}, "
                             f"PixelRepresentation={pixel_representation}")
    kind = "i" if pixel_representation else "u"
    return np.dtype(f"<{kind}{bits // 8}")


def _geometry_checked(path: Path, position: Any, orientation: Any,
                      spacing: Any) -> tuple[Any, Any, Any]:
    ipp = _floats(path, "ImagePositionPatient", position, 3)
    iop = _float_list(path, "ImageOrientationPatient", orientation, 6)
    ps = _float_list(path, "PixelSpacing", spacing, 2)
    if ps is not None and not (ps[0] > 0 and ps[1] > 0):
        raise DicomFileError(path, f"PixelSpacing must be positive, found {ps}")
    if iop is not None:
        r, c = iop[:3], iop[3:]
        if (abs(math.hypot(*r) - 1) > 1e-3 or abs(math.hypot(*c) - 1) > 1e-3
                or abs(r[0] * c[0] + r[1] * c[1] + r[2] * c[2]) > 1e-3):
            raise DicomFileError(path, "ImageOrientationPatient is not two perpendicular "
                                 f"unit vectors: {iop}")
    return (ipp, None if iop is None else np.array(iop, dtype=np.float64),
            None if ps is None else (ps[0], ps[1]))


def _rescale(path: Path, slope: Any, intercept: Any) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept parsed and checked (DicomFileError if not)."""
    s = _number(path, "RescaleSlope", slope, 1.0)
    i = _number(path, "RescaleIntercept", intercept, 0.0)
    reason = rescale_problem(s, i)
    if reason:
        raise DicomFileError(path, reason)
    return s, i


def _native_length_checked(h: HeaderRecord) -> None:
    """DicomFileError if the declared image is too big or PixelData does not fit it."""
    v = h.values
    try:
        dims = (int(v["Rows"]), int(v["Columns"]),
                int(str(v.get("NumberOfFrames", "1") or "1")),
                int(v.get("SamplesPerPixel", 1)), int(v["BitsAllocated"]))
    except (KeyError, ValueError, TypeError):
        return
    reason = declared_size_problem(*dims) or pixel_length_problem(
        rows=dims[0], columns=dims[1], frames=dims[2], samples=dims[3], bits=dims[4],
        length=h.pixel_length, padding=zero_tail(h.path, h.pixel_offset))
    if reason:
        raise DicomFileError(h.path, reason)


def _native_usable(h: HeaderRecord) -> bool:
    """True if the walked file is a monochrome single-frame image whose pixels fit."""
    v = h.values
    try:
        rows, cols = int(v["Rows"]), int(v["Columns"])
        bits = int(v["BitsAllocated"])
        spp = int(v.get("SamplesPerPixel", 1))
        frames = int(str(v.get("NumberOfFrames", "1") or "1"))
    except (KeyError, ValueError):
        return False
    if bits not in (8, 16, 32) or spp != 1 or frames != 1 or rows < 1 or cols < 1:
        return False
    if str(v.get("PhotometricInterpretation", "MONOCHROME2")) not in (
            "MONOCHROME1", "MONOCHROME2"):
        return False
    needed = rows * cols * bits // 8
    assert h.pixel_offset is not None
    return h.pixel_length >= needed and h.pixel_offset + needed <= h.size


def _frame_from_native(h: HeaderRecord) -> Frame:
    v = h.values
    path = h.path
    ipp, iop, ps = _geometry_checked(path, v.get("ImagePositionPatient"),
                                     v.get("ImageOrientationPatient"), v.get("PixelSpacing"))
    bits = int(v["BitsAllocated"])
    dtype = _stored_dtype(path, bits, int(v.get("PixelRepresentation", 0)))
    bits_stored = int(v.get("BitsStored", bits))
    if not 1 <= bits_stored <= bits:
        raise DicomFileError(path, f"BitsStored {bits_stored} does not fit BitsAllocated "
                             f"{bits}")
    slope, intercept = _rescale(path, v.get("RescaleSlope"), v.get("RescaleIntercept"))
    return Frame(
        path=path, frame_number=0, position=ipp, orientation=iop, pixel_spacing=ps,
        rows=int(v["Rows"]), columns=int(v["Columns"]),
        slope=slope, intercept=intercept, stored_dtype=dtype, bits_stored=bits_stored,
        sop_instance_uid=str(v.get("SOPInstanceUID", "")),
        series_instance_uid=str(v.get("SeriesInstanceUID", "")),
        sop_class_uid=str(v.get("SOPClassUID", "")),
        transfer_syntax=h.transfer_syntax, pixel_offset=h.pixel_offset,
        monochrome1=str(v.get("PhotometricInterpretation", "")) == "MONOCHROME1",
        extra={"slice_thickness": v["SliceThickness"]} if v.get("SliceThickness") else {},
    )


def _item(seq_owner: Any, keyword: str) -> Any:
    """First item of sequence ``keyword`` in ``seq_owner`` or None."""
    if seq_owner is None:
        return None
    seq = seq_owner.get(keyword)
    if seq is None or len(seq) == 0:
        return None
    return seq[0]


def _fg_value(per_frame: Any, shared: Any, top: Any, macro: str, keyword: str) -> Any:
    """A value from the per-frame, then shared functional groups, then the top level."""
    for groups in (per_frame, shared):
        item = _item(groups, macro)
        if item is not None and keyword in item:
            return item[keyword].value
    return top[keyword].value if keyword in top else None


def _plugin_for(transfer_syntax: str, requested: str | None) -> str:
    """The decoding plugin to use: ``requested`` if it can decode this transfer syntax,
    else the first available of :data:`SAFE_PLUGINS`, else ``""`` (pydicom's choice)."""
    from pydicom.pixels import get_decoder

    try:
        available = get_decoder(transfer_syntax).available_plugins
    except NotImplementedError:  # not a compressed syntax pydicom knows: it says why
        return ""
    if requested and requested in available:
        return requested
    for name in SAFE_PLUGINS:
        if name in available:
            return name
    return ""


def _frames_from_pydicom(path: Path, decoding_plugin: str | None,
                         threads: int | None) -> list[Frame]:
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import pixel_array

    with pydicom_notes():
        try:
            # deferred: the pixel data is read only after its size has been checked
            ds = read_dataset(path, defer_size=1 << 16, force=True)
            reason = element_bounds_problem(ds, path.stat().st_size)
        except DicomFileError:
            raise
        except InvalidDicomError as exc:
            raise DicomFileError(path, f"not a DICOM file ({error_text(exc)})") from None
        except file_errors() as exc:
            raise DicomFileError(path, f"cannot be read as DICOM, possibly truncated or "
                                 f"corrupt ({error_text(exc)})") from None
        if reason:
            raise DicomFileError(path, reason)
        try:
            return _frames_of_dataset(path, ds, decoding_plugin, pixel_array, threads)
        except DicomFileError:
            raise
        except file_errors() as exc:
            raise DicomFileError(path, f"cannot be decoded ({error_text(exc)}); the file "
                                 "may be truncated or corrupt") from None


def _frames_of_dataset(path: Path, ds: Any, decoding_plugin: str | None,
                       pixel_array: Any, threads: int | None) -> list[Frame]:
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise DicomFileError(path, "holds no pixel data (not an image: report, "
                             "presentation state, DICOMDIR...)")
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not ts:
        # no File Meta: pydicom guessed the encoding while reading; record it
        ts = ("1.2.840.10008.1.2" if ds.is_implicit_VR else "1.2.840.10008.1.2.1") \
            if ds.is_little_endian else "1.2.840.10008.1.2.2"
        if meta is None:
            ds.file_meta = pydicom_file_meta(ts)
        else:
            from pydicom.uid import UID

            meta.TransferSyntaxUID = UID(ts)
    for kw in ("Rows", "Columns", "BitsAllocated"):
        if kw not in ds or ds[kw].value in (None, ""):
            raise DicomFileError(path, f"{kw} is missing; cannot interpret the pixels")
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    if spp != 1:
        raise DicomFileError(path, f"is a colour image (SamplesPerPixel={spp}); only "
                             "greyscale images can be loaded as a volume")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows < 1 or cols < 1 or n_frames < 1:
        raise DicomFileError(path, f"empty image (Rows={rows}, Columns={cols}, "
                             f"NumberOfFrames={n_frames})")
    _pixels_checked(path, ds, ts, (rows, cols, n_frames, spp, int(ds.BitsAllocated)))
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if n_frames > 1 and (per_frame is None or len(per_frame) != n_frames):
        raise DicomFileError(path, f"multi-frame image ({n_frames} frames) without one "
                             "per-frame functional group per frame; cannot place the "
                             "frames in space")
    plugin = _plugin_for(ts, decoding_plugin)
    arr = None
    if ts in J2K_SYNTAXES and decoding_plugin in (None, "gdcm"):
        arr = decode_j2k_frames(ds, n_frames, threads=threads)
        if arr is None and plugin == "gdcm":
            plugin = _plugin_for(ts, None)  # never pydicom's GDCM plugin on a bad stream
    if arr is None:
        arr = pixel_array(ds, decoding_plugin=plugin)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.shape != (n_frames, rows, cols):
        raise DicomFileError(path, f"decoded pixels have shape {arr.shape}, expected "
                             f"{(n_frames, rows, cols)}")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    stored = arr.dtype
    bits = int(ds.BitsAllocated)
    monochrome1 = str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1"
    keys: list[FrameKey] = []
    if per_frame is not None:
        from ._careful import frame_split_keys

        keys = frame_split_keys(ds)
    frames: list[Frame] = []
    for f in range(n_frames):
        pf = per_frame[f] if per_frame is not None and f < len(per_frame) else None
        ipp = _fg_value(pf, shared, ds, "PlanePositionSequence", "ImagePositionPatient")
        iop = _fg_value(pf, shared, ds, "PlaneOrientationSequence",
                        "ImageOrientationPatient")
        ps = _fg_value(pf, shared, ds, "PixelMeasuresSequence", "PixelSpacing")
        pos, ori, spacing = _geometry_checked(path, ipp, iop, ps)
        slope = _fg_value(pf, shared, ds, "PixelValueTransformationSequence", "RescaleSlope")
        inter = _fg_value(pf, shared, ds, "PixelValueTransformationSequence",
                          "RescaleIntercept")
        extra: dict[str, Any] = {}
        thick = _fg_value(pf, shared, ds, "PixelMeasuresSequence", "SliceThickness")
        if thick not in (None, ""):
            extra["slice_thickness"] = thick
        slope, inter = _rescale(path, slope, inter)
        frames.append(Frame(
            path=path, frame_number=(f + 1) if n_frames > 1 or per_frame is not None else 0,
            position=pos, orientation=ori, pixel_spacing=spacing, rows=rows, columns=cols,
            slope=slope, intercept=inter, stored_dtype=np.dtype(stored),
            bits_stored=int(ds.get("BitsStored", bits) or bits),
            sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
            series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
            sop_class_uid=str(ds.get("SOPClassUID", "")),
            transfer_syntax=ts, pixels=arr[f], monochrome1=monochrome1,
            key=keys[f] if f < len(keys) else None, extra=extra,
        ))
    return frames


def _pixels_checked(path: Path, ds: Any, ts: str, dims: tuple[int, int, int, int, int]
                    ) -> None:
    """DicomFileError if the declared image is too big or native PixelData misfits it."""
    reason = declared_size_problem(*dims)
    if reason is None and ts in NATIVE_SYNTAXES:
        for kw in _PIXEL_KEYWORDS:
            if kw in ds:
                raw = ds.get_item(kw, keep_deferred=True)
                length = getattr(raw, "length", None)
                value = getattr(raw, "value", None)
                if length is None or length == 0xFFFFFFFF:
                    length = len(value) if isinstance(value, bytes | bytearray) else None
                if length is not None:
                    def padding(start: int, count: int, kw: str = kw) -> bool:
                        data = ds[kw].value  # read (deferred) only for long data
                        return not bytes(data[start:start + count]).strip(b"\x00")

                    reason = pixel_length_problem(rows=dims[0], columns=dims[1],
                                                  frames=dims[2], samples=dims[3],
                                                  bits=dims[4], length=int(length),
                                                  padding=padding)
                break
    if reason:
        raise DicomFileError(path, reason)


def pydicom_file_meta(transfer_syntax: str) -> Any:
    """A minimal File Meta dataset naming ``transfer_syntax`` (for files without one)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = UID(transfer_syntax)
    return meta


def native_frame(path: Path) -> Frame | None:
    """The frame of a native little-endian single-frame file, or ``None``.

    ``None`` means the file needs :func:`decoded_frames` (compressed, multi-frame,
    big endian, unusual or malformed). The pixels are not read: the frame records their
    byte offset.

    Raises
    ------
    DicomFileError
        If the file is missing or unreadable, or its geometry values are malformed.
    """
    try:
        header = scan_native(path)
    except FileNotFoundError:
        raise DicomFileError(path, "no such file") from None
    except OSError as exc:
        raise DicomFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if header is None:
        return None
    _native_length_checked(header)
    if not _native_usable(header):
        return None
    return _frame_from_native(header)


def decoded_frames(path: Path, decoding_plugin: str | None = None,
                   threads: int | None = None) -> list[Frame]:
    """Read and decode every frame of ``path`` with pydicom.

    Parameters
    ----------
    path
        The file.
    decoding_plugin
        pydicom decoding plugin for compressed pixel data (``"gdcm"``, ``"pylibjpeg"``,
        ``"pillow"``...); ``None`` picks one per transfer syntax.
    threads
        Threads inside one JPEG 2000 frame decode (GDCM / OpenJPEG); default: cores.

    Returns
    -------
    list of Frame
        One frame for a single-frame file, ``NumberOfFrames`` for a multi-frame file.

    Raises
    ------
    DicomFileError
        If the file is not DICOM, truncated, has no or undecodable pixel data, or
        malformed geometry.
    """
    return _frames_from_pydicom(path, decoding_plugin, threads)


def read_frames(path: Path, decoding_plugin: str | None = None) -> list[Frame]:
    """Frames of one file: the fast native path when possible, else pydicom."""
    frame = native_frame(path)
    if frame is not None:
        return [frame]
    return decoded_frames(path, decoding_plugin)
