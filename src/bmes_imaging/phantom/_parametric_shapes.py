"""Signed distance solids for the parametric foot (see :mod:`._parametric`).

Every solid is a :class:`Shape`: a function of atlas-mm coordinate arrays (broadcast
``float32``) giving a signed distance in mm (negative inside; exact for round cones, a
first-order estimate for superellipsoids) and a bounding box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["ArrayLike3", "Shape", "cone", "moved", "rotation", "shifted", "superq", "union"]

Arr = NDArray[np.float32]
Field = Callable[[Arr, Arr, Arr], Arr]
ArrayLike3 = NDArray[np.float64] | tuple[float, float, float] | list[float]


@dataclass(frozen=True)
class Shape:
    """A signed distance function (mm, negative inside) and its bounding box (mm)."""

    f: Field
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]

    def __call__(self, x: Arr, y: Arr, z: Arr) -> Arr:
        return self.f(x, y, z)


def rotation(axis: str, deg: float) -> NDArray[np.float64]:
    """Rotation matrix of ``deg`` degrees about the atlas ``"x"``, ``"y"`` or ``"z"`` axis."""
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def superq(centre: ArrayLike3, radii: ArrayLike3, n: float = 2.0,
           rot: NDArray[np.float64] | None = None) -> Shape:
    """Superellipsoid ``sum |x_i / r_i|^n <= 1`` (``rot``: local axes to atlas frame)."""
    c = np.asarray(centre, float)
    r = np.asarray(radii, float)
    m = np.eye(3) if rot is None else np.asarray(rot, float)
    inv = m.T.astype(np.float32)

    def f(x: Arr, y: Arr, z: Arr) -> Arr:
        dx, dy, dz = x - np.float32(c[0]), y - np.float32(c[1]), z - np.float32(c[2])
        loc = [inv[i, 0] * dx + inv[i, 1] * dy + inv[i, 2] * dz for i in range(3)]
        q = [np.abs(loc[i]) / np.float32(r[i]) for i in range(3)]
        if n == 2.0:
            g = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2)
            grad2 = sum((q[i] / np.float32(r[i])) ** 2 for i in range(3)) / np.maximum(
                g, np.float32(1e-6)) ** 2
        else:
            nn = np.float32(n)
            g = (q[0] ** nn + q[1] ** nn + q[2] ** nn) ** np.float32(1.0 / n)
            gs = np.maximum(g, np.float32(1e-6)) ** (np.float32(1.0) - nn)
            grad2 = sum((gs * q[i] ** (nn - 1) / np.float32(r[i])) ** 2 for i in range(3))
        return np.asarray((g - 1.0) / np.sqrt(np.maximum(grad2, np.float32(1e-12))),
                          dtype=np.float32)

    ext = np.abs(m) @ r
    return Shape(f, c - ext, c + ext)


def cone(a: ArrayLike3, b: ArrayLike3, ra: float, rb: float) -> Shape:
    """Round cone (capsule) from ``a`` (radius ``ra``) to ``b`` (radius ``rb``)."""
    pa, pb = np.asarray(a, float), np.asarray(b, float)
    ab = (pb - pa).astype(np.float32)
    l2 = np.float32(max(float(ab @ ab), 1e-9))

    def f(x: Arr, y: Arr, z: Arr) -> Arr:
        dx, dy, dz = x - np.float32(pa[0]), y - np.float32(pa[1]), z - np.float32(pa[2])
        t = np.clip((dx * ab[0] + dy * ab[1] + dz * ab[2]) / l2, 0.0, 1.0)
        d = np.sqrt((dx - t * ab[0]) ** 2 + (dy - t * ab[1]) ** 2 + (dz - t * ab[2]) ** 2)
        return np.asarray(d - (np.float32(ra) + t * np.float32(rb - ra)), dtype=np.float32)

    r = max(ra, rb)
    return Shape(f, np.minimum(pa, pb) - r, np.maximum(pa, pb) + r)


def union(*shapes: Shape, k: float = 0.0) -> Shape:
    """Union (smooth with blend width ``k`` mm when ``k > 0``)."""
    def f(x: Arr, y: Arr, z: Arr) -> Arr:
        d = shapes[0](x, y, z)
        for s in shapes[1:]:
            e = s(x, y, z)
            if k > 0:
                h = np.maximum(np.float32(k) - np.abs(d - e), 0.0) / np.float32(k)
                d = np.minimum(d, e) - h * h * np.float32(k / 4.0)
            else:
                d = np.minimum(d, e)
        return d

    lo = np.min([s.lo for s in shapes], axis=0)
    hi = np.max([s.hi for s in shapes], axis=0)
    return Shape(f, lo, hi)


def moved(shape: Shape, rot: NDArray[np.float64], pivot: ArrayLike3) -> Shape:
    """``shape`` rotated by ``rot`` about ``pivot``."""
    p = np.asarray(pivot, float)
    inv = np.asarray(rot, float).T.astype(np.float32)

    def f(x: Arr, y: Arr, z: Arr) -> Arr:
        dx, dy, dz = x - np.float32(p[0]), y - np.float32(p[1]), z - np.float32(p[2])
        loc = [inv[i, 0] * dx + inv[i, 1] * dy + inv[i, 2] * dz + np.float32(p[i])
               for i in range(3)]
        return shape(loc[0], loc[1], loc[2])

    corners = np.array([[a, b, c] for a in (shape.lo[0], shape.hi[0])
                        for b in (shape.lo[1], shape.hi[1])
                        for c in (shape.lo[2], shape.hi[2])])
    moved_c = (corners - p) @ np.asarray(rot, float).T + p
    return Shape(f, moved_c.min(0), moved_c.max(0))


def shifted(shape: Shape, vec: NDArray[np.float64]) -> Shape:
    """``shape`` translated by ``vec`` (mm)."""
    v = np.asarray(vec, float)
    if not np.any(v):
        return shape
    vx, vy, vz = (np.float32(c) for c in v)

    def f(x: Arr, y: Arr, z: Arr) -> Arr:
        return shape(x - vx, y - vy, z - vz)

    return Shape(f, shape.lo + v, shape.hi + v)
