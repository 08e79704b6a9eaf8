"""The cost the atlas registration minimises (:mod:`._atlas`): normalised mutual
information (NMI) between fixed T1 samples and the T1-like template, and the Powell fit
of a 9-parameter affine on it.

Speed without a change in result
--------------------------------
The registration evaluates this cost 7 000-15 000 times per study. Three exact
savings (the masks stay byte-identical, checked on the sample study and 14 harsh tuning
feet, ``bench/bench_bone_speed.py``):

* :func:`._sampling.sample_linear` computes what
  ``scipy.ndimage.map_coordinates(order=1, mode="constant")`` computes, bit for bit,
  in about 60 % of its time on the registration's samples.
* The fixed samples' part of the joint histogram (bin row offsets) is computed once
  per :class:`Matcher`, not per evaluation.
* :func:`fit` remembers the costs it has evaluated: Powell's line searches start by
  evaluating the point they start from, which is the best point of the previous one
  (about one evaluation in seven).
* With numba installed, the sampling and the joint histogram are one compiled loop
  (:func:`._kernels.joint_histogram`, the same operations in the same order: about
  270 -> 90 us per evaluation of 4 000 samples on the atlas template).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from ..errors import DetectionError
from ..geometry import apply_affine
from ._align import _BINS, _entropy, _intensity_bins
from ._atlas_template import AIR, OTHER
from ._kernels import joint_histogram

__all__ = ["Matcher", "affine9", "affine9_inverse", "fit", "rotation"]

#: NMI cost per (% anisotropic scale)^2: 10 % anisotropy costs 0.003, about a tenth
#: of the NMI gained by a good alignment.
ANISOTROPY_PENALTY = 3e-5


class Matcher:
    """NMI between fixed T1 samples and the template under a world transform."""

    def __init__(self, fixed: NDArray[np.float32], faff: NDArray[np.float64],
                 moving: NDArray[np.float32], maff: NDArray[np.float64],
                 mask: NDArray[np.bool_] | tuple[slice, ...], n: int,
                 rng: np.random.Generator) -> None:
        """Samples: ``n`` voxels of ``mask`` (a boolean array on ``fixed``'s grid, or a
        box of it as three slices with start and stop) drawn by ``rng``."""
        if isinstance(mask, tuple):  # the box's voxels in argwhere's (C) order
            shape = tuple(int(s.stop) - int(s.start) for s in mask)
            start = np.array([int(s.start) for s in mask], dtype=np.intp)
            idx: NDArray[np.intp] = np.indices(shape, dtype=np.intp).reshape(3, -1).T + start
            inside = np.ascontiguousarray(fixed[mask]).reshape(-1)
        else:
            idx = np.argwhere(mask)
            inside = fixed[mask]
        if len(idx) < 200:
            raise DetectionError("too little of the foot lies in the T1 field of view to "
                                 "place the bone atlas; give a bone label map instead")
        if len(idx) > n:
            idx = idx[rng.choice(len(idx), n, replace=False)]
        #: T1 world positions of the samples, (3, N)
        self.world = np.ascontiguousarray(apply_affine(faff, idx).T)
        vals = fixed[tuple(idx.T)]
        lo, hi = np.percentile(inside, [1, 99.5])
        self.fbin = np.round(_intensity_bins(vals, lo, hi)).astype(np.int64)
        #: first and last cell of each sample's row of the joint histogram
        self.row_start = self.fbin * _BINS
        self.row_end = self.row_start + (_BINS - 1)
        self.moving = np.ascontiguousarray(moving, dtype=np.float32)
        # outside the template: air for a tissue template (it has air), else unknown
        self.outside = AIR if float(moving.min()) <= AIR + 1e-3 else OTHER
        self.minv = np.linalg.inv(maff)

    def cost(self, a2w: NDArray[np.float64]) -> float:
        """``a2w`` maps atlas world to T1 world."""
        return self.cost_inverse(self.minv @ np.linalg.inv(a2w))

    def cost_inverse(self, w2v: NDArray[np.float64]) -> float:
        """``w2v`` maps T1 world to template voxels."""
        pv = w2v[:3, :3] @ self.world + w2v[:3, 3:4]
        if pv.shape[1] < 100:
            return -0.0
        # the template sampled at pv and binned with the fixed samples' bins
        # (:func:`._align._nmi`'s operations on the same numbers, the fixed part
        # precomputed; compiled when numba is there, bit for bit the same)
        joint = joint_histogram(self.moving, pv, self.outside, self.row_start,
                                self.row_end, _BINS)
        return -self._nmi(joint)

    @staticmethod
    def _nmi(joint: NDArray[np.float64]) -> float:
        """NMI of a joint histogram (:func:`._kernels.joint_histogram`)."""
        p = joint.reshape(_BINS, _BINS) / joint.sum()
        hj = _entropy(p)
        return (_entropy(p.sum(axis=1)) + _entropy(p.sum(axis=0))) / hj if hj > 0 else 0.0


def rotation(deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation about x, then y, then z (degrees), as :func:`._align.rigid_matrix`."""
    rx, ry, rz = (math.radians(float(d)) for d in deg)
    cx, sx, cy, sy = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry)
    cz, sz = math.cos(rz), math.sin(rz)
    return np.array([[cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
                     [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
                     [-sy, cy * sx, cy * cx]])


def affine9(p: NDArray[np.float64], centre: NDArray[np.float64],
            base: NDArray[np.float64]) -> NDArray[np.float64]:
    """base followed by rotation (deg), translation (mm), scale (1 unit = 1 %) about centre."""
    m = np.eye(4)
    m[:3, :3] = rotation(p[:3]) * np.exp(np.asarray(p[6:9]) / 100.0)
    m[:3, 3] = centre - m[:3, :3] @ centre + np.asarray(p[3:6])
    return m @ base


def affine9_inverse(p: NDArray[np.float64], centre: NDArray[np.float64]
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of the 9-parameter part of :func:`affine9` (without base): (A, b)
    with ``x = A @ y + b``; no matrix inversion (the rotation is orthogonal)."""
    a = rotation(p[:3]).T / np.exp(np.asarray(p[6:9]) / 100.0)[:, None]
    t = centre + np.asarray(p[3:6])
    return a, centre - a @ t


def fit(matcher: Matcher, centre: NDArray[np.float64], base: NDArray[np.float64],
        x0: NDArray[np.float64], xtol: float, maxfev: int, bounds: float
        ) -> tuple[NDArray[np.float64], float]:
    """Powell fit of the 9 parameters of :func:`affine9` (about ``centre``, after
    ``base``) from ``x0``; returns (parameters, cost). Rotations beyond ``2 * bounds``
    degrees or scales beyond ``bounds`` % cost 0 (no match); anisotropic scale costs
    :data:`ANISOTROPY_PENALTY`."""
    # T1 world -> template voxels = minv @ inv(base) @ inv(affine9): the fixed part once
    g = matcher.minv @ np.linalg.inv(base)
    seen: dict[bytes, float] = {}

    def fun(p: NDArray[np.float64]) -> float:
        key = p.tobytes()
        if key in seen:  # a line search starts where the last one ended
            return seen[key]
        if np.any(np.abs(p[6:9]) > bounds) or np.any(np.abs(p[:3]) > 2 * bounds):
            return 0.0
        # feet differ more in size than in proportion: anisotropic scaling costs a little
        scale = p[6:9]
        penalty = ANISOTROPY_PENALTY * float(((scale - scale.mean()) ** 2).sum())
        a, b = affine9_inverse(p, centre)
        w2v = np.eye(4)
        w2v[:3, :3] = g[:3, :3] @ a
        w2v[:3, 3] = g[:3, :3] @ b + g[:3, 3]
        value = matcher.cost_inverse(w2v) + penalty
        seen[key] = value
        return value

    res = optimize.minimize(fun, x0, method="Powell",
                            options={"xtol": xtol, "ftol": 1e-5, "maxfev": maxfev})
    return np.asarray(res.x, dtype=np.float64), float(res.fun)
