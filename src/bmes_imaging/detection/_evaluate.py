"""Evaluation of detector output against ground truth (phantom truth or reader labels).

A *truth* or *prediction* location may be

* an edema NIfTI file (``edema.nii.gz``; a ``bones.nii.gz`` beside it is used if there);
* a folder holding ``edema.nii.gz`` (and ``bones.nii.gz``), e.g. ``bmes detect`` output;
* a phantom study folder holding ``truth/edema.nii.gz``;
* a folder of such study folders: studies are matched by sub-folder name.

Metrics: bone-level sensitivity and specificity (a bone is positive in the truth when
its edema reaches ``min_truth_ml``, in the prediction when it has any edema voxel;
negatives are the other bones of the truth bone map), voxel Dice of the edema (any
bone), and per-bone Dice of the bone masks when both sides have ``bones.nii.gz``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..bones import Bone
from ..errors import DetectionError
from ..geometry import resample_to
from ..metrics import dice, dice_from_counts
from ..volume import Volume, load_nifti

__all__ = ["Evaluation", "StudyScore", "evaluate", "score_arrays", "score_study"]


@dataclass
class StudyScore:
    """Scores of one study."""

    name: str
    tp: list[Bone] = field(default_factory=list)
    fp: list[Bone] = field(default_factory=list)
    tn: list[Bone] = field(default_factory=list)
    fn: list[Bone] = field(default_factory=list)
    intersection: int = 0
    truth_voxels: int = 0
    pred_voxels: int = 0
    bone_dice: dict[Bone, float] = field(default_factory=dict)

    @property
    def dice(self) -> float:
        """Voxel Dice of the edema (NaN when neither side has edema)."""
        return dice_from_counts(self.intersection, self.truth_voxels + self.pred_voxels)


@dataclass
class Evaluation:
    """Scores of all studies and their summary."""

    studies: list[StudyScore]

    def _count(self, what: str) -> int:
        return sum(len(getattr(s, what)) for s in self.studies)

    @property
    def sensitivity(self) -> float:
        """TP / (TP + FN) over all bones of all studies."""
        p = self._count("tp") + self._count("fn")
        return self._count("tp") / p if p else float("nan")

    @property
    def specificity(self) -> float:
        """TN / (TN + FP) over all bones of all studies."""
        n = self._count("tn") + self._count("fp")
        return self._count("tn") / n if n else float("nan")

    @property
    def dice(self) -> float:
        """Pooled voxel Dice (all studies' voxels together)."""
        return dice_from_counts(sum(s.intersection for s in self.studies),
                                sum(s.truth_voxels + s.pred_voxels for s in self.studies))

    @property
    def mean_dice(self) -> float:
        """Mean per-study Dice over studies whose truth holds edema."""
        d = [s.dice for s in self.studies if s.truth_voxels > 0]
        return float(np.mean(d)) if d else float("nan")

    def bone_dice(self) -> dict[Bone, float]:
        """Mean bone-mask Dice per bone over studies where both masks exist."""
        acc: dict[Bone, list[float]] = {}
        for s in self.studies:
            for b, d in s.bone_dice.items():
                acc.setdefault(b, []).append(d)
        return {b: float(np.mean(v)) for b, v in sorted(acc.items())}

    def table(self) -> str:
        """A plain-text summary table."""
        lines = [f"{'study':<24} {'TP':>3} {'FP':>3} {'TN':>3} {'FN':>3} {'Dice':>6}"
                 "  missed / false"]
        for s in self.studies:
            miss = ",".join(b.bone_name for b in s.fn)
            false = ",".join(b.bone_name for b in s.fp)
            lines.append(f"{s.name:<24} {len(s.tp):>3} {len(s.fp):>3} {len(s.tn):>3} "
                         f"{len(s.fn):>3} {s.dice:>6.3f}  {miss or '-'} / {false or '-'}")
        lines.append(f"bone-level sensitivity {self.sensitivity:.3f}, specificity "
                     f"{self.specificity:.3f}; voxel Dice pooled {self.dice:.3f}, mean "
                     f"{self.mean_dice:.3f} ({len(self.studies)} studies)")
        bd = self.bone_dice()
        if bd:
            lines.append("bone-mask Dice: " + ", ".join(f"{b.bone_name} {d:.3f}"
                                                         for b, d in bd.items()))
        return "\n".join(lines)


def _locate(path: Path) -> tuple[Path, Path | None] | None:
    """(edema file, bones file or None) of a study location, or None if not one."""
    if path.is_file():
        bones = path.with_name("bones.nii.gz")
        return path, (bones if bones.is_file() and bones != path else None)
    for sub in (path, path / "truth"):
        e = sub / "edema.nii.gz"
        if e.is_file():
            b = sub / "bones.nii.gz"
            return e, (b if b.is_file() else None)
    return None


def _on_grid(vol: Volume, ref: Volume) -> np.ndarray:
    if vol.shape == ref.shape and np.allclose(vol.affine, ref.affine, atol=1e-3):
        return np.asarray(vol.array)
    return np.asarray(resample_to(vol, ref.affine, ref.shape, order=0).array)


def score_study(truth: str | os.PathLike[str], pred: str | os.PathLike[str], *,
                min_truth_ml: float = 0.05, name: str | None = None) -> StudyScore:
    """Score one prediction against one truth (paths as in the module docstring)."""
    t_loc, p_loc = _locate(Path(truth)), _locate(Path(pred))
    if t_loc is None:
        raise DetectionError(f"{truth}: no edema.nii.gz (or truth/edema.nii.gz) found")
    if p_loc is None:
        raise DetectionError(f"{pred}: no edema.nii.gz found; run bmes detect first")
    t_ed = load_nifti(t_loc[0])
    p_ed = _on_grid(load_nifti(p_loc[0]), t_ed)
    tb = load_nifti(t_loc[1]).array if t_loc[1] else None
    if tb is not None and tb.shape != t_ed.shape:
        tb = None
    pb = _on_grid(load_nifti(p_loc[1]), t_ed) if p_loc[1] else None
    return score_arrays(t_ed.array, p_ed, t_ed.voxel_volume_ml, truth_bones=tb,
                        pred_bones=pb, min_truth_ml=min_truth_ml,
                        name=name or Path(truth).name)


def score_arrays(truth_edema: np.ndarray, pred_edema: np.ndarray, voxel_ml: float, *,
                 truth_bones: np.ndarray | None = None, pred_bones: np.ndarray | None = None,
                 min_truth_ml: float = 0.05, name: str = "study") -> StudyScore:
    """Score label arrays on one grid (edema voxels carry their bone's label).

    Bones considered: those of ``truth_bones`` when given, else every label present in
    either edema map (then there are no true negatives to count).
    """
    t_arr = np.asarray(truth_edema).astype(np.int32)
    p_arr = np.asarray(pred_edema).astype(np.int32)
    score = StudyScore(name)
    tb = None if truth_bones is None else np.asarray(truth_bones).astype(np.int32)
    pb = None if pred_bones is None else np.asarray(pred_bones).astype(np.int32)
    present = set(np.unique(tb).tolist()) if tb is not None else set(
        np.unique(t_arr).tolist()) | set(np.unique(p_arr).tolist())
    present -= {0}
    vml = voxel_ml
    t_counts = np.bincount(t_arr.ravel(), minlength=16)
    p_counts = np.bincount(p_arr.ravel(), minlength=16)
    for lab in sorted(present):
        if lab not in {int(b) for b in Bone}:
            continue
        b = Bone(lab)
        t_pos = t_counts[lab] * vml >= min_truth_ml
        p_pos = p_counts[lab] > 0
        getattr(score, {(True, True): "tp", (True, False): "fn", (False, True): "fp",
                        (False, False): "tn"}[(bool(t_pos), bool(p_pos))]).append(b)
        if tb is not None and pb is not None:
            a, c = tb == lab, pb == lab
            if a.any():
                score.bone_dice[b] = dice(a, c)
    tm, pm = t_arr > 0, p_arr > 0
    score.intersection = int((tm & pm).sum())
    score.truth_voxels = int(tm.sum())
    score.pred_voxels = int(pm.sum())
    return score


def evaluate(truth: str | os.PathLike[str], pred: str | os.PathLike[str], *,
             min_truth_ml: float = 0.05) -> Evaluation:
    """Score one study or a folder of studies (matched by sub-folder name).

    Raises
    ------
    DetectionError
        If nothing can be matched.
    """
    t, p = Path(truth), Path(pred)
    if _locate(t) is not None:
        return Evaluation([score_study(t, p, min_truth_ml=min_truth_ml)])
    if not t.is_dir():
        raise DetectionError(f"{t}: neither an edema NIfTI file nor a folder")
    scores = []
    missing = []
    for sub in sorted(x for x in t.iterdir() if x.is_dir()):
        if _locate(sub) is None:
            continue
        if _locate(p / sub.name) is None:
            missing.append(sub.name)
            continue
        scores.append(score_study(sub, p / sub.name, min_truth_ml=min_truth_ml,
                                  name=sub.name))
    if not scores:
        raise DetectionError(f"no study of {t} has a prediction in {p} (looked for "
                             f"<name>/edema.nii.gz for {len(missing)} truth studies)")
    if missing:
        raise DetectionError(f"{len(missing)} truth studies have no prediction in {p}: "
                             f"{', '.join(missing[:5])}")
    return Evaluation(scores)
