"""Bone regions from the image where the atlas' shape is wrong: region competition.

After registration (:mod:`._atlas`) every bone mask has the atlas' shape. A bone shaped
unlike the atlas (longer, thinner, bulging) keeps that shape, millimetres off its true
boundary. Here every bone competes for the voxels around it with its neighbours and with
the soft tissue, in each T1 slice (the T1's own plane, where a 0.45 mm pixel shows the
cortex; across 3-4 mm slices it is blurred):

* seeds: each bone's core (its registered mask eroded in plane, more for a thick bone,
  cut where a thin dark line crosses it: a core reaching over a joint space or a cortex
  is not the bone's), and the soft tissue (more than :data:`OUTSIDE_MM` outside every
  bone, and the air around the foot);
* barriers: thin dark lines of the T1 (cortex, joint spaces), found by a black top-hat
  in plane. A broad dark region (edematous marrow, dark on T1) is no barrier, so it
  stays with the bone around it; T1 darkness alone never decides;
* a watershed of that barrier map (plus the in-plane gradient and a weak ridge on the
  registered boundary, which keeps it where the image shows no edge) between the seeds,
  slice by slice, within :data:`BAND_MM` of the registered boundary; then every bone
  regrown :data:`GROW_MM` into the dark line around it (the cortex is bone).

Fifth pass of the bone masks; the variants tried and their figures are in
docs/detection.md ("Automatic bone masks", fifth pass).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._bone_shift import slice_axis as _slice_axis
from ._slice_watershed import (
    crop_box,
    in_plane_connectivity,
    in_plane_gradient,
    keep_other_bones,
    onto_grid,
)

__all__ = ["BAND_MM", "CORE_MM", "OUTSIDE_MM", "compete"]

#: In-plane erosion (mm) of each registered bone giving at least its seed.
CORE_MM = 2.0
#: Share of the bone's largest in-plane depth (per slice) also eroded for its seed.
CORE_SHARE = 0.25
#: Distance (mm) outside every bone beyond which voxels seed the soft tissue.
OUTSIDE_MM = 5.0
#: Only voxels this close (mm) to the registered boundary may change label.
BAND_MM = 5.0
#: Radius (mm) of the in-plane black top-hat finding thin dark lines.
LINE_MM = 1.5
#: A core voxel this dark-line-like (share of the line map's 99th percentile) is cut.
LINE_CUT = 0.35
#: Weight of the in-plane T1 gradient magnitude added to the line map (both scaled to
#: their 99th percentile).
GRAD_W = 0.5
#: Height of a weak ridge along the registered boundary (Gaussian, 1 mm): where the
#: image shows no edge (a flat region, a blurred slice) the registered boundary stays.
PRIOR_W = 0.15
#: Each bone's first and last this many slices keep the registered mask (partial volume
#: blurs the cortex there).
END_SLICES = 1
#: Grow each bone by this much (mm, in plane) into the dark line around it: the watershed
#: splits the cortex, which is bone.
GROW_MM = 0.5
#: Sixth pass: a voxel the watershed gives to a bone outside its registered mask is kept
#: only where the T1 (Gaussian 0.4 mm in plane) reaches this share of the bone's marrow
#: (75th percentile of the T1 in its registered mask): a bone grows into bright marrow,
#: never onto muscle, tendon or fluid; removals are unchanged. None: no limit;
#: ``inf``: the step only removes.
ADD_MIN_T1: float | None = None
_BACKGROUND = 255


def dark_lines(img: NDArray[np.float32], vs: NDArray[np.float64], axis: int | None
               ) -> NDArray[np.float32]:
    """In-plane black top-hat (closing minus image) of ``img``: thin dark lines."""
    sigma = 0.4 / vs
    if axis is not None:
        sigma[axis] = 0.0
    sm = ndimage.gaussian_filter(img, sigma)
    r = np.maximum(np.round(LINE_MM / vs).astype(int), 1)
    if axis is not None:
        r[axis] = 0
    grid = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
    foot = sum((g * float(v)) ** 2 for g, v in zip(grid, vs, strict=True)) <= LINE_MM ** 2
    return (ndimage.grey_closing(sm, footprint=foot) - sm).astype(np.float32)


def _seeds(lab: NDArray[np.uint8], line: NDArray[np.bool_], vs: NDArray[np.float64],
           axis: int | None) -> NDArray[np.int32]:
    """Bone cores and soft-tissue seeds."""
    plane = vs.copy()
    if axis is not None:
        plane[axis] = 1e3  # distances in plane only: every slice keeps its own core
    seeds = np.zeros(lab.shape, dtype=np.int32)
    others = [a for a in range(3) if a != axis]
    for i, box in enumerate(ndimage.find_objects(lab)):
        if box is None:
            continue
        b = i + 1
        inside = ndimage.distance_transform_edt(np.pad(lab[box] == b, 1),
                                                sampling=plane)[1:-1, 1:-1, 1:-1]
        if axis is not None:
            depth = inside.max(axis=tuple(others), keepdims=True)
        else:
            depth = np.full((1, 1, 1), inside.max())
        core = (inside >= np.maximum(CORE_MM, CORE_SHARE * depth)) & ~line[box]
        seeds[box][core] = b
    outside = ndimage.distance_transform_edt(lab == 0, sampling=vs)
    seeds[outside > OUTSIDE_MM] = _BACKGROUND
    return seeds


def _grow(out: NDArray[np.uint8], line: NDArray[np.bool_], vs: NDArray[np.float64],
          axis: int | None) -> NDArray[np.uint8]:
    """Each bone grown by :data:`GROW_MM` in plane into unlabelled line voxels."""
    r = np.maximum(np.round(GROW_MM / vs).astype(int), 0)
    if axis is not None:
        r[axis] = 0
    if not r.any():
        return out
    grown = ndimage.grey_dilation(out, size=tuple(int(2 * k + 1) for k in r))
    take = (out == 0) & line & (grown > 0)
    out = out.copy()
    out[take] = grown[take]
    return out


def _keep_registered(out: NDArray[np.uint8], lab: NDArray[np.uint8],
                     seeds: NDArray[np.int32], axis: int | None,
                     bones: set[int] | None) -> None:
    """Where the image does not decide, each bone keeps its registered mask (in place):
    its first and last :data:`END_SLICES` slices, slices without a seed of it, and the
    whole bone if its region changed its volume by a factor outside 0.5-2."""
    for i, box in enumerate(ndimage.find_objects(lab)):
        if box is None or (bones is not None and i + 1 not in bones):
            continue
        b = i + 1
        a = lab == b
        if axis is not None:  # a slice without a seed of the bone keeps its mask there
            has = (seeds == b).any(axis=tuple(x for x in range(3) if x != axis))
            ks = np.nonzero((a).any(axis=tuple(x for x in range(3) if x != axis)))[0]
            if len(ks) and END_SLICES:
                n_end = int(END_SLICES)
                has[ks[:n_end]] = False
                has[ks[-n_end:]] = False
            shape = [1, 1, 1]
            shape[axis] = -1
            keep = a & ~has.reshape(shape) & ((out == 0) | (out == b))
            out[keep] = b
        ratio = (out == b).sum() / max(int(a.sum()), 1)
        if not 0.5 < ratio < 2.0:
            s = out == b
            out[s & ~a] = lab[s & ~a]
            out[a] = b


def _bright_additions_only(out: NDArray[np.uint8], lab: NDArray[np.uint8],
                           img: NDArray[np.float32], vs: NDArray[np.float64],
                           axis: int | None) -> None:
    """In place: voxels given to a bone outside its registered mask stay only where the
    T1 reaches :data:`ADD_MIN_T1` of that bone's marrow; the others go back to ``lab``."""
    assert ADD_MIN_T1 is not None
    added = (out > 0) & (out != lab)
    if not added.any():
        return
    sigma = 0.4 / vs
    if axis is not None:
        sigma[axis] = 0.0
    sm = ndimage.gaussian_filter(img, sigma)
    level = np.zeros(256, dtype=np.float32)
    for b in np.unique(out[added]):
        inside = img[lab == b]
        level[b] = np.percentile(inside, 75) if inside.size else np.inf
    dark = added & (sm < np.float32(ADD_MIN_T1) * level[out])
    out[dark] = lab[dark]


def compete(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
            labels: NDArray[np.uint8], bones: set[int] | None = None
            ) -> NDArray[np.uint8]:
    """The registered bone ``labels`` with every bone's region decided by the T1.

    Parameters
    ----------
    t1_array
        T1 intensities.
    voxel_sizes
        Voxel sizes (mm) of the T1 grid.
    labels
        Registered bone labels on the T1 grid.
    bones
        Only these bones change (all when None); the others keep their masks.

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
    crop = crop_box(todo, margin)
    lab = labels[crop]
    img = np.asarray(t1_array[crop], dtype=np.float32)
    elev = dark_lines(img, vs, axis)
    elev /= max(float(np.percentile(elev, 99)), 1e-6)
    if GRAD_W:
        grad = in_plane_gradient(img, vs, axis)
        elev += GRAD_W * grad / max(float(np.percentile(grad, 99)), 1e-6)
    # the watershed on pixels of 0.6 mm or more; a line keeps its strongest pixel
    f = np.where(vs < 0.6, 2, 1)
    if np.any(f > 1):
        elev = ndimage.maximum_filter(elev, size=tuple(int(k) for k in f))
    sub = tuple(slice(None, None, int(k)) for k in f)
    e = elev[sub]
    seeds = _seeds(lab[sub], e > LINE_CUT, vs * f, axis)
    if PRIOR_W:
        edge = lab[sub] != ndimage.grey_erosion(lab[sub], size=3)
        if axis is not None:
            plane = vs * f
            plane[axis] = 1e3
        else:
            plane = vs * f
        d = ndimage.distance_transform_edt(~edge, sampling=plane)
        e = e + np.float32(PRIOR_W) * np.exp(-0.5 * d * d).astype(np.float32)
    ws = watershed(e, seeds, connectivity=in_plane_connectivity(axis))
    ws[ws == _BACKGROUND] = 0
    near = ndimage.distance_transform_edt(lab[sub] == 0, sampling=vs * f) <= BAND_MM
    ws, seeds, near = onto_grid((ws, seeds, near), f, lab.shape)
    out = np.where(near, ws, lab).astype(np.uint8)
    if ADD_MIN_T1 is not None:
        _bright_additions_only(out, lab, img, vs, axis)
    if GROW_MM:
        out = _grow(out, elev > LINE_CUT, vs, axis)
    if bones is not None:
        keep_other_bones(out, lab, bones)
    _keep_registered(out, lab, seeds, axis, bones)
    full = labels.copy()
    full[crop] = out
    return full
