"""Read a DICOM Segmentation (SEG) back into label maps on its source series' grid.

Any SEG of an MR series is read, not only those :mod:`bmes_imaging.export` writes:
any segment numbering, frames in any order or on some slices only, BINARY, FRACTIONAL
(a voxel is in from a fraction of 0.5) or LABELMAP, overlapping segments. Each frame is
placed by its own plane position, orientation and pixel spacing, never by its order.

The grid of the result, in this order of preference:

1. ``reference``: a :class:`~bmes_imaging.volume.Volume` (or a DICOM series path) whose
   grid receives the segments;
2. the source series, when it is found beside the SEG (in the SEG's folder or its
   parent's, matched by the SeriesInstanceUID the SEG references; a folder tree of more
   than 5000 files is not searched);
3. the SEG's own planes: in-plane as the frames, slices from the first to the last
   segmented plane at the slice spacing (SpacingBetweenSlices, else the smallest gap).

Bone segments (by their SNOMED CT code, else their label or TrackingID) take the
project's bone label numbers (:mod:`bmes_imaging.bones`); edema segments (code
79654002 "Edema", or "edema" in the label) go to a separate edema map whose voxels
carry their bone's label (from AnatomicRegionSequence or the label; else the bone
underneath; else :data:`EDEMA_OUTSIDE_BONES`); any other segment gets a label value
from 15 upwards, in segment-number order. Where segments of one map overlap, the lower
segment number keeps the voxel (``SegLabels.overlap_voxels`` counts the others).

Examples
--------
::

    seg = read_seg("seg.dcm")            # the source series is found beside it
    seg.labels.to_nifti("bones.nii.gz")  # project bone labels, RAS+ affine
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._outbound import terminal_text
from ..bones import BONES, Bone, bone_from_name
from ..errors import BmesError, DicomFileError
from ..geometry import resample_to
from ..volume import SeriesInfo, Volume
from ._limits import declared_size_problem, read_dataset
from ._quiet import quiet_pydicom
from ._seg_grid import (
    DicomPlane,
    check_grid_size,
    frame_planes,
    functional_item,
    onto_grid,
    own_grid,
    plane_affine,
)

__all__ = ["EDEMA_OUTSIDE_BONES", "SEG_SOP_CLASSES", "SegLabels", "SegSegment",
           "is_seg_file", "read_seg"]

#: Segmentation Storage and Label Map Segmentation Storage.
SEG_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"})
#: Edema-map value of edema voxels whose bone is neither named nor underneath.
EDEMA_OUTSIDE_BONES = 255
_EDEMA_CODE = "79654002"
_EDEMA_WORDS = ("edema", "oedema")
_FIRST_OTHER_LABEL = max(BONES) + 1
_FRACTION_THRESHOLD = 0.5
_SOURCE_SEARCH_FILES = 5000  # files looked through for the source series, at most
_UNSUPPORTED_ORGANISATIONS = ("TILED_FULL", "TILED_SPARSE", "3D_TEMPORAL")
_Code = tuple[str, str, str]


@dataclass(frozen=True)
class SegSegment:
    """One segment of a SEG and where it went.

    Attributes
    ----------
    number
        SegmentNumber in the SEG.
    label
        SegmentLabel as written (untrusted text: print it through :meth:`describe`).
    category, property_type
        SegmentedPropertyCategory / SegmentedPropertyType codes as
        ``(code value, coding scheme, meaning)``.
    algorithm_type
        SegmentAlgorithmType (``MANUAL``, ``SEMIAUTOMATIC``, ``AUTOMATIC``).
    color
        RGB 0-255 from RecommendedDisplayCIELabValue, None if absent.
    role
        ``"bone"``, ``"edema"`` or ``"other"``.
    bone
        The bone of the vocabulary (for edema: the bone it lies in), or None.
    value
        Label value in its map (``labels`` for bones and others, ``edema`` for edema;
        0 for an edema segment whose bone is unknown: its voxels take the bone
        underneath).
    voxels
        Voxels of the segment on the result grid (before overlaps are resolved).
    """

    number: int
    label: str
    category: _Code
    property_type: _Code
    algorithm_type: str
    color: tuple[int, int, int] | None
    role: str
    bone: Bone | None
    value: int
    voxels: int = 0

    def describe(self) -> str:
        """One line for a terminal, with the SEG's own text escaped."""
        where = f"-> {self.role} {self.value}" if self.value else f"-> {self.role}"
        bone = f" ({self.bone.bone_name})" if self.bone is not None else ""
        return terminal_text(f"segment {self.number} {self.label!r} "
                             f"[{self.property_type[2]}] {self.algorithm_type} {where}{bone}, "
                             f"{self.voxels} voxels")


@dataclass(frozen=True)
class SegLabels:
    """A SEG read by :func:`read_seg`.

    Attributes
    ----------
    path
        The SEG file.
    labels
        Bone labels (project numbers 1-14) and other segments (15 upwards), uint8 (or
        uint16 beyond 255 values), on the result grid with its RAS+ affine.
    edema
        Edema map (uint8) on the same grid: each edema voxel carries its bone's label.
    segments
        Every segment, in segment-number order.
    grid
        Where the grid came from: ``"reference"``, ``"source"`` (the source series
        found beside the SEG), ``"seg"`` (the SEG's own planes) or ``"resampled"``
        (the reference grid, the SEG's planes not lying on it: nearest neighbour).
    segmentation_type
        ``"BINARY"``, ``"FRACTIONAL"`` or ``"LABELMAP"``.
    overlap_voxels
        Voxels claimed by more than one segment of the same map (kept by the lower
        segment number).
    """

    path: Path
    labels: Volume
    edema: Volume
    segments: tuple[SegSegment, ...]
    grid: str
    segmentation_type: str
    overlap_voxels: int = 0

    def segment(self, number: int) -> SegSegment:
        """The segment numbered ``number`` (KeyError if absent)."""
        for s in self.segments:
            if s.number == number:
                return s
        raise KeyError(number)


def is_seg_file(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a readable DICOM file of a Segmentation SOP class.

    Reads the header only and never raises (for napari's reader and the CLI).
    """
    import pydicom

    quiet_pydicom()
    try:
        p = Path(path)
        if not p.is_file():
            return False
        ds = pydicom.dcmread(p, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "MediaStorageSOPClassUID"])
        uid = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    except (OSError, EOFError, ValueError, TypeError, AttributeError, KeyError,
            pydicom.errors.InvalidDicomError):
        return False
    return uid in SEG_SOP_CLASSES


# ------------------------------------------------------------------ reading the file

def _open(path: Path) -> tuple[Any, list[DicomPlane]]:
    """The SEG as a highdicom Segmentation and its frames' planes, after the checks
    that need no pixels."""
    import highdicom as hd
    import pydicom

    try:
        ds = read_dataset(path, force=False)
    except (OSError, EOFError, ValueError, pydicom.errors.InvalidDicomError) as exc:
        raise DicomFileError(path, f"not a readable DICOM file: "
                             f"{terminal_text(exc)}") from None
    uid = str(ds.get("SOPClassUID", ""))
    if uid not in SEG_SOP_CLASSES:
        raise DicomFileError(path, f"not a DICOM SEG (SOP class {terminal_text(uid) or 'none'}"
                             "); give a Segmentation Storage file")
    organisation = str(ds.get("DimensionOrganizationType", "") or "")
    if organisation in _UNSUPPORTED_ORGANISATIONS:
        raise DicomFileError(path, f"dimension organisation {organisation} is not supported "
                             "(only slices of a 3-D volume are read)")
    frames = ds.get("NumberOfFrames", 1)
    problem = declared_size_problem(ds.get("Rows"), ds.get("Columns"), frames, 1,
                                    ds.get("BitsAllocated", 8))
    if problem:
        raise DicomFileError(path, f"the SEG {problem}")
    if "PixelData" not in ds or "SegmentSequence" not in ds:
        raise DicomFileError(path, "the SEG has no pixel data or no SegmentSequence")
    planes = frame_planes(ds, path)
    try:
        return hd.seg.Segmentation.from_dataset(ds, copy=False), planes
    except (ValueError, AttributeError, KeyError, TypeError, IndexError) as exc:
        raise DicomFileError(path, "highdicom cannot read the SEG: "
                             f"{terminal_text(exc)}") from None


def _frame_segments(seg: Any, path: Path) -> list[int]:
    """Segment number of each frame (0 for every frame of a LABELMAP SEG)."""
    if str(seg.SegmentationType) == "LABELMAP":
        return [0] * int(seg.get("NumberOfFrames", 1))
    numbers = []
    for f in range(int(seg.get("NumberOfFrames", 1))):
        ident = functional_item(seg, f, "SegmentIdentificationSequence")
        if ident is None or "ReferencedSegmentNumber" not in ident:
            raise DicomFileError(path, f"frame {f + 1} of the SEG names no segment")
        numbers.append(int(ident.ReferencedSegmentNumber))
    return numbers


# ------------------------------------------------------------------ segments

def _code(item: Any, sequence: str) -> _Code:
    seq = item.get(sequence)
    if not seq:
        return ("", "", "")
    c = seq[0]
    return (str(c.get("CodeValue", "") or c.get("LongCodeValue", "") or ""),
            str(c.get("CodingSchemeDesignator", "") or ""), str(c.get("CodeMeaning", "") or ""))


def _bone_by_code(code: str) -> Bone | None:
    if not code:
        return None
    found = [b for b in Bone if b.info.snomed_code == code]
    return found[0] if len(found) == 1 else None


def _bone_by_words(*texts: str) -> Bone | None:
    for text in texts:
        words = text.lower()
        for w in (*_EDEMA_WORDS, "bone marrow", "marrow"):
            words = words.replace(w, " ")
        if words.strip():
            try:
                return bone_from_name(words.strip())
            except KeyError:
                continue
    return None


def _rgb(item: Any) -> tuple[int, int, int] | None:
    import highdicom as hd

    value = item.get("RecommendedDisplayCIELabValue")
    if value is None or len(value) != 3:
        return None
    try:
        r, g, b = hd.color.CIELabColor.from_dicom_value([int(v) for v in value]).to_rgb()
    except (ValueError, TypeError):
        return None
    return (int(r), int(g), int(b))


def _segments(seg: Any) -> list[SegSegment]:
    """Every segment with its role, bone and label value (no voxels counted yet)."""
    out: list[SegSegment] = []
    next_other = _FIRST_OTHER_LABEL
    for item in sorted(seg.SegmentSequence, key=lambda s: int(s.SegmentNumber)):
        if int(item.SegmentNumber) == 0:
            continue  # the background "segment" of a LABELMAP SEG
        label = str(item.get("SegmentLabel", "") or "")
        tracking = str(item.get("TrackingID", "") or "")
        prop = _code(item, "SegmentedPropertyTypeCodeSequence")
        edema = prop[0] == _EDEMA_CODE or any(w in label.lower() for w in _EDEMA_WORDS)
        if edema:
            region = _code(item, "AnatomicRegionSequence")[0]
            bone = _bone_by_code(region) or _bone_by_words(label, tracking.replace("_", " "))
            role, value = "edema", int(bone) if bone is not None else 0
        else:
            bone = _bone_by_code(prop[0]) or _bone_by_words(tracking, label)
            if bone is not None:
                role, value = "bone", int(bone)
            else:
                role, value, next_other = "other", next_other, next_other + 1
        out.append(SegSegment(
            number=int(item.SegmentNumber), label=label,
            category=_code(item, "SegmentedPropertyCategoryCodeSequence"),
            property_type=prop, algorithm_type=str(item.get("SegmentAlgorithmType", "")),
            color=_rgb(item), role=role, bone=bone, value=value))
    return out


# ------------------------------------------------------------------ source series

def _small_tree(root: Path) -> bool:
    """True if ``root`` holds at most :data:`_SOURCE_SEARCH_FILES` files (a study folder,
    not a whole archive or a home directory)."""
    count = 0
    for _, _, files in os.walk(root):
        count += len(files)
        if count > _SOURCE_SEARCH_FILES:
            return False
    return True


def _find_source(path: Path, seg: Any) -> Volume | None:
    """The referenced source series, if it lies in the SEG's folder or its parent's."""
    from ._index import index_folder
    from ._load import load_series

    wanted = {str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])}
    if not wanted:
        return None
    folder = path.resolve().parent
    for root in dict.fromkeys((folder, folder.parent)):
        if not _small_tree(root):
            continue
        index = index_folder(root)
        stacks = [s for s in index.stacks if s.series_instance_uid in wanted]
        if len(stacks) == 1:
            try:
                return load_series(stacks[0])
            except BmesError:
                return None
    return None


def _reference(reference: Volume | str | os.PathLike[str] | None) -> Volume | None:
    if reference is None or isinstance(reference, Volume):
        return reference
    from ._load import load_series

    return load_series(Path(reference))


# ------------------------------------------------------------------ pixels

def _frame_mask(seg: Any, f: int, fractional: bool) -> NDArray[Any]:
    """Stored values of frame ``f`` (0-based): segment numbers (LABELMAP) or a mask."""
    frame = np.asarray(seg.get_stored_frame(f, as_index=True))
    if fractional:
        top = float(seg.get("MaximumFractionalValue", 255) or 255)
        return frame.astype(np.float32) >= _FRACTION_THRESHOLD * top
    return frame


@dataclass
class _Maps:
    labels: NDArray[Any]
    edema: NDArray[np.uint8]
    unknown_edema: NDArray[np.bool_]
    overlaps: int = 0


def _place(maps: _Maps, seg_info: SegSegment, idx: tuple[NDArray[Any], ...],
           counts: dict[int, int]) -> None:
    counts[seg_info.number] = counts.get(seg_info.number, 0) + len(idx[0])
    if seg_info.role == "edema" and seg_info.value == 0:
        maps.unknown_edema[idx] = True
        return
    target = maps.edema if seg_info.role == "edema" else maps.labels
    current = target[idx]
    maps.overlaps += int(np.count_nonzero((current != 0) & (current != seg_info.value)))
    target[idx] = np.where(current == 0, seg_info.value, current)


def _fill(seg: Any, planes: list[DicomPlane], frame_segments: list[int],
          segments: list[SegSegment], path: Path, grid: NDArray[np.float64],
          shape: tuple[int, int, int]) -> tuple[_Maps, dict[int, int]] | None:
    """Label maps on ``grid``; None if a frame does not lie on it."""
    placements = [onto_grid(plane_affine(p), grid) for p in planes]
    if any(p is None for p in placements):
        return None
    by_number = {s.number: s for s in segments}
    dtype = np.uint8 if max((s.value for s in segments), default=0) <= 255 else np.uint16
    maps = _Maps(np.zeros(shape, dtype), np.zeros(shape, np.uint8), np.zeros(shape, bool))
    counts: dict[int, int] = {}
    fractional = str(seg.SegmentationType) == "FRACTIONAL"
    order = sorted(range(len(planes)), key=lambda f: frame_segments[f])
    bounds = np.asarray(shape)[:, None]
    for f in order:
        placement = placements[f]
        assert placement is not None
        origin, u, w = placement
        values = _frame_mask(seg, f, fractional)
        rows, cols = np.nonzero(values)
        if rows.size == 0:
            continue
        ijk = origin[:, None] + u[:, None] * cols[None, :] + w[:, None] * rows[None, :]
        if np.any((ijk < 0) | (ijk >= bounds)):
            raise DicomFileError(path, f"frame {f + 1} has segmented "
                                 "pixels outside the grid of the reference series")
        numbers = values[rows, cols] if frame_segments[f] == 0 else None
        for number in (np.unique(numbers) if numbers is not None else [frame_segments[f]]):
            if int(number) not in by_number:
                continue  # a LABELMAP value without a segment description
            pick = slice(None) if numbers is None else numbers == number
            _place(maps, by_number[int(number)], tuple(a[pick] for a in ijk), counts)
    return maps, counts


def _finish(maps: _Maps) -> None:
    """Edema of unknown bone takes the bone underneath (else EDEMA_OUTSIDE_BONES)."""
    if not maps.unknown_edema.any():
        return
    free = maps.unknown_edema & (maps.edema == 0)
    under = maps.labels[free]
    is_bone = (under >= 1) & (under <= max(BONES))
    maps.edema[free] = np.where(is_bone, under, EDEMA_OUTSIDE_BONES).astype(np.uint8)
    maps.overlaps += int(np.count_nonzero(maps.unknown_edema & ~free))


def read_seg(path: str | os.PathLike[str], *,
             reference: Volume | str | os.PathLike[str] | None = None,
             find_source: bool = True) -> SegLabels:
    """Read a DICOM SEG into bone / structure labels and an edema map.

    Parameters
    ----------
    path
        The SEG file (Segmentation Storage, BINARY or FRACTIONAL; or Label Map
        Segmentation Storage).
    reference
        The grid to read onto: a :class:`~bmes_imaging.volume.Volume` (e.g. the T1
        the SEG was drawn on) or a path to its DICOM series.
    find_source
        Without ``reference``, look for the referenced series in the SEG's folder and
        its parent's and use its grid; else (or when absent) the SEG's own planes.

    Returns
    -------
    SegLabels

    Raises
    ------
    DicomFileError
        Naming the file: not a SEG, no plane positions, an unsupported dimension
        organisation (tiled, temporal), a size beyond the limits (checked before
        anything is allocated), planes that form no grid, segmented pixels outside
        the reference grid.

    Examples
    --------
    ::

        seg = read_seg("seg.dcm", reference=t1)
        assert seg.labels.shape == t1.shape
    """
    p = Path(path)
    seg, planes = _open(p)
    frame_segments = _frame_segments(seg, p)
    segments = _segments(seg)
    ref = _reference(reference)
    grid_kind = "reference"
    if ref is None and find_source:
        ref, grid_kind = _find_source(p, seg), "source"
    own: tuple[NDArray[np.float64], tuple[int, int, int]] | None = None
    filled = None
    if ref is not None:
        check_grid_size(ref.shape, 3, p)
        filled = _fill(seg, planes, frame_segments, segments, p, ref.affine, ref.shape)
    if filled is None:  # no reference, or the SEG's planes are not on it
        own = own_grid(planes, seg, p)
        check_grid_size(own[1], 3, p)
        filled = _fill(seg, planes, frame_segments, segments, p, *own)
        assert filled is not None  # the frames lie on the grid they span
        grid_kind = "seg" if ref is None else "resampled"
    maps, counts = filled
    _finish(maps)
    info = SeriesInfo(modality="SEG", sequence="other",
                      series_instance_uid=str(seg.get("SeriesInstanceUID", "")) or None,
                      frame_of_reference_uid=str(seg.get("FrameOfReferenceUID", "")) or None,
                      study_instance_uid=str(seg.get("StudyInstanceUID", "")) or None)
    if own is not None:
        labels, edema = Volume(maps.labels, own[0], info), Volume(maps.edema, own[0], info)
        if ref is not None:  # onto the reference grid by nearest neighbour
            labels = resample_to(labels, ref.affine, ref.shape, order=0)
            edema = resample_to(edema, ref.affine, ref.shape, order=0)
    else:
        assert ref is not None
        labels, edema = Volume(maps.labels, ref.affine, info), Volume(maps.edema, ref.affine, info)
    counted = tuple(dataclasses.replace(s, voxels=counts.get(s.number, 0)) for s in segments)
    return SegLabels(p, labels, edema, counted, grid_kind, str(seg.SegmentationType),
                     maps.overlaps)
