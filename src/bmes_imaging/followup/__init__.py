"""Follow-up over time: studies of one foot at several dates, registered and compared.

Implementations live in private modules: ``_timeline`` (per-study findings, timelines
from the store's links and the study dates), ``_change`` (per-bone change and course
by stated thresholds), ``_register`` (rigid registration of a follow-up to its
baseline from the bone label maps), ``_report`` (the follow-up section, tables and the
per-foot plot).
"""

from ._change import COURSES, BoneChange, CourseThresholds, bone_changes, course, foot_course
from ._timeline import (
    BoneMeasure,
    StudyFindings,
    Timeline,
    TimePoint,
    build_timelines,
    parse_study_date,
    read_study_findings,
)

__all__ = [
    "COURSES",
    "BoneChange",
    "BoneMeasure",
    "CourseThresholds",
    "StudyFindings",
    "TimePoint",
    "Timeline",
    "bone_changes",
    "build_timelines",
    "course",
    "foot_course",
    "parse_study_date",
    "read_study_findings",
]
