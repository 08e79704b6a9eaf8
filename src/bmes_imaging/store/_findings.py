"""Findings as the store accepts and returns them.

The store accepts :class:`bmes_imaging.findings.Finding` objects (the detector's
``BoneFinding``), any object with the same attributes, or plain dicts with the same keys
(read by :func:`bmes_imaging.findings.finding_from_dict`):

``bone`` (:class:`~bmes_imaging.bones.Bone`, label int or bone name, required),
``bone_volume_ml``, ``edema_volume_ml``, ``fraction`` (0-1), ``grade`` (0-3),
``t1_ratio``, ``fluid_ratio``, ``confidence`` (0-1), ``status`` (``"candidate"``,
``"confirmed"`` or ``"rejected"``; default ``"candidate"``), ``source`` (default: the
reader or source the findings are saved under), ``primary`` (bool, default False),
``bone_mask_quality`` (0-1, unknown by default).

It returns the same :class:`~bmes_imaging.findings.Finding` (:data:`StoredFinding` is
its name here), with the database ``finding_id``. Unknown numbers are NaN in a finding
and SQL NULL in the database: :func:`row_values` and :func:`from_row` convert at this
boundary (``bone_mask_quality`` is kept since schema 0004; findings saved before hold
NULL there, read as NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import FindingError, StoreError
from ..findings import (
    FINDING_STATUSES,
    NUMBER_FIELDS,
    Finding,
    finding_from_dict,
    finding_to_dict,
)

__all__ = ["FINDING_STATUSES", "StoredFinding", "audit_dict", "coerce_finding", "from_row",
           "row_values"]

#: A finding as the store returns it: the one finding model (the name is kept).
StoredFinding = Finding

#: The finding's fields the database keeps (columns of table ``finding``).
STORED_FIELDS: tuple[str, ...] = ("bone_volume_ml", "edema_volume_ml", "fraction", "grade",
                                  "t1_ratio", "fluid_ratio", "confidence", "status", "source",
                                  "primary", "bone_mask_quality")
_RANGED = ("fraction", "confidence", "bone_mask_quality")


def _as_mapping(obj: Any) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        return obj
    if isinstance(obj, Finding):
        return finding_to_dict(obj)
    return {name: getattr(obj, name) for name in ("bone", *STORED_FIELDS)
            if getattr(obj, name, None) is not None}


def coerce_finding(obj: Any, *, default_source: str, index: int = 0) -> Finding:
    """Validate a finding (object or dict, see module docs) as the store takes it.

    Beyond :class:`~bmes_imaging.findings.Finding`'s own checks: a known number must be
    finite, ``fraction``, ``confidence`` and ``bone_mask_quality`` within 0-1, and an
    empty ``source`` is ``default_source``.

    Raises
    ------
    StoreError
        Naming the finding's position and field; nothing is saved.
    """
    where = f"finding {index + 1}"
    data = dict(_as_mapping(obj))
    if not data.get("source"):
        data["source"] = default_source
    if not data.get("status"):
        data["status"] = "candidate"
    try:
        finding = finding_from_dict(data)
    except FindingError as exc:
        raise StoreError(f"{where}: {exc}; nothing was saved") from None
    name = finding.bone.bone_name
    for field in NUMBER_FIELDS:
        value = getattr(finding, field)
        if math.isinf(value):
            raise StoreError(f"{where} ({name}): {field} must be finite, found {value!r}; "
                             "nothing was saved")
    for field in _RANGED:
        value = getattr(finding, field)
        if not math.isnan(value) and not 0.0 <= value <= 1.0:
            raise StoreError(f"{where} ({name}): {field} must be within 0-1, found {value}; "
                             "nothing was saved")
    return finding


def row_values(finding: Finding) -> dict[str, Any]:
    """The column values of a finding's database row (NaN as NULL, status as its word)."""
    values = finding_to_dict(finding)
    return {name: values[name] for name in STORED_FIELDS}


def audit_dict(finding: Finding) -> dict[str, Any]:
    """A finding as the audit trail records it (before / after JSON): the bone by name
    and the stored fields (:func:`bmes_imaging.findings.finding_to_dict`, without what
    the store does not keep)."""
    return {"bone": finding.bone.bone_name, **row_values(finding)}


def from_row(row: Any) -> Finding:
    """The finding of a database row (NULL numbers as NaN)."""
    return Finding(bone=row.bone, finding_id=row.id,
                   **{name: getattr(row, name) for name in STORED_FIELDS})
