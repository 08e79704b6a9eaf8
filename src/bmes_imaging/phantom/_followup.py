"""Follow-up studies of a phantom foot: the edema of BMES shrinking, resolving or moving.

A follow-up study shows the same foot as its baseline spec (same anatomy, contrast,
scanner), some months later:

* the edema of each baseline bone keeps a stated share of its volume
  (:attr:`FollowUp.keep`): ``0`` resolves it, ``0.3`` shrinks it concentrically towards
  its core (the last part of a BMES lesion to clear), ``1`` leaves it as it was;
* migratory BMES: new edema appears in other bones (:attr:`FollowUp.new_bones`);
* the patient lies differently: the foot is rigidly repositioned in the scanner
  (``rotation_deg`` about a random axis through the talar dome, ``shift_mm`` in a random
  direction), so comparing the two studies needs a registration;
* the study date is ``months`` later; UIDs differ (the label enters every UID).

Everything is drawn from the baseline spec's seed and the label, so a follow-up spec
gives the same study byte for byte; the baseline itself is unchanged by any of this.

Examples
--------
>>> fu = FollowUp(months=18, keep=(("talus", 0.3),), new_bones=("navicular",))
>>> fu.keep_of(Bone.TALUS), fu.keep_of(Bone.CALCANEUS), FollowUp.from_dict(fu.to_dict()) == fu
(0.3, 0.5, True)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..anatomy import Atlas, FootPose
from ..bones import Bone, bone_from_name
from ..errors import PhantomError
from ._edema import EXTENTS, FRACTION_RANGES, MarrowFields, _bone_boxes, _edema_weights

__all__ = [
    "FollowUp", "follow_up_fields", "follow_up_rng", "random_rigid_motion", "repositioned",
]

#: Width (mm) of the soft edge of a shrunk lesion.
_EDGE_MM = 0.6


@dataclass(frozen=True)
class FollowUp:
    """A follow-up time point of a phantom study (see the module docstring).

    Parameters
    ----------
    months
        Time since the baseline study (the study date moves by ``months * 30.44`` days).
    keep
        ``(bone name, share of the baseline edema volume kept)`` pairs, 0..1.
    default_keep
        Share kept by baseline edema bones not listed in ``keep``.
    new_bones
        Bones where edema appears at this time point (migratory BMES).
    new_extent
        Extent of the new edema (``subchondral``, ``moderate``, ``diffuse``).
    rotation_deg, shift_mm
        Rigid repositioning of the foot in the scanner.
    label
        Names the time point in UIDs and folders (``"fu1"``).
    """

    months: float = 6.0
    keep: tuple[tuple[str, float], ...] = ()
    default_keep: float = 0.5
    new_bones: tuple[str, ...] = ()
    new_extent: str = "moderate"
    rotation_deg: float = 4.0
    shift_mm: float = 6.0
    label: str = "fu1"

    def __post_init__(self) -> None:
        if not 0.0 < float(self.months) <= 240.0:
            raise PhantomError(f"FollowUp.months must be in (0, 240], found {self.months}")
        keep = []
        for name, share in self.keep:
            if not 0.0 <= float(share) <= 1.0:
                raise PhantomError(f"FollowUp.keep of {name}: a share 0..1, found {share}")
            keep.append((bone_from_name(name).bone_name, float(share)))
        object.__setattr__(self, "keep", tuple(keep))
        object.__setattr__(self, "new_bones",
                           tuple(bone_from_name(n).bone_name for n in self.new_bones))
        if not 0.0 <= self.default_keep <= 1.0:
            raise PhantomError("FollowUp.default_keep must be in 0..1")
        if self.new_extent not in EXTENTS or self.new_extent == "mixed":
            raise PhantomError(f"FollowUp.new_extent must be subchondral, moderate or "
                               f"diffuse, found {self.new_extent!r}")
        if not self.label.isidentifier():
            raise PhantomError(f"FollowUp.label must be a plain word, found {self.label!r}")

    def keep_of(self, bone: Bone) -> float:
        """Share of ``bone``'s baseline edema kept at this time point."""
        return dict(self.keep).get(bone.bone_name, self.default_keep)

    @property
    def days(self) -> int:
        """Days after the baseline study."""
        return round(float(self.months) * 30.4375)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``phantom.json["follow_up"]``)."""
        d = dataclasses.asdict(self)
        d["keep"] = [list(p) for p in self.keep]
        d["new_bones"] = list(self.new_bones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FollowUp:
        """The follow-up of a :meth:`to_dict` dictionary."""
        kw = dict(d)
        kw["keep"] = tuple(tuple(p) for p in kw.get("keep", ()))
        kw["new_bones"] = tuple(kw.get("new_bones", ()))
        return cls(**kw)


def follow_up_rng(seed: int, side: str, fu: FollowUp) -> np.random.Generator:
    """The follow-up's own random stream (the baseline's stream is left untouched)."""
    salt = sum(ord(c) * 31 ** i for i, c in enumerate(fu.label)) % (2 ** 31)
    return np.random.default_rng([seed, 0 if side == "R" else 1, 7051, 1818, salt])


def _shrunk(weights: NDArray[np.uint8], keep: float, pitch: float) -> NDArray[np.uint8]:
    """Edema weights shrunk towards the lesion's core to ``keep`` of its volume."""
    core = weights >= 128
    n = int(core.sum())
    if n == 0 or keep >= 1.0:
        return weights
    if keep <= 0.0:
        return np.zeros_like(weights)
    depth = ndimage.distance_transform_edt(core, sampling=pitch)
    r = float(np.quantile(depth[core], 1.0 - keep))
    soft = 255.0 / (1.0 + np.exp(-(depth - r) / _EDGE_MM))
    return np.minimum(weights, np.rint(soft)).astype(np.uint8)


def follow_up_fields(a: Atlas, fields: MarrowFields, fu: FollowUp,
                     rng: np.random.Generator) -> tuple[MarrowFields, tuple[Bone, ...]]:
    """The baseline's marrow fields changed for the follow-up (in place); returns them
    and every bone whose edema the truth counts (baseline and new bones)."""
    edema = fields.edema if fields.edema is not None else np.zeros(a.codes.shape, np.uint8)
    boxes = _bone_boxes(a)
    for bone in list(fields.extents):
        box = boxes[int(bone)]
        marrow = a.codes[box] == int(bone)
        part = np.where(marrow, edema[box], 0).astype(np.uint8)
        edema[box] = np.where(marrow, _shrunk(part, fu.keep_of(bone), a.pitch), edema[box])
        fields.fractions[bone] = fields.fractions[bone] * fu.keep_of(bone)
    for name in fu.new_bones:
        bone = bone_from_name(name)
        lo, hi = FRACTION_RANGES[fu.new_extent]
        frac = float(rng.uniform(lo, hi))
        box, w = _edema_weights(a, bone, fu.new_extent, frac, rng, fields.texture_coarse)
        edema[box] = np.maximum(edema[box], w)
        fields.extents[bone] = fu.new_extent
        fields.fractions[bone] = frac
    fields.edema = edema
    return fields, tuple(fields.extents)


def repositioned(pose: FootPose, fu: FollowUp, rng: np.random.Generator
                 ) -> tuple[FootPose, NDArray[np.float64]]:
    """The pose with the foot rigidly moved (about the talar dome); returns the pose and
    the 4x4 world transform ``R`` (baseline world -> follow-up world of the same point)."""
    m = random_rigid_motion(rng, fu.rotation_deg, fu.shift_mm, pose.affine[:3, 3])
    return dataclasses.replace(pose, affine=m @ pose.affine), m


def random_rigid_motion(rng: np.random.Generator, rotation_deg: float, shift_mm: float,
                        centre: NDArray[np.float64]) -> NDArray[np.float64]:
    """A 4x4 rigid world transform: ``rotation_deg`` about a random axis through
    ``centre``, then ``shift_mm`` along a random direction.

    Draws, in this order, the axis and the direction (three normal numbers each) from
    ``rng``: a study's random stream, so the same seed moves the foot the same way.
    """
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    angle = np.radians(rotation_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre - rot @ centre + direction * shift_mm
    return m
