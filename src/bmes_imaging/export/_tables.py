"""Tables a researcher can compute with: tidy long, wide, and their data dictionaries.

* **long** (:data:`LONG_COLUMNS`): one row per foot, study date and bone: edema
  ``volume_ml``, ``fraction``, ``grade``, ``status`` (candidate / confirmed / truth),
  ``reader``, the change since the baseline and since the previous study and the
  ``course`` (see :mod:`bmes_imaging.followup`), with the AOFAS score of that date.
* **wide** (:func:`wide_columns`): one row per foot and study date: ``<bone>_ml`` and
  ``<bone>_grade`` for every bone of :class:`~bmes_imaging.bones.Bone`.

Both are written as CSV (with ``<name>.dictionary.csv`` beside it: each column's
meaning, unit and type) or XLSX (header in row 1, numbers as numbers, frozen header,
filters, column widths; a second sheet ``columns`` with the dictionary, a third
``about`` with where the figures come from). Every text cell goes through
:func:`bmes_imaging._outbound.csv_cell`, so no spreadsheet runs one as a formula.
``pandas.read_csv`` / ``pandas.read_excel`` with their defaults give the documented
columns (``docs/tables.md``).

Examples
--------
>>> [c for c in wide_columns()][:4], wide_columns()[-2:]
(['patient', 'side', 'timepoint', 'study_date'], ['fibula_ml', 'fibula_grade'])
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._atomic import write_bytes_atomic, write_csv_atomic
from .._outbound import csv_cell
from ..bones import Bone
from ..errors import ExportError
from ..followup._change import CourseThresholds, bone_changes, foot_course
from ..followup._timeline import Timeline

__all__ = ["COLUMN_DOCS", "LONG_COLUMNS", "dictionary_path", "long_rows", "wide_columns",
           "wide_rows", "write_table"]

#: Columns of the long table.
LONG_COLUMNS: tuple[str, ...] = (
    "patient", "side", "timepoint", "study_date", "days_since_baseline", "bone",
    "bone_label", "volume_ml", "fraction", "grade", "change_since_baseline_ml",
    "change_since_previous_ml", "course", "status", "reader", "aofas",
)
_WIDE_HEAD: tuple[str, ...] = (
    "patient", "side", "timepoint", "study_date", "days_since_baseline", "status",
    "reader", "n_bones", "total_ml", "total_change_since_baseline_ml", "course", "aofas",
)

#: Meaning, unit and type of every column of the tables (and of the involvement table).
COLUMN_DOCS: dict[str, tuple[str, str, str]] = {
    "patient": ("clinical patient key, or its pseudonym (P-XXXXXXXX) when de-identified",
                "", "integer when every key is a number, else text"),
    "side": ("foot: L or R", "", "text"),
    "timepoint": (("position of the study in the foot's timeline: 0 baseline, 1 first "
                  "follow-up, ..."), "", "integer"),
    "study_date": ("date of the study (DICOM StudyDate)", "YYYY-MM-DD", "text"),
    "days_since_baseline": ("days from the foot's first study to this one", "days",
                            "integer (empty when the study has no date)"),
    "bone": ("bone name (README: Bone labels)", "", "text"),
    "bone_label": ("bone label number (README: Bone labels)", "", "integer"),
    "volume_ml": ("edema volume in this bone", "mL", "number"),
    "fraction": ("edema volume / bone volume", "0-1", "number (empty when unknown)"),
    "grade": ("edema extent: 0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the bone", "0-3",
              "integer (empty when unknown)"),
    "change_since_baseline_ml": ("volume_ml minus the baseline's (empty at the baseline)",
                                 "mL", "number"),
    "change_since_previous_ml": (("volume_ml minus the previous study's (empty at the "
                                 "baseline)"), "mL", "number"),
    "course": (("baseline / none / resolved / improving / stable / worse / new, since the "
               "previous study, by the thresholds of docs/followup.md"), "", "text"),
    "status": (("what the findings are: candidate (detector output, unreviewed), confirmed "
               "(a reader's), truth (a phantom's ground truth); never mixed in one table"),
               "", "text"),
    "reader": ("who produced the findings (detector, a reader's name, phantom)", "",
               "text"),
    "aofas": (("AOFAS ankle-hindfoot score of that date: the record's score at diagnosis "
              "for the first study, at last control for the last follow-up, empty "
              "otherwise"), "points 0-100", "number"),
    "n_bones": ("bones with edema (grade >= 1, or volume >= 0.1 mL when no grade)", "",
                "integer"),
    "total_ml": ("edema volume over every assessed bone", "mL", "number"),
    "total_change_since_baseline_ml": (("total_ml minus the baseline's (empty at the "
                                       "baseline)"), "mL", "number"),
    # the involvement table (one row per foot, Table 1 shape)
    "age": ("age at diagnosis", "years", "integer"),
    "sex": ("M or F", "", "text"),
    "findings": ("status of the imaging findings used (candidate / confirmed) or none",
                 "", "text"),
    "primary_bone": ("primary bone: the reader's mark, else the largest edema", "",
                     "text"),
    "primary_from": ("reader or largest edema", "", "text"),
    "other_bones": ("further bones with edema, joined with +", "", "text"),
    "edema_volumes_ml": (("edema volume per involved bone as text (kept for "
                         "compatibility; the wide table has a column per bone)"), "mL",
                         "text"),
    "total_edema_ml": ("edema volume over the involved bones", "mL", "number"),
    "clinical_primary_bones": ("primary bone(s) of the clinical record, joined with +",
                               "", "text"),
    "symptom_months": ("symptom duration", "months", "number"),
    "complaint_to_visit_months": ("months from complaint to first visit", "months",
                                  "number"),
    "vitamin_d_ng_ml": ("serum 25(OH)D", "ng/mL", "number"),
    "vitamin_d_class": ("deficient <= 20, insufficient 20-30, sufficient >= 30 ng/mL", "",
                        "text"),
    "aofas_initial": ("AOFAS ankle-hindfoot score at diagnosis", "points 0-100", "number"),
    "aofas_final": ("AOFAS ankle-hindfoot score at last control", "points 0-100",
                    "number"),
}
for _b in Bone:
    COLUMN_DOCS[f"{_b.bone_name}_ml"] = (f"edema volume in the {_b.display_name.lower()}",
                                         "mL", "number (empty: bone not assessed)")
    COLUMN_DOCS[f"{_b.bone_name}_grade"] = ((f"edema grade of the {_b.display_name.lower()}"
                                            " (0-3, see grade)"), "0-3",
                                            "integer (empty: bone not assessed)")


def wide_columns() -> list[str]:
    """Columns of the wide table: the foot and date, then ``<bone>_ml, <bone>_grade``."""
    cols = list(_WIDE_HEAD)
    for b in Bone:
        cols += [f"{b.bone_name}_ml", f"{b.bone_name}_grade"]
    return cols


def _aofas(records: Mapping[tuple[str, str], Any], tl: Timeline, index: int) -> Any:
    rec = records.get((tl.patient, tl.side))
    if rec is None:
        return None
    if index == 0:
        return getattr(rec, "aofas_initial", None)
    if index == len(tl.points) - 1:
        return getattr(rec, "aofas_final", None)
    return None


def _records_by_foot(records: Sequence[Any] | None) -> dict[tuple[str, str], Any]:
    return {(str(r.patient), str(r.side).upper()): r for r in (records or ())}


def _num(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 4)


def _namer(pseudonymizer: Any) -> Callable[[str], Any]:
    def name(patient: str) -> Any:
        if pseudonymizer is not None:
            return pseudonymizer.patient(patient)
        return int(patient) if patient.isdigit() else patient

    return name


def _sorted(rows: list[dict[str, Any]], extra: Sequence[str]) -> list[dict[str, Any]]:
    """Rows in a stable order unrelated to the source: by patient (pseudonym or key)."""
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        p = r["patient"]
        return ((0, p, "") if isinstance(p, int) else (1, 0, str(p)), r["side"],
                *(r[c] if r[c] is not None else -1 for c in extra))

    return sorted(rows, key=key)


def long_rows(timelines: Sequence[Timeline], records: Sequence[Any] | None = None, *,
              pseudonymizer: Any = None,
              thresholds: CourseThresholds | None = None) -> list[dict[str, Any]]:
    """The long table: one row per foot, study date and assessed bone.

    Parameters
    ----------
    timelines
        The feet's timelines (:func:`bmes_imaging.followup.build_timelines`).
    records
        Clinical records (one per foot) for the AOFAS scores; optional.
    pseudonymizer
        A :class:`~bmes_imaging.export.Pseudonymizer`: patients by pseudonym.
    thresholds
        Course thresholds.

    Returns
    -------
    list of dict
        Keyed by :data:`LONG_COLUMNS`, sorted by patient (pseudonym), side, timepoint,
        bone label.
    """
    recs = _records_by_foot(records)
    name = _namer(pseudonymizer)
    rows = []
    for tl in timelines:
        for c in bone_changes(tl, thresholds):
            study = tl.points[c.index].study
            rows.append({
                "patient": name(tl.patient), "side": tl.side, "timepoint": c.index,
                "study_date": c.study_date, "days_since_baseline": c.days,
                "bone": c.bone.bone_name, "bone_label": int(c.bone),
                "volume_ml": _num(c.edema_ml), "fraction": _num(c.fraction),
                "grade": c.grade, "change_since_baseline_ml": _num(c.change_since_baseline_ml),
                "change_since_previous_ml": _num(c.change_since_previous_ml),
                "course": c.course, "status": study.status, "reader": study.reader,
                "aofas": _num(_aofas(recs, tl, c.index)),
            })
    return _sorted(rows, ("timepoint", "bone_label"))


def _involved(m: Any, t: CourseThresholds) -> bool:
    return bool(m.grade >= 1) if m.grade is not None else m.edema_ml >= t.resolved_ml


def wide_rows(timelines: Sequence[Timeline], records: Sequence[Any] | None = None, *,
              pseudonymizer: Any = None,
              thresholds: CourseThresholds | None = None) -> list[dict[str, Any]]:
    """The wide table: one row per foot and study date, ``<bone>_ml`` / ``<bone>_grade``.

    Parameters are those of :func:`long_rows`; bones not assessed in a study are empty.
    """
    t = thresholds or CourseThresholds()
    recs = _records_by_foot(records)
    name = _namer(pseudonymizer)
    rows = []
    for tl in timelines:
        courses = foot_course(tl, t)
        base_total = courses[0][1]
        for p, (_, total, crs) in zip(tl.points, courses, strict=True):
            s = p.study
            row: dict[str, Any] = {
                "patient": name(tl.patient), "side": tl.side, "timepoint": p.index,
                "study_date": s.study_date.isoformat() if s.study_date else "",
                "days_since_baseline": p.days, "status": s.status, "reader": s.reader,
                "n_bones": sum(1 for m in s.bones if _involved(m, t)),
                "total_ml": _num(total),
                "total_change_since_baseline_ml": (None if p.index == 0
                                                   else _num(total - base_total)),
                "course": crs, "aofas": _num(_aofas(recs, tl, p.index)),
            }
            for b in Bone:
                m = s.measure(b)
                row[f"{b.bone_name}_ml"] = None if m is None else _num(m.edema_ml)
                row[f"{b.bone_name}_grade"] = None if m is None else m.grade
            rows.append(row)
    return _sorted(rows, ("timepoint",))


def dictionary_path(path: str | Path) -> Path:
    """The data dictionary written beside a CSV table: ``<stem>.dictionary.csv``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.dictionary.csv")


def _dictionary_rows(columns: Sequence[str]) -> list[list[str]]:
    out = []
    for c in columns:
        meaning, unit, kind = COLUMN_DOCS.get(c, ("", "", ""))
        out.append([c, meaning, unit, kind])
    return out


def _width(values: Sequence[Any]) -> float:
    longest = max((len(str(v)) for v in values if v is not None), default=4)
    return float(min(max(longest + 2, 6), 60))


def write_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                path: str | Path, *, sheet: str = "table",
                about: Sequence[str] = ()) -> Path:
    """Write a table as CSV (plus its data dictionary beside it) or XLSX, atomically.

    Parameters
    ----------
    rows
        Dicts keyed by ``columns`` (missing keys are empty cells).
    columns
        Column order.
    path
        ``.csv`` or ``.xlsx``.
    sheet
        Name of the XLSX data sheet.
    about
        Lines saying what the table holds and where it comes from (the XLSX ``about``
        sheet; the first line of the CSV dictionary's ``about`` rows).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ExportError
        If the suffix is neither ``.csv`` nor ``.xlsx``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        dictionary = _dictionary_rows(columns)
        dictionary += [["(about)", line, "", ""] for line in about]
        write_csv_atomic(dictionary_path(path), ("column", "meaning", "unit", "type"),
                         dictionary)
        return write_csv_atomic(path, columns, [dict(r) for r in rows])
    if suffix != ".xlsx":
        raise ExportError(f"{path}: write .csv or .xlsx")
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append(list(columns))
    for r in rows:
        ws.append([csv_cell(r.get(c)) if r.get(c) is not None else None for c in columns])
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    for n, c in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(n)].width = _width(
            [c, *(r.get(c) for r in rows[:500])])
    doc = wb.create_sheet("columns")
    doc.append(["column", "meaning", "unit", "type"])
    for line in _dictionary_rows(columns):
        doc.append([csv_cell(v) for v in line])
    for cell in doc[1]:
        cell.font = bold
    doc.freeze_panes = "A2"
    for letter, width in zip("ABCD", (30, 80, 14, 30), strict=True):
        doc.column_dimensions[letter].width = width
    info = wb.create_sheet("about")
    info.append(["about"])
    info["A1"].font = bold
    for text in about:
        info.append([csv_cell(text)])
    info.column_dimensions["A"].width = 100
    buf = io.BytesIO()
    wb.save(buf)
    return write_bytes_atomic(path, buf.getvalue())
