"""Automatic bone masks: a labelled foot atlas registered to the T1 image.

Method
------
1. **Template.** The atlas (:func:`bmes_imaging.phantom.load_foot_atlas`, right or left
   foot from the series laterality; both are tried when it is unknown) becomes a
   T1-like template image: each anatomical class of the packaged atlas (fat, muscle,
   tendon, cartilage, marrow, cortex, air...) takes its generic T1 appearance (fat and
   marrow bright, muscle intermediate, tendon and cortex dark), block-averaged to 1 mm
   and blurred along the T1 slice direction like the T1 slice profile. An atlas given
   as bone labels only gets a bone-only template (marrow bright, cortex dark, rest
   unknown grey). The match is by normalised mutual information (NMI), which only asks
   that classes map consistently, not that intensities agree.
2. **Global affine.** A translation search on a coarse grid (6 mm blocks, +/- 36 mm
   around the centre of the T1 field of view); from the best translation(s), nine
   parameters (rotation, translation, scale per axis, with a small penalty on
   anisotropic scale) by Powell's method at 6 mm, then at 3 mm.
3. **Per-bone refinement.** Every bone is refined on its own (rotation, translation,
   scale; 3 mm then 1.5 mm) in a box around it, starting from the global affine; this is
   the smooth, local deformation that absorbs differences in proportion between feet.
4. **Label fusion.** Each bone's warped mask gives a probability on the T1 grid; the
   most probable bone wins. Optionally (``snap=True``) the result is snapped to the
   image by a marker-controlled watershed of the T1 edge strength (eroded bones as
   markers, the region well outside all bones as background).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, optimize

from ..bones import Bone
from ..errors import DetectionError
from ..geometry import apply_affine, resample_to
from ..volume import Volume
from ._align import _block_mean, _intensity_bins, _nmi
from ._config import DetectionConfig

__all__ = ["automatic_bones", "prepare_atlas", "register_atlas", "seeded_bones"]

log = logging.getLogger(__name__)

_MARROW, _CORTEX, _OTHER, _AIR = 1.0, 0.1, 0.45, 0.0
#: Soft tissue assumed within this distance of a bone, air beyond (0: not modelled;
#: modelling it made the registration worse on the phantom).
_ENVELOPE_MM = 0.0
#: NMI cost per (% anisotropic scale)^2: 10 % anisotropy costs 0.003, about a tenth
#: of the NMI gained by a good alignment.
_ANISOTROPY_PENALTY = 3e-5
#: Seed of the random sample positions (fixed: the same image gives the same masks).
_SAMPLE_SEED = 7


@dataclass(frozen=True)
class _Schedule:
    """Samples and optimiser budgets of the registration stages (see the module doc)."""

    search_points: int = 2500
    #: best translations the global affine starts from, and how many go on at 3 mm
    starts: int = 3
    fine_starts: int = 1
    global_points: int = 4000
    global_maxfev: int = 800
    fine_points: int = 4000
    fine_maxfev: int = 400
    bone_points: int = 3000
    bone_maxfev: int = 150
    bone_spacing_mm: float = 1.5


#: Automatic masks: budgets chosen on the 22-study phantom cohort of
#: ``bench/bench_detection.py``: worst tarsal Dice 0.905-0.910 with three sample seeds,
#: in 60 % of the time of twice the fine and per-bone budgets. Half the global budget
#: (2000 samples, 400 evaluations) left one study's forefoot misplaced (Dice 0.53).
_SCHEDULE = _Schedule()
#: Seeded masks: the start comes from a few reader clicks, only the seeded bones are
#: refined, and a reader waits on purpose; the larger budget keeps them exact.
_SEEDED_SCHEDULE = _Schedule(fine_points=8000, fine_maxfev=800, bone_maxfev=300)
#: A placement matching worse than this (NMI of the 3 mm stage) is tried again with
#: :data:`_RETRY_SCHEDULE` and the better one kept. On the 22-study phantom cohort good
#: placements scored 1.10-1.18 and the one misplaced forefoot 1.04; on other images
#: the scale may differ, which costs time (a retry), never accuracy.
_LOW_MATCH = 1.08
#: More starts and twice the budgets: about three times as long.
_RETRY_SCHEDULE = _Schedule(starts=6, fine_starts=2, fine_points=8000, fine_maxfev=800,
                            bone_maxfev=300)


@dataclass
class _PreparedAtlas:
    """An atlas at about 1 mm with what every registration reuses (built once)."""

    labels: Volume
    template: NDArray[np.float32]
    template_affine: NDArray[np.float64]
    #: world centre of all bone voxels
    centre: NDArray[np.float64] = field(init=False)
    #: per bone: a subsample of its voxels' world positions (box for the refinement)
    points: dict[int, NDArray[np.float64]] = field(init=False)
    #: per bone: its mask cropped to its box (uint8 0/1) and that box's voxel-to-world
    masks: dict[int, tuple[NDArray[np.float32], NDArray[np.float64]]] = field(init=False)
    #: slice-profiled templates (full and half resolution) per T1 slice geometry
    profiled: dict[tuple[object, ...], tuple[NDArray[np.float32], NDArray[np.float32],
                                             NDArray[np.float64]]] = field(init=False)

    def __post_init__(self) -> None:
        lab = np.asarray(self.labels.array)
        idx = np.argwhere(lab > 0)
        if len(idx) == 0:
            raise DetectionError("the foot atlas holds no bone labels")
        self.centre = apply_affine(self.labels.affine, idx.mean(axis=0)[None])[0]
        self.points, self.masks, self.profiled = {}, {}, {}
        objects = ndimage.find_objects(np.where(lab <= len(Bone), lab, 0))
        for i, box in enumerate(objects):
            if box is None:
                continue
            b = i + 1
            sub = lab[box] == b
            lo = np.array([sl.start for sl in box], dtype=np.float64)
            self.points[b] = apply_affine(self.labels.affine,
                                          np.argwhere(sub)[::7] + lo)
            shift = np.eye(4)
            shift[:3, 3] = lo
            self.masks[b] = (sub.astype(np.float32), self.labels.affine @ shift)

    def profiled_for(self, t1: Volume) -> tuple[NDArray[np.float32], NDArray[np.float32],
                                                NDArray[np.float64]]:
        """The template blurred like ``t1``'s slice profile, its 2 mm copy and affine."""
        key = (tuple(np.round(t1.voxel_sizes, 3)),
               tuple(np.round(t1.affine[:3, :3], 3).ravel()))
        if key not in self.profiled:
            tmpl = _slice_profile(self.template, self.template_affine, t1)
            tmpl2 = np.ascontiguousarray(ndimage.zoom(tmpl, 0.5, order=1))
            taff2 = self.template_affine.copy()
            taff2[:3, :3] = self.template_affine[:3, :3] * (
                np.array(tmpl.shape) - 1) / np.maximum(np.array(tmpl2.shape) - 1, 1)
            if len(self.profiled) > 8:
                self.profiled.clear()
            self.profiled[key] = (tmpl, tmpl2, taff2)
        return self.profiled[key]


_ATLAS_CACHE: dict[str, _PreparedAtlas] = {}
_TISSUE_CACHE: dict[tuple[object, ...], NDArray[np.float32]] = {}
_ATLAS_LOCK = threading.Lock()


def _load_atlas(side: str) -> Volume:
    """The packaged bone label atlas of ``side`` at 1 mm (every other 0.5 mm voxel)."""
    try:
        from ..phantom import load_foot_atlas
    except ImportError as exc:  # pragma: no cover - the phantom package ships the atlas
        raise DetectionError("automatic bone masks need the foot atlas of "
                             "bmes_imaging.phantom, which is not available; give a bone "
                             "label map (--bones) or seed points instead") from exc
    return load_foot_atlas(side, step=_ATLAS_STEP)


#: The packaged atlas has 0.5 mm voxels; registration works at 1 mm.
_ATLAS_STEP = 2


def _atlas_and_template(side: str) -> _PreparedAtlas:
    """The packaged atlas of ``side`` at about 1 mm, with its template (cached)."""
    with _ATLAS_LOCK:  # a warm-up thread and a detection may ask at the same time
        if side not in _ATLAS_CACHE:
            atlas = _load_atlas(side)
            tissue = _tissue_template(atlas)
            tmpl, taff = tissue if tissue is not None else _template(atlas)
            _ATLAS_CACHE[side] = _PreparedAtlas(atlas, tmpl, taff)
        return _ATLAS_CACHE[side]


def prepare_atlas(laterality: str | None = None) -> None:
    """Load and prepare the packaged foot atlas now, so that the first automatic bone
    masks do not pay for it (about half a second; e.g. from a GUI at start-up).

    Parameters
    ----------
    laterality
        ``"R"`` or ``"L"``; both when None.
    """
    for side in ([laterality.upper()] if laterality else ["R", "L"]):
        _atlas_and_template(side)


#: Generic T1 appearance (relative to fat) of the atlas' anatomical classes: what any
#: T1-weighted foot image shows, not a particular scanner's or phantom's values.
_T1_APPEARANCE = {
    "air": 0.0, "other_bone": 0.95, "subcutaneous_fat": 1.0, "muscle": 0.38,
    "tendon": 0.08, "cartilage": 0.5, "joint_recess": 0.85, "vessel": 0.1, "skin": 0.55,
    "kager_fat": 1.0,
}


def _tissue_template(atlas: Volume) -> tuple[NDArray[np.float32], NDArray[np.float64]] | None:
    """T1-like template from the atlas' tissue classes (soft tissue, air, cortex).

    The packaged atlas carries the classes of every voxel (fat, muscle, tendons...);
    giving each its generic T1 appearance makes a template image like the T1 atlases
    of brain registration, block-averaged from the 0.5 mm classes onto the grid of
    ``atlas`` (the packaged labels every ``_ATLAS_STEP`` voxels). Returns None when the
    atlas grid does not match (then the bone-only template is used).
    """
    from ..phantom import load_foot_tissues

    a = load_foot_tissues()
    f = _ATLAS_STEP
    n = np.array(a.codes.shape) // f
    if tuple(-(-np.array(a.codes.shape) // f)) != atlas.shape:
        return None
    lut = np.zeros(256, dtype=np.float32)
    for code, name in a.tissue_names.items():
        lut[code] = _T1_APPEARANCE.get(name, _OTHER)
    lut[1:a.other_bone_code + 1] = 0.95
    lut[a.cortex_bit:a.cortex_bit + a.other_bone_code + 1] = 0.08
    key = (a.codes.shape, f)
    if key not in _TISSUE_CACHE:  # the same array serves both sides (mirrored affine)
        total = np.zeros(tuple(n), dtype=np.float32)
        for i in range(f):  # sum of the f**3 sub-grids: a block sum without copies
            for j in range(f):
                for k in range(f):
                    total += lut[a.codes[i:n[0] * f:f, j:n[1] * f:f, k:n[2] * f:f]]
        total *= np.float32(1.0 / f ** 3)
        _TISSUE_CACHE[key] = total
    vals = _TISSUE_CACHE[key]
    aff = atlas.affine.copy()  # block centres: half a 0.5 mm voxel from the labels' grid
    aff[:3, 3] = apply_affine(atlas.affine, [np.full(3, (f - 1) / (2.0 * f))])[0]
    return vals, aff


def _coarse(labels: Volume, spacing: float) -> Volume:
    """Nearest-neighbour subsampling of a label volume to about ``spacing`` mm."""
    f = np.maximum(1, np.round(spacing / labels.voxel_sizes)).astype(int)
    if np.all(f == 1):
        return labels
    arr = np.ascontiguousarray(np.asarray(labels.array)[::f[0], ::f[1], ::f[2]])
    aff = labels.affine.copy()
    aff[:3, :3] = labels.affine[:3, :3] * f
    return Volume(arr.astype(np.uint8), aff, labels.info)


def _template(labels: Volume) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """T1-like template on a ~1 mm grid from bone labels only."""
    vs = labels.voxel_sizes
    f = np.maximum(1, np.round(1.0 / vs)).astype(int)
    lab = np.asarray(labels.array)
    if np.any(f > 1):
        lab = lab[::f[0], ::f[1], ::f[2]]
        aff = labels.affine.copy()
        aff[:3, :3] = labels.affine[:3, :3] * f
    else:
        aff = labels.affine.copy()
    vs2 = vs * f
    bone = lab > 0
    inner = ndimage.distance_transform_edt(bone, sampling=vs2) > 1.0
    tmpl = np.full(lab.shape, _OTHER, dtype=np.float32)
    if _ENVELOPE_MM:
        far = ndimage.distance_transform_edt(~bone, sampling=vs2) > _ENVELOPE_MM
        tmpl[far] = _AIR
    tmpl[bone] = _CORTEX
    tmpl[inner] = _MARROW
    return ndimage.gaussian_filter(tmpl, 0.6), aff


def _slice_profile(tmpl: NDArray[np.float32], taff: NDArray[np.float64], t1: Volume
                   ) -> NDArray[np.float32]:
    """Blur the template along the T1 slice direction like the T1 slice profile.

    A T1 voxel averages the anatomy over its slice thickness (3-4 mm) but only a
    fraction of a millimetre in plane; the template is blurred the same way along the
    atlas axis closest to the T1 slice normal (Gaussian with FWHM = slice spacing).
    """
    vs = t1.voxel_sizes
    k = int(np.argmax(vs))
    if vs[k] < 1.5 * float(np.median(vs)):
        return tmpl  # near-isotropic T1: nothing to mimic
    normal = t1.affine[:3, k] / vs[k]
    axes = taff[:3, :3] / np.sqrt((taff[:3, :3] ** 2).sum(axis=0))
    ax = int(np.argmax(np.abs(normal @ axes)))
    step = float(np.sqrt((taff[:3, ax] ** 2).sum()))
    sigma = vs[k] / 2.355 / step
    return ndimage.gaussian_filter1d(tmpl, sigma, axis=ax).astype(np.float32)


class _Matcher:
    """NMI between fixed T1 samples and the template under a world transform."""

    def __init__(self, fixed: NDArray[np.float32], faff: NDArray[np.float64],
                 moving: NDArray[np.float32], maff: NDArray[np.float64],
                 mask: NDArray[np.bool_], n: int, rng: np.random.Generator) -> None:
        idx = np.argwhere(mask)
        if len(idx) < 200:
            raise DetectionError("too little of the foot lies in the T1 field of view to "
                                 "place the bone atlas; give a bone label map instead")
        if len(idx) > n:
            idx = idx[rng.choice(len(idx), n, replace=False)]
        #: T1 world positions of the samples, (3, N)
        self.world = np.ascontiguousarray(apply_affine(faff, idx).T)
        vals = fixed[tuple(idx.T)]
        lo, hi = np.percentile(fixed[mask], [1, 99.5])
        self.fbin = np.round(_intensity_bins(vals, lo, hi)).astype(np.int64)
        self.moving = moving
        # outside the template: air for a tissue template (it has air), else unknown
        self.outside = _AIR if float(moving.min()) <= _AIR + 1e-3 else _OTHER
        self.minv = np.linalg.inv(maff)

    def cost(self, a2w: NDArray[np.float64]) -> float:
        """``a2w`` maps atlas world to T1 world."""
        return self.cost_inverse(self.minv @ np.linalg.inv(a2w))

    def cost_inverse(self, w2v: NDArray[np.float64]) -> float:
        """``w2v`` maps T1 world to template voxels."""
        pv = w2v[:3, :3] @ self.world + w2v[:3, 3:4]
        vals = ndimage.map_coordinates(self.moving, pv, order=1, mode="constant",
                                       cval=self.outside)
        return -_nmi(self.fbin, _intensity_bins(vals, 0.0, 1.0), None)


def _rotation(deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation about x, then y, then z (degrees), as :func:`._align.rigid_matrix`."""
    rx, ry, rz = (math.radians(float(d)) for d in deg)
    cx, sx, cy, sy = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry)
    cz, sz = math.cos(rz), math.sin(rz)
    return np.array([[cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
                     [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
                     [-sy, cy * sx, cy * cx]])


def _affine9(p: NDArray[np.float64], centre: NDArray[np.float64],
             base: NDArray[np.float64]) -> NDArray[np.float64]:
    """base followed by rotation (deg), translation (mm), scale (1 unit = 1 %) about centre."""
    m = np.eye(4)
    m[:3, :3] = _rotation(p[:3]) * np.exp(np.asarray(p[6:9]) / 100.0)
    m[:3, 3] = centre - m[:3, :3] @ centre + np.asarray(p[3:6])
    return m @ base


def _affine9_inverse(p: NDArray[np.float64], centre: NDArray[np.float64]
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Inverse of the 9-parameter part of :func:`_affine9` (without base): (A, b)
    with ``x = A @ y + b``; no matrix inversion (the rotation is orthogonal)."""
    a = _rotation(p[:3]).T / np.exp(np.asarray(p[6:9]) / 100.0)[:, None]
    t = centre + np.asarray(p[3:6])
    return a, centre - a @ t


def _fit(matcher: _Matcher, centre: NDArray[np.float64], base: NDArray[np.float64],
         x0: NDArray[np.float64], xtol: float, maxfev: int, bounds: float
         ) -> tuple[NDArray[np.float64], float]:
    # T1 world -> template voxels = minv @ inv(base) @ inv(affine9): the fixed part once
    g = matcher.minv @ np.linalg.inv(base)
    w2v = np.eye(4)

    def fun(p: NDArray[np.float64]) -> float:
        if np.any(np.abs(p[6:9]) > bounds) or np.any(np.abs(p[:3]) > 2 * bounds):
            return 0.0
        # feet differ more in size than in proportion: anisotropic scaling costs a little
        scale = p[6:9]
        penalty = _ANISOTROPY_PENALTY * float(((scale - scale.mean()) ** 2).sum())
        a, b = _affine9_inverse(p, centre)
        w2v[:3, :3] = g[:3, :3] @ a
        w2v[:3, 3] = g[:3, :3] @ b + g[:3, 3]
        return matcher.cost_inverse(w2v) + penalty

    res = optimize.minimize(fun, x0, method="Powell",
                            options={"xtol": xtol, "ftol": 1e-5, "maxfev": maxfev})
    return np.asarray(res.x, dtype=np.float64), float(res.fun)


def register_atlas(t1: Volume, atlas: Volume | _PreparedAtlas,
                   config: DetectionConfig | None = None, *,
                   template: tuple[NDArray[np.float32], NDArray[np.float64]] | None = None,
                   init: NDArray[np.float64] | None = None,
                   bones: set[int] | None = None,
                   schedule: _Schedule | None = None,
                   ) -> tuple[NDArray[np.float64], dict[int, NDArray[np.float64]], float]:
    """Register the atlas to T1: (global atlas->T1 world affine, per-bone affines, NMI).

    ``atlas`` is a label volume at about 1 mm (``template`` its T1-like image, else one
    is made from the labels) or a prepared atlas; ``init`` (atlas to T1 world) replaces
    the translation search, e.g. from reader seeds; ``bones`` limits the per-bone
    refinement to those labels.
    """
    sch = schedule or _SCHEDULE
    if not isinstance(atlas, _PreparedAtlas):
        tm, ta = template if template is not None else _template(atlas)
        atlas = _PreparedAtlas(atlas, tm, ta)
    rng = np.random.default_rng(_SAMPLE_SEED)
    tmpl, tmpl2, taff2 = atlas.profiled_for(t1)
    taff = atlas.template_affine
    n_starts, n_fine = sch.starts, sch.fine_starts
    a_centre = atlas.centre
    t_centre = apply_affine(t1.affine, [(np.array(t1.shape) - 1) / 2.0])[0]

    def body_mask(img: NDArray[np.float32]) -> NDArray[np.bool_]:
        lo, hi = np.percentile(img, [1, 99.5])
        return img > lo + 0.08 * (hi - lo)

    # 1. translation search at 6 mm; a given start (reader seeds) competes with the best
    # translations, so that a rough start cannot trap the optimiser
    fixed6, faff6 = _block_mean(t1, 6.0)
    starts: list[NDArray[np.float64]] = []
    if init is not None:
        starts.append(np.asarray(init, dtype=np.float64))
    m6 = _Matcher(fixed6, faff6, tmpl2, taff2, body_mask(fixed6), sch.search_points, rng)
    steps = np.arange(-36.0, 36.1, 12.0)
    trials = []
    for dx in steps:
        for dy in steps:
            for dz in steps:
                base = np.eye(4)
                base[:3, 3] = t_centre - a_centre + (dx, dy, dz)
                trials.append((m6.cost(base), base))
    trials.sort(key=lambda ct: ct[0])
    n_total = n_starts + len(starts)
    for _, b0 in trials:  # the best few translations at least 15 mm apart
        if all(np.linalg.norm(b0[:3, 3] - s0[:3, 3]) >= 15.0 for s0 in starts):
            starts.append(b0)
        if len(starts) == n_total:
            break
    # 2. global affine from each start at 6 mm, the best refined at 3 mm
    m = _Matcher(fixed6, faff6, tmpl2, taff2, body_mask(fixed6), sch.global_points, rng)
    fits = []
    for base in starts:
        p, cost = _fit(m, t_centre, base, np.zeros(9), 0.3, sch.global_maxfev, 20.0)
        fits.append((cost, base, p))
    fixed, faff = _block_mean(t1, 3.0)
    m = _Matcher(fixed, faff, tmpl, taff, body_mask(fixed), sch.fine_points, rng)
    fine = []
    for _, base, p0 in sorted(fits, key=lambda f: f[0])[:n_fine]:
        p1, c1 = _fit(m, t_centre, base, p0, 0.1, sch.fine_maxfev, 20.0)
        fine.append((c1, base, p1))
    cost, base, p = min(fine, key=lambda f: f[0])
    glob = _affine9(p, t_centre, base)
    # 3. per-bone refinement in a box around each bone
    fixed3, faff3 = _block_mean(t1, sch.bone_spacing_mm)
    inv3 = np.linalg.inv(faff3)
    margin = np.ceil(6.0 / np.sqrt((faff3[:3, :3] ** 2).sum(axis=0))).astype(int)
    per_bone: dict[int, NDArray[np.float64]] = {}
    for lab, pts in sorted(atlas.points.items()):
        if bones is not None and lab not in bones:
            continue
        w = apply_affine(glob, pts)
        centre = w.mean(axis=0)
        vox = apply_affine(inv3, w)
        lo = np.maximum(0, np.floor(vox.min(axis=0)).astype(int) - margin)
        hi = np.minimum(fixed3.shape, np.ceil(vox.max(axis=0)).astype(int) + 1 + margin)
        if np.any(hi - lo < 2):
            continue  # bone outside the field of view
        mask = np.zeros(fixed3.shape, dtype=bool)
        mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
        try:
            mb = _Matcher(fixed3, faff3, tmpl, taff, mask, sch.bone_points, rng)
        except DetectionError:
            continue
        pb, _ = _fit(mb, centre, glob, np.zeros(9), 0.2, sch.bone_maxfev, 12.0)
        per_bone[lab] = _affine9(pb, centre, glob)
    return glob, per_bone, -cost


def _fuse(t1: Volume, atlas: _PreparedAtlas, glob: NDArray[np.float64],
          per_bone: dict[int, NDArray[np.float64]]) -> NDArray[np.uint8]:
    """Most probable bone per T1 voxel from the per-bone warped masks."""
    best = np.full(t1.shape, 0.5, dtype=np.float32)
    out = np.zeros(t1.shape, dtype=np.uint8)
    t1_inv = np.linalg.inv(t1.affine)
    for b, (mask, maff) in sorted(atlas.masks.items()):
        m = per_bone.get(b, glob)
        src = Volume(mask, m @ maff)
        # only the box of this bone in T1 voxels
        corners = np.array([[i, j, k] for i in (0, mask.shape[0] - 1)
                            for j in (0, mask.shape[1] - 1) for k in (0, mask.shape[2] - 1)])
        corners = apply_affine(t1_inv @ m @ maff, corners)
        lo = np.maximum(0, np.floor(corners.min(0)).astype(int) - 2)
        hi = np.minimum(t1.shape, np.ceil(corners.max(0)).astype(int) + 3)
        if np.any(hi <= lo):
            continue
        sub_aff = t1.affine.copy()
        sub_aff[:3, 3] = apply_affine(t1.affine, [lo])[0]
        prob = resample_to(src, sub_aff, tuple(hi - lo), order=1).array
        sl = tuple(slice(int(a), int(c)) for a, c in zip(lo, hi))
        win = prob > best[sl]
        best[sl][win] = prob[win]
        out[sl][win] = b
    return out


def _snap(t1: Volume, labels: NDArray[np.uint8], config: DetectionConfig) -> NDArray[np.uint8]:
    """Move atlas boundaries onto the T1 cortex (marker-controlled watershed)."""
    from skimage.segmentation import watershed

    vs = t1.voxel_sizes
    from ._compare import _crop_box

    crop = _crop_box(labels, np.ceil(6.0 / vs).astype(np.int64))
    lab = labels[crop]
    img = ndimage.gaussian_filter(np.asarray(t1.array[crop], dtype=np.float32),
                                  config.smoothing_mm / vs)
    grads = np.gradient(img, *vs)
    elev = np.sqrt(sum(g * g for g in grads))
    # markers: each bone eroded 2 mm (per bone); background: > 3 mm outside every bone
    from ._compare import bone_depth

    depth = bone_depth(lab, vs)
    markers = np.where(depth >= 2.0, lab, 0).astype(np.int32)
    outside = ndimage.distance_transform_edt(lab == 0, sampling=vs)
    bg = 255
    markers[(outside > 3.0)] = bg
    ws = watershed(elev, markers)
    ws[ws == bg] = 0
    snapped = ws.astype(np.uint8)
    # a bone the snap lost or bloated keeps its atlas shape
    for b in np.unique(lab[lab > 0]):
        a, s = lab == b, snapped == b
        ratio = s.sum() / max(a.sum(), 1)
        if not 0.7 < ratio < 1.4:
            snapped[s] = 0
            snapped[a & (snapped == 0)] = b
    out = np.zeros(labels.shape, dtype=np.uint8)
    out[crop] = snapped
    return out


def _atlas_candidates(t1: Volume, atlas: Volume | None) -> list[_PreparedAtlas]:
    """Atlases to try: the given one, else the packaged one of the T1's side, or of
    both sides when the laterality is unknown."""
    if atlas is not None:
        coarse = _coarse(atlas, 1.0)
        return [_PreparedAtlas(coarse, *_template(coarse))]
    side = (t1.info.laterality or "").upper()
    sides = [side] if side in ("L", "R") else ["R", "L"]
    return [_atlas_and_template(s) for s in sides]


def automatic_bones(t1: Volume, config: DetectionConfig | None = None, *,
                    atlas: Volume | None = None, snap: bool = False) -> Volume:
    """Bone label map on the T1 grid from the registered foot atlas.

    Parameters
    ----------
    t1
        The T1 image; ``t1.info.laterality`` picks the left or right atlas (both are
        tried, best match kept, when it is unknown).
    config
        Detection settings.
    atlas
        Use this label atlas instead of the packaged one (tests, other populations).
    snap
        Snap the atlas boundaries to the T1 cortex (watershed). Off by default: on
        phantom anatomy with 3 mm slices the per-bone registration alone matched the
        truth better (tarsal Dice 0.93-0.96 against 0.78-0.93 with the snap).
    """
    cfg = config or DetectionConfig()
    candidates = _atlas_candidates(t1, atlas)
    best = None
    for schedule in (_SCHEDULE, _RETRY_SCHEDULE):
        for a in candidates:
            glob, per_bone, score = register_atlas(t1, a, cfg, schedule=schedule)
            if best is None or score > best[3]:
                best = (a, glob, per_bone, score)
        assert best is not None
        if best[3] >= _LOW_MATCH:
            break
        log.debug("bone atlas match %.3f below %.2f: registering again with more starts",
                  best[3], _LOW_MATCH)
    assert best is not None
    a, glob, per_bone, _ = best
    labels = _fuse(t1, a, glob, per_bone)
    if snap and labels.any():
        labels = _snap(t1, labels, cfg)
    if not labels.any():
        raise DetectionError("the bone atlas could not be placed on this T1 image; give a "
                             "bone label map or seed points instead")
    return Volume(labels, t1.affine, t1.info.replace(sequence="other"))


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
