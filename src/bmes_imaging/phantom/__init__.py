"""Synthetic foot and ankle MRI studies with exact ground truth.

A phantom study is a sagittal T1 and a sagittal STIR series of one foot, generated from
a committed bone atlas (derived from the Visible Human Female foot surfaces, CC BY 4.0;
see ``NOTICE``) with seed-varied anatomy, tissue contrast, bone marrow edema in chosen
bones and optional confounders, written as DICOM with its ground truth beside it.

Examples
--------
>>> from bmes_imaging.phantom import PhantomSpec, generate_study
>>> study = generate_study(PhantomSpec(seed=3, edema_bones=("navicular",),
...                                    resolution=4.0, snr=None))
>>> [row["bone"] for row in study.involvement if row["edema_volume_ml"] > 0]
['navicular']
"""

from ._anatomy import Atlas, load_foot_atlas, load_foot_template, load_foot_tissues
from ._cohort import COHORTS, cohort_specs, default_cache_dir, write_cohort
from ._study import INVOLVEMENT_FIELDS, PhantomSpec, PhantomStudy, generate_study, write_study

__all__ = [
    "COHORTS",
    "INVOLVEMENT_FIELDS",
    "Atlas",
    "PhantomSpec",
    "PhantomStudy",
    "cohort_specs",
    "default_cache_dir",
    "generate_study",
    "load_foot_atlas",
    "load_foot_template",
    "load_foot_tissues",
    "write_cohort",
    "write_study",
]
