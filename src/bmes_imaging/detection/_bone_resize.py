"""Each bone moved AND resized onto its own marrow and cortex (eighth pass, issue 12).

The registration (:mod:`._atlas`) places the atlas' bones with the whole-foot size; on a
foot whose bones are slimmer than the atlas' at the same foot size the masks stay too
thick and several millimetres off (docs/detection.md, seventh pass). Here every bone's
registered mask is moved and scaled per axis, on its own:

* the bone's frame: its centroid and principal axes (longest first);
* a transform: translation (at most :data:`MAX_SHIFT_MM` per axis) and a scale per
  principal axis within :data:`SCALE_BOUNDS` about the centroid;
* its cost: a bone-only template of the T1, independent of any tissue template: the mean
  T1 on the band from :data:`MARROW_MM` to :data:`CORTEX_MM` inside the moved boundary
  (marrow, bright) less the mean on the ring from :data:`CORTEX_MM` inside to
  :data:`RING_OUT_MM` outside the boundary (cortex, dark), in units of the study's
  marrow / soft-tissue spread, less a penalty on the log scales and on the shift, and
  less :data:`OVERLAP` times the share of the band and ring that falls in another bone;
* a pattern search from the registered width and from thinner starts
  (:data:`WIDTH_STARTS`); the move is kept when the cost gains at least
  :data:`MIN_GAIN` (so a bone that already sits on its marrow and cortex stays), and
  its contrast after the move reaches :data:`MIN_CONTRAST`; a bone whose registered
  mask shows dark marrow (contrast below :data:`MIN_BASE`: edema, or a mask off its
  bone) is not searched;
* only the tarsals and metatarsals (:data:`RESIZED_BONES`).

On by default (``_boundary._RESIZE``; docs/detection.md, eighth pass).
The mask is moved by resampling its signed distance, so it keeps the atlas' shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._bone_shift import slice_axis
from ._sampling import sample_linear_nearest

__all__ = ["CORTEX_MM", "MARROW_MM", "MAX_SHIFT_MM", "MIN_GAIN", "OVERLAP",
           "RESIZED_BONES", "SCALE_BOUNDS", "resize_bones"]

#: Inner edge (mm inside the boundary) of the marrow band.
MARROW_MM = 3.0
#: Thickness (mm) of the cortex ring inside the boundary.
CORTEX_MM = 1.0
#: The cortex ring reaches this far (mm) outside the boundary (the label holds the cortex;
#: the ring from -1 to +0.5 mm keeps a mask on its bone where it is, the dark minimum of
#: a T1 profile across the boundary lying just inside).
RING_OUT_MM = 0.5
#: Largest shift (mm) along each principal axis.
MAX_SHIFT_MM = 8.0
#: Scale bounds per principal axis (longest, middle, shortest).
SCALE_BOUNDS = ((0.75, 1.25), (0.75, 1.25), (0.75, 1.25))
#: Cost penalties: per squared log scale, per mm of shift.
SCALE_PENALTY = 0.5
SHIFT_PENALTY = 0.005
#: Weight of the share of the template lying in other bones.
OVERLAP = 0.5
#: A bone moves only when its cost gains at least this much (spread units).
MIN_GAIN = 0.05
#: A bone whose registered mask's contrast (marrow band less cortex ring, spread units)
#: is below this after the search stays: its marrow is not bright (edema, dark on
#: T1) or it is lost.
MIN_CONTRAST = 0.15
#: ... and a bone whose registered mask's contrast is below this is not searched at all
#: (dark marrow inside a mask on its bone: edema). Tuning feet (docs/detection.md, eighth
#: pass): at -0.045 an edematous intermediate cuneiform moved off its lesion.
MIN_BASE = 0.0
_MAX_POINTS = 800
#: Bones resized: the tarsals and metatarsals (the tibia and fibula, cut by the field of
#: view, have no centroid or axes of their own; on tuning feet they lost Dice).
RESIZED_BONES = frozenset(range(1, 13))
#: Starts of the search: the registered width (middle and shortest axes) times these.
WIDTH_STARTS = (1.0, 0.85, 0.72)


@dataclass
class _Bone:
    """A bone's template in its own frame (mm about its centroid, principal axes)."""

    centre: NDArray[np.float64]  # mm, crop frame
    axes: NDArray[np.float64]  # columns: principal axes
    marrow: NDArray[np.float64]  # points (n, 3) in the bone frame
    cortex: NDArray[np.float64]


def _signed_distance(mask: NDArray[np.bool_], vs: NDArray[np.float64]
                     ) -> NDArray[np.float32]:
    """Signed distance (mm) to the mask's boundary, negative inside."""
    inside = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=vs)[1:-1, 1:-1, 1:-1]
    outside = ndimage.distance_transform_edt(~mask, sampling=vs)
    return np.where(mask, -inside, outside).astype(np.float32)


def _box(mask_box: tuple[slice, ...], pad: NDArray[np.int64], shape: tuple[int, ...]
         ) -> tuple[slice, ...]:
    return tuple(slice(max(int(sl.start - p), 0), min(int(sl.stop + p), n))
                 for sl, p, n in zip(mask_box, pad, shape, strict=True))


def _template(lab: NDArray[np.uint8], b: int, box: tuple[slice, ...],
              vs: NDArray[np.float64], rng: np.random.Generator) -> _Bone | None:
    """Bone ``b``'s template; ``box`` (its bounding box, padded) places it (mm, grid)."""
    pad = np.ceil(2.0 * CORTEX_MM / vs).astype(np.int64) + 1
    small = _box(box, pad, lab.shape)
    mask = lab[small] == b
    sdf = _signed_distance(mask, vs)
    origin = np.array([sl.start for sl in small]) * vs
    pts = np.argwhere(mask) * vs + origin
    if len(pts) < 50:
        return None
    centre = pts.mean(0)
    w, v = np.linalg.eigh(np.cov((pts - centre).T))
    axes = v[:, np.argsort(w)[::-1]]

    def sample(sel: NDArray[np.bool_]) -> NDArray[np.float64]:
        p = np.argwhere(sel) * vs + origin
        if len(p) > _MAX_POINTS:
            p = p[rng.choice(len(p), _MAX_POINTS, replace=False)]
        return (p - centre) @ axes

    marrow = sample((sdf < -CORTEX_MM) & (sdf >= -MARROW_MM))
    cortex = sample((sdf >= -CORTEX_MM) & (sdf <= RING_OUT_MM))
    if len(marrow) < 20 or len(cortex) < 20:
        return None
    return _Bone(centre, axes, marrow, cortex)


def _place(bone: _Bone, x: NDArray[np.float64], pts: NDArray[np.float64]
           ) -> NDArray[np.float64]:
    """Bone-frame points under transform ``x`` (3 shifts mm, 3 log scales) in crop mm."""
    return bone.centre + x[:3] @ bone.axes.T + (pts * np.exp(x[3:])) @ bone.axes.T


def _cost(bone: _Bone, x: NDArray[np.float64], img: NDArray[np.float32],
          others: NDArray[np.bool_], vs: NDArray[np.float64], spread: float,
          contrast_only: bool = False) -> float:
    m = _place(bone, x, bone.marrow) / vs
    c = _place(bone, x, bone.cortex) / vs
    # scipy's map_coordinates(order=1, mode="nearest") bit for bit, compiled where
    # numba is (``img`` must be C-contiguous: the caller's crop is copied once)
    im = sample_linear_nearest(img, m.T)
    ic = sample_linear_nearest(img, c.T)
    both = np.concatenate([m, c])
    idx = np.clip(np.rint(both).astype(np.int64), 0, np.array(img.shape) - 1)
    over = float(others[tuple(idx.T)].mean())
    contrast = (float(im.mean()) - float(ic.mean())) / spread
    if contrast_only:
        return contrast
    return (contrast - SCALE_PENALTY * float((x[3:] ** 2).sum())
            - SHIFT_PENALTY * float(np.linalg.norm(x[:3])) - OVERLAP * over)


def _pattern(bone: _Bone, x: NDArray[np.float64], img: NDArray[np.float32],
             others: NDArray[np.bool_], vs: NDArray[np.float64], spread: float
             ) -> tuple[NDArray[np.float64], float]:
    """Pattern search of the 6 parameters from ``x`` (within the bounds)."""
    lo = np.array([-MAX_SHIFT_MM] * 3 + [np.log(b[0]) for b in SCALE_BOUNDS])
    hi = np.array([MAX_SHIFT_MM] * 3 + [np.log(b[1]) for b in SCALE_BOUNDS])
    best = _cost(bone, x, img, others, vs, spread)
    for step_mm, step_s in ((2.0, 0.08), (1.0, 0.04), (0.5, 0.02)):
        steps = np.array([step_mm] * 3 + [step_s] * 3)
        for _ in range(12):
            moved = False
            for k in range(6):
                for sgn in (1.0, -1.0):
                    y = x.copy()
                    y[k] = np.clip(y[k] + sgn * steps[k], lo[k], hi[k])
                    if y[k] == x[k]:
                        continue
                    v = _cost(bone, y, img, others, vs, spread)
                    if v > best + 1e-6:
                        x, best, moved = y, v, True
                        break
            if not moved:
                break
    return x, best


def _search(bone: _Bone, img: NDArray[np.float32], others: NDArray[np.bool_],
            vs: NDArray[np.float64], spread: float) -> tuple[NDArray[np.float64], float]:
    """The best transform from :data:`WIDTH_STARTS` and its gain over no change (0 when
    the result's contrast stays below :data:`MIN_CONTRAST`)."""
    base = _cost(bone, np.zeros(6), img, others, vs, spread)
    if _cost(bone, np.zeros(6), img, others, vs, spread, contrast_only=True) < MIN_BASE:
        return np.zeros(6), 0.0
    best_x, best = np.zeros(6), base
    for w in WIDTH_STARTS:
        x0 = np.array([0.0, 0.0, 0.0, 0.0, np.log(w), np.log(w)])
        x, v = _pattern(bone, x0, img, others, vs, spread)
        if v > best:
            best_x, best = x, v
    if _cost(bone, best_x, img, others, vs, spread, contrast_only=True) < MIN_CONTRAST:
        return np.zeros(6), 0.0
    return best_x, best - base


def _spread(img: NDArray[np.float32], lab: NDArray[np.uint8], vs: NDArray[np.float64]
            ) -> float:
    """The study's marrow level less its soft tissue's (T1), for the cost's units."""
    found = ndimage.find_objects((lab > 0).view(np.uint8))
    if not found or found[0] is None:
        return 0.0
    crop = _box(found[0], np.ceil(9.0 / vs).astype(np.int64), lab.shape)
    img, lab = img[crop], lab[crop]
    bone = lab > 0
    core = ndimage.distance_transform_edt(bone, sampling=vs) > 2.0
    far = ndimage.distance_transform_edt(~bone, sampling=vs)
    soft = (far > 3.0) & (far < 8.0)
    if core.sum() < 50 or soft.sum() < 50:
        return 0.0
    return float(np.median(img[core]) - np.percentile(img[soft], 25))


def _paint(out: NDArray[np.uint8], labels: NDArray[np.uint8], b: int,
           x: NDArray[np.float64], bone: _Bone, vs0: NDArray[np.float64]) -> None:
    """Paint bone ``b`` of ``labels`` moved by ``x`` into ``out`` (full-resolution grid)."""
    found = ndimage.find_objects((labels == b).view(np.uint8))
    if not found or found[0] is None:
        return
    src_box = _box(found[0], np.full(3, 2, dtype=np.int64), labels.shape)
    sdf = _signed_distance(labels[src_box] == b, vs0)
    origin = np.array([sl.start for sl in src_box]) * vs0
    corners = np.array(np.meshgrid(*[[sl.start, sl.stop - 1] for sl in src_box],
                                   indexing="ij")).reshape(3, -1).T * vs0
    shift = x[:3] @ bone.axes.T
    fwd = bone.centre + shift + (((corners - bone.centre) @ bone.axes) * np.exp(x[3:])
                                 ) @ bone.axes.T
    lo = np.clip(np.floor(fwd.min(0) / vs0).astype(np.int64) - 1, 0, labels.shape)
    hi = np.clip(np.ceil(fwd.max(0) / vs0).astype(np.int64) + 2, 0, labels.shape)
    if np.any(hi <= lo):
        return
    grid = np.indices(tuple(hi - lo), dtype=np.float64).reshape(3, -1).T
    p = (grid + lo) * vs0
    q = ((p - bone.centre - shift) @ bone.axes) / np.exp(x[3:])
    src = (bone.centre + q @ bone.axes.T - origin) / vs0
    d = ndimage.map_coordinates(sdf, src.T, order=1, mode="nearest")
    region = out[tuple(slice(int(a), int(c)) for a, c in zip(lo, hi, strict=True))]
    region[(d < 0).reshape(tuple(hi - lo))] = b


def resize_bones(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
                 labels: NDArray[np.uint8], bones: set[int] | None = None
                 ) -> tuple[NDArray[np.uint8], dict[int, NDArray[np.float64]]]:
    """``labels`` with each bone (of ``bones``; :data:`RESIZED_BONES` when None) moved and
    resized (module doc).

    Returns the labels and, per bone that moved, its transform (3 shifts in mm along
    its principal axes, 3 scales).
    """
    vs0 = np.asarray(voxel_sizes, dtype=np.float64)
    axis = slice_axis(vs0)
    f = np.array([2 if (axis is None or a != axis) and vs0[a] < 0.6 else 1
                  for a in range(3)])
    sub = tuple(slice(None, None, int(k)) for k in f)
    vs = vs0 * f
    lab = np.ascontiguousarray(labels[sub])
    sigma = 0.5 / vs
    if axis is not None:
        sigma[axis] = 0.0
    img = ndimage.gaussian_filter(np.asarray(t1_array, dtype=np.float32)[sub], sigma)
    spread = _spread(img, lab, vs)
    if spread <= 0:
        return labels, {}
    rng = np.random.default_rng(0)
    boxes = ndimage.find_objects(lab)
    todo = [i + 1 for i, bx in enumerate(boxes) if bx is not None
            and i + 1 in (RESIZED_BONES if bones is None else bones)]
    vol = {b: int((lab[boxes[b - 1]] == b).sum()) for b in todo}
    margin = np.ceil((MAX_SHIFT_MM + MARROW_MM + 2.0) / vs).astype(np.int64)
    moves: dict[int, tuple[NDArray[np.float64], _Bone]] = {}
    for b in sorted(todo, key=lambda k: -vol[k]):
        bx = boxes[b - 1]
        extent = np.array([sl.stop - sl.start for sl in bx])
        box = _box(bx, margin + np.ceil(0.25 * extent).astype(np.int64), lab.shape)
        bone = _template(lab, b, bx, vs, rng)
        if bone is None:
            continue
        origin = np.array([sl.start for sl in box]) * vs
        local = _Bone(bone.centre - origin, bone.axes, bone.marrow, bone.cortex)
        others = (lab[box] > 0) & (lab[box] != b)
        x, gain = _search(local, np.ascontiguousarray(img[box]), others, vs, spread)
        if gain >= MIN_GAIN:
            moves[b] = (x, bone)
    if not moves:
        return labels, {}
    out = labels.copy()
    for b in moves:
        out[out == b] = 0
    for b in sorted(moves, key=lambda k: -vol[k]):  # smaller bones painted last
        _paint(out, labels, b, moves[b][0], moves[b][1], vs0)
    return out, {b: np.concatenate([m[0][:3], np.exp(m[0][3:])]) for b, m in moves.items()}
