"""Rigid registration of a follow-up study to its baseline, from the bone label maps.

Two studies of one foot months apart lie differently in the scanner; their world
coordinates are unrelated. The bones are rigid and labelled in both studies (the
detector's bone masks, or a reader's), so the transform is found in closed form: the
least-squares rigid fit (Kabsch) of the bones' centroids, weighted by bone volume, over
the bones seen whole in both studies (a bone cut by the edge of a field of view has a
centroid that moves with the coverage, so it is left out). Each bone's residual after
the fit is reported; a bone whose residual exceeds ``bone_limit_mm`` (a bone that moved
against the others, e.g. another ankle position, or a poor mask) gets its own
translation, *bone by bone where needed*.

The transform maps follow-up world (RAS+ mm) to baseline world; with it the edema of
each bone is compared voxel by voxel: what persists, what is new, what resolved.

Examples
--------
>>> import numpy as np
>>> from bmes_imaging.volume import Volume
>>> lab = np.zeros((40, 40, 40), np.uint8)
>>> lab[5:10, 5:12, 5:9], lab[20:30, 8:14, 6:12], lab[10:16, 25:33, 20:30] = 1, 2, 3
>>> lab[28:34, 26:31, 8:14] = 4
>>> grid = np.diag([2.0, 2.0, 2.0, 1.0])  # 2 mm voxels
>>> moved = grid.copy(); moved[:3, 3] = (3.0, -2.0, 1.0)
>>> reg = register_follow_up(Volume(lab, grid), Volume(lab, moved))
>>> np.round(reg.matrix[:3, 3], 3).tolist(), round(reg.rms_mm, 6)
([-3.0, 2.0, -1.0], 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..bones import Bone
from ..errors import BmesError
from ..geometry import apply_affine, world_to_voxel
from ..volume import Volume

__all__ = ["EdemaOverlap", "Registration", "edema_overlap", "register_follow_up"]

#: Smallest bone volume (mL) used for the fit.
MIN_BONE_ML = 0.5


class RegistrationError(BmesError):
    """Two studies share too few whole bones to be registered."""


@dataclass
class Registration:
    """Follow-up world -> baseline world.

    Attributes
    ----------
    matrix
        4x4 rigid transform of follow-up world points onto the baseline.
    bones_used
        Bones of the fit (seen whole in both studies).
    residual_mm
        Per bone of the fit: distance of its centroids after the fit.
    rms_mm
        Volume-weighted root mean square of the residuals.
    per_bone
        Bones with their own transform (residual above the limit).
    """

    matrix: NDArray[np.float64]
    bones_used: tuple[Bone, ...]
    residual_mm: dict[Bone, float]
    rms_mm: float
    per_bone: dict[Bone, NDArray[np.float64]] = field(default_factory=dict)

    def transform_of(self, bone: Bone) -> NDArray[np.float64]:
        """The transform used for ``bone`` (its own when it has one)."""
        return self.per_bone.get(bone, self.matrix)

    @property
    def rotation_deg(self) -> float:
        """Rotation angle of the global transform (degrees)."""
        c = (np.trace(self.matrix[:3, :3]) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _whole_bones(labels: Volume) -> dict[Bone, tuple[NDArray[np.float64], float]]:
    """Centroid (world mm) and volume (mL) of each bone not touching the grid's edge."""
    arr = np.asarray(labels.array)
    out: dict[Bone, tuple[NDArray[np.float64], float]] = {}
    n = np.bincount(arr.reshape(-1), minlength=256)
    edge = np.zeros(256, bool)
    for axis in range(3):
        for index in (0, arr.shape[axis] - 1):
            edge[np.unique(np.take(arr, index, axis=axis))] = True
    present = [int(b) for b in Bone if n[int(b)] > 0 and not edge[int(b)]]
    if not present:
        return out
    centres = ndimage.center_of_mass(np.ones(arr.shape, np.float32), arr, present)
    ml = labels.voxel_volume_ml
    for label, c in zip(present, centres, strict=True):
        vol = float(n[label] * ml)
        if vol >= MIN_BONE_ML:
            out[Bone(label)] = (apply_affine(labels.affine, [c])[0], vol)
    return out


def _kabsch(src: NDArray[np.float64], dst: NDArray[np.float64], w: NDArray[np.float64]
            ) -> NDArray[np.float64]:
    """4x4 rigid transform minimising sum w |R src + t - dst|^2."""
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    h = ((src - cs) * w[:, None]).T @ (dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = cd - rot @ cs
    return m


def register_follow_up(baseline_bones: Volume, follow_bones: Volume, *,
                       bone_limit_mm: float = 3.0) -> Registration:
    """Register a follow-up study to its baseline from their bone label maps.

    Parameters
    ----------
    baseline_bones, follow_bones
        Bone label maps (project labels) of the two studies, each in its own grid.
    bone_limit_mm
        Residual above which a bone gets its own (translation) correction.

    Returns
    -------
    Registration

    Raises
    ------
    RegistrationError
        If fewer than three bones are seen whole in both studies.
    """
    a, b = _whole_bones(baseline_bones), _whole_bones(follow_bones)
    common = tuple(sorted(set(a) & set(b)))
    if len(common) < 3:
        raise RegistrationError(
            f"only {len(common)} bone(s) are seen whole in both studies; a rigid "
            "registration needs three (check the bone masks and fields of view)")
    src = np.array([b[k][0] for k in common])
    dst = np.array([a[k][0] for k in common])
    w = np.array([min(a[k][1], b[k][1]) for k in common])
    m = _kabsch(src, dst, w)
    moved = src @ m[:3, :3].T + m[:3, 3]
    res = np.linalg.norm(moved - dst, axis=1)
    rms = float(np.sqrt((w * res ** 2).sum() / w.sum()))
    per_bone = {}
    for k, r, p, q in zip(common, res, moved, dst, strict=True):
        if r > bone_limit_mm:
            own = m.copy()
            own[:3, 3] += q - p
            per_bone[k] = own
    return Registration(m, common, {k: float(r) for k, r in zip(common, res, strict=True)},
                        rms, per_bone)


@dataclass(frozen=True)
class EdemaOverlap:
    """Edema of one bone compared between baseline and follow-up after registration.

    Attributes
    ----------
    persisting_ml
        Follow-up edema where the baseline had edema too.
    new_ml
        Follow-up edema where the baseline had none (edema that moved or appeared).
    resolved_ml
        Baseline edema where the follow-up has none.
    """

    persisting_ml: float
    new_ml: float
    resolved_ml: float


def _landing(source: Volume, mask: NDArray[np.bool_], matrix: NDArray[np.float64],
             target: Volume) -> NDArray[np.uint8]:
    """Target labels at the places ``mask`` voxels of ``source`` land (0 outside)."""
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return np.zeros(0, np.uint8)
    world = apply_affine(matrix @ source.affine, idx)
    vox = np.rint(world_to_voxel(target.affine, world)).astype(np.int64)
    shape = np.array(target.shape)
    inside = np.all((vox >= 0) & (vox < shape), axis=1)
    out = np.zeros(len(idx), np.uint8)
    v = vox[inside]
    out[inside] = np.asarray(target.array)[v[:, 0], v[:, 1], v[:, 2]]
    return out


def edema_overlap(baseline_edema: Volume, follow_edema: Volume, reg: Registration,
                  bones: tuple[Bone, ...] | None = None) -> dict[Bone, EdemaOverlap]:
    """Per bone: persisting, new and resolved edema (mL) after registration.

    ``baseline_edema`` / ``follow_edema`` are edema label maps (each edema voxel holds
    its bone's label), each in its own grid.
    """
    be, fe = np.asarray(baseline_edema.array), np.asarray(follow_edema.array)
    if bones is None:
        bones = tuple(Bone(int(v)) for v in np.union1d(np.unique(be), np.unique(fe))
                      if v in {int(x) for x in Bone})
    out = {}
    for bone in bones:
        m = reg.transform_of(bone)
        fmask = fe == int(bone)
        landed = _landing(follow_edema, fmask, m, baseline_edema)
        persisting = int((landed == int(bone)).sum())
        new = int(fmask.sum()) - persisting
        bmask = be == int(bone)
        back = _landing(baseline_edema, bmask, np.asarray(np.linalg.inv(m), np.float64),
                        follow_edema)
        resolved = int(bmask.sum()) - int((back == int(bone)).sum())
        fml, bml = follow_edema.voxel_volume_ml, baseline_edema.voxel_volume_ml
        out[bone] = EdemaOverlap(round(persisting * fml, 4), round(new * fml, 4),
                                 round(resolved * bml, 4))
    return out
