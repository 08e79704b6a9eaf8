"""Synthetic foot and ankle MRI studies with exact ground truth.

A phantom study is a sagittal T1 and a sagittal STIR series of one foot, generated from
a committed bone atlas (:mod:`bmes_imaging.anatomy`, derived from the Visible Human
Female foot surfaces, CC BY 4.0; see ``NOTICE``) with seed-varied anatomy, tissue
contrast, bone marrow edema in chosen bones and optional confounders, written as DICOM
with its ground truth beside it.

Every contrast and acquisition parameter can be set on the :class:`PhantomSpec`
(edema / normal marrow ratios on both images, residual fat, field strength, slices,
pixels, fluid plane, vendor rescale, anatomy family, flexion, deformation, placement) or
drawn from the documented distribution (:func:`draw_spec`): :func:`cohort_specs`
``("tune")`` chooses detector defaults, ``("eval")`` (other seeds, every range's
extremes) reports them.

Examples
--------
>>> from bmes_imaging.phantom import PhantomSpec, generate_study
>>> study = generate_study(PhantomSpec(seed=3, edema_bones=("navicular",),
...                                    resolution=4.0, snr=None))
>>> [row["bone"] for row in study.involvement if row["edema_volume_ml"] > 0]
['navicular']
"""

from ..anatomy import Atlas, load_foot_atlas, load_foot_tissues
from ._cohort import COHORTS, cohort_specs, default_cache_dir, follow_up_specs, write_cohort
from ._distribution import EVAL_CORNERS, RANGES, SPLITS, distribution_specs, draw_spec
from ._followup import FollowUp
from ._spec import PhantomSpec
from ._study import INVOLVEMENT_FIELDS, PhantomStudy, generate_study, write_study
from ._template import load_foot_template

__all__ = [
    "COHORTS",
    "EVAL_CORNERS",
    "INVOLVEMENT_FIELDS",
    "RANGES",
    "SPLITS",
    "Atlas",
    "FollowUp",
    "PhantomSpec",
    "PhantomStudy",
    "cohort_specs",
    "default_cache_dir",
    "distribution_specs",
    "draw_spec",
    "follow_up_specs",
    "generate_study",
    "load_foot_atlas",
    "load_foot_template",
    "load_foot_tissues",
    "write_cohort",
    "write_study",
]
