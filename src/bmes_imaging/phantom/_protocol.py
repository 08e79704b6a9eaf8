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
import inspect
import math

import numpy as np
from numpy.typing import NDArray

from ..errors import PhantomError
from ._acquisition import SeriesProtocol
from ._anatomy import Atlas, FootPose, draw_pose
from ._spec import MAX_MATRIX, MAX_SLICES, PhantomSpec

__all__ = ["adjust_pose", "foot_atlas", "knob_rng", "protocols", "study_pose"]

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
    n_sub = 5 if thickness <= 3.6 else 7
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


def _flexion(deg: float) -> NDArray[np.float64]:
    """Rotation (atlas frame) that points the toes down by ``deg`` (about +x)."""
    a = np.radians(-deg)
    m = np.eye(4)
    m[1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return m


def study_pose(rng: np.random.Generator, spec: PhantomSpec, size: float) -> FootPose:
    """The study's pose: :func:`draw_pose` (with flexion / deformation when it offers
    them), then :func:`adjust_pose` for what it does not."""
    params = inspect.signature(draw_pose).parameters
    kwargs: dict[str, float] = {}
    if spec.flexion_deg and "flexion_deg" in params:
        kwargs["flexion_deg"] = spec.flexion_deg
    if spec.deformation != 1.0 and "deformation" in params:
        kwargs["deformation"] = spec.deformation
    pose = draw_pose(rng, spec.side, size, **kwargs)  # type: ignore[arg-type]
    return adjust_pose(pose, spec, flexion="flexion_deg" not in kwargs and bool(spec.flexion_deg),
                       deformation="deformation" not in kwargs)


def adjust_pose(pose: FootPose, spec: PhantomSpec, *, flexion: bool,
                deformation: bool) -> FootPose:
    """Apply flexion (a rigid tilt of the whole foot about the ankle's transverse axis,
    when the anatomy module offers no articulated flexion) and the deformation strength
    (scales the smooth displacement)."""
    affine, amp = pose.affine, pose.amp
    if flexion:
        affine = affine @ _flexion(spec.flexion_deg)
    if deformation and spec.deformation != 1.0:
        amp = amp * spec.deformation
    if affine is pose.affine and amp is pose.amp:
        return pose
    return dataclasses.replace(pose, affine=np.asarray(affine, dtype=np.float64), amp=amp)
