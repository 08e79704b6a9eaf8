"""Siemens mosaic images: many slices of one volume tiled into one 2-D image.

A Siemens EPI (BOLD, diffusion, ASL) single-frame file with ``MOSAIC`` in its ImageType
holds a whole volume: ``n`` slices of ``r x c`` pixels tiled row by row into a square
grid of ``ceil(sqrt(n))`` tiles a side. The tile count (``NumberOfImagesInMosaic``) and
the slice normal (``SliceNormalVector``, which also says in which direction the tiles
are stacked) are only in the Siemens CSA image header, read here with nibabel's
:mod:`nibabel.nicom.csareader`. ImagePositionPatient of a mosaic names the corner of the
whole tiled image, not of the first slice; the first slice's corner is found as
nibabel's ``MosaicWrapper`` does (shifted by half the difference between the mosaic and
the tile size, along rows and columns).

The index (:mod:`._volumes`) makes one stack of each mosaic file (one volume) with the
tiles' positions; the loader cuts each mosaic frame into its slices
(:func:`expand_mosaics`) before arranging them along the normal. A mosaic whose CSA
header cannot be read is refused with the reason (:func:`mosaic_geometry` returns it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._scaling import mask_stored_bits

__all__ = ["MosaicGeometry", "expand_mosaics", "is_mosaic", "mosaic_b_value",
           "mosaic_geometry", "tile_positions"]


@dataclass(frozen=True)
class MosaicGeometry:
    """How a mosaic image is tiled, from its CSA header.

    Attributes
    ----------
    n_tiles
        Slices in the mosaic (CSA ``NumberOfImagesInMosaic``).
    grid
        Tiles per row and per column of the mosaic: ``ceil(sqrt(n_tiles))``.
    tile_rows, tile_columns
        Size of one slice in pixels.
    normal
        CSA ``SliceNormalVector`` (LPS): direction from tile ``k`` to tile ``k + 1``.
    spacing
        Distance between slice centres, mm (SpacingBetweenSlices, else SliceThickness).
    """

    n_tiles: int
    grid: int
    tile_rows: int
    tile_columns: int
    normal: tuple[float, float, float]
    spacing: float


def is_mosaic(image_type: Sequence[str] | None) -> bool:
    """True if ImageType names a Siemens mosaic (``...\\MOSAIC``)."""
    return bool(image_type) and "MOSAIC" in {str(v).upper() for v in image_type or ()}


def _csareader() -> Any:
    with warnings.catch_warnings():
        # nibabel.nicom warns on import that its DICOM readers are experimental; only
        # the CSA header parser is used here
        warnings.simplefilter("ignore", UserWarning)
        from nibabel.nicom import csareader
    return csareader


def geometry_from_dataset(ds: Any) -> MosaicGeometry | str:
    """Mosaic tiling of a pydicom dataset, or the reason it cannot be known."""
    csar = _csareader()
    try:
        csa = csar.get_csa_header(ds, "image")
    except Exception as exc:  # noqa: BLE001 - any CSA parse failure is a refusal reason
        return (f"its Siemens CSA image header cannot be read ({type(exc).__name__}); "
                "the number of slices tiled in the mosaic is unknown")
    if not csa:
        return ("it has no Siemens CSA image header (0029,1010); the number of slices "
                "tiled in the mosaic is unknown")
    try:
        n = csar.get_n_mosaic(csa)
        normal = csar.get_slice_normal(csa)
    except (KeyError, IndexError, TypeError, ValueError):
        n, normal = None, None
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if not n or int(n) < 1:
        return "its CSA header has no NumberOfImagesInMosaic"
    n = int(n)
    grid = math.ceil(math.sqrt(n))
    if rows % grid or cols % grid or rows < grid or cols < grid:
        return (f"its {cols}x{rows} image cannot hold {n} tiles in a {grid}x{grid} grid")
    if normal is None or len(normal) != 3 or not np.all(np.isfinite(normal)) \
            or abs(float(np.linalg.norm(normal)) - 1) > 1e-3:
        return "its CSA header has no valid SliceNormalVector"
    spacing = None
    for kw in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            v = float(ds.get(kw) or 0)
        except (TypeError, ValueError):
            v = 0.0
        if v > 0 and math.isfinite(v):
            spacing = v
            break
    if spacing is None:
        return "it has neither SpacingBetweenSlices nor SliceThickness"
    return MosaicGeometry(n, grid, rows // grid, cols // grid,
                          (float(normal[0]), float(normal[1]), float(normal[2])), spacing)


def _header(path: Path) -> Any:
    """The file's header (no pixel data), pydicom's warnings silenced; raises what
    pydicom raises."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def mosaic_geometry(path: Path) -> MosaicGeometry | str:
    """Mosaic tiling of a file (header read with pydicom), or the reason it is unknown."""
    try:
        ds = _header(path)
    except Exception as exc:  # noqa: BLE001 - unreadable header: a refusal reason
        return f"its header cannot be read ({type(exc).__name__})"
    return geometry_from_dataset(ds)


def mosaic_b_value(path: Path) -> float | None:
    """Diffusion b-value of a Siemens mosaic file (CSA ``B_value``), or None."""
    try:
        ds = _header(path)
        csar = _csareader()
        value = csar.get_b_value(csar.get_csa_header(ds, "image"))
    except Exception:  # noqa: BLE001 - an unreadable b-value is only not shown
        return None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def tile_positions(position: Sequence[float], orientation: Sequence[float],
                   pixel_spacing: Sequence[float], rows: int, columns: int,
                   geom: MosaicGeometry) -> NDArray[np.float64]:
    """LPS position of the first voxel of every tile, shape ``(n_tiles, 3)``.

    ``position`` / ``orientation`` / ``pixel_spacing`` are the mosaic's
    ImagePositionPatient, ImageOrientationPatient and PixelSpacing (row spacing,
    column spacing); ``rows`` / ``columns`` the mosaic's size.
    """
    row_dir = np.asarray(orientation[:3], dtype=np.float64)  # along a row (columns)
    col_dir = np.asarray(orientation[3:], dtype=np.float64)  # down a column (rows)
    drow, dcol = float(pixel_spacing[0]), float(pixel_spacing[1])
    shift = (col_dir * drow * (rows - geom.tile_rows) / 2.0
             + row_dir * dcol * (columns - geom.tile_columns) / 2.0)
    first = np.asarray(position, dtype=np.float64) + shift
    k = np.arange(geom.n_tiles, dtype=np.float64)[:, None]
    return first[None, :] + k * geom.spacing * np.asarray(geom.normal)[None, :]


def _tiles(image: NDArray[Any], geom: MosaicGeometry) -> list[NDArray[Any]]:
    out = []
    for k in range(geom.n_tiles):
        r0 = (k // geom.grid) * geom.tile_rows
        c0 = (k % geom.grid) * geom.tile_columns
        out.append(np.ascontiguousarray(
            image[r0:r0 + geom.tile_rows, c0:c0 + geom.tile_columns]))
    return out


def _stored_pixels(frame: Any) -> NDArray[Any]:
    """The stored 2-D pixels of a frame (read from disk for native frames)."""
    from ..errors import DicomFileError

    if frame.pixels is not None:
        return np.asarray(frame.pixels)
    nbytes = frame.rows * frame.columns * frame.stored_dtype.itemsize
    try:
        with open(frame.path, "rb") as fh:
            fh.seek(frame.pixel_offset)
            buf = fh.read(nbytes)
    except OSError as exc:
        raise DicomFileError(frame.path, f"cannot read pixel data ({exc})") from None
    if len(buf) != nbytes:
        raise DicomFileError(frame.path, f"pixel data truncated: {len(buf)} of {nbytes} "
                             "bytes")
    arr = np.frombuffer(buf, dtype=frame.stored_dtype).reshape(frame.rows, frame.columns)
    return mask_stored_bits(arr, frame.bits_stored)  # one rule for every stored value


def _needs_check(frames: Sequence[Any], stack: Any | None) -> bool:
    if stack is not None and hasattr(stack, "mosaic_tiles"):
        return bool(stack.mosaic_tiles)
    # no index stack: only a single-frame Siemens-sized image can be a mosaic
    return any(not f.frame_number for f in frames)


def expand_mosaics(frames: list[Any], stack: Any | None = None) -> list[Any]:
    """Cut every Siemens mosaic frame into its slices (each a frame with its position).

    Parameters
    ----------
    frames
        Frames read by the loader (:class:`._frames.Frame`).
    stack
        The index's stack, if any: its ``mosaic_tiles`` says whether to look at all
        (without a stack, the first single-frame file's header is read to decide).

    Returns
    -------
    list of Frame
        ``frames`` unchanged when none is a mosaic; else one frame per tile, with
        ``pixels`` set and ``extra["mosaic_tile"]`` its 1-based tile number.

    Raises
    ------
    DicomSeriesError
        A mosaic whose tiling cannot be read from its CSA header (the reason is named);
        loading it as one tiled slice would put every voxel in the wrong place.
    """
    import dataclasses

    from ..errors import DicomFileError, DicomSeriesError

    if not frames or not _needs_check(frames, stack):
        return frames
    singles = [f for f in frames if not f.frame_number]
    if not singles:
        return frames
    import pydicom

    geoms: dict[Path, MosaicGeometry] = {}
    first_checked = False
    for f in singles:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(f.path, stop_before_pixels=True, force=True)
        except Exception as exc:  # noqa: BLE001 - pydicom's failure modes vary
            raise DicomFileError(f.path, f"header cannot be read to check for a Siemens "
                                 f"mosaic ({type(exc).__name__})") from None
        if not is_mosaic(ds.get("ImageType")):
            if not first_checked:
                return frames  # a series is a mosaic series or not: first file decides
            continue
        first_checked = True
        got = geometry_from_dataset(ds)
        if isinstance(got, str):
            raise DicomSeriesError(
                f"{f.path} is a Siemens mosaic (ImageType MOSAIC), but {got}: it cannot "
                "be cut into its slices and is not loaded (a tiled image is not a volume)")
        geoms[f.path] = got
    if not geoms:
        return frames
    out: list[Any] = []
    for f in frames:
        geom = geoms.get(f.path)
        if geom is None or f.frame_number:
            out.append(f)
            continue
        assert f.position is not None and f.orientation is not None
        assert f.pixel_spacing is not None
        positions = tile_positions(f.position, f.orientation, f.pixel_spacing, f.rows,
                                   f.columns, geom)
        for k, tile in enumerate(_tiles(_stored_pixels(f), geom)):
            extra = dict(f.extra)
            extra["mosaic_tile"] = k + 1
            extra["mosaic_tiles"] = geom.n_tiles
            out.append(dataclasses.replace(
                f, position=positions[k], rows=geom.tile_rows, columns=geom.tile_columns,
                pixels=tile, pixel_offset=None, extra=extra))
    return out
