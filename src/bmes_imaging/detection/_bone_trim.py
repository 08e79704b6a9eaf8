"""Soft tissue out of the bone masks: what the detector sees inside a mask is marrow.

A registered mask that lies partly beside its bone holds muscle, tendon or cartilage:
darker than marrow on T1 and brighter on a fluid-sensitive series, which is what edema
looks like to the detector. Here, in each T1 slice (in plane), voxels of intermediate T1
(between :data:`LOW` and :data:`HIGH` of the marrow's level: muscle, tendon, cartilage;
not the dark cortex, not bright marrow or fat) form regions; a region that reaches at
least :data:`OUTSIDE_MM2` mm\u00b2 outside every bone is soft tissue that runs into the
mask, and its voxels inside the mask leave it. Edematous marrow is as dark as muscle on
T1 but is enclosed by the cortex (darker than :data:`LOW`), so its region stays inside
the bone. A bone that would lose more than :data:`MAX_LOSS` of its voxels keeps its mask.

Sixth pass of the bone masks (docs/detection.md, "Automatic bone masks").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._bone_shift import slice_axis as _slice_axis
from ._slice_watershed import crop_box

__all__ = ["FAR_MM", "HIGH", "LOW", "MAX_LOSS", "OPEN_MM", "OUTSIDE_MM2", "trim_soft_tissue"]

#: Intermediate T1, as a share of the marrow's level (75th percentile of the T1 inside
#: every mask): from :data:`LOW` (darker is cortex, joint space or air) ...
LOW = 0.2
#: ... to :data:`HIGH` (brighter is marrow or fat).
HIGH = 0.7
#: A region of intermediate T1 with at least this area (mm^2, in its slice) outside every
#: bone is soft tissue.
OUTSIDE_MM2 = 10.0
#: Regions of intermediate T1 narrower than about twice this (mm, in plane) are opened
#: away: the partial volume between marrow and cortex, not muscle or a lesion.
OPEN_MM = 0.8
#: ... counting only the area farther than this (mm) from every bone.
FAR_MM = 0.0
#: A bone that would lose more than this share of its voxels keeps its mask.
MAX_LOSS = 0.4


def trim_soft_tissue(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
                     labels: NDArray[np.uint8], bones: set[int] | None = None
                     ) -> NDArray[np.uint8]:
    """``labels`` without the soft tissue that runs into the masks from outside.

    Parameters
    ----------
    t1_array
        T1 intensities.
    voxel_sizes
        Voxel sizes (mm) of the T1 grid.
    labels
        Bone labels on the T1 grid.
    bones
        Only these bones lose voxels (all when None).

    Returns
    -------
    numpy.ndarray
        uint8 labels on the same grid (a copy when anything changed).
    """
    if not labels.any():
        return labels
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    axis = _slice_axis(vs)
    crop = crop_box(labels, np.ceil(6.0 / vs).astype(np.int64))
    lab = labels[crop]
    img = np.asarray(t1_array[crop], dtype=np.float32)
    sigma = 0.4 / vs
    if axis is not None:
        sigma[axis] = 0.0
    sm = ndimage.gaussian_filter(img, sigma)
    level = float(np.percentile(sm[lab > 0], 75))
    soft = (sm >= LOW * level) & (sm <= HIGH * level)
    # thin lines of intermediate T1 (the partial volume between marrow and cortex, all
    # around a bone) would join an enclosed lesion to the outside: opened away in plane
    r = np.maximum(np.round(OPEN_MM / vs).astype(int), 1)
    if axis is not None:
        r[axis] = 0
    soft = ndimage.binary_opening(soft, structure=np.ones(tuple(2 * r + 1), dtype=bool))
    structure = ndimage.generate_binary_structure(3, 1)
    if axis is not None:  # regions within their own slice
        idx = [1, 1, 1]
        for k in (0, 2):
            idx[axis] = k
            structure[tuple(idx)] = False
    comp, n = ndimage.label(soft, structure=structure)
    if n == 0:
        return labels
    pixel_mm2 = float(np.prod(vs) / (vs[axis] if axis is not None else vs.min()))
    far = lab == 0
    if FAR_MM > 0:  # a lesion reaching past a shifted mask stays near it; muscle goes on
        far &= ndimage.distance_transform_edt(lab == 0, sampling=vs) > FAR_MM
    outside = np.bincount(comp[far & soft], minlength=n + 1) * pixel_mm2
    runs_in = outside >= OUTSIDE_MM2
    runs_in[0] = False
    cut = runs_in[comp] & (lab > 0)
    if bones is not None:
        cut &= np.isin(lab, sorted(bones))
    if not cut.any():
        return labels
    out = lab.copy()
    counts = np.bincount(lab.ravel(), minlength=256)
    lost = np.bincount(lab[cut], minlength=256)
    for b in np.nonzero(lost)[0]:
        if lost[b] <= MAX_LOSS * counts[b]:
            out[cut & (lab == b)] = 0
    full = labels.copy()
    full[crop] = out
    return full
