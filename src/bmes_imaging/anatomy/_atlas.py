"""The committed foot atlas and its per-study pose and deformation.

The atlas (``data/foot_atlas.npz``, derived by ``tools/derive_anatomy.py`` from the
CC BY 4.0 Visible Human Female surfaces) is a right foot in its own frame: millimetres,
+x lateral (right), +y anterior, +z superior, origin at the talar dome's centre of
curvature. A study places it in the scanner's RAS+ world with a :class:`FootPose`:
mirror for a left foot, anisotropic scale, a small rotation, a translation and a smooth
low-frequency deformation, all drawn from the study's seed. On request the pose also
plantar-flexes the foot about the talocrural axis (the tibia and fibula stay, the foot
below rotates; a per-voxel warp that blends smoothly across the ankle joint), deforms the
anatomy more strongly and places the foot off the centre of the field of view.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import PhantomError
from ..volume import SeriesInfo, Volume
from ._classes import CORTEX_BIT, OTHER_BONE, TISSUE_NAMES, bone_label_of

__all__ = ["Atlas", "FootPose", "atlas", "draw_pose", "load_foot_atlas", "load_foot_tissues"]

_ATLAS_FILE = "foot_atlas.npz"
#: Mirror across the sagittal plane (a right foot to a left one).
MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Atlas:
    """The class-code volume of the right foot (read-only) and its geometry.

    Attributes
    ----------
    codes
        ``uint8`` class codes (see :mod:`bmes_imaging.anatomy`), C-contiguous.
    affine
        Voxel index to atlas millimetres.
    meta
        Source, frame description and landmarks (atlas mm).
    """

    codes: NDArray[np.uint8]
    affine: NDArray[np.float64]
    meta: dict[str, Any]

    #: Codes 1-14 are the project's bone labels; this code marks any other bone.
    other_bone_code: ClassVar[int] = OTHER_BONE
    #: Added to a bone's code for its cortex voxels.
    cortex_bit: ClassVar[int] = CORTEX_BIT
    #: Soft-tissue class names by code (air, fat, muscle, tendon, ...).
    tissue_names: ClassVar[dict[int, str]] = TISSUE_NAMES

    @property
    def pitch(self) -> float:
        """Voxel size (mm), isotropic."""
        return float(self.affine[0, 0])

    @property
    def origin(self) -> NDArray[np.float64]:
        """Atlas mm of voxel (0, 0, 0)."""
        return np.asarray(self.affine[:3, 3], dtype=np.float64)

    def landmark(self, name: str) -> NDArray[np.float64]:
        """A named landmark (atlas mm), e.g. ``"talus_head"``."""
        return np.asarray(self.meta["landmarks"][name], dtype=np.float64)


@functools.lru_cache(maxsize=1)
def atlas() -> Atlas:
    """Load the committed atlas once per process.

    Raises
    ------
    PhantomError
        If the package data file is missing (a broken installation).
    """
    try:
        ref = resources.files("bmes_imaging.anatomy") / "data" / _ATLAS_FILE
        with resources.as_file(ref) as path, np.load(path) as z:
            codes = np.ascontiguousarray(z["codes"], dtype=np.uint8)
            affine = np.asarray(z["affine"], dtype=np.float64)
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise PhantomError(f"the phantom atlas {_ATLAS_FILE} is missing from the installed "
                           "package; reinstall bmes-imaging") from None
    codes.setflags(write=False)
    return Atlas(codes, affine, meta)


def load_foot_tissues() -> Atlas:
    """The committed atlas with every voxel's tissue class (right foot, atlas frame).

    Bones carry their project label (cortex voxels have :attr:`Atlas.cortex_bit` added),
    soft tissues the codes of :attr:`Atlas.tissue_names`. For building registration
    templates with another contrast than the phantom's; mirror for a left foot as
    :func:`load_foot_atlas` does.
    """
    return atlas()


def load_foot_atlas(side: str = "R", *, step: int = 1) -> Volume:
    """The committed bone label atlas of a foot, in project labels.

    Parameters
    ----------
    side
        ``"R"`` (as derived) or ``"L"`` (mirrored across the sagittal plane).
    step
        Keep every ``step``-th voxel along each axis (2: 1 mm voxels).

    Returns
    -------
    Volume
        ``uint8`` bone labels (:class:`~bmes_imaging.bones.Bone` values, toes 0) at
        0.5 mm (times ``step``) in the atlas frame: RAS+ millimetres with the origin at
        the talar dome's centre of curvature (+y anterior, +z superior; +x lateral for
        ``"R"``, medial for ``"L"``).

    Examples
    --------
    >>> from bmes_imaging.anatomy import load_foot_atlas
    >>> atlas_r = load_foot_atlas("R")
    >>> int(atlas_r.array.max())
    14
    """
    side = side.upper()
    if side not in ("L", "R"):
        raise PhantomError(f"side must be 'L' or 'R', found {side!r}")
    if step < 1:
        raise PhantomError(f"step must be >= 1, found {step}")
    a = atlas()
    affine = a.affine.copy()
    affine[:3, :3] *= step
    if side == "L":
        affine = MIRROR @ affine
    info = SeriesInfo(laterality=side, series_description="foot atlas (VHF, CC BY 4.0)",
                      extra={"source": a.meta.get("source", "")})
    codes = a.codes[::step, ::step, ::step] if step > 1 else a.codes
    return Volume(bone_label_of(codes), affine, info)


#: Talocrural (ankle) axis in the atlas frame of a right foot, through the talar dome's
#: centre of curvature (the atlas origin): its lateral end about 8 degrees lower and
#: 7 degrees more posterior than its medial end (Inman 1976, *The Joints of the Ankle*:
#: the empirical axis runs just below the malleolar tips, about 8 degrees from the
#: horizontal in the frontal plane, turned externally in the transverse plane).
_ANKLE_AXIS = np.array([1.0, -0.12, -0.14]) / float(np.linalg.norm([1.0, -0.12, -0.14]))
#: Grid (mm) of the distance-to-leg and distance-to-foot fields of the flexion warp.
_FLEX_PITCH = 2.0
_FLEX_CACHE: dict[int, tuple[NDArray[np.uint8], tuple[NDArray[np.float32],
                                                        NDArray[np.float32],
                                                        NDArray[np.float64], float]]] = {}


def _flex_fields(a: Atlas) -> tuple[NDArray[np.float32], NDArray[np.float32],
                                    NDArray[np.float64], float]:
    """Distance (mm) to the leg bones and to the foot bones on a coarse grid, cached."""
    from scipy import ndimage

    hit = _FLEX_CACHE.get(id(a.codes))
    if hit is not None and hit[0] is a.codes:
        return hit[1]
    step = max(round(_FLEX_PITCH / a.pitch), 1)
    codes = a.codes[::step, ::step, ::step]
    base = codes & np.uint8(CORTEX_BIT - 1)
    bone = (codes > 0) & (base <= OTHER_BONE) & ((codes < 16) | (codes >= CORTEX_BIT))
    leg = bone & ((base == 13) | (base == 14))
    foot = bone & ~leg
    pitch = a.pitch * step
    d_leg = ndimage.distance_transform_edt(~leg, sampling=pitch).astype(np.float32)
    d_foot = ndimage.distance_transform_edt(~foot, sampling=pitch).astype(np.float32)
    out = (d_leg, d_foot, a.origin, float(pitch))
    if len(_FLEX_CACHE) >= 4:
        _FLEX_CACHE.pop(next(iter(_FLEX_CACHE)))
    _FLEX_CACHE[id(a.codes)] = (a.codes, out)
    return out


def _rotate(p: NDArray[np.float64], k: NDArray[np.float64],
            angle: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotate ``(N, 3)`` points about the unit axis ``k`` through the origin (Rodrigues)."""
    c = np.cos(angle)
    s = np.sin(angle)
    if np.ndim(c):
        c, s = np.asarray(c)[:, None], np.asarray(s)[:, None]
    kp = p @ k
    return np.asarray(p * c + np.cross(k, p) * s + np.outer(kp, k) * (1.0 - c),
                      dtype=np.float64)


def _foot_weight(a: Atlas, p_leg: NDArray[np.float64],
                 p_foot: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share (0 leg .. 1 foot) of points whose leg / foot distances are read at
    ``p_leg`` / ``p_foot`` (atlas mm): ``d_leg / (d_leg + d_foot)``, going to 0 from 10
    to 40 mm above the dome centre, smoothstepped: the blend is sharp in the joint space
    and gradual far from the bones."""
    from scipy import ndimage

    d_leg, d_foot, origin, pitch = _flex_fields(a)
    dl = ndimage.map_coordinates(d_leg, ((p_leg - origin) / pitch).T, order=1,
                                 mode="nearest")
    df = ndimage.map_coordinates(d_foot, ((p_foot - origin) / pitch).T, order=1,
                                 mode="nearest")
    f = dl / (dl + df + 1e-3)
    # well above the ankle (z > 40 mm) everything belongs to the leg, whatever its
    # distance to the bones (the calf's soft tissues do not turn with the foot)
    f *= np.clip((40.0 - p_leg[:, 2]) / 30.0, 0.0, 1.0)
    return np.asarray(f * f * (3.0 - 2.0 * f), dtype=np.float64)


@dataclass(frozen=True)
class FootPose:
    """Where and how one study's foot lies in the scanner (RAS+ mm).

    The map from a world point ``w`` to the atlas point it shows is
    ``a = F(u + d(u))`` with ``u = inverse_affine @ w``, the smooth displacement
    ``d(u) = sum_n amp_n * sin(wave_n . u + phase_n)`` and ``F`` the ankle warp: the
    identity without flexion, else a rotation about the talocrural axis by
    ``flexion_deg * f`` where ``f`` goes from 0 at the tibia and fibula to 1 at the foot
    bones (plantar flexion: the leg stays, the foot below it turns down).

    Attributes
    ----------
    affine
        4x4 atlas mm to world mm (mirror, scale, rotation, translation).
    wave, amp, phase
        ``(n, 3)`` wave vectors (rad/mm), ``(n, 3)`` amplitudes (mm), ``(n,)`` phases.
    flexion_deg
        Plantar flexion (degrees, negative: dorsiflexion) of the foot against the leg.
    fov_offset
        Atlas-mm offset the study adds to the centre of its field of view (placement of
        the foot off the centre).
    """

    affine: NDArray[np.float64]
    wave: NDArray[np.float64]
    amp: NDArray[np.float64]
    phase: NDArray[np.float64]
    flexion_deg: float = 0.0
    fov_offset: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))

    def unflex(self, a: Atlas, posed: NDArray[np.float64]) -> NDArray[np.float64]:
        """Atlas mm of ``(N, 3)`` points of the flexed foot (atlas mm before flexion)."""
        p = np.asarray(posed, dtype=np.float64)
        if not self.flexion_deg:
            return p
        theta = np.radians(self.flexion_deg)
        f = _foot_weight(a, p, _rotate(p, _ANKLE_AXIS, theta))
        return _rotate(p, _ANKLE_AXIS, theta * f)

    def to_atlas_mm(self, world: NDArray[np.floating[Any]],
                    a: Atlas | None = None) -> NDArray[np.float32]:
        """Atlas millimetres shown at ``(N, 3)`` world points (float32).

        ``a`` is the atlas the pose is applied to (the flexion warp reads its bones);
        default the committed VHF atlas.
        """
        inv = np.linalg.inv(self.affine)
        w = np.asarray(world, dtype=np.float64)
        u = w @ inv[:3, :3].T + inv[:3, 3]
        out = u.copy()
        for k in range(len(self.phase)):
            out += np.sin(u @ self.wave[k] + self.phase[k])[:, None] * self.amp[k]
        if self.flexion_deg:
            out = self.unflex(a if a is not None else atlas(), out)
        return out.astype(np.float32)

    def to_world(self, atlas_mm: NDArray[np.floating[Any]],
                 a: Atlas | None = None) -> NDArray[np.float64]:
        """World mm of ``(N, 3)`` atlas points: flexion, then the affine.

        The small sine displacement is not inverted (it moves points by a few mm at
        most); meant for placing the field of view on an atlas landmark.
        """
        p = np.atleast_2d(np.asarray(atlas_mm, dtype=np.float64))
        if self.flexion_deg:
            aa = a if a is not None else atlas()
            theta = np.radians(self.flexion_deg)
            p = _rotate(p, _ANKLE_AXIS, -theta * _foot_weight(aa, p, p))
        return np.asarray(p @ self.affine[:3, :3].T + self.affine[:3, 3], dtype=np.float64)

    def plane_voxels(self, a: Atlas, origin: NDArray[np.float64], step_i: NDArray[np.float64],
                     step_j: NDArray[np.float64], ni: int, nj: int,
                     world_to_anatomy: NDArray[np.float64] | None = None,
                     ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32],
                                NDArray[np.bool_]]:
        """Nearest atlas voxel indices seen by a plane of ``ni x nj`` world points.

        The plane's points are ``origin + i * step_i + j * step_j``. Because the pose is
        affine plus a sum of sines, the sines separate over ``i`` and ``j`` (angle
        addition), which keeps this fast; the flexion warp (if any) is applied per point
        afterwards. ``world_to_anatomy`` (4x4) is applied to world points first (e.g. the
        inverse of the STIR motion).

        Returns
        -------
        ix, iy, iz
            ``int32`` arrays of shape ``(ni * nj,)`` (clipped into the grid).
        inside
            ``False`` where the point falls outside the atlas grid.
        """
        inv = np.linalg.inv(self.affine)
        if world_to_anatomy is not None:
            inv = inv @ world_to_anatomy
        u0 = inv[:3, :3] @ origin + inv[:3, 3]
        da = inv[:3, :3] @ step_i
        db = inv[:3, :3] @ step_j
        ii = np.arange(ni, dtype=np.float64)
        jj = np.arange(nj, dtype=np.float64)
        # displacement, separable per sine term
        disp: list[NDArray[np.float32] | None] = [None, None, None]
        for k in range(len(self.phase)):
            w = self.wave[k]
            arg_i = float(w @ u0 + self.phase[k]) + ii * float(w @ da)
            arg_j = jj * float(w @ db)
            s = (np.sin(arg_i).astype(np.float32)[:, None] * np.cos(arg_j).astype(np.float32)
                 + np.cos(arg_i).astype(np.float32)[:, None]
                 * np.sin(arg_j).astype(np.float32))
            for c in range(3):
                term = s * np.float32(self.amp[k, c])
                cur = disp[c]
                disp[c] = term if cur is None else cur + term
        inv_p = 1.0 / a.pitch
        o = a.origin
        shape = a.codes.shape
        inside = np.ones(ni * nj, dtype=bool)
        vox = []
        for c in range(3):
            line_i = ((u0[c] - o[c]) + ii * da[c]) * inv_p
            line_j = jj * db[c] * inv_p
            v = line_i.astype(np.float32)[:, None] + line_j.astype(np.float32)[None, :]
            d = disp[c]
            if d is not None:
                v += d * np.float32(inv_p)
            vox.append(v)
        if self.flexion_deg:
            posed = np.stack([v.reshape(-1) for v in vox], axis=1) * a.pitch + o
            back = (self.unflex(a, posed) - o) * inv_p
            vox = [np.ascontiguousarray(back[:, c], dtype=np.float32) for c in range(3)]
        out = []
        for c, v in enumerate(vox):
            idx = np.rint(v, out=v).astype(np.int32).reshape(-1)
            inside &= (idx >= 0) & (idx < shape[c])
            np.clip(idx, 0, shape[c] - 1, out=idx)
            out.append(idx)
        return out[0], out[1], out[2], inside


def _rotation(angles_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


def draw_pose(rng: np.random.Generator, side: str, size: float = 1.0, *,
              flexion_deg: float = 0.0, deformation: float | None = None,
              rotation_deg: float = 4.0, placement_mm: float = 0.0) -> FootPose:
    """Draw one study's pose.

    Parameters
    ----------
    rng
        The study's generator. With the keyword arguments at their defaults it is
        consumed exactly as before they existed (same studies byte for byte).
    side
        ``"R"`` or ``"L"`` (mirrored).
    size
        Foot size factor (0.8-1.25 covers adult feet against the female atlas); each
        axis is further scaled by +-4 %.
    flexion_deg
        Plantar flexion of the foot about the talocrural axis (degrees; up to 40 is
        realistic for a relaxed foot in the coil, negative values dorsiflex); the tibia
        and fibula keep their place.
    deformation
        ``None`` or 0: the usual 0.6-1.6 mm smooth deformation (four sine modes of
        60-130 mm wavelength). A strength ``s`` in 0..2 adds six sine modes of 40-110 mm
        wavelength and ``s * (2-5)`` mm amplitude, which bend and stretch single bones;
        all modes are scaled down if needed so that the displacement's Lipschitz bound
        stays below 0.6 (the warp never folds).
    rotation_deg
        Rotation about each axis is drawn in +-``rotation_deg``.
    placement_mm
        The field of view's centre is moved off the hindfoot / midfoot by up to this
        distance (``FootPose.fov_offset``, random direction).

    Returns
    -------
    FootPose
    """
    if not 0.3 <= size <= 3.0:
        raise PhantomError(f"foot size factor must be in 0.3..3, found {size}")
    if not -30.0 <= flexion_deg <= 60.0:
        raise PhantomError(f"flexion_deg must be in -30..60 degrees, found {flexion_deg}")
    if deformation is not None and not 0.0 <= deformation <= 2.0:
        raise PhantomError(f"deformation strength must be in 0..2 or None, found "
                           f"{deformation}")
    if rotation_deg < 0 or placement_mm < 0:
        raise PhantomError("rotation_deg and placement_mm must be >= 0")
    scale = size * (1.0 + rng.uniform(-0.04, 0.04, 3))
    rot = _rotation(rng.uniform(-rotation_deg, rotation_deg, 3))
    lin = rot @ np.diag(scale)
    if side == "L":
        lin = lin @ MIRROR[:3, :3]
    x = 18.0 if side == "R" else -18.0
    t = np.array([x, 0.0, 0.0]) + rng.uniform(-4.0, 4.0, 3)
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[:3, 3] = t
    n = 4
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    wavelength = rng.uniform(60.0, 130.0, n)
    wave = direction * (2 * np.pi / wavelength)[:, None]
    amp_dir = rng.normal(size=(n, 3))
    amp_dir /= np.linalg.norm(amp_dir, axis=1, keepdims=True)
    amp = amp_dir * rng.uniform(0.6, 1.6, n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n)
    if deformation:
        wave, amp, phase = _strong_modes(rng, deformation, wave, amp, phase)
    offset = np.zeros(3)
    if placement_mm > 0:
        d = rng.normal(size=3)
        offset = d / np.linalg.norm(d) * rng.uniform(0.0, placement_mm)
    return FootPose(affine, wave, amp, phase, float(flexion_deg), offset)


def _strong_modes(rng: np.random.Generator, strength: float, wave: NDArray[np.float64],
                  amp: NDArray[np.float64], phase: NDArray[np.float64],
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Append six stronger, shorter sine modes; keep ``sum |amp| |wave|`` (a Lipschitz
    bound of the displacement) below 0.6."""
    n = 6
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    w = direction * (2 * np.pi / rng.uniform(40.0, 110.0, n))[:, None]
    amp_dir = rng.normal(size=(n, 3))
    amp_dir /= np.linalg.norm(amp_dir, axis=1, keepdims=True)
    a = amp_dir * (strength * rng.uniform(2.0, 5.0, n))[:, None]
    wave, amp = np.vstack([wave, w]), np.vstack([amp, a])
    phase = np.concatenate([phase, rng.uniform(0, 2 * np.pi, n)])
    bound = float(np.sum(np.linalg.norm(amp, axis=1) * np.linalg.norm(wave, axis=1)))
    if bound > 0.6:
        amp = amp * (0.6 / bound)
    return wave, amp, phase
