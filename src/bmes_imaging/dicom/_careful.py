"""Careful header reading with pydicom, for files the fast walker cannot decide.

Big endian and deflated transfer syntaxes, files without a File Meta header, odd
encodings, and the functional group sequences of multi-frame images. Like the fast
walker it returns a :class:`~._header.HeaderRecord` or a rejection reason and never
raises for a bad file.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ..errors import DicomFileError
from ._complete import Rejection
from ._header import _UNDEFINED, WANTED, FrameKey, HeaderRecord, scan_header
from ._limits import (
    DEFLATED_SYNTAXES,
    NATIVE_SYNTAXES,
    declared_size_problem,
    element_bounds_problem,
    pixel_length_problem,
    read_dataset,
    rescale_problem,
    zero_tail,
)
from ._quiet import error_text, printable, pydicom_notes, value_free

log = logging.getLogger(__name__)

__all__ = ["add_frame_geometry", "careful_header", "checked_record", "frame_split_keys",
           "read_header", "record_problem", "safe_uid"]


def _pydicom_value(ds: Any, keyword: str, kind: str) -> Any:
    from pydicom.multival import MultiValue
    from pydicom.valuerep import PersonName

    if keyword not in ds:
        return None
    try:
        v = ds[keyword].value
    except Exception:  # noqa: BLE001 - a malformed value is treated as absent
        return None
    if v is None or v == "" or (isinstance(v, bytes) and not v):
        return None
    if kind == "p":
        return str(v) if isinstance(v, PersonName | str) else None
    if kind == "m":
        seq = v if isinstance(v, MultiValue | list | tuple) else [v]
        return tuple(str(x).strip() for x in seq if str(x).strip())
    if kind == "f":
        seq = v if isinstance(v, MultiValue | list | tuple) else [v]
        try:
            nums = tuple(float(x) for x in seq)
        except (TypeError, ValueError):
            return None
        if not nums:
            return None
        return nums[0] if len(nums) == 1 else nums
    if kind in ("i", "u"):
        if isinstance(v, MultiValue | list | tuple):
            v = v[0] if len(v) else None
        try:
            return int(float(v))
        except (TypeError, ValueError):
            return None
    return str(v).strip("\x00 ")


def _floats(v: Any, n: int) -> tuple[float, ...] | None:
    try:
        t = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        return None
    return t if len(t) == n else None


def _frame_geometry(ds: Any) -> tuple[
        list[tuple[tuple[float, ...] | None, tuple[float, ...] | None]],
        tuple[float, ...] | None]:
    """Per-frame (position, orientation) and shared orientation of a multi-frame file."""
    shared_iop = None
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        po = shared[0].get("PlaneOrientationSequence")
        if po and "ImageOrientationPatient" in po[0]:
            shared_iop = _floats(po[0].ImageOrientationPatient, 6)
    frames: list[tuple[tuple[float, ...] | None, tuple[float, ...] | None]] = []
    for item in ds.get("PerFrameFunctionalGroupsSequence") or []:
        pos = iop = None
        pp = item.get("PlanePositionSequence")
        if pp and "ImagePositionPatient" in pp[0]:
            pos = _floats(pp[0].ImagePositionPatient, 3)
        po = item.get("PlaneOrientationSequence")
        if po and "ImageOrientationPatient" in po[0]:
            iop = _floats(po[0].ImageOrientationPatient, 6)
        frames.append((pos, iop))
    return frames, shared_iop


def _group_item(per_frame: Any, shared: Any, macro: str, keyword: str) -> Any:
    """The item of ``macro`` holding ``keyword``: per-frame group first, then shared."""
    for groups in (per_frame, shared):
        item = _first_item(groups, macro)
        if item is not None and keyword in item:
            return item
    return None


def _text_tuple(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    seq = v if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue" else [v]
    return tuple(str(x).strip().upper() for x in seq if str(x).strip())


def _first_number(*places: tuple[Any, str]) -> float | None:
    """The first numeric value found among ``(item, keyword)`` places, in order."""
    for item, keyword in places:
        value = _number(item, keyword)
        if value is not None:
            return value
    return None


def frame_split_keys(ds: Any) -> list[FrameKey]:
    """One :class:`~._header.FrameKey` per frame of a multi-frame dataset.

    The values that put the frames of one Enhanced MR file into separate stacks
    (multi-echo, Dixon water / fat, magnitude / phase, several StackIDs): echo time,
    inversion time, frame type and complex image component, StackID. Each comes from
    the frame's per-frame functional group, else the shared group; a legacy-converted
    file's echo / inversion time may sit in its "unassigned" converted attributes.
    Used by both the index (:func:`careful_header`, :func:`add_frame_geometry`) and the
    loader (:mod:`._frames`), so that they split a file the same way.

    Parameters
    ----------
    ds
        A pydicom dataset (pixel data not needed).

    Returns
    -------
    list of FrameKey
        One per item of PerFrameFunctionalGroupsSequence (empty if it is missing).
    """
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    legacy_shared = _first_item(shared, "UnassignedSharedConvertedAttributesSequence")
    keys = []
    for pf in ds.get("PerFrameFunctionalGroupsSequence") or []:
        legacy = _first_item(pf, "UnassignedPerFrameConvertedAttributesSequence")
        echo = _first_number(
            (_group_item(pf, shared, "MREchoSequence", "EffectiveEchoTime"),
             "EffectiveEchoTime"), (legacy, "EchoTime"), (legacy_shared, "EchoTime"))
        inversion = _first_number(
            (_group_item(pf, shared, "MRModifierSequence", "InversionTimes"),
             "InversionTimes"), (legacy, "InversionTime"), (legacy_shared, "InversionTime"))
        ftype = _group_item(pf, shared, "MRImageFrameTypeSequence", "FrameType")
        cplx = _group_item(pf, shared, "MRImageFrameTypeSequence", "ComplexImageComponent")
        content = _first_item(pf, "FrameContentSequence")
        stack_id = content.get("StackID") if content is not None else None
        keys.append(FrameKey(
            echo_time=None if echo is None else round(echo, 2),
            inversion_time=None if inversion is None else round(inversion, 2),
            frame_type=_text_tuple(ftype.FrameType) if ftype is not None else (),
            complex_component=(str(cplx.ComplexImageComponent).strip().upper()
                               if cplx is not None else ""),
            stack_id=str(stack_id).strip() if stack_id not in (None, "") else "",
        ))
    return keys


def _first_item(ds: Any, *path: str) -> Any:
    """Item 0 at the end of a chain of sequences (``None`` where one is missing)."""
    item = ds
    for kw in path:
        seq = item.get(kw) if item is not None else None
        if not seq:
            return None
        item = seq[0]
    return item


def _number(item: Any, keyword: str) -> float | None:
    if item is None or keyword not in item:
        return None
    v = item.get(keyword)
    if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue":
        v = v[0] if len(v) else None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _enhanced_values(ds: Any) -> dict[str, Any]:
    """Classic attributes an Enhanced (multi-frame) MR keeps in functional groups.

    TR, TE, TI, flip angle, pixel spacing, slice thickness, laterality, and
    ScanningSequence / ScanOptions equivalents (echo pulse sequence, inversion
    recovery, spectrally selected fat suppression), from the shared functional groups
    or else the first frame's.
    """
    out: dict[str, Any] = {}
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        fg = _first_item(ds, groups)
        if fg is None:
            continue
        timing = _first_item(fg, "MRTimingAndRelatedParametersSequence")
        for kw, value in (
            ("RepetitionTime", _number(timing, "RepetitionTime")),
            ("FlipAngle", _number(timing, "FlipAngle")),
            ("EchoTime", _number(_first_item(fg, "MREchoSequence"), "EffectiveEchoTime")),
            ("InversionTime", _number(_first_item(fg, "MRModifierSequence"),
                                      "InversionTimes")),
        ):
            if value is not None:
                out.setdefault(kw, value)
        measures = _first_item(fg, "PixelMeasuresSequence")
        if measures is not None:
            sp = _floats(measures.get("PixelSpacing") or (), 2)
            if sp is not None:
                out.setdefault("PixelSpacing", sp)
            th = _number(measures, "SliceThickness")
            if th is not None:
                out.setdefault("SliceThickness", th)
        anatomy = _first_item(fg, "FrameAnatomySequence")
        if anatomy is not None and str(anatomy.get("FrameLaterality", "")) in ("L", "R"):
            out.setdefault("Laterality", str(anatomy.FrameLaterality))
    scanning = []
    echo = str(ds.get("EchoPulseSequence", "")).upper()
    if echo in ("SPIN", "BOTH"):
        scanning.append("SE")
    if echo in ("GRADIENT", "BOTH"):
        scanning.append("GR")
    if str(ds.get("InversionRecovery", "")).upper() == "YES":
        scanning.append("IR")
    if scanning:
        out["ScanningSequence"] = tuple(scanning)
    fat = str(ds.get("SpectrallySelectedSuppression", "")).upper()
    if "FAT" in fat:
        out["ScanOptions"] = ("FS",)
    name = ds.get("PulseSequenceName")
    if name:
        out["SequenceName"] = str(name)
    return out


def careful_header(path: Path) -> HeaderRecord | str:
    """Read the header with pydicom; return a record or a rejection reason.

    Never raises for a bad file: pydicom can fail in many ways on corrupt input
    (its own errors, ``struct.error``, ``ValueError``, ``KeyError``...), so every
    exception from parsing is turned into a reason naming its type (values its message
    quotes are left out). Deflated files are inflated with a bound
    (:func:`._limits.read_dataset`).
    """
    from pydicom.errors import InvalidDicomError

    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc.__class__.__name__})"
    if size == 0:
        return "empty file"
    with pydicom_notes() as notes:
        try:
            return _careful_record(path, size, notes)
        except DicomFileError as exc:
            return exc.reason
        except EOFError:
            return "truncated header (the file ends inside a data element)"
        except InvalidDicomError as exc:
            return f"not DICOM ({value_free(str(exc), 120)})"
        except Exception as exc:  # noqa: BLE001 - pydicom's failure modes on corrupt files vary
            log.debug("careful header read failed for a file: %s", exc.__class__.__name__)
            return f"unreadable header ({error_text(exc)})"


def _careful_record(path: Path, size: int, notes: list[str]) -> HeaderRecord | str:
    from pydicom.errors import InvalidDicomError

    try:
        ds = read_dataset(path, defer_size=256, force=False)
    except InvalidDicomError:
        ds = read_dataset(path, defer_size=256, force=True)
        if "SOPClassUID" not in ds and "SOPInstanceUID" not in ds:
            return "not DICOM (no 'DICM' marker and no recognisable header)"
    if len(ds) == 0 or ("SOPClassUID" not in ds and "PixelData" not in ds):
        eof = [m for m in notes if "end of file" in m.lower()]
        if eof:
            return f"truncated ({eof[0].split(' in file ')[0]})"
        if notes and len(ds) == 0:
            return f"unreadable header ({notes[0][:120]})"
    deflated = _is_deflated(ds)
    pixel_length, pixel_offset = 0, None
    if any(k in ds for k in _PIXEL_KEYWORDS):
        if not deflated:  # a deflated file's offsets are those of the inflated data
            reason = _pixel_truncation(ds, size)
            if reason:
                return reason
        pixel_length, pixel_offset = _pixel_length(ds, deflated)
    if not deflated:  # a damaged length must not make pydicom allocate gigabytes
        reason = element_bounds_problem(ds, size)
        if reason:
            return reason
    _convert_all(ds)  # corrupt elements raise here, not later in the loader
    values: dict[str, Any] = {}
    meta = getattr(ds, "file_meta", None)
    for tag, (kw, kind) in WANTED.items():
        src = meta if tag >> 16 == 0x0002 else ds
        if src is None:
            continue
        v = _pydicom_value(src, kw, kind)
        if v is not None and v != ():
            values[kw] = v
    has_pixels = any(k in ds for k in _PIXEL_KEYWORDS)
    frames: list[tuple[tuple[float, ...] | None, tuple[float, ...] | None]] = []
    frame_keys: list[FrameKey] = []
    shared_iop = None
    if has_pixels and (values.get("NumberOfFrames") or 1) > 1:
        frames, shared_iop = _frame_geometry(ds)
        frame_keys = frame_split_keys(ds)
        for kw, v in _enhanced_values(ds).items():
            values.setdefault(kw, v)
    ts = values.get("TransferSyntaxUID", "")
    if not ts and not ds.is_little_endian:
        ts = "1.2.840.10008.1.2.2"  # no File Meta: pydicom found big endian
    return HeaderRecord(path, values, size, has_pixels, ts, frames, shared_iop, "pydicom",
                        pixel_offset=pixel_offset, pixel_length=pixel_length,
                        frame_keys=frame_keys)


_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _is_deflated(ds: Any) -> bool:
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return ts in DEFLATED_SYNTAXES


def _pixel_length(ds: Any, deflated: bool) -> tuple[int, int | None]:
    """Defined length of the pixel data value (0 if undefined: encapsulated) and its
    offset in the file (None for a deflated file or a value already read)."""
    for kw in _PIXEL_KEYWORDS:
        if kw in ds:
            raw = ds.get_item(kw, keep_deferred=True)
            length = getattr(raw, "length", None)
            if length is None:
                value = getattr(raw, "value", None)
                length = len(value) if isinstance(value, bytes | bytearray) else 0
            offset = getattr(raw, "value_tell", None)
            if length == _UNDEFINED:
                return 0, None
            return int(length), None if deflated or offset is None else int(offset)
    return 0, None


def _convert_all(ds: Any) -> None:
    """Convert every raw element except the (deferred) pixel data."""
    for tag in list(ds.keys()):
        if tag >> 16 == 0x7FE0:
            continue
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                for _sub in item.iterall():
                    pass


def _pixel_truncation(ds: Any, size: int) -> str | None:
    """Reason if the (not yet read) pixel data element runs past the end of the file."""
    for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if kw in ds:
            raw = ds.get_item(kw, keep_deferred=True)  # raw element, value not read
            length = getattr(raw, "length", None)
            offset = getattr(raw, "value_tell", None)
            if length is None or offset is None or length == _UNDEFINED:
                return None
            if offset + length > size:
                return (f"truncated: pixel data needs {length} bytes, the file holds "
                        f"{size - offset}")
    return None


def add_frame_geometry(rec: HeaderRecord) -> HeaderRecord | str:
    """Fill the per-frame geometry of a multi-frame record from its functional groups."""
    with pydicom_notes():
        try:
            ds = read_dataset(rec.path, stop_before_pixels=True, force=False)
            rec.frames, rec.shared_orientation = _frame_geometry(ds)
            rec.frame_keys = frame_split_keys(ds)
            for kw, v in _enhanced_values(ds).items():
                rec.values.setdefault(kw, v)
        except DicomFileError as exc:
            return exc.reason
        except Exception as exc:  # noqa: BLE001 - pydicom's failure modes on corrupt files vary
            return f"unreadable functional groups ({error_text(exc)})"
    return rec


# ------------------------------------------------------------------ record checks

#: UID attributes whose values are checked (a damaged file can hold a megabyte of other
#: elements, a patient name among them, in a "UID").
_UID_KEYWORDS = ("MediaStorageSOPClassUID", "TransferSyntaxUID", "SOPClassUID",
                 "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                 "FrameOfReferenceUID")
_UID_CHARS = frozenset("0123456789.")
#: Reasons of the header readers that mean a damaged image file, not a non-image file.
_DAMAGED = ("truncated", "unreadable", "corrupt", "PixelData holds", "Rescale",
            "declares", "deflated data set", "cannot be read", "file of ")


def safe_uid(value: Any) -> Any:
    """``value`` if it is a plausible UID (digits and dots, at most 100), else a stable
    stand-in ``invalid-uid-<hash>`` that quotes nothing of it."""
    if not isinstance(value, str):
        return value
    if 0 < len(value) <= 100 and set(value) <= _UID_CHARS:
        return value
    import hashlib

    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"invalid-uid-{digest}"


def _number_or_none(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def record_problem(rec: HeaderRecord) -> str | None:
    """Reason to refuse a readable header: declared size, PixelData length, rescale."""
    v = rec.values
    if not rec.has_pixels:
        return None
    dims = (v.get("Rows"), v.get("Columns"), v.get("NumberOfFrames") or 1,
            v.get("SamplesPerPixel") or 1, v.get("BitsAllocated"))
    if all(isinstance(x, int) for x in dims):
        reason = declared_size_problem(*dims)
        if reason:
            return reason
        if rec.pixel_length and rec.transfer_syntax in NATIVE_SYNTAXES:
            reason = pixel_length_problem(rows=dims[0], columns=dims[1], frames=dims[2],
                                          samples=dims[3], bits=dims[4],
                                          length=rec.pixel_length,
                                          padding=zero_tail(rec.path, rec.pixel_offset))
            if reason:
                return reason
    return rescale_problem(_number_or_none(v.get("RescaleSlope")),
                           _number_or_none(v.get("RescaleIntercept")))


def _rejection(path: Path, reason: str, values: dict[str, Any] | None) -> Rejection:
    """A :class:`Rejection` with the series the file names (read again if needed)."""
    damaged = str(reason).startswith(_DAMAGED)
    if values is None and damaged:
        values = _salvaged_values(path)
    values = values or {}
    uid = safe_uid(values.get("SeriesInstanceUID"))
    sop = safe_uid(values.get("SOPInstanceUID"))
    pos = values.get("ImagePositionPatient")
    return Rejection(printable(reason, 300), damaged=damaged,
                     series_uid=uid if isinstance(uid, str) and uid else None,
                     sop_instance_uid=sop if isinstance(sop, str) and sop else None,
                     position=pos if isinstance(pos, tuple) and len(pos) == 3 else None)


def _salvaged_values(path: Path) -> dict[str, Any]:
    """Series, instance and position of a damaged file, where pydicom finds them."""
    with pydicom_notes():
        try:
            ds = read_dataset(path, stop_before_pixels=True, defer_size=256, force=True)
            out = {}
            for kw, kind in (("SeriesInstanceUID", "s"), ("SOPInstanceUID", "s"),
                             ("ImagePositionPatient", "f")):
                value = _pydicom_value(ds, kw, kind)
                if value is not None:
                    out[kw] = value
            return out
        except Exception:  # noqa: BLE001 - a damaged file: whatever can be read is used
            return {}


def checked_record(path: Path, got: HeaderRecord | str) -> HeaderRecord | str:
    """``got`` checked: a record passing :func:`record_problem`, else a Rejection.

    UID values that are not UIDs are replaced (:func:`safe_uid`); every rejection
    reason is printable and remembers the file's series where it can be read, so that
    :func:`._complete.refuse_incomplete` does not index its series as a shorter stack.
    """
    if isinstance(got, str):
        return _rejection(path, got, None)
    for kw in _UID_KEYWORDS:
        if kw in got.values:
            got.values[kw] = safe_uid(got.values[kw])
    reason = record_problem(got)
    if reason:
        return _rejection(path, reason, got.values)
    return got


def read_header(path: Path) -> HeaderRecord | str:
    """Header of one file: fast walker first, pydicom when it cannot decide.

    Multi-frame images found by the fast walker get their per-frame geometry from a
    pydicom read of the header (functional group sequences). Every record is then
    checked (:func:`checked_record`: declared size, PixelData length,
    rescale values, UIDs); a rejection is a :class:`._complete.Rejection` that
    remembers the series the file claims, so that its series is not indexed as a
    shorter stack.
    """
    got = scan_header(path)
    if got is None:
        got = careful_header(path)
    elif isinstance(got, HeaderRecord) and got.has_pixels \
            and (got.get("NumberOfFrames") or 1) > 1:
        got = add_frame_geometry(got)
    return checked_record(path, got)
