"""Growth of a region into its bone's rim only near its core (eighth round).

Used by :func:`bmes_imaging.detection._compare.flag_edema` (``rim_growth_mm``; see
``docs/detection.md``, "Decision rule", step 4): a region seeded deeper than the rim
grows over the marrow deeper than the rim first, and into the rim only within
``rim_growth_mm`` (plus one voxel) of that part.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["grow_through_core"]


def _near_core(core: NDArray[np.bool_], voxel_sizes: tuple[float, float, float] | None,
               reach_mm: float) -> NDArray[np.bool_]:
    """Voxels within ``reach_mm`` plus one voxel of ``core`` (an ellipsoid; the voxel
    covers the half voxel a surface voxel lies from the surface, and makes the next
    slice of a thick-slice grid always reached)."""
    vs = np.asarray(voxel_sizes if voxel_sizes is not None else (1.0, 1.0, 1.0))
    r = reach_mm / vs + 1.0
    half = np.floor(r + 1e-6).astype(int)
    grid = np.ogrid[tuple(slice(-h, h + 1) for h in half)]
    ball = sum((g / ri) ** 2 for g, ri in zip(grid, r, strict=True)) <= 1.0 + 1e-6
    idx = np.nonzero(core)
    lo = [max(int(i.min()) - h, 0) for i, h in zip(idx, half, strict=True)]
    hi = [min(int(i.max()) + h + 1, n) for i, h, n in zip(idx, half, core.shape,
                                                       strict=True)]
    sub = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    out = np.zeros(core.shape, dtype=bool)
    out[sub] = ndimage.binary_dilation(core[sub], structure=ball)
    return out


def grow_through_core(reg: NDArray[np.bool_], allowed: NDArray[np.bool_],
                      deep: NDArray[np.bool_],
                      voxel_sizes: tuple[float, float, float] | None, reach_mm: float
                      ) -> NDArray[np.bool_]:
    """A seed deeper than the rim grown over ``allowed`` voxels deeper than the rim,
    then into the rim only within ``reach_mm`` of that part (``rim_growth_mm``).

    A rim voxel mixes marrow with what lies beyond the bone's surface; next to an
    oedematous core it belongs to the lesion reaching the surface, but a path along the
    rim away from any such core is a shell of partial volume (cortex, tendon, muscle),
    which is how red-marrow islands and small foci grew into regions of 3-10 % of a
    large bone (eighth round).

    Parameters
    ----------
    reg
        The seed (voxels of one bone's box).
    allowed
        Voxels the region may grow over (above its edge level, inside its bone).
    deep
        Voxels deeper than the rim (per-voxel rim of ``Ratios.voxel_depth_limits``).
    voxel_sizes
        Voxel edge lengths (mm) of the grid; ``None`` means 1 mm.
    reach_mm
        How far (mm, plus one voxel) into the rim the region may reach from its part
        deeper than the rim.

    Returns
    -------
    numpy.ndarray
        The grown region (boolean, the shape of ``reg``).
    """
    core = ndimage.binary_propagation(reg & allowed & deep, mask=allowed & deep)
    if not core.any():
        return core
    near = _near_core(core, voxel_sizes, reach_mm)
    return np.asarray(ndimage.binary_propagation(core, mask=core | (allowed & ~deep & near)))
