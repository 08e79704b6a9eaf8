"""What one image stack is: the record of its files and the header values they share.

The lowest layer of the index's stack building: :class:`SeriesStack` and
:class:`RejectedFile`, the patient key, the localizer rule and the header fields every
stack carries. The modules that split series into stacks (:mod:`._stacks`,
:mod:`._volumes`) and classify them (:mod:`._sequence`, :mod:`._physics`) build on it, so
none of them needs another's internals.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._framegroups import _finite
from ._header import HeaderRecord

__all__ = ["LOCALIZER_WORDS", "RejectedFile", "SeriesStack", "is_localizer", "patient_key"]

#: Words in SeriesDescription / ProtocolName that mark localizer images.
LOCALIZER_WORDS = ("localiz", "localis", "locator", "scout", "survey", "3-pl loc",
                    "3pl loc", "3 plane loc", "3-plane loc", "tripilot", "tri-pilot",
                    "aahead", "aascout", "topogram")
#: "Loc" as a word (GE "Loc (Right)", "3-Plane Loc", "Ax Loc"), "3-plane", "pilot".
_LOC_WORD = re.compile(r"(?<![a-z])(loc|locs|3[- ]?plane|tri[- ]?plane|pilot|"
                       r"posdisp|scanogram)(?![a-z])")


@dataclass(frozen=True)
class RejectedFile:
    """A file the index did not use, and why.

    Attributes
    ----------
    path
        The file.
    reason
        Why it was not used (e.g. ``"not DICOM ..."``, ``"no pixel data ..."``,
        ``"DICOMDIR (directory record)"``, ``"duplicate SOPInstanceUID ..."``).
    """

    path: Path
    reason: str


@dataclass(frozen=True)
class SeriesStack:
    """One image stack: the files (or one multi-frame file) that form one 3-D image.

    Patient identifiers (``patient_id``, ``patient_name``) are carried for linking and
    display on request only; they are left out of ``repr()``; never log them.

    Attributes
    ----------
    stack_id
        Stable name: the SeriesInstanceUID, plus ``#n`` when the series was split.
    files
        The files, ordered along the slice normal (InstanceNumber when positions are
        missing). One file for a multi-frame image.
    n_images
        Number of 2-D images (files, or frames of a multi-frame file).
    image_orientation
        ImageOrientationPatient (6 floats) shared by the stack, or None.
    positions
        ImagePositionPatient per image in ``files`` order (per frame for multi-frame),
        None where missing.
    sequence, sequence_reason, plane
        From :func:`~bmes_imaging.dicom.classify_stack`.
    laterality, laterality_source
        ``"L"``/``"R"``/None from Laterality / ImageLaterality, else from side words in
        the descriptions; and where it came from.
    localizer
        True for localizer / scout / survey images.
    split_reason
        Why this stack was separated from the rest of its series ('' if not split).
    size_bytes
        Total size of the files.
    frame_numbers
        For a multi-frame file holding several stacks (multi-echo, Dixon water / fat,
        magnitude / phase, several StackIDs or orientations): the 1-based numbers of
        the file's frames that form this stack, in file order. Empty when the stack
        uses every image of its files.
    mosaic_tiles
        A Siemens mosaic (one file holding a whole volume as tiles): the number of
        slices tiled in it (CSA NumberOfImagesInMosaic); 0 otherwise. ``rows`` and
        ``columns`` are then one slice's size and ``positions`` the slices' positions.
    mr_acquisition_type
        MRAcquisitionType (``"2D"`` / ``"3D"``), '' if absent.
    """

    stack_id: str
    files: tuple[Path, ...]
    patient_id: str | None = field(default=None, repr=False)
    patient_name: str | None = field(default=None, repr=False)
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    series_number: int | None = None
    series_description: str = ""
    modality: str | None = None
    manufacturer: str | None = None
    rows: int | None = None
    columns: int | None = None
    n_images: int = 0
    image_orientation: tuple[float, ...] | None = None
    plane: str | None = None
    repetition_time: float | None = None
    echo_time: float | None = None
    inversion_time: float | None = None
    scanning_sequence: tuple[str, ...] = ()
    sequence_variant: tuple[str, ...] = ()
    scan_options: tuple[str, ...] = ()
    laterality: str | None = None
    multiframe: bool = False
    sequence: str = "other"
    sequence_reason: str = ""
    # further header evidence
    sop_class_uid: str | None = None
    image_type: tuple[str, ...] = ()
    echo_number: int | None = None
    frame_of_reference_uid: str | None = None
    study_date: str | None = None
    study_description: str = ""
    protocol_name: str = ""
    sequence_name: str = ""
    body_part: str = ""
    magnetic_field_strength: float | None = None
    flip_angle: float | None = None
    pixel_spacing: tuple[float, ...] | None = None
    slice_thickness: float | None = None
    positions: tuple[tuple[float, ...] | None, ...] = ()
    instance_numbers: tuple[int | None, ...] = ()
    sop_instance_uids: tuple[str, ...] = ()
    transfer_syntax_uid: str = ""
    localizer: bool = False
    split_reason: str = ""
    size_bytes: int = 0
    laterality_source: str = ""
    frame_numbers: tuple[int, ...] = ()
    mosaic_tiles: int = 0
    mr_acquisition_type: str = ""

    @property
    def patient_key(self) -> str:
        """Short non-identifying key of the patient (hash of PatientID and name)."""
        return patient_key(self.patient_id, self.patient_name)

    def replace(self, **changes: Any) -> SeriesStack:
        """Return a copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


def patient_key(patient_id: str | None, patient_name: str | None = None) -> str:
    """Short, non-identifying key for a patient: 8 hex digits of a SHA-256 digest.

    Examples
    --------
    >>> len(patient_key("12345", "Doe^Jane"))
    8
    >>> patient_key(None, None)
    '—'
    """
    if not patient_id and not patient_name:
        return "—"
    text = f"{patient_id or ''}\x00{patient_name or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def is_localizer(rec: HeaderRecord) -> bool:
    """True when the image type or description says localizer / scout / survey."""
    v = rec.values
    return _is_localizer(v.get("ImageType") or (), v.get("SeriesDescription") or "",
                         v.get("ProtocolName") or "")


@functools.lru_cache(maxsize=1024)
def _is_localizer(image_type: tuple[str, ...], description: str, protocol: str) -> bool:
    if "LOCALIZER" in image_type:
        return True
    text = f"{description} {protocol}".lower()
    return any(w in text for w in LOCALIZER_WORDS) or _LOC_WORD.search(text) is not None


def _common(recs: Sequence[HeaderRecord], keyword: str) -> Any:
    """The value of ``keyword`` in the first record that has it."""
    for r in recs:
        v = r.get(keyword)
        if v is not None and v != "" and v != ():
            return v
    return None


def _as_tuple(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, tuple):
        return tuple(str(x) for x in v)
    return (str(v),)


def _float(v: Any) -> float | None:
    if isinstance(v, tuple):
        v = v[0] if v else None
    if isinstance(v, float | int) and math.isfinite(v):
        return float(v)
    return None


def _laterality(recs: Sequence[HeaderRecord]) -> tuple[str | None, str]:
    for kw in ("Laterality", "ImageLaterality"):
        v = _common(recs, kw)
        if isinstance(v, str) and v.strip().upper() in ("L", "R"):
            return v.strip().upper(), f"{kw} tag"
    return None, ""


def _base_fields(recs: Sequence[HeaderRecord]) -> dict[str, Any]:
    first = recs[0]
    spacing = _finite(_common(recs, "PixelSpacing"), 2)
    if spacing is not None and min(spacing) <= 0:
        spacing = None
    return {
        "patient_id": _common(recs, "PatientID"),
        "patient_name": _common(recs, "PatientName"),
        "study_instance_uid": _common(recs, "StudyInstanceUID"),
        "series_instance_uid": first.get("SeriesInstanceUID"),
        "series_number": _common(recs, "SeriesNumber"),
        "series_description": _common(recs, "SeriesDescription") or "",
        "modality": _common(recs, "Modality"),
        "manufacturer": _common(recs, "Manufacturer"),
        "rows": first.get("Rows"),
        "columns": first.get("Columns"),
        "repetition_time": _float(_common(recs, "RepetitionTime")),
        "echo_time": _float(_common(recs, "EchoTime")),
        "inversion_time": _float(_common(recs, "InversionTime")),
        "scanning_sequence": _as_tuple(_common(recs, "ScanningSequence")),
        "sequence_variant": _as_tuple(_common(recs, "SequenceVariant")),
        "scan_options": _as_tuple(_common(recs, "ScanOptions")),
        "laterality": _laterality(recs)[0],
        "laterality_source": _laterality(recs)[1],
        "sop_class_uid": _common(recs, "SOPClassUID"),
        "image_type": _as_tuple(_common(recs, "ImageType")),
        "echo_number": _common(recs, "EchoNumbers"),
        "frame_of_reference_uid": _common(recs, "FrameOfReferenceUID"),
        "study_date": _common(recs, "StudyDate"),
        "study_description": _common(recs, "StudyDescription") or "",
        "protocol_name": _common(recs, "ProtocolName") or "",
        "sequence_name": _common(recs, "SequenceName") or "",
        "mr_acquisition_type": str(_common(recs, "MRAcquisitionType") or "").upper(),
        "body_part": _common(recs, "BodyPartExamined") or "",
        "magnetic_field_strength": _float(_common(recs, "MagneticFieldStrength")),
        "pixel_spacing": spacing if isinstance(spacing, tuple) and len(spacing) == 2 else None,
        "slice_thickness": _float(_common(recs, "SliceThickness")),
        "transfer_syntax_uid": first.transfer_syntax,
        "size_bytes": sum(r.size for r in recs),
    }
