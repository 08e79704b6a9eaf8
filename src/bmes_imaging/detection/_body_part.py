"""Refuse what is not a foot or ankle.

The detector's bone masks come from a foot atlas: on a knee or a head it labels
whatever it lands on, with high confidence. Three checks say a study is not a foot:

1. **Header.** ``BodyPartExamined`` naming another body part (KNEE, BRAIN, HEAD,
   CHEST...). Empty or unknown values pass: many sites leave it blank or write
   their own words.
2. **Field of view.** The largest connected body region of the T1 image is
   head-sized: at least :data:`HEAD_VOLUME_ML` and at least :data:`HEAD_EXTENT_MM` along
   every axis. On the project's real brain series (``dcm_qa_decubitus``, ``dcm_qa_xa30``)
   this region holds 4.0-4.5 l and spans 144-236 mm per axis; on foot phantoms of sizes
   0.8-1.25 within a 200 x 171 x 99 mm field of view it held 0.5-1.1 l, at most 82 mm
   left to right.
3. **Atlas fit.** The normalised mutual information of the registered foot atlas far
   below what any foot gave (:data:`LOWEST_FOOT_MATCH`). This is a last guard only: the
   brains above still scored 1.02-1.04, as high as a badly placed foot.

:class:`~bmes_imaging.errors.NotAFootError` names what was found; ``force`` (``bmes
detect --force``) analyses the study anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import NotAFootError
from ..volume import Volume

__all__ = ["HEAD_EXTENT_MM", "HEAD_VOLUME_ML", "LOWEST_FOOT_MATCH", "body_part_of",
           "check_atlas_fit", "check_body_part", "check_field_of_view", "check_foot"]

#: Words of ``BodyPartExamined`` (and of DICOM's body part code meanings) that mean a
#: foot or ankle study; any of them passes.
FOOT_WORDS = ("FOOT", "FEET", "ANKLE", "TOE", "HEEL", "CALCANEUS", "TARSAL", "FOREFOOT",
              "MIDFOOT", "HINDFOOT", "METATARSAL", "LEG", "LOWEREXTREMITY", "LOWERLIMB",
              "EXTREMITY", "CALF", "ACHILLES", "TIBIA", "FIBULA")
#: Words that mean another body part (refused when no foot word is present).
OTHER_WORDS = ("KNEE", "BRAIN", "HEAD", "SKULL", "NECK", "CSPINE", "TSPINE", "LSPINE",
               "SPINE", "CHEST", "THORAX", "LUNG", "HEART", "BREAST", "ABDOMEN", "ABDO",
               "LIVER", "KIDNEY", "PELVIS", "PROSTATE", "HIP", "SHOULDER", "ELBOW",
               "WRIST", "HAND", "FINGER", "THUMB", "ARM", "FOREARM", "HUMERUS", "FEMUR",
               "THIGH", "ORBIT", "SINUS", "FACE", "IAC", "PITUITARY", "CAROTID", "WHOLEBODY",
               "PATELLA", "SACRUM", "COCCYX", "TMJ", "JAW")
#: Head-sized: the largest body region holds at least this much (ml) ...
HEAD_VOLUME_ML = 2500.0
#: ... and spans at least this (mm) along each of its image axes.
HEAD_EXTENT_MM = 130.0
#: Atlas matches (NMI) below this are not a foot. Foot studies, well or badly placed,
#: scored 1.03-1.18 on phantoms; real brains 1.02-1.04.
LOWEST_FOOT_MATCH = 1.01


def _normalise(text: str) -> str:
    return re.sub(r"[^A-Z]", "", text.upper())


def check_body_part(body_part: str | None, what: str = "the study") -> None:
    """Raise :class:`NotAFootError` when ``body_part`` names another body part.

    Empty or unknown values pass.

    Examples
    --------
    >>> check_body_part("ANKLE")
    >>> check_body_part("")
    >>> check_body_part("KNEE")
    Traceback (most recent call last):
    ...
    bmes_imaging.errors.NotAFootError: the study: BodyPartExamined is 'KNEE', not a foot or ...
    """
    if not body_part:
        return
    norm = _normalise(body_part)
    if not norm or any(w in norm for w in FOOT_WORDS):
        return
    if any(w in norm for w in OTHER_WORDS):
        shown = re.sub(r"[^A-Za-z0-9 _-]", "", body_part)[:32]
        raise NotAFootError(f"{what}: BodyPartExamined is {shown!r}, not a foot or ankle; "
                            "bone masks come from a foot atlas and would be wrong (use "
                            "--force to analyse it anyway)")


def body_part_of(obj: Any) -> str:
    """``BodyPartExamined`` of a series stack (``.body_part``) or of a loaded
    :class:`Volume` (read from its first source file); ``""`` when unknown."""
    part = getattr(obj, "body_part", None)
    if isinstance(part, str):
        return part
    info = getattr(obj, "info", None)
    files = getattr(info, "source_files", ()) if info is not None else ()
    if not files:
        return ""
    import pydicom

    try:
        ds = pydicom.dcmread(files[0], stop_before_pixels=True, force=True,
                             specific_tags=["BodyPartExamined"])
    except (OSError, ValueError, TypeError, AttributeError, EOFError):
        return ""
    return str(getattr(ds, "BodyPartExamined", "") or "")


def _largest_body_region(t1: Volume) -> tuple[np.ndarray, float]:
    """Extent (mm, along the three image axes) and volume (ml) of the largest body
    region of ``t1`` on a 4 mm grid."""
    from ._align import _block_mean

    small, aff = _block_mean(t1, 4.0)
    lo, hi = np.percentile(small, [1, 99.5])
    body = ndimage.binary_closing(small > lo + 0.1 * (hi - lo), iterations=2)
    lab, n = ndimage.label(body)
    if n == 0:
        return np.zeros(3), 0.0
    big = ndimage.binary_fill_holes(lab == int(np.argmax(np.bincount(lab.ravel())[1:])) + 1)
    idx = np.argwhere(big)
    vs = np.sqrt((aff[:3, :3] ** 2).sum(axis=0))
    extent = (idx.max(axis=0) - idx.min(axis=0) + 1) * vs
    return extent, float(big.sum() * np.prod(vs) / 1000.0)


def check_field_of_view(t1: Volume, what: str = "the T1 series") -> None:
    """Raise :class:`NotAFootError` when the imaged body region is head-sized."""
    extent, volume = _largest_body_region(t1)
    if volume >= HEAD_VOLUME_ML and float(extent.min()) >= HEAD_EXTENT_MM:
        dims = " x ".join(f"{e:.0f}" for e in extent)
        raise NotAFootError(f"{what}: the imaged body region is head-sized ({volume / 1000:.1f} "
                            f"l, {dims} mm), not a foot or ankle; bone masks come from a foot "
                            "atlas and would be wrong (use --force to analyse it anyway)")


def check_foot(t1: Volume, what: str = "the T1 series", *,
               stacks: Iterable[Any] = ()) -> None:
    """Header and field-of-view checks of one T1 series (and the given stacks).

    Raises
    ------
    NotAFootError
        If a header names another body part or the body region is head-sized.
    """
    for stack in stacks:
        check_body_part(body_part_of(stack), what)
    check_body_part(body_part_of(t1), what)
    check_field_of_view(t1, what)


def check_atlas_fit(bones: Volume, what: str = "the T1 series") -> None:
    """Raise :class:`NotAFootError` when automatic bone masks matched the image far
    worse than any foot (``bones.info.extra["atlas_match"]``; absent: no check)."""
    score = bones.info.extra.get("atlas_match")
    if score is not None and float(score) < LOWEST_FOOT_MATCH:
        raise NotAFootError(f"{what}: the foot atlas matches this image far worse than any "
                            f"foot (mutual information {float(score):.3f} < "
                            f"{LOWEST_FOOT_MATCH}); is it a foot or ankle? (use --force to "
                            "analyse it anyway)")
