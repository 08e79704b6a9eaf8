"""The bone vocabulary: label values, names, display colours and SNOMED CT codes.

This module is the single source of the project's label-map convention. Every label
map written or read by bmes-imaging (phantom truth, detector output, reader
annotations, DICOM SEG) uses these values; 0 is background.

=====  ========================  ==========================================
label  name                      structure
=====  ========================  ==========================================
1      talus                     talus
2      calcaneus                 calcaneus
3      navicular                 navicular bone of the foot
4      cuboid                    cuboid
5      medial_cuneiform          medial cuneiform
6      intermediate_cuneiform    intermediate cuneiform
7      lateral_cuneiform         lateral cuneiform
8-12   first..fifth_metatarsal   metatarsals (toes are not labelled)
13     tibia                     distal tibia
14     fibula                    distal fibula (lateral malleolus)
=====  ========================  ==========================================

Examples
--------
>>> from bmes_imaging.bones import Bone, bone_from_name
>>> int(Bone.TALUS), Bone.TALUS.display_name
(1, 'Talus')
>>> bone_from_name("lateral malleolus") is Bone.FIBULA
True
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = [
    "BONES",
    "TARSAL_BONES",
    "Bone",
    "BoneInfo",
    "bone_from_label",
    "bone_from_name",
    "label_colormap",
]


@dataclass(frozen=True)
class BoneInfo:
    """Fixed facts about one bone of the vocabulary.

    Attributes
    ----------
    label
        Value in label maps.
    name
        snake_case name used in tables, files and APIs (e.g. ``"talus"``).
    display_name
        Name for people (e.g. ``"Medial cuneiform"``).
    color
        RGB display colour, 0-255.
    snomed_code, snomed_meaning
        SNOMED CT concept of the bone structure (coding scheme ``SCT``), for DICOM SEG.
    tarsal
        True for the seven tarsal bones.
    snomed_verified
        False where the code could not be checked against a published SNOMED CT /
        DICOM PS3.16 / HL7 FHIR table; exports then use a verified broader concept.
    """

    label: int
    name: str
    display_name: str
    color: tuple[int, int, int]
    snomed_code: str
    snomed_meaning: str
    tarsal: bool
    snomed_verified: bool = True


class Bone(enum.IntEnum):
    """A bone of the foot and ankle; its integer value is its label-map value."""

    TALUS = 1
    CALCANEUS = 2
    NAVICULAR = 3
    CUBOID = 4
    MEDIAL_CUNEIFORM = 5
    INTERMEDIATE_CUNEIFORM = 6
    LATERAL_CUNEIFORM = 7
    FIRST_METATARSAL = 8
    SECOND_METATARSAL = 9
    THIRD_METATARSAL = 10
    FOURTH_METATARSAL = 11
    FIFTH_METATARSAL = 12
    TIBIA = 13
    FIBULA = 14

    @property
    def info(self) -> BoneInfo:
        """The :class:`BoneInfo` of this bone."""
        return BONES[int(self)]

    @property
    def bone_name(self) -> str:
        """snake_case name, e.g. ``"medial_cuneiform"``."""
        return self.info.name

    @property
    def display_name(self) -> str:
        """Human-readable name, e.g. ``"Medial cuneiform"``."""
        return self.info.display_name

    @property
    def color(self) -> tuple[int, int, int]:
        """RGB display colour (0-255)."""
        return self.info.color

    @property
    def tarsal(self) -> bool:
        """True for the seven tarsal bones."""
        return self.info.tarsal


# SNOMED CT "bone structure of ..." concepts (coding scheme designator "SCT").
# Checked (SCREEN, 2026-11): talus, calcaneus, navicular, tibia, fibula against pydicom's
# copy of DICOM PS3.16; cuboid and the three cuneiforms against the HL7 FHIR R5
# "SNOMED CT Body Structures" value set (body-site), which also lists 30980004 as "Base of
# fifth metatarsal bone" -- it was wrongly given for the first metatarsal. Fifth metatarsal:
# 301000 "Fifth metatarsal bone" (checked 2026-12): listed alike by two copies of
# the HL7 FHIR R4 value sets (MeasureAuthoringTool/bonnie .../value_sets/body_site.js.coffee
# and GinoCanessa/FhirTypeScriptOddsAndEnds ValueSets/ApproachSiteCodes.js); 5426007 given
# before fails the SCTID check digit. The whole-bone concepts of the first to fourth
# metatarsal were found in no published table reachable offline: they stay unverified
# (53272007 and 38440004, given before for the third and fourth, fail the check digit and
# were removed; 64550003 for the second passes it, unconfirmed) and
# DICOM SEG / SR export codes them with the verified "Metatarsus" concept.
_TABLE: tuple[tuple[int, str, str, tuple[int, int, int], str, str, bool]
              | tuple[int, str, str, tuple[int, int, int], str, str, bool, bool], ...] = (
    (1, "talus", "Talus", (230, 25, 75), "67453005", "Bone structure of talus", True),
    (2, "calcaneus", "Calcaneus", (60, 180, 75), "80144004", "Bone structure of calcaneum", True),
    (3, "navicular", "Navicular", (255, 225, 25), "75772009", "Bone structure of navicular", True),
    (4, "cuboid", "Cuboid", (0, 130, 200), "81012005", "Bone structure of cuboid", True),
    (5, "medial_cuneiform", "Medial cuneiform", (245, 130, 48), "2979003",
     "Bone structure of medial cuneiform", True),
    (6, "intermediate_cuneiform", "Intermediate cuneiform", (145, 30, 180), "19193007",
     "Intermediate cuneiform bone", True),
    (7, "lateral_cuneiform", "Lateral cuneiform", (70, 240, 240), "67411009",
     "Lateral cuneiform bone", True),
    (8, "first_metatarsal", "First metatarsal", (240, 50, 230), "",
     "Bone structure of first metatarsal", False, False),
    (9, "second_metatarsal", "Second metatarsal", (210, 245, 60), "64550003",
     "Bone structure of second metatarsal", False, False),
    (10, "third_metatarsal", "Third metatarsal", (250, 190, 212), "",
     "Bone structure of third metatarsal", False, False),
    (11, "fourth_metatarsal", "Fourth metatarsal", (0, 128, 128), "",
     "Bone structure of fourth metatarsal", False, False),
    (12, "fifth_metatarsal", "Fifth metatarsal", (220, 190, 255), "301000",
     "Fifth metatarsal bone", False),
    (13, "tibia", "Tibia (distal)", (170, 110, 40), "12611008", "Bone structure of tibia", False),
    (14, "fibula", "Fibula (lateral malleolus)", (128, 0, 0), "87342007",
     "Bone structure of fibula", False),
)

#: Every bone of the vocabulary by label value.
BONES: dict[int, BoneInfo] = {
    row[0]: BoneInfo(*row) for row in _TABLE
}

#: The seven tarsal bones, in label order.
TARSAL_BONES: tuple[Bone, ...] = tuple(b for b in Bone if b.tarsal)

_ALIASES: dict[str, Bone] = {
    "calcaneous": Bone.CALCANEUS,
    "calcaneum": Bone.CALCANEUS,
    "os_calcis": Bone.CALCANEUS,
    "navicular_bone": Bone.NAVICULAR,
    "scaphoid": Bone.NAVICULAR,
    "median_cuneiform": Bone.INTERMEDIATE_CUNEIFORM,
    "middle_cuneiform": Bone.INTERMEDIATE_CUNEIFORM,
    "mt1": Bone.FIRST_METATARSAL,
    "mt2": Bone.SECOND_METATARSAL,
    "mt3": Bone.THIRD_METATARSAL,
    "mt4": Bone.FOURTH_METATARSAL,
    "mt5": Bone.FIFTH_METATARSAL,
    "1st_metatarsal": Bone.FIRST_METATARSAL,
    "2nd_metatarsal": Bone.SECOND_METATARSAL,
    "3rd_metatarsal": Bone.THIRD_METATARSAL,
    "4th_metatarsal": Bone.FOURTH_METATARSAL,
    "5th_metatarsal": Bone.FIFTH_METATARSAL,
    "distal_tibia": Bone.TIBIA,
    "distal_fibula": Bone.FIBULA,
    "lateral_malleolus": Bone.FIBULA,
    "medial_malleolus": Bone.TIBIA,
}


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def bone_from_name(name: str) -> Bone:
    """Return the :class:`Bone` for a name, label string or common synonym.

    Parameters
    ----------
    name
        ``"talus"``, ``"Medial cuneiform"``, ``"lateral malleolus"``, ``"5"``...
        Case, spaces and hyphens do not matter.

    Returns
    -------
    Bone

    Raises
    ------
    KeyError
        If the name is not in the vocabulary; the message lists the valid names.

    Examples
    --------
    >>> bone_from_name("Intermediate-Cuneiform").value
    6
    """
    key = _normalise(name)
    if key.isdigit() and int(key) in BONES:
        return Bone(int(key))
    for bone in Bone:
        if bone.info.name == key or _normalise(bone.info.display_name) == key:
            return bone
    if key in _ALIASES:
        return _ALIASES[key]
    valid = ", ".join(b.info.name for b in Bone)
    raise KeyError(f"unknown bone {name!r}; expected one of: {valid}")


def bone_from_label(label: int) -> Bone:
    """Return the :class:`Bone` with label value ``label``.

    Raises
    ------
    KeyError
        If ``label`` is not a label of the vocabulary (0 is background, not a bone).
    """
    try:
        return Bone(int(label))
    except ValueError:
        raise KeyError(f"label {label} is not a bone label (expected 1-{len(BONES)})") from None


def label_colormap() -> dict[int, tuple[float, float, float, float]]:
    """RGBA colours (0-1 floats) per label value, with 0 transparent, for label viewers."""
    cmap: dict[int, tuple[float, float, float, float]] = {0: (0.0, 0.0, 0.0, 0.0)}
    for label, info in BONES.items():
        r, g, b = info.color
        cmap[label] = (r / 255.0, g / 255.0, b / 255.0, 1.0)
    return cmap
