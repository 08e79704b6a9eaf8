"""Group header records into image stacks, splitting series where dcm2niix would.

A DICOM series (one SeriesInstanceUID) is not always one 3-D image: a localizer holds
three orthogonal planes, a dual-echo series holds two echo times, a series may mix
magnitude and phase images or image sizes. :func:`stack_key` gives the attributes that
must be equal inside one stack; :func:`build_stacks` groups records by series and key,
orders the files of each stack along the slice normal, names each stack and lists the
files it cannot use (duplicates, no pixel data, unsupported objects) with a reason.
A multi-frame file whose frames differ in echo time, inversion time, frame type,
StackID or orientation (:func:`frame_groups`) gives one stack per group of frames,
each naming its ``frame_numbers``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._framegroups import (
    _COMPLEX_PARTS,
    FrameGroup,
    _finite,
    _frame_split_reasons,
    _same_orientation,
    describe_frame_group,
    differing_fields,
    frame_groups,
    group_frames,
)
from ._header import DICOMDIR_SOP_CLASS, HeaderRecord
from ._sequence import classify_stacks
from ._series_stack import (
    RejectedFile,
    SeriesStack,
    _base_fields,
    is_localizer,
    patient_key,
)
from ._volumes import (
    is_mosaic_record,
    mosaic_stacks,
    name_multiframe_volumes,
    split_repeated_positions,
)

__all__ = [
    "FrameGroup",
    "RejectedFile",
    "SeriesStack",
    "build_stacks",
    "describe_frame_group",
    "differing_fields",
    "frame_groups",
    "group_frames",
    "patient_key",
    "stack_key",
]

#: SOP class UID prefixes of objects that are not images to stack, with a short name.
_UNSUPPORTED_PREFIXES: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.5.1.4.1.1.88.", "structured report"),
    ("1.2.840.10008.5.1.4.1.1.11.", "presentation state"),
    ("1.2.840.10008.5.1.4.1.1.66", "raw data / segmentation / registration"),
    ("1.2.840.10008.5.1.4.1.1.104.", "encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.481.", "radiotherapy object"),
    ("1.2.840.10008.5.1.4.1.1.9.", "waveform"),
    ("1.2.840.10008.5.1.4.1.1.4.2", "MR spectroscopy"),
    ("1.2.840.10008.5.1.4.1.1.4.3", "colour image; only greyscale images load as a volume"),
    ("1.2.840.10008.5.1.4.1.1.91.", "real world value map"),
    ("1.2.840.10008.5.1.4.1.1.67", "real world value map"),
    ("1.2.840.10008.5.1.4.1.1.104", "encapsulated document"),
    ("1.2.840.10008.5.1.4.1.1.68", "surface"),
    ("1.2.840.10008.5.1.4.1.1.78.", "measurements"),
    ("1.2.840.10008.5.1.4.1.1.79.", "measurements"),
    ("1.2.840.10008.5.1.4.1.1.80.", "measurements"),
    ("1.2.840.10008.5.1.4.1.1.81.", "measurements"),
    ("1.2.840.10008.5.1.4.1.1.82.", "measurements"),
    ("1.2.840.10008.5.1.4.1.1.90.", "content assessment"),
)


@functools.lru_cache(maxsize=256)
def unsupported_reason(sop_class_uid: str | None) -> str | None:
    """Reason string if ``sop_class_uid`` is an object the index does not stack."""
    if not sop_class_uid:
        return None
    if sop_class_uid == DICOMDIR_SOP_CLASS:
        return "DICOMDIR (directory record)"
    for prefix, what in _UNSUPPORTED_PREFIXES:
        if sop_class_uid.startswith(prefix):
            return f"unsupported SOP class: {_sop_name(sop_class_uid)} ({what})"
    return None


def _sop_name(uid: str) -> str:
    """Name of a SOP class from pydicom's UID dictionary (the UID itself if unknown)."""
    from pydicom.uid import UID_dictionary

    entry = UID_dictionary.get(uid)
    return str(entry[0]) if entry else uid


def stack_key(rec: HeaderRecord) -> tuple[Any, ...]:
    """Attributes that must be equal for two images of a series to share one stack.

    Image size, echo time and number, inversion time, image type (magnitude / phase,
    original / derived) and the localizer flag. Orientation is compared separately
    with a tolerance (:data:`ORIENTATION_TOLERANCE`).
    """
    v = rec.values
    return (
        v.get("Rows"), v.get("Columns"),
        _round(v.get("EchoTime")), v.get("EchoNumbers"),
        _round(v.get("InversionTime")),
        _image_type_key(v.get("ImageType") or ()),
        is_localizer(rec),
    )


@functools.lru_cache(maxsize=1024)
def _image_type_key(image_type: tuple[str, ...]) -> tuple[str, ...]:
    """ORIGINAL/DERIVED, PRIMARY/SECONDARY, the third value, and M/P/R/I (complex part)."""
    return image_type[:3] + tuple(t for t in image_type[3:] if t in ("M", "P", "R", "I"))


def _round(v: Any) -> float | None:
    if isinstance(v, float | int):
        return round(float(v), 2)
    return None


def _iop(rec: HeaderRecord) -> tuple[float, ...] | None:
    return _finite(rec.values.get("ImageOrientationPatient"), 6)


def _ipp(rec: HeaderRecord) -> tuple[float, ...] | None:
    return _finite(rec.values.get("ImagePositionPatient"), 3)


def _rejection(rec: HeaderRecord) -> str | None:
    sop = rec.get("SOPClassUID") or rec.get("MediaStorageSOPClassUID")
    if rec.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS:
        return "DICOMDIR (directory record)"
    reason = unsupported_reason(sop)
    if reason:
        return reason
    if not rec.has_pixels:
        what = f" ({_sop_name(sop)})" if sop else ""
        return f"no pixel data{what}"
    if not rec.get("Rows") or not rec.get("Columns"):
        return "incomplete image header: Rows or Columns missing"
    if not rec.get("SeriesInstanceUID"):
        return "no SeriesInstanceUID (0020,000E): the image cannot be grouped into a series"
    return None


def build_stacks(
    records: Iterable[HeaderRecord],
) -> tuple[list[SeriesStack], list[RejectedFile]]:
    """Group header records into stacks and list the files not used.

    Parameters
    ----------
    records
        One record per readable DICOM file.

    Returns
    -------
    stacks, rejected
        Stacks sorted by patient key, study date, study, series number and stack id;
        rejected files in path
        order.
    """
    rejected: list[RejectedFile] = []
    seen_sop: dict[str, Path] = {}
    # series uid -> list of groups; a group is [key, orientation, records]
    series: dict[str, list[list[Any]]] = {}
    multiframe: dict[str, list[HeaderRecord]] = {}
    mosaics: dict[str, list[HeaderRecord]] = {}
    for rec in sorted(records, key=lambda r: str(r.path)):
        reason = _rejection(rec)
        if reason is None:
            sop_uid = rec.get("SOPInstanceUID")
            if sop_uid:
                first = seen_sop.get(sop_uid)
                if first is not None:
                    reason = f"duplicate SOPInstanceUID (same as {first})"
                else:
                    seen_sop[sop_uid] = rec.path
        if reason is not None:
            rejected.append(RejectedFile(rec.path, reason))
            continue
        uid = rec.get("SeriesInstanceUID")
        if is_mosaic_record(rec):
            mosaics.setdefault(uid, []).append(rec)
            continue
        if (rec.get("NumberOfFrames") or 1) > 1:
            multiframe.setdefault(uid, []).append(rec)
            continue
        key = stack_key(rec)
        iop = _iop(rec)
        groups = series.setdefault(uid, [])
        for g in groups:
            if g[0] == key and _same_orientation(g[1], iop):
                g[2].append(rec)
                break
        else:
            groups.append([key, iop, [rec]])
    stacks: list[SeriesStack] = []
    for uid, groups in series.items():
        stacks.extend(_series_stacks(uid, groups, len(multiframe.get(uid, ()))))
    for uid, recs in multiframe.items():
        n_single = len(series.get(uid, ()))
        for n, rec in enumerate(sorted(recs, key=lambda r: r.get("SOPInstanceUID") or ""),
                                start=1):
            sid = uid if (len(recs) == 1 and n_single == 0) else f"{uid}#mf{n}"
            subs = frame_groups(rec)
            if len(subs) <= 1:
                stacks.append(_multiframe_stack(sid, rec, "" if sid == uid else
                                                "one stack per multi-frame file"))
                continue
            for m, (sub, reason) in enumerate(zip(subs, _frame_split_reasons(subs),
                                                  strict=True), start=1):
                sub_id = f"{uid}#{m}" if sid == uid else f"{sid}.{m}"
                stacks.append(_multiframe_stack(
                    sub_id, rec, f"frames of one multi-frame file that {reason}", sub))
    for uid, recs in mosaics.items():
        more_stacks, more_rejected = mosaic_stacks(uid, recs)
        stacks.extend(more_stacks)
        rejected.extend(more_rejected)
    stacks, refused = _volumes_of(stacks)
    rejected.extend(refused)
    out = classify_stacks(stacks)
    out.sort(key=lambda s: (s.patient_key, s.study_date or "", s.study_instance_uid or "",
                            s.series_number or 0, s.stack_id))
    rejected.sort(key=lambda r: str(r.path))
    return out, rejected


def _volumes_of(stacks: list[SeriesStack]) -> tuple[list[SeriesStack], list[RejectedFile]]:
    """4-D stacks split into volumes, or refused (:mod:`._volumes`)."""
    out: list[SeriesStack] = []
    refused: list[RejectedFile] = []
    for st in name_multiframe_volumes(stacks):
        got = split_repeated_positions(st)
        if isinstance(got, str):
            refused.extend(RejectedFile(f, got) for f in st.files)
        else:
            out.extend(got)
    return out, refused


def _group_order(group: list[Any]) -> tuple[Any, ...]:
    key, iop = group[0], group[1]
    return (
        key[6],  # localizers after the main images
        key[3] if key[3] is not None else -1, key[2] if key[2] is not None else -1.0,
        key[4] if key[4] is not None else -1.0, key[0] or 0, key[1] or 0, key[5],
        tuple(round(v, 3) for v in iop) if iop else (),
    )


def _series_stacks(uid: str, groups: list[list[Any]], n_multiframe: int) -> list[SeriesStack]:
    groups = sorted(groups, key=_group_order)
    reasons = _split_reasons(groups)
    # orthogonal handful-of-slices groups of one series, or one series holding all
    # three planes (GE three-plane localizer, 9 slices a plane): a localizer
    if (len(groups) >= 2 and all(len(g[2]) <= 3 for g in groups)) \
            or (len(groups) >= 3 and all(len(g[2]) <= 32 for g in groups)):
        orientations = {tuple(round(v, 1) for v in g[1]) for g in groups if g[1]}
        planes = {_plane_name(g[1]) for g in groups if g[1]}
        if len(orientations) >= 2 and (all(len(g[2]) <= 3 for g in groups)
                                       or {"sagittal", "coronal", "axial"} <= planes):
            for g in groups:
                g[0] = g[0][:6] + (True,)
    split = len(groups) > 1 or n_multiframe > 0
    out = []
    for n, (group, reason) in enumerate(zip(groups, reasons, strict=True), start=1):
        sid = f"{uid}#{n}" if split else uid
        out.append(_single_frame_stack(sid, group[2], group[1], bool(group[0][6]),
                                       reason if split else ""))
    return out


def _plane_name(iop: tuple[float, ...]) -> str | None:
    from ..errors import GeometryError
    from ..geometry import plane_of

    try:
        return plane_of(iop)
    except GeometryError:
        return None


def _split_reasons(groups: Sequence[list[Any]]) -> list[str]:
    """Say which attribute separates each group from the others."""
    if len(groups) < 2:
        return [""] * len(groups)
    names = ("image size", "image size", "echo time", "echo number", "inversion time",
             "image type", "localizer")
    out = []
    for g in groups:
        diffs: set[str] = set()
        for h in groups:
            if h is g:
                continue
            for i, name in enumerate(names):
                if g[0][i] != h[0][i]:
                    diffs.add(name)
            if not _same_orientation(g[1], h[1]):
                diffs.add("orientation")
        out.append("differs in " + ", ".join(sorted(diffs)) if diffs else "")
    return out


def _single_frame_stack(sid: str, recs: list[HeaderRecord], iop: tuple[float, ...] | None,
                        localizer: bool, split_reason: str) -> SeriesStack:
    recs = _ordered(recs, iop)
    return SeriesStack(
        stack_id=sid,
        files=tuple(r.path for r in recs),
        n_images=len(recs),
        image_orientation=iop,
        positions=tuple(_ipp(r) for r in recs),
        instance_numbers=tuple(r.get("InstanceNumber") for r in recs),
        sop_instance_uids=tuple(r.get("SOPInstanceUID") or "" for r in recs),
        localizer=localizer,
        split_reason=split_reason,
        multiframe=False,
        **_base_fields(recs),
    )


def _ordered(recs: list[HeaderRecord], iop: tuple[float, ...] | None) -> list[HeaderRecord]:
    """Order along the slice normal; InstanceNumber, then path, where positions miss."""
    def inst(r: HeaderRecord) -> int:
        v = r.get("InstanceNumber")
        return v if isinstance(v, int) else 0

    if iop is not None and all(_ipp(r) is not None for r in recs):
        r1, r2, r3, c1, c2, c3 = iop
        nx, ny, nz = r2 * c3 - r3 * c2, r3 * c1 - r1 * c3, r1 * c2 - r2 * c1

        def along(r: HeaderRecord) -> float:
            x, y, z = r.values["ImagePositionPatient"]
            return nx * x + ny * y + nz * z

        return sorted(recs, key=lambda r: (along(r), inst(r), str(r.path)))
    return sorted(recs, key=lambda r: (inst(r), str(r.path)))


def _multiframe_stack(sid: str, rec: HeaderRecord, split_reason: str,
                      group: FrameGroup | None = None) -> SeriesStack:
    n = int(rec.get("NumberOfFrames") or 1)
    numbers = group.frame_numbers if group is not None else tuple(range(1, n + 1))
    if group is not None:
        iop = group.orientation
    else:
        iop = rec.shared_orientation
        frame_iops = {f[1] for f in rec.frames if f[1] is not None}
        if iop is None and len(frame_iops) == 1:
            iop = next(iter(frame_iops))
        iop = _finite(iop, 6) if iop is not None else _iop(rec)
    positions = (tuple(_finite(rec.frames[k - 1][0], 3) for k in numbers
                       if k - 1 < len(rec.frames)) if rec.frames else ())
    base = _base_fields([rec])
    if group is not None:
        key = group.key
        if key.echo_time is not None:
            base["echo_time"] = key.echo_time
        if key.inversion_time is not None:
            base["inversion_time"] = key.inversion_time
        if key.frame_type:
            part = _COMPLEX_PARTS.get(key.complex_component)
            base["image_type"] = key.frame_type + ((part,) if part else ())
    return SeriesStack(
        stack_id=sid,
        files=(rec.path,),
        n_images=len(numbers),
        image_orientation=iop,
        positions=positions,
        instance_numbers=(rec.get("InstanceNumber"),),
        sop_instance_uids=(rec.get("SOPInstanceUID") or "",),
        localizer=is_localizer(rec),
        split_reason=split_reason,
        multiframe=True,
        frame_numbers=numbers if group is not None else (),
        **base,
    )
