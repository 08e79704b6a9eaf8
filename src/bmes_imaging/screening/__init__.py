"""Batch screening of an archive: index, pair, detect every study, in parallel with Dask.

Implementations: ``_plan`` (index, pair, fingerprint), ``_study`` (one study on a
worker, done-markers), ``_engine`` (Dask client, progress, resume, result tables).
"""

from ._engine import STUDIES_COLUMNS, ProgressLine, ScreenResult, screen
from ._plan import ScreenPlan, StudyTask, UnpairedStudy, plan_screening, study_key
from ._study import StudyOutcome, detect_pair, load_only, read_marker, run_study

__all__ = [
    "STUDIES_COLUMNS",
    "ProgressLine",
    "ScreenPlan",
    "ScreenResult",
    "StudyOutcome",
    "StudyTask",
    "UnpairedStudy",
    "detect_pair",
    "load_only",
    "plan_screening",
    "read_marker",
    "run_study",
    "screen",
    "study_key",
]
