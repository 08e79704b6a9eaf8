"""Agreement and accuracy measures, defined once for the whole toolkit.

Dice of two masks, Cohen's kappa of two raters, the confusion counts of binary calls
against a reference (sensitivity, specificity, PPV, NPV), the Wilson score interval of
a proportion and the Bland-Altman limits of agreement of two measurements.

Undefined values (a proportion of nothing, kappa when both raters gave one category
for everything, Dice of two empty masks) are ``nan``, never an exception.

Examples
--------
>>> from bmes_imaging.metrics import Confusion, dice, wilson_interval
>>> c = Confusion.from_calls(truth=[1, 1, 1, 0, 0], calls=[1, 1, 0, 0, 1])
>>> (c.tp, c.fn, c.tn, c.fp), round(c.sensitivity, 3), c.specificity
((2, 1, 1, 1), 0.667, 0.5)
>>> dice([1, 1, 0, 0], [1, 0, 0, 0])
0.6666666666666666
>>> [round(x, 3) for x in wilson_interval(8, 10)]
[0.49, 0.943]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "BlandAltman",
    "Confusion",
    "bland_altman",
    "cohen_kappa",
    "dice",
    "dice_from_counts",
    "proportion",
    "wilson_interval",
]

#: Normal quantile of two-sided 95 % intervals.
Z95 = 1.959963984540054


def dice_from_counts(intersection: int, total: int) -> float:
    """Dice from voxel counts: ``2 * intersection / total`` (``total`` = voxels of both
    masks); ``nan`` when both are empty.

    Examples
    --------
    >>> dice_from_counts(1, 3)
    0.6666666666666666
    """
    return 2.0 * intersection / total if total else math.nan


def dice(a: Any, b: Any) -> float:
    """Dice coefficient of two binary masks; ``nan`` if both are empty.

    Examples
    --------
    >>> dice([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666666
    """
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"Dice needs masks of one shape ({x.shape} vs {y.shape})")
    return dice_from_counts(int(np.logical_and(x, y).sum()), int(x.sum()) + int(y.sum()))


def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's kappa of two raters' binary (or categorical) calls; ``nan`` if undefined.

    Examples
    --------
    >>> cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0])
    0.5
    """
    x, y = np.asarray(a).ravel(), np.asarray(b).ravel()
    if x.shape != y.shape:
        raise ValueError(f"kappa needs as many calls from both raters ({x.size} vs {y.size})")
    if x.size == 0:
        return math.nan
    cats = np.union1d(x, y)
    p_o = float(np.mean(x == y))
    p_e = float(sum(np.mean(x == c) * np.mean(y == c) for c in cats))
    if p_e >= 1.0:
        return math.nan
    return (p_o - p_e) / (1.0 - p_e)


def proportion(k: int, n: int) -> float:
    """``k / n``, ``nan`` when ``n`` is 0."""
    return k / n if n else math.nan


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (default 95 %).

    Unlike the normal approximation it stays inside 0-1 and is usable at 0 / n and
    n / n. ``(nan, nan)`` when ``n`` is 0.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(0, 20)]
    [0.0, 0.1611]
    """
    if n <= 0:
        return (math.nan, math.nan)
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval: k must be within 0-{n}, found {k}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Confusion:
    """Counts of binary calls against a reference.

    Attributes
    ----------
    tp, fp, tn, fn
        True / false positives and negatives.
    """

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @classmethod
    def from_calls(cls, truth: Any, calls: Any) -> Confusion:
        """Count ``calls`` (bool-like) against ``truth`` (bool-like) of the same length."""
        t, c = np.asarray(truth, dtype=bool).ravel(), np.asarray(calls, dtype=bool).ravel()
        if t.shape != c.shape:
            raise ValueError(f"as many calls as reference values needed ({c.size} vs "
                             f"{t.size})")
        return cls(tp=int((t & c).sum()), fp=int((~t & c).sum()),
                   tn=int((~t & ~c).sum()), fn=int((t & ~c).sum()))

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.tn + other.tn,
                         self.fn + other.fn)

    @property
    def n(self) -> int:
        """Number of calls."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def positives(self) -> int:
        """Reference positives (TP + FN)."""
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        """Reference negatives (TN + FP)."""
        return self.tn + self.fp

    @property
    def sensitivity(self) -> float:
        """TP / (TP + FN)."""
        return proportion(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        """TN / (TN + FP)."""
        return proportion(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float:
        """Positive predictive value TP / (TP + FP)."""
        return proportion(self.tp, self.tp + self.fp)

    @property
    def npv(self) -> float:
        """Negative predictive value TN / (TN + FN)."""
        return proportion(self.tn, self.tn + self.fn)

    def interval(self, name: str, z: float = Z95) -> tuple[float, float]:
        """Wilson interval of ``"sensitivity"``, ``"specificity"``, ``"ppv"`` or ``"npv"``."""
        k, n = {"sensitivity": (self.tp, self.tp + self.fn),
                "specificity": (self.tn, self.tn + self.fp),
                "ppv": (self.tp, self.tp + self.fp),
                "npv": (self.tn, self.tn + self.fn)}[name]
        return wilson_interval(k, n, z)


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman agreement of two measurements of the same things (``a - b``).

    Attributes
    ----------
    n
        Number of pairs.
    bias
        Mean difference ``a - b``.
    sd
        Standard deviation of the differences (``ddof=1``; ``nan`` below 2 pairs).
    lower, upper
        95 % limits of agreement ``bias -/+ 1.96 sd``.
    """

    n: int
    bias: float
    sd: float
    lower: float
    upper: float


def bland_altman(a: Sequence[float] | Any, b: Sequence[float] | Any, z: float = Z95
                 ) -> BlandAltman:
    """Bias and limits of agreement of paired measurements ``a`` and ``b``.

    Examples
    --------
    >>> ba = bland_altman([1.0, 2.0, 3.0], [1.0, 1.0, 2.0])
    >>> ba.n, round(ba.bias, 3), round(ba.sd, 3)
    (3, 0.667, 0.577)
    """
    x, y = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"Bland-Altman needs pairs ({x.size} vs {y.size} values)")
    d = x - y
    if d.size == 0:
        return BlandAltman(0, math.nan, math.nan, math.nan, math.nan)
    bias = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else math.nan
    return BlandAltman(int(d.size), bias, sd, bias - z * sd, bias + z * sd)
