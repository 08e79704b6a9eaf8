"""Findings as the store accepts and returns them.

The store accepts :class:`bmes_imaging.detection.BoneFinding` objects, any object with
the same attributes, or plain dicts with the same keys:

``bone`` (:class:`~bmes_imaging.bones.Bone`, label int or bone name, required),
``bone_volume_ml``, ``edema_volume_ml``, ``fraction`` (0-1), ``grade`` (0-3),
``t1_ratio``, ``fluid_ratio``, ``confidence`` (0-1), ``status`` (``"candidate"``,
``"confirmed"`` or ``"rejected"``; default ``"candidate"``), ``source`` (default: the
reader or source the findings are saved under), ``primary`` (bool, default False).

It returns :class:`StoredFinding` objects, which have the same attributes plus the
database ``finding_id`` (NaN, the detector's "unknown", is stored and returned as
``None``; :meth:`StoredFinding.as_bone_finding` turns it back into NaN).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..bones import Bone, bone_from_label, bone_from_name
from ..errors import StoreError
from ..findings import FINDING_STATUSES, is_involved

__all__ = ["FINDING_STATUSES", "StoredFinding", "coerce_finding", "finding_to_dict"]


_NUMBERS = ("bone_volume_ml", "edema_volume_ml", "fraction", "t1_ratio", "fluid_ratio",
            "confidence")


@dataclass(frozen=True)
class StoredFinding:
    """One bone's finding as stored (same attributes as ``detection.BoneFinding``).

    Attributes
    ----------
    bone
        The bone.
    bone_volume_ml, edema_volume_ml, fraction
        Bone volume, edema volume (mL) and their ratio.
    grade
        0 none, 1 < 25 %, 2 25-50 %, 3 > 50 % of the bone.
    t1_ratio, fluid_ratio
        Edema-to-normal-marrow signal ratios on T1 and on the fluid-sensitive series.
    confidence
        Detector confidence 0-1.
    status
        ``"candidate"``, ``"confirmed"`` or ``"rejected"``.
    source
        ``"detector"`` or the reader's name.
    primary
        The primary (main) affected bone of the foot.
    finding_id
        Database id (``None`` before saving).
    """

    bone: Bone
    bone_volume_ml: float | None = None
    edema_volume_ml: float | None = None
    fraction: float | None = None
    grade: int | None = None
    t1_ratio: float | None = None
    fluid_ratio: float | None = None
    confidence: float | None = None
    status: str = "candidate"
    source: str = "detector"
    primary: bool = False
    finding_id: int | None = None

    @property
    def involved(self) -> bool:
        """True if the bone counts as involved: not rejected and edema present.

        Edema is present when the grade is >= 1, or (without a grade) the edema volume
        is above 0; a finding with neither counts as involved unless rejected.
        """
        return is_involved(self.status, self.grade, self.edema_volume_ml)

    @property
    def positive(self) -> bool:
        """Same as :attr:`involved` (the name ``detection.BoneFinding`` uses)."""
        return self.involved

    def as_bone_finding(self) -> Any:
        """Convert to a ``bmes_imaging.detection.BoneFinding``."""
        from ..detection import BoneFinding  # type: ignore[attr-defined]

        fields = finding_to_dict(self)
        fields["bone"] = self.bone
        for name in _NUMBERS:
            if fields[name] is None:
                fields[name] = math.nan
        fields["grade"] = 0 if self.grade is None else self.grade
        return BoneFinding(**fields)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def coerce_finding(obj: Any, *, default_source: str, index: int = 0) -> StoredFinding:
    """Validate a finding (object or dict, see module docs) into a :class:`StoredFinding`.

    Raises
    ------
    StoreError
        Naming the finding's position and field; nothing is saved.
    """
    where = f"finding {index + 1}"
    raw_bone = _get(obj, "bone")
    try:
        if isinstance(raw_bone, Bone):
            bone = raw_bone
        elif isinstance(raw_bone, numbers.Integral) and not isinstance(raw_bone, bool):
            bone = bone_from_label(int(raw_bone))
        elif isinstance(raw_bone, str):
            bone = bone_from_name(raw_bone)
        else:
            raise KeyError(f"bone must be a Bone, label or name, found {raw_bone!r}")
    except KeyError as exc:
        raise StoreError(f"{where}: {exc.args[0]}; nothing was saved") from None
    values: dict[str, Any] = {}
    for name in _NUMBERS:
        v = _get(obj, name)
        if v is None:
            values[name] = None
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise StoreError(f"{where} ({bone.bone_name}): {name} must be a number, "
                             f"found {v!r}; nothing was saved") from None
        if math.isnan(f):  # the detector's "unknown"
            values[name] = None
            continue
        if not math.isfinite(f):
            raise StoreError(f"{where} ({bone.bone_name}): {name} must be finite, found {v!r}")
        values[name] = f
    for name in ("fraction", "confidence"):
        if values[name] is not None and not 0.0 <= values[name] <= 1.0:
            raise StoreError(f"{where} ({bone.bone_name}): {name} must be within 0-1, found "
                             f"{values[name]}; nothing was saved")
    grade = _get(obj, "grade")
    if grade is not None:
        ok = (isinstance(grade, numbers.Real) and not isinstance(grade, bool)
              and math.isfinite(float(grade)) and float(grade).is_integer()
              and 0 <= float(grade) <= 3)
        if not ok:
            raise StoreError(f"{where} ({bone.bone_name}): grade must be 0-3, found "
                             f"{grade!r}; nothing was saved")
        grade = int(float(grade))
    status = _get(obj, "status") or "candidate"
    if status not in FINDING_STATUSES:
        raise StoreError(f"{where} ({bone.bone_name}): status must be one of "
                         f"{', '.join(FINDING_STATUSES)}, found {status!r}; nothing was saved")
    source = _get(obj, "source") or default_source
    return StoredFinding(bone=bone, grade=grade, status=str(status), source=str(source),
                         primary=bool(_get(obj, "primary", False)), **values)


def finding_to_dict(finding: StoredFinding) -> dict[str, Any]:
    """JSON-friendly dict of a finding (bone by name, no database id)."""
    d = asdict(finding)
    d.pop("finding_id", None)
    d["bone"] = finding.bone.bone_name
    return d
