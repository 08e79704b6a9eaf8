"""Figures of the detector against the reads: overall, per bone, scanner, sequence, reader.

Bone level (decided reads only, see :mod:`._reads`): sensitivity, specificity and PPV
of the detector's calls with Wilson 95 % intervals, and Cohen's kappa of detector and
reader calls. Masks: voxel Dice of candidate and final masks, pooled (sum of
intersections over sum of sizes) and as the mean of per-study Dice (per-bone Dice for
the bone groups). Volumes: Bland-Altman of the detector's minus the reader's edema
volume (ml) over bones either called positive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import BlandAltman, Confusion, bland_altman, cohen_kappa
from ._reads import BoneRead, ReadSet, StudyRead

__all__ = ["SUMMARY_COLUMNS", "GroupSummary", "summarise", "summary_rows"]

#: Columns of ``summary.csv`` (one row per group).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "group", "value", "studies", "readers", "reads", "bones", "undecided", "positives",
    "negatives", "tp", "fp", "tn", "fn", "sensitivity", "sensitivity_low",
    "sensitivity_high", "specificity", "specificity_low", "specificity_high", "ppv",
    "ppv_low", "ppv_high", "kappa", "dice_pooled", "dice_mean", "volume_pairs",
    "volume_bias_ml", "volume_sd_ml", "volume_loa_low_ml", "volume_loa_high_ml",
)


@dataclass
class GroupSummary:
    """The figures of one group of reads (``group`` / ``value``, e.g. bone / talus)."""

    group: str
    value: str
    studies: int
    readers: int
    reads: int
    bones: int
    undecided: int
    confusion: Confusion
    kappa: float
    dice_pooled: float
    dice_mean: float
    volume: BlandAltman

    def row(self) -> dict[str, Any]:
        """The ``summary.csv`` row (rounded numbers, empty when undefined)."""
        c = self.confusion
        out: dict[str, Any] = {
            "group": self.group, "value": self.value, "studies": self.studies,
            "readers": self.readers, "reads": self.reads, "bones": self.bones,
            "undecided": self.undecided, "positives": c.positives,
            "negatives": c.negatives, "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn,
            "kappa": self.kappa, "dice_pooled": self.dice_pooled,
            "dice_mean": self.dice_mean, "volume_pairs": self.volume.n,
            "volume_bias_ml": self.volume.bias, "volume_sd_ml": self.volume.sd,
            "volume_loa_low_ml": self.volume.lower, "volume_loa_high_ml": self.volume.upper,
        }
        for name in ("sensitivity", "specificity", "ppv"):
            lo, hi = c.interval(name)
            out[name], out[f"{name}_low"], out[f"{name}_high"] = getattr(c, name), lo, hi
        return {k: _round(v) for k, v in out.items()}


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return None if not math.isfinite(v) else round(v, 4)
    return v


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def summarise(group: str, value: str, bones: Sequence[BoneRead],
              studies: Sequence[StudyRead], *, per_bone_dice: bool = False
              ) -> GroupSummary:
    """The figures of one group of bone reads (``studies``: the reads they come from)."""
    decided = [b for b in bones if b.reader_call is not None]
    truth = [bool(b.reader_call) for b in decided]
    calls = [b.detector_call for b in decided]
    conf = Confusion.from_calls(truth, calls)
    kappa = cohen_kappa(np.asarray(truth, int), np.asarray(calls, int)) if decided \
        else math.nan
    inter = sum(s.intersection for s in studies)
    size = sum(s.size for s in studies)
    pooled = 2.0 * inter / size if size and not per_bone_dice else math.nan
    involved = [b for b in decided if b.detector_call or b.reader_call]
    if per_bone_dice:
        dmean = _mean([b.dice for b in involved])
    else:
        dmean = _mean([s.dice for s in studies])
    volume = bland_altman([b.detector_ml for b in involved], [b.reader_ml for b in involved])
    return GroupSummary(
        group, value, len({s.study_instance_uid for s in studies}),
        len({s.reader for s in studies}), len(studies), len(decided),
        len(bones) - len(decided), conf, kappa, pooled, dmean, volume)


def _by(reads: ReadSet, key: Callable[[StudyRead], str]) -> dict[str, list[StudyRead]]:
    out: dict[str, list[StudyRead]] = {}
    for s in reads.studies:
        out.setdefault(key(s), []).append(s)
    return dict(sorted(out.items()))


def summary_rows(reads: ReadSet) -> list[GroupSummary]:
    """Overall, then per bone, scanner, fluid sequence and reader."""
    out = [summarise("overall", "all", reads.bone_reads, reads.studies)]
    per_bone: dict[int, list[BoneRead]] = {}
    for b in reads.bone_reads:
        per_bone.setdefault(int(b.bone), []).append(b)
    for label in sorted(per_bone):
        bones = per_bone[label]
        keys = {(b.study_instance_uid, b.series_instance_uid, b.reader) for b in bones}
        studies = [s for s in reads.studies
                   if (s.study_instance_uid, s.series_instance_uid, s.reader) in keys]
        out.append(summarise("bone", bones[0].bone.bone_name, bones, studies,
                             per_bone_dice=True))
    for group, key in (("scanner", lambda s: s.scanner), ("sequence", lambda s: s.sequence),
                       ("reader", lambda s: s.reader)):
        for value, studies in _by(reads, key).items():
            out.append(summarise(group, value, [b for s in studies for b in s.bones],
                                 studies))
    return out
