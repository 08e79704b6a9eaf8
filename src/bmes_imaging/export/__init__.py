"""Exports: involvement tables, the cohort report, DICOM SEG, de-identification.

Implementations live in private modules: ``_records`` (clinical records for exports),
``_cohort`` (recomputed figures, findings tables), ``_stated`` (stated figures and
disagreements), ``_report`` / ``_plots`` (Markdown / HTML report with PNG plots),
``_involvement`` (per-foot table, CSV / XLSX), ``_tables`` (tidy long and wide tables
with their data dictionaries), ``_seg`` (DICOM SEG with highdicom),
``_sr`` (TID 1500 SR with highdicom),
``_deid`` (PS3.15 basic profile), ``_pseudonym`` (keyed-hash pseudonyms); files are written through
:mod:`bmes_imaging._atomic`.
"""

from ._cohort import (
    CohortSummary,
    Figure,
    FootFindings,
    findings_from_store,
    findings_statuses,
    read_findings_table,
    summarize_cohort,
)
from ._deid import deidentify_dataset
from ._involvement import INVOLVEMENT_TABLE_COLUMNS, involvement_rows, write_involvement_table
from ._provenance import Provenance, images_provenance, settings_text
from ._pseudonym import Pseudonymizer, key_fingerprint, load_pseudonym_key
from ._records import read_records
from ._report import CohortReport, write_cohort_report
from ._seg import SegExport, SegMasks, read_edema_seg, write_edema_seg
from ._sr import SrExport, SrMeasurement, read_edema_sr, write_edema_sr
from ._stated import Comparison, StatedFigure, compare_figures, read_stated_figures
from ._tables import (
    COLUMN_DOCS,
    LONG_COLUMNS,
    dictionary_path,
    long_rows,
    wide_columns,
    wide_rows,
    write_table,
)

__all__ = [
    "COLUMN_DOCS",
    "INVOLVEMENT_TABLE_COLUMNS",
    "LONG_COLUMNS",
    "CohortReport",
    "CohortSummary",
    "Comparison",
    "Figure",
    "FootFindings",
    "Provenance",
    "Pseudonymizer",
    "SegExport",
    "SegMasks",
    "SrExport",
    "SrMeasurement",
    "StatedFigure",
    "compare_figures",
    "deidentify_dataset",
    "dictionary_path",
    "findings_from_store",
    "findings_statuses",
    "images_provenance",
    "involvement_rows",
    "key_fingerprint",
    "load_pseudonym_key",
    "long_rows",
    "read_edema_seg",
    "read_edema_sr",
    "read_findings_table",
    "read_records",
    "read_stated_figures",
    "settings_text",
    "summarize_cohort",
    "wide_columns",
    "wide_rows",
    "write_cohort_report",
    "write_edema_seg",
    "write_edema_sr",
    "write_involvement_table",
    "write_table",
]
