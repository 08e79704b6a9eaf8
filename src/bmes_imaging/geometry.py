"""Geometry stated once: affines to RAS+ millimetres, DICOM LPS, resampling, napari.

Conventions (nibabel's):

* A :class:`~bmes_imaging.volume.Volume` holds ``array[i, j, k]`` and a 4x4 ``affine``
  that maps the homogeneous voxel index ``(i, j, k, 1)`` to world ``(x, y, z, 1)`` in
  **RAS+ millimetres**: +x to the patient's Right, +y Anterior, +z Superior.
* DICOM patient coordinates are **LPS+** (+x Left, +y Posterior, +z Superior);
  ``RAS = LPS_TO_RAS @ LPS``.
* Volumes loaded from DICOM are indexed ``(column, row, slice)``: ``i`` walks along a
  row (ImageOrientationPatient's first direction), ``j`` down a column, ``k`` along the
  slice normal in increasing position.

Every conversion between grids, to DICOM or to napari goes through this module.

Examples
--------
>>> import numpy as np
>>> from bmes_imaging.geometry import voxel_sizes, apply_affine
>>> A = np.diag([0.5, 0.5, 3.0, 1.0])
>>> voxel_sizes(A).tolist()
[0.5, 0.5, 3.0]
>>> apply_affine(A, [[2, 2, 1]]).tolist()
[[1.0, 1.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import GeometryError

if TYPE_CHECKING:
    from .volume import Volume

__all__ = [
    "LPS_TO_RAS",
    "affine_from_dicom",
    "apply_affine",
    "check_affine",
    "napari_affine",
    "napari_axis_order",
    "napari_display_frame",
    "plane_of",
    "resample_to",
    "slice_normal",
    "voxel_sizes",
    "world_to_voxel",
]

#: 4x4 matrix taking DICOM LPS+ coordinates to RAS+ (and back: it is its own inverse).
LPS_TO_RAS: NDArray[np.float64] = np.diag([-1.0, -1.0, 1.0, 1.0])


def check_affine(affine: ArrayLike, *, what: str = "affine") -> NDArray[np.float64]:
    """Return ``affine`` as a float64 4x4 array, or raise :class:`GeometryError`.

    The matrix must be finite, have last row ``[0, 0, 0, 1]`` and an invertible 3x3 part.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4):
        raise GeometryError(f"{what}: expected a 4x4 matrix, found shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise GeometryError(f"{what}: contains NaN or infinite values")
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise GeometryError(f"{what}: last row must be [0, 0, 0, 1], found {a[3].tolist()}")
    if abs(np.linalg.det(a[:3, :3])) < 1e-9:
        raise GeometryError(f"{what}: the 3x3 part is singular (zero voxel size or "
                            "parallel axes)")
    return a


def affine_from_dicom(
    image_position: Sequence[float],
    image_orientation: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_step: Sequence[float] | None = None,
) -> NDArray[np.float64]:
    """Build the RAS+ affine of a DICOM stack indexed ``(column, row, slice)``.

    Parameters
    ----------
    image_position
        ImagePositionPatient (0020,0032) of the first slice (LPS mm): the centre of the
        first transmitted pixel.
    image_orientation
        ImageOrientationPatient (0020,0037): row direction cosines then column
        direction cosines (LPS).
    pixel_spacing
        PixelSpacing (0028,0030): ``[row spacing, column spacing]`` in mm, i.e. the
        distance between rows (along a column) first.
    slice_step
        LPS vector from one slice's position to the next. ``None`` for a single slice:
        the normal (row x column) with length 1 mm is used.

    Returns
    -------
    numpy.ndarray
        4x4 affine mapping ``(i=column, j=row, k=slice)`` to RAS+ mm.

    Examples
    --------
    >>> A = affine_from_dicom([0, 0, 0], [1, 0, 0, 0, 1, 0], [0.5, 0.4], [0, 0, 3])
    >>> A[:3, :3].round(3).tolist()
    [[-0.4, 0.0, 0.0], [0.0, -0.5, 0.0], [0.0, 0.0, 3.0]]
    """
    iop = np.asarray(image_orientation, dtype=np.float64)
    if iop.shape != (6,) or not np.all(np.isfinite(iop)):
        raise GeometryError(f"ImageOrientationPatient must be 6 numbers, found {iop.tolist()}")
    row_dir, col_dir = iop[:3], iop[3:]
    if not (np.isclose(np.linalg.norm(row_dir), 1, atol=1e-3)
            and np.isclose(np.linalg.norm(col_dir), 1, atol=1e-3)):
        raise GeometryError("ImageOrientationPatient direction cosines are not unit vectors")
    if abs(np.dot(row_dir, col_dir)) > 1e-3:
        raise GeometryError("ImageOrientationPatient row and column directions are not "
                            "perpendicular")
    ps = np.asarray(pixel_spacing, dtype=np.float64)
    if ps.shape != (2,) or not np.all(ps > 0):
        raise GeometryError(f"PixelSpacing must be two positive numbers, found {ps.tolist()}")
    ipp = np.asarray(image_position, dtype=np.float64)
    if ipp.shape != (3,) or not np.all(np.isfinite(ipp)):
        raise GeometryError(f"ImagePositionPatient must be 3 numbers, found {ipp.tolist()}")
    step = (np.cross(row_dir, col_dir) if slice_step is None
            else np.asarray(slice_step, dtype=np.float64))
    lps = np.eye(4)
    lps[:3, 0] = row_dir * ps[1]   # i: along a row, spaced by the column spacing
    lps[:3, 1] = col_dir * ps[0]   # j: down a column, spaced by the row spacing
    lps[:3, 2] = step
    lps[:3, 3] = ipp
    return check_affine(LPS_TO_RAS @ lps, what="DICOM geometry")


def slice_normal(image_orientation: Sequence[float]) -> NDArray[np.float64]:
    """Unit normal (LPS) of an image plane: row direction x column direction."""
    iop = np.asarray(image_orientation, dtype=np.float64)
    n = np.cross(iop[:3], iop[3:])
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        raise GeometryError("ImageOrientationPatient has parallel row and column directions")
    return np.asarray(n / norm, dtype=np.float64)


def plane_of(image_orientation: Sequence[float], *, oblique_degrees: float = 10.0) -> str:
    """Name the acquisition plane: ``"sagittal"``, ``"coronal"``, ``"axial"`` or ``"oblique"``.

    The plane is the one whose normal is within ``oblique_degrees`` of the slice normal.

    Examples
    --------
    >>> plane_of([0, 1, 0, 0, 0, -1])
    'sagittal'
    """
    n = np.abs(slice_normal(image_orientation))
    axis = int(np.argmax(n))
    if np.degrees(np.arccos(min(1.0, float(n[axis])))) > oblique_degrees:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def voxel_sizes(affine: ArrayLike) -> NDArray[np.float64]:
    """Voxel edge lengths (mm) along ``i, j, k`` of an affine."""
    a = np.asarray(affine, dtype=np.float64)
    return np.asarray(np.sqrt((a[:3, :3] ** 2).sum(axis=0)), dtype=np.float64)


def apply_affine(affine: ArrayLike, points: ArrayLike) -> NDArray[np.float64]:
    """Map ``(N, 3)`` points through a 4x4 affine (voxel to world, or any other)."""
    a = np.asarray(affine, dtype=np.float64)
    p = np.atleast_2d(np.asarray(points, dtype=np.float64))
    return np.asarray(p @ a[:3, :3].T + a[:3, 3], dtype=np.float64)


def world_to_voxel(affine: ArrayLike, points: ArrayLike) -> NDArray[np.float64]:
    """Map ``(N, 3)`` world points (RAS+ mm) to fractional voxel indices of ``affine``."""
    return apply_affine(np.linalg.inv(check_affine(affine)), points)


def resample_to(
    volume: Volume,
    affine: ArrayLike,
    shape: Sequence[int],
    *,
    order: int = 1,
    cval: float = 0.0,
) -> Volume:
    """Resample ``volume`` onto the grid ``(affine, shape)`` through world coordinates.

    Parameters
    ----------
    volume
        Source volume.
    affine, shape
        The target grid (voxel index to RAS+ mm) and its array shape.
    order
        Spline order: 0 nearest neighbour (for label maps), 1 linear (default), 3 cubic.
    cval
        Value for target voxels outside the source grid.

    Returns
    -------
    Volume
        New volume on the target grid with the source's metadata.
    """
    from scipy import ndimage

    target = check_affine(affine, what="target affine")
    src_inv = np.linalg.inv(volume.affine)
    m = src_inv @ target  # target voxel -> source voxel
    data = volume.array
    if order == 0 or not np.issubdtype(data.dtype, np.floating):
        out_dtype = data.dtype if order == 0 else np.float32
    else:
        out_dtype = data.dtype
    src = data if order == 0 else data.astype(np.float32, copy=False)
    out = ndimage.affine_transform(
        src, m[:3, :3], offset=m[:3, 3], output_shape=tuple(int(s) for s in shape),
        order=order, mode="constant", cval=cval, prefilter=order > 1,
    )
    # the volume's own class makes the result (this module stays below ``volume``)
    return type(volume)(out.astype(out_dtype, copy=False), target, volume.info)


def napari_affine(affine: ArrayLike) -> NDArray[np.float64]:
    """The affine to give a napari layer showing an ``(i, j, k)`` array in RAS+ mm.

    napari applies a layer's affine to data coordinates in array-axis order, so the RAS+
    affine can be used directly; all layers of a study then share one world frame (x=R,
    y=A, z=S), and the viewer's axis labels should be set to ``("R", "A", "S")``.
    """
    return check_affine(affine).copy()


def napari_axis_order(affine: ArrayLike) -> tuple[int, int, int]:
    """Array-axis order that makes a volume's axes follow the world axes R, A, S.

    napari slices a 3-D layer in 2-D only along axes whose data-to-world transform is
    (signed) diagonal: the array axis shown by the R slider must be the one that runs
    along R. ``array.transpose(order)`` with ``affine[:, [*order, 3]]`` describes the
    same voxels in world-aligned axis order (a view, no copy).

    Examples
    --------
    >>> sag = np.array([[0, 0, 3, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1.0]])
    >>> napari_axis_order(sag)
    (2, 0, 1)
    """
    from itertools import permutations

    m = np.abs(check_affine(affine)[:3, :3] / voxel_sizes(affine))
    best = max(permutations(range(3)), key=lambda p: sum(m[w, p[w]] for w in range(3)))
    return (int(best[0]), int(best[1]), int(best[2]))


def napari_display_frame(affine: ArrayLike) -> NDArray[np.float64]:
    """A world rotation that makes an oblique acquisition grid axis-aligned for napari.

    napari cannot slice a rotated grid exactly in 2-D. Showing every layer of a study
    in the frame ``D @ RAS`` (``D`` a rotation about the origin), with ``D`` chosen so
    that the reference series (the T1) is axis-aligned, shows that series and every
    series acquired in the same orientation exactly. ``D`` is the identity for grids
    that are not oblique (any sagittal, coronal or axial stack, flipped or not).

    Returns
    -------
    numpy.ndarray
        4x4 rotation ``D``; world positions shown by napari are ``D @ RAS``.
    """
    a = check_affine(affine)
    order = napari_axis_order(a)
    u = a[:3, list(order)] / voxel_sizes(a[:, [*order, 3]])
    signs = np.sign(np.diag(u))
    signs[signs == 0] = 1.0
    # nearest rotation to u (polar decomposition), so small non-orthogonality is ignored
    w, _, vt = np.linalg.svd(u)
    rot = w @ vt
    d = np.eye(4)
    d[:3, :3] = np.diag(signs) @ rot.T
    if np.allclose(d[:3, :3], np.eye(3), atol=1e-9):
        return np.eye(4)
    return d
