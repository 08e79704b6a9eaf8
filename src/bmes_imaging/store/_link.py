"""Link DICOM studies to clinical feet: by PatientID or by a mapping table, never guessed.

A study is linked to the foot ``(patient, side)`` when

* its DICOM PatientID equals a clinical patient key (the phantom writes the clinical
  patient number as PatientID), or a mapping table maps its PatientID to a patient key
  (pseudonymised archives), and
* its laterality (DICOM Laterality / ImageLaterality of its series) names the side,
  and that foot has a clinical record.

Anything else leaves the study unlinked with the reason; feet without a study are
listed too.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ClinicalRecordError
from ._clinical_db import now
from ._engine import write_transaction
from ._models import AuditEvent, Foot, ImagingSeries, ImagingStudy, Patient, StudyIdentity

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["LinkReport", "LinkedStudy", "link_studies", "read_mapping_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkedStudy:
    """A study linked to a foot, and how (``"patient_id"`` or ``"mapping"``)."""

    study_instance_uid: str
    patient: str
    side: str
    method: str


@dataclass
class LinkReport:
    """Result of :func:`link_studies`: linked studies, unlinked studies with the reason,
    and clinical feet that have no linked study."""

    linked: list[LinkedStudy] = field(default_factory=list)
    unlinked_studies: list[tuple[str, str]] = field(default_factory=list)
    unlinked_records: list[tuple[str, str]] = field(default_factory=list)


def read_mapping_table(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a mapping CSV (columns ``patient``, ``patient_id``): PatientID -> patient key.

    Raises
    ------
    ClinicalRecordError
        Naming the row and column of a missing column, empty cell or duplicate.
    """
    p = Path(path)
    source = p.name
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClinicalRecordError("the mapping table is not UTF-8; save it as 'CSV UTF-8'",
                                  source=source, row=1) from None
    except FileNotFoundError:
        raise ClinicalRecordError("no such file", source=str(p)) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    for needed in ("patient", "patient_id"):
        if needed not in fields:
            raise ClinicalRecordError("required column is missing from the header row",
                                      source=source, row=1, column=needed)
    mapping: dict[str, str] = {}
    keys: dict[str, int] = {}
    for row in reader:
        cells = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        n = reader.line_num
        for name in ("patient", "patient_id"):
            if not cells.get(name):
                raise ClinicalRecordError("is empty", source=source, row=n, column=name)
        if cells["patient_id"] in mapping:
            raise ClinicalRecordError("this PatientID is mapped twice", source=source,
                                      row=n, column="patient_id")
        if cells["patient"] in keys:
            raise ClinicalRecordError(f"this patient is already mapped on row "
                                      f"{keys[cells['patient']]}", source=source, row=n,
                                      column="patient")
        mapping[cells["patient_id"]] = cells["patient"]
        keys[cells["patient"]] = n
    return mapping


def _laterality(study: ImagingStudy, series: list[ImagingSeries]) -> tuple[str | None, str]:
    values = {s.laterality for s in series if s.laterality}
    if study.laterality:
        values.add(study.laterality)
    if len(values) > 1:
        return None, "its series disagree on laterality (L and R); check the study"
    if not values:
        return None, ("no laterality (DICOM Laterality/ImageLaterality missing); "
                      "set it in the archive or link by hand")
    return values.pop(), ""


def link_studies(store: Store, mapping: str | os.PathLike[str] | Mapping[str, str] | None,
                 *, relink: bool = False, actor: str = "unknown") -> LinkReport:
    """Link every (unlinked, or all with ``relink``) registered study to a clinical foot.

    Parameters
    ----------
    store
        The store.
    mapping
        ``None`` (PatientID = patient key), a mapping CSV path (columns ``patient``,
        ``patient_id``) or a dict PatientID -> patient key.
    relink
        Reconsider studies that are already linked.

    Returns
    -------
    LinkReport
    """
    table: dict[str, str] | None
    if mapping is None:
        table = None
    elif isinstance(mapping, Mapping):
        table = {str(k).strip(): str(v).strip() for k, v in mapping.items()}
    else:
        table = read_mapping_table(mapping)
    method = "patient_id" if table is None else "mapping"

    def work(session: Session) -> LinkReport:
        report = LinkReport()
        feet = {(p.key, f.side): f for f, p in session.execute(
            select(Foot, Patient).join(Patient, Foot.patient_id == Patient.id)).all()}
        patients = {key for key, _ in feet}
        studies = session.scalars(select(ImagingStudy).order_by(ImagingStudy.id)).all()
        for study in studies:
            uid = study.study_instance_uid
            if study.foot_id is not None and not relink:
                continue
            ident = session.get(StudyIdentity, study.id)
            pid = None if ident is None else ident.dicom_patient_id
            if not pid:
                report.unlinked_studies.append((uid, "no DICOM PatientID recorded"))
                continue
            if table is not None:
                key = table.get(pid)
                if key is None:
                    report.unlinked_studies.append(
                        (uid, "its PatientID is not in the mapping table"))
                    continue
            else:
                key = pid
            if key not in patients:
                report.unlinked_studies.append(
                    (uid, "no clinical record has this patient key"
                     if table is None else "the mapped patient has no clinical record"))
                continue
            series = session.scalars(select(ImagingSeries)
                                     .where(ImagingSeries.study_id == study.id)).all()
            side, reason = _laterality(study, list(series))
            if side is None:
                report.unlinked_studies.append((uid, reason))
                continue
            foot = feet.get((key, side))
            if foot is None:
                report.unlinked_studies.append(
                    (uid, f"the patient has no clinical record for side {side}"))
                continue
            before = study.foot_id
            study.foot_id = foot.id
            study.link_method = method
            if before != foot.id:
                session.add(AuditEvent(at=now(), actor=actor, action="study_linked",
                                       study_id=study.id,
                                       after_json=json.dumps({"side": side,
                                                              "method": method})))
            report.linked.append(LinkedStudy(uid, key, side, method))
        linked_feet = set(session.scalars(select(ImagingStudy.foot_id)
                                          .where(ImagingStudy.foot_id.is_not(None))))
        report.unlinked_records = sorted(
            ((k, s) for (k, s), f in feet.items() if f.id not in linked_feet),
            key=lambda ks: (_natural(ks[0]), ks[1]))
        return report

    report = write_transaction(store.engine, work, what="study linking")
    log.info("linked %d studies (%s); %d studies unlinked; %d feet without a study",
             len(report.linked), method, len(report.unlinked_studies),
             len(report.unlinked_records))
    return report


def _natural(key: str) -> tuple[Any, ...]:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)
