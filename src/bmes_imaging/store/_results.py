"""Values the store returns: import reports, annotation versions, audit records."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clinical import ClinicalRecord
from ..volume import Volume
from ._findings import StoredFinding

__all__ = ["AnnotationVersion", "AuditRecord", "ImportReport", "LoadedAnnotation",
           "actor_name"]


def actor_name(actor: str | None) -> str:
    """``actor``, else the operating-system user name."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no user database entry
        return "unknown"


@dataclass(frozen=True)
class ImportReport:
    """Outcome of a clinical import (or of a dry run).

    Attributes
    ----------
    file_name
        Name of the imported file.
    n_patients, n_feet
        Patients and feet (records) in the file.
    n_new_feet, n_updated_feet
        Feet created and feet whose record was replaced.
    dry_run
        True if nothing was written.
    records
        The validated records.
    """

    file_name: str
    n_patients: int
    n_feet: int
    n_new_feet: int
    n_updated_feet: int
    dry_run: bool
    records: tuple[ClinicalRecord, ...]


@dataclass(frozen=True)
class AnnotationVersion:
    """One saved version of a reader's (or the detector's) findings for a study.

    Attributes
    ----------
    annotation_id
        Database id.
    study_instance_uid, reader, version
        The study, who saved it, and the version number (1, 2, ... per study and
        reader).
    kind
        ``"annotation"`` (with a label map) or ``"findings"`` (findings only).
    created_at
        When it was saved (UTC).
    label_path, label_sha256
        The label map's name and its SHA-256 (``None`` without labels). The map itself
        is stored in the database (schema 0003 on), so ``label_path`` is a relative
        name (``<study>/<reader>/v0003-<id>.nii.gz``: where a downgrade to schema 0002
        writes it, relative to the annotation folder), not a file to open: reload the
        map with ``Store.load_annotation``.
    n_findings
        Number of findings saved.
    note
        Free text of the reader.
    series_instance_uid
        The series whose grid the label map is on (the T1 of one foot), if recorded.
    """

    annotation_id: int
    study_instance_uid: str
    reader: str
    version: int
    kind: str
    created_at: datetime
    label_path: Path | None
    label_sha256: str | None
    n_findings: int
    note: str | None = None
    series_instance_uid: str | None = None


@dataclass(frozen=True)
class LoadedAnnotation:
    """An annotation version reloaded: its metadata, label map and findings.

    ``labels`` is voxel-exact (checksum verified) with the exact saved affine, or
    ``None`` for a findings-only version.
    """

    version: AnnotationVersion
    labels: Volume | None
    findings: list[StoredFinding]


@dataclass(frozen=True)
class AuditRecord:
    """One audit event: who did what to which study/finding, when, before and after."""

    at: datetime
    actor: str
    action: str
    study_instance_uid: str | None
    annotation_id: int | None
    finding_id: int | None
    bone: int | None
    before: Any
    after: Any
