"""Bone masks on the T1 grid: imported label maps and seeded growth.

Three ways lead to one result type, a uint8 label :class:`~bmes_imaging.volume.Volume`
on the T1 grid in the project's label convention (:mod:`bmes_imaging.bones`):

* :func:`bones_from_labels`: a label map in any grid, resampled by nearest neighbour
  through world coordinates;
* :func:`bones_from_seeds`: a few RAS+ points per bone (what a reader clicks) place the
  foot atlas, which is then registered to the T1 image (``_atlas.seeded_bones``);
  :func:`watershed_from_seeds` is the atlas-free alternative (marker-controlled
  watershed of the T1 edges) for thin-slice images;
* automatic masks: :mod:`bmes_imaging.detection._atlas`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from ..bones import Bone, bone_from_label
from ..errors import DetectionError
from ..geometry import resample_to, world_to_voxel
from ..volume import Volume
from ._config import DetectionConfig

__all__ = ["bones_from_labels", "bones_from_seeds", "watershed_from_seeds"]


def bones_from_labels(labels: Volume, t1: Volume) -> Volume:
    """Resample a bone label map (any grid) into the T1 grid by nearest neighbour.

    Raises
    ------
    DetectionError
        If the label map holds values outside the bone vocabulary, or no bone lands in
        the T1 field of view.
    """
    arr = np.asarray(labels.array)
    if not np.issubdtype(arr.dtype, np.integer):
        rounded = np.rint(arr)
        if not np.allclose(arr, rounded):
            raise DetectionError("the bone label map holds non-integer values; expected "
                                 "integer labels of the project convention (1 talus ... "
                                 "14 fibula)")
        arr = rounded
    arr = arr.astype(np.int32)
    bad = sorted(set(np.unique(arr).tolist()) - {0} - {int(b) for b in Bone})
    if bad:
        raise DetectionError(f"the bone label map holds labels {bad[:5]} outside the project "
                             "convention (1-14); relabel it (see bmes_imaging.bones)")
    src = Volume(arr.astype(np.uint8), labels.affine, labels.info)
    if src.shape == t1.shape and np.allclose(src.affine, t1.affine, atol=1e-4):
        out = src.array.copy()
    else:
        out = resample_to(src, t1.affine, t1.shape, order=0, cval=0).array
    if not out.any():
        raise DetectionError("no labelled bone of the label map falls inside the T1 field of "
                             "view; is it the label map of this study and foot?")
    return Volume(out.astype(np.uint8), t1.affine, t1.info.replace(sequence="other"))


def _seeds_in_voxels(t1: Volume, seeds: Mapping[Bone | int | str, Sequence[ArrayLike]]
                     ) -> dict[int, NDArray[np.float64]]:
    """Validated seeds: label -> (N, 3) RAS+ points inside the T1 field of view."""
    from ..bones import bone_from_name

    out: dict[int, NDArray[np.float64]] = {}
    for key, points in seeds.items():
        bone = bone_from_name(key) if isinstance(key, str) else bone_from_label(int(key))
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if p.size == 0:
            continue
        if p.shape[1] != 3:
            raise DetectionError(f"seeds for {bone.bone_name}: expected RAS+ points (x, y, z), "
                                 f"found shape {p.shape}")
        v = world_to_voxel(t1.affine, p)
        inside = np.all((v >= -0.5) & (v <= np.array(t1.shape) - 0.5), axis=1)
        if not inside.all():
            raise DetectionError(f"{int((~inside).sum())} seed point(s) of {bone.bone_name} fall "
                                 "outside the T1 field of view; seeds are RAS+ millimetres in "
                                 "the scanner frame")
        out[int(bone)] = p
    if not out:
        raise DetectionError("no seed points given; give at least one RAS+ point per bone")
    return out


def bones_from_seeds(t1: Volume, seeds: Mapping[Bone | int | str, Sequence[ArrayLike]],
                     config: DetectionConfig | None = None) -> Volume:
    """Grow a few RAS+ points per bone (what a reader clicks) into bone masks on T1.

    The points place the foot atlas (each seeded bone's atlas centre to the mean of its
    points), the atlas is then registered to the image and the seeded bones' masks are
    returned (:func:`bmes_imaging.detection._atlas.seeded_bones`). A marker-controlled
    watershed of the T1 edges alone (:func:`watershed_from_seeds`) leaked into the fat
    around bones wherever 3 mm slices blur the thin cortex.
    """
    from ._atlas import seeded_bones

    return seeded_bones(t1, _seeds_in_voxels(t1, seeds), config)


def watershed_from_seeds(t1: Volume, seeds: Mapping[Bone | int | str, Sequence[ArrayLike]],
                         config: DetectionConfig | None = None, *,
                         max_radius_mm: float = 45.0) -> Volume:
    """Grow seeds into bones by a watershed of the T1 edges (no atlas; thin slices only).

    Marker-controlled watershed on the T1 gradient magnitude: every bone's points
    (small balls of 1.5 mm) are its markers; dark voxels (cortex, tendons, muscle, air:
    T1 below 35 % of the marrow level sampled at the seeds) and everything farther than
    ``max_radius_mm`` from all seeds are background markers. The cortex is therefore the
    boundary; each bone then takes in its cortex shell (about 1.8 mm of darker voxels).

    Parameters
    ----------
    t1
        The T1 image.
    seeds
        Bone (or label, or name) to a sequence of RAS+ mm points inside that bone.
    config
        Detection settings (smoothing).
    max_radius_mm
        Voxels farther than this from every seed are background.
    """
    from skimage.segmentation import watershed

    from ..bones import bone_from_name

    _seeds_in_voxels(t1, seeds)  # validation with the usual messages
    cfg = config or DetectionConfig()
    vs = t1.voxel_sizes
    pts: dict[int, NDArray[np.float64]] = {}
    for key, points in seeds.items():
        bone = bone_from_name(key) if isinstance(key, str) else bone_from_label(int(key))
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if p.size == 0:
            continue
        if p.shape[1] != 3:
            raise DetectionError(f"seeds for {bone.bone_name}: expected RAS+ points (x, y, z), "
                                 f"found shape {p.shape}")
        pts[int(bone)] = world_to_voxel(t1.affine, p)
    if not pts:
        raise DetectionError("no seed points given; give at least one RAS+ point per bone")
    allv = np.vstack(list(pts.values()))
    shape = np.array(t1.shape)
    inside = np.all((allv >= -0.5) & (allv <= shape - 0.5), axis=1)
    if not inside.all():
        raise DetectionError(f"{int((~inside).sum())} seed point(s) fall outside the T1 field "
                             "of view; seeds are RAS+ millimetres in the scanner frame")
    margin = np.ceil(max_radius_mm / vs).astype(int)
    lo = np.maximum(0, np.floor(allv.min(axis=0)).astype(int) - margin)
    hi = np.minimum(shape, np.ceil(allv.max(axis=0)).astype(int) + 1 + margin)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    img = ndimage.gaussian_filter(np.asarray(t1.array[crop], dtype=np.float32),
                                  cfg.smoothing_mm / vs)
    grads = np.gradient(img, *vs)
    elev = np.sqrt(sum(g * g for g in grads))
    markers = np.zeros(img.shape, dtype=np.int32)
    ball = np.ceil(1.5 / vs).astype(int)
    levels = []
    for lab, v in pts.items():
        for p in v - lo:
            c = np.round(p).astype(int)
            sl = tuple(slice(max(0, c[a] - ball[a]), c[a] + ball[a] + 1) for a in range(3))
            markers[sl] = lab
            levels.append(float(np.median(img[sl])))
    marrow_level = float(np.median(levels))
    bg = 255
    dark = img < 0.35 * marrow_level
    # distance limit from the seeds
    seed_mask = markers > 0
    dist = ndimage.distance_transform_edt(~seed_mask, sampling=vs)
    markers[(dark | (dist > max_radius_mm)) & ~seed_mask] = bg
    ws = watershed(elev, markers)
    ws[ws == bg] = 0
    out_crop = np.zeros(img.shape, dtype=np.uint8)
    # the cortex shell (about 1.8 mm) is added by in-plane growth into darker voxels;
    # axes with thick slices (> 2 mm) are not grown along
    shell = ndimage.generate_binary_structure(3, 1)
    for ax in range(3):
        if vs[ax] > 2.0:
            idx = [1, 1, 1]
            for end in (0, 2):
                idx[ax] = end
                shell[tuple(idx)] = False
    shell_steps = max(1, round(1.8 / float(vs.min())))
    cortex_like = img < 0.7 * marrow_level
    for lab in pts:
        m = ndimage.binary_fill_holes(ws == lab)
        m = ndimage.binary_opening(m, iterations=1) | (markers == lab)
        # keep the part connected to the seeds, add the cortex shell (one voxel)
        comp, _ = ndimage.label(m)
        keep = np.unique(comp[markers == lab])
        m = np.isin(comp, keep[keep > 0])
        m = ndimage.binary_dilation(m, structure=shell, iterations=shell_steps,
                                    mask=(out_crop == 0) & (ws != lab) & cortex_like) | m
        m = ndimage.binary_dilation(m, iterations=1,
                                    mask=(out_crop == 0) & (ws != lab) & cortex_like) | m
        out_crop[m & (out_crop == 0)] = lab
    out = np.zeros(t1.shape, dtype=np.uint8)
    out[crop] = out_crop
    return Volume(out, t1.affine, t1.info.replace(sequence="other"))
