"""Clinical records for exports and reports (read through :mod:`bmes_imaging.clinical`).

Exports take records with the attributes of
:class:`bmes_imaging.clinical.ClinicalRecord` (one record per foot), from a table
(:func:`read_records`) or from the store (``Store.clinical_records()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ClinicalRecordError

__all__ = ["patients_of", "read_records", "vitamin_d_class_of"]


def vitamin_d_class_of(ng_ml: float | None) -> str | None:
    """Vitamin D class of a serum 25(OH)D value in ng/mL (None when unknown).

    The thresholds are :func:`bmes_imaging.clinical.vitamin_d_class`'s.

    Examples
    --------
    >>> vitamin_d_class_of(20.0), vitamin_d_class_of(24.2), vitamin_d_class_of(None)
    ('deficient', 'insufficient', None)
    """
    from ..clinical import vitamin_d_class

    return None if ng_ml is None else str(vitamin_d_class(float(ng_ml)))


def read_records(path: str | Path) -> list[Any]:
    """Read a clinical table (CSV or XLSX) into validated records, one per foot.

    Raises
    ------
    ClinicalRecordError
        If the file is missing or invalid (every problem is listed).
    """
    from ..clinical import read_clinical_table

    path = Path(path)
    if not path.is_file():
        raise ClinicalRecordError("clinical table not found; give the path of the CSV or XLSX",
                                  source=path)
    return list(read_clinical_table(path))


def patients_of(records: Sequence[Any]) -> list[Any]:
    """One record per patient (the first foot), in table order, for patient-level figures."""
    seen: dict[str, Any] = {}
    for rec in records:
        seen.setdefault(str(rec.patient), rec)
    return list(seen.values())
