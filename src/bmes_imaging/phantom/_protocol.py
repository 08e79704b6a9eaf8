"""Series protocols and pose adjustments of one phantom spec.

The default protocol (no acquisition knob set) is the one the phantom always had:
sagittal T1 (FOV 200 x 171 mm, 448 x 384, 3.0 mm slices), sagittal STIR (192 x 166 mm,
320 x 276, 3.5 mm) and the optional axial series. The knobs of :class:`PhantomSpec`
(``slice_mm``, ``pixel_mm``, ``fluid_plane``, ``coverage``) change them; matrices are
capped at :data:`~._spec.MAX_MATRIX` by cropping the field of view around the foot, and
slice counts at :data:`~._spec.MAX_SLICES`, so a 0.3 mm / 2 mm study stays affordable.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..anatomy import Atlas, FootPose, draw_pose
from ..errors import PhantomError
from ._acquisition import SeriesProtocol, render_series
from ._spec import MAX_MATRIX, MAX_SLICES, PhantomSpec

__all__ = ["RENDER_MIN_PIXEL", "foot_atlas", "knob_rng", "protocols", "render_series_at",
           "study_pose", "upsample"]

#: Finest in-plane pixel (mm) the anatomy is sampled at: the atlas has 0.5 mm voxels, so
#: finer series are rendered at this pixel and interpolated to their own grid (as a
#: scanner's zero-filled interpolation does), at a fraction of the cost.
RENDER_MIN_PIXEL = 0.5

#: Slab covered by the default protocols (mm): T1 30 x 3.3, STIR 26 x 3.85, axial 24 x 4.4.
_COVER = {"t1": 99.0, "sagittal": 100.1, "axial": 105.6, "coronal": 180.0}
#: Default (FOV mm, matrix, thickness mm) per fluid plane.
_FLUID_DEFAULT = {
    "sagittal": ((192.0, 166.0), (320, 276), 3.5),
    "axial": ((150.0, 150.0), (256, 256), 4.0),
    "coronal": ((150.0, 150.0), (256, 256), 4.0),
}


def knob_rng(spec: PhantomSpec) -> np.random.Generator:
    """A generator for the knobs' own random choices, separate from the study's main
    stream so that a spec without knobs gives exactly the study it always gave."""
    return np.random.default_rng([spec.seed, 0 if spec.side == "R" else 1, 8117])


def _series(sequence: str, plane: str, fov: tuple[float, float], matrix: tuple[int, int],
            thickness: float, cover: float, spec: PhantomSpec) -> SeriesProtocol:
    """One protocol with the spec's pixel / slice / coverage knobs applied."""
    r = spec.resolution
    if spec.pixel_mm is not None:
        px = spec.pixel_mm
        ni, nj = (max(round(f / px), 16) for f in fov)
        if max(ni, nj) > MAX_MATRIX:  # crop the field of view around the foot
            scale = MAX_MATRIX / max(ni, nj)
            ni, nj = max(round(ni * scale), 16), max(round(nj * scale), 16)
        fov = (ni * px, nj * px)
        matrix = (max(round(ni / r), 16), max(round(nj / r), 16))
    else:
        matrix = (max(round(matrix[0] / r), 16), max(round(matrix[1] / r), 16))
    if spec.slice_mm is not None:
        thickness = spec.slice_mm
    spacing = round(thickness * 1.1, 4)
    n_slices = min(max(math.ceil(cover * spec.coverage / spacing), 4), MAX_SLICES)
    n_sub = max(3, math.ceil(thickness / 0.8)) | 1  # odd: one plane at the centre (truth)
    return SeriesProtocol(sequence, plane, fov, matrix, thickness, spacing, n_slices, n_sub)


def protocols(spec: PhantomSpec) -> tuple[SeriesProtocol, SeriesProtocol, SeriesProtocol]:
    """``(t1, fluid, axial extra)`` protocols of a spec."""
    r = spec.resolution

    def m(n: int) -> int:
        return max(round(n / r), 16)

    default = (spec.slice_mm is None and spec.pixel_mm is None and spec.coverage == 1.0)
    axial = SeriesProtocol("stir", "axial", (150.0, 150.0), (m(256), m(256)), 4.0, 4.4, 24,
                           3)
    if default and spec.fluid_plane == "sagittal":
        t1 = SeriesProtocol("t1", "sagittal", (200.0, 171.4), (m(448), m(384)), 3.0, 3.3,
                            30, 5)
        stir = SeriesProtocol("stir", "sagittal", (192.0, 166.0), (m(320), m(276)), 3.5,
                              3.85, 26, 5)
        return t1, stir, axial
    t1 = _series("t1", "sagittal", (200.0, 171.4), (448, 384), 3.0, _COVER["t1"], spec)
    fov, matrix, thick = _FLUID_DEFAULT[spec.fluid_plane]
    stir = _series("stir", spec.fluid_plane, fov, matrix, thick, _COVER[spec.fluid_plane],
                   spec)
    return t1, stir, axial


def foot_atlas(spec: PhantomSpec, default: Atlas) -> Atlas:
    """The committed atlas, or the parametric anatomy of the spec's seed."""
    if spec.anatomy == "vhf":
        return default
    try:
        from ._parametric import parametric_atlas  # type: ignore[import-not-found]
    except ImportError as exc:
        raise PhantomError("PhantomSpec.anatomy='parametric' needs "
                           "bmes_imaging.phantom._parametric.parametric_atlas, which this "
                           f"installation does not have ({exc}); use anatomy='vhf'") from None
    out: Atlas = parametric_atlas(spec.seed)
    return out


def study_pose(rng: np.random.Generator, spec: PhantomSpec, size: float) -> FootPose:
    """The study's pose from :func:`~bmes_imaging.anatomy.draw_pose`: articulated plantar flexion
    about the talocrural axis and the strength of the added smooth deformation (both
    leave the random stream untouched at their defaults)."""
    return draw_pose(rng, spec.side, size, flexion_deg=spec.flexion_deg,
                     deformation=spec.deformation if spec.deformation > 0 else None)


def upsample(image: NDArray[np.generic], matrix: tuple[int, int], factor: float, *,
             nearest: bool = False) -> NDArray[np.generic]:
    """In-plane interpolation of ``(ci, cj, k)`` rendered at ``factor`` times the pixel
    onto the series' ``matrix`` (linear, or nearest for labels); pixel ``(0, 0)`` is
    shared."""
    out = image
    for axis, n in enumerate(matrix):
        x = np.arange(n) / factor
        size = out.shape[axis]
        if nearest:
            out = np.take(out, np.clip(np.rint(x).astype(np.intp), 0, size - 1), axis=axis)
            continue
        i0 = np.clip(np.floor(x).astype(np.intp), 0, size - 1)
        i1 = np.minimum(i0 + 1, size - 1)
        w = (x - i0).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = n
        w = w.reshape(shape)
        out = (np.take(out, i0, axis=axis) * (np.float32(1.0) - w)
               + np.take(out, i1, axis=axis) * w)
    return out


def render_series_at(protocol: SeriesProtocol, affine: NDArray[np.float64],
                     make_sampler: Callable[[SeriesProtocol], Callable[
                         [NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                          bool], NDArray[np.float32]]],
                     fine: bool) -> tuple[NDArray[np.float32], float]:
    """Render a series, at :data:`RENDER_MIN_PIXEL` when ``fine`` and its pixel is
    smaller, then interpolated to its grid.

    Returns
    -------
    image, factor
        The ``(columns, rows, slices)`` image on ``protocol``'s grid and the factor the
        rendering grid was coarser by (1.0: rendered on the grid itself; recorded truth
        then needs :func:`upsample` with ``nearest=True``).
    """
    factor = RENDER_MIN_PIXEL / min(protocol.pixel_mm)
    if not fine or factor <= 1.05:
        return render_series(protocol, affine, make_sampler(protocol)), 1.0
    ni, nj = protocol.matrix
    coarse_matrix = (math.ceil((ni - 1) / factor) + 1, math.ceil((nj - 1) / factor) + 1)
    px = protocol.pixel_mm
    coarse = dataclasses.replace(
        protocol, matrix=coarse_matrix,
        fov_mm=(coarse_matrix[0] * px[0] * factor, coarse_matrix[1] * px[1] * factor))
    aff = affine.copy()
    aff[:3, 0] *= factor
    aff[:3, 1] *= factor
    image = render_series(coarse, aff, make_sampler(coarse))
    return np.asarray(upsample(image, protocol.matrix, factor), dtype=np.float32), factor
