"""DICOM Structured Report of the confirmed edema per bone (TID 1500 Measurement Report).

One Comprehensive 3D SR per study, written with highdicom: a volumetric ROI measurement
group (TID 1411) per bone with *confirmed* edema, referencing that bone's edema segment
of the study's SEG (:mod:`._seg`) and through it the T1 series, with

- the edema volume (SCT 118565006 "Volume", UCUM ``mL``),
- the edema fraction of the bone (``{ratio}``) and the project's grade 0-3 (extent:
  < 25 %, 25-50 %, > 50 % of the bone), coded in the project's private coding scheme
  ``99BMES`` (no standard concept exists for either),
- the finding site (the bone's SNOMED CT code, :func:`._seg.bone_code`, and the side
  when known) and finding type "Edema",
- the review status ("Confirmed by reader", ``99BMES``) as a qualitative evaluation.

The reader is the person observer; the document is marked VERIFIED by the reader and
COMPLETE. A viewer that reads TID 1500 (OHIF, 3D Slicer's QuantitativeReporting, a PACS)
shows the volumes beside the SEG.

Examples
--------
::

    from bmes_imaging.export import write_edema_sr, read_edema_sr
    out = write_edema_sr(t1, "sr.dcm", seg_path="seg.dcm", edema=edema, bones=bones,
                         findings=confirmed, reader="Reader^A")
    [(m.bone.bone_name, m.edema_volume_ml, m.grade) for m in read_edema_sr("sr.dcm")]
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bones import Bone
from ..errors import ExportError
from ..volume import Volume
from ._deid import deidentify_derived
from ._pseudonym import Pseudonymizer
from ._seg import SegExport, _bone_of_segment, _write_dataset, bone_code, write_edema_seg

__all__ = ["SrExport", "SrMeasurement", "read_edema_sr", "write_edema_sr"]

#: Private coding scheme of the project (PS3.3 8.2: "99" + name).
SCHEME = "99BMES"
_FRACTION = ("BMES001", "Edema fraction of bone volume")
_GRADE = ("BMES002", "Bone marrow edema extent grade")
_REVIEW = ("BMES003", "Reader review status")
_CONFIRMED = ("BMES010", "Confirmed by reader")


def _code(pair: tuple[str, str]) -> Any:
    from pydicom.sr.coding import Code

    return Code(pair[0], SCHEME, pair[1])


@dataclass
class SrMeasurement:
    """The measurements of one bone in the SR.

    Attributes
    ----------
    bone
        The bone (finding site).
    edema_volume_ml
        Edema volume (ml).
    fraction
        Edema volume / bone volume (0-1); NaN when no bone mask was exported.
    grade
        0-3 (:func:`bmes_imaging.detection.grade_for_fraction`); -1 when unknown.
    status
        Review status (``"confirmed"``).
    segment_number
        The edema segment referenced in the SEG.
    """

    bone: Bone
    edema_volume_ml: float
    fraction: float
    grade: int
    status: str = "confirmed"
    segment_number: int = 0


@dataclass
class SrExport:
    """What :func:`write_edema_sr` wrote: the SR, and the SEG it references."""

    path: Path
    seg: SegExport
    measurements: list[SrMeasurement] = field(default_factory=list)
    sop_instance_uid: str = ""


def _measure(t1: Volume, edema: Volume, bones: Volume | None,
             seg: SegExport) -> list[SrMeasurement]:
    """Volume, fraction and grade of each exported edema segment, from the masks."""
    from ..detection import grade_for_fraction

    ed = np.asarray(edema.array)
    bone_arr = None if bones is None else np.asarray(bones.array)
    voxel_ml = float(t1.voxel_volume_ml)
    rows = []
    for bone, number in seg.edema_segments.items():
        edema_ml = float(np.count_nonzero(ed == int(bone))) * voxel_ml
        fraction = float("nan")
        if bone_arr is not None and bone in seg.bone_segments:
            bone_ml = float(np.count_nonzero(bone_arr == int(bone))) * voxel_ml
            fraction = edema_ml / bone_ml if bone_ml > 0 else float("nan")
        grade = grade_for_fraction(fraction) if math.isfinite(fraction) else -1
        rows.append(SrMeasurement(bone, edema_ml, fraction, grade, "confirmed", number))
    return rows


def _group(m: SrMeasurement, seg_ds: Any, laterality: Any) -> Any:
    """TID 1411 volumetric ROI group of one bone."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    desc = seg_ds.get_segment_description(m.segment_number)
    site = hd.sr.FindingSite(anatomic_location=bone_code(m.bone), laterality=laterality)
    measurements = [hd.sr.Measurement(
        name=codes.SCT.Volume, value=m.edema_volume_ml, unit=Code("mL", "UCUM", "milliliter"),
        finding_sites=[site])]
    if math.isfinite(m.fraction):
        measurements.append(hd.sr.Measurement(
            name=_code(_FRACTION), value=m.fraction, unit=codes.UCUM.Ratio))
    if m.grade >= 0:
        measurements.append(hd.sr.Measurement(
            name=_code(_GRADE), value=float(m.grade), unit=Code("{grade}", "UCUM", "grade")))
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=str(desc.TrackingUID), identifier=f"{m.bone.bone_name} edema"),
        referenced_segment=hd.sr.ReferencedSegment.from_segmentation(
            seg_ds, m.segment_number),
        finding_type=codes.SCT.Edema, finding_sites=[site], measurements=measurements,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(
            name=_code(_REVIEW), value=_code(_CONFIRMED))])


def _laterality(t1: Volume) -> Any:
    from pydicom.sr.codedict import codes

    side = str(getattr(t1.info, "laterality", "") or "").upper()[:1]
    return {"L": codes.cid244.Left, "R": codes.cid244.Right}.get(side)


def _report(measurements: list[SrMeasurement], seg_ds: Any, sources: list[Any],
            reader: str, laterality: Any) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=reader))
    return hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=[_group(m, seg_ds, laterality) for m in measurements],
        title=codes.cid7021.ImagingMeasurementReport, referenced_images=sources[:1])


def write_edema_sr(
    t1: Volume,
    path: str | os.PathLike[str],
    *,
    seg_path: str | os.PathLike[str],
    edema: Volume,
    findings: Sequence[Any],
    reader: str,
    bones: Volume | None = None,
    bone_source: str | None = None,
    deidentify: bool = False,
    pseudonymizer: Pseudonymizer | None = None,
    series_number: int = 902,
    organization: str = "bmes-imaging reader study",
) -> SrExport:
    """Write the SEG (:func:`write_edema_seg`) and a TID 1500 SR of its edema segments.

    Parameters
    ----------
    t1, edema, findings, reader, bones, bone_source, deidentify, pseudonymizer
        As for :func:`bmes_imaging.export.write_edema_seg`; with ``deidentify`` the SR
        references the de-identified T1 copies and goes through PS3.15 E.1-1 with the
        Clean Structured Content Option (the reader's name pseudonymised as in the SEG).
    path
        Output SR file (``.dcm``).
    seg_path
        Where the SEG goes (the SR references its segments).
    series_number
        SeriesNumber of the SR.
    organization
        VerifyingOrganization (the reader verifies the document).

    Returns
    -------
    SrExport

    Raises
    ------
    ExportError
        No confirmed edema with voxels (an SR without measurements says nothing), or
        anything :func:`write_edema_seg` refuses.
    """
    import highdicom as hd
    import pydicom

    from .. import __version__

    if not any(f.status == "confirmed" and np.any(np.asarray(edema.array) == int(f.bone))
               for f in findings):
        raise ExportError("nothing to report: no confirmed edema with voxels; confirm "
                          "findings first (candidates are never exported)")
    seg = write_edema_seg(t1, seg_path, edema=edema, findings=findings, reader=reader,
                          bones=bones, bone_source=bone_source, deidentify=deidentify,
                          pseudonymizer=pseudonymizer)
    seg_ds = hd.seg.segread(str(seg.path))
    files: list[Any] = list(seg.source_files or t1.info.source_files)
    sources = [pydicom.dcmread(f) for f in files]
    measurements = _measure(t1, edema, bones, seg)
    observer = reader  # de-identification pseudonymises every person name (table: D)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg_ds, *sources],
        content=_report(measurements, seg_ds, sources, observer, _laterality(t1)),
        series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="bmes-imaging",
        is_complete=True, is_verified=True, verifying_observer_name=observer,
        verifying_organization=organization, series_description="BMES edema SR",
        software_versions=__version__)
    if deidentify:
        assert pseudonymizer is not None
        deidentify_derived(sr, sources[0], pseudonymizer, structured_content=True)
    out = Path(path)
    _write_dataset(sr, out)
    return SrExport(out, seg, measurements, str(sr.SOPInstanceUID))


def read_edema_sr(path: str | os.PathLike[str]) -> list[SrMeasurement]:
    """The per-bone measurements of an SR written by :func:`write_edema_sr`.

    Raises
    ------
    ExportError
        Not a readable TID 1500 SR.
    """
    import highdicom as hd

    try:
        sr = hd.sr.srread(str(path))
        groups = sr.content.get_volumetric_roi_measurement_groups()  # type: ignore[attr-defined]
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ExportError(f"{path}: not a readable TID 1500 SR: {exc}") from None
    rows = []
    for g in groups:
        values = {(str(m.name.value), str(m.name.scheme_designator)): float(m.value)
                  for m in g.get_measurements()}
        ref = g.referenced_segment
        number = int(ref.referenced_segment_numbers[0]) if ref is not None else 0
        sites = g.finding_sites
        code = str(sites[0].value.value) if sites else ""
        bone = _bone_from_site(code, str(g.tracking_identifier or ""))
        status = ""
        for q in g.get_qualitative_evaluations():
            if str(q.name.value) == _REVIEW[0]:
                status = "confirmed" if str(q.value.value) == _CONFIRMED[0] else str(
                    q.value.meaning)
        rows.append(SrMeasurement(
            bone, values.get(("118565006", "SCT"), float("nan")),
            values.get((_FRACTION[0], SCHEME), float("nan")),
            int(values.get((_GRADE[0], SCHEME), -1)), status, number))
    return rows


def _bone_from_site(code: str, tracking: str) -> Bone:
    """The bone of a finding site code, or of the tracking identifier ("talus edema")."""
    from pydicom.dataset import Dataset

    desc = Dataset()
    desc.SegmentNumber = 0
    desc.SegmentLabel = tracking.removesuffix(" edema")
    item = Dataset()
    item.CodeValue = code
    desc.SegmentedPropertyTypeCodeSequence = [item]
    desc.TrackingID = tracking.replace(" ", "_")
    return _bone_of_segment(desc)[0]
