"""DICOM header values and SeriesInfo of the series of one phantom study."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..volume import SeriesInfo
from ._acquisition import VENDORS, SeriesProtocol
from ._spec import PhantomSpec

__all__ = ["SeriesHeaders"]


def _uid(spec: PhantomSpec, *parts: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["bmes-phantom", str(spec.seed), spec.side,
                                          spec.resolved_patient_id, *parts]))


class SeriesHeaders:
    """DICOM header values and SeriesInfo of each series of a study."""

    def __init__(self, spec: PhantomSpec, scene: Any, uid_parts: tuple[str, ...],
                 days_later: int) -> None:
        rng = scene.rng
        day = np.datetime64("2014-01-06") + np.timedelta64(int(rng.integers(0, 1000)), "D")
        day = day + np.timedelta64(days_later, "D")
        self.spec, self.scene, self.parts = spec, scene, uid_parts
        self.study_date = str(day).replace("-", "")
        self.minute = int(rng.integers(8 * 60, 18 * 60))
        self.study_uid = _uid(spec, *uid_parts, "study")
        self.for_uid = _uid(spec, *uid_parts, "frame")
        self.attrs: dict[str, dict[str, Any]] = {}
        self.infos: dict[str, SeriesInfo] = {}

    def describe(self, key: str, seq: str, proto: SeriesProtocol, number: int,
                 description: str) -> None:
        """Draw and record the header of one series."""
        spec, rng, vendor = self.spec, self.scene.rng, self.scene.vendor
        vend = VENDORS[vendor]
        minute, study_date = self.minute, self.study_date
        v = vend[seq]
        tr = round(float(rng.uniform(*v["tr"])), 1)
        te = round(float(rng.uniform(*v["te"])), 1)
        ti = round(float(rng.uniform(*v["ti"])), 1) if v["ti"] else None
        series_uid = _uid(spec, *self.parts, "series", key)
        series_time = f"{(minute + 4 * number) // 60:02d}{(minute + 4 * number) % 60:02d}00"
        self.attrs[key] = {
            "series_number": number * 100 + 1 if vendor.startswith("Philips") else number + 2,
            "series_description": description,
            "series_instance_uid": series_uid,
            "attributes": {
                "ScanningSequence": v["ScanningSequence"],
                "SequenceVariant": v["SequenceVariant"],
                "ScanOptions": v["ScanOptions"],
                "SequenceName": v["SequenceName"],
                "MRAcquisitionType": "2D",
                "RepetitionTime": tr, "EchoTime": te,
                **({"InversionTime": ti} if ti is not None else {}),
                "EchoTrainLength": v["etl"],
                "MagneticFieldStrength": (vend["field"] if spec.field_strength == 1.5
                                          else spec.field_strength),
                "ManufacturerModelName": (vend["model"] if spec.field_strength == 1.5
                                          else vend["model_3t"]),
                "BodyPartExamined": "FOOT",
                "Laterality": spec.side,
                "SliceThickness": proto.thickness_mm,
                "StudyDescription": "MR FOOT",
                "ProtocolName": f"foot_{'right' if spec.side == 'R' else 'left'}",
                "AcquisitionMatrix": [0, proto.matrix[0], proto.matrix[1], 0],
                "ImageComments": "bmes-imaging phantom (synthetic, no patient data)",
                "StudyDate": study_date, "SeriesDate": study_date,
                "AcquisitionDate": study_date, "ContentDate": study_date,
                "StudyTime": f"{minute // 60:02d}{minute % 60:02d}00",
                "SeriesTime": series_time, "AcquisitionTime": series_time,
                "ContentTime": series_time,
            },
        }
        self.infos[key] = SeriesInfo(
            study_instance_uid=self.study_uid, series_instance_uid=series_uid,
            frame_of_reference_uid=self.for_uid, patient_id=spec.resolved_patient_id,
            modality="MR", manufacturer=vendor, series_description=description,
            series_number=self.attrs[key]["series_number"], laterality=spec.side,
            sequence=seq, plane=proto.plane, repetition_time=tr, echo_time=te,
            inversion_time=ti, sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
        )
