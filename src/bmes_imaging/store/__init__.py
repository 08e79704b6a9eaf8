"""The annotation store: clinical records, DICOM studies, findings, annotations, audit.

SQLAlchemy 2 models with Alembic migrations (run automatically when a store is
opened, under a lock). SQLite by default (WAL, foreign keys on, writers queue with
``BEGIN IMMEDIATE`` and retry when busy), any SQLAlchemy URL by ``--db`` or
``$BMES_DB`` (PostgreSQL: the ``postgres`` extra). Reviews' label maps are stored in the
database itself (compressed, checksum verified on read), so every account on every
machine that opens the store sees every review.

Examples
--------
>>> import tempfile, pathlib
>>> from bmes_imaging.store import open_store
>>> with open_store(pathlib.Path(tempfile.mkdtemp()) / "bmes.sqlite") as store:
...     v = store.save_findings("1.2.3", [{"bone": "talus", "grade": 2,
...                                         "status": "candidate"}], "detector")
...     (v.version, [f.bone.bone_name for f in store.latest_findings("1.2.3")])
(1, ['talus'])
"""

from __future__ import annotations

from ._agreement import (
    AgreementReport,
    StudyAgreement,
    cohen_kappa,
    dice,
    reader_agreement,
)
from ._engine import DB_ENV, HEAD_REVISION, default_db_path, resolve_url
from ._findings import FINDING_STATUSES, StoredFinding
from ._link import LinkedStudy, LinkReport, read_mapping_table
from ._results import AnnotationVersion, AuditRecord, ImportReport, LoadedAnnotation
from ._screening import DETECTOR_SOURCE, save_screen_candidates
from ._store import ANNOTATIONS_ENV, Store, open_store

__all__ = [
    "ANNOTATIONS_ENV",
    "DB_ENV",
    "DETECTOR_SOURCE",
    "FINDING_STATUSES",
    "HEAD_REVISION",
    "AgreementReport",
    "AnnotationVersion",
    "AuditRecord",
    "ImportReport",
    "LinkReport",
    "LinkedStudy",
    "LoadedAnnotation",
    "Store",
    "StoredFinding",
    "StudyAgreement",
    "cohen_kappa",
    "default_db_path",
    "dice",
    "open_store",
    "read_mapping_table",
    "reader_agreement",
    "resolve_url",
    "save_screen_candidates",
]
