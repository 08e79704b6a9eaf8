"""Plots of the validation (matplotlib, Agg canvas, no display): ROC, FROC,
reliability, Bland-Altman. Each function writes one PNG atomically and returns it."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import write_bytes_atomic
from ._reads import BoneRead
from ._roc import FrocPoint, RocCurve

__all__ = ["plot_bland_altman", "plot_froc", "plot_reliability", "plot_roc"]


def _figure(size: tuple[float, float] = (5.0, 4.2)) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return write_bytes_atomic(path, buf.getvalue())


def _finish(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str, *,
            legend: str | None, share_x: bool = False, share_y: bool = True) -> Path:
    """Label the axes, title the plot, place the legend and save the PNG; an axis that
    shows a share (0..1) gets the limits -0.02..1.02."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if share_x:
        ax.set_xlim(-0.02, 1.02)
    if share_y:
        ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    if legend is not None:
        ax.legend(loc=legend, fontsize=8)
    return _save(fig, path)


def plot_roc(roc: RocCurve, path: Path, fitted_threshold: float | None = None) -> Path:
    """Bone-level ROC with the operating point (and the fitted threshold)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    fpr = [1.0 - p.confusion.specificity for p in roc.points]
    tpr = [p.confusion.sensitivity for p in roc.points]
    fpr, tpr = [*fpr, 1.0], [*tpr, 1.0]
    ax.plot(fpr, tpr, "-", color="tab:blue", drawstyle="steps-post",
            label=f"detector score (AUC {roc.auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    op = roc.operating
    ax.plot([1 - op.specificity], [op.sensitivity], "o", color="tab:red", ms=8,
            label=f"current operating point ({op.sensitivity:.2f} / {op.specificity:.2f})")
    if fitted_threshold is not None and math.isfinite(fitted_threshold):
        c = roc.at(fitted_threshold)
        ax.plot([1 - c.specificity], [c.sensitivity], "s", color="tab:green", ms=8,
                label=f"fitted threshold {fitted_threshold:.3f}")
    return _finish(fig, ax, path, "1 - specificity (bones)", "sensitivity (bones)",
                   "ROC, bone level", legend="lower right", share_x=True)


def plot_froc(points: Sequence[FrocPoint], path: Path) -> Path:
    """Region-level FROC with the operating point (every candidate region)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    x = [p.fp_per_study for p in points]
    y = [p.sensitivity for p in points]
    ax.plot(x, y, "-", color="tab:blue", drawstyle="steps-post", label="detector regions")
    if points:
        ax.plot([x[-1]], [y[-1]], "o", color="tab:red", ms=8, label="current operating point")
    return _finish(fig, ax, path, "false-positive regions per study",
                   "share of the reader's lesions found", "FROC, region level",
                   legend="lower right")


def plot_reliability(stated: Sequence[dict[str, Any]], path: Path,
                     calibrated: Sequence[dict[str, Any]] | None = None) -> Path:
    """Observed share read positive per probability bin, with Wilson intervals."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8, label="perfect calibration")
    for rows, colour, label in ((stated, "tab:blue", "stated confidence"),
                                (calibrated or [], "tab:green", "calibrated (fitted)")):
        if not rows:
            continue
        x = np.array([r["mean_probability"] for r in rows], float)
        y = np.array([r["observed_positive"] for r in rows], float)
        lo = y - np.array([r["observed_low"] for r in rows], float)
        hi = np.array([r["observed_high"] for r in rows], float) - y
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", color=colour, capsize=3, label=label)
    return _finish(fig, ax, path, "probability of edema the detector states",
                   "share of bones read positive", "Reliability", legend="upper left",
                   share_x=True)


def plot_bland_altman(bones: Sequence[BoneRead], path: Path) -> Path:
    """Detector minus reader edema volume against their mean, with limits of agreement."""
    from ..metrics import bland_altman

    involved = [b for b in bones if b.reader_call is not None
                and (b.detector_call or b.reader_call)]
    d = np.array([b.detector_ml for b in involved], float)
    r = np.array([b.reader_ml for b in involved], float)
    ba = bland_altman(d, r)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot((d + r) / 2, d - r, "o", color="tab:blue", alpha=0.7, ms=4)
    if ba.n:
        ax.axhline(ba.bias, color="tab:red", label=f"bias {ba.bias:.2f} ml")
    if ba.n > 1:
        for v in (ba.lower, ba.upper):
            ax.axhline(v, color="tab:red", ls="--", lw=0.8)
        ax.plot([], [], "--", color="tab:red", lw=0.8,
                label=f"95 % limits {ba.lower:.2f} to {ba.upper:.2f} ml")
    return _finish(fig, ax, path, "mean edema volume, detector and reader (ml)",
                   "detector - reader (ml)", f"Bland-Altman, edema volume per bone (n = {ba.n})",
                   legend="best" if ba.n else None, share_y=False)
