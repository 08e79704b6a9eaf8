"""The clinical-record half of :class:`~bmes_imaging.store.Store`.

Import (all or nothing, one transaction), read back, update with the import's
validation, and the patient's identifying fields kept apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..clinical import ClinicalRecord, ClinicalTableError, parse_record_fields, read_clinical_table
from ..errors import ClinicalRecordError, StoreError
from ._clinical_db import now, record_from_visit, record_snapshot, record_to_cells, upsert_record
from ._engine import read_session, write_transaction
from ._models import AuditEvent, ClinicalImport, ClinicalVisit, Foot, Patient, PatientIdentity
from ._results import ImportReport, actor_name

__all__ = ["ClinicalStore"]

log = logging.getLogger("bmes_imaging.store._store")


class ClinicalStore:
    """Clinical-record methods of the store (mixed into :class:`Store`)."""

    engine: Engine

    def _read(self) -> AbstractContextManager[Session]:
        return read_session(self.engine)

    def import_clinical(self, path: str | os.PathLike[str], *, dry_run: bool = False,
                        actor: str | None = None) -> ImportReport:
        """Import a clinical table (CSV/XLSX) in one transaction, all or nothing.

        Records of feet already in the store are replaced (audit events keep the old
        values). With ``dry_run`` the file is only validated and compared.

        Raises
        ------
        ClinicalTableError
            Listing every problem (row and column each); the store is unchanged.
        """
        p = Path(path)
        records = read_clinical_table(p)
        data = p.read_bytes()
        who = actor_name(actor)

        def work(session: Session) -> tuple[int, int]:
            new = updated = 0
            imp = ClinicalImport(file_name=p.name, sha256=hashlib.sha256(data).hexdigest(),
                                 n_records=len(records), imported_by=who,
                                 imported_at=now())
            session.add(imp)
            session.flush()
            for rec in records:
                _, before = upsert_record(session, rec, import_id=imp.id)
                if before is None:
                    new += 1
                elif before != rec:
                    updated += 1
                    session.add(AuditEvent(at=now(), actor=who, action="clinical_updated",
                                           before_json=json.dumps(record_snapshot(before)),
                                           after_json=json.dumps(record_snapshot(rec))))
            session.add(AuditEvent(at=now(), actor=who, action="clinical_import",
                                   after_json=json.dumps({"file_name": p.name,
                                                          "records": len(records),
                                                          "new": new, "updated": updated})))
            return new, updated

        if dry_run:
            existing = {(r.patient, r.side): r for r in self.clinical_records()}
            new = sum(1 for r in records if r.foot not in existing)
            updated = sum(1 for r in records
                          if r.foot in existing and existing[r.foot] != r)
        else:
            new, updated = write_transaction(self.engine, work, what="clinical import")
        n_patients = len({r.patient for r in records})
        log.info("clinical import %s%s: %d patients, %d feet (%d new, %d updated)",
                 p.name, " (dry run)" if dry_run else "", n_patients, len(records), new,
                 updated)
        return ImportReport(p.name, n_patients, len(records), new, updated, dry_run,
                            tuple(records))

    def clinical_records(self, patient: str | None = None) -> list[ClinicalRecord]:
        """Stored clinical records (one per foot), optionally of one patient."""
        with self._read() as s:
            q = (select(ClinicalVisit, Foot, Patient)
                 .join(Foot, ClinicalVisit.foot_id == Foot.id)
                 .join(Patient, Foot.patient_id == Patient.id)
                 .where(ClinicalVisit.kind == "diagnosis"))
            if patient is not None:
                q = q.where(Patient.key == str(patient))
            rows = s.execute(q.order_by(Patient.id, Foot.id)).all()
            return [record_from_visit(v, p, f) for v, f, p in rows]

    def clinical_record(self, patient: str, side: str | None = None) -> ClinicalRecord | None:
        """The record of one foot (``None`` if absent).

        Raises
        ------
        StoreError
            If ``side`` is None and the patient has records for both feet.
        """
        records = [r for r in self.clinical_records(str(patient))
                   if side is None or r.side == side]
        if len(records) > 1:
            raise StoreError("the patient has records for both feet; give side='L' or 'R'")
        return records[0] if records else None

    def update_clinical(self, patient: str, side: str, *, actor: str | None = None,
                        **changes: Any) -> ClinicalRecord:
        """Change fields of one foot's record (same validation as the import).

        ``changes`` use the template's column names (``age=40``, ``vitamin_d=55``,
        ``vitamin_d_unit="nmol/L"``, ``primary_bone="talus+navicular"``...). Patient-level
        fields (age, sex, rheumatoid arthritis) are changed for the patient.

        Raises
        ------
        ClinicalTableError
            If a changed field is invalid (nothing is written).
        StoreError
            If the foot has no record.
        """
        current = self.clinical_record(patient, side)
        if current is None:
            raise StoreError("no clinical record for this patient and side; import it first")
        unknown = set(changes) - set(record_to_cells(current))
        if unknown:
            raise ClinicalTableError([ClinicalRecordError(
                f"unknown field(s) {', '.join(sorted(unknown))}", source="update")])
        cells = record_to_cells(current) | changes
        cells["patient"], cells["side"] = current.patient, current.side
        [record] = parse_record_fields(cells, source="update")
        record = dataclasses.replace(record, source_row=current.source_row)
        who = actor_name(actor)

        def work(session: Session) -> None:
            visit, before = upsert_record(session, record, import_id=None)
            # age is the patient's: keep the other foot's visit in step
            feet = select(Foot.id).join(Patient, Foot.patient_id == Patient.id).where(
                Patient.key == record.patient)
            for other in session.scalars(select(ClinicalVisit).where(
                    ClinicalVisit.foot_id.in_(feet), ClinicalVisit.id != visit.id)):
                other.age = record.age
            session.add(AuditEvent(at=now(), actor=who, action="clinical_updated",
                                   before_json=json.dumps(record_snapshot(before)),
                                   after_json=json.dumps(record_snapshot(record))))

        write_transaction(self.engine, work, what="clinical update")
        log.info("clinical record updated (%d field(s))", len(changes))
        return record

    # -- studies ---------------------------------------------------------------------------
    def set_patient_identity(self, patient: str, *, name: str | None = None,
                             hospital_number: str | None = None,
                             birth_date: str | None = None) -> None:
        """Keep a patient's identifying fields, apart from the pseudonymous records.

        They are stored in their own table (``patient_identity``), never logged, never
        exported by the store, and only returned by :meth:`patient_identity`.

        Raises
        ------
        StoreError
            If the patient has no clinical record.
        """
        def work(session: Session) -> None:
            row = session.scalar(select(Patient).where(Patient.key == str(patient)))
            if row is None:
                raise StoreError("no clinical record for this patient key; import it first")
            ident = session.get(PatientIdentity, row.id) or PatientIdentity(patient_id=row.id)
            ident.name, ident.hospital_number = name, hospital_number
            ident.birth_date = birth_date
            session.add(ident)

        write_transaction(self.engine, work, what="identity update")

    def patient_identity(self, patient: str) -> dict[str, str | None] | None:
        """The identifying fields kept for a patient (``None`` if none)."""
        with self._read() as s:
            row = s.execute(select(PatientIdentity).join(
                Patient, PatientIdentity.patient_id == Patient.id)
                .where(Patient.key == str(patient))).scalar_one_or_none()
            if row is None:
                return None
            return {"name": row.name, "hospital_number": row.hospital_number,
                    "birth_date": row.birth_date}
