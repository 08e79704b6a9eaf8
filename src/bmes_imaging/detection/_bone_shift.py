"""Whole-bone shifts decided by the image: a poorly fitting tarsal moved onto its edges.

With an atlas whose bone shapes differ from the foot, the per-bone affines of
:mod:`._atlas` leave some tarsals several millimetres off their bone (on tuning feet
registered with a warped atlas the cuboid's centre lay 6-11 mm from the truth), too far
for the 3 mm band of :func:`._boundary.image_boundaries`. Here each such bone's mask is
translated, as a whole, to where its rim lies on the T1 edges:

* edge map: the in-plane gradient magnitude of the T1 (Gaussian 0.6 mm in plane, pixels
  of about 0.9 mm), divided by its 99th percentile over the bones;
* score of a shift: the mean edge strength on the mask's rim (the mask within
  :data:`RIM_MM` of its boundary, in plane), less :data:`PENALTY` per millimetre of
  shift; every integer shift up to :data:`MAX_MM` in plane and one slice across is
  scored at once (FFT correlation);
* a bone moves when the best shift scores above no shift, and stays moved only if its
  edge fit (:func:`._refine.edge_quality`) rises by at least :data:`CONFIRM`.

Only the larger tarsals move (:data:`SHIFTED_BONES`): the intermediate and lateral
cuneiforms, small and between like-shaped neighbours, often jumped onto a neighbour's
edges on tuning feet, and the metatarsals (parallel, alike) did so too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["CONFIRM", "MAX_MM", "PENALTY", "RIM_MM", "SHIFTED_BONES", "shift_bones",
           "shift_poorly_fitting", "slice_axis"]

#: Bones that may be shifted: talus, calcaneus, navicular, cuboid, medial cuneiform.
SHIFTED_BONES = frozenset({1, 2, 3, 4, 5})
#: Largest in-plane shift (mm); across slices at most one slice.
MAX_MM = 8.0
#: Rim of the mask (mm, in plane) whose edge strength scores a shift.
RIM_MM = 1.0
#: Score lost per millimetre of shift (edge strength is scaled to about 0-1).
PENALTY = 0.01
#: A shifted bone's edge fit must rise by this much, else it goes back.
CONFIRM = 0.1
#: Bones fitting the T1 edges worse than this are candidates for a shift.
SHIFT_BELOW = 0.3


def slice_axis(vs: NDArray[np.float64]) -> int | None:
    """The slice axis of an anisotropic T1 (None when nearly isotropic)."""
    k = int(np.argmax(vs))
    return k if vs[k] >= 1.5 * float(np.median(vs)) else None


def _edge_map(t1_array: NDArray[np.floating], vs: NDArray[np.float64], axis: int,
              labels: NDArray[np.uint8]) -> NDArray[np.float32]:
    sigma = 0.6 / vs
    sigma[axis] = 0.0
    sm = ndimage.gaussian_filter(np.asarray(t1_array, dtype=np.float32), sigma)
    grads = [np.gradient(sm, float(vs[a]), axis=a) for a in range(3) if a != axis]
    edge = np.sqrt(sum(g * g for g in grads)).astype(np.float32)
    scale = float(np.percentile(edge[labels > 0], 99)) if (labels > 0).any() else 1.0
    return edge / max(scale, 1e-6)


def _best_shift(edge: NDArray[np.float32], mask: NDArray[np.bool_],
                vs: NDArray[np.float64], axis: int) -> NDArray[np.int64] | None:
    """The integer voxel shift of ``mask`` whose rim lies best on ``edge`` (None: stay)."""
    from scipy.signal import fftconvolve

    reach = np.array([1 if a == axis else round(float(MAX_MM / vs[a])) for a in range(3)])
    nz = np.argwhere(mask)
    lo = np.maximum(nz.min(0) - reach - 2, 0)
    hi = np.minimum(nz.max(0) + reach + 3, mask.shape)
    box = tuple(slice(int(a), int(c)) for a, c in zip(lo, hi, strict=True))
    m = mask[box]
    plane = vs.copy()
    plane[axis] = 1e3
    inside = ndimage.distance_transform_edt(np.pad(m, 1), sampling=plane)[1:-1, 1:-1, 1:-1]
    rim = (m & (inside <= RIM_MM)).astype(np.float32)
    n = float(rim.sum())
    if n == 0:
        return None
    # full correlation: index k holds the rim moved by k - (shape - 1)
    corr = fftconvolve(edge[box], rim[::-1, ::-1, ::-1], mode="full") / n
    size = np.array(rim.shape)
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"),
                    -1).reshape(-1, 3)
    vals = corr[tuple((grid + size - 1).T)]
    score = vals - PENALTY * np.linalg.norm(grid * vs, axis=1)
    k = int(np.argmax(score))
    if score[k] <= corr[tuple(size - 1)] or not grid[k].any():
        return None
    return grid[k]


def shift_bones(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
                labels: NDArray[np.uint8], bones: set[int]
                ) -> tuple[NDArray[np.uint8], dict[int, NDArray[np.int64]]]:
    """``labels`` with each of ``bones`` translated onto the T1 edges (module doc).

    Returns the labels and the voxel shift of each bone that moved. Needs an
    anisotropic T1 (slices thicker than the pixels); otherwise nothing moves.
    """
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    axis = slice_axis(vs)
    if axis is None or not bones:
        return labels, {}
    f = np.array([2 if a != axis and vs[a] < 0.6 else 1 for a in range(3)])
    sub = tuple(slice(None, None, int(k)) for k in f)
    lab = labels[sub]
    edge = _edge_map(np.asarray(t1_array)[sub], vs * f, axis, lab)
    shifts: dict[int, NDArray[np.int64]] = {}
    for b in sorted(bones):
        m = lab == b
        if m.sum() < 20:
            continue
        s = _best_shift(edge, m, vs * f, axis)
        if s is not None:
            shifts[b] = s * f
    if not shifts:
        return labels, {}
    out = labels.copy()
    volume = {b: int((labels == b).sum()) for b in shifts}
    for b in sorted(shifts, key=lambda x: -volume[x]):  # smaller bones painted last
        moved = ndimage.shift(labels == b, shifts[b], order=0, mode="constant", cval=0)
        out[out == b] = 0
        out[moved] = b
    return out, shifts


def shift_poorly_fitting(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
                         labels: NDArray[np.uint8], fit: dict[int, float]
                         ) -> tuple[NDArray[np.uint8], dict[int, float]]:
    """Shift the :data:`SHIFTED_BONES` whose edge fit is below :data:`SHIFT_BELOW`;
    keep a shift only where the bone's edge fit rises by :data:`CONFIRM`.

    Returns the labels and the edge fit per bone (updated for the bones that moved).
    """
    from ._refine import edge_quality

    low = {b for b, q in fit.items() if q < SHIFT_BELOW and b in SHIFTED_BONES}
    if not low:
        return labels, fit
    new, shifts = shift_bones(t1_array, voxel_sizes, labels, low)
    if not shifts:
        return labels, fit
    fit2 = edge_quality(t1_array, voxel_sizes, new)
    fit = dict(fit)
    for b in shifts:
        if fit2.get(b, 0.0) < fit.get(b, 0.0) + CONFIRM:  # not confirmed: back
            new[new == b] = 0
            new[(labels == b) & (new == 0)] = b
        else:
            fit[b] = fit2[b]
    return new, fit
