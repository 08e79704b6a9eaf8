"""Studies of one foot at several dates: per-bone measures and the foot's timeline.

A :class:`StudyFindings` is what one study of one foot shows, bone by bone (edema
volume, fraction of the bone, grade), with the study's date, the status of its findings
(``candidate`` detector output, ``confirmed`` reader findings, or ``truth`` of a
phantom) and who read it. Studies linked to the same foot ``(patient, side)`` and sorted
by date form a :class:`Timeline`; its first study is the baseline.

Examples
--------
>>> import datetime as dt
>>> from bmes_imaging.bones import Bone
>>> a = StudyFindings("7", "R", "1.1", dt.date(2015, 1, 5), "candidate", "detector",
...                   (BoneMeasure(Bone.TALUS, 4.0, 0.1, 1),))
>>> b = StudyFindings("7", "R", "1.2", dt.date(2016, 3, 1), "candidate", "detector",
...                   (BoneMeasure(Bone.TALUS, 1.0, 0.025, 1),))
>>> [t.days for t in build_timelines([b, a])[0].points]
[0, 421]
"""

from __future__ import annotations

import csv
import datetime as _dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._outbound import from_csv_cell
from ..bones import Bone, bone_from_name
from ..errors import ExportError

__all__ = [
    "BoneMeasure",
    "StudyFindings",
    "TimePoint",
    "Timeline",
    "build_timelines",
    "involvement_rows_of_status",
    "parse_study_date",
    "read_study_findings",
]

#: Finding statuses a study's measures can have.
STATUSES = ("candidate", "confirmed", "truth")


@dataclass(frozen=True)
class BoneMeasure:
    """Edema of one bone in one study.

    Attributes
    ----------
    bone
        The bone.
    edema_ml
        Edema volume (mL); 0 when the bone was assessed and holds none.
    fraction
        Edema volume / bone volume (0..1), ``None`` when unknown.
    grade
        0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the bone; ``None`` when unknown.
    bone_ml
        The bone's volume in the study (mL), ``None`` when unknown.
    """

    bone: Bone
    edema_ml: float
    fraction: float | None = None
    grade: int | None = None
    bone_ml: float | None = None


@dataclass(frozen=True)
class StudyFindings:
    """One study of one foot: its date and the edema of each assessed bone.

    Attributes
    ----------
    patient, side
        The foot (clinical patient key, ``"L"`` / ``"R"``).
    study_instance_uid
        The study.
    study_date
        Date of the study (``None`` when unknown: it then cannot be placed in time).
    status
        ``"candidate"``, ``"confirmed"`` or ``"truth"``.
    reader
        Who produced the findings (``"detector"``, a reader's name, ``"phantom"``).
    bones
        One measure per assessed bone.
    """

    patient: str
    side: str
    study_instance_uid: str
    study_date: _dt.date | None
    status: str
    reader: str
    bones: tuple[BoneMeasure, ...] = ()

    def measure(self, bone: Bone) -> BoneMeasure | None:
        """The measure of ``bone``, ``None`` when the bone was not assessed."""
        for m in self.bones:
            if m.bone == bone:
                return m
        return None

    @property
    def total_ml(self) -> float:
        """Edema of every assessed bone (mL)."""
        return float(sum(m.edema_ml for m in self.bones))


@dataclass(frozen=True)
class TimePoint:
    """A study in its foot's timeline: ``index`` 0 is the baseline, ``days`` since it
    (``None`` for a study without a date, placed after the dated ones)."""

    index: int
    days: int | None
    study: StudyFindings


@dataclass
class Timeline:
    """Every dated study of one foot, oldest first."""

    patient: str
    side: str
    points: list[TimePoint] = field(default_factory=list)

    @property
    def baseline(self) -> TimePoint:
        """The first study."""
        return self.points[0]

    @property
    def bones(self) -> tuple[Bone, ...]:
        """Bones assessed in any of the studies, in label order."""
        seen = {m.bone for p in self.points for m in p.study.bones}
        return tuple(sorted(seen))


def parse_study_date(text: str | None) -> _dt.date | None:
    """A DICOM DA (``YYYYMMDD``) or ISO (``YYYY-MM-DD``) date; ``None`` when empty.

    Raises
    ------
    ExportError
        If the text is not a date.

    Examples
    --------
    >>> parse_study_date("20150316"), parse_study_date("2015-03-16"), parse_study_date("")
    (datetime.date(2015, 3, 16), datetime.date(2015, 3, 16), None)
    """
    t = (text or "").strip()
    if not t:
        return None
    try:
        if len(t) == 8 and t.isdigit():
            return _dt.date(int(t[:4]), int(t[4:6]), int(t[6:]))
        return _dt.date.fromisoformat(t[:10])
    except ValueError:
        raise ExportError(f"not a study date: {t!r} (expected YYYYMMDD or YYYY-MM-DD)"
                          ) from None


def _float(text: str | None) -> float | None:
    t = (text or "").strip()
    return float(t) if t else None


def involvement_rows_of_status(path: str | Path, status: str, columns: Iterable[str]
                               ) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of one ``status`` of an involvement CSV, with their line numbers.

    Parameters
    ----------
    path
        An ``involvement.csv`` (of ``bmes screen`` / ``bmes detect``).
    status
        Only rows whose ``status`` cell is this (``candidate`` or ``confirmed``).
    columns
        Columns the table must have.

    Yields
    ------
    tuple of (int, dict)
        The row's line number in the file (the header is line 1) and the row.

    Raises
    ------
    ExportError
        If the file is missing or lacks one of ``columns``.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: findings table not found")
    with path.open(newline="", encoding="utf-8") as fh:
        rd = csv.DictReader(fh)
        missing = set(columns) - set(rd.fieldnames or ())
        if missing:
            raise ExportError(f"{path}: not an involvement table (missing columns "
                              f"{', '.join(sorted(missing))})")
        for row_no, row in enumerate(rd, start=2):
            if (row.get("status") or "").strip() == status:
                yield row_no, row


def read_study_findings(path: str | Path, *, status: str = "candidate",
                        dates: Mapping[str, _dt.date | None] | None = None,
                        links: Mapping[str, tuple[str, str] | None] | None = None,
                        reader: str = "detector") -> list[StudyFindings]:
    """Per-study findings of one status from an involvement CSV (every assessed bone).

    Parameters
    ----------
    path
        ``involvement.csv`` of ``bmes screen`` / ``bmes detect`` (one row per study,
        side and bone) or a phantom's ``truth/involvement.csv`` wrapped by the caller.
    status
        Rows of this status are kept (``candidate`` or ``confirmed``).
    dates
        StudyInstanceUID -> study date (from the DICOM index); missing: ``None``.
    links
        StudyInstanceUID -> ``(patient, side)`` (the store's links); studies without
        a link are skipped. ``None``: the CSV's ``patient_id`` and ``side`` are used.
    reader
        Recorded as the reader of these findings.

    Returns
    -------
    list of StudyFindings
        One per study and side, in file order.

    Raises
    ------
    ExportError
        If the file is missing, lacks columns, or a row holds a bad number.
    """
    path = Path(path)
    studies: dict[tuple[str, str], dict[str, object]] = {}
    for row_no, row in involvement_rows_of_status(
            path, status, ("study_instance_uid", "patient_id", "side", "bone", "status",
                           "edema_volume_ml")):
        uid = from_csv_cell((row.get("study_instance_uid") or "").strip())
        side = (row.get("side") or "").strip().upper()
        if links is not None:
            foot = links.get(uid)
            if foot is None:
                continue
            patient, side = str(foot[0]), str(foot[1]).upper()
        else:
            patient = from_csv_cell((row.get("patient_id") or "").strip())
        try:
            grade = _float(row.get("grade"))
            m = BoneMeasure(bone_from_name(row["bone"]),
                            float(row.get("edema_volume_ml") or 0.0),
                            _float(row.get("fraction")),
                            None if grade is None else int(grade),
                            _float(row.get("bone_volume_ml")))
        except (KeyError, ValueError) as exc:
            raise ExportError(f"{path}: row {row_no}: {exc}") from None
        entry = studies.setdefault((uid, side), {"patient": patient, "bones": []})
        entry["bones"].append(m)  # type: ignore[attr-defined]
    out = []
    for (uid, side), entry in studies.items():
        bones = tuple(sorted(entry["bones"], key=lambda m: int(m.bone)))  # type: ignore
        out.append(StudyFindings(str(entry["patient"]), side, uid,
                                 (dates or {}).get(uid), status, reader, bones))
    return out


def build_timelines(studies: Iterable[StudyFindings]) -> list[Timeline]:
    """Group studies by foot and sort each foot's studies by date.

    A study without a date is placed after the dated studies of its foot, with
    ``days`` ``None``; feet are in order of patient key (numbers numerically) and side.

    Raises
    ------
    ExportError
        If two studies of one foot on the same date carry different findings statuses
        (candidate and confirmed are never mixed in one timeline).
    """
    feet: dict[tuple[str, str], list[StudyFindings]] = {}
    for s in studies:
        feet.setdefault((str(s.patient), s.side.upper()), []).append(s)
    out = []
    for (patient, side) in sorted(feet, key=_foot_order):
        items = sorted(feet[(patient, side)], key=lambda s: (
            s.study_date is None, s.study_date or _dt.date.min, s.study_instance_uid))
        if len({s.status for s in items}) > 1:
            raise ExportError("a foot's studies mix candidate and confirmed findings; "
                              "build timelines of one kind at a time")
        first = items[0].study_date
        out.append(Timeline(patient, side, [
            TimePoint(n, None if s.study_date is None or first is None
                      else (s.study_date - first).days, s)
            for n, s in enumerate(items)]))
    return out


def _foot_order(foot: tuple[str, str]) -> tuple[int, int, str, str]:
    key, side = foot
    return (0, int(key), "", side) if key.isdigit() else (1, 0, key, side)


def timelines_by_foot(timelines: Sequence[Timeline]) -> dict[tuple[str, str], Timeline]:
    """``{(patient, side): timeline}``."""
    return {(t.patient, t.side): t for t in timelines}
