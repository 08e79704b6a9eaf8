"""Bone masks on the T1 grid: imported label maps and seeded growth.

Three ways lead to one result type, a uint8 label :class:`~bmes_imaging.volume.Volume`
on the T1 grid in the project's label convention (:mod:`bmes_imaging.bones`):

* :func:`bones_from_labels`: a label map in any grid, resampled by nearest neighbour
  through world coordinates;
* :func:`bones_from_seeds`: a few RAS+ points per bone (what a reader clicks) say which
  bones to return and check the registered foot atlas (``_atlas.seeded_bones``);
* automatic masks: :mod:`bmes_imaging.detection._atlas`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..bones import Bone, bone_from_label
from ..errors import DetectionError
from ..geometry import resample_to, world_to_voxel
from ..volume import Volume
from ._config import DetectionConfig

__all__ = ["bones_from_labels", "bones_from_seeds"]


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
    bones' masks are returned (:func:`bmes_imaging.detection._atlas.seeded_bones`).
    Starting from the points alone was fragile: two clicks anywhere inside a bone give
    a rough centre, and one in six random click sets on a phantom misplaced every bone.
    A marker-controlled
    watershed of the T1 edges alone was tried and dropped: it leaked into the fat around
    bones wherever 3 mm slices blur the thin cortex.
    """
    from ._atlas import seeded_bones

    return seeded_bones(t1, _seeds_in_voxels(t1, seeds), config)
