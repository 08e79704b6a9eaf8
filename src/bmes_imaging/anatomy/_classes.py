"""Tissue class codes of the foot atlas.

The committed atlas (``data/foot_atlas.npz``) stores one ``uint8`` class code per
0.5 mm voxel of a right foot:

* ``1..14``: marrow of the bone with that :class:`~bmes_imaging.bones.Bone` label,
  ``15``: marrow of a bone the vocabulary does not label (toes, proximal shafts);
* ``CORTEX_BIT`` (64) added to a bone code: cortical bone / subchondral plate of it;
* ``16..``: soft tissues (:data:`FAT`, :data:`MUSCLE`, ...); ``0`` is air.

The MR signal of each class belongs to the phantom (``bmes_imaging.phantom._tissue``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AIR",
    "CARTILAGE",
    "CORTEX_BIT",
    "FAT",
    "KAGER_FAT",
    "MUSCLE",
    "OTHER_BONE",
    "RECESS",
    "SKIN",
    "TENDON",
    "TISSUE_NAMES",
    "VESSEL",
    "bone_label_of",
]

AIR = 0
#: Marrow of a bone the vocabulary leaves unlabelled (toes).
OTHER_BONE = 15
FAT = 16
MUSCLE = 17
TENDON = 18
CARTILAGE = 19
#: Joint recess: fat pad normally, fluid when the spec asks for an effusion.
RECESS = 20
VESSEL = 21
SKIN = 22
KAGER_FAT = 23
#: Added to a bone code for cortex / subchondral plate.
CORTEX_BIT = 64

TISSUE_NAMES: dict[int, str] = {
    AIR: "air", OTHER_BONE: "other_bone", FAT: "subcutaneous_fat", MUSCLE: "muscle",
    TENDON: "tendon", CARTILAGE: "cartilage", RECESS: "joint_recess", VESSEL: "vessel",
    SKIN: "skin", KAGER_FAT: "kager_fat",
}


def bone_label_of(codes: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Project bone labels (``1..14``) of atlas class codes; everything else is 0.

    Examples
    --------
    >>> import numpy as np
    >>> bone_label_of(np.array([0, 3, 3 | CORTEX_BIT, OTHER_BONE, FAT], np.uint8)).tolist()
    [0, 3, 3, 0, 0]
    """
    base = codes & np.uint8(CORTEX_BIT - 1)
    is_bone = (codes > 0) & (base <= 14) & ((codes < 16) | (codes >= CORTEX_BIT))
    return np.where(is_bone, base, 0).astype(np.uint8)
