"""The detector measured on the site's own reads, and site settings fitted on them.

:func:`validate` collects every reader's final read from the store (confirmed,
rejected, relabelled and painted bones) against the detector's stored candidates
(:func:`collect_reads`), and writes per bone, scanner, fluid sequence and reader:
sensitivity, specificity and PPV with Wilson intervals, Cohen's kappa, Dice and
Bland-Altman volume agreement (``summary.csv``); a bone-level ROC and a region-level
FROC over the detector's score with the current operating point; a reliability table;
and a Markdown / HTML report with plots. With ``fit=True`` it writes site settings
(``site_config.toml``: decision threshold, calibration, what they were fitted on and
the figures to expect), which :func:`load_site_config` reads for ``bmes detect
--config``. The store is only read.

Examples
--------
>>> from bmes_imaging.validation import bone_score
>>> from types import SimpleNamespace
>>> bone_score(SimpleNamespace(grade=1, confidence=0.6))
0.8
"""

from ._apply import detect_study_with_site, screen_study_with_site
from ._calibration import LogisticCalibration, fit_logistic, reliability_table
from ._fit import MIN_NEGATIVE, MIN_POSITIVE, choose_threshold, fit_site_config
from ._metrics import SUMMARY_COLUMNS, GroupSummary, summarise, summary_rows
from ._reads import DETECTOR_SOURCE, NOT_RECORDED, BoneRead, ReadSet, StudyRead, collect_reads
from ._roc import FrocPoint, RocCurve, froc_curve, roc_curve
from ._score import bone_score, detector_positive, stated_probability
from ._site_config import (
    CONFIG_ENV,
    SiteConfig,
    SiteConfigError,
    load_site_config,
    site_config_path,
    write_site_config,
)
from ._validate import BONE_READ_COLUMNS, SITE_CONFIG_NAME, ValidationResult, validate

__all__ = [
    "BONE_READ_COLUMNS",
    "CONFIG_ENV",
    "DETECTOR_SOURCE",
    "MIN_NEGATIVE",
    "MIN_POSITIVE",
    "NOT_RECORDED",
    "SITE_CONFIG_NAME",
    "SUMMARY_COLUMNS",
    "BoneRead",
    "FrocPoint",
    "GroupSummary",
    "LogisticCalibration",
    "ReadSet",
    "RocCurve",
    "SiteConfig",
    "SiteConfigError",
    "StudyRead",
    "ValidationResult",
    "bone_score",
    "choose_threshold",
    "collect_reads",
    "detect_study_with_site",
    "detector_positive",
    "fit_logistic",
    "fit_site_config",
    "froc_curve",
    "load_site_config",
    "reliability_table",
    "roc_curve",
    "screen_study_with_site",
    "site_config_path",
    "stated_probability",
    "summarise",
    "summary_rows",
    "validate",
    "write_site_config",
]
