"""Findings per bone: volumes, fraction, grade, signal ratios and a confidence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from ..bones import Bone
from ..findings import Finding, grade_for_fraction
from ..volume import Volume
from ._compare import Ratios, compute_ratios
from ._config import DetectionConfig

__all__ = ["BoneFinding", "apply_bone_mask_quality", "findings_from_masks", "findings_from_ratios",
           "grade_for_fraction"]

#: The finding of one bone: the one model of :mod:`bmes_imaging.findings` (this name is
#: kept for the detector's callers).
BoneFinding = Finding


def _confidence(positive: bool, score_mean: float, edema_ml: float, coverage: float,
                frac_suspicious: float, config: DetectionConfig) -> float:
    """Confidence of a row.

    Positive: grows with the strength of evidence, how far the mean evidence of the
    edema voxels (``z_fluid + z_t1``, in normal-marrow spreads) exceeds
    ``evidence_min``, and with the edema volume (relative to ``min_region_ml``).
    Negative: falls with the share of the bone's marrow whose evidence is half-way to
    ``evidence_min``. Both scale with coverage. A rule, not a calibrated probability.
    """
    if positive:
        k = max(config.evidence_min, 1e-3)
        margin = 1.0 - math.exp(-max(score_mean - k, 0.0) / k)
        size = 1.0 - math.exp(-edema_ml / (5.0 * config.min_region_ml))
        c = 0.4 + 0.6 * margin * size
    else:
        c = 1.0 - min(1.0, 5.0 * frac_suspicious)
        c = 0.3 + 0.7 * c
    return float(np.clip(c * min(1.0, coverage), 0.0, 1.0))


def findings_from_ratios(ratios: Ratios, edema: NDArray[np.integer], voxel_ml: float,
                         config: DetectionConfig) -> tuple[list[BoneFinding], list[str]]:
    """Findings per bone from precomputed ratios and a full-grid edema label map."""
    lab = ratios.labels
    ed = np.asarray(edema[ratios.crop])
    score = ratios.score(config)
    findings: list[BoneFinding] = []
    notes: list[str] = []
    n_lab = len(Bone) + 1

    def per_bone(mask: NDArray[np.bool_], weights: NDArray[np.floating] | None = None
                 ) -> NDArray[np.float64]:
        w = None if weights is None else weights[mask]
        return np.bincount(lab[mask], weights=w, minlength=n_lab).astype(np.float64)

    counts = np.bincount(lab.ravel(), minlength=n_lab)
    covered = per_bone(ratios.covered)
    ed_mask = (ed == lab) & (lab > 0)
    n_ed_all = per_bone(ed_mask)
    marrow = (ratios.depth >= config.reference_erosion_mm) & ratios.covered & (lab > 0)
    n_marrow = per_bone(marrow)
    thin = per_bone(ratios.covered & (lab > 0))  # bones too thin for the eroded marrow
    sums = {}
    for name, arr in (("t1", ratios.t1_ratio), ("fl", ratios.fluid_ratio), ("sc", score)):
        sums[name] = (per_bone(ed_mask, arr), per_bone(marrow, arr),
                      per_bone(ratios.covered & (lab > 0), arr))
    susp = per_bone(marrow & (score >= 0.5 * config.evidence_min))
    for b in Bone:
        i = int(b)
        n_bone = int(counts[i]) if i < len(counts) else 0
        bone_ml = n_bone * voxel_ml
        if n_bone == 0 or bone_ml < config.min_bone_ml:
            continue
        coverage = float(covered[i] / n_bone)
        n_ed = int(n_ed_all[i])
        fraction = n_ed / n_bone
        # ratios over the edema voxels, else over the bone's marrow (or whole bone)
        k, n = (0, n_ed) if n_ed else ((1, n_marrow[i]) if n_marrow[i] else (2, thin[i]))
        t1r = float(sums["t1"][k][i] / n) if n else float("nan")
        flr = float(sums["fl"][k][i] / n) if n else float("nan")
        sc = float(sums["sc"][k][i] / n) if n else 0.0
        suspicious = float(susp[i] / n_marrow[i]) if n_marrow[i] else 0.0
        grade = grade_for_fraction(fraction, config.grade_limits)
        conf = _confidence(grade > 0, sc, n_ed * voxel_ml, coverage, suspicious, config)
        if coverage < config.min_coverage:
            notes.append(f"{b.bone_name}: only {100 * coverage:.0f} % inside the fluid "
                         "series' field of view; not assessable")
            conf = 0.0
        elif coverage < 0.99:
            notes.append(f"{b.bone_name}: {100 * coverage:.0f} % inside the fluid series' "
                         "field of view")
        findings.append(BoneFinding(b, round(bone_ml, 4), round(n_ed * voxel_ml, 4),
                                    round(fraction, 4), grade, round(t1r, 3), round(flr, 3),
                                    round(conf, 3)))
    return findings, notes


def findings_from_masks(bones: Volume, edema: Volume, t1: Volume, fluid_aligned: Volume,
                        config: DetectionConfig | None = None) -> list[BoneFinding]:
    """Recompute the findings after a reader edited the edema (or bone) labels.

    Parameters
    ----------
    bones, edema
        Label maps on the T1 grid (edema voxels carry their bone's label; a voxel
        labelled as edema is counted for the bone label it carries).
    t1, fluid_aligned
        The T1 image and the fluid image resampled into the T1 grid
        (``EdemaResult.fluid_aligned``); 0 in the fluid image means not covered.
    config
        Detection settings (reference estimation, grade limits).

    Returns
    -------
    list of BoneFinding
        One per bone present, status ``"candidate"``.
    """
    cfg = config or DetectionConfig()
    for name, vol in (("edema", edema), ("t1", t1), ("fluid_aligned", fluid_aligned)):
        if vol.shape != bones.shape or not np.allclose(vol.affine, bones.affine, atol=1e-3):
            raise ValueError(f"findings_from_masks: {name} is not on the bones' grid "
                             f"({vol.shape} vs {bones.shape})")
    fl = np.asarray(fluid_aligned.array, dtype=np.float32)
    covered = fl != 0
    ratios = compute_ratios(t1.array, fl, bones.array, covered, t1.voxel_sizes, cfg)
    # an edema voxel counts for the bone label it carries, within that bone
    ed = np.where(np.asarray(edema.array) == np.asarray(bones.array), edema.array, 0)
    findings, _ = findings_from_ratios(ratios, ed, t1.voxel_volume_ml, cfg)
    return findings


def apply_bone_mask_quality(findings: list[BoneFinding], bones: Volume) -> list[BoneFinding]:
    """The findings with ``bone_mask_quality`` set from automatic masks
    (``bones.info.extra["bone_mask_quality"]``) and the confidence capped by it (new
    findings: ``dataclasses.replace``; the list given is left as it is)."""
    quality = bones.info.extra.get("bone_mask_quality") or {}
    out = []
    for f in findings:
        q = quality.get(int(f.bone))
        if q is not None:
            f = dataclasses.replace(f, bone_mask_quality=float(q),
                                    confidence=round(min(f.confidence, float(q)), 3))
        out.append(f)
    return out
