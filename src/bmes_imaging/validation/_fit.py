"""Fit site settings on the reads: a decision threshold and a calibration.

The threshold is chosen on the bone-level ROC among those that can be applied after
detection (the detector's own threshold and stricter ones, see :mod:`._score`):
the highest one still reaching ``target_sensitivity`` when given, else the one with
the largest Youden index (sensitivity + specificity - 1; the lower threshold on ties).
The calibration is a logistic fit of the reads on the score. The expected figures are
those of the fitted reads at the chosen threshold, with Wilson 95 % intervals.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from .. import __version__
from ._calibration import fit_logistic
from ._reads import ReadSet
from ._roc import RocCurve, roc_curve
from ._site_config import SiteConfig, SiteConfigError

__all__ = ["MIN_NEGATIVE", "MIN_POSITIVE", "choose_threshold", "fit_site_config"]

#: Fewest positive and negative bone reads a fit accepts.
MIN_POSITIVE = 20
MIN_NEGATIVE = 20


def choose_threshold(roc: RocCurve, target_sensitivity: float | None = None) -> float:
    """The decision threshold (see module docs) from a bone-level ROC."""
    op = roc.operating_threshold
    usable = [p for p in roc.points if math.isfinite(p.threshold) and p.threshold >= op]
    if not usable:
        return op
    if target_sensitivity is not None:
        ok = [p for p in usable if p.confusion.sensitivity >= target_sensitivity]
        return max(ok, key=lambda p: p.threshold).threshold if ok else op

    def youden(p: object) -> float:
        c = p.confusion  # type: ignore[attr-defined]
        j = c.sensitivity + c.specificity - 1.0
        return j if math.isfinite(j) else -math.inf

    best = max(youden(p) for p in usable)
    return min(p.threshold for p in usable if youden(p) == best)


def fit_site_config(reads: ReadSet, *, target_sensitivity: float | None = None,
                    min_positive: int = MIN_POSITIVE, min_negative: int = MIN_NEGATIVE
                    ) -> SiteConfig:
    """Site settings fitted on ``reads``.

    Raises
    ------
    SiteConfigError
        With fewer than ``min_positive`` positive or ``min_negative`` negative decided
        bone reads (the message says how many there are and how many are needed).
    """
    decided = reads.decided
    pos = sum(1 for b in decided if b.reader_call)
    neg = len(decided) - pos
    if pos < min_positive or neg < min_negative:
        raise SiteConfigError(
            f"too few reads to fit site settings: {pos} positive and {neg} negative bone "
            f"reads (confirmed or rejected, {len(reads.studies)} reviewed studies); at "
            f"least {min_positive} positive and {min_negative} negative are needed. "
            "Review more studies, then run `bmes validate --fit` again")
    if target_sensitivity is not None and not 0.0 < target_sensitivity <= 1.0:
        raise SiteConfigError(f"target sensitivity must be within 0-1, found "
                              f"{target_sensitivity}")
    roc = roc_curve(decided)
    threshold = choose_threshold(roc, target_sensitivity)
    cal = fit_logistic([b.score for b in decided], [bool(b.reader_call) for b in decided])
    c = roc.at(threshold)
    expected: dict[str, object] = {"bone_score_min": threshold}
    for name in ("sensitivity", "specificity", "ppv"):
        lo, hi = c.interval(name)
        expected[name] = round(getattr(c, name), 4)
        expected[f"{name}_ci"] = [round(lo, 4), round(hi, 4)]
    op = roc.operating
    expected["current_sensitivity"] = round(op.sensitivity, 4)
    expected["current_specificity"] = round(op.specificity, 4)
    times = sorted(s.read_at for s in reads.studies)
    fitted_on = {
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bmes_imaging_version": __version__,
        "studies": len(reads.study_uids), "reads": len(reads.studies),
        "readers": len(reads.readers), "positive_bones": pos, "negative_bones": neg,
        "undecided_bones": len(reads.bone_reads) - len(decided),
        "first_read": times[0].date().isoformat(), "last_read": times[-1].date().isoformat(),
        "score": "detector score, else derived from confidence (bmes_imaging.validation)",
        "rule": ("target sensitivity " + str(target_sensitivity)) if target_sensitivity
                else "largest Youden index",
    }
    return SiteConfig(bone_score_min=threshold, calibration=cal,
                      fitted_on=fitted_on, expected=expected)
