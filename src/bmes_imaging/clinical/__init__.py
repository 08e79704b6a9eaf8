"""Clinical records of BMES patients: read, validate and classify.

The study behind the project recorded, per patient and foot, age, sex, side, affected
bones, symptom duration, time from complaint to visit, serum 25(OH)D, hemogram, ESR,
CRP, RF, anti-CCP and the AOFAS score at diagnosis and at last control. This package
reads such tables (CSV or XLSX, the study's Table 1 layout or the documented template
with labs, see :mod:`bmes_imaging.clinical._records`), validates every field with the
row and column in each message, and derives the classes the clinic uses
(:func:`vitamin_d_class`, lab flags, AOFAS change).

Examples
--------
>>> from bmes_imaging.clinical import read_clinical_table, sample_table_path
>>> records = read_clinical_table(sample_table_path())
>>> len(records), len({r.patient for r in records})
(18, 17)

The study's text reports 19 feet of 17 patients, but its Table 1 marks only one
patient (11) as bilateral, so the table gives 18 feet; counts are computed from the
records, never copied from the text.
"""

from __future__ import annotations

from ._classes import (
    LAB_RANGES_ENV,
    NMOL_L_PER_NG_ML,
    VITAMIN_D_CLASSES,
    LabReferenceRanges,
    ReferenceRange,
    aofas_change,
    vitamin_d_class,
)
from ._records import (
    KNOWN_COLUMNS,
    REQUIRED_COLUMNS,
    TABLE1_COLUMNS,
    TEMPLATE_COLUMNS,
    ClinicalRecord,
)
from ._template import sample_table_path, write_template
from ._validate import (
    ClinicalTableError,
    parse_record_fields,
    read_clinical_table,
    validate_clinical_table,
)

__all__ = [
    "KNOWN_COLUMNS",
    "LAB_RANGES_ENV",
    "NMOL_L_PER_NG_ML",
    "REQUIRED_COLUMNS",
    "TABLE1_COLUMNS",
    "TEMPLATE_COLUMNS",
    "VITAMIN_D_CLASSES",
    "ClinicalRecord",
    "ClinicalTableError",
    "LabReferenceRanges",
    "ReferenceRange",
    "aofas_change",
    "parse_record_fields",
    "read_clinical_table",
    "sample_table_path",
    "validate_clinical_table",
    "vitamin_d_class",
    "write_template",
]
