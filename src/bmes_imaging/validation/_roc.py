"""ROC over bones and FROC over regions, with the detector's current operating point.

* **ROC (bone level)**: each decided bone read is one case, the reader's call the
  truth, the detector's bone score (:func:`._score.bone_score`) the rating. A bone is
  called positive at threshold ``t`` when its score is ``>= t``. The area under the
  curve is the Mann-Whitney probability that a positive read scores above a negative
  one (ties count half).
* **FROC (region level)**: the detector's connected candidate regions (per bone) carry
  their bone's score; a region is a true positive when it overlaps the reader's final
  mask. At threshold ``t`` the curve gives the share of the reader's connected lesions
  touched by a region scoring ``>= t`` against the regions scoring ``>= t`` that touch
  no lesion, per read study.

The operating point is the detector's own calls (every stored candidate region).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import Confusion
from ._reads import BoneRead, ReadSet

__all__ = ["FROC_COLUMNS", "ROC_COLUMNS", "FrocPoint", "RocCurve", "froc_curve", "roc_curve"]

#: Columns of ``roc.csv``.
ROC_COLUMNS = ("threshold", "tp", "fp", "tn", "fn", "sensitivity", "specificity",
               "false_positive_rate", "operating_point")
#: Columns of ``froc.csv``.
FROC_COLUMNS = ("threshold", "lesions_found", "lesions", "lesion_sensitivity",
                "false_positive_regions", "false_positives_per_study", "operating_point")


@dataclass(frozen=True)
class RocPoint:
    """The confusion counts when calling bones positive with score >= ``threshold``."""

    threshold: float
    confusion: Confusion


@dataclass
class RocCurve:
    """Bone-level ROC: points from the strictest threshold down, AUC, operating point."""

    points: list[RocPoint]
    auc: float
    operating: Confusion
    operating_threshold: float

    def rows(self) -> list[dict[str, Any]]:
        """``roc.csv`` rows; the row at the operating threshold is marked."""
        out = []
        for p in self.points:
            c = p.confusion
            out.append({
                "threshold": _r(p.threshold), "tp": c.tp, "fp": c.fp, "tn": c.tn,
                "fn": c.fn, "sensitivity": _r(c.sensitivity),
                "specificity": _r(c.specificity),
                "false_positive_rate": _r(1.0 - c.specificity),
                "operating_point": "yes" if p.threshold == self.operating_threshold else "",
            })
        return out

    def at(self, threshold: float) -> Confusion:
        """Counts when calling positive with score >= ``threshold``."""
        best = None
        for p in self.points:  # thresholds descend; the last one >= threshold counts
            if p.threshold >= threshold:
                best = p.confusion
        if best is None:
            return self.points[0].confusion
        return best


def _r(v: float) -> float | None:
    return None if not math.isfinite(v) else round(float(v), 6)


def auc_mann_whitney(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(score of a positive > score of a negative) + 0.5 P(equal); ``nan`` if empty.

    Examples
    --------
    >>> auc_mann_whitney([0.9, 0.8, 0.4], [0.1, 0.4])
    0.9166666666666666
    """
    if not len(pos) or not len(neg):
        return math.nan
    p = np.asarray(pos, float)[:, None]
    n = np.asarray(neg, float)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def roc_curve(bones: Sequence[BoneRead]) -> RocCurve:
    """Bone-level ROC of the decided reads among ``bones``."""
    decided = [b for b in bones if b.reader_call is not None]
    scores = np.asarray([b.score for b in decided], float)
    truth = np.asarray([bool(b.reader_call) for b in decided], bool)
    calls = np.asarray([b.detector_call for b in decided], bool)
    points = [RocPoint(math.inf, Confusion.from_calls(truth, np.zeros_like(truth)))]
    for t in sorted(set(scores.tolist()), reverse=True):
        points.append(RocPoint(float(t), Confusion.from_calls(truth, scores >= t)))
    operating = Confusion.from_calls(truth, calls)
    pos_scores = scores[calls]
    op_t = float(pos_scores.min()) if pos_scores.size else math.inf
    auc = auc_mann_whitney(scores[truth].tolist(), scores[~truth].tolist())
    return RocCurve(points, auc, operating, op_t)


@dataclass(frozen=True)
class FrocPoint:
    """Lesions found and false-positive regions at one region-score threshold."""

    threshold: float
    lesions_found: int
    lesions: int
    false_positive_regions: int
    studies: int

    @property
    def sensitivity(self) -> float:
        """Share of the reader's lesions touched by a region at this threshold."""
        return self.lesions_found / self.lesions if self.lesions else math.nan

    @property
    def fp_per_study(self) -> float:
        """False-positive regions per read study."""
        return self.false_positive_regions / self.studies if self.studies else math.nan


def froc_curve(reads: ReadSet) -> list[FrocPoint]:
    """Region-level FROC (strictest threshold first); the last point is every region,
    the detector's operating point."""
    regions = [r for s in reads.studies for r in s.regions]
    lesions = np.asarray([x for s in reads.studies for x in s.lesion_scores], float)
    studies = len(reads.studies)
    thresholds = sorted({score for score, _ in regions}, reverse=True)
    out = []
    for t in [math.inf, *thresholds]:
        fp = sum(1 for score, hit in regions if score >= t and not hit)
        found = int((lesions >= t).sum())
        out.append(FrocPoint(t, found, int(lesions.size), fp, studies))
    return out


def froc_rows(points: Sequence[FrocPoint]) -> list[dict[str, Any]]:
    """``froc.csv`` rows; the last (every region) is the operating point."""
    return [{"threshold": _r(p.threshold), "lesions_found": p.lesions_found,
             "lesions": p.lesions, "lesion_sensitivity": _r(p.sensitivity),
             "false_positive_regions": p.false_positive_regions,
             "false_positives_per_study": _r(p.fp_per_study),
             "operating_point": "yes" if i == len(points) - 1 else ""}
            for i, p in enumerate(points)]
