"""Parametric foot-and-ankle anatomy: an independent family of bone shapes for evaluation.

:func:`parametric_atlas` builds, from a seed, a foot that was *not* derived from the
Visible Human Female meshes of the committed atlas: every bone is a small constructive
solid of superellipsoids, round cones and cylinders (signed distance functions) with
lengths, widths and heights taken from published osteometric ranges, articulated in an
arch, separated by joint spaces of 1-2 mm (the tibio-talar space 1.8-2.6 mm), each with
a cortex, and wrapped in the same soft tissues the VHF atlas has (fat, muscle, tendons,
Achilles tendon, Kager's fat, plantar pad and fascia, vessels, skin, joint recesses).
The result is an :class:`~bmes_imaging.anatomy.Atlas` in the same frame, with the
same class codes and ``meta`` keys as :func:`~bmes_imaging.anatomy.atlas`, so a
phantom study can be rendered from it unchanged.

This family is meant for evaluating the automatic bone masks only: never tune the
registration on it.

Dimensions (adult, before a global scale of 0.88-1.02 drawn per foot, which centres
the family on the committed atlas's (female) foot: calcaneus to first metatarsal head
155-200 mm, mean about 178 mm as in the VHF foot, so that a study's ``size`` means the
same for both; per-bone proportions of +-12 % per axis on top):

* talus: length about 55 mm, width 35-40 mm, height about 30 mm, trochlear (dome) radius
  of curvature about 20 mm; calcaneus: length 75-85 mm, height at the tuberosity about
  42 mm, width about 40 mm (Steele 1976, Am J Phys Anthropol 45:581; Bidmos & Asala
  2003, J Forensic Sci 48:1213 for talar and calcaneal lengths and widths);
* navicular about 38 x 17 x 26 mm, cuboid about 38 x 25 x 24 mm, medial cuneiform about
  26 x 16 x 34 mm, intermediate about 18 x 13 x 22 mm, lateral about 21 x 15 x 22 mm
  (Harris & Case 2012, J Forensic Sci 57:295, tarsal dimensions; Kelikian & Sarrafian,
  *Sarrafian's Anatomy of the Foot and Ankle*, 3rd ed. 2011, for shapes and articulations);
* metatarsal lengths about 56, 70, 64, 60 and 58 mm (first to fifth, +-8 %; Robling & Ubelaker
  1997, J Forensic Sci 42:1062), first metatarsal shaft about 13 mm thick, lesser shafts
  about 8-9 mm;
* arch: calcaneal inclination about 20 degrees, first metatarsal declination about 22
  degrees, varied by +-6 degrees per foot (Kelikian & Sarrafian 2011);
* joint spaces: articular cartilage of the ankle and foot joints about 1-1.6 mm thick
  per side (Shepherd & Seedhom 1999, Ann Rheum Dis 58:27), modelled as a space of
  1.0-1.8 mm (tibio-talar 1.8-2.6 mm) coded as cartilage;
* distal tibia: plafond about 36 x 34 mm narrowing to a 24 mm shaft, medial malleolus
  reaching about 15 mm below the plafond; distal fibula: 14 mm shaft, lateral malleolus
  reaching about 12 mm below the talar dome centre.

Volumes before the global scale (twelve seeds) come out at talus 31-45 ml, calcaneus 64-86 ml,
navicular 10-13 ml, cuboid 9-16 ml, first metatarsal 9-16 ml, distal tibia (to 95 mm
above the dome) 38-52 ml.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..anatomy import CARTILAGE, CORTEX_BIT, OTHER_BONE, TISSUE_NAMES, Atlas
from ..bones import Bone
from ..errors import PhantomError
from ._parametric_shapes import ArrayLike3, Shape, cone, moved, rotation, shifted, superq, union
from ._parametric_soft import soft_tissues

__all__ = ["PITCH", "parametric_atlas"]

#: Voxel size of the parametric atlases (mm), as the committed atlas.
PITCH = 0.5
#: Top of the atlas grid (mm above the talar dome centre), as the committed atlas.
LEG_TOP_MM = 95.0
_MARGIN_MM = 24.0
_SALT = 90_211  # keeps parametric seeds apart from every other use of the same seed

Arr = NDArray[np.float32]


def _jit(rng: np.random.Generator, rel: float = 0.12) -> NDArray[np.float64]:
    return np.asarray(1.0 + rng.uniform(-rel, rel, 3), dtype=np.float64)


def _leg(rng: np.random.Generator) -> dict[int, Shape]:
    """Distal tibia (with medial malleolus) and distal fibula (lateral malleolus)."""
    pt, pm, pf = _jit(rng, 0.1), _jit(rng), _jit(rng, 0.1)
    hx0, hy0, hx1, hy1 = 18.0 * pt[0], 17.0 * pt[1], 12.0 * pt[0], 11.0 * pt[1]

    def column(x: Arr, y: Arr, z: Arr) -> Arr:
        w = np.clip((z - np.float32(12.0)) / np.float32(48.0), 0.0, 1.0)
        hx = np.float32(hx0) + (np.float32(hx1 - hx0)) * w
        hy = np.float32(hy0) + (np.float32(hy1 - hy0)) * w
        cx = np.float32(-1.0) * (1 - w)
        qx, qy = (x - cx) / hx, y / hy
        g = (np.abs(qx) ** 2.5 + np.abs(qy) ** 2.5) ** np.float32(0.4)
        r = np.minimum(hx, hy)
        side = (g - 1.0) * r
        return np.asarray(np.maximum(side, np.float32(8.0) - z), dtype=np.float32)

    col = Shape(column, np.array([-hx0 - 1, -hy0, 8.0]),
                np.array([hx0, hy0, LEG_TOP_MM + 40]))
    mall = superq((-20.0, 3.0, 14.0), np.array([7.0, 11.0, 11.0]) * pm, 2.2,
                  rotation("y", 8.0))
    tibia = union(col, mall, k=5.0)
    fx = 22.0 + rng.uniform(-1.5, 1.5)
    shaft = cone((fx - 1.0, -8.0, LEG_TOP_MM + 40), (fx, -10.0, 20.0), 5.8 * pf[0],
                 6.5 * pf[0])
    lat = superq((fx, -11.0, 2.0), np.array([7.0, 11.0, 14.0]) * pf, 2.2, rotation("x", -10.0))
    fibula = union(shaft, lat, k=6.0)
    return {int(Bone.TIBIA): tibia, int(Bone.FIBULA): fibula}


def _hindfoot(rng: np.random.Generator, pitch_deg: float) -> dict[int, Shape]:
    """Talus (dome about the atlas origin) and calcaneus."""
    pt, pc = _jit(rng), _jit(rng)
    dome_r = 20.0 * float(rng.uniform(0.93, 1.07))
    hw = 14.0 * pt[0]
    half_len = 17.0 * pt[1]
    bottom = -10.0 * pt[2]

    def body(x: Arr, y: Arr, z: Arr) -> Arr:
        d = np.sqrt(y * y + z * z) - np.float32(dome_r)
        d = np.maximum(d, np.abs(x) - np.float32(hw) - np.float32(0.08) * y)
        d = np.maximum(d, np.abs(y) - np.float32(half_len))
        return np.asarray(np.maximum(d, np.float32(bottom) - z), dtype=np.float32)

    tb = Shape(body, np.array([-hw - 2, -half_len, bottom]),
               np.array([hw + 2, half_len, dome_r]))
    head_c = np.array([-5.0, 29.0 * pt[1], -8.0])
    talus = union(
        tb,
        superq((15.0 * pt[0], -4.0, -9.0), (5.5, 8.0, 7.0)),
        superq((2.0, -half_len - 1.0, -8.0), (6.0, 5.0, 5.0)),
        cone((0.0, 6.0, -5.0), head_c, 11.0 * pt[2], 9.5 * pt[2]),
        superq(head_c, np.array([14.0, 10.0, 11.0]) * pt, 2.0, rotation("y", -20.0)),
        k=4.0)
    tilt = rotation("x", pitch_deg - 20.0)
    pivot = (3.0, 25.0, -32.0)
    calc = union(
        superq((3.0, -14.0, -29.0), np.array([15.0, 37.0, 16.0]) * pc, 3.0, rotation("x", 12.0)),
        superq((1.0, -43.0 * pc[1], -38.0), np.array([15.0, 12.0, 20.0]) * pc, 2.5),
        superq((4.0, -7.0, -17.0), np.array([14.0, 13.0, 9.0]) * pc, 2.0),
        superq((-14.0, -2.0, -20.0), np.array([8.0, 11.0, 5.0]) * pc, 2.0),
        superq((8.0, 18.0, -30.0), np.array([12.0, 13.0, 12.0]) * pc, 2.5),
        k=6.0)
    return {int(Bone.TALUS): talus, int(Bone.CALCANEUS): moved(calc, tilt, pivot)}


def _midfoot(rng: np.random.Generator) -> dict[int, Shape]:
    """Navicular, cuboid and the three cuneiforms (before the arch rotation)."""
    pn, pb, p5, p6, p7 = (_jit(rng) for _ in range(5))
    nav = union(superq((-8.0, 45.0, -11.0), np.array([19.0, 8.5, 13.0]) * pn, 2.2,
                       rotation("y", -25.0)),
                superq((-25.0, 41.0, -20.0), np.array([6.0, 6.0, 7.0]) * pn), k=4.0)
    cub = superq((14.0, 44.0, -34.0), np.array([12.0, 15.0, 12.0]) * pb, 3.0,
                 rotation("y", 15.0) @ rotation("x", -10.0))
    med = superq((-19.0, 66.0, -17.0), np.array([8.0, 13.0, 17.0]) * p5, 3.0)
    inter = superq((-6.0, 63.0, -8.0), np.array([6.5, 10.0, 12.0]) * p6, 3.0)
    lat = superq((6.5, 64.0, -13.0), np.array([7.5, 11.0, 11.5]) * p7, 3.0,
                 rotation("y", 10.0))
    return {int(Bone.NAVICULAR): nav, int(Bone.CUBOID): cub,
            int(Bone.MEDIAL_CUNEIFORM): med, int(Bone.INTERMEDIATE_CUNEIFORM): inter,
            int(Bone.LATERAL_CUNEIFORM): lat}


#: Per ray: base point, distal tip, base radii, shaft radius, head radii (mm).
_RAYS = (
    ((-19.0, 78.0, -23.0), (-31.0, 133.0, -45.0), (8.5, 7.0, 12.5), 6.2, (9.0, 8.5, 10.0)),
    ((-6.0, 72.0, -12.0), (-12.0, 141.0, -44.0), (6.0, 7.0, 10.0), 4.3, (6.0, 7.0, 8.0)),
    ((6.0, 74.0, -18.0), (2.0, 137.0, -46.0), (6.0, 7.0, 9.5), 4.2, (5.5, 7.0, 7.5)),
    ((15.5, 71.0, -27.0), (14.0, 131.0, -48.0), (6.0, 7.0, 8.0), 4.0, (5.5, 6.5, 7.0)),
    ((24.0, 65.0, -35.0), (27.0, 124.0, -52.0), (7.0, 8.0, 7.5), 4.2, (5.5, 6.0, 6.5)),
)
_METATARSALS = (Bone.FIRST_METATARSAL, Bone.SECOND_METATARSAL, Bone.THIRD_METATARSAL,
                Bone.FOURTH_METATARSAL, Bone.FIFTH_METATARSAL)


def _forefoot(rng: np.random.Generator) -> tuple[dict[int, Shape], dict[int, Shape]]:
    """Five metatarsals and the toes of each ray (by metatarsal code)."""
    out: dict[int, Shape] = {}
    toes: dict[int, Shape] = {}
    splay = float(rng.uniform(0.9, 1.1))
    for (base, tip, rb, rs, rh), bone in zip(_RAYS, _METATARSALS, strict=False):
        b, t = np.array(base), np.array(tip)
        t[0] = b[0] + (t[0] - b[0]) * splay
        length = float(rng.uniform(0.85, 1.01))
        thick = float(rng.uniform(0.88, 1.12))
        axis = (t - b) / np.linalg.norm(t - b)
        t = b + (t - b) * length
        frame = _frame(axis)
        parts = [superq(b + axis * rb[1], np.array(rb) * thick, 3.0, frame),
                 cone(b + axis * rb[1], t - axis * rh[1], rs * thick, rs * thick * 1.1),
                 superq(t - axis * rh[1], np.array(rh) * thick, 2.0, frame)]
        if bone == Bone.FIFTH_METATARSAL:
            parts.append(superq(b + np.array([7.0, -4.0, -3.0]), np.array([7.0, 9.0, 6.0])
                                * thick))
        out[int(bone)] = union(*parts, k=4.0)
        flat = np.array([axis[0], np.hypot(axis[1], axis[2]), 0.0])
        flat /= np.linalg.norm(flat)
        p0 = t + flat * 2.0
        p1 = p0 + flat * (28.0 if bone == Bone.FIRST_METATARSAL else 22.0) * length
        p2 = p1 + flat * (22.0 if bone == Bone.FIRST_METATARSAL else 16.0) * length
        r = rs * thick * (1.1 if bone == Bone.FIRST_METATARSAL else 1.0)
        toes[int(bone)] = union(cone(p0, p1, r * 1.1, r * 0.9),
                                cone(p1 + flat * 2.0, p2, r * 0.9, r * 0.8))
    return out, toes


def _frame(axis: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns: a lateral-ish x, the bone's long axis as y, and z completing the frame."""
    y = axis / np.linalg.norm(axis)
    x = np.cross(y, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


#: Bones in order of precedence: a bone is carved by every earlier bone plus the joint
#: space, so earlier bones keep their convex articular surfaces.
_ORDER = (Bone.TALUS, Bone.CALCANEUS, Bone.NAVICULAR, Bone.TIBIA, Bone.FIBULA, Bone.CUBOID,
          Bone.MEDIAL_CUNEIFORM, Bone.INTERMEDIATE_CUNEIFORM, Bone.LATERAL_CUNEIFORM,
          *_METATARSALS)


@dataclass(frozen=True)
class _Foot:
    shapes: dict[int, Shape]
    gaps: dict[int, float]
    scale: float
    params: dict[str, float]


def _draw_foot(seed: int) -> _Foot:
    rng = np.random.default_rng([int(seed), _SALT])
    scale = float(rng.uniform(0.88, 1.02))
    pitch_deg = float(rng.uniform(14.0, 26.0))
    arch_deg = float(rng.uniform(-6.0, 6.0))
    gap = float(rng.uniform(1.0, 1.8))
    gap_ankle = float(rng.uniform(1.8, 2.6))
    shapes: dict[int, Shape] = {}
    shapes.update(_leg(rng))
    shapes.update(_hindfoot(rng, pitch_deg))
    distal: dict[int, Shape] = _midfoot(rng)
    fore, toes = _forefoot(rng)
    distal.update(fore)
    # the arch: midfoot and forefoot turn about the talonavicular / calcaneocuboid line
    arch = rotation("x", -arch_deg)
    for code, shape in distal.items():
        shapes[code] = moved(shape, arch, (0.0, 35.0, -25.0))
    shifts = _articulate(shapes)
    toe_shapes = [shifted(moved(t, arch, (0.0, 35.0, -25.0)), shifts.get(code, np.zeros(3)))
                  for code, t in toes.items()]
    shapes[OTHER_BONE] = union(*toe_shapes)
    gaps = {code: gap for code in shapes}
    gaps[int(Bone.TIBIA)] = gap_ankle
    params = {"scale": scale, "calcaneal_pitch_deg": pitch_deg, "arch_deg": arch_deg,
              "joint_space_mm": gap, "tibiotalar_space_mm": gap_ankle}
    return _Foot(shapes, gaps, scale, params)


def _settle(moving: Shape, fixed: list[Shape], direction: ArrayLike3,
            overlap: float = 1.5) -> NDArray[np.float64]:
    """Translation along ``direction`` that brings ``moving`` into contact with
    ``fixed`` (overlapping by about ``overlap`` mm, carved into a joint space later)."""
    u = np.asarray(direction, float)
    u /= np.linalg.norm(u)
    axes = [np.arange(lo, hi, 1.5, dtype=np.float32)
            for lo, hi in zip(moving.lo, moving.hi, strict=False)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    inside = moving(x, y, z) < 0
    pts = np.stack([x[inside], y[inside], z[inside]], axis=1).astype(np.float64)
    t = 0.0
    for _ in range(6):
        q = (pts + t * u).astype(np.float32)
        m = min(float(f(q[:, 0], q[:, 1], q[:, 2]).min()) for f in fixed)
        step = m + overlap
        t = float(np.clip(t + step, -10.0, 10.0))
        if abs(step) < 0.25:
            break
    return np.asarray(t * u, dtype=np.float64)


#: Articulation: (bone, the bones it rests against, direction it is moved in).
_CHAIN: tuple[tuple[Bone, tuple[Bone, ...], tuple[float, float, float]], ...] = (
    (Bone.CALCANEUS, (Bone.TALUS,), (0.0, 0.0, 1.0)),
    (Bone.FIBULA, (Bone.TALUS,), (-1.0, 0.0, 0.0)),
    (Bone.NAVICULAR, (Bone.TALUS,), (0.0, -1.0, 0.0)),
    (Bone.CUBOID, (Bone.CALCANEUS,), (0.0, -1.0, 0.0)),
    (Bone.MEDIAL_CUNEIFORM, (Bone.NAVICULAR,), (0.0, -1.0, 0.0)),
    (Bone.INTERMEDIATE_CUNEIFORM, (Bone.NAVICULAR,), (0.0, -1.0, 0.0)),
    (Bone.LATERAL_CUNEIFORM, (Bone.NAVICULAR,), (0.0, -1.0, 0.0)),
    (Bone.INTERMEDIATE_CUNEIFORM, (Bone.MEDIAL_CUNEIFORM,), (-1.0, 0.0, 0.0)),
    (Bone.LATERAL_CUNEIFORM, (Bone.INTERMEDIATE_CUNEIFORM,), (-1.0, 0.0, 0.0)),
    (Bone.CUBOID, (Bone.LATERAL_CUNEIFORM,), (-1.0, 0.0, 0.0)),
    (Bone.FIRST_METATARSAL, (Bone.MEDIAL_CUNEIFORM,), (0.2, -1.0, 0.4)),
    (Bone.SECOND_METATARSAL, (Bone.INTERMEDIATE_CUNEIFORM,), (0.1, -1.0, 0.4)),
    (Bone.THIRD_METATARSAL, (Bone.LATERAL_CUNEIFORM,), (0.05, -1.0, 0.35)),
    (Bone.FOURTH_METATARSAL, (Bone.CUBOID,), (0.0, -1.0, 0.3)),
    (Bone.FIFTH_METATARSAL, (Bone.CUBOID,), (-0.05, -1.0, 0.25)),
)


def _articulate(shapes: dict[int, Shape]) -> dict[int, NDArray[np.float64]]:
    """Move bones along :data:`_CHAIN` into contact; the total shift per bone."""
    total: dict[int, NDArray[np.float64]] = {}
    for bone, against, direction in _CHAIN:
        code = int(bone)
        v = _settle(shapes[code], [shapes[int(b)] for b in against], direction)
        shapes[code] = shifted(shapes[code], v)
        total[code] = total.get(code, np.zeros(3)) + v
    return total


def _box_axes(lo: NDArray[np.float64], hi: NDArray[np.float64], origin: NDArray[np.float64],
              shape: tuple[int, ...], scale: float
              ) -> tuple[tuple[slice, ...], list[NDArray[np.float32]]] | None:
    """Grid slices covering atlas-mm box ``lo..hi`` (unscaled) and their unscaled axes."""
    i0 = np.maximum(np.floor((lo * scale - origin) / PITCH).astype(int), 0)
    i1 = np.minimum(np.ceil((hi * scale - origin) / PITCH).astype(int) + 1, shape)
    if np.any(i1 <= i0):
        return None
    sl = tuple(slice(int(a), int(b)) for a, b in zip(i0, i1, strict=False))
    axes = [((origin[c] + np.arange(sl[c].start, sl[c].stop) * PITCH) / scale)
            .astype(np.float32) for c in range(3)]
    return sl, axes


def _grid(axes: list[NDArray[np.float32]]) -> tuple[Arr, Arr, Arr]:
    return (axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :])


def _cortex_mm(code: int, z: Arr) -> Arr | float:
    if code in (int(Bone.TIBIA), int(Bone.FIBULA)):
        return np.clip(np.float32(0.6) + (z - np.float32(25.0)) * np.float32(0.045),
                       0.6, 3.2)
    return 0.6 if code != int(Bone.CALCANEUS) else 0.8


def _upsample(coarse: Arr, shape: tuple[int, ...]) -> Arr:
    """Linear interpolation of values on every second voxel onto all voxels."""
    out = coarse
    for axis in range(3):
        n = out.shape[axis]
        full = list(out.shape)
        full[axis] = 2 * n - 1
        fine = np.empty(full, np.float32)
        even = [slice(None)] * 3
        odd = [slice(None)] * 3
        even[axis], odd[axis] = slice(0, None, 2), slice(1, None, 2)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, n - 1), slice(1, n)
        fine[tuple(even)] = out
        np.add(out[tuple(lo)], out[tuple(hi)], out=fine[tuple(odd)])
        fine[tuple(odd)] *= np.float32(0.5)
        out = fine
    return np.asarray(out[: shape[0], : shape[1], : shape[2]], dtype=np.float32)


def _bones(foot: _Foot, origin: NDArray[np.float64],
           shape: tuple[int, ...]) -> NDArray[np.uint8]:
    """Bone, cortex and joint-space codes on the grid (0 elsewhere).

    Signed distances are evaluated on every second voxel (1 mm) and interpolated: they
    are smooth, so this loses nothing visible and is eight times cheaper.
    """
    codes = np.zeros(shape, np.uint8)
    done: list[int] = []
    s = np.float32(foot.scale)
    for code in [int(b) for b in _ORDER] + [OTHER_BONE]:
        sh = foot.shapes[code]
        box = _box_axes(sh.lo - 2.0, sh.hi + 2.0, origin, shape, foot.scale)
        if box is None:
            continue
        sl, axes = box
        step = np.float32(2 * PITCH / foot.scale)
        c_axes = [a[0] + step * np.arange(len(a) // 2 + 1, dtype=np.float32) for a in axes]
        x, y, z = _grid(c_axes)
        raw = sh(x, y, z) * s
        d = raw
        for prev in done:
            p = foot.shapes[prev]
            if np.any(p.hi < sh.lo - 3.0) or np.any(p.lo > sh.hi + 3.0):
                continue
            g = np.float32(max(foot.gaps[prev], foot.gaps[code]))
            d = np.maximum(d, g - p(x, y, z) * s)
        fshape = tuple(len(a) for a in axes)
        raw_f, d_f = _upsample(raw, fshape), _upsample(d, fshape)
        sub = codes[sl]
        free = (sub == 0) | (sub == CARTILAGE)
        marrow = (d_f < 0) & free
        zf = axes[2][None, None, :] * s
        cortex = marrow & (d_f > -np.float32(_cortex_mm(code, zf)))
        joint = (raw_f < 0) & (d_f >= 0) & (sub == 0)
        sub[joint] = CARTILAGE
        sub[marrow] = code
        sub[cortex] = code | CORTEX_BIT
        done.append(code)
    _physeal_scars(codes, origin, foot.scale)
    return codes


def _physeal_scars(codes: NDArray[np.uint8], origin: NDArray[np.float64],
                   scale: float) -> None:
    """Closed growth plates: thin cortex-like lines in the distal tibia and fibula."""
    zz = origin[2] + np.arange(codes.shape[2]) * PITCH
    for bone, z0 in ((Bone.TIBIA, 40.0), (Bone.FIBULA, 14.0)):
        k = np.flatnonzero(np.abs(zz - z0 * scale) < 0.45)
        for kk in k:
            sl = codes[:, :, kk]
            sl[sl == int(bone)] = int(bone) | CORTEX_BIT


def _landmarks(codes: NDArray[np.uint8], origin: NDArray[np.float64]
               ) -> dict[str, list[float]]:
    """The landmark set of the committed atlas, read off the bones (atlas mm, to 1 mm)."""
    codes = codes[::2, ::2, ::2]
    base = codes & np.uint8(CORTEX_BIT - 1)
    bone = (codes > 0) & ((codes < 16) | (codes >= CORTEX_BIT))
    boxes = ndimage.find_objects(np.where(bone, base, 0))

    def pts(b: Bone) -> NDArray[np.float64]:
        sl = boxes[int(b) - 1]
        idx = np.argwhere(base[sl] == int(b)) + [s.start for s in sl]
        return np.asarray(origin + idx * 2 * PITCH, dtype=np.float64)

    calc, talus, tib = pts(Bone.CALCANEUS), pts(Bone.TALUS), pts(Bone.TIBIA)
    calc_post = calc[np.argmin(calc[:, 1])]
    low = calc[calc[:, 1] < calc_post[1] + 25]
    tib_low = tib[tib[:, 2] < 25]
    med = tib_low[tib_low[:, 0] < tib_low[:, 0].min() + 6]
    fib, nav = pts(Bone.FIBULA), pts(Bone.NAVICULAR)
    mt1, mt5 = pts(Bone.FIRST_METATARSAL), pts(Bone.FIFTH_METATARSAL)
    marks = {
        "dome_centre": np.zeros(3), "calcaneus_posterior": calc_post,
        "heel_bottom": low[np.argmin(low[:, 2])],
        "medial_malleolus_tip": med[np.argmin(med[:, 2])],
        "lateral_malleolus_tip": fib[np.argmin(fib[:, 2])],
        "talus_head": talus[np.argmax(talus[:, 1])],
        "first_metatarsal_head": mt1[np.argmax(mt1[:, 1])],
        "fifth_metatarsal_base": mt5[np.argmin(mt5[:, 1])],
        "navicular_tuberosity": nav[np.argmin(nav[:, 0])],
    }
    return {k: [round(float(v), 2) for v in p] for k, p in marks.items()}


@functools.lru_cache(maxsize=4)
def parametric_atlas(seed: int, side: str = "R") -> Atlas:
    """A parametric foot-and-ankle atlas (evaluation anatomy), drawn from ``seed``.

    Parameters
    ----------
    seed
        Any integer; the same seed always gives the same foot, different seeds give
        different bone proportions, arch, calcaneal pitch, joint spaces and size.
    side
        ``"R"``: a right foot in the atlas frame of :func:`~bmes_imaging.anatomy.atlas` (+x
        lateral), what a phantom study needs (its pose mirrors a left foot itself).
        ``"L"``: the same foot mirrored across the sagittal plane (a left foot in RAS+,
        +x medial), e.g. for a left-foot template.

    Returns
    -------
    Atlas
        Class codes of :mod:`~bmes_imaging.anatomy` at 0.5 mm (read-only), the
        voxel to atlas-mm affine and ``meta`` with the keys of the committed atlas
        (``source``, ``pitch_mm``, ``frame``, ``landmarks``, ``tissues``) plus
        ``seed``, ``side`` and the drawn ``parameters``. Cached per ``(seed, side)``.

    Examples
    --------
    >>> from bmes_imaging.bones import Bone
    >>> from bmes_imaging.phantom._parametric import parametric_atlas
    >>> a = parametric_atlas(1)
    >>> talus_ml = ((a.codes & 63) == int(Bone.TALUS)).sum() * a.pitch ** 3 / 1000
    >>> bool(25 < talus_ml < 50)
    True
    """
    side = str(side).upper()
    if side not in ("L", "R"):
        raise PhantomError(f"side must be 'L' or 'R', found {side!r}")
    if side == "L":
        right = parametric_atlas(seed, "R")
        codes = np.ascontiguousarray(right.codes[::-1])
        affine = right.affine.copy()
        affine[0, 3] = -(right.origin[0] + (codes.shape[0] - 1) * right.pitch)
        meta = dict(right.meta)
        meta["side"] = "L"
        meta["frame"] = ("left foot (mirrored right foot); +x medial, +y anterior, "
                         "+z superior; origin at the talar dome centre of curvature")
        meta["landmarks"] = {k: [-v[0], v[1], v[2]] for k, v in right.meta["landmarks"].items()}
        codes.setflags(write=False)
        return Atlas(codes, affine, meta)
    foot = _draw_foot(seed)
    lo = np.min([s.lo for s in foot.shapes.values()], axis=0) * foot.scale - _MARGIN_MM
    hi = np.max([s.hi for s in foot.shapes.values()], axis=0) * foot.scale + _MARGIN_MM
    lo[0], hi[0] = max(lo[0], -75.0), min(hi[0], 75.0)
    lo[1], hi[1] = max(lo[1], -110.0), min(hi[1], 200.0)
    lo[2], hi[2] = max(lo[2], -115.0), LEG_TOP_MM
    origin = np.floor(lo / PITCH) * PITCH
    shape = tuple(int(n) for n in np.ceil((hi - origin) / PITCH).astype(int) + 1)
    codes = _bones(foot, origin, shape)
    marks = _landmarks(codes, origin)
    soft_tissues(codes, origin, PITCH)
    affine = np.diag([PITCH, PITCH, PITCH, 1.0])
    affine[:3, 3] = origin
    meta = {
        "source": "bmes-imaging parametric foot (superellipsoid bones from published "
                  "osteometric dimensions; not derived from the VHF atlas)",
        "pitch_mm": PITCH, "dorsiflexion_deg": 0.0,
        "frame": "right foot; +x lateral (right), +y anterior, +z superior; origin at the "
                 "talar dome centre of curvature",
        "landmarks": marks,
        "tissues": {str(k): v for k, v in TISSUE_NAMES.items()},
        "seed": int(seed), "side": "R",
        "parameters": {k: round(v, 4) for k, v in foot.params.items()},
    }
    codes.setflags(write=False)
    return Atlas(codes, affine, meta)
