"""The foot atlas: tissue classes of the Visible Human Female foot and its pose.

The committed atlas (``data/foot_atlas.npz``, derived by ``tools/derive_anatomy.py``
from the Visible Human Female surfaces, CC BY 4.0; see ``NOTICE``) is a 0.5 mm
class-code volume of a right foot: bone marrow by project bone label, cortex, and soft
tissues. The phantom renders MR signal from it (:mod:`bmes_imaging.phantom`), the
detector registers its bone labels to a study (:mod:`bmes_imaging.detection`); this
package depends on neither.

Examples
--------
>>> from bmes_imaging.anatomy import TISSUE_NAMES, load_foot_atlas
>>> labels = load_foot_atlas("L", step=2)
>>> labels.info.laterality, int(labels.array.max())
('L', 14)
>>> TISSUE_NAMES[17]
'muscle'
"""

from ._atlas import MIRROR, Atlas, FootPose, atlas, draw_pose, load_foot_atlas, load_foot_tissues
from ._classes import (
    AIR,
    CARTILAGE,
    CORTEX_BIT,
    FAT,
    KAGER_FAT,
    MUSCLE,
    OTHER_BONE,
    RECESS,
    SKIN,
    TENDON,
    TISSUE_NAMES,
    VESSEL,
    bone_label_of,
)

__all__ = [
    "AIR",
    "CARTILAGE",
    "CORTEX_BIT",
    "FAT",
    "KAGER_FAT",
    "MIRROR",
    "MUSCLE",
    "OTHER_BONE",
    "RECESS",
    "SKIN",
    "TENDON",
    "TISSUE_NAMES",
    "VESSEL",
    "Atlas",
    "FootPose",
    "atlas",
    "bone_label_of",
    "draw_pose",
    "load_foot_atlas",
    "load_foot_tissues",
]
