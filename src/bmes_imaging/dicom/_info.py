"""Series metadata for a loaded stack: :class:`~bmes_imaging.volume.SeriesInfo`.

Read from the header of the stack's first image (pydicom, without pixel data), with
Enhanced MR values taken from the functional groups (and from the legacy-converted
"unassigned" attributes), and the sequence / laterality of the index's stack when one is
given. A malformed metadata value becomes ``None``; it never stops a load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import GeometryError
from ..geometry import plane_of
from ..volume import SeriesInfo
from ._frames import Frame, file_errors
from ._scaling import scaling_available

__all__ = ["series_info"]


def _text(ds: Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except file_errors():
        return None
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _num(ds: Any, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            value = value[0]
        return float(value)
    except file_errors():
        return None


def _enhanced_num(ds: Any, macro: str, keyword: str) -> float | None:
    """A number from the shared functional groups, else the first per-frame group."""
    for groups_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        try:
            groups = ds.get(groups_kw)
            if not groups:
                continue
            items = groups[0].get(macro)
            if items:
                value = _num(items[0], keyword)
                if value is not None:
                    return value
        except file_errors():
            continue
    return None


def series_info(ordered: Sequence[Frame], step: NDArray[np.float64],
                stack: Any | None) -> SeriesInfo:
    """SeriesInfo of a sorted stack (``ordered`` frames, LPS slice ``step``).

    ``stack`` is the index's SeriesStack, if any: its ``sequence`` and (when the header
    has none) ``laterality`` are used, and its ``stack_id`` is kept in ``extra``.
    """
    import pydicom

    first = ordered[0]
    try:
        ds: Any = pydicom.dcmread(first.path, stop_before_pixels=True, force=True)
    except file_errors():
        ds = {}
    legacy = "UnassignedSharedConvertedAttributesSequence"  # legacy converted enhanced
    tr = (_num(ds, "RepetitionTime")
          or _enhanced_num(ds, "MRTimingAndRelatedParametersSequence", "RepetitionTime")
          or _enhanced_num(ds, legacy, "RepetitionTime"))
    te = (_num(ds, "EchoTime") or _enhanced_num(ds, "MREchoSequence", "EffectiveEchoTime")
          or _enhanced_num(ds, legacy, "EchoTime"))
    ti = (_num(ds, "InversionTime")
          or _enhanced_num(ds, "MRModifierSequence", "InversionTimes")
          or _enhanced_num(ds, legacy, "InversionTime"))
    if first.key is not None:  # multi-frame: this stack's own echo / inversion time
        te = first.key.echo_time if first.key.echo_time is not None else te
        ti = first.key.inversion_time if first.key.inversion_time is not None else ti
    laterality = _text(ds, "Laterality") or _text(ds, "ImageLaterality")
    if laterality not in ("L", "R"):
        laterality = getattr(stack, "laterality", None)
    number = _num(ds, "SeriesNumber")
    assert first.orientation is not None
    try:
        plane: str | None = plane_of(first.orientation.tolist())
    except GeometryError:
        plane = None
    sequence = getattr(stack, "sequence", None)
    multiframe = any(f.frame_number for f in ordered)
    slopes = {(f.slope, f.intercept) for f in ordered}
    extra: dict[str, Any] = {
        "slice_spacing_mm": float(np.linalg.norm(step)),
        "transfer_syntaxes": sorted({f.transfer_syntax for f in ordered}),
        "rescale_varies": len(slopes) > 1,
    }
    if any(f.monochrome1 for f in ordered):
        extra["monochrome1_inverted"] = True
    # what the files offer (rescale as stored, vendor maps); the loader adds what it
    # applied (_scaling.apply_scaling)
    extra["value_scaling"] = {"available": scaling_available(ds, first.frame_number)}
    if first.extra.get("mosaic_tiles"):
        extra["mosaic_tiles"] = int(first.extra["mosaic_tiles"])
    thick = _num(ds, "SliceThickness")
    if thick is not None:
        extra["slice_thickness_mm"] = thick
    if stack is not None and getattr(stack, "stack_id", None):
        extra["stack_id"] = stack.stack_id
    return SeriesInfo(
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID") or first.series_instance_uid or None,
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        patient_id=_text(ds, "PatientID"),
        modality=_text(ds, "Modality"),
        manufacturer=_text(ds, "Manufacturer"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=int(number) if number is not None else None,
        laterality=laterality,
        sequence=sequence,
        plane=plane,
        repetition_time=tr,
        echo_time=te,
        inversion_time=ti,
        sop_class_uid=first.sop_class_uid or _text(ds, "SOPClassUID"),
        sop_instance_uids=tuple(f.sop_instance_uid for f in ordered),
        frame_numbers=tuple(f.frame_number for f in ordered) if multiframe else (),
        source_files=tuple(str(f.path) for f in ordered),
        extra=extra,
    )
