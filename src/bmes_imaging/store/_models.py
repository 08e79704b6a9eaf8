"""SQLAlchemy 2 ORM models of the store (schema revision: see ``migrations/versions``).

Entities
--------
``patient``             pseudonymous key + sex; identifying fields live apart in
                        ``patient_identity`` (optional, never needed for analysis)
``foot``                one side of a patient
``clinical_visit``      the clinical record of one foot at diagnosis
``lab_result``          one lab value of a visit (25(OH)D, ESR, CRP, RF, anti-CCP, ...)
``clinical_score``      one score of a visit (AOFAS at diagnosis / at last control)
``clinical_import``     one imported clinical file (name, sha256, time, who)
``imaging_study``       a DICOM study (StudyInstanceUID), linked to a foot when known
``study_identity``      the DICOM PatientID/PatientName of a study (identifying, apart)
``imaging_series``      a DICOM series (SeriesInstanceUID) of a study
``annotation``          one saved version of a reader's (or the detector's) findings for a
                        study, with its label map's name and sha256; versions count per
                        (study, reader)
``label_map``           the label map of an annotation version: gzip-compressed NIfTI-1
                        bytes inside the database (schema 0003; before, a file in the
                        annotation folder named by ``annotation.label_path``)
``finding``             one bone's finding within an annotation version (with its bone
                        mask quality from schema 0004)
``audit_event``         who did what to which finding/study, when, before/after as JSON
``store_identity``      the store's own UUID (one row), also written into its label-map
                        folder: the store deletes only files in a folder carrying it
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Annotation",
    "AuditEvent",
    "Base",
    "ClinicalImport",
    "ClinicalScore",
    "ClinicalVisit",
    "FindingRow",
    "Foot",
    "ImagingSeries",
    "ImagingStudy",
    "LabResult",
    "LabelMap",
    "Patient",
    "PatientIdentity",
    "StoreIdentity",
    "StudyIdentity",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of the store's models."""


class Patient(Base):
    __tablename__ = "patient"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    sex: Mapped[str | None] = mapped_column(String(1))
    rheumatoid_arthritis: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    feet: Mapped[list[Foot]] = relationship(back_populates="patient")


class PatientIdentity(Base):
    """Identifying fields, kept apart from the pseudonymous patient (optional)."""

    __tablename__ = "patient_identity"
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    hospital_number: Mapped[str | None] = mapped_column(String(64))
    birth_date: Mapped[str | None] = mapped_column(String(10))


class Foot(Base):
    __tablename__ = "foot"
    __table_args__ = (UniqueConstraint("patient_id", "side", name="uq_foot_patient_side"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"),
                                            index=True)
    side: Mapped[str] = mapped_column(String(1))
    patient: Mapped[Patient] = relationship(back_populates="feet")


class ClinicalImport(Base):
    __tablename__ = "clinical_import"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    n_records: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClinicalVisit(Base):
    __tablename__ = "clinical_visit"
    __table_args__ = (UniqueConstraint("foot_id", "kind", name="uq_visit_foot_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    foot_id: Mapped[int] = mapped_column(ForeignKey("foot.id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[str] = mapped_column(String(20), default="diagnosis")
    age: Mapped[int] = mapped_column(Integer)
    primary_bones: Mapped[str] = mapped_column(String(200))
    other_bones: Mapped[str] = mapped_column(String(200), default="")
    symptom_months: Mapped[float | None] = mapped_column(Float)
    complaint_to_visit_months: Mapped[float | None] = mapped_column(Float)
    follow_up_months: Mapped[float | None] = mapped_column(Float)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("clinical_import.id"))
    source_row: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    labs: Mapped[list[LabResult]] = relationship(cascade="all, delete-orphan")
    scores: Mapped[list[ClinicalScore]] = relationship(cascade="all, delete-orphan")


class LabResult(Base):
    __tablename__ = "lab_result"
    __table_args__ = (UniqueConstraint("visit_id", "analyte", name="uq_lab_visit_analyte"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("clinical_visit.id", ondelete="CASCADE"),
                                          index=True)
    analyte: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    unit_as_recorded: Mapped[str | None] = mapped_column(String(20))


class ClinicalScore(Base):
    __tablename__ = "clinical_score"
    __table_args__ = (UniqueConstraint("visit_id", "instrument", "timepoint",
                                       name="uq_score_visit_instrument_time"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("clinical_visit.id", ondelete="CASCADE"),
                                          index=True)
    instrument: Mapped[str] = mapped_column(String(40))
    timepoint: Mapped[str] = mapped_column(String(20))
    value: Mapped[float] = mapped_column(Float)


class ImagingStudy(Base):
    __tablename__ = "imaging_study"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    laterality: Mapped[str | None] = mapped_column(String(1))
    foot_id: Mapped[int | None] = mapped_column(ForeignKey("foot.id", ondelete="SET NULL"),
                                                index=True)
    link_method: Mapped[str | None] = mapped_column(String(20))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    series: Mapped[list[ImagingSeries]] = relationship(back_populates="study")


class StudyIdentity(Base):
    """DICOM PatientID / PatientName of a study (identifying: kept apart, never logged)."""

    __tablename__ = "study_identity"
    study_id: Mapped[int] = mapped_column(
        ForeignKey("imaging_study.id", ondelete="CASCADE"), primary_key=True)
    dicom_patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    dicom_patient_name: Mapped[str | None] = mapped_column(String(200))


class ImagingSeries(Base):
    __tablename__ = "imaging_series"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("imaging_study.id", ondelete="CASCADE"),
                                          index=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    frame_of_reference_uid: Mapped[str | None] = mapped_column(String(64))
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str | None] = mapped_column(String(200))
    modality: Mapped[str | None] = mapped_column(String(16))
    sequence: Mapped[str | None] = mapped_column(String(16))
    plane: Mapped[str | None] = mapped_column(String(16))
    laterality: Mapped[str | None] = mapped_column(String(1))
    study: Mapped[ImagingStudy] = relationship(back_populates="series")


class Annotation(Base):
    __tablename__ = "annotation"
    __table_args__ = (UniqueConstraint("study_id", "reader", "version",
                                       name="uq_annotation_study_reader_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("imaging_study.id", ondelete="CASCADE"),
                                          index=True)
    reader: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # "annotation" | "findings"
    label_path: Mapped[str | None] = mapped_column(String(500))
    label_sha256: Mapped[str | None] = mapped_column(String(64))
    label_shape: Mapped[str | None] = mapped_column(String(50))
    label_dtype: Mapped[str | None] = mapped_column(String(20))
    label_affine: Mapped[str | None] = mapped_column(Text)
    series_instance_uid: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    findings: Mapped[list[FindingRow]] = relationship(back_populates="annotation",
                                                      order_by="FindingRow.bone")


class LabelMap(Base):
    """The label map of one annotation version: gzip-compressed NIfTI-1 bytes.

    Its SHA-256 is ``annotation.label_sha256`` and is verified on every read.
    """

    __tablename__ = "label_map"
    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotation.id", ondelete="CASCADE"), primary_key=True)
    n_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FindingRow(Base):
    """One finding of an annotation version (table ``finding``; the finding itself is
    :class:`bmes_imaging.findings.Finding`, converted by ``_findings.from_row``)."""

    __tablename__ = "finding"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    annotation_id: Mapped[int] = mapped_column(
        ForeignKey("annotation.id", ondelete="CASCADE"), index=True)
    bone: Mapped[int] = mapped_column(Integer)
    bone_volume_ml: Mapped[float | None] = mapped_column(Float)
    edema_volume_ml: Mapped[float | None] = mapped_column(Float)
    fraction: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[int | None] = mapped_column(Integer)
    t1_ratio: Mapped[float | None] = mapped_column(Float)
    fluid_ratio: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(100))
    primary: Mapped[bool] = mapped_column(Boolean, default=False)
    #: 0-1, NULL when unknown (imported masks; findings saved before schema 0004)
    bone_mask_quality: Mapped[float | None] = mapped_column(Float)
    annotation: Mapped[Annotation] = relationship(back_populates="findings")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("imaging_study.id", ondelete="SET NULL"), index=True)
    annotation_id: Mapped[int | None] = mapped_column(
        ForeignKey("annotation.id", ondelete="SET NULL"))
    finding_id: Mapped[int | None] = mapped_column(
        ForeignKey("finding.id", ondelete="SET NULL"))
    bone: Mapped[int | None] = mapped_column(Integer)
    before_json: Mapped[str | None] = mapped_column(Text)
    after_json: Mapped[str | None] = mapped_column(Text)


class StoreIdentity(Base):
    """The store's identity: one row with a UUID (``id`` is always 1)."""

    __tablename__ = "store_identity"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_uuid: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
