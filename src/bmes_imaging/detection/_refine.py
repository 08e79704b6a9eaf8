"""Fitting the registered atlas to the foot in front of it.

After the global affine start (:mod:`._atlas`) two stages let the image decide:

1. **Articulation** (:func:`articulate`). The leg (tibia, fibula) and the foot (tarsals
   and metatarsals) are fitted as two bodies, each with its own 9-parameter affine in
   a box around it. A foot in plantar flexion turns about the ankle axis (the atlas
   origin is the centre of curvature of the talar dome, its x axis the ankle axis), so
   each body is first tried at several angles about that axis and the best start is
   refined by Powell's method; then the hindfoot, the midfoot and the forefoot are
   fitted the same way from the foot's affine. The per-bone affines of :mod:`._atlas`
   start from these.
2. **Image fit as a measure, not a mover** (:func:`edge_quality`). Moving each bone's
   boundary onto the T1 edges after registration was tried twice and dropped: a random
   walker per bone (eroded atlas bone as seeds, background outside the dilated union,
   skimage) lowered the mean tarsal Dice on tuning feet from 0.92 / 0.91 to 0.88 / 0.88
   (and cost 4 s), the marker-controlled watershed of :func:`snap_to_edges` to 0.84 /
   0.86: with 3 mm slices the cortex is blurred across a slice and the walker follows
   partial-volume edges. The edge profile along each boundary normal instead says how
   well a mask sits on its bone (:func:`edge_quality`).
3. **Flexed atlas** (:func:`flexed_atlas`): the atlas with its foot turned against the
   leg, a start for feet imaged in strong plantar flexion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..geometry import apply_affine
from ..volume import Volume
from ._sampling import sample_linear_nearest, sample_nearest

__all__ = ["GROUPS", "articulate", "edge_quality", "flexed_atlas", "group_of",
           "snap_to_edges"]

#: Rigid-ish parts of the foot and ankle, coarse to fine: (name, bone labels).
GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("leg", (13, 14)),
    ("foot", (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)),
)
#: Parts of the foot fitted after the foot as a whole.
SUBGROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("hindfoot", (1, 2)),
    ("midfoot", (3, 4, 5, 6, 7)),
    ("forefoot", (8, 9, 10, 11, 12)),
)
#: Angles (degrees) about the ankle axis tried as starts for the leg and the foot.
FLEXION_STARTS: tuple[float, ...] = (-30.0, -15.0, 0.0, 15.0, 30.0)


def group_of(label: int) -> str | None:
    """The finest group (:data:`SUBGROUPS`, else :data:`GROUPS`) holding ``label``."""
    for name, labels in SUBGROUPS + GROUPS:
        if label in labels:
            return name
    return None


def _axis_rotation(axis: NDArray[np.float64], point: NDArray[np.float64], deg: float
                   ) -> NDArray[np.float64]:
    """4x4 rotation by ``deg`` about the line through ``point`` along ``axis``."""
    k = axis / max(float(np.linalg.norm(axis)), 1e-9)
    a = math.radians(deg)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * (kx @ kx)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = point - rot @ point
    return m


FitFn = Callable[[NDArray[np.float64], Sequence[int], Sequence[NDArray[np.float64]], float],
                 tuple[NDArray[np.float64], float] | None]


def articulate(glob: NDArray[np.float64], fit: FitFn,
               present: set[int]) -> dict[str, NDArray[np.float64]]:
    """Atlas-to-T1 affines of the leg, the foot and the foot's three parts.

    Parameters
    ----------
    glob
        The global atlas-to-T1 world affine.
    fit
        ``fit(start, labels, extra_starts, bound_deg) -> (affine, cost)``: the best
        9-parameter affine of the bones ``labels`` in their box, from ``start`` and the
        ``extra_starts`` (each a 4x4 atlas-to-T1 affine); rotations bounded by
        ``bound_deg``. Supplied by :func:`._atlas.register_atlas`, which holds the image.
    present
        Atlas labels (the bones the atlas holds).

    Returns
    -------
    dict
        Group name -> affine; a group missing from the image or the atlas is absent.
    """
    origin = apply_affine(glob, np.zeros((1, 3)))[0]
    axis = glob[:3, 0]  # the atlas x axis (ankle axis) in T1 world
    out: dict[str, NDArray[np.float64]] = {}
    for name, labels in GROUPS:
        labs = [b for b in labels if b in present]
        if not labs:
            continue
        starts = [_axis_rotation(axis, origin, a) @ glob for a in FLEXION_STARTS if a]
        res = fit(glob, labs, starts, 45.0)
        if res is not None:
            out[name] = res[0]
    foot = out.get("foot", glob)
    for name, labels in SUBGROUPS:
        labs = [b for b in labels if b in present]
        if not labs:
            continue
        res = fit(foot, labs, [], 20.0)
        if res is not None:
            out[name] = res[0]
    return out


def snap_to_edges(t1: Volume, labels: NDArray[np.uint8], smoothing_mm: float
                  ) -> NDArray[np.uint8]:
    """Move atlas boundaries onto the T1 cortex (marker-controlled watershed of the
    T1 edge strength; eroded bones as markers, > 3 mm outside every bone as background)."""
    from skimage.segmentation import watershed

    vs = t1.voxel_sizes
    from ._compare import _crop_box

    crop = _crop_box(labels, np.ceil(6.0 / vs).astype(np.int64))
    lab = labels[crop]
    img = ndimage.gaussian_filter(np.asarray(t1.array[crop], dtype=np.float32),
                                  smoothing_mm / vs)
    grads = np.gradient(img, *vs)
    elev = np.sqrt(sum(g * g for g in grads))
    # markers: each bone eroded 2 mm (per bone); background: > 3 mm outside every bone
    from ._compare import bone_depth

    depth = bone_depth(lab, vs)
    markers = np.where(depth >= 2.0, lab, 0).astype(np.int32)
    outside = ndimage.distance_transform_edt(lab == 0, sampling=vs)
    bg = 255
    markers[(outside > 3.0)] = bg
    ws = watershed(elev, markers)
    ws[ws == bg] = 0
    snapped = ws.astype(np.uint8)
    # a bone the snap lost or bloated keeps its atlas shape
    for b in np.unique(lab[lab > 0]):
        a, s = lab == b, snapped == b
        ratio = s.sum() / max(a.sum(), 1)
        if not 0.7 < ratio < 1.4:
            snapped[s] = 0
            snapped[a & (snapped == 0)] = b
    out = np.zeros(labels.shape, dtype=np.uint8)
    out[crop] = snapped
    return out


#: Share of boundary points whose T1 edge peaks at the boundary for a mask that fits
#: (quality 1) and for masks placed at random (quality 0): with the peak searched over
#: +-4 mm and "at the boundary" meaning within 1 mm, chance alone gives about 0.3.
FIT_GOOD, FIT_CHANCE = 0.75, 0.4


def edge_quality(t1_array: NDArray[np.floating], voxel_sizes: NDArray[np.float64],
                 labels: NDArray[np.uint8]) -> dict[int, float]:
    """Per bone, 0-1: whether the mask's boundary lies on the T1 edge of the bone.

    At every boundary point the T1 edge strength (gradient magnitude, Gaussian 0.7
    mm) is sampled along the mask's normal from 4 mm inside to 4 mm outside; the
    point counts as fitting when the strongest edge within 1 mm of the boundary is at
    least 0.8 of the strongest over the whole profile. The share of fitting points is
    mapped from :data:`FIT_CHANCE` (0) to :data:`FIT_GOOD` (1). The cortex (dark
    between bright marrow and bright fat) gives the edges, so edematous marrow (dark
    on T1) does not move them; a mask beside its bone fits only by chance.
    """
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    out: dict[int, float] = {}
    margin = np.ceil(6.0 / vs).astype(int)
    offsets = np.arange(-4.0, 4.01, 0.5)
    near = np.abs(offsets) <= 1.0
    for i, box in enumerate(ndimage.find_objects(labels)):
        if box is None:
            continue
        b = i + 1
        sl = tuple(slice(max(0, s.start - m), min(n, s.stop + m))
                   for s, m, n in zip(box, margin, labels.shape, strict=False))
        bone = labels[sl] == b
        if bone.sum() < 20:
            continue
        img = np.asarray(t1_array[sl], dtype=np.float32)
        sm = ndimage.gaussian_filter(img, 0.7 / vs)
        g = np.sqrt(sum(d * d for d in np.gradient(sm, *vs)))
        soft = ndimage.gaussian_filter(bone.astype(np.float32), 1.0 / vs)
        normal = np.stack(np.gradient(soft, *vs))  # points into the bone
        rim = bone & ~ndimage.binary_erosion(bone)
        pts = np.argwhere(rim)
        if len(pts) > 3000:
            pts = pts[np.random.default_rng(0).choice(len(pts), 3000, replace=False)]
        n = normal[(slice(None), *pts.T)].T
        norm = np.linalg.norm(n, axis=1)
        ok = norm > 1e-6
        if ok.sum() < 20:
            continue
        pts, n = pts[ok], -n[ok] / norm[ok, None]  # outward unit normals (mm)
        prof = np.stack([ndimage.map_coordinates(g, (pts + t * n / vs).T, order=1,
                                                 mode="nearest") for t in offsets], axis=1)
        fits = prof[:, near].max(axis=1) >= 0.8 * prof.max(axis=1)
        share = float(fits.mean())
        out[b] = float(np.clip((share - FIT_CHANCE) / (FIT_GOOD - FIT_CHANCE), 0.0, 1.0))
    return out


_LEG = (13, 14)


def flexed_atlas(labels: NDArray[np.uint8], label_affine: NDArray[np.float64],
                 template: NDArray[np.float32], template_affine: NDArray[np.float64],
                 flexion_deg: float) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """The atlas with its foot turned by ``flexion_deg`` (plantar flexion) against the leg.

    The atlas frame has its origin at the centre of curvature of the talar dome and its
    x axis along the ankle: the foot (every bone but the tibia and fibula, and the soft
    tissue below 12 mm above the origin) is rotated about that axis, the leg stays.
    Returns new labels and template on the same grids (a start for feet imaged in strong
    plantar flexion, where one affine cannot hold both the leg and the foot).
    """
    a = math.radians(-flexion_deg)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)],
                    [0.0, math.sin(a), math.cos(a)]])

    def warp(arr: NDArray[np.generic], aff: NDArray[np.float64], order: int,
             lab_src: NDArray[np.uint8], lab_aff: NDArray[np.float64]) -> NDArray[np.generic]:
        out = np.empty(arr.shape, dtype=arr.dtype)
        inv_l = np.linalg.inv(lab_aff)
        grid_j, grid_k = np.meshgrid(np.arange(arr.shape[1]), np.arange(arr.shape[2]),
                                     indexing="ij")
        for i in range(arr.shape[0]):  # one sagittal plane at a time: little memory
            idx = np.stack([np.full(grid_j.size, i), grid_j.ravel(), grid_k.ravel()], axis=1)
            u = apply_affine(aff, idx)
            foot_u = u @ rot  # rotation transposed: where the turned foot came from
            # map_coordinates' order 0 (constant) and order 1 (nearest mode), bit for bit
            leg_lab = sample_nearest(lab_src, apply_affine(inv_l, u).T, 0)
            foot_lab = sample_nearest(lab_src, apply_affine(inv_l, foot_u).T, 0)
            leg = np.isin(leg_lab, _LEG) | ((foot_lab == 0) & (u[:, 2] > 12.0))
            leg &= ~(np.isin(foot_lab, range(1, 13)) & ~np.isin(leg_lab, _LEG))
            src = np.where(leg[:, None], u, foot_u)
            at = apply_affine(np.linalg.inv(aff), src).T
            vals = (sample_nearest(arr, at, None) if order == 0
                    else sample_linear_nearest(arr.astype(np.float32, copy=False), at)
                    if arr.dtype == np.float32
                    else ndimage.map_coordinates(arr, at, order=order, mode="nearest"))
            out[i] = vals.reshape(arr.shape[1:])
        return out

    new_labels = warp(labels, label_affine, 0, labels, label_affine)
    new_template = warp(template, template_affine, 1, labels, label_affine)
    return new_labels.astype(np.uint8), new_template.astype(np.float32)
