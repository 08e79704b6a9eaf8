"""Change of each bone's edema over a foot's timeline, and its course.

For every bone and every study of a foot: the edema volume and fraction, the change
since the baseline and since the previous study (mL), and the *course* since the
previous study, by the thresholds of :class:`CourseThresholds` (stated in
``docs/followup.md``):

==========  ================================================================
course      when (``v0`` previous volume, ``v1`` this study's, mL)
==========  ================================================================
baseline    the first study of the foot
none        ``v0`` and ``v1`` both below ``resolved_ml`` (no edema)
resolved    ``v0 >= resolved_ml`` and ``v1 < resolved_ml``
new         ``v0 < resolved_ml`` and ``v1 >= resolved_ml`` (edema appeared,
            e.g. migratory BMES): a worsening
improving   ``v1 - v0 <= -max(min_change_ml, min_change_fraction * v0)``
worse       ``v1 - v0 >= +max(min_change_ml, min_change_fraction * v0)``
stable      otherwise
==========  ================================================================

Examples
--------
>>> t = CourseThresholds()
>>> [course(a, b, t) for a, b in ((4.0, 0.0), (4.0, 2.0), (4.0, 3.5), (0.0, 1.0), (1.0, 2.0))]
['resolved', 'improving', 'stable', 'new', 'worse']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..bones import Bone
from ._timeline import Timeline

__all__ = ["COURSES", "BoneChange", "CourseThresholds", "bone_changes", "course",
           "foot_course"]

#: Every course a bone (or foot) can have at a study.
COURSES = ("baseline", "none", "resolved", "improving", "stable", "worse", "new")


@dataclass(frozen=True)
class CourseThresholds:
    """Thresholds of the course (see the module docstring).

    Attributes
    ----------
    resolved_ml
        Below this a bone counts as holding no edema (0.1 mL, about three times the
        detector's smallest region of 0.03 mL).
    min_change_ml
        Smallest change in mL that counts as improving / worse.
    min_change_fraction
        Smallest change relative to the previous volume that counts.
    """

    resolved_ml: float = 0.1
    min_change_ml: float = 0.2
    min_change_fraction: float = 0.2


def course(before: float | None, after: float, t: CourseThresholds) -> str:
    """The course from ``before`` (mL, ``None`` at the baseline) to ``after``."""
    if before is None:
        return "baseline"
    if before < t.resolved_ml and after < t.resolved_ml:
        return "none"
    if after < t.resolved_ml:
        return "resolved"
    if before < t.resolved_ml:
        return "new"
    delta = after - before
    step = max(t.min_change_ml, t.min_change_fraction * before)
    if delta <= -step:
        return "improving"
    if delta >= step:
        return "worse"
    return "stable"


@dataclass(frozen=True)
class BoneChange:
    """One bone of one foot at one study of its timeline.

    Attributes
    ----------
    patient, side, bone
        Which bone of which foot.
    index, days
        Position in the timeline (0 = baseline) and days since the baseline.
    study_date
        ISO date of the study.
    edema_ml, fraction, grade
        This study's measure (``fraction`` / ``grade`` ``None`` when unknown).
    change_since_baseline_ml, change_since_previous_ml
        ``None`` at the baseline.
    course
        See :data:`COURSES`.
    assessed
        False when the bone was not assessed in this study (volume taken as 0).
    """

    patient: str
    side: str
    bone: Bone
    index: int
    days: int | None
    study_date: str
    edema_ml: float
    fraction: float | None
    grade: int | None
    change_since_baseline_ml: float | None
    change_since_previous_ml: float | None
    course: str
    assessed: bool = True


def bone_changes(timeline: Timeline, thresholds: CourseThresholds | None = None,
                 bones: Sequence[Bone] | None = None) -> list[BoneChange]:
    """Per bone and study of a timeline: volume, change and course.

    Parameters
    ----------
    timeline
        One foot's studies.
    thresholds
        Course thresholds (default :class:`CourseThresholds`).
    bones
        Bones to report (default: those assessed in any study).

    Returns
    -------
    list of BoneChange
        Ordered by study, then bone label.
    """
    t = thresholds or CourseThresholds()
    bones = tuple(bones) if bones is not None else timeline.bones
    out: list[BoneChange] = []
    for bone in bones:
        base_ml: float | None = None
        prev_ml: float | None = None
        for p in timeline.points:
            m = p.study.measure(bone)
            ml = round(float(m.edema_ml), 4) if m is not None else 0.0
            if p.index == 0:
                base_ml = ml
            out.append(BoneChange(
                timeline.patient, timeline.side, bone, p.index, p.days,
                p.study.study_date.isoformat() if p.study.study_date else "",
                ml, None if m is None else m.fraction, None if m is None else m.grade,
                None if p.index == 0 or base_ml is None else round(ml - base_ml, 4),
                None if prev_ml is None else round(ml - prev_ml, 4),
                course(prev_ml, ml, t), m is not None))
            prev_ml = ml
    out.sort(key=lambda c: (c.index, int(c.bone)))
    return out


def foot_course(timeline: Timeline, thresholds: CourseThresholds | None = None
                ) -> list[tuple[int, float, str]]:
    """The whole foot's course: ``(index, total edema mL, course)`` per study."""
    t = thresholds or CourseThresholds()
    out = []
    prev: float | None = None
    for p in timeline.points:
        total = round(p.study.total_ml, 4)
        out.append((p.index, total, course(prev, total, t)))
        prev = total
    return out
