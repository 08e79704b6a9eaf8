"""Calibration: how often bones are read positive at each stated probability, and a fit.

* :func:`reliability_table`: decided bone reads in equal-width bins of a probability
  (the detector's stated probability, or a calibrated one), each with the observed
  share read positive and its Wilson 95 % interval. A calibrated detector's rows lie
  on the diagonal.
* :class:`LogisticCalibration`: ``P(read positive | score) = 1 / (1 + exp(-(a + b
  score)))`` fitted by maximum likelihood (Newton steps on standardised scores, a
  small ridge penalty on the slope so that perfectly separated reads still give a
  finite, steep curve). Two parameters:
  stable on the few hundred bones a site has; monotone, so the ranking (ROC) is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..metrics import wilson_interval

__all__ = ["RELIABILITY_COLUMNS", "LogisticCalibration", "fit_logistic", "reliability_table"]

#: Columns of ``reliability.csv``.
RELIABILITY_COLUMNS = ("bin_low", "bin_high", "bones", "mean_probability",
                       "observed_positive", "observed_low", "observed_high")


def reliability_table(probabilities: Sequence[float], truth: Sequence[bool],
                      bins: int = 10) -> list[dict[str, float | int | None]]:
    """Reliability rows over ``bins`` equal-width probability bins (empty bins left out).

    Examples
    --------
    >>> rows = reliability_table([0.1, 0.15, 0.9, 0.95], [False, True, True, True], bins=2)
    >>> [(r["bones"], r["observed_positive"]) for r in rows]
    [(2, 0.5), (2, 1.0)]
    """
    p = np.asarray(probabilities, float)
    t = np.asarray(truth, bool)
    keep = np.isfinite(p)
    p, t = np.clip(p[keep], 0.0, 1.0), t[keep]
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows: list[dict[str, float | int | None]] = []
    for i in range(bins):
        sel = idx == i
        n = int(sel.sum())
        if n == 0:
            continue
        k = int(t[sel].sum())
        lo, hi = wilson_interval(k, n)
        rows.append({"bin_low": round(i / bins, 4), "bin_high": round((i + 1) / bins, 4),
                     "bones": n, "mean_probability": round(float(p[sel].mean()), 4),
                     "observed_positive": round(k / n, 4), "observed_low": round(lo, 4),
                     "observed_high": round(hi, 4)})
    return rows


@dataclass(frozen=True)
class LogisticCalibration:
    """Probability of a positive read as a logistic function of the bone score."""

    intercept: float
    slope: float

    def probability(self, score: float | np.ndarray) -> float | np.ndarray:
        """Calibrated probability of edema at ``score``.

        Examples
        --------
        >>> LogisticCalibration(-5.0, 10.0).probability(0.5)
        0.5
        """
        z = self.intercept + self.slope * np.asarray(score, float)
        out = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        return float(out) if np.ndim(out) == 0 else out


def fit_logistic(scores: Sequence[float], truth: Sequence[bool], *, ridge: float = 0.01,
                 iterations: int = 100) -> LogisticCalibration:
    """Maximum-likelihood logistic fit of ``truth`` on ``scores`` (see module docs).

    The scores are standardised for the fit (the ridge penalty ``ridge * b**2 / 2``
    acts on the standardised slope), then the curve is given on the original scale.

    Raises
    ------
    ValueError
        If there are no positive or no negative reads.
    """
    x = np.asarray(scores, float)
    y = np.asarray(truth, bool).astype(float)
    if x.size == 0 or y.min() == y.max():
        raise ValueError("a calibration needs positive and negative reads")
    centre = float(x.mean())
    scale = float(x.std()) or 1.0
    X = np.column_stack([np.ones_like(x), (x - centre) / scale])
    w = np.array([math.log(y.mean() / (1 - y.mean())), 0.0])
    penalty = np.diag([0.0, ridge])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -500, 500)))
        grad = X.T @ (p - y) + penalty @ w
        hess = X.T @ (X * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if float(np.abs(step).max()) < 1e-10:
            break
    slope = float(w[1]) / scale
    return LogisticCalibration(float(w[0]) - slope * centre, slope)
