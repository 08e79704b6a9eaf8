"""Derived clinical classes, all in one place: vitamin D status, lab flags, AOFAS change.

Every rule that turns a measured value into a class lives here, so the import, the
store, the reports and the viewer agree.

Vitamin D (serum 25(OH)D), per the Turkish Society of Endocrinology and Metabolism
guideline used by the study:

===================  ==============  =====================
25(OH)D (ng/mL)      nmol/L          class
===================  ==============  =====================
<= 20                <= 49.9         ``"deficient"``
20 < x < 30          49.9 - 74.9     ``"insufficient"``
>= 30                >= 74.9         ``"sufficient"``
===================  ==============  =====================

The guideline writes the middle band as 21-29 ng/mL; values between 20 and 21 (and
between 29 and 30) are put in the insufficient band so that every value has a class.

Lab values (ESR, CRP, RF, anti-CCP, ...) are flagged against
:class:`LabReferenceRanges`, which the user can configure (laboratories differ); the
defaults are common adult upper limits.

Examples
--------
>>> vitamin_d_class(20.0), vitamin_d_class(20.4), vitamin_d_class(30)
('deficient', 'insufficient', 'sufficient')
>>> LabReferenceRanges().flag("crp_mg_l", 12.0)
'high'
>>> aofas_change(63, 92)
29.0
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LAB_RANGES_ENV",
    "NMOL_L_PER_NG_ML",
    "VITAMIN_D_CLASSES",
    "LabReferenceRanges",
    "ReferenceRange",
    "aofas_change",
    "vitamin_d_class",
]

#: 1 ng/mL of 25(OH)D is 2.496 nmol/L.
NMOL_L_PER_NG_ML = 2.496

#: Environment variable naming a JSON file of lab reference ranges.
LAB_RANGES_ENV = "BMES_LAB_RANGES"

#: The vitamin D classes, from worst to best.
VITAMIN_D_CLASSES: tuple[str, ...] = ("deficient", "insufficient", "sufficient")

_DEFICIENT_MAX_NG_ML = 20.0
_SUFFICIENT_MIN_NG_ML = 30.0


def vitamin_d_class(ng_ml: float) -> str:
    """Class of a serum 25(OH)D value given in ng/mL.

    Parameters
    ----------
    ng_ml
        Serum 25(OH)D in ng/mL (convert nmol/L first: divide by
        :data:`NMOL_L_PER_NG_ML`).

    Returns
    -------
    str
        ``"deficient"`` (<= 20), ``"insufficient"`` (20 < x < 30) or ``"sufficient"``
        (>= 30).

    Raises
    ------
    ValueError
        If the value is negative or not a finite number.

    Examples
    --------
    >>> [vitamin_d_class(v) for v in (7.1, 20, 20.5, 29.9, 30, 45)]
    ['deficient', 'deficient', 'insufficient', 'insufficient', 'sufficient', 'sufficient']
    """
    value = float(ng_ml)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"25(OH)D must be a finite value >= 0 ng/mL, found {ng_ml!r}")
    if value <= _DEFICIENT_MAX_NG_ML:
        return "deficient"
    if value < _SUFFICIENT_MIN_NG_ML:
        return "insufficient"
    return "sufficient"


def aofas_change(aofas_initial: float | None, aofas_final: float | None) -> float | None:
    """AOFAS ankle-hindfoot score change from diagnosis to last control (final - initial).

    Returns ``None`` when either score is missing. Positive means improvement.

    Examples
    --------
    >>> aofas_change(52, 90), aofas_change(None, 90)
    (38.0, None)
    """
    if aofas_initial is None or aofas_final is None:
        return None
    return float(aofas_final) - float(aofas_initial)


@dataclass(frozen=True)
class ReferenceRange:
    """Reference (normal) range of one lab value.

    Attributes
    ----------
    low, high
        Inclusive limits; ``None`` means unbounded on that side.
    unit
        Unit of the limits (for display).
    """

    low: float | None
    high: float | None
    unit: str = ""

    def flag(self, value: float | None) -> str | None:
        """``"low"``, ``"normal"`` or ``"high"``; ``None`` for a missing value."""
        if value is None:
            return None
        if self.low is not None and value < self.low:
            return "low"
        if self.high is not None and value > self.high:
            return "high"
        return "normal"


@dataclass(frozen=True)
class LabReferenceRanges:
    """Reference ranges used to flag lab values; configure them per laboratory.

    Field names are the :class:`~bmes_imaging.clinical.ClinicalRecord` attributes they
    apply to. Defaults are common adult limits: ESR <= 20 mm/h (Westergren), CRP <= 5
    mg/L, RF <= 14 IU/mL, anti-CCP <= 17 U/mL, hemoglobin 12-17.5 g/dL, leukocytes
    4-11 x10^9/L.

    Examples
    --------
    >>> ranges = LabReferenceRanges().replace(esr_mm_h=ReferenceRange(None, 15, "mm/h"))
    >>> ranges.flag("esr_mm_h", 18)
    'high'
    >>> LabReferenceRanges.from_mapping({"crp_mg_l": [0, 10]}).flag("crp_mg_l", 8)
    'normal'
    """

    esr_mm_h: ReferenceRange = field(
        default_factory=lambda: ReferenceRange(None, 20.0, "mm/h"))
    crp_mg_l: ReferenceRange = field(
        default_factory=lambda: ReferenceRange(None, 5.0, "mg/L"))
    rf: ReferenceRange = field(
        default_factory=lambda: ReferenceRange(None, 14.0, "IU/mL"))
    anti_ccp: ReferenceRange = field(
        default_factory=lambda: ReferenceRange(None, 17.0, "U/mL"))
    hemoglobin_g_dl: ReferenceRange = field(
        default_factory=lambda: ReferenceRange(12.0, 17.5, "g/dL"))
    leukocytes_10e9_l: ReferenceRange = field(
        default_factory=lambda: ReferenceRange(4.0, 11.0, "10^9/L"))

    @classmethod
    def lab_names(cls) -> tuple[str, ...]:
        """Names of the labs that have a reference range."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **ranges: ReferenceRange) -> LabReferenceRanges:
        """Copy with some ranges replaced."""
        return dataclasses.replace(self, **ranges)

    def flag(self, lab: str, value: float | None) -> str | None:
        """Flag ``value`` of lab ``lab`` (``"low"``/``"normal"``/``"high"``/``None``)."""
        if lab not in self.lab_names():
            raise KeyError(f"no reference range for {lab!r}; known: {', '.join(self.lab_names())}")
        rng: ReferenceRange = getattr(self, lab)
        return rng.flag(value)

    def flags(self, record: Any) -> dict[str, str | None]:
        """Flags of every lab of a clinical record (missing values give ``None``)."""
        return {lab: self.flag(lab, getattr(record, lab, None)) for lab in self.lab_names()}

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> LabReferenceRanges:
        """Build from ``{lab: [low, high]}`` or ``{lab: {"low":..., "high":..., "unit":...}}``.

        Labs not named keep their default range.

        Raises
        ------
        ValueError
            For an unknown lab name or a malformed range.
        """
        base = cls()
        changes: dict[str, ReferenceRange] = {}
        for lab, spec in mapping.items():
            if lab not in cls.lab_names():
                raise ValueError(f"unknown lab {lab!r} in reference ranges; "
                                 f"known: {', '.join(cls.lab_names())}")
            unit = getattr(base, lab).unit
            if isinstance(spec, Mapping):
                low, high, unit = spec.get("low"), spec.get("high"), spec.get("unit", unit)
            elif isinstance(spec, (list, tuple)) and len(spec) == 2:
                low, high = spec
            else:
                raise ValueError(f"reference range of {lab!r} must be [low, high] or "
                                 f"{{'low':..., 'high':...}}, found {spec!r}")
            for v in (low, high):
                if v is not None and not isinstance(v, (int, float)):
                    raise ValueError(f"reference range of {lab!r}: limits must be numbers "
                                     f"or null, found {v!r}")
            changes[lab] = ReferenceRange(None if low is None else float(low),
                                          None if high is None else float(high), str(unit))
        return base.replace(**changes)

    @classmethod
    def from_json(cls, path: str | Path) -> LabReferenceRanges:
        """Read ranges from a JSON file holding a mapping as in :meth:`from_mapping`.

        Raises
        ------
        ValueError
            If the file is not valid JSON or names an unknown lab or a bad range.
        """
        with open(path, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, Mapping):
            raise ValueError(
                f"{path}: expected a JSON object {{lab: [low, high], ...}}")
        return cls.from_mapping(data)

    @classmethod
    def configured(cls) -> LabReferenceRanges:
        """The laboratory's ranges: the JSON file named by ``$BMES_LAB_RANGES``, else defaults.

        Use this wherever lab values are flagged, so a laboratory configures its ranges
        once (see :meth:`from_mapping` for the file's content).
        """
        path = os.environ.get(LAB_RANGES_ENV)
        return cls.from_json(path) if path else cls()
