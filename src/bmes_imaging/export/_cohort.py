"""The cohort summary: the study's figures recomputed from the records and findings.

Patient-level figures (age, sex, symptom duration, 25(OH)D, AOFAS) count each patient
once (a bilateral patient has two foot records); foot-level figures (bones involved,
single / two / three-bone feet) count feet.

When no record carries "other affected bones" (the seed table lost that column), the
per-bone foot counts from the records are lower bounds ("at least") and the number of
single-bone feet an upper bound: the summary says so instead of presenting them as
exact.

Examples
--------
>>> from bmes_imaging.clinical import ClinicalRecord
>>> from bmes_imaging.bones import Bone
>>> recs = [ClinicalRecord("1", 20, "M", "L", (Bone.TALUS,), vitamin_d_ng_ml=10.0),
...         ClinicalRecord("2", 40, "F", "R", (Bone.CUBOID,), (Bone.NAVICULAR,))]
>>> s = summarize_cohort(recs)
>>> s["age_mean"].value, s["sex_male"].value, s["feet_talus"].value
(30.0, 1, 1)
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._outbound import from_csv_cell
from ..bones import Bone, bone_from_name
from ..errors import ExportError
from ..followup._timeline import involvement_rows_of_status
from ._records import patients_of, vitamin_d_class_of

__all__ = [
    "BONE_GROUPS",
    "CohortSummary",
    "Figure",
    "FootFindings",
    "findings_from_store",
    "findings_statuses",
    "read_findings_table",
    "summarize_cohort",
]

#: Groups of bones the study counts together ("cuneiform" = any of the three).
BONE_GROUPS: dict[str, tuple[Bone, ...]] = {
    "cuneiform": (Bone.MEDIAL_CUNEIFORM, Bone.INTERMEDIATE_CUNEIFORM, Bone.LATERAL_CUNEIFORM),
}

EXACT, AT_LEAST, AT_MOST = "exact", "at_least", "at_most"


@dataclass(frozen=True)
class Figure:
    """One recomputed figure.

    Attributes
    ----------
    key
        Stable identifier (``"age_mean"``, ``"sex_male"``, ``"feet_talus"``...), the key
        stated figures refer to.
    label
        Words for people.
    value
        The number (None when no record has the field).
    bound
        ``"exact"``, ``"at_least"`` (lower bound: the records cannot show more) or
        ``"at_most"``.
    unit
        Unit text (``"years"``, ``"ng/mL"``, ``"feet"``...).
    note
        Why a figure is a bound, or what it was computed from.
    kind
        ``"count"`` (patients, feet), ``"mean"`` or ``"value"`` (a minimum, maximum...);
        only means can differ from a stated figure by rounding.
    """

    key: str
    label: str
    value: float | None
    bound: str = EXACT
    unit: str = ""
    note: str = ""
    kind: str = "value"

    def formatted(self, decimals: int | None = None) -> str:
        """The value as text, with ``>=`` / ``<=`` for bounds."""
        if self.value is None:
            return "n/a"
        if decimals is None:
            decimals = 0 if float(self.value).is_integer() else 2
        text = f"{self.value:.{decimals}f}"
        return {AT_LEAST: ">= ", AT_MOST: "<= "}.get(self.bound, "") + text


@dataclass(frozen=True)
class FootFindings:
    """Confirmed (or candidate) edema per foot from detection or a reader.

    Attributes
    ----------
    patient, side
        The foot.
    bones
        Involved bones, largest edema first.
    edema_ml
        Edema volume (mL) per involved bone.
    status
        ``"confirmed"`` or ``"candidate"``: what these findings are.
    primary
        Reader-marked primary bone, if any.
    grades
        Grade (1-3) per involved bone, when known.
    readers
        Who produced the findings (``"detector"``, readers' names).
    """

    patient: str
    side: str
    bones: tuple[Bone, ...]
    edema_ml: Mapping[Bone, float] = field(default_factory=dict)
    status: str = "confirmed"
    primary: Bone | None = None
    grades: Mapping[Bone, int] = field(default_factory=dict)
    readers: tuple[str, ...] = ()


@dataclass
class CohortSummary:
    """Recomputed figures plus the per-patient series the plots need."""

    figures: dict[str, Figure]
    patients: list[Any]
    records: list[Any]
    findings: list[FootFindings] = field(default_factory=list)
    findings_status: str | None = None

    def __getitem__(self, key: str) -> Figure:
        return self.figures[key]

    def __contains__(self, key: object) -> bool:
        return key in self.figures


def _mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def _vals(records: Iterable[Any], attr: str) -> list[float]:
    out = []
    for rec in records:
        v = getattr(rec, attr, None)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            out.append(float(v))
    return out


def _foot_bones(rec: Any) -> tuple[Bone, ...]:
    seen: dict[Bone, None] = {}
    for b in (*tuple(getattr(rec, "primary_bones", ()) or ()),
              *tuple(getattr(rec, "other_bones", ()) or ())):
        seen.setdefault(Bone(b), None)
    return tuple(seen)


def summarize_cohort(records: Sequence[Any], findings: Sequence[FootFindings] = (), *,
                     other_bones_recorded: bool | None = None) -> CohortSummary:
    """Recompute the study's summary figures.

    Parameters
    ----------
    records
        Clinical records, one per foot (``ClinicalRecord`` or the same attributes).
    findings
        Optional per-foot findings (from screening or reader annotations); adds the
        ``findings_feet_<bone>`` and ``findings_feet_single_bone`` / ``_two_bones`` /
        ``_three_bones`` / ``_more_bones`` figures. Must all have the same status.
    other_bones_recorded
        Whether the records list every other involved bone. ``None``: true if any
        record has other bones. When false, per-bone counts are lower bounds.

    Returns
    -------
    CohortSummary

    Raises
    ------
    ExportError
        If there are no records, or candidate and confirmed findings are mixed.
    """
    if not records:
        raise ExportError("no clinical records to summarise; check the clinical table")
    records = list(records)
    patients = patients_of(records)
    if other_bones_recorded is None:
        other_bones_recorded = any(getattr(r, "other_bones", ()) for r in records)
    figs: dict[str, Figure] = {}

    def add(key: str, label: str, value: float | None, bound: str = EXACT,
            unit: str = "", note: str = "") -> None:
        kind = ("mean" if key.endswith("_mean") else
                "count" if unit in ("patients", "feet") else "value")
        figs[key] = Figure(key, label, value, bound, unit, note, kind)

    add("patients", "Patients", len(patients), unit="patients")
    add("feet", "Feet", len(records), unit="feet")
    _patient_figures(add, patients)
    _foot_figures(add, records, other_bones_recorded)
    status = _findings_figures(add, findings) if findings else None
    return CohortSummary(figs, patients, records, list(findings), status)


def _patient_figures(add: Any, patients: Sequence[Any]) -> None:
    """Patient-level figures: age, sex, symptom times, 25(OH)D, AOFAS, RA."""
    ages = _vals(patients, "age")
    add("age_mean", "Mean age", _mean(ages), unit="years")
    add("age_min", "Youngest", min(ages) if ages else None, unit="years")
    add("age_max", "Oldest", max(ages) if ages else None, unit="years")
    sexes = Counter((getattr(p, "sex", None) or "").upper() for p in patients)
    add("sex_male", "Male patients", sexes.get("M", 0), unit="patients")
    add("sex_female", "Female patients", sexes.get("F", 0), unit="patients")
    for attr, key, label in (
        ("symptom_months", "symptom_months", "Symptom duration"),
        ("complaint_to_visit_months", "time_to_visit_months", "Time from complaint to visit"),
    ):
        vals = _vals(patients, attr)
        add(f"{key}_mean", f"Mean {label.lower()}", _mean(vals), unit="months")
        add(f"{key}_min", f"Shortest {label.lower()}", min(vals) if vals else None,
            unit="months")
        add(f"{key}_max", f"Longest {label.lower()}", max(vals) if vals else None,
            unit="months")
    vitd = _vals(patients, "vitamin_d_ng_ml")
    add("vitamin_d_mean", "Mean serum 25(OH)D", _mean(vitd), unit="ng/mL")
    add("vitamin_d_min", "Lowest serum 25(OH)D", min(vitd) if vitd else None, unit="ng/mL")
    add("vitamin_d_max", "Highest serum 25(OH)D", max(vitd) if vitd else None, unit="ng/mL")
    classes = Counter(vitamin_d_class_of(v) for v in vitd)
    for cls in ("deficient", "insufficient", "sufficient"):
        add(f"vitamin_d_{cls}", f"Vitamin D {cls}", classes.get(cls, 0), unit="patients",
            note="deficient <= 20, insufficient 20-30, sufficient >= 30 ng/mL")
    a0, a1 = _vals(patients, "aofas_initial"), _vals(patients, "aofas_final")
    add("aofas_initial_mean", "Mean AOFAS at diagnosis", _mean(a0), unit="points")
    add("aofas_final_mean", "Mean AOFAS at last control", _mean(a1), unit="points")
    pairs = [(float(p.aofas_initial), float(p.aofas_final)) for p in patients
             if getattr(p, "aofas_initial", None) is not None
             and getattr(p, "aofas_final", None) is not None]
    add("aofas_change_mean", "Mean AOFAS change", _mean([b - a for a, b in pairs]),
        unit="points")
    ra = [p for p in patients if getattr(p, "rheumatoid_arthritis", None)]
    add("rheumatoid_arthritis", "Patients with rheumatoid arthritis", len(ra), unit="patients")


def _foot_figures(add: Any, records: Sequence[Any], other_bones_recorded: bool) -> None:
    """Foot-level figures from the records: feet per bone, bones per foot."""
    bound_note = ("" if other_bones_recorded else
                  "the records have no 'other affected bones': counted from primary bones only")
    bone_bound = EXACT if other_bones_recorded else AT_LEAST
    per_foot = [_foot_bones(r) for r in records]
    _bone_figures(add, "feet", "Feet with edema in", per_foot, bone_bound, bound_note)
    n_bones = Counter(len(b) for b in per_foot)
    for n, word in ((1, "single"), (2, "two"), (3, "three")):
        key = "feet_single_bone" if n == 1 else f"feet_{word}_bones"
        if other_bones_recorded:
            add(key, f"Feet with {word}-bone involvement", n_bones.get(n, 0), unit="feet")
        elif n == 1:
            add(key, "Feet with single-bone involvement", n_bones.get(1, 0), AT_MOST,
                "feet", bound_note)
        else:
            add(key, f"Feet with {word}-bone involvement", n_bones.get(n, 0), AT_LEAST,
                "feet", bound_note)


def _findings_figures(add: Any, findings: Sequence[FootFindings]) -> str:
    """Figures from imaging findings of one status; returns that status."""
    statuses = {f.status for f in findings}
    if len(statuses) > 1:
        raise ExportError("findings mix candidate and confirmed edema "
                          f"({', '.join(sorted(statuses))}); summarise one kind at a time")
    status = statuses.pop()
    _bone_figures(add, "findings_feet", f"Feet with {status} edema in",
                  [f.bones for f in findings], EXACT, f"{status} findings")
    add("findings_feet", f"Feet with {status} findings", len(findings), unit="feet")
    n_bones = Counter(len(f.bones) for f in findings)
    for n, word in ((1, "single"), (2, "two"), (3, "three")):
        key = "findings_feet_single_bone" if n == 1 else f"findings_feet_{word}_bones"
        add(key, f"Feet with {word}-bone {status} edema", n_bones.get(n, 0), unit="feet")
    add("findings_feet_more_bones", f"Feet with four or more bones with {status} edema",
        sum(v for k, v in n_bones.items() if k >= 4), unit="feet")
    return status


def _bone_figures(add: Any, prefix: str, label: str, per_foot: Sequence[tuple[Bone, ...]],
                  bound: str, note: str) -> None:
    for bone in Bone:
        n = sum(1 for bones in per_foot if bone in bones)
        add(f"{prefix}_{bone.bone_name}", f"{label} {bone.display_name.lower()}", n, bound,
            "feet", note)
    for group, members in BONE_GROUPS.items():
        n = sum(1 for bones in per_foot if any(b in bones for b in members))
        add(f"{prefix}_{group}", f"{label} a {group}", n, bound, "feet", note)


def findings_statuses(path: str | Path) -> Counter[str]:
    """How many rows of each status an involvement CSV holds (bones with edema only).

    Raises
    ------
    ExportError
        If the file is missing or is not an involvement table.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: findings table not found")
    out: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "status" not in (reader.fieldnames or ()):
            raise ExportError(f"{path}: not an involvement table (no 'status' column)")
        for row in reader:
            grade = (row.get("grade") or "").strip()
            if grade in ("0", "0.0"):
                continue
            out[(row.get("status") or "").strip() or "(empty)"] += 1
    return out


def read_findings_table(path: str | Path, *, status: str = "confirmed",
                        studies: Collection[str] | None = None) -> list[FootFindings]:
    """Read per-foot findings of one status from an involvement CSV.

    Accepts the detection/screening ``involvement.csv`` (one row per study and bone,
    columns ``patient_id, side, bone, edema_volume_ml, grade, status``...). Rows of other
    statuses are skipped, so candidates and confirmed findings are never mixed; bones
    assessed without edema (grade 0) are skipped too.

    Parameters
    ----------
    path
        The involvement CSV.
    status
        ``"confirmed"`` or ``"candidate"``.
    studies
        Only rows of these StudyInstanceUIDs (e.g. the baseline study of each foot when
        the table also holds follow-up studies); ``None``: every row.

    Returns
    -------
    list of FootFindings
        One per foot with at least one finding of that status.
    """
    path = Path(path)
    if status not in ("confirmed", "candidate"):
        raise ExportError(f"status must be 'confirmed' or 'candidate', found {status!r}")
    feet: dict[tuple[str, str], dict[Bone, float]] = {}
    grades: dict[tuple[str, str], dict[Bone, int]] = {}
    primary: dict[tuple[str, str], Bone] = {}
    for row_no, row in involvement_rows_of_status(
            path, status, ("patient_id", "side", "bone", "status")):
        if studies is not None and from_csv_cell(
                (row.get("study_instance_uid") or "").strip()) not in studies:
            continue
        try:
            bone = bone_from_name(row["bone"])
            ml = float(row.get("edema_volume_ml") or 0.0)
            grade = int(float(row["grade"])) if row.get("grade") else None
        except (KeyError, ValueError) as exc:
            raise ExportError(f"{path}: row {row_no}: {exc}") from None
        if (grade == 0) or (grade is None and ml <= 0.0):
            continue  # the bone was assessed and holds no edema
        key = (from_csv_cell(str(row["patient_id"]).strip()),
               str(row["side"]).strip().upper())
        feet.setdefault(key, {})[bone] = ml
        if grade is not None:
            grades.setdefault(key, {})[bone] = grade
        if (row.get("primary") or "").strip().lower() in ("1", "true", "yes"):
            primary[key] = bone
    out = []
    by: tuple[str, ...] = ("detector",) if status == "candidate" else ()
    for (patient, side), vols in feet.items():
        order = tuple(sorted(vols, key=lambda b: (-vols[b], int(b))))
        out.append(FootFindings(patient, side, order, dict(vols), status,
                                primary.get((patient, side)),
                                grades.get((patient, side), {}), by))
    return out


def findings_from_store(store: Any, *, status: str = "confirmed") -> list[FootFindings]:
    """Per-foot findings of one status from the annotation store.

    For every study linked to a foot, the newest annotation version's findings with
    ``status`` that show edema (grade >= 1, or an edema volume) are collected. A foot
    with several linked studies keeps the bones of all of them.

    Parameters
    ----------
    store
        An open :class:`bmes_imaging.store.Store`.
    status
        ``"confirmed"`` or ``"candidate"``.
    """
    if status not in ("confirmed", "candidate"):
        raise ExportError(f"status must be 'confirmed' or 'candidate', found {status!r}")
    feet: dict[tuple[str, str], dict[Bone, float]] = {}
    grades: dict[tuple[str, str], dict[Bone, int]] = {}
    readers: dict[tuple[str, str], set[str]] = {}
    primary: dict[tuple[str, str], Bone] = {}
    for uid, foot in store.study_links().items():
        if foot is None:
            continue
        for f in store.latest_findings(uid):
            if f.status != status or not f.involved:
                continue
            key = (str(foot[0]), str(foot[1]).upper())
            ml = float(f.edema_volume_ml)  # NaN: not measured (a reader's bare call)
            feet.setdefault(key, {})[Bone(int(f.bone))] = 0.0 if math.isnan(ml) else ml
            if getattr(f, "grade", None) is not None:
                grades.setdefault(key, {})[Bone(int(f.bone))] = int(f.grade)
            if getattr(f, "source", None):
                readers.setdefault(key, set()).add(str(f.source))
            if f.primary:
                primary[key] = Bone(int(f.bone))
    out = []
    for (patient, side), vols in feet.items():
        order = tuple(sorted(vols, key=lambda b: (-vols[b], int(b))))
        out.append(FootFindings(patient, side, order, dict(vols), status,
                                primary.get((patient, side)),
                                grades.get((patient, side), {}),
                                tuple(sorted(readers.get((patient, side), ())))))
    return out
