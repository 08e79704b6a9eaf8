"""Bone boundaries from the image: the registered atlas masks moved onto the T1 edges.

After registration (:mod:`._atlas`) every bone mask has the atlas' shape, placed by a
per-bone affine. A foot whose bones are shaped unlike the atlas keeps the atlas' shape,
a few millimetres off the bone in places. Here the image decides the boundary near the
mask, slice by slice in the T1's own plane (where a 0.45 mm pixel shows the dark cortex
between bright marrow and bright fat; across 3-4 mm slices it is blurred):

* markers: each bone's mask eroded by :data:`CORE_MM` in plane (its marrow, whatever
  its signal: edematous marrow, dark on T1, stays bone), and the region more than
  :data:`OUTSIDE_MM` outside every bone (soft tissue);
* a watershed of the in-plane T1 edge strength between them, in each slice separately;
* only voxels within :data:`BAND_MM` of the atlas boundary may change, and a bone whose
  moved mask changes its volume by more than a third keeps its atlas mask.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..volume import Volume
from ._bone_shift import shift_poorly_fitting
from ._bone_shift import slice_axis as _slice_axis
from ._slice_watershed import (
    crop_box,
    in_plane_connectivity,
    in_plane_gradient,
    keep_other_bones,
    onto_grid,
)

__all__ = ["BAND_MM", "CORE_MM", "OUTSIDE_MM", "image_boundaries", "image_decides",
           "not_in_air"]

#: In-plane erosion (mm) of each registered bone giving its marker.
CORE_MM = 2.0
#: Distance (mm) outside every bone beyond which voxels mark soft tissue.
OUTSIDE_MM = 3.0
#: Only voxels this close (mm) to the registered boundary may change label.
BAND_MM = 3.0
_BACKGROUND = 255


def _markers(lab: NDArray[np.uint8], vs: NDArray[np.float64], axis: int | None
             ) -> NDArray[np.int32]:
    """Eroded bones (per bone, in plane) and far background."""
    plane = vs.copy()
    if axis is not None:
        plane[axis] = 1e3  # distances in plane only: every slice keeps its own core
    markers = np.zeros(lab.shape, dtype=np.int32)
    for i, box in enumerate(ndimage.find_objects(lab)):
        if box is None:
            continue
        b = i + 1
        inside = ndimage.distance_transform_edt(np.pad(lab[box] == b, 1), sampling=plane)
        core = inside[1:-1, 1:-1, 1:-1] >= CORE_MM
        markers[box][core] = b
    outside = ndimage.distance_transform_edt(lab == 0, sampling=vs)
    markers[outside > OUTSIDE_MM] = _BACKGROUND
    return markers


def image_boundaries(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
                     labels: NDArray[np.uint8], bones: set[int] | None = None
                     ) -> NDArray[np.uint8]:
    """The registered bone ``labels`` with boundaries moved onto the T1 edges nearby.

    Parameters
    ----------
    t1_array
        T1 intensities.
    voxel_sizes
        Voxel sizes (mm) of the T1 grid.
    labels
        Registered bone labels on the T1 grid.
    bones
        Move only these bones' boundaries (all when None); the others keep their masks.

    Returns
    -------
    numpy.ndarray
        uint8 labels on the same grid.
    """
    from skimage.segmentation import watershed

    todo = np.isin(labels, sorted(bones)) if bones is not None else labels > 0
    if not todo.any():
        return labels
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    axis = _slice_axis(vs)
    margin = np.ceil((BAND_MM + OUTSIDE_MM + 2.0) / vs).astype(np.int64)
    crop = crop_box(todo.view(np.uint8), margin)
    lab = labels[crop]
    img = np.asarray(t1_array[crop], dtype=np.float32)
    elev = in_plane_gradient(img, vs, axis)
    # the watershed on pixels of 0.6 mm or more (its cost grows with the voxels; the
    # edges are smoothed at 0.6 mm anyway), repeated back onto the T1 grid
    f = np.where(vs < 0.6, 2, 1)
    sub = tuple(slice(None, None, int(k)) for k in f)
    markers = _markers(lab[sub], vs * f, axis)
    ws = watershed(elev[sub], markers, connectivity=in_plane_connectivity(axis))
    ws[ws == _BACKGROUND] = 0
    # only near the registered boundary; a slice without a marker of a bone keeps it
    near = (ndimage.distance_transform_edt(lab[sub] == 0, sampling=vs * f) <= BAND_MM) & (
        ndimage.distance_transform_edt(lab[sub] > 0, sampling=vs * f) <= BAND_MM)
    ws, markers, near = onto_grid((ws, markers, near), f, lab.shape)
    out = np.where(near, ws, lab).astype(np.uint8)
    if bones is not None:
        keep_other_bones(out, lab, bones)
    for i, box in enumerate(ndimage.find_objects(lab)):
        if box is None or (bones is not None and i + 1 not in bones):
            continue
        b = i + 1
        a, s = lab == b, out == b
        if axis is not None:
            has_core = (markers == b).any(axis=tuple(x for x in range(3) if x != axis))
            shape = [1, 1, 1]
            shape[axis] = -1
            keep = a & ~has_core.reshape(shape)
            out[keep] = b
            s = out == b
        ratio = s.sum() / max(int(a.sum()), 1)
        if not 0.67 < ratio < 1.5:
            out[s & ~a] = lab[s & ~a]
            out[a] = b
    full = labels.copy()
    full[crop] = out
    return full


#: Air: below this share of the T1 range (1st to 99.5th percentile) above the 1st
#: percentile, as the body mask of the global search.
_AIR = 0.08


def not_in_air(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
               labels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``labels`` without the voxels outside the imaged body.

    A bone lies inside the body: voxels of the air around the foot (signal below
    :data:`_AIR` of the range, Gaussian 1 mm, not enclosed by the body in their slice)
    are never bone, whatever the atlas says. Dark tissue inside the body (cortex,
    tendon, edematous marrow) is enclosed and kept.
    """
    if not labels.any():
        return labels
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    axis = _slice_axis(vs)
    crop = crop_box(labels, np.ceil(4.0 / vs).astype(np.int64))
    img = np.asarray(t1_array[crop], dtype=np.float32)
    sigma = 1.0 / vs
    if axis is not None:
        sigma[axis] = 0.0
    sm = ndimage.gaussian_filter(img, sigma)
    lo, hi = np.percentile(np.asarray(t1_array)[::2, ::2, ::2], [1, 99.5])
    body = sm > lo + _AIR * (hi - lo)
    if axis is not None:  # enclosed in its own slice
        body = np.moveaxis(body, axis, 0)
        for k in range(body.shape[0]):
            body[k] = ndimage.binary_fill_holes(body[k])
        body = np.moveaxis(body, 0, axis)
    else:
        body = ndimage.binary_fill_holes(body)
    out = labels.copy()
    sub = out[crop]
    sub[~body] = 0
    return out


#: Bones whose registered mask fits the T1 edges worse than this
#: (:func:`._refine.edge_quality`) have their boundary moved onto the image's edges
#: (:func:`image_boundaries`). See :func:`image_decides`.
_MOVE_BELOW = 0.5
#: Fifth pass: every bone competes for its region (:mod:`._bone_regions`); False gives
#: the fourth pass' step (shifts and watershed of the poorly fitting bones only). Off:
#: chosen on mask Dice of tuning feet, it moved the metatarsal masks of a plain VHF
#: foot in 3.3 mm slices onto cortex and soft tissue, which the detector then reported
#: as edema of two metatarsals (``tests/core/detection/test_detect_phantom.py``);
#: automatic masks must not cost the detector's specificity (docs/detection.md).
_ALL_BONES_COMPETE = False
#: With ``_ALL_BONES_COMPETE``: only these bones compete (None: all); the others take the
#: fourth pass' step (watershed when fitting poorly).
_COMPETE_BONES: set[int] | None = None
#: Sixth pass: soft tissue running into a mask from outside leaves it
#: (:func:`._bone_trim.trim_soft_tissue`).
_TRIM_SOFT = False
#: ... only for bones whose registered mask fits the T1 edges worse than this (None: all).
_TRIM_BELOW: float | None = None
#: Eighth pass: every tarsal and metatarsal moved and resized onto its own marrow and
#: cortex before the steps above (:func:`._bone_resize.resize_bones`). On: on the read
#: splits (vault + sealed, first 32 each) it removed false bones of the detector on both
#: families (VHF 26 -> 20, parametric 218 -> 216) and missed no lesion more
#: (docs/detection.md, eighth pass).
_RESIZE = True


def image_decides(t1: Volume, labels: NDArray[np.uint8]
                  ) -> tuple[NDArray[np.uint8], dict[int, float]]:
    """Every bone's region decided by the T1 near its registered mask; returns the labels
    and each bone's edge fit before any was moved (a moved boundary sits on some edge,
    so a moved mask's fit is no evidence that it is right).

    The larger tarsals fitting very poorly first move as a whole onto the image's edges
    (:func:`._bone_shift.shift_poorly_fitting`, third pass). Then (fifth pass) every
    bone competes for its region with its neighbours and the soft tissue on the T1's
    thin dark lines (:func:`._bone_regions.compete`), instead of the watershed of the
    poorly fitting bones only (:func:`image_boundaries`): on tuning feet registered
    with an atlas whose bones are reshaped one by one, or warped, it raised the pooled
    tarsal Dice, at a small loss on feet of the atlas' own shapes (docs/detection.md,
    fifth pass). That step is off by default (``_ALL_BONES_COMPETE``): on a plain foot
    it let the detector report edema of two metatarsals whose masks it had moved onto
    cortex and soft tissue.
    """
    from ._bone_regions import compete
    from ._refine import edge_quality

    labels = not_in_air(t1.array, t1.voxel_sizes, labels)
    if _RESIZE:  # eighth pass: each bone moved and resized onto its marrow and cortex
        from ._bone_resize import resize_bones

        labels, _ = resize_bones(t1.array, t1.voxel_sizes, labels)
    fit = edge_quality(t1.array, t1.voxel_sizes, labels)
    # larger tarsals far off their bone first move as a whole (:mod:`._bone_shift`)
    labels, moved_fit = shift_poorly_fitting(t1.array, t1.voxel_sizes, labels, fit)
    done: set[int] = set()
    if _ALL_BONES_COMPETE:
        labels = compete(t1.array, t1.voxel_sizes, labels, _COMPETE_BONES)
        done = set(_COMPETE_BONES) if _COMPETE_BONES is not None else set(moved_fit)
    low = {b for b, q in moved_fit.items() if q < _MOVE_BELOW and b not in done}
    if low:
        labels = image_boundaries(t1.array, t1.voxel_sizes, labels, low)
    if _TRIM_SOFT:
        from ._bone_trim import trim_soft_tissue

        poor = (None if _TRIM_BELOW is None
                else {b for b, q in moved_fit.items() if q < _TRIM_BELOW})
        if poor is None or poor:
            labels = trim_soft_tissue(t1.array, t1.voxel_sizes, labels, poor)
    return labels, fit
