"""T1 / fluid signal comparison against a local normal-marrow reference.

How a voxel becomes edema
-------------------------
1. Both images (T1 and the fluid series already in the T1 grid) are smoothed a little
   (``smoothing_mm``) against noise.
2. **Reference.** Normal fatty marrow is the bright-T1 / dark-fluid mode of the whole
   foot's marrow: bones eroded by ``reference_erosion_mm`` (no cortex, cartilage or
   joint fluid), the mode of each histogram taken. Most marrow of a foot is normal even
   when one talus is diffusely oedematous, so the modes stay on normal marrow. Voxels
   near both modes (``reference_t1_min``, ``reference_fluid_max``) are *reference
   voxels*; a normalised Gaussian average of them (``reference_sigma_mm``) gives a
   smooth local reference per image, which absorbs coil bias fields; the selection is
   repeated once against the local reference. Red-marrow islands and edema are never
   reference voxels, and an oedematous bone takes its reference from its neighbours.
3. **Ratios.** ``t1_ratio = T1 / T1 reference`` and ``fluid_ratio = fluid / fluid
   reference``. A voxel is a candidate where ``t1_ratio < t1_ratio_max`` *and*
   ``fluid_ratio > fluid_ratio_min`` *and* the combined score reaches ``score_min``,
   inside a bone, deeper than ``rim_mm`` from its surface (partial volume with cortex
   and joint fluid), and inside the fluid series' field of view.
4. **Cleanup.** Connected candidate regions are split by bone; a region is kept when it
   holds at least ``min_region_ml`` and reaches ``min_depth_mm`` into its bone (joint
   effusion and vessels hugging a bone do not).
5. **Edge.** Edema is ill-defined; its edge is put where the fluid signal is half-way
   (``edge_level``) between normal marrow and the region's core (90th percentile), the
   half-maximum of the lesion. Each region grows from its candidates inside its own
   bone (rim included, never into another bone) over voxels above that level whose T1
   is below ``edge_t1_max``; red marrow, dark on T1 but only mildly bright on the fluid
   image, neither seeds a region nor joins one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._config import DetectionConfig

__all__ = ["Ratios", "compute_ratios", "flag_edema"]


@dataclass
class Ratios:
    """Reference-normalised images of the analysed region (a crop of the T1 grid).

    Attributes
    ----------
    crop
        Index slices of the T1 grid the arrays cover (the bones' bounding box + margin).
    labels
        Bone labels in the crop.
    depth
        Distance (mm) of each bone voxel to its bone's surface (0 outside bones).
    covered
        Fluid series present.
    t1_ratio, fluid_ratio
        Smoothed intensities over the local normal-marrow reference.
    t1_reference, fluid_reference
        Whole-foot marrow modes (before the local bias correction).
    n_reference
        Number of reference voxels used.
    """

    crop: tuple[slice, slice, slice]
    labels: NDArray[np.uint8]
    depth: NDArray[np.float32]
    covered: NDArray[np.bool_]
    t1_ratio: NDArray[np.float32]
    fluid_ratio: NDArray[np.float32]
    t1_reference: float
    fluid_reference: float
    n_reference: int

    def score(self, config: DetectionConfig) -> NDArray[np.float32]:
        """Combined edema score (2.0 where both thresholds are just met)."""
        a = (1.0 - self.t1_ratio) / max(1.0 - config.t1_ratio_max, 1e-3)
        b = (self.fluid_ratio - 1.0) / max(config.fluid_ratio_min - 1.0, 1e-3)
        return np.asarray(a + b, dtype=np.float32)


def _crop_box(labels: NDArray[np.integer], margin: NDArray[np.int64]
              ) -> tuple[slice, slice, slice]:
    nz = [np.flatnonzero(labels.any(axis=tuple(a for a in range(3) if a != ax)))
          for ax in range(3)]
    box = []
    for ax in range(3):
        if len(nz[ax]) == 0:
            return (slice(0, 0),) * 3
        lo = max(0, int(nz[ax][0]) - int(margin[ax]))
        hi = min(labels.shape[ax], int(nz[ax][-1]) + 1 + int(margin[ax]))
        box.append(slice(lo, hi))
    return (box[0], box[1], box[2])


def bone_depth(labels: NDArray[np.integer], voxel_sizes: NDArray[np.float64]
               ) -> NDArray[np.float32]:
    """Distance (mm) from each bone voxel to the nearest voxel of another label.

    Axes with voxels finer than 0.6 mm are computed at half resolution (the depths used
    are 1-2 mm; the result is within half a voxel) and repeated back.
    """
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    f = np.where(vs < 0.6, 2, 1)
    if np.any(f > 1):
        small = labels[:: f[0], :: f[1], :: f[2]]
        d = _bone_depth(small, vs * f)
        for ax in range(3):
            if f[ax] > 1:
                d = np.repeat(d, f[ax], axis=ax)
        d = d[: labels.shape[0], : labels.shape[1], : labels.shape[2]]
        d = np.where(labels > 0, np.maximum(d, float(vs.min()) / 2.0), 0.0)
        return np.asarray(d, dtype=np.float32)
    return _bone_depth(labels, vs)


def _bone_depth(labels: NDArray[np.integer], voxel_sizes: NDArray[np.float64]
                ) -> NDArray[np.float32]:
    surface = np.zeros(labels.shape, dtype=bool)
    for ax in range(3):
        for shift in (1, -1):
            nb = np.roll(labels, shift, axis=ax)
            edge = [slice(None)] * 3
            edge[ax] = slice(0, 1) if shift == 1 else slice(-1, None)
            diff = nb != labels
            diff[tuple(edge)] = True  # the array border counts as surface
            surface |= diff
    interior = (labels > 0) & ~surface
    depth = ndimage.distance_transform_edt(interior, sampling=voxel_sizes)
    depth = np.asarray(depth, dtype=np.float32)
    # surface voxels sit half a voxel from the boundary: give them the smallest step
    depth[(labels > 0) & surface] = float(np.min(voxel_sizes)) / 2.0
    return depth


def _mode(values: NDArray[np.float32]) -> float:
    """Histogram mode (smoothed histogram) of positive values."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan")
    lo, hi = np.percentile(v, [1, 99])
    if hi <= lo:
        return float(np.median(v))
    hist, edges = np.histogram(v, bins=128, range=(lo, hi))
    hist = ndimage.gaussian_filter1d(hist.astype(np.float64), 2.0)
    k = int(np.argmax(hist))
    return float((edges[k] + edges[k + 1]) / 2)


def _local_mean(values: NDArray[np.float32], weight: NDArray[np.bool_],
                voxel_sizes: NDArray[np.float64], sigma_mm: float, fallback: float
                ) -> NDArray[np.float32]:
    """Normalised Gaussian average of ``values`` over ``weight``, computed on 4 mm blocks."""
    return _local_means([values], weight, voxel_sizes, sigma_mm, [fallback])[0]


def _block_sum(arr: NDArray[np.float32], f: NDArray[np.int64]) -> NDArray[np.float32]:
    """Sums over blocks of ``f`` voxels (the last block of an axis may be shorter)."""
    out = arr
    for ax in np.argsort(-f):  # the most reducing axis first
        if f[ax] > 1:
            out = np.add.reduceat(out, np.arange(0, out.shape[ax], f[ax]), axis=int(ax))
    return np.asarray(out, dtype=np.float32)


def _local_means(values: list[NDArray[np.float32]], weight: NDArray[np.bool_],
                 voxel_sizes: NDArray[np.float64], sigma_mm: float,
                 fallbacks: list[float]) -> list[NDArray[np.float32]]:
    """:func:`_local_mean` of several images sharing one weight (one pass over it)."""
    f = np.maximum(1, np.round(4.0 / voxel_sizes)).astype(np.int64)
    shape = np.array(weight.shape)
    sig = sigma_mm / (voxel_sizes * f)
    ws_s = ndimage.gaussian_filter(_block_sum(weight.astype(np.float32), f), sig,
                                   mode="constant")
    # where little reference marrow is near, lean towards the global value
    strength = ws_s / (ws_s + 0.05 * max(float(ws_s.max()), 1e-6))
    outs = []
    for vals, fallback in zip(values, fallbacks):
        vs_s = ndimage.gaussian_filter(_block_sum(np.where(weight, vals, 0).astype(np.float32),
                                                  f), sig, mode="constant")
        local = np.where(ws_s > 0, vs_s / np.maximum(ws_s, 1e-12), fallback)
        local = (strength * local + (1 - strength) * fallback).astype(np.float32)
        outs.append(_upsample(local, shape, f))
    return outs


def _upsample(local: NDArray[np.float32], shape: NDArray[np.int64], f: NDArray[np.int64]
              ) -> NDArray[np.float32]:
    """Block centres (at (f - 1) / 2 + f * index) back to voxels, separable linear."""
    full = local
    for a in range(3):
        if f[a] == 1:
            continue
        full = np.moveaxis(np.tensordot(_interp_matrix(int(shape[a]), full.shape[a], int(f[a])),
                                        np.moveaxis(full, a, 0), axes=1), 0, a)
    return np.ascontiguousarray(full, dtype=np.float32)


def _interp_matrix(n_full: int, n_small: int, f: int) -> NDArray[np.float32]:
    """(n_full, n_small) linear interpolation weights from block centres to voxels."""
    pos = np.clip((np.arange(n_full) - (f - 1) / 2.0) / f, 0, n_small - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_small - 1)
    w1 = (pos - i0).astype(np.float32)
    m = np.zeros((n_full, n_small), dtype=np.float32)
    m[np.arange(n_full), i0] += 1 - w1
    m[np.arange(n_full), i1] += w1
    return m


def compute_ratios(t1: NDArray[np.floating], fluid: NDArray[np.floating],
                   labels: NDArray[np.integer], covered: NDArray[np.bool_],
                   voxel_sizes: NDArray[np.float64], config: DetectionConfig) -> Ratios:
    """Normalise T1 and fluid intensities by the local normal-marrow reference.

    Parameters
    ----------
    t1, fluid
        Images on the same grid (the T1 grid).
    labels
        Bone label map on that grid.
    covered
        Where the fluid image has data.
    voxel_sizes
        Voxel edge lengths (mm).
    config
        Detection settings.
    """
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    margin = np.ceil(3.0 / vs).astype(np.int64)
    crop = _crop_box(labels, margin)
    lab = np.ascontiguousarray(labels[crop]).astype(np.uint8)
    cov = np.ascontiguousarray(covered[crop])
    sig = config.smoothing_mm / vs
    t1s = ndimage.gaussian_filter(np.asarray(t1[crop], dtype=np.float32), sig)
    fls = ndimage.gaussian_filter(np.asarray(fluid[crop], dtype=np.float32), sig)
    depth = bone_depth(lab, vs)
    marrow = (depth >= config.reference_erosion_mm) & cov
    if marrow.sum() < 50:
        marrow = (lab > 0) & cov
    # normal fatty marrow: the most fat-like part of the marrow (highest T1 / fluid),
    # which stays normal marrow even when a large bone is oedematous
    t1m, flm = t1s[marrow], fls[marrow]
    fat_index = np.log(np.maximum(t1m, 1e-6)) - np.log(np.maximum(flm, 1e-6))
    fatty = fat_index >= np.quantile(fat_index, 0.6) if fat_index.size else fat_index > 0
    t1_mode = _mode(t1m[fatty])
    fl_mode = _mode(flm[fatty])
    if not (np.isfinite(t1_mode) and np.isfinite(fl_mode)) or t1_mode <= 0 or fl_mode <= 0:
        t1_mode = float(np.median(t1s[marrow])) if marrow.any() else 1.0
        fl_mode = float(np.median(fls[marrow])) if marrow.any() else 1.0
    t1_ref = np.full(lab.shape, t1_mode, dtype=np.float32)
    fl_ref = np.full(lab.shape, max(fl_mode, 1e-6), dtype=np.float32)
    ref_vox = marrow
    for _ in range(2):
        ref_vox = (marrow & (t1s >= config.reference_t1_min * t1_ref)
                   & (fls <= config.reference_fluid_max * fl_ref))
        if ref_vox.sum() < 50:
            break
        t1_ref, fl_ref = _local_means([t1s, fls], ref_vox, vs, config.reference_sigma_mm,
                                      [t1_mode, fl_mode])
    t1_ratio = t1s / np.maximum(t1_ref, 1e-6)
    fl_ratio = fls / np.maximum(fl_ref, 1e-6)
    return Ratios(crop, lab, depth, cov, t1_ratio.astype(np.float32),
                  fl_ratio.astype(np.float32), float(t1_mode), float(fl_mode),
                  int(ref_vox.sum()))


def flag_edema(ratios: Ratios, voxel_sizes: NDArray[np.float64], config: DetectionConfig,
               shape: tuple[int, int, int]) -> NDArray[np.uint8]:
    """Edema label map on the full grid (edema voxels carry their bone's label)."""
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    lab = ratios.labels
    out = np.zeros(shape, dtype=np.uint8)
    if lab.size == 0:
        return out
    both = ((ratios.t1_ratio < config.t1_ratio_max)
            & (ratios.fluid_ratio > config.fluid_ratio_min) & (lab > 0) & ratios.covered)
    cand = both & (ratios.score(config) >= config.score_min) & (ratios.depth >= config.rim_mm)
    if not cand.any():
        return out
    comp, _n = ndimage.label(cand, structure=ndimage.generate_binary_structure(3, 1))
    where = np.nonzero(cand)
    key = comp[where].astype(np.int64) * 16 + lab[where]
    uniq, inv = np.unique(key, return_inverse=True)
    sizes = np.bincount(inv)
    max_depth = np.full(len(uniq), -1.0)
    np.maximum.at(max_depth, inv, ratios.depth[where])
    voxel_ml = float(np.prod(vs)) / 1000.0
    ok = (sizes * voxel_ml >= config.min_region_ml) & (max_depth >= config.min_depth_mm)
    kept = np.zeros(lab.shape, dtype=bool)
    sel = ok[inv]
    kept[tuple(w[sel] for w in where)] = True
    # each region's edge: half-way (edge_level) between normal marrow and the region's
    # core fluid signal, grown from the region inside its bone (rim included) where T1
    # is below edge_t1_max; voxels of a region below its edge are dropped
    grown = np.zeros(lab.shape, dtype=bool)
    boxes = ndimage.find_objects(lab)
    comp_kept = np.where(kept, comp, 0)
    for cid in np.unique(comp_kept[kept]):
        region = comp_kept == cid
        b = int(np.bincount(lab[region]).argmax())
        box = boxes[b - 1]
        if box is None:
            continue
        reg = region[box]
        fl = ratios.fluid_ratio[box]
        core = float(np.percentile(fl[reg], 90))
        edge = max(config.edge_fluid_min, 1.0 + config.edge_level * (core - 1.0))
        allowed = ((lab[box] == b) & ratios.covered[box] & (fl >= edge)
                   & (ratios.t1_ratio[box] < config.edge_t1_max))
        grown[box] |= ndimage.binary_propagation(reg & allowed, mask=allowed)
    edema = np.where(grown, lab, 0).astype(np.uint8)
    out[ratios.crop] = edema
    return out
