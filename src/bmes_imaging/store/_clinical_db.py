"""Clinical records in the database: write a validated record, read it back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..bones import bone_from_name
from ..clinical import ClinicalRecord
from ._models import ClinicalScore, ClinicalVisit, Foot, LabResult, Patient

__all__ = ["LAB_UNITS", "now", "record_from_visit", "record_snapshot", "record_to_cells",
           "upsert_record"]

#: analytes stored in ``lab_result`` (record attribute -> unit stored)
LAB_UNITS: dict[str, str] = {
    "vitamin_d_ng_ml": "ng/mL",
    "esr_mm_h": "mm/h",
    "crp_mg_l": "mg/L",
    "rf": "IU/mL",
    "anti_ccp": "U/mL",
    "hemoglobin_g_dl": "g/dL",
    "leukocytes_10e9_l": "10^9/L",
}
_SCORES = (("aofas", "initial", "aofas_initial"), ("aofas", "final", "aofas_final"))
_VISIT_FIELDS = ("age", "symptom_months", "complaint_to_visit_months", "follow_up_months")


def now() -> datetime:
    """Current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def _bones_text(bones: tuple[Any, ...]) -> str:
    return "+".join(b.bone_name for b in bones)


def record_snapshot(record: ClinicalRecord | None) -> dict[str, Any] | None:
    """JSON-friendly dict of a record (for audit before/after)."""
    if record is None:
        return None
    return record_to_cells(record) | {"vitamin_d_class": record.vitamin_d_class}


def record_to_cells(record: ClinicalRecord) -> dict[str, Any]:
    """The record as template cells (column -> value), for re-validation after edits."""
    return {
        "patient": record.patient, "age": record.age, "sex": record.sex, "side": record.side,
        "primary_bone": _bones_text(record.primary_bones),
        "other_bones": _bones_text(record.other_bones) or None,
        "symptom_months": record.symptom_months,
        "complaint_to_visit_months": record.complaint_to_visit_months,
        "vitamin_d": record.vitamin_d_ng_ml,
        "vitamin_d_unit": "ng/mL" if record.vitamin_d_ng_ml is not None else None,
        "esr_mm_h": record.esr_mm_h, "crp_mg_l": record.crp_mg_l, "rf": record.rf,
        "anti_ccp": record.anti_ccp, "hemoglobin_g_dl": record.hemoglobin_g_dl,
        "leukocytes_10e9_l": record.leukocytes_10e9_l,
        "aofas_initial": record.aofas_initial, "aofas_final": record.aofas_final,
        "follow_up_months": record.follow_up_months,
        "rheumatoid_arthritis": record.rheumatoid_arthritis,
    }


def upsert_record(session: Session, record: ClinicalRecord, *, import_id: int | None,
                  ) -> tuple[ClinicalVisit, ClinicalRecord | None]:
    """Insert or replace the diagnosis visit of ``record``'s foot; return (visit, before)."""
    stamp = now()
    patient = session.scalar(select(Patient).where(Patient.key == record.patient))
    if patient is None:
        patient = Patient(key=record.patient, created_at=stamp)
        session.add(patient)
        session.flush()
    patient.sex = record.sex
    patient.rheumatoid_arthritis = record.rheumatoid_arthritis
    foot = session.scalar(select(Foot).where(Foot.patient_id == patient.id,
                                             Foot.side == record.side))
    if foot is None:
        foot = Foot(patient_id=patient.id, side=record.side)
        session.add(foot)
        session.flush()
    visit = session.scalar(select(ClinicalVisit).where(ClinicalVisit.foot_id == foot.id,
                                                       ClinicalVisit.kind == "diagnosis"))
    before = None
    if visit is None:
        visit = ClinicalVisit(foot_id=foot.id, kind="diagnosis")
        session.add(visit)
    else:
        before = record_from_visit(visit, patient, foot)
        visit.labs.clear()
        visit.scores.clear()
        session.flush()
    for name in _VISIT_FIELDS:
        setattr(visit, name, getattr(record, name))
    visit.primary_bones = _bones_text(record.primary_bones)
    visit.other_bones = _bones_text(record.other_bones)
    visit.import_id = import_id
    visit.source_row = record.source_row
    visit.updated_at = stamp
    for attr, unit in LAB_UNITS.items():
        value = getattr(record, attr)
        if value is not None:
            recorded = record.vitamin_d_unit if attr == "vitamin_d_ng_ml" else unit
            visit.labs.append(LabResult(analyte=attr, value=float(value), unit=unit,
                                        unit_as_recorded=recorded))
    for instrument, timepoint, attr in _SCORES:
        value = getattr(record, attr)
        if value is not None:
            visit.scores.append(ClinicalScore(instrument=instrument, timepoint=timepoint,
                                              value=float(value)))
    session.flush()
    return visit, before


def record_from_visit(visit: ClinicalVisit, patient: Patient, foot: Foot) -> ClinicalRecord:
    """Rebuild the :class:`ClinicalRecord` of a stored visit."""
    labs = {lab.analyte: lab for lab in visit.labs}
    scores = {(s.instrument, s.timepoint): s.value for s in visit.scores}

    def bones(text: str) -> tuple[Any, ...]:
        return tuple(bone_from_name(n) for n in text.split("+") if n)

    vit_d = labs.get("vitamin_d_ng_ml")
    return ClinicalRecord(
        patient=patient.key, age=int(visit.age), sex=patient.sex or "",
        side=foot.side, primary_bones=bones(visit.primary_bones),
        other_bones=bones(visit.other_bones or ""),
        symptom_months=visit.symptom_months,
        complaint_to_visit_months=visit.complaint_to_visit_months,
        vitamin_d_ng_ml=None if vit_d is None else vit_d.value,
        vitamin_d_unit=None if vit_d is None else vit_d.unit_as_recorded,
        **{attr: (labs[attr].value if attr in labs else None)
           for attr in LAB_UNITS if attr != "vitamin_d_ng_ml"},
        aofas_initial=scores.get(("aofas", "initial")),
        aofas_final=scores.get(("aofas", "final")),
        follow_up_months=visit.follow_up_months,
        rheumatoid_arthritis=patient.rheumatoid_arthritis,
        source_row=visit.source_row,
    )
