"""DICOM Segmentation (SEG) export of confirmed edema and bone masks, and reading back.

One binary SEG per study: a segment per bone in the bone mask (category "Anatomical
Structure", type the bone's SNOMED CT code) and a segment per bone with *confirmed*
edema (category "Morphologically Abnormal Structure", type "Edema", anatomic region the
bone). It references the source T1 series slice by slice; the reader is the content
creator. Candidate (unconfirmed) detector output is never exported.

Examples
--------
::

    from bmes_imaging.export import write_edema_seg, read_edema_seg
    out = write_edema_seg(t1, "seg.dcm", edema=result.edema, bones=result.bones,
                          findings=confirmed_findings, reader="Reader^A")
    masks = read_edema_seg("seg.dcm", t1)      # masks.edema, masks.bones: Volumes
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_bytes_atomic
from ..bones import Bone, bone_from_name
from ..errors import ExportError
from ..volume import Volume
from ._deid import deidentify_dataset, deidentify_derived
from ._pseudonym import Pseudonymizer

__all__ = [
    "BONE_SOURCES",
    "SegExport",
    "SegMasks",
    "bone_algorithm_type",
    "bone_code",
    "read_edema_seg",
    "write_edema_seg",
]

# DICOM PS3.16 CID 7482/7483/8134; for the metatarsals without a confirmed own concept
_GENERIC_METATARSAL = ("280711000", "Metatarsus")
_EDEMA_SUFFIX = " edema"

#: How each bone-mask provenance is declared in the SEG (SegmentAlgorithmType), by the
#: words used by :class:`bmes_imaging.detection.EdemaResult.bone_source` and the CLI.
BONE_SOURCES = {
    "manual": "MANUAL", "imported": "MANUAL",
    "seeded": "SEMIAUTOMATIC", "semiautomatic": "SEMIAUTOMATIC",
    "automatic": "AUTOMATIC",
}


def bone_code(bone: Bone) -> Any:
    """SNOMED CT code of a bone for DICOM.

    The bone's own concept where it was checked against a published table (DICOM PS3.16
    or the HL7 FHIR SNOMED CT value sets body-site / approach-site-codes, e.g. 301000
    "Fifth metatarsal bone"); otherwise a verified broader concept ("Metatarsus" for the
    first to fourth metatarsal, whose own concepts could not be confirmed, "Bone" else),
    never an unchecked code. The metatarsal's ordinal then lives in the segment label and
    TrackingID. Every code is a SNOMED CT concept identifier with a valid check digit
    (tests/core/export/test_snomed_codes.py).
    """
    from pydicom.sr.coding import Code

    info = bone.info
    if info.snomed_verified and info.snomed_code:
        return Code(info.snomed_code, "SCT", info.snomed_meaning)
    if bone.bone_name.endswith("_metatarsal"):
        return Code(_GENERIC_METATARSAL[0], "SCT", _GENERIC_METATARSAL[1])
    from pydicom.sr.codedict import codes

    return codes.SCT.Bone


@dataclass
class SegExport:
    """What :func:`write_edema_seg` wrote.

    Attributes
    ----------
    path
        The SEG file.
    bone_segments, edema_segments
        Segment number per bone (bone masks; confirmed edema).
    source_files
        De-identified copies of the T1 images (empty unless de-identified).
    deidentified
        The SEG (and the copies) went through the PS3.15 Basic Profile.
    bone_algorithm_type
        ``"MANUAL"``, ``"SEMIAUTOMATIC"`` or ``"AUTOMATIC"`` for the bone segments.
    sop_instance_uid, series_instance_uid
        Of the SEG written.
    """

    path: Path
    bone_segments: dict[Bone, int] = field(default_factory=dict)
    edema_segments: dict[Bone, int] = field(default_factory=dict)
    source_files: list[Path] = field(default_factory=list)
    deidentified: bool = False
    bone_algorithm_type: str | None = None
    sop_instance_uid: str = ""
    series_instance_uid: str = ""


@dataclass
class SegMasks:
    """Masks read back from a SEG, in the T1 grid (project labels)."""

    edema: Volume
    bones: Volume | None
    confirmed: tuple[Bone, ...]
    reader: str | None


def _same_grid(a: Volume, b: Volume, what: str) -> None:
    if a.shape != b.shape or not np.allclose(a.affine, b.affine, atol=1e-3):
        raise ExportError(f"the {what} mask is not in the T1 grid (shape {b.shape} vs "
                          f"{a.shape}); resample it to the T1 series first")


def _sources(t1: Volume) -> list[Any]:
    import pydicom

    files = list(t1.info.source_files)
    if not files:
        raise ExportError("the T1 volume has no source files (loaded from NIfTI?); load it "
                          "from its DICOM series to export a SEG that references it")
    if len(set(files)) != len(files) or len(files) != t1.shape[2]:
        raise ExportError("DICOM SEG export needs a single-frame T1 series with one file "
                          f"per slice; found {len(set(files))} files for {t1.shape[2]} slices")
    datasets = []
    for k, f in enumerate(files):
        try:
            ds = pydicom.dcmread(f)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise ExportError(f"{f}: cannot read the T1 source image: {exc}") from None
        uids = t1.info.sop_instance_uids
        if uids and str(ds.SOPInstanceUID) != uids[k]:
            raise ExportError(f"{f}: SOPInstanceUID does not match slice {k} of the T1 volume")
        datasets.append(ds)
    return datasets


def bone_algorithm_type(bones: Volume | None, bone_source: str | None = None) -> str | None:
    """SegmentAlgorithmType of the bone segments: from ``bone_source`` when given, else
    AUTOMATIC for the atlas' masks (``info.extra["atlas_match"]``), MANUAL otherwise."""
    if bones is None:
        return None
    if bone_source is None:
        bone_source = "automatic" if "atlas_match" in bones.info.extra else "manual"
    try:
        return BONE_SOURCES[bone_source.lower()]
    except KeyError:
        raise ExportError(f"unknown bone-mask source {bone_source!r}; expected one of: "
                          + ", ".join(sorted(BONE_SOURCES))) from None


def _segments_to_write(t1: Volume, edema: Volume, bones: Volume | None,
                       findings: Sequence[Any]) -> tuple[list[Bone], list[Bone]]:
    """(bones with a mask, bones with confirmed edema voxels), refusing an empty SEG."""
    _same_grid(t1, edema, "edema")
    if bones is not None:
        _same_grid(t1, bones, "bone")
    confirmed = sorted({Bone(int(f.bone)) for f in findings if f.status == "confirmed"})
    ed = np.asarray(edema.array)
    edema_bones = [b for b in confirmed if np.any(ed == int(b))]
    bone_list = [] if bones is None else [
        Bone(int(v)) for v in np.unique(np.asarray(bones.array))
        if int(v) != 0 and int(v) in Bone._value2member_map_]
    if not edema_bones and not bone_list:
        raise ExportError("nothing to export: no confirmed edema with voxels and no bone mask; "
                          "confirm findings first (candidates are never exported)")
    return bone_list, edema_bones


def _write_dataset(ds: Any, path: Path) -> None:
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    write_bytes_atomic(path, buf.getvalue())


def _deidentified_copies(sources: list[Any], pseudonymizer: Pseudonymizer,
                         copy_dir: Path) -> list[Path]:
    """De-identify the T1 images in place and write them to ``copy_dir``."""
    copies = []
    for k, ds in enumerate(sources):
        deidentify_dataset(ds, pseudonymizer)
        target = copy_dir / f"IM{k + 1:05d}.dcm"
        _write_dataset(ds, target)
        copies.append(target)
    return copies


def _descriptions(bone_list: list[Bone], edema_bones: list[Bone],
                  bone_type: str | None) -> list[Any]:
    """Segment descriptions: bones first, then confirmed edema, numbered from 1."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from .. import __version__

    detection = hd.AlgorithmIdentificationSequence(
        name="bmes-imaging edema detection", version=__version__,
        family=codes.cid7162.ArtificialIntelligence)
    atlas = hd.AlgorithmIdentificationSequence(
        name="bmes-imaging foot atlas registration", version=__version__,
        family=codes.cid7162.DeformableModels)
    descriptions = []
    for number, b in enumerate(bone_list, start=1):
        algo = None if bone_type == "MANUAL" else atlas
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=b.display_name,
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=bone_code(b),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues[bone_type or "MANUAL"],
            algorithm_identification=algo, tracking_id=b.bone_name,
            tracking_uid=hd.UID(), display_color=hd.color.CIELabColor.from_rgb(*b.color)))
    for number, b in enumerate(edema_bones, start=len(bone_list) + 1):
        # detector candidates the reader confirmed (and possibly edited): semi-automatic
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=b.display_name + _EDEMA_SUFFIX,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Edema,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
            algorithm_identification=detection, tracking_id=f"{b.bone_name}_edema",
            tracking_uid=hd.UID(), anatomic_regions=[bone_code(b)],
            display_color=hd.color.CIELabColor.from_rgb(*b.color)))
    return descriptions


def _segmentation(sources: list[Any], pixels: np.ndarray, descriptions: list[Any],
                  reader: str, series_number: int) -> Any:
    import highdicom as hd

    from .. import __version__

    return hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="bmes-imaging", manufacturer_model_name="bmes-imaging",
        software_versions=__version__, device_serial_number="0",
        content_label="BMES_EDEMA",
        content_description="Confirmed bone marrow edema per bone, and bone masks",
        content_creator_name=reader, series_description="BMES edema SEG",
    )


def write_edema_seg(
    t1: Volume,
    path: str | os.PathLike[str],
    *,
    edema: Volume,
    findings: Sequence[Any],
    reader: str,
    bones: Volume | None = None,
    bone_source: str | None = None,
    deidentify: bool = False,
    pseudonymizer: Pseudonymizer | None = None,
    source_copy_dir: str | Path | None = None,
    series_number: int = 901,
) -> SegExport:
    """Write confirmed edema (and bones) as a DICOM SEG referencing the T1 series.

    Parameters
    ----------
    t1
        The T1 volume loaded from DICOM (``info.source_files`` one file per slice).
    path
        Output ``.dcm`` file.
    edema
        Edema label map in the T1 grid (edema voxels carry their bone's label).
    findings
        Per-bone findings (``.bone``, ``.status``); only bones with status
        ``"confirmed"`` get an edema segment.
    reader
        The reader who confirmed the findings (ContentCreatorName).
    bones
        Bone label map in the T1 grid; one segment per bone present, with the bone's
        display colour (RecommendedDisplayCIELabValue) and SNOMED CT code.
    bone_source
        How the bone masks were made: ``"manual"`` / ``"imported"`` (MANUAL, no
        algorithm), ``"seeded"`` / ``"semiautomatic"`` or ``"automatic"`` (the foot
        atlas). Default: automatic for the atlas' masks, else manual.
    deidentify
        De-identify (PS3.15 Basic Profile, :mod:`._deid`, keyed pseudonyms). The source
        images are de-identified with the same key and written to ``source_copy_dir``
        so the SEG's references stay valid.
    pseudonymizer
        Required with ``deidentify``.
    source_copy_dir
        Folder for the de-identified T1 copies (default: ``<path stem>_t1`` beside the SEG).
    series_number
        SeriesNumber of the SEG.

    Returns
    -------
    SegExport

    Raises
    ------
    ExportError
        No confirmed edema and no bones, masks not in the T1 grid, unusable sources.
    """
    bone_list, edema_bones = _segments_to_write(t1, edema, bones, findings)
    bone_type = bone_algorithm_type(bones, bone_source) if bone_list else None
    if deidentify and pseudonymizer is None:
        raise ExportError("de-identified export needs a pseudonym key")
    sources = _sources(t1)
    out = Path(path)
    copies: list[Path] = []
    if deidentify:
        assert pseudonymizer is not None
        copy_dir = Path(source_copy_dir) if source_copy_dir else out.with_name(out.stem + "_t1")
        copies = _deidentified_copies(sources, pseudonymizer, copy_dir)
    ed = np.asarray(edema.array)
    planes = [np.asarray(bones.array) == int(b) for b in bone_list] if bones is not None \
        else []
    planes += [ed == int(b) for b in edema_bones]
    # (i=column, j=row, k=slice) -> (frame k, row j, column i, segment)
    pixels = np.stack(planes, axis=-1).transpose(2, 1, 0, 3).astype(np.uint8)
    seg = _segmentation(sources, pixels, _descriptions(bone_list, edema_bones, bone_type),
                        reader, series_number)
    if deidentify:
        assert pseudonymizer is not None
        # highdicom may share data elements with the sources: keep the values as text
        deidentify_derived(seg, sources[0], pseudonymizer, content_creator=reader)
    _write_dataset(seg, out)
    n = len(bone_list)
    return SegExport(out, {b: k for k, b in enumerate(bone_list, start=1)},
                     {b: k for k, b in enumerate(edema_bones, start=n + 1)}, copies,
                     deidentify, bone_type, str(seg.SOPInstanceUID),
                     str(seg.SeriesInstanceUID))


def _bone_of_segment(desc: Any) -> tuple[Bone, bool]:
    """(bone, is_edema) of a segment description."""
    label = str(desc.SegmentLabel)
    is_edema = label.endswith(_EDEMA_SUFFIX) or str(
        desc.SegmentedPropertyTypeCodeSequence[0].CodeValue) == "79654002"
    if is_edema and "AnatomicRegionSequence" in desc:
        code = str(desc.AnatomicRegionSequence[0].CodeValue)
    else:
        code = str(desc.SegmentedPropertyTypeCodeSequence[0].CodeValue)
    by_code = [b for b in Bone if b.info.snomed_verified and b.info.snomed_code == code]
    if len(by_code) == 1:
        return by_code[0], is_edema
    name = label.removesuffix(_EDEMA_SUFFIX)
    tracking = str(desc.get("TrackingID", "") or "")
    try:
        return bone_from_name(tracking.removesuffix("_edema") or name), is_edema
    except KeyError:
        try:
            return bone_from_name(name), is_edema
        except KeyError:
            raise ExportError(f"SEG segment {desc.SegmentNumber} ({label!r}) is not a bone "
                              "of the project vocabulary") from None


def read_edema_seg(path: str | Path, t1: Volume, *,
                   source_sop_instance_uids: Sequence[str] | None = None) -> SegMasks:
    """Read a SEG written by :func:`write_edema_seg` back into label maps on the T1 grid.

    Parameters
    ----------
    path
        The SEG file.
    t1
        The T1 volume it references (its grid receives the masks).
    source_sop_instance_uids
        SOP Instance UIDs of the referenced images per slice, when they differ from
        ``t1.info.sop_instance_uids`` (e.g. de-identified copies).

    Returns
    -------
    SegMasks
    """
    import highdicom as hd

    try:
        seg = hd.seg.segread(str(path))
    except (OSError, ValueError, AttributeError) as exc:
        raise ExportError(f"{path}: not a readable DICOM SEG: {exc}") from None
    uids = list(source_sop_instance_uids or t1.info.sop_instance_uids)
    if len(uids) != t1.shape[2]:
        raise ExportError("the T1 volume has no per-slice SOP Instance UIDs; load it from DICOM")
    numbers = list(seg.segment_numbers)
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=numbers,
        assert_missing_frames_are_empty=True)
    edema = np.zeros(t1.shape, np.uint8)
    bone_map = np.zeros(t1.shape, np.uint8)
    has_bones = False
    confirmed = []
    for idx, n in enumerate(numbers):
        bone, is_edema = _bone_of_segment(seg.get_segment_description(n))
        mask = np.asarray(pixels[..., idx]).transpose(2, 1, 0) > 0
        if is_edema:
            edema[mask] = int(bone)
            confirmed.append(bone)
        else:
            bone_map[mask] = int(bone)
            has_bones = True
    reader = seg.get("ContentCreatorName")
    info = t1.info.replace(sequence="other")
    return SegMasks(Volume(edema, t1.affine, info),
                    Volume(bone_map, t1.affine, info) if has_bones else None,
                    tuple(sorted(confirmed)), None if reader is None else str(reader))
