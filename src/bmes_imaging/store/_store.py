"""The :class:`Store`: clinical records, studies, findings, annotations and the audit log.

Every write runs in one database transaction (all or nothing); SQLite writers take the
lock up front (``BEGIN IMMEDIATE``) and are retried with backoff when the database is
busy, so several processes can save at once. Log messages carry counts, study UIDs
and versions only, never patient keys, names or DICOM PatientIDs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ..errors import StoreError
from ..volume import SeriesInfo, Volume
from . import _files
from ._clinical_api import ClinicalStore
from ._clinical_db import now
from ._engine import make_engine, resolve_url, run_migrations, write_transaction
from ._findings import StoredFinding, audit_dict, coerce_finding, from_row, row_values
from ._identity import (
    claim_folder,
    clean_on_open,
    create_if_new,
    ensure_identity,
    open_failure_line,
    orphan_age,
)
from ._models import (
    Annotation,
    AuditEvent,
    FindingRow,
    Foot,
    ImagingSeries,
    ImagingStudy,
    LabelMap,
    Patient,
    StudyIdentity,
)
from ._results import AnnotationVersion, AuditRecord, LoadedAnnotation, actor_name

__all__ = ["ANNOTATIONS_ENV", "Store", "open_store"]

log = logging.getLogger(__name__)

#: Environment variable naming the label-map folder of stores older than schema 0003
#: (moved into the database on opening; default: beside the SQLite file).
ANNOTATIONS_ENV = "BMES_ANNOTATIONS"


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as "<invalid URL>"
        return "<invalid URL>"


def _study_fields(info: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    names = ("study_instance_uid", "series_instance_uid", "frame_of_reference_uid",
             "patient_id", "patient_name", "laterality", "series_number",
             "series_description", "modality", "sequence", "plane")
    if isinstance(info, Volume):
        info = info.info
    out: dict[str, Any] = {}
    for name in names:
        value = fields.get(name)
        if value is None and info is not None:
            value = info.get(name) if isinstance(info, Mapping) else getattr(info, name, None)
        out[name] = value
    if not out["study_instance_uid"]:
        raise StoreError("a study needs its StudyInstanceUID; none was given")
    if out["laterality"] not in (None, "L", "R"):
        raise StoreError(f"laterality must be 'L', 'R' or None, found {out['laterality']!r}")
    return out


class Store(ClinicalStore):
    """The project's database of clinical records, studies, findings and annotations.

    Open it with :func:`open_store`. Methods are safe to call from several processes
    at once; a :class:`Store` object itself is for one thread.
    """

    def __init__(self, url: str, annotation_dir: Path, *, init: bool = False,
                 orphan_age_s: float | None = None) -> None:
        self.url = url
        self.annotation_dir = annotation_dir
        from alembic.util import CommandError
        from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError

        shown = _safe_url(url)
        create_if_new(url, init=init)
        try:
            self.engine = make_engine(url)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise StoreError(f"cannot open the store {shown}: {exc}; give a SQLAlchemy URL "
                             "or a SQLite file path") from None
        try:
            run_migrations(self.engine, annotation_dir=annotation_dir)
        except DatabaseError as exc:  # includes OperationalError
            self.engine.dispose()
            raise StoreError(open_failure_line(url, exc)) from None
        except CommandError as exc:
            self.engine.dispose()
            raise StoreError(f"the store {shown} has a schema this version of bmes-imaging "
                             f"does not know ({exc}); upgrade bmes-imaging") from None
        except BaseException:  # e.g. a label-map file the upgrade cannot find
            self.engine.dispose()
            raise
        self._owns_folder = False
        try:
            #: The store's UUID; its label-map folder carries it too.
            self.store_uuid = ensure_identity(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        try:
            self._owns_folder = claim_folder(annotation_dir, self.store_uuid, self.engine,
                                             create=False)
            if self._owns_folder:
                clean_on_open(annotation_dir, self.engine, max_age_s=orphan_age(orphan_age_s))
        except OSError as exc:
            from .._faults import os_error_line

            log.warning("annotation folder not checked: %s", os_error_line(exc))
        except BaseException:
            self.engine.dispose()
            raise

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Close every database connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {_safe_url(self.url)}>"

    def register_study(self, info: Any = None, **fields: Any) -> str:
        """Record a DICOM study (and its series) from a SeriesInfo, stack, Volume or fields.

        Accepts :class:`~bmes_imaging.volume.SeriesInfo`, a ``SeriesStack``, a
        :class:`~bmes_imaging.volume.Volume` (its ``info``), a mapping, and/or keyword
        fields: ``study_instance_uid`` (required), ``series_instance_uid``,
        ``patient_id`` (DICOM PatientID, kept apart), ``patient_name``, ``laterality``,
        ``frame_of_reference_uid``, ``series_number``, ``series_description``,
        ``modality``, ``sequence``, ``plane``. Registering again adds series and fills
        missing values. Returns the StudyInstanceUID.
        """
        f = _study_fields(info, fields)

        def work(session: Session) -> None:
            study = self._get_study(session, f["study_instance_uid"], create=True)
            assert study is not None
            if f["laterality"] and not study.laterality:
                study.laterality = f["laterality"]
            ident = session.get(StudyIdentity, study.id)
            if ident is None:
                ident = StudyIdentity(study_id=study.id)
                session.add(ident)
            if f["patient_id"] is not None:
                ident.dicom_patient_id = str(f["patient_id"]).strip()
            if f["patient_name"] is not None:
                ident.dicom_patient_name = str(f["patient_name"])
            if f["series_instance_uid"]:
                series = session.scalar(select(ImagingSeries).where(
                    ImagingSeries.series_instance_uid == f["series_instance_uid"]))
                if series is None:
                    series = ImagingSeries(study_id=study.id,
                                           series_instance_uid=f["series_instance_uid"])
                    session.add(series)
                for name in ("frame_of_reference_uid", "series_number", "series_description",
                             "modality", "sequence", "plane", "laterality"):
                    if f[name] is not None:
                        setattr(series, name, f[name])

        write_transaction(self.engine, work, what="study registration")
        log.debug("study %s registered", f["study_instance_uid"])
        return str(f["study_instance_uid"])

    def _get_study(self, session: Session, uid: str, *, create: bool) -> ImagingStudy | None:
        study = session.scalar(select(ImagingStudy).where(
            ImagingStudy.study_instance_uid == uid))
        if study is None and create:
            study = ImagingStudy(study_instance_uid=uid, registered_at=now())
            session.add(study)
            session.flush()
        return study

    def studies(self) -> list[str]:
        """StudyInstanceUIDs of every registered study."""
        with self._read() as s:
            return list(s.scalars(select(ImagingStudy.study_instance_uid)
                                  .order_by(ImagingStudy.id)))

    def study_links(self) -> dict[str, tuple[str, str] | None]:
        """Every registered study -> the ``(patient, side)`` it is linked to, or ``None``."""
        with self._read() as s:
            rows = s.execute(select(ImagingStudy.study_instance_uid, Patient.key, Foot.side)
                             .outerjoin(Foot, ImagingStudy.foot_id == Foot.id)
                             .outerjoin(Patient, Foot.patient_id == Patient.id)
                             .order_by(ImagingStudy.id)).all()
        return {uid: (None if key is None else (key, side)) for uid, key, side in rows}

    def study_foot(self, study_instance_uid: str) -> tuple[str, str] | None:
        """``(patient, side)`` a study is linked to, or ``None``."""
        with self._read() as s:
            row = s.execute(select(Patient.key, Foot.side)
                            .join(Foot, Foot.patient_id == Patient.id)
                            .join(ImagingStudy, ImagingStudy.foot_id == Foot.id)
                            .where(ImagingStudy.study_instance_uid == study_instance_uid)
                            ).first()
            return None if row is None else (row[0], row[1])

    def link_studies(self, mapping: str | os.PathLike[str] | Mapping[str, str] | None = None,
                     *, relink: bool = False, actor: str | None = None) -> Any:
        """Link registered studies to clinical feet; see :func:`._link.link_studies`."""
        from ._link import link_studies

        return link_studies(self, mapping, relink=relink, actor=actor_name(actor))

    # -- findings and annotations ----------------------------------------------------------
    def save_findings(self, study_instance_uid: str, findings: Iterable[Any],
                      source: str = "detector", *, note: str | None = None
                      ) -> AnnotationVersion:
        """Save a new version of ``source``'s findings for a study (no label map).

        ``findings``: ``BoneFinding`` objects, objects with the same attributes, or dicts
        (see :mod:`bmes_imaging.store._findings`). The study is registered if unknown.
        """
        return self._save(study_instance_uid, source, findings, None, note=note,
                          series_instance_uid=None)

    def save_annotation(self, study_instance_uid: str, reader: str, findings: Iterable[Any],
                        labels: Volume, *, note: str | None = None,
                        series_instance_uid: str | None = None) -> AnnotationVersion:
        """Save a reader's findings and edema label map as a new version, atomically.

        The label map (edema voxels carry their bone's label, 0 elsewhere) is
        compressed (gzip NIfTI-1) and stored in the database with its SHA-256, in the
        same transaction that allocates the next version number for (study, reader)
        and records reader, time, findings and audit events: any account on any
        machine that opens the store sees it. If anything fails, nothing is recorded.
        Earlier versions are never changed.

        Parameters
        ----------
        study_instance_uid
            The study (registered automatically if unknown).
        reader
            Who annotated (name or initials of the reader).
        findings
            ``BoneFinding`` objects, objects with the same attributes, or dicts.
        labels
            Label map :class:`~bmes_imaging.volume.Volume` (integer labels).
        note
            Free text.
        series_instance_uid
            The series the label map's grid belongs to (default: ``labels.info``).

        Returns
        -------
        AnnotationVersion
        """
        if not reader or not str(reader).strip():
            raise StoreError("an annotation needs the reader's name; nothing was saved")
        series = series_instance_uid or labels.info.series_instance_uid
        return self._save(study_instance_uid, str(reader).strip(), findings, labels,
                          note=note, series_instance_uid=series)

    def _save(self, study_uid: str, reader: str, findings: Iterable[Any],
              labels: Volume | None, *, note: str | None,
              series_instance_uid: str | None) -> AnnotationVersion:
        if not study_uid:
            raise StoreError("a StudyInstanceUID is required; nothing was saved")
        stored = [coerce_finding(f, default_source=reader, index=i)
                  for i, f in enumerate(findings)]
        bones = [f.bone for f in stored]
        if len(set(bones)) != len(bones):
            raise StoreError("the findings name the same bone twice; give one finding per "
                             "bone; nothing was saved")
        prepared = None if labels is None else _files.serialise_labels(labels)

        def work(session: Session) -> AnnotationVersion:
            study = self._get_study(session, study_uid, create=True)
            assert study is not None
            last = session.scalar(select(func.max(Annotation.version)).where(
                Annotation.study_id == study.id, Annotation.reader == reader))
            version = (last or 0) + 1
            ann = Annotation(study_id=study.id, reader=reader, version=version,
                             kind="annotation" if prepared else "findings", note=note,
                             series_instance_uid=series_instance_uid, created_at=now())
            if prepared is not None:
                ann.label_sha256 = prepared.sha256
                ann.label_shape = json.dumps(list(prepared.shape))
                ann.label_dtype = prepared.dtype
                ann.label_affine = json.dumps(prepared.affine)
            session.add(ann)
            session.flush()
            if prepared is not None:
                ann.label_path = _files.label_map_name(study_uid, reader, version, ann.id)
                session.add(LabelMap(annotation_id=ann.id, n_bytes=len(prepared.data),
                                     data=prepared.data))
            previous = self._previous_findings(session, study.id, reader, ann.id)
            for f in stored:
                row = FindingRow(annotation_id=ann.id, bone=int(f.bone), **row_values(f))
                session.add(row)
                session.flush()
                after = audit_dict(f)
                before = previous.pop(int(f.bone), None)
                if before != after:
                    session.add(AuditEvent(
                        at=ann.created_at, actor=reader,
                        action="finding_added" if before is None else "finding_changed",
                        study_id=study.id, annotation_id=ann.id, finding_id=row.id,
                        bone=int(f.bone), before_json=None if before is None
                        else json.dumps(before), after_json=json.dumps(after)))
            for bone, before in previous.items():
                session.add(AuditEvent(at=ann.created_at, actor=reader,
                                       action="finding_removed", study_id=study.id,
                                       annotation_id=ann.id, bone=bone,
                                       before_json=json.dumps(before)))
            session.add(AuditEvent(
                at=ann.created_at, actor=reader,
                action="annotation_saved" if prepared else "findings_saved",
                study_id=study.id, annotation_id=ann.id,
                after_json=json.dumps({"version": version, "findings": len(stored),
                                       "label_sha256": ann.label_sha256})))
            return self._version(ann, study_uid, len(stored))

        result = write_transaction(self.engine, work, what="annotation save")
        log.info("saved %s version %d for study %s (%d findings)", result.kind,
                 result.version, study_uid, result.n_findings)
        return result

    def _previous_findings(self, session: Session, study_id: int, reader: str,
                           exclude_id: int) -> dict[int, dict[str, Any]]:
        """Findings of the reader's previous version, else of the newest other version."""
        q = (select(Annotation).where(Annotation.study_id == study_id,
                                      Annotation.id != exclude_id)
             .order_by(Annotation.created_at.desc(), Annotation.id.desc()))
        own = session.scalars(q.where(Annotation.reader == reader).limit(1)).first()
        prev = own or session.scalars(q.limit(1)).first()
        if prev is None:
            return {}
        return {f.bone: audit_dict(from_row(f)) for f in prev.findings}

    def _version(self, ann: Annotation, study_uid: str, n: int) -> AnnotationVersion:
        return AnnotationVersion(
            annotation_id=ann.id, study_instance_uid=study_uid, reader=ann.reader,
            version=ann.version, kind=ann.kind, created_at=ann.created_at,
            label_path=None if ann.label_path is None else Path(ann.label_path),
            label_sha256=ann.label_sha256, n_findings=n, note=ann.note,
            series_instance_uid=ann.series_instance_uid)

    def annotations(self, study_instance_uid: str | None = None, reader: str | None = None,
                    *, series_instance_uid: str | None = None,
                    ) -> list[AnnotationVersion]:
        """Every saved version (oldest first), optionally of one study and/or reader.

        With ``series_instance_uid`` (the T1 series of one foot), only versions on that
        series or with no series recorded: with both feet in one study, each foot's
        review is found by its own T1 series.
        """
        counts = (select(FindingRow.annotation_id, func.count(FindingRow.id).label("n"))
                  .group_by(FindingRow.annotation_id).subquery())
        with self._read() as s:
            q = (select(Annotation, ImagingStudy.study_instance_uid, counts.c.n)
                 .join(ImagingStudy, Annotation.study_id == ImagingStudy.id)
                 .outerjoin(counts, counts.c.annotation_id == Annotation.id))
            if study_instance_uid is not None:
                q = q.where(ImagingStudy.study_instance_uid == study_instance_uid)
            if reader is not None:
                q = q.where(Annotation.reader == reader)
            if series_instance_uid is not None:
                q = q.where(or_(Annotation.series_instance_uid == series_instance_uid,
                                Annotation.series_instance_uid.is_(None)))
            rows = s.execute(q.order_by(Annotation.id)).all()
            return [self._version(a, uid, int(n or 0)) for a, uid, n in rows]

    def load_annotation(self, annotation_id: int) -> LoadedAnnotation:
        """Reload one version exactly (label checksum verified).

        Raises
        ------
        StoreError
            If the version does not exist, or its label file is missing or damaged.
        """
        with self._read() as s:
            row = s.execute(select(Annotation, ImagingStudy.study_instance_uid)
                            .join(ImagingStudy, Annotation.study_id == ImagingStudy.id)
                            .where(Annotation.id == annotation_id)).first()
            if row is None:
                raise StoreError(f"no annotation version with id {annotation_id}")
            ann, uid = row
            findings = [from_row(f) for f in ann.findings]
            version = self._version(ann, uid, len(findings))
            data = None
            if ann.label_path is not None:
                data = s.scalar(select(LabelMap.data).where(LabelMap.annotation_id == ann.id))
        labels = None
        if ann.label_path is not None and ann.label_sha256 is not None:
            info = SeriesInfo(study_instance_uid=uid,
                              series_instance_uid=ann.series_instance_uid)
            if data is not None:
                labels = _files.labels_from_bytes(
                    bytes(data), ann.label_sha256, affine_json=ann.label_affine, info=info,
                    where=f"the label map of version id {ann.id} ({ann.label_path})")
            else:  # a map never moved into the database (older store)
                labels = _files.read_label_file(self.annotation_dir, ann.label_path,
                                                ann.label_sha256,
                                                affine_json=ann.label_affine, info=info)
        return LoadedAnnotation(version, labels, findings)

    def latest_annotation(self, study_instance_uid: str, reader: str | None = None,
                          *, with_labels: bool = True,
                          series_instance_uid: str | None = None) -> LoadedAnnotation | None:
        """The newest version for a study (of ``reader``, or of anyone), reloaded exactly.

        With ``with_labels`` (default) only versions that have a label map count; with
        ``series_instance_uid``, only those of that T1 series (one foot of a study
        holding both) or with no series recorded. Returns ``None`` if there is none.
        """
        versions = [v for v in self.annotations(study_instance_uid, reader,
                                                series_instance_uid=series_instance_uid)
                    if not with_labels or v.label_path is not None]
        if not versions:
            return None
        newest = max(versions, key=lambda v: (v.created_at, v.annotation_id))
        return self.load_annotation(newest.annotation_id)

    def latest_findings(self, study_instance_uid: str, source: str | None = None,
                        ) -> list[StoredFinding]:
        """Findings of the newest version (of ``source``/reader, or of anyone)."""
        loaded = self.latest_annotation(study_instance_uid, source, with_labels=False)
        return [] if loaded is None else loaded.findings

    def readers(self, study_instance_uid: str | None = None) -> list[str]:
        """Readers (and sources) with at least one saved version."""
        return sorted({v.reader for v in self.annotations(study_instance_uid)})

    # -- audit and integrity ---------------------------------------------------------------
    def audit_events(self, study_instance_uid: str | None = None) -> list[AuditRecord]:
        """Audit events (oldest first), optionally only those of one study."""
        with self._read() as s:
            q = (select(AuditEvent, ImagingStudy.study_instance_uid)
                 .outerjoin(ImagingStudy, AuditEvent.study_id == ImagingStudy.id))
            if study_instance_uid is not None:
                q = q.where(ImagingStudy.study_instance_uid == study_instance_uid)
            rows = s.execute(q.order_by(AuditEvent.id)).all()
            return [AuditRecord(
                at=e.at, actor=e.actor, action=e.action, study_instance_uid=uid,
                annotation_id=e.annotation_id, finding_id=e.finding_id, bone=e.bone,
                before=None if e.before_json is None else json.loads(e.before_json),
                after=None if e.after_json is None else json.loads(e.after_json))
                for e, uid in rows]

    def check_annotations(self) -> tuple[list[str], list[Path]]:
        """Verify every label map: ``(problems, orphan_files)``.

        ``problems`` names versions whose map (in the database, or for a map never
        moved in, its file) fails its checksum or is missing; ``orphan_files`` are
        files in the store's former annotation folder that no version references
        (leftovers of interrupted saves of older versions; :meth:`remove_orphans`
        deletes them).
        """
        with self._read() as s:
            problems, referenced = _files.check_label_maps(s, self.annotation_dir)
        return problems, _files.find_orphans(self.annotation_dir, referenced)

    def remove_orphans(self, min_age_s: float = 3600.0) -> list[Path]:
        """Delete unreferenced files older than ``min_age_s`` seconds; return them.

        The age limit protects a save that another process is committing right now.
        Nothing is removed from a folder the store does not own (see
        :mod:`bmes_imaging.store._identity`).
        """
        import time

        if not self._owns_folder:
            log.warning("orphans not removed: the annotation folder is not this store's")
            return []
        _, orphans = self.check_annotations()
        removed = []
        for path in orphans:
            try:
                if time.time() - path.stat().st_mtime >= min_age_s:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue
        if removed:
            log.info("removed %d orphan annotation file(s)", len(removed))
        return removed


def _annotation_dir(url: str, annotation_dir: str | os.PathLike[str] | None) -> Path:
    if annotation_dir is not None:
        return Path(annotation_dir).expanduser().absolute()
    env = os.environ.get(ANNOTATIONS_ENV)
    if env:
        return Path(env).expanduser().absolute()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(str(parsed.database))
        return db.with_name(db.name + "-annotations")
    from ._engine import default_db_path

    return default_db_path().with_name("annotations")


def open_store(url: str | os.PathLike[str] | None = None, *,
               annotation_dir: str | os.PathLike[str] | None = None, init: bool = False,
               orphan_age_s: float | None = None) -> Store:
    """Open (and create or upgrade) the store.

    A SQLite store is created only where no file exists; an existing empty (0-byte)
    file is refused unless ``init`` (it may be a lost store), and so is a file that is
    not a bmes-imaging store. Opening removes the leftovers of interrupted saves in the
    store's own label-map folder (see :mod:`bmes_imaging.store._identity`).

    Parameters
    ----------
    url
        SQLAlchemy URL (``postgresql://...``) or a SQLite file path; ``None`` uses
        ``$BMES_DB``, else ``~/.local/share/bmes-imaging/bmes.sqlite``.
    annotation_dir
        Label-map folder of a store older than schema 0003 (its files are moved into
        the database on opening); default ``$BMES_ANNOTATIONS``, else
        ``<sqlite file>-annotations`` beside the SQLite file (for a server database
        ``~/.local/share/bmes-imaging/annotations``). New label maps are stored in the
        database, never in this folder.
    init
        Make a new store in an existing empty file (``bmes ... --init``).
    orphan_age_s
        Where file locks do not work, temporary files older than this count as
        abandoned (default ``$BMES_ORPHAN_AGE_S``, else 3600 s).

    Returns
    -------
    Store

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = open_store(pathlib.Path(tempfile.mkdtemp()) / "bmes.sqlite")
    >>> store.clinical_records()
    []
    >>> store.close()
    """
    resolved = resolve_url(url)
    return Store(resolved, _annotation_dir(resolved, annotation_dir), init=init,
                 orphan_age_s=orphan_age_s)
