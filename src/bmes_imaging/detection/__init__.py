"""Bone marrow edema detection per bone on a T1 and a fluid-sensitive series.

Pipeline (:func:`detect_edema`): the fluid series is resampled into the T1 grid through
world coordinates and refined for rigid motion (``_align``); bone masks come from an
imported label map, reader seeds or an atlas (``_bone_masks``, ``_atlas``); voxels darker
on T1 and brighter on the fluid image than a local normal-marrow reference are flagged
(``_compare``); per-bone findings carry volumes, fraction, grade and a confidence
(``_findings``). :func:`detect_study` runs it on a study folder and writes the results
(``_study``).
"""

from ._atlas import automatic_bones, prepare_atlas
from ._compare import Ratios, compute_ratios
from ._config import DetectionConfig
from ._detect import EdemaResult, detect_edema
from ._evaluate import Evaluation, evaluate
from ._findings import BoneFinding, findings_from_masks, findings_from_ratios, grade_for_fraction
from ._study import INVOLVEMENT_COLUMNS, StudyDetection, detect_study, write_results

__all__ = [
    "INVOLVEMENT_COLUMNS",
    "BoneFinding",
    "DetectionConfig",
    "EdemaResult",
    "Evaluation",
    "Ratios",
    "StudyDetection",
    "automatic_bones",
    "compute_ratios",
    "detect_edema",
    "detect_study",
    "evaluate",
    "findings_from_masks",
    "findings_from_ratios",
    "grade_for_fraction",
    "prepare_atlas",
    "write_results",
]
