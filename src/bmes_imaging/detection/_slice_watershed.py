"""In-plane watershed pieces shared by the bone boundary steps.

:func:`._boundary.image_boundaries` (the watershed of poorly fitting bones) and
:func:`._bone_regions.compete` (every bone competing for its region) both decide bone
voxels slice by slice in the T1's own plane on a cropped, possibly subsampled grid; the
crop, the in-plane gradient, the in-plane connectivity, the way back onto the T1 grid and
the rule that only the chosen bones move are defined here once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["crop_box", "in_plane_connectivity", "in_plane_gradient", "keep_other_bones",
           "onto_grid"]


def crop_box(labels: NDArray[np.uint8] | NDArray[np.bool_], margin: NDArray[np.int64]
          ) -> tuple[slice, ...]:
    """The box around the nonzero voxels of ``labels``, ``margin`` voxels wider."""
    nz = np.argwhere(labels > 0)
    lo = np.maximum(nz.min(axis=0) - margin, 0)
    hi = np.minimum(nz.max(axis=0) + 1 + margin, labels.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def in_plane_gradient(img: NDArray[np.float32], vs: NDArray[np.float64], axis: int | None
                      ) -> NDArray[np.floating]:
    """Gradient magnitude of ``img`` smoothed at 0.6 mm, in the slice plane only (all
    three axes when there is no slice axis)."""
    sigma = 0.6 / vs
    if axis is not None:
        sigma[axis] = 0.0
    sm = ndimage.gaussian_filter(img, sigma)
    grads = [np.gradient(sm, float(vs[a]), axis=a) for a in range(3) if a != axis]
    return np.sqrt(sum(g * g for g in grads))


def in_plane_connectivity(axis: int | None) -> NDArray[np.bool_]:
    """Watershed connectivity within the slice plane (full 3-D without a slice axis)."""
    conn = np.zeros((3, 3, 3), dtype=bool)
    if axis is None:
        conn[:] = True
    else:
        idx: list[slice | int] = [slice(None)] * 3
        idx[axis] = 1
        conn[tuple(idx)] = True
    return conn


def onto_grid(arrays: tuple[NDArray[Any], ...], f: NDArray[np.int64],
              shape: tuple[int, ...]) -> tuple[NDArray[Any], ...]:
    """Arrays computed on every ``f``-th voxel repeated back onto the grid of ``shape``."""
    for a in range(3):
        if f[a] > 1:
            arrays = tuple(np.repeat(x, f[a], axis=a) for x in arrays)
    return tuple(x[: shape[0], : shape[1], : shape[2]] for x in arrays)


def keep_other_bones(out: NDArray[np.uint8], lab: NDArray[np.uint8], bones: set[int]
                     ) -> None:
    """In place: only ``bones`` move, and only into background; the other bones keep
    their registered voxels of ``lab``."""
    chosen = sorted(bones)
    moving = np.isin(lab, chosen)
    out[~moving & (lab > 0)] = lab[~moving & (lab > 0)]
    out[(lab == 0) & ~np.isin(out, chosen)] = 0
    out[moving & (out > 0) & ~np.isin(out, chosen)] = 0
