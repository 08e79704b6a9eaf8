"""Automatic bone masks: a labelled foot atlas registered to the T1 image.

Method
------
1. **Template.** The atlas (:func:`bmes_imaging.anatomy.load_foot_atlas`, right or left
   foot from the series laterality; both are tried when it is unknown) becomes a
   T1-like template image: each anatomical class of the packaged atlas (fat, muscle,
   tendon, cartilage, marrow, cortex, air...) takes its generic T1 appearance (fat and
   marrow bright, muscle intermediate, tendon and cortex dark), block-averaged to 1 mm
   and blurred along the T1 slice direction like the T1 slice profile. An atlas given
   as bone labels only gets a bone-only template (marrow bright, cortex dark, rest
   unknown grey). The match is by normalised mutual information (NMI), which only asks
   that classes map consistently, not that intensities agree.
2. **Global affine.** A translation search on a coarse grid (6 mm blocks, +/- 36 mm
   around the centroid of the imaged body, :func:`._search.body_centre`) at three
   foot sizes around the one the imaged body's width gives (:func:`._search.body_size`);
   from the best translation(s), nine
   parameters (rotation, translation, scale per axis, with a small penalty on
   anisotropic scale) by Powell's method at 6 mm, then at 3 mm.
3. **Per-bone refinement.** Every bone is refined on its own (rotation, translation,
   scale; 3 mm then 1.5 mm) in a box around it, starting from the global affine; this is
   the smooth, local deformation that absorbs differences in proportion between feet.
4. **Label fusion.** Each bone's warped mask gives a probability on the T1 grid; the
   most probable bone wins; then the image decides the boundary of bones whose mask
   fits the T1 edges poorly, and no bone lies in the air (:mod:`._boundary`).
   Optionally (``snap=True``) the result is snapped to the
   image by a marker-controlled watershed of the T1 edge strength (eroded bones as
   markers, the region well outside all bones as background).

The NMI cost and the Powell fit live in :mod:`._matcher` (exact speed-ups: the masks do
not change); the independent fits of steps 2 and 3 can run on several threads
(:data:`_FIT_THREADS`, :mod:`._parallel`), with the masks of one.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..anatomy import load_foot_atlas
from ..errors import DetectionError
from ..geometry import apply_affine, resample_to
from ..volume import Volume
from . import _kernels
from ._align import _block_mean
from ._atlas_cache import cached_arrays
from ._atlas_library import fuse_labels, site_atlases_for
from ._atlas_template import (
    ATLAS_STEP,
    coarse_labels,
    label_template,
    tissue_template,
)
from ._atlas_template import (
    PreparedAtlas as _PreparedAtlas,
)
from ._boundary import image_decides
from ._config import DetectionConfig
from ._matcher import Matcher as _Matcher
from ._matcher import affine9 as _affine9
from ._matcher import fit as _fit
from ._parallel import map_ordered
from ._refine import articulate, edge_quality, flexed_atlas, group_of, snap_to_edges
from ._search import body_centre, body_size

__all__ = ["automatic_bones", "bone_mask_quality", "prepare_atlas", "register_atlas"]

log = logging.getLogger(__name__)

#: Seed of the random sample positions (fixed: the same image gives the same masks).
_SAMPLE_SEED = 7
#: Threads for the registration's independent fits (at most
#: :meth:`DetectionConfig.thread_count`; the masks are the same with any number). 1:
#: a cost evaluation is about 40 numpy calls on a few thousand samples and holds the
#: GIL for most of its time; two threads evaluated no more costs per second than one
#: (3 884 -> 3 027 and 2 479 -> 2 642 per s, load 2) and burned about 40 % more CPU.
_FIT_THREADS = 1


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
    #: sizes tried by the translation search (relative to the atlas foot)
    search_scales: tuple[float, ...] = (0.87, 1.0, 1.15)
    #: ... or, when not empty, these factors of the size read from the imaged body's
    #: width (:func:`._search.body_size`): the automatic masks search 0.9, 1.0 and 1.1
    #: of it (fourth pass, docs/detection.md; the fixed sizes missed large and small
    #: feet unlike the atlas, adding sizes 0.8-1.25 to them misplaced others)
    body_scales: tuple[float, ...] = ()
    #: placements screened by a short fit (samples, evaluations; 0: no screening)
    screen_starts: int = 8
    screen_points: int = 2000
    screen_maxfev: int = 200
    #: samples and evaluations of each body of :func:`._refine.articulate` (0: skip)
    group_points: int = 3000
    group_maxfev: int = 250


#: Automatic masks: budgets chosen on the 22-study phantom cohort of
#: ``bench/bench_detection.py``: worst tarsal Dice 0.905-0.910 with three sample seeds,
#: in 60 % of the time of twice the fine and per-bone budgets. Half the global budget
#: (2000 samples, 400 evaluations) left one study's forefoot misplaced (Dice 0.53).
_SCHEDULE = _Schedule(body_scales=(0.9, 1.0, 1.1))
#: Seeded masks: the start comes from a few reader clicks, only the seeded bones are
#: refined, and a reader waits on purpose; the larger budget keeps them exact.
_SEEDED_SCHEDULE = _Schedule(fine_points=8000, fine_maxfev=800, bone_maxfev=300)
#: A placement matching worse than this (NMI of the 3 mm stage) is tried again with
#: :data:`_RETRY_SCHEDULE` and the better one kept. On the 22-study phantom cohort good
#: placements scored 1.10-1.18 and the one misplaced forefoot 1.04; on other images
#: the scale may differ, which costs time (a retry), never accuracy.
_LOW_MATCH = 1.08
#: ... unless the median :func:`._refine.edge_quality` of its bones is at least this. On
#: tuning feet right placements scored 0.48-0.87 and misplaced ones 0.16-0.43, but one
#: foot placed entirely on its neighbours' edges scored 0.53: the match decides first.
_FIT_OK = 0.6
#: More starts (the budgets of :data:`_SCHEDULE`), tried last and only when the flexed
#: atlas did not match better either (the search may have missed the foot). With the
#: search centred on the imaged body, this round with twice the budgets changed no Dice
#: on six tuning feet registered with a warped atlas (where the flexed atlas matched
#: better) and cost 4-7 s each; a starved first registration still needs it.
_RETRY_SCHEDULE = _Schedule(starts=6, body_scales=(0.9, 1.0, 1.1))


_ATLAS_CACHE: dict[str, _PreparedAtlas] = {}
_ATLAS_LOCK = threading.Lock()
#: The packaged atlases prepared here (id -> weak reference): only their flexed copies
#: are kept on disk (:mod:`._atlas_cache`), not those of an atlas a caller gives.
_PACKAGED: dict[int, weakref.ref[_PreparedAtlas]] = {}


def _load_atlas(side: str) -> Volume:
    """The packaged bone label atlas of ``side`` at 1 mm (every other 0.5 mm voxel)."""
    return load_foot_atlas(side, step=ATLAS_STEP)




def _atlas_and_template(side: str) -> _PreparedAtlas:
    """The packaged atlas of ``side`` at about 1 mm, with its template (cached)."""
    with _ATLAS_LOCK:  # a warm-up thread and a detection may ask at the same time
        if side not in _ATLAS_CACHE:
            atlas = _load_atlas(side)
            tissue = tissue_template(atlas)
            tmpl, taff = tissue if tissue is not None else label_template(atlas)
            _ATLAS_CACHE[side] = _PreparedAtlas(atlas, tmpl, taff)
            _PACKAGED[id(_ATLAS_CACHE[side])] = weakref.ref(_ATLAS_CACHE[side])
        return _ATLAS_CACHE[side]


def prepare_atlas(laterality: str | None = None) -> None:
    """Load and prepare the packaged foot atlas and the compiled registration cost
    (:mod:`._kernels`) now, so that the first automatic bone masks do not pay for them
    (about a second; e.g. from a GUI at start-up).

    Parameters
    ----------
    laterality
        ``"R"`` or ``"L"``; both when None.
    """
    for side in ([laterality.upper()] if laterality else ["R", "L"]):
        _atlas_and_template(side)
    _kernels.warm_up()  # the compiled cost: loaded from numba's cache, or compiled


def _grid_starts(m6: _Matcher, scales: Sequence[float], t_centre: NDArray[np.float64],
                 a_centre: NDArray[np.float64], starts: list[NDArray[np.float64]],
                 n_total: int, workers: int = 1) -> None:
    """Append to ``starts`` the best translations of a 12 mm grid (+-36 mm) around
    ``t_centre`` at each size, at least 15 mm (or 20 % in size) apart, up to
    ``n_total`` starts (the sizes' grids matched on up to ``workers`` threads)."""
    steps = np.arange(-36.0, 36.1, 12.0)
    grids: list[list[NDArray[np.float64]]] = []
    for s in scales:  # feet differ in size by +-25 %
        grids.append([])
        for dx in steps:
            for dy in steps:
                for dz in steps:
                    base = np.eye(4)
                    base[:3, :3] *= s
                    base[:3, 3] = t_centre - s * a_centre + (dx, dy, dz)
                    grids[-1].append(base)
    costs = map_ordered(lambda grid: [m6.cost(b) for b in grid], grids, workers)
    trials = [(c, b) for grid, cs in zip(grids, costs, strict=True)
              for c, b in zip(cs, grid, strict=True)]
    trials.sort(key=lambda ct: ct[0])
    for _, b0 in trials:  # the best few placements at least 15 mm apart (or sizes apart)
        if all(np.linalg.norm(b0[:3, 3] - s0[:3, 3]) >= 15.0
               or abs(np.linalg.det(b0[:3, :3]) / np.linalg.det(s0[:3, :3]) - 1) > 0.2
               for s0 in starts):
            starts.append(b0)
        if len(starts) == n_total:
            break


def register_atlas(t1: Volume, atlas: Volume | _PreparedAtlas,
                   config: DetectionConfig | None = None, *,
                   template: tuple[NDArray[np.float32], NDArray[np.float64]] | None = None,
                   init: NDArray[np.float64] | None = None,
                   bones: set[int] | None = None,
                   schedule: _Schedule | None = None, min_match: float = -np.inf,
                   ) -> tuple[NDArray[np.float64], dict[int, NDArray[np.float64]], float]:
    """Register the atlas to T1: (global atlas->T1 world affine, per-bone affines, NMI).

    ``atlas`` is a label volume at about 1 mm (``template`` its T1-like image, else one
    is made from the labels) or a prepared atlas; ``init`` (atlas to T1 world) replaces
    the translation search, e.g. from reader seeds; ``bones`` limits the per-bone
    refinement to those labels. A global match (NMI) not above ``min_match`` (that of a
    registration it competes with) returns at once, without per-bone affines.
    """
    sch = schedule or _SCHEDULE
    workers = min(_FIT_THREADS, (config or DetectionConfig()).thread_count())
    if not isinstance(atlas, _PreparedAtlas):
        tm, ta = template if template is not None else label_template(atlas)
        atlas = _PreparedAtlas(atlas, tm, ta)
    rng = np.random.default_rng(_SAMPLE_SEED)
    tmpl, tmpl2, taff2 = atlas.profiled_for(t1)
    taff = atlas.template_affine
    n_starts, n_fine = sch.starts, sch.fine_starts
    a_centre = atlas.centre

    def body_mask(img: NDArray[np.float32]) -> NDArray[np.bool_]:
        lo, hi = np.percentile(img, [1, 99.5])
        return img > lo + 0.08 * (hi - lo)

    # 1. translation search at 6 mm around the imaged body (not the field of view's
    # centre: a flexed or off-centre foot can lie 50 mm from it); a given start (reader
    # seeds) competes with the best translations, so that a rough start cannot trap it
    fixed6, faff6 = _block_mean(t1, 6.0)
    t_centre = body_centre(t1, fixed6, faff6, body_mask(fixed6))
    size = body_size(faff6, body_mask(fixed6)) if sch.body_scales else None
    scales = (tuple(size * f for f in sch.body_scales) if size is not None
              else sch.search_scales)
    starts: list[NDArray[np.float64]] = []
    if init is not None:
        starts.append(np.asarray(init, dtype=np.float64))
    m6 = _Matcher(fixed6, faff6, tmpl2, taff2, body_mask(fixed6), sch.search_points, rng)
    _grid_starts(m6, scales, t_centre, a_centre, starts,
                 max(n_starts, sch.screen_starts) + len(starts), workers)
    # 2. global affine: a short fit from each start, the best few fitted fully at 6 mm,
    # the best of those refined at 3 mm. A grid start a few mm and degrees off the
    # truth can rank below wrong ones; a short local fit tells them apart.
    params = [np.zeros(9) for _ in starts]
    if sch.screen_maxfev and len(starts) > n_starts:
        ms = _Matcher(fixed6, faff6, tmpl2, taff2, body_mask(fixed6), sch.screen_points, rng)
        short = map_ordered(lambda base: _fit(ms, t_centre, base, np.zeros(9), 0.5,
                                              sch.screen_maxfev, 20.0), starts, workers)
        screened = [(cost, base, p) for base, (p, cost) in zip(starts, short, strict=True)]
        screened.sort(key=lambda f: f[0])
        starts = [f[1] for f in screened[:n_starts]]
        params = [f[2] for f in screened[:n_starts]]
    m = _Matcher(fixed6, faff6, tmpl2, taff2, body_mask(fixed6), sch.global_points, rng)
    full = map_ordered(lambda bp: _fit(m, t_centre, bp[0], bp[1], 0.3, sch.global_maxfev,
                                       20.0), list(zip(starts, params, strict=True)), workers)
    fits = [(cost, base, p) for base, (p, cost) in zip(starts, full, strict=True)]
    fixed, faff = _block_mean(t1, 3.0)
    m = _Matcher(fixed, faff, tmpl, taff, body_mask(fixed), sch.fine_points, rng)
    fine = []
    for _, base, p0 in sorted(fits, key=lambda f: f[0])[:n_fine]:
        p1, c1 = _fit(m, t_centre, base, p0, 0.1, sch.fine_maxfev, 20.0)
        fine.append((c1, base, p1))
    cost, base, p = min(fine, key=lambda f: f[0])
    glob = _affine9(p, t_centre, base)
    if -cost <= min_match:  # loses to the registration it competes with
        return glob, {}, -cost
    # 3. the leg and the foot as two bodies (flexion), then the parts of the foot
    fixed3, faff3 = _block_mean(t1, sch.bone_spacing_mm)
    box_fit = _BoxFitter(t1, fixed, faff, tmpl, taff, atlas, sch, rng)
    groups = (articulate(glob, box_fit.fit_group, set(atlas.points))
              if sch.group_maxfev else {})
    # 4. per-bone refinement in a box around each bone, from its part's affine: the
    # samples drawn bone by bone, then the fits on up to `workers` threads
    fine_fit = _BoxFitter(t1, fixed3, faff3, tmpl, taff, atlas, sch, rng)
    jobs = []
    for lab in sorted(atlas.points):
        if bones is not None and lab not in bones:
            continue
        part = group_of(lab)
        start = groups.get(part or "", groups.get("foot" if lab <= 12 else "leg", glob))
        jobs.append((lab, start, fine_fit.prepare([lab], start, sch.bone_points)))
    fitted = map_ordered(lambda job: fine_fit.run(job[2], sch.bone_maxfev, 12.0, 0.2),
                         jobs, workers)
    per_bone = {lab: res[0] if res is not None else start
                for (lab, start, _), res in zip(jobs, fitted, strict=True)}
    return glob, per_bone, -cost


class _BoxFitter:
    """Fits 9-parameter affines of a few atlas bones in a box of one T1 level."""

    def __init__(self, t1: Volume, fixed: NDArray[np.float32], faff: NDArray[np.float64],
                 tmpl: NDArray[np.float32], taff: NDArray[np.float64],
                 atlas: _PreparedAtlas, sch: _Schedule, rng: np.random.Generator) -> None:
        self.fixed, self.faff, self.tmpl, self.taff = fixed, faff, tmpl, taff
        self.inv = np.linalg.inv(faff)
        self.margin = np.ceil(6.0 / np.sqrt((faff[:3, :3] ** 2).sum(axis=0))).astype(int)
        self.atlas, self.sch, self.rng = atlas, sch, rng

    def fit(self, labels: list[int], start: NDArray[np.float64], points: int,
            maxfev: int, bounds: float, xtol: float,
            extra: tuple[NDArray[np.float64], ...] | list[NDArray[np.float64]] = ()
            ) -> tuple[NDArray[np.float64], float] | None:
        """Best affine of ``labels`` from ``start`` (and ``extra`` starts); None when
        the bones lie outside the field of view."""
        return self.run(self.prepare(labels, start, points, extra), maxfev, bounds, xtol)

    def prepare(self, labels: list[int], start: NDArray[np.float64], points: int,
                extra: tuple[NDArray[np.float64], ...] | list[NDArray[np.float64]] = ()
                ) -> tuple[_Matcher, NDArray[np.float64], NDArray[np.float64]] | None:
        """The samples of a fit of ``labels`` (drawn now, in call order), its centre and
        its start (the best of ``start`` and ``extra``); None when the bones lie outside
        the field of view."""
        pts = np.concatenate([self.atlas.points[b] for b in labels])
        w = apply_affine(start, pts)
        centre = w.mean(axis=0)
        vox = apply_affine(self.inv, w)
        lo = np.maximum(0, np.floor(vox.min(axis=0)).astype(int) - self.margin)
        hi = np.minimum(self.fixed.shape,
                        np.ceil(vox.max(axis=0)).astype(int) + 1 + self.margin)
        if np.any(hi - lo < 2):
            return None
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        try:
            m = _Matcher(self.fixed, self.faff, self.tmpl, self.taff, box, points, self.rng)
        except DetectionError:
            return None
        if len(extra):
            start = min([start, *extra], key=m.cost)
            centre = apply_affine(start, pts).mean(axis=0)
        return m, centre, start

    @staticmethod
    def run(prepared: tuple[_Matcher, NDArray[np.float64], NDArray[np.float64]] | None,
            maxfev: int, bounds: float, xtol: float
            ) -> tuple[NDArray[np.float64], float] | None:
        """The fit :meth:`prepare` set up (thread-safe: nothing shared changes)."""
        if prepared is None:
            return None
        m, centre, start = prepared
        p, c = _fit(m, centre, start, np.zeros(9), xtol, maxfev, bounds)
        return _affine9(p, centre, start), c

    def fit_group(self, start: NDArray[np.float64], labels: Sequence[int],
                  extra: Sequence[NDArray[np.float64]], bound_deg: float
                  ) -> tuple[NDArray[np.float64], float] | None:
        """:func:`._refine.articulate`'s fit: one body of bones at the group budget."""
        return self.fit(list(labels), start, self.sch.group_points, self.sch.group_maxfev,
                        bound_deg / 2.0, 0.2, list(extra))


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
        sl = tuple(slice(int(a), int(c)) for a, c in zip(lo, hi, strict=True))
        win = prob > best[sl]
        best[sl][win] = prob[win]
        out[sl][win] = b
    return out


def _atlas_candidates(t1: Volume, atlas: Volume | None) -> list[_PreparedAtlas]:
    """Atlases to try: the given one, else the packaged one of the T1's side, or of
    both sides when the laterality is unknown."""
    if atlas is not None:
        coarse = coarse_labels(atlas, 1.0)
        return [_PreparedAtlas(coarse, *label_template(coarse))]
    side = (t1.info.laterality or "").upper()
    sides = [side] if side in ("L", "R") else ["R", "L"]
    return [_atlas_and_template(s) for s in sides]


#: Plantar flexion (degrees) of the atlas variant tried when the match is poor; with the
#: +-30 degree starts of :func:`._refine.articulate` it covers 0-60 degrees.
_FLEXION_DEG = 30.0
_FLEXED_CACHE: dict[tuple[int, float], _PreparedAtlas] = {}


def _flexed(atlas: _PreparedAtlas, deg: float) -> _PreparedAtlas:
    """``atlas`` with its foot in ``deg`` of plantar flexion (cached per atlas)."""
    key = (id(atlas), deg)
    with _ATLAS_LOCK:
        if key not in _FLEXED_CACHE:
            inputs = (np.asarray(atlas.labels.array), atlas.labels.affine,
                      atlas.template, atlas.template_affine)

            def make() -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
                return flexed_atlas(*inputs, deg)

            ref = _PACKAGED.get(id(atlas))
            lab, tmpl = (cached_arrays("flexed", inputs, f"{deg!r}", make)
                         if ref is not None and ref() is atlas else make())
            _FLEXED_CACHE[key] = _PreparedAtlas(Volume(lab, atlas.labels.affine,
                                                       atlas.labels.info),
                                                tmpl, atlas.template_affine)
        return _FLEXED_CACHE[key]


def _median_fit(t1: Volume, atlas: _PreparedAtlas, glob: NDArray[np.float64],
                per_bone: dict[int, NDArray[np.float64]]) -> float:
    """Median :func:`._refine.edge_quality` of the bones of one registration."""
    fit = edge_quality(t1.array, t1.voxel_sizes, _fuse(t1, atlas, glob, per_bone))
    return float(np.median(list(fit.values()))) if fit else 0.0


def automatic_bones(t1: Volume, config: DetectionConfig | None = None, *,
                    atlas: Volume | None = None, snap: bool = False,
                    library: str | os.PathLike[str] | None = None) -> Volume:
    """Bone label map on the T1 grid from the registered foot atlas (and the site's
    atlas library), with a per-bone quality.

    Parameters
    ----------
    t1
        The T1 image; ``t1.info.laterality`` picks the left or right atlas (both are
        tried, best match kept, when it is unknown).
    config
        Detection settings.
    atlas
        Use this label atlas instead of the packaged one (tests, other populations);
        the site's library is then not used.
    snap
        Snap the atlas boundaries to the T1 cortex (watershed). Off by default: on
        phantom anatomy with 3 mm slices the per-bone registration alone matched the
        truth better (tarsal Dice 0.93-0.96 against 0.78-0.93 with the snap).
    library
        The atlas library folder (default ``$BMES_ATLAS_DIR`` or beside the store, see
        :mod:`._atlas_library`); its atlases of the same foot are fused with the
        packaged one.

    Returns
    -------
    Volume
        uint8 labels; ``info.extra["atlas_match"]`` is the packaged atlas' match (NMI)
        and ``info.extra["bone_mask_quality"]`` maps each bone label to a 0-1 quality
        (:func:`bone_mask_quality`).
    """
    cfg = config or DetectionConfig()
    candidates = _atlas_candidates(t1, atlas)
    best = None
    # a poor match is registered again: first from the atlas in plantar flexion (feet
    # imaged pointing down), then, if that did not match better, with more starts
    rounds: list[Callable[[], list[tuple[_PreparedAtlas, _Schedule]]]] = [
        lambda: [(a, _SCHEDULE) for a in candidates],
        lambda: ([(_flexed(a, _FLEXION_DEG), _SCHEDULE) for a in candidates]
                 if atlas is None else []),
        lambda: [(a, _RETRY_SCHEDULE) for a in candidates]]
    improved, best_value = True, -np.inf
    for i, attempts in enumerate(rounds):
        if i == len(rounds) - 1 and improved:
            break  # the flexed atlas matched better: the search found the foot
        before = best_value
        for a, schedule in attempts():
            # a registration matching worse than the best so far stops before its
            # per-bone fits (it would not be kept)
            glob, per_bone, score = register_atlas(t1, a, cfg, schedule=schedule,
                                                   min_match=best_value)
            if score > best_value:
                # a deformed foot matches the template less well although it is placed
                # right: the masks' own fit to the T1 edges decides whether to go on
                q = _median_fit(t1, a, glob, per_bone) if score < _LOW_MATCH else 1.0
                best, best_value = (a, glob, per_bone, score, q), score
        assert best is not None
        improved = best_value > before
        if best[3] >= _LOW_MATCH or best[4] >= _FIT_OK:
            break
        log.debug("bone atlas match %.3f below %.2f, fit %.2f: registering again",
                  best[3], _LOW_MATCH, best[4])
    assert best is not None
    a, glob, per_bone, match, _ = best
    votes = [(_fuse(t1, a, glob, per_bone), match)]
    if atlas is None:
        side = (t1.info.laterality or "").upper() or ("R" if a is candidates[0] else "L")
        for site in site_atlases_for(side, library):
            g, pb, sc = register_atlas(t1, site, cfg)
            votes.append((_fuse(t1, site, g, pb), sc))
    labels, agreement = fuse_labels(votes)
    if snap and labels.any():
        labels = snap_to_edges(t1, labels, cfg.smoothing_mm)
    if not labels.any():
        raise DetectionError("the bone atlas could not be placed on this T1 image; give a "
                             "bone label map or seed points instead")
    labels, fit = image_decides(t1, labels)
    quality = bone_mask_quality(t1, labels, agreement, fit=fit)
    info = t1.info.replace(sequence="other", extra={
        **t1.info.extra, "atlas_match": round(float(match), 4), "atlases_fused": len(votes),
        "bone_mask_quality": quality})
    return Volume(labels, t1.affine, info)


def bone_mask_quality(t1: Volume, labels: NDArray[np.uint8],
                      agreement: dict[int, float] | None = None, *,
                      fit: dict[int, float] | None = None) -> dict[int, float]:
    """Per bone, 0-1: how far its automatic mask is to be trusted.

    The product of the image fit (:func:`._refine.edge_quality`: the T1 edge along the
    mask's boundary against the marrow inside; ``fit`` if already measured) and, with
    several atlases, their agreement (mean Dice of each atlas' mask with the fused one,
    0.5 or less giving 0).
    """
    if fit is None:
        fit = edge_quality(t1.array, t1.voxel_sizes, labels)
    out = {}
    for b, q in fit.items():
        agree = (agreement or {}).get(b, 1.0)
        out[b] = round(float(q * np.clip((agree - 0.5) / 0.4, 0.0, 1.0)), 3)
    return out
