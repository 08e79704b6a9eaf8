"""Plane geometry of a DICOM SEG's frames and the grids they lie on (for :mod:`._seg`).

Each frame is placed by its own PlanePositionSequence, PlaneOrientationSequence and
PixelMeasuresSequence (per-frame, else shared functional groups); a frame lies on a grid
when its column and row steps are grid axes and its origin a grid voxel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._outbound import terminal_text
from ..errors import DicomFileError
from ..geometry import affine_from_dicom
from ._limits import max_series_bytes

__all__ = ["DicomPlane", "check_grid_size", "frame_planes", "functional_item", "onto_grid",
           "own_grid", "plane_affine"]

#: (ImagePositionPatient, ImageOrientationPatient, PixelSpacing) of one frame.
DicomPlane = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
_TOL_MM = 0.05  # plane positions agree to this, mm


def functional_item(seg: Any, index: int, sequence: str) -> Any:
    """The item of a functional group for frame ``index`` (per-frame, else shared)."""
    for groups in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        items = seg.get(groups)
        if not items:
            continue
        item = items[index] if groups.startswith("Per") else items[0]
        seq = item.get(sequence)
        if seq:
            return seq[0]
    return None


def frame_planes(seg: Any, path: Path) -> list[DicomPlane]:
    """(ImagePositionPatient, ImageOrientationPatient, PixelSpacing) per frame."""
    n = int(seg.get("NumberOfFrames", 1))
    per_frame = seg.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None or len(per_frame) != n:
        raise DicomFileError(path, "the SEG has no per-frame functional groups for its "
                             f"{n} frames, so no plane positions")
    planes = []
    for f in range(n):
        pos, ori, mea = (functional_item(seg, f, s) for s in (
            "PlanePositionSequence", "PlaneOrientationSequence", "PixelMeasuresSequence"))
        if pos is None or "ImagePositionPatient" not in pos:
            raise DicomFileError(path, f"frame {f + 1} of the SEG has no plane position "
                                 "(PlanePositionSequence); its place in the volume is unknown")
        if ori is None or mea is None or "PixelSpacing" not in mea:
            raise DicomFileError(path, f"frame {f + 1} of the SEG has no plane orientation "
                                 "or pixel spacing")
        try:
            plane = (np.asarray(pos.ImagePositionPatient, dtype=np.float64),
                     np.asarray(ori.ImageOrientationPatient, dtype=np.float64),
                     np.asarray(mea.PixelSpacing, dtype=np.float64))
            plane_affine(plane)  # checks the numbers
            planes.append(plane)
        except (ValueError, TypeError) as exc:  # GeometryError is a ValueError
            raise DicomFileError(path, f"frame {f + 1}: unreadable plane geometry: "
                                 f"{terminal_text(exc)}") from None
    return planes


def plane_affine(plane: DicomPlane) -> NDArray[np.float64]:
    """RAS+ affine of one frame, indexed (column, row, 0)."""
    ipp, iop, spacing = plane
    return affine_from_dicom(ipp.tolist(), iop.tolist(), spacing.tolist())


def own_grid(planes: list[DicomPlane], seg: Any, path: Path
              ) -> tuple[NDArray[np.float64], tuple[int, int, int]]:
    """The grid spanned by the SEG's own planes (shared orientation and spacing)."""
    iop, spacing = planes[0][1], planes[0][2]
    if any(not np.allclose(p[1], iop, atol=1e-4) or not np.allclose(p[2], spacing, atol=1e-4)
           for p in planes):
        raise DicomFileError(path, "the SEG's frames differ in orientation or pixel spacing; "
                             "give the source series as reference to read it")
    first = plane_affine(planes[0])
    normal = first[:3, :3] @ np.array([0.0, 0.0, 1.0])
    ras = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]])
    offsets = np.array([float(normal @ (ras @ p[0] - first[:3, 3])) for p in planes])
    levels = np.unique(np.round(offsets / _TOL_MM) * _TOL_MM)
    measures = functional_item(seg, 0, "PixelMeasuresSequence")
    declared = measures.get("SpacingBetweenSlices")
    gaps = np.diff(levels)
    step = (float(declared) if declared else float(gaps.min()) if gaps.size
            else float(measures.get("SliceThickness") or 1.0))
    if not step > 0 or not np.all(np.abs(gaps / step - np.round(gaps / step)) < 0.02):
        raise DicomFileError(path, "the SEG's planes are not evenly spaced (slice gaps "
                             f"{np.round(gaps, 3).tolist()} mm); give the source series")
    n_slices = int(np.rint(float(levels[-1] - levels[0]) / step)) + 1
    affine = first.copy()
    affine[:3, 2] = normal * step
    affine[:3, 3] = first[:3, 3] + normal * levels[0]
    return affine, (int(seg.Columns), int(seg.Rows), n_slices)


def onto_grid(frame: NDArray[np.float64], grid: NDArray[np.float64]
         ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]] | None:
    """(origin, column step, row step) as integer grid indices, if the frame lies on it."""
    m = np.linalg.inv(grid) @ frame
    cols = m[:3, :3]
    origin = m[:3, 3]
    if not np.all(np.abs(m[:3, :3]) < 1e6) or not np.all(np.abs(origin) < 1e9):
        return None  # far off the grid (and beyond integer casts)
    for v in (cols[:, 0], cols[:, 1], origin):
        if not np.allclose(v, np.round(v), atol=0.02):
            return None
    u, w = np.round(cols[:, 0]).astype(np.int64), np.round(cols[:, 1]).astype(np.int64)
    if np.abs(u).sum() != 1 or np.abs(w).sum() != 1:
        return None
    return np.round(origin).astype(np.int64), u, w


def check_grid_size(shape: tuple[int, int, int], n_maps: int, path: Path) -> None:
    size = int(np.prod(np.asarray(shape, dtype=np.int64))) * 2 * max(n_maps, 1)
    if min(shape) < 1 or size > max_series_bytes():
        raise DicomFileError(path, f"the SEG's grid of {shape[0]} x {shape[1]} x {shape[2]} "
                             "voxels does not fit the series size limit "
                             "(BMES_MAX_SERIES_BYTES)")
