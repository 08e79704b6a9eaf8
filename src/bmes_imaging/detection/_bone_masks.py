"""Bone masks on the T1 grid: imported label maps and seeded growth.

Three ways lead to one result type, a uint8 label :class:`~bmes_imaging.volume.Volume`
on the T1 grid in the project's label convention (:mod:`bmes_imaging.bones`):

* :func:`bones_from_labels`: a label map in any grid, resampled by nearest neighbour
  through world coordinates;
* :func:`bones_from_seeds`: a few RAS+ points per bone (what a reader clicks) say which
  bones to return and check the registered foot atlas (:func:`seeded_bones`);
* automatic masks: :mod:`bmes_imaging.detection._atlas`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..bones import Bone, bone_from_label
from ..errors import DetectionError
from ..geometry import apply_affine, resample_to, world_to_voxel
from ..volume import Volume
from ._atlas import (
    _SEEDED_SCHEDULE,
    _atlas_candidates,
    _fuse,
    _PreparedAtlas,
    register_atlas,
)
from ._config import DetectionConfig

__all__ = ["bones_from_labels", "bones_from_seeds", "seeded_bones"]


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
    """Validated seeds: label -> (N, 3) RAS+ points, all inside the T1 field of view.

    Raises :class:`DetectionError` for malformed points, points outside the T1 and an
    empty seed set.
    """
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

    The foot atlas is registered to the image; if some points then lie outside their
    bones, a placement started from the points (each seeded bone's atlas centre to the
    mean of its points) competes, and the one holding more points wins; the seeded
    bones' masks are returned (:func:`seeded_bones`).
    Starting from the points alone was fragile: two clicks anywhere inside a bone give
    a rough centre, and one in six random click sets on a phantom misplaced every bone.
    A marker-controlled
    watershed of the T1 edges alone was tried and dropped: it leaked into the fat around
    bones wherever 3 mm slices blur the thin cortex.
    """
    return seeded_bones(t1, _seeds_in_voxels(t1, seeds), config)


def _init_from_points(src: NDArray[np.float64], dst: NDArray[np.float64]
                      ) -> NDArray[np.float64]:
    """Atlas-to-T1 start from corresponding points: similarity (rotation, one scale,
    translation) by the Umeyama method for 3+ points, translation for fewer."""
    m = np.eye(4)
    if len(src) < 3:
        m[:3, 3] = (dst - src).mean(axis=0)
        return m
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    u, sv, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2, 2] = -1
    rot = u @ d @ vt
    var = (a ** 2).sum() / len(src)
    scale = float(np.clip(np.trace(np.diag(sv) @ d) / var if var > 0 else 1.0, 0.8, 1.25))
    m[:3, :3] = scale * rot
    m[:3, 3] = mu_d - m[:3, :3] @ mu_s
    return m


def _seeds_inside(labels: NDArray[np.uint8], t1: Volume,
                  seeds: dict[int, NDArray[np.float64]]) -> int:
    """How many seed points lie in their own bone's mask."""
    inv = np.linalg.inv(t1.affine)
    n = 0
    for b, pts in seeds.items():
        vox = np.round(apply_affine(inv, pts)).astype(int)
        vox = np.clip(vox, 0, np.array(t1.shape) - 1)
        n += int((labels[tuple(vox.T)] == b).sum())
    return n


def seeded_bones(t1: Volume, seeds: dict[int, NDArray[np.float64]],
                 config: DetectionConfig | None = None, *, atlas: Volume | None = None
                 ) -> Volume:
    """Bone masks of the seeded bones: the registered atlas that holds the seeds.

    The atlas is registered as in :func:`automatic_bones`; when some seeds then fall
    outside their bones, a second placement starts from the seeds (each seeded bone's
    atlas centre matched to the mean of its seed points: a similarity transform from
    three or more bones, a shift otherwise) and the placement holding more seeds (then
    the better match) is kept. Only the seeded bones are returned. A seed that still
    ends outside its bone's mask pulls that bone onto it.
    """
    cfg = config or DetectionConfig()
    candidates = _atlas_candidates(t1, atlas)
    n_seeds = sum(len(np.atleast_2d(p)) for p in seeds.values())
    best: tuple[tuple[int, float], _PreparedAtlas, NDArray[np.float64],
                dict[int, NDArray[np.float64]], NDArray[np.uint8]] | None = None

    def consider(a: _PreparedAtlas, glob: NDArray[np.float64],
                 per_bone: dict[int, NDArray[np.float64]], score: float) -> None:
        nonlocal best
        fused = _fuse(t1, a, glob, per_bone)
        rank = (_seeds_inside(fused, t1, seeds), score)
        if best is None or rank > best[0]:
            best = (rank, a, glob, per_bone, fused)

    for a in candidates:  # 1. the search, as for automatic masks (robust to the start)
        if any(b in a.points for b in seeds):
            consider(a, *register_atlas(t1, a, cfg))
    if best is not None and best[0][0] < n_seeds:
        for a in candidates:  # 2. some seeds outside: also try starting from the seeds
            src = [a.points[b].mean(axis=0) for b in seeds if b in a.points]
            dst = [np.asarray(pts, dtype=np.float64).mean(axis=0)
                   for b, pts in seeds.items() if b in a.points]
            init = _init_from_points(np.array(src), np.array(dst))
            consider(a, *register_atlas(t1, a, cfg, init=init, bones=set(seeds),
                                        schedule=_SEEDED_SCHEDULE))
    if best is None:
        raise DetectionError("none of the seeded bones is in the foot atlas")
    _, a, glob, per_bone, labels = best
    labels = labels.copy()
    labels[~np.isin(labels, list(seeds))] = 0
    # a seed outside its bone: shift that bone's transform so the mask covers it
    for b, pts in seeds.items():
        vox = np.round(apply_affine(np.linalg.inv(t1.affine), pts)).astype(int)
        vox = np.clip(vox, 0, np.array(t1.shape) - 1)
        hit = labels[tuple(vox.T)] == b
        if hit.all() or not (labels == b).any():
            continue
        centre = t1.world(np.argwhere(labels == b).mean(axis=0)[None])[0]
        shift = np.eye(4)
        shift[:3, 3] = np.asarray(pts, dtype=np.float64)[~hit].mean(axis=0) - centre
        shift[:3, 3] *= 0.5
        moved = _fuse(t1, a, glob, {b: shift @ per_bone.get(b, glob)}
                      | {k: v for k, v in per_bone.items() if k != b})
        labels[labels == b] = 0
        labels[(moved == b) & (labels == 0)] = b
    return Volume(labels, t1.affine, t1.info.replace(sequence="other"))
