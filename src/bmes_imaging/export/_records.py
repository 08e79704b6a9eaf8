"""Clinical records for exports and reports.

Exports and the cohort report read the clinical table through the STORE engineer's
:func:`bmes_imaging.clinical.read_clinical_table` (validated, one record per foot).
Until that module lands, a small reader of the seed table's CSV shape stands in, with
the same record attribute names (:class:`FootRecord` mirrors ``ClinicalRecord``).
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..bones import Bone, bone_from_name
from ..errors import ClinicalRecordError

__all__ = ["ClinicalLike", "FootRecord", "read_records", "vitamin_d_class_of"]


class ClinicalLike(Protocol):
    """The attributes of a clinical record (one foot) that exports and reports use."""

    patient: str
    age: float | None
    sex: str | None
    side: str
    primary_bones: tuple[Bone, ...]
    other_bones: tuple[Bone, ...]
    symptom_months: float | None
    complaint_to_visit_months: float | None
    vitamin_d_ng_ml: float | None
    aofas_initial: float | None
    aofas_final: float | None


@dataclass(frozen=True)
class FootRecord:
    """One foot's clinical record (stand-in shape of ``ClinicalRecord``)."""

    patient: str
    age: float | None
    sex: str | None
    side: str
    primary_bones: tuple[Bone, ...]
    other_bones: tuple[Bone, ...] = ()
    symptom_months: float | None = None
    complaint_to_visit_months: float | None = None
    vitamin_d_ng_ml: float | None = None
    aofas_initial: float | None = None
    aofas_final: float | None = None
    rheumatoid_arthritis: bool | None = None
    esr_mm_h: float | None = None
    crp_mg_l: float | None = None

    @property
    def vitamin_d_class(self) -> str | None:
        """``'deficient'`` (<= 20), ``'insufficient'`` (20-30) or ``'sufficient'``."""
        return vitamin_d_class_of(self.vitamin_d_ng_ml)


def vitamin_d_class_of(ng_ml: float | None) -> str | None:
    """Vitamin D class of a serum 25(OH)D value in ng/mL (None when unknown).

    Uses :func:`bmes_imaging.clinical.vitamin_d_class` when available (the single
    source of the thresholds); the same thresholds otherwise: deficient <= 20,
    insufficient 20 < x < 30, sufficient >= 30.

    Examples
    --------
    >>> vitamin_d_class_of(20.0), vitamin_d_class_of(24.2), vitamin_d_class_of(30)
    ('deficient', 'insufficient', 'sufficient')
    """
    if ng_ml is None:
        return None
    clinical = _clinical_module()
    if clinical is not None and hasattr(clinical, "vitamin_d_class"):
        return str(clinical.vitamin_d_class(float(ng_ml)))
    if ng_ml <= 20:
        return "deficient"
    if ng_ml < 30:
        return "insufficient"
    return "sufficient"


def _clinical_module() -> Any | None:
    try:
        return importlib.import_module("bmes_imaging.clinical")
    except ModuleNotFoundError:
        return None


def read_records(path: str | Path) -> list[Any]:
    """Read a clinical table (CSV or XLSX) into one record per foot.

    Parameters
    ----------
    path
        The clinical table, e.g. ``table1_clinical.csv``.

    Returns
    -------
    list
        Records with the attributes of :class:`ClinicalLike` (``ClinicalRecord`` from
        :mod:`bmes_imaging.clinical` when available).

    Raises
    ------
    ClinicalRecordError
        If the file is missing or a field cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise ClinicalRecordError("clinical table not found; give the path of the CSV or XLSX",
                                  source=path)
    clinical = _clinical_module()
    if clinical is not None and hasattr(clinical, "read_clinical_table"):
        return list(clinical.read_clinical_table(path))
    return _read_seed_csv(path)


_BOOL = {"yes": True, "y": True, "true": True, "1": True,
         "no": False, "n": False, "false": False, "0": False}


def _read_seed_csv(path: Path) -> list[FootRecord]:
    if path.suffix.lower() != ".csv":
        raise ClinicalRecordError("only CSV clinical tables can be read here", source=path)
    records: list[FootRecord] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for row_no, row in enumerate(reader, start=2):
            def num(col: str, _row: dict[str, str] = row, _no: int = row_no) -> float | None:
                text = (_row.get(col) or "").strip()
                if not text:
                    return None
                try:
                    return float(text.replace(",", "."))
                except ValueError:
                    raise ClinicalRecordError(f"expected a number, found {text!r}",
                                              source=path, row=_no, column=col) from None

            def bones(col: str, _row: dict[str, str] = row,
                      _no: int = row_no) -> tuple[Bone, ...]:
                text = (_row.get(col) or "").strip()
                try:
                    return tuple(bone_from_name(b) for b in text.split("+") if b.strip())
                except KeyError as exc:
                    raise ClinicalRecordError(str(exc), source=path, row=_no,
                                              column=col) from None

            sides = [s.strip().upper() for s in (row.get("side") or "").split("+") if s.strip()]
            if not sides or any(s not in ("L", "R") for s in sides):
                raise ClinicalRecordError(f"side must be L, R or R+L, found {row.get('side')!r}",
                                          source=path, row=row_no, column="side")
            ra = (row.get("rheumatoid_arthritis") or "").strip().lower()
            for side in sides:
                records.append(FootRecord(
                    patient=(row.get("patient") or "").strip(),
                    age=num("age"),
                    sex=(row.get("sex") or "").strip().upper() or None,
                    side=side,
                    primary_bones=bones("primary_bone"),
                    other_bones=bones("other_bones"),
                    symptom_months=num("symptom_months"),
                    complaint_to_visit_months=num("complaint_to_visit_months"),
                    vitamin_d_ng_ml=num("vitd_ng_ml"),
                    aofas_initial=num("aofas_initial"),
                    aofas_final=num("aofas_final"),
                    rheumatoid_arthritis=_BOOL.get(ra),
                ))
    return records


def patients_of(records: Sequence[Any]) -> list[Any]:
    """One record per patient (the first foot), in table order, for patient-level figures."""
    seen: dict[str, Any] = {}
    for rec in records:
        seen.setdefault(str(rec.patient), rec)
    return list(seen.values())
