"""This study's normal marrow: location fields and spreads on both images.

Step 2 of :mod:`~bmes_imaging.detection._compare` (see its module docstring and
``docs/detection.md``, "Decision rule"): the most fat-like marrow gives a first
reference, then a local location (a normalised Gaussian average on a 4 mm block grid,
absorbing coil bias), a robust spread, and reference voxels re-selected within
``reference_z_max`` spreads, leaving out bones and blocks that look oedematous.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._config import DetectionConfig


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


def _upsample(local: NDArray[np.float32], shape: NDArray[np.int64], f: NDArray[np.int64]
              ) -> NDArray[np.float32]:
    """Block centres (at (f - 1) / 2 + f * index) back to voxels, separable linear."""
    full = local
    for a in range(3):
        if f[a] == 1:
            continue
        n_small = full.shape[a]
        pos = np.clip((np.arange(int(shape[a])) - (f[a] - 1) / 2.0) / f[a], 0, n_small - 1)
        i0 = np.floor(pos).astype(np.intp)
        i1 = np.minimum(i0 + 1, n_small - 1)
        w1 = (pos - i0).astype(np.float32)
        bshape = [1, 1, 1]
        bshape[a] = -1
        w1b = w1.reshape(bshape)
        lo = np.take(full, i0, axis=a)
        full = lo + w1b * (np.take(full, i1, axis=a) - lo)
    return np.ascontiguousarray(full, dtype=np.float32)


def _block_sum(arr: NDArray[np.float32], f: NDArray[np.int64]) -> NDArray[np.float32]:
    """Sums over blocks of ``f`` voxels (the last block of an axis may be shorter)."""
    out = arr
    for ax in np.argsort(-f):  # the most reducing axis first
        if f[ax] > 1:
            out = np.add.reduceat(out, np.arange(0, out.shape[ax], f[ax]), axis=int(ax))
    return np.asarray(out, dtype=np.float32)


def _block_factor(voxel_sizes: NDArray[np.float64]) -> NDArray[np.int64]:
    """Voxels per 4 mm block along each axis."""
    return np.maximum(1, np.round(4.0 / voxel_sizes)).astype(np.int64)


def _local_fields(values: list[NDArray[np.float32]], weight: NDArray[np.bool_],
                  voxel_sizes: NDArray[np.float64], sigma_mm: float,
                  fallbacks: list[float], block_keep: NDArray[np.bool_] | None = None
                  ) -> list[NDArray[np.float32]]:
    """Normalised Gaussian averages of ``values`` over ``weight``, on the 4 mm block grid.

    ``block_keep`` (block grid) drops whole blocks from the average. Where little
    reference marrow is near, the result leans towards ``fallbacks`` (whole-foot values).
    Bring them back to voxels with :func:`_upsample`.
    """
    f = _block_factor(voxel_sizes)
    sig = sigma_mm / (voxel_sizes * f)
    wb = _block_sum(weight.astype(np.float32), f)
    if block_keep is not None:
        wb = wb * block_keep
    ws_s = ndimage.gaussian_filter(wb, sig, mode="constant")
    strength = ws_s / (ws_s + 0.05 * max(float(ws_s.max()), 1e-6))
    outs = []
    for vals, fallback in zip(values, fallbacks, strict=True):
        vb = _block_sum(np.where(weight, vals, 0).astype(np.float32), f)
        if block_keep is not None:
            vb = vb * block_keep
        vs_s = ndimage.gaussian_filter(vb, sig, mode="constant")
        local = np.where(ws_s > 0, vs_s / np.maximum(ws_s, 1e-12), fallback)
        outs.append(np.maximum(strength * local + (1 - strength) * fallback,
                               1e-6).astype(np.float32))
    return outs


def _robust_sd(residuals: NDArray[np.float32], floor: float) -> float:
    """1.4826 x median absolute deviation (a normal distribution's s.d.), >= ``floor``."""
    r = residuals[np.isfinite(residuals)]
    if r.size < 20:
        return float("nan")
    if r.size > 200_000:  # a regular subsample is as good and faster
        r = r[:: r.size // 100_000]
    med = float(np.median(r))
    return max(1.4826 * float(np.median(np.abs(r - med))), floor)


def _first_reference(t1s: NDArray[np.float32], fls: NDArray[np.float32],
                     marrow: NDArray[np.bool_]) -> tuple[float, float]:
    """Whole-foot modes of the most fat-like 40 % of the marrow (highest T1 / fluid)."""
    t1m, flm = t1s[marrow], fls[marrow]
    if t1m.size == 0:
        return 1.0, 1.0
    fat_index = np.log(np.maximum(t1m, 1e-6)) - np.log(np.maximum(flm, 1e-6))
    fatty = fat_index >= np.quantile(fat_index, 0.6)
    t1_mode, fl_mode = _mode(t1m[fatty]), _mode(flm[fatty])
    if not (np.isfinite(t1_mode) and np.isfinite(fl_mode)) or t1_mode <= 0 or fl_mode <= 0:
        t1_mode, fl_mode = float(np.median(t1m)), float(np.median(flm))
    return max(t1_mode, 1e-6), max(fl_mode, 1e-6)


def _suspect(z_t1: NDArray[np.float32], z_fl: NDArray[np.float32], marrow: NDArray[np.bool_],
             lab: NDArray[np.uint8], f: NDArray[np.int64], config: DetectionConfig
             ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Marrow to keep out of the reference: (voxels of suspect bones, blocks to keep).

    Edema-like marrow is brighter on fluid *and* darker on T1 than ``reference_z_max``
    spreads... half of it on each image. A bone whose marrow is edema-like for more than
    ``reference_bone_max_suspect`` is suspect as a whole; so is every 4 mm block (and
    its neighbours) where more than a quarter of the marrow is.
    """
    k = 0.5 * config.reference_z_max
    like = marrow & (z_fl > k) & (z_t1 > k)
    n_lab = int(lab.max()) + 1
    n_like = np.bincount(lab[like], minlength=n_lab)
    n_marrow = np.bincount(lab[marrow], minlength=n_lab)
    bad_bone = n_like > config.reference_bone_max_suspect * np.maximum(n_marrow, 1)
    bad_bone[0] = False
    bad_vox = bad_bone[lab]
    lb = _block_sum(like.astype(np.float32), f)
    mb = _block_sum(marrow.astype(np.float32), f)
    bad_block = lb > 0.25 * np.maximum(mb, 1.0)
    bad_block = ndimage.binary_dilation(bad_block, structure=np.ones((3, 3, 3), bool))
    return bad_vox, ~bad_block


def _zero_level(image: NDArray[np.floating], where: NDArray[np.bool_]) -> float:
    """The image value of no signal: its lowest values (air, or the noise floor's
    bottom, about 0) over ``where``; a RescaleIntercept shifts it. Every fourth
    in-plane voxel is enough."""
    sub = np.asarray(image[::2, ::2])[np.asarray(where[::2, ::2])]
    if sub.size == 0:
        return 0.0
    return float(np.quantile(sub, 1e-4))


def _estimate_reference(t1s: NDArray[np.float32], fls: NDArray[np.float32],
                        marrow: NDArray[np.bool_], lab: NDArray[np.uint8],
                        vs: NDArray[np.float64], config: DetectionConfig
                        ) -> tuple[list[NDArray[np.float32]], float, float, float, float]:
    """Location fields (block grid), spreads and whole-foot values of normal marrow."""
    t1_glob, fl_glob = _first_reference(t1s, fls, marrow)
    ref_vox = (marrow & (t1s >= config.reference_t1_min * t1_glob)
               & (fls <= config.reference_fluid_max * fl_glob))
    s_t1, s_fl = 0.1, 0.3
    f = _block_factor(vs)
    shape = np.array(lab.shape)
    fields = [np.full((1, 1, 1), t1_glob, np.float32), np.full((1, 1, 1), fl_glob, np.float32)]
    keep_vox = np.ones(lab.shape, dtype=bool)
    keep_block: NDArray[np.bool_] | None = None
    for _ in range(max(1, config.reference_iterations)):
        w = ref_vox & keep_vox
        if w.sum() < 50:
            w = ref_vox
        if w.sum() < 50:
            break
        t1_glob = float(np.median(t1s[w]))
        fl_glob = max(float(np.median(fls[w])), 1e-6)
        fields = _local_fields([t1s, fls], w, vs, config.reference_sigma_mm,
                               [t1_glob, fl_glob], keep_block)
        t1_ref = _upsample(fields[0], shape, f)
        fl_ref = _upsample(fields[1], shape, f)
        s_new = (_robust_sd(t1s[w] / t1_ref[w] - 1.0, 0.01),
                 _robust_sd(fls[w] / fl_ref[w] - 1.0, 0.02))
        if math.isfinite(s_new[0]) and math.isfinite(s_new[1]):
            s_t1, s_fl = s_new
        z_t1 = (1.0 - t1s / t1_ref) / s_t1
        z_fl = (fls / fl_ref - 1.0) / s_fl
        k = config.reference_z_max
        ref_vox = marrow & (np.abs(z_t1) <= k) & (np.abs(z_fl) <= k)
        bad_vox, keep_block = _suspect(z_t1, z_fl, marrow, lab, f, config)
        keep_vox = ~bad_vox
    if fields[0].shape == (1, 1, 1):
        fields = [np.full(tuple(-(-shape // f)), v, np.float32) for v in (t1_glob, fl_glob)]
    return fields, s_t1, s_fl, t1_glob, fl_glob
