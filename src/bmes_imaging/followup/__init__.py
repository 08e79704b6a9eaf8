"""Follow-up over time: studies of one foot at several dates, registered and compared.

Implementations live in private modules: ``_timeline`` (per-study findings, timelines
from the store's links and the study dates), ``_change`` (per-bone change and course
by stated thresholds), ``_register`` (rigid registration of a follow-up to its
baseline from the bone label maps), ``_pair`` (two time points loaded and registered
for a side-by-side view), ``_report`` (the follow-up section, tables and the
per-foot plot).
"""

from ._change import COURSES, BoneChange, CourseThresholds, bone_changes, course, foot_course
from ._pair import (
    FollowUpPair,
    FollowUpPairError,
    TimePointImages,
    open_follow_up_pair,
    pair_of_timeline,
)
from ._register import EdemaOverlap, Registration, edema_overlap, register_follow_up
from ._report import (
    follow_up_section,
    follow_up_tables,
    plot_timeline,
    plot_timelines,
    write_follow_up,
)
from ._run import FollowUpResult, first_study_of_each_foot, follow_up_screened, study_dates
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
    "EdemaOverlap",
    "FollowUpPair",
    "FollowUpPairError",
    "FollowUpResult",
    "Registration",
    "StudyFindings",
    "TimePoint",
    "TimePointImages",
    "Timeline",
    "bone_changes",
    "build_timelines",
    "course",
    "edema_overlap",
    "first_study_of_each_foot",
    "follow_up_screened",
    "follow_up_section",
    "follow_up_tables",
    "foot_course",
    "open_follow_up_pair",
    "pair_of_timeline",
    "parse_study_date",
    "plot_timeline",
    "plot_timelines",
    "read_study_findings",
    "register_follow_up",
    "study_dates",
    "write_follow_up",
]
