"""The detector's score of a bone, the one number validation ranks and thresholds.

A finding carries a ``score`` attribute when the detector gives one (a finite number,
higher meaning more likely edema): it is used as it is. Otherwise the score is derived
from the stored ``confidence`` (how sure the detector is of its row, positive or
negative) so that every positive call ranks above every negative one:

* positive call (edema present, grade >= 1): ``0.5 + confidence / 2`` (0.5-1);
* negative call: ``0.5 - max(confidence, 0.002) / 2`` (0-0.499).

The detector's own calls are therefore "score >= 0.5" for the derived score, and a
threshold above the smallest positive score can be applied after detection (a
positive bone below it is reported negative). A lower threshold cannot be applied
after detection: a bone the detector called negative has no edema region to report.

The *stated probability* of edema of a row is ``confidence`` for a positive call and
``1 - confidence`` for a negative one; the reliability table compares it with the
reads.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["bone_score", "detector_positive", "stated_probability"]


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def detector_positive(finding: Any) -> bool:
    """True when the detector called edema in this bone (grade >= 1, or edema volume
    above 0 without a grade), whatever a reader did later."""
    grade = getattr(finding, "grade", None)
    if grade is not None:
        return int(grade) >= 1
    vol = _number(getattr(finding, "edema_volume_ml", None))
    return vol is not None and vol > 0


def bone_score(finding: Any) -> float:
    """The detector's score of a bone finding (see module docs).

    Examples
    --------
    >>> from types import SimpleNamespace as F
    >>> bone_score(F(grade=2, confidence=0.8)), bone_score(F(grade=0, confidence=0.8))
    (0.9, 0.09999999999999998)
    >>> bone_score(F(grade=0, confidence=0.1, score=3.5))
    3.5
    """
    given = _number(getattr(finding, "score", None))
    if given is not None:
        return given
    conf = _number(getattr(finding, "confidence", None)) or 0.0
    conf = min(max(conf, 0.0), 1.0)
    if detector_positive(finding):
        return 0.5 + conf / 2.0
    return 0.5 - max(conf, 0.002) / 2.0


def stated_probability(finding: Any) -> float:
    """Probability of edema the row states: ``confidence`` if positive, else ``1 -``."""
    conf = _number(getattr(finding, "confidence", None))
    if conf is None:
        return math.nan
    return conf if detector_positive(finding) else 1.0 - conf
