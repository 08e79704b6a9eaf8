"""Exports: involvement tables, the cohort report, DICOM SEG, de-identification.

Implementations live in private modules: ``_records`` (clinical records for exports),
``_cohort`` (recomputed figures), ``_stated`` (stated figures and disagreements),
``_report`` / ``_plots`` (Markdown / HTML report with PNG plots), ``_pseudonym``
(keyed-hash pseudonyms), ``_atomic`` (atomic writes).
"""

from ._cohort import CohortSummary, Figure, FootFindings, read_findings_table, summarize_cohort
from ._pseudonym import Pseudonymizer, load_pseudonym_key
from ._records import read_records
from ._report import CohortReport, write_cohort_report
from ._stated import Comparison, StatedFigure, compare_figures, read_stated_figures

__all__ = [
    "CohortReport",
    "CohortSummary",
    "Comparison",
    "Figure",
    "FootFindings",
    "Pseudonymizer",
    "StatedFigure",
    "compare_figures",
    "load_pseudonym_key",
    "read_findings_table",
    "read_records",
    "read_stated_figures",
    "summarize_cohort",
    "write_cohort_report",
]
