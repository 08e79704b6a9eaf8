"""Two time points of one foot, ready to be shown side by side in one world frame.

:func:`open_follow_up_pair` loads a baseline study and a follow-up study of the same foot
(T1 and fluid-sensitive series; the bone and edema label maps when the studies were
screened, or a phantom's truth), registers the follow-up to the baseline with
:func:`register_follow_up` and measures each bone's edema at both dates with its course.

The follow-up's volumes keep their own grids; their affines composed with the
registration (:attr:`TimePointImages.world_affine`) place them in the baseline's world
frame (RAS+ mm). A viewer that slices in 2-D (napari) needs grids that are not rotated
against each other: :meth:`FollowUpPair.follow_up_on_baseline_grid` resamples the
follow-up onto the baseline's grids (T1, bones and edema onto the baseline T1 grid, the
fluid series onto the baseline fluid grid), so a voxel of either time point lies at the
same world position.

Examples
--------
::

    from bmes_imaging.followup import open_follow_up_pair
    pair = open_follow_up_pair("cohort/p03_R", "cohort/p03_R_fu1")
    pair.registration.rms_mm, pair.follow_up.date, pair.caption(1)
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..bones import Bone
from ..errors import BmesError
from ..volume import Volume, load_nifti
from ._change import BoneChange, CourseThresholds, bone_changes
from ._register import Registration, register_follow_up
from ._timeline import BoneMeasure, StudyFindings, Timeline, build_timelines, parse_study_date

__all__ = ["FollowUpPair", "FollowUpPairError", "TimePointImages", "open_follow_up_pair",
           "pair_of_timeline"]


class FollowUpPairError(BmesError):
    """A baseline / follow-up pair cannot be opened (missing label maps, other foot)."""


@dataclass
class TimePointImages:
    """One study of the pair: its volumes and where they lie in the baseline's world.

    Attributes
    ----------
    t1, fluid
        The study's series, each in its own grid (``fluid`` None when absent).
    bones, edema
        Label maps (project bone labels), ``None`` when the study was not screened.
    date
        Study date (``None`` when unknown).
    side
        ``"L"`` / ``"R"`` (``None`` when unknown).
    study_instance_uid
        The study.
    to_baseline
        4x4 transform of this study's world onto the baseline's (identity for the
        baseline itself).
    """

    t1: Volume
    fluid: Volume | None
    bones: Volume | None
    edema: Volume | None
    date: _dt.date | None
    side: str | None
    study_instance_uid: str
    to_baseline: NDArray[np.float64] = field(default_factory=lambda: np.eye(4))

    def world_affine(self, volume: Volume) -> NDArray[np.float64]:
        """RAS+ affine of ``volume`` (one of this study's) in the baseline's world."""
        return np.asarray(self.to_baseline @ volume.affine, np.float64)

    @property
    def affines(self) -> dict[str, NDArray[np.float64]]:
        """Baseline-world affines of the volumes present (``t1``, ``fluid``, ...)."""
        vols = {"t1": self.t1, "fluid": self.fluid, "bones": self.bones, "edema": self.edema}
        return {k: self.world_affine(v) for k, v in vols.items() if v is not None}

    @property
    def date_text(self) -> str:
        """ISO date, or ``"date unknown"``."""
        return self.date.isoformat() if self.date else "date unknown"


@dataclass
class FollowUpPair:
    """A baseline and a follow-up study of one foot, registered.

    Attributes
    ----------
    baseline, follow_up
        The two time points (``follow_up.to_baseline`` is ``registration.matrix``).
    registration
        Follow-up world -> baseline world.
    changes
        Per bone and time point (index 0 baseline, 1 follow-up): edema volume, change
        since baseline and course (empty when the studies have no edema maps).
    """

    baseline: TimePointImages
    follow_up: TimePointImages
    registration: Registration
    changes: list[BoneChange] = field(default_factory=list)

    @property
    def days(self) -> int | None:
        """Days between the two studies (``None`` when a date is unknown)."""
        if self.baseline.date is None or self.follow_up.date is None:
            return None
        return (self.follow_up.date - self.baseline.date).days

    def change_of(self, bone: Bone, index: int = 1) -> BoneChange | None:
        """The change of ``bone`` at time point ``index`` (``None`` if not measured)."""
        for c in self.changes:
            if c.bone == bone and c.index == index:
                return c
        return None

    def caption(self, index: int) -> str:
        """Text for the time point's view: date and per-bone edema (with the change).

        Bones without edema at either date are left out.
        """
        tp = self.baseline if index == 0 else self.follow_up
        head = "Baseline" if index == 0 else "Follow-up"
        if index and self.days is not None:
            head += f" (+{self.days} d)"
        lines = [f"{head} {tp.date_text}"]
        shown = [c for c in self.changes if c.index == index
                 and (c.edema_ml > 0 or (self.change_of(c.bone, 0) or c).edema_ml > 0
                      or (self.change_of(c.bone, 1) or c).edema_ml > 0)]
        for c in shown:
            text = f"{c.bone.display_name}: {c.edema_ml:.2f} mL"
            if index and c.change_since_baseline_ml is not None:
                text += f" ({c.change_since_baseline_ml:+.2f} mL, {c.course})"
            lines.append(text)
        if not self.changes:
            lines.append("no edema maps (study not screened)")
        return "\n".join(lines)

    def follow_up_on_baseline_grid(self) -> TimePointImages:
        """The follow-up resampled onto the baseline's grids (see the module docstring).

        Images are interpolated linearly, label maps by nearest neighbour; voxels the
        follow-up does not cover are 0. The result's ``to_baseline`` is the identity.
        """
        b, f = self.baseline, self.follow_up
        m = self.registration.matrix

        def onto(v: Volume | None, target: Volume | None, order: int) -> Volume | None:
            if v is None or target is None:
                return None
            return resample_onto(v, m, target, order=order)

        t1 = resample_onto(f.t1, m, b.t1, order=1)
        return TimePointImages(t1, onto(f.fluid, b.fluid or b.t1, 1), onto(f.bones, b.t1, 0),
                               onto(f.edema, b.t1, 0), f.date, f.side,
                               f.study_instance_uid)


def resample_onto(volume: Volume, matrix: NDArray[np.float64], target: Volume, *,
                  order: int = 1) -> Volume:
    """``volume`` (world moved by ``matrix``) sampled on ``target``'s grid.

    Keeps ``volume``'s series information and dtype; 0 outside its field of view.
    """
    to_source = np.linalg.inv(matrix @ volume.affine) @ target.affine
    arr = np.asarray(volume.array)
    out = ndimage.affine_transform(arr.astype(np.float32) if order else arr,
                                   to_source[:3, :3], to_source[:3, 3],
                                   output_shape=tuple(target.shape), order=order,
                                   mode="constant", cval=0.0)
    if np.issubdtype(arr.dtype, np.integer) and order:
        out = np.rint(out)
    return Volume(out.astype(arr.dtype, copy=False), target.affine, volume.info)


def _label_maps(folder: Path, uid: str, side: str | None, screen_dir: Path | None
                ) -> tuple[Volume | None, Volume | None]:
    """(bones, edema) of a study: the screening output's, else a phantom's truth."""
    places = []
    if screen_dir is not None:
        from ..screening._plan import study_key

        places.append(screen_dir / "studies" / study_key(uid, side))
    places.append(folder / "truth")
    for place in places:
        bones, edema = place / "bones.nii.gz", place / "edema.nii.gz"
        if bones.is_file():
            return load_nifti(bones), load_nifti(edema) if edema.is_file() else None
    return None, None


def _load(folder: Path, screen_dir: Path | None, side: str | None) -> TimePointImages:
    from ..study import load_study

    study = load_study(folder, side=side)
    uid = study.t1.info.study_instance_uid or study.key
    bones, edema = _label_maps(folder, uid, study.side, screen_dir)
    return TimePointImages(study.t1, study.fluid, bones, edema,
                           parse_study_date(study.study_date), study.side, uid)


def _findings(tp: TimePointImages) -> StudyFindings:
    measures: list[BoneMeasure] = []
    if tp.bones is not None and tp.edema is not None:
        nb = np.bincount(np.asarray(tp.bones.array, np.uint8).reshape(-1), minlength=256)
        ne = np.bincount(np.asarray(tp.edema.array, np.uint8).reshape(-1), minlength=256)
        for bone in Bone:
            if nb[int(bone)] == 0:
                continue
            bone_ml = float(nb[int(bone)] * tp.bones.voxel_volume_ml)
            ml = float(ne[int(bone)] * tp.edema.voxel_volume_ml)
            measures.append(BoneMeasure(bone, round(ml, 4), ml / bone_ml, None,
                                        round(bone_ml, 4)))
    return StudyFindings("", tp.side or "", tp.study_instance_uid, tp.date, "candidate",
                         "detector", tuple(measures))


def open_follow_up_pair(baseline: str | os.PathLike[str], follow_up: str | os.PathLike[str],
                        *, screen_dir: str | os.PathLike[str] | None = None,
                        side: str | None = None,
                        thresholds: CourseThresholds | None = None) -> FollowUpPair:
    """Load, register and measure a baseline and a follow-up study of one foot.

    Parameters
    ----------
    baseline, follow_up
        Study folders (what :func:`bmes_imaging.study.load_study` opens).
    screen_dir
        ``bmes screen`` output holding the studies' ``bones.nii.gz`` / ``edema.nii.gz``;
        without it (or for a study it lacks) a phantom study's ``truth/`` maps are used.
    side
        The foot, when a folder holds both.
    thresholds
        Course thresholds (default :class:`CourseThresholds`).

    Returns
    -------
    FollowUpPair

    Raises
    ------
    FollowUpPairError
        If a study has no bone label map (the registration needs both) or the studies
        are of different feet.
    bmes_imaging.followup._register.RegistrationError
        If the two studies share fewer than three whole bones.
    """
    screen = Path(screen_dir) if screen_dir is not None else None
    base = _load(Path(baseline), screen, side)
    fu = _load(Path(follow_up), screen, side)
    if base.side and fu.side and base.side != fu.side:
        raise FollowUpPairError(f"{follow_up}: side {fu.side}, but the baseline "
                                f"{baseline} is side {base.side}: not the same foot")
    for folder, tp in ((baseline, base), (follow_up, fu)):
        if tp.bones is None:
            raise FollowUpPairError(
                f"{folder}: no bone label map (screen the study with bmes screen and give "
                "its output folder); the registration needs the bones of both studies")
    assert base.bones is not None and fu.bones is not None
    reg = register_follow_up(base.bones, fu.bones)
    fu.to_baseline = reg.matrix
    changes: list[BoneChange] = []
    if base.edema is not None and fu.edema is not None:
        timeline = build_timelines([_findings(base), _findings(fu)])[0]
        changes = bone_changes(timeline, thresholds)
    return FollowUpPair(base, fu, reg, changes)


def pair_of_timeline(timeline: Timeline, folders: Mapping[str, str | os.PathLike[str]], *,
                     index: int = 1, screen_dir: str | os.PathLike[str] | None = None
                     ) -> FollowUpPair:
    """The pair of a timeline's baseline and its study ``index``.

    ``folders`` maps each StudyInstanceUID to its study folder.

    Raises
    ------
    FollowUpPairError
        If the timeline has no study ``index`` or a study's folder is not known.
    """
    if not 0 < index < len(timeline.points):
        raise FollowUpPairError(f"the timeline has {len(timeline.points)} studies; no "
                                f"follow-up number {index}")
    uids = (timeline.baseline.study.study_instance_uid,
            timeline.points[index].study.study_instance_uid)
    missing = [u for u in uids if u not in folders]
    if missing:
        raise FollowUpPairError(f"no study folder known for {len(missing)} study(ies) of "
                                "the timeline")
    return open_follow_up_pair(folders[uids[0]], folders[uids[1]], screen_dir=screen_dir,
                               side=timeline.side or None)
