"""T1 / fluid signal comparison against this study's own normal marrow.

How a voxel becomes edema
-------------------------
1. Both images (T1 and the fluid series already in the T1 grid) are shifted so that no
   signal (air, the bottom of the noise floor) is 0, which undoes a vendor
   RescaleIntercept, and smoothed a little (``smoothing_mm``) against noise; the fluid
   image over the voxels its series covers only (``smooth_within_coverage``).
2. **Normal marrow of this study.** Bones are eroded by ``reference_erosion_mm`` (no
   cortex, cartilage or joint fluid). A first reference is the mode of the most
   fat-like 40 % of that marrow (highest T1 / fluid), which stays on normal marrow even
   when several bones are oedematous; voxels with T1 >= ``reference_t1_min`` x and
   fluid <= ``reference_fluid_max`` x that mode are the first *reference voxels*.
   Then, ``reference_iterations`` times:

   * **location**: a normalised Gaussian average of the reference voxels
     (``reference_sigma_mm``) per image, which absorbs coil bias fields. Reference
     voxels of a bone whose marrow looks oedematous for more than
     ``reference_bone_max_suspect`` of it, and of 4 mm blocks (and their neighbours)
     that do, are left out, so the local reference never adapts into an oedematous
     bone: such a bone takes its reference from its neighbours, and far from any
     reference marrow the whole-foot value is used;
   * **spread**: the robust standard deviation (1.4826 x MAD) of the reference
     voxels' residuals ``value / location - 1`` per image: texture, noise (the Rician
     floor of a dark fat-suppressed marrow at low SNR) and residual fat signal all
     widen it;
   * reference voxels are re-selected as marrow within ``reference_z_max`` spreads
     of the location on both images.

3. **Decision in units of that distribution.** ``z_fluid = (fluid / location - 1) /
   spread`` and ``z_t1 = (1 - T1 / location) / spread``. A voxel may start a region
   where ``z_fluid >= fluid_z_min`` *and* ``z_t1 >= t1_z_min`` *and* their sum reaches
   ``evidence_min``, *and* the effect is large enough in ratio terms
   (``fluid_ratio >= fluid_ratio_min``, ``t1_ratio <= t1_ratio_max``, so that a very
   quiet image does not flag tiny differences), inside a bone, deeper than ``rim_mm``
   from its surface (partial volume with cortex and joint fluid; at most half the
   bone's own deepest point, for bones only a few slices thick, and in such a bone cut
   by thick slices half the deepest point of the voxel's own slice where the voxel is
   darker on T1 than the soft tissue around the bones, ``thin_bone_per_slice``),
   inside the fluid series' field of view.
4. **Cleanup.** Connected candidate regions (seeds) are split by bone; a seed is kept
   when it holds at least ``min_seed_ml`` (or, optionally, when its summed evidence is
   significant for its size, ``seed_evidence_min``) and reaches ``min_depth_mm`` into
   its bone (joint effusion and vessels hugging a bone do not). After growing (step 5),
   a region must hold at least ``min_region_ml`` and ``min_region_fraction`` of its
   bone: small islands of red marrow look
   like mild edema voxel by voxel, but are a small part of the bone. In a bone without
   a core in this grid (see ``thin_bone_rim_fraction``) every voxel mixes with the
   muscle around it, which also looks like mild edema: a region there must hold
   ``thin_bone_min_fraction`` of the bone, and its core (90th percentile of the fluid
   ratio) must reach ``thin_bone_soft_tissue_min`` x the fluid ratio of the soft tissue
   around the bones (:attr:`Ratios.soft_tissue_fluid`: partial volume with muscle is
   never brighter than muscle); a smaller region (at least ``min_region_fraction``) is
   kept when its core reaches ``thin_bone_soft_tissue_focal`` x that level. Each seed
   grows in its own bone: a candidate region that crosses a joint gives one seed per
   bone.
5. **Edge.** Edema is ill-defined; its edge is put where the fluid signal is
   ``edge_level`` of the way between normal marrow and the region's core (90th
   percentile), near the lesion's half-maximum, and never closer to normal marrow than
   ``edge_z_min`` spreads or ``edge_fluid_min`` x. Each region grows from its
   candidates inside its own bone (rim included, never into another bone) over voxels
   above that level whose T1 is below ``edge_t1_max`` x normal marrow. A region seeded
   deeper than the rim in a bone with a core grows over the marrow deeper than the rim
   first and into the rim only within ``rim_growth_mm`` of that part (a shell of
   partial volume along the surface does not carry it around the bone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._config import DetectionConfig
from ._reference import _block_factor, _estimate_reference, _upsample, _zero_level
from ._rim_growth import grow_through_core

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
        Smoothed intensities over the local normal-marrow reference (its location).
    t1_reference, fluid_reference
        Whole-foot normal-marrow intensity: median of the final reference voxels
        (before the local bias correction).
    n_reference
        Number of reference voxels used.
    t1_spread, fluid_spread
        Robust standard deviation of normal marrow's ``ratio - 1`` on each image.
    soft_tissue_fluid
        Median fluid ratio of the soft tissue around the bones (1-3 mm outside them,
        darker than ``0.75`` x normal marrow on T1: muscle, tendon, fluid; not fat), the
        brightest that partial volume with muscle can make a bone voxel (NaN if none).
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
    t1_spread: float = 0.1
    fluid_spread: float = 0.3
    soft_tissue_fluid: float = float("nan")
    voxel_sizes: tuple[float, float, float] | None = None
    soft_tissue_t1: float = float("nan")

    def z_t1(self) -> NDArray[np.float32]:
        """How many normal-marrow spreads T1 lies *below* normal marrow."""
        return np.asarray((1.0 - self.t1_ratio) / self.t1_spread, dtype=np.float32)

    def z_fluid(self) -> NDArray[np.float32]:
        """How many normal-marrow spreads the fluid signal lies *above* normal marrow."""
        return np.asarray((self.fluid_ratio - 1.0) / self.fluid_spread, dtype=np.float32)

    def score(self, config: DetectionConfig) -> NDArray[np.float32]:
        """Evidence for edema in spreads: ``z_fluid + z_t1``, each clipped at 0.

        A candidate needs at least ``config.evidence_min``.
        """
        a = np.maximum((self.fluid_ratio - 1.0) / self.fluid_spread, 0.0)
        b = np.maximum((1.0 - self.t1_ratio) / self.t1_spread, 0.0)
        return np.asarray(a + b, dtype=np.float32)

    def depth_limits(self, config: DetectionConfig
                     ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Per bone label: (rim, minimum region depth) in mm.

        ``rim_mm`` and ``min_depth_mm``, the latter at most half the bone's own deepest
        point; in a *thin* bone (:meth:`thin_bones`: two or three slices thick in this
        grid, a cuneiform or metatarsal in 4-5 mm sagittal slices) both are
        ``thin_bone_rim_fraction`` of its deepest point (at most ``rim_mm`` /
        ``min_depth_mm``), so its core can still be analysed.
        """
        deepest = self._deepest()
        thin = self.thin_bones(config)
        f = np.float32(config.thin_bone_rim_fraction)
        rim = np.where(thin, np.minimum(np.float32(config.rim_mm), f * deepest),
                       np.float32(config.rim_mm))
        need = np.where(thin, np.minimum(np.float32(config.min_depth_mm), f * deepest),
                        np.minimum(np.float32(config.min_depth_mm), 0.5 * deepest))
        return rim.astype(np.float32), need.astype(np.float32)

    def voxel_depth_limits(self, config: DetectionConfig
                           ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Per voxel: (rim, minimum region depth) in mm, as :meth:`depth_limits`.

        With ``thin_bone_per_slice``, in a thin bone of a grid with thick slices (the
        slice at least twice the pixel), the limits are ``thin_bone_rim_fraction`` of
        the deepest point *of the voxel's slice* in that bone, not of the whole bone: a
        bone cut obliquely by thick slices has its few deeper voxels in one slice, and
        its other slices (all within half a pixel of a surface through the slice) would
        otherwise never be analysed.
        """
        rim, need = self.depth_limits(config)
        rim_v, need_v = rim[self.labels], need[self.labels]
        ax = self._slice_axis()
        if not config.thin_bone_per_slice or ax is None or self.labels.size == 0:
            return rim_v, need_v
        thin = self.thin_bones(config)
        n_lab = len(thin)
        n_sl = self.labels.shape[ax]
        sl = np.arange(n_sl).reshape([-1 if a == ax else 1 for a in range(3)])
        key = self.labels.astype(np.int64) * n_sl + sl
        deepest = np.zeros(n_lab * n_sl, np.float32)
        np.maximum.at(deepest, key.ravel(), self.depth.ravel())
        f = np.float32(config.thin_bone_rim_fraction)
        local = f * deepest[key]
        in_thin = thin[self.labels] & (self.labels > 0)
        if math.isfinite(config.thin_bone_slice_t1_max):
            # ... only where no partial volume with muscle explains the voxel: darker
            # on T1 than the soft tissue around the bones
            level = (config.thin_bone_slice_t1_max * self.soft_tissue_t1
                     if math.isfinite(self.soft_tissue_t1) else -np.inf)
            in_thin &= self.t1_ratio <= level
        rim_v = np.where(in_thin, np.minimum(rim_v, local), rim_v).astype(np.float32)
        need_v = np.where(in_thin, np.minimum(need_v, local), need_v).astype(np.float32)
        return rim_v, need_v

    def _slice_axis(self) -> int | None:
        """The slice axis when slices are at least twice the finest pixel, else None."""
        if self.voxel_sizes is None:
            return None
        vs = np.asarray(self.voxel_sizes, dtype=np.float64)
        ax = int(np.argmax(vs))
        return ax if vs[ax] >= 2.0 * float(np.min(vs)) else None

    def _deepest(self) -> NDArray[np.float32]:
        n = int(self.labels.max()) + 1 if self.labels.size else 1
        deepest = np.zeros(n, np.float32)
        np.maximum.at(deepest, self.labels.ravel(), self.depth.ravel())
        return deepest

    def thin_bones(self, config: DetectionConfig) -> NDArray[np.bool_]:
        """Per bone label: no voxel deeper than ``thin_bone_depth_mm`` (default
        ``rim_mm / thin_bone_rim_fraction``) from its surface in this grid."""
        limit = (config.thin_bone_depth_mm if config.thin_bone_depth_mm > 0
                 else config.rim_mm / max(config.thin_bone_rim_fraction, 1e-6))
        return np.asarray(self._deepest() < limit)

    def candidates(self, config: DetectionConfig) -> NDArray[np.bool_]:
        """Voxels that may start a region (before the region size and depth rules)."""
        deep, rim_seeds = self.candidate_parts(config)
        return deep | rim_seeds

    def candidate_parts(self, config: DetectionConfig,
                        rim: NDArray[np.float32] | None = None,
                        ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Start voxels deeper than the rim, and rim voxels no partial volume explains.

        A rim voxel mixes marrow with what lies beyond the bone's surface (cortex,
        cartilage, joint fluid, muscle, fat, the next bone), so its signal lies between
        theirs. A rim voxel that passes the voxel rules, is brighter on the fluid image
        than every neighbour (26-neighbourhood) outside its bone by ``rim_seed_margin``
        spreads, *and* brighter than ``rim_seed_soft_tissue_min`` x the soft tissue
        around the bones (in thick slices a voxel also mixes with tissue that no
        neighbour shows, and muscle is the brightest such tissue besides fluid) cannot
        be such a mix: it may start a region (small subchondral lesions of thin bones in
        thick slices lie wholly in the rim). With ``rim_seed_mixing`` a neighbour about
        as bright as the voxel and darker on T1 counts only by the share of it that the
        voxel's T1 drop allows (a marrow-neighbour mix with that share). Joint fluid
        next to the voxel (clearly brighter), or a neighbour the fluid series does not
        cover, keeps it out. ``rim``: the per-voxel
        rim of :meth:`voxel_depth_limits`, when the caller has it already.
        """
        zf, zt = self.z_fluid(), self.z_t1()
        if rim is None:
            rim, _ = self.voxel_depth_limits(config)
        voxel = ((zf >= config.fluid_z_min) & (zt >= config.t1_z_min)
                 & (np.maximum(zf, 0) + np.maximum(zt, 0) >= config.evidence_min)
                 & (self.fluid_ratio >= config.fluid_ratio_min)
                 & (self.t1_ratio <= config.t1_ratio_max)
                 & (self.labels > 0) & self.covered)
        deep = self.depth >= rim
        return voxel & deep, self._unexplained_rim(voxel & ~deep, config)

    def _unexplained_rim(self, rim_voxels: NDArray[np.bool_], config: DetectionConfig
                         ) -> NDArray[np.bool_]:
        out = np.zeros(self.labels.shape, dtype=bool)
        # without a soft-tissue level (no muscle around the bones) the rim never seeds;
        # the cheap level test comes first, so that only its survivors are compared
        # with their neighbours
        if not (math.isfinite(config.rim_seed_margin)
                and math.isfinite(self.soft_tissue_fluid)):
            return out
        rim_voxels = rim_voxels & (self.fluid_ratio
                                   >= config.rim_seed_soft_tissue_min * self.soft_tissue_fluid)
        if not rim_voxels.any():
            return out
        idx = np.nonzero(rim_voxels)
        own = self.labels[idx]
        value = self.fluid_ratio[idx]
        # the share of a neighbour a mix would need to give the voxel's T1 drop
        # (``rim_seed_mixing``): a darker-on-T1 neighbour explains a T1 drop with a
        # small share, so its fluid signal counts only by that share
        drop = np.maximum(1.0 - self.t1_ratio[idx], 0.0)
        brightest = np.full(own.shape, -np.inf, dtype=np.float32)
        shape = np.array(self.labels.shape)
        for off in np.ndindex(3, 3, 3):
            if off == (1, 1, 1):
                continue
            nb = [c + (o - 1) for c, o in zip(idx, off, strict=True)]
            inside = np.all([(n >= 0) & (n < m) for n, m in zip(nb, shape, strict=True)],
                            axis=0)
            nb = [np.clip(n, 0, m - 1) for n, m in zip(nb, shape, strict=True)]
            nb_t = tuple(nb)
            other = inside & (self.labels[nb_t] != own)
            # a neighbour the fluid series does not cover could hide anything
            nb_value = np.where(self.covered[nb_t], self.fluid_ratio[nb_t], np.inf)
            if config.rim_seed_mixing:
                # ... for a neighbour about as bright as the voxel: a clearly
                # brighter one (joint fluid) counts whole, as the fluid series' own
                # partial volume (another plane, thicker slices) can spread it
                nb_drop = 1.0 - self.t1_ratio[nb_t]
                level = nb_value < value + config.rim_seed_margin * self.fluid_spread
                share = np.where((nb_drop > drop) & level,
                                 drop / np.maximum(nb_drop, 1e-6), 1.0)
                nb_value = np.where(np.isfinite(nb_value),
                                    1.0 + share * (nb_value - 1.0), np.inf)
            brightest = np.where(other, np.maximum(brightest, nb_value), brightest)
        ok = (np.isfinite(brightest)
              & (value - brightest >= config.rim_seed_margin * self.fluid_spread))
        out[tuple(i[ok] for i in idx)] = True
        return out


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


def compute_ratios(t1: NDArray[np.floating], fluid: NDArray[np.floating],
                   labels: NDArray[np.integer], covered: NDArray[np.bool_],
                   voxel_sizes: NDArray[np.float64], config: DetectionConfig) -> Ratios:
    """Normalise T1 and fluid intensities by this study's normal marrow (location, spread).

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

    Returns
    -------
    Ratios
        Ratios to the local location and the spreads of normal marrow (module docstring).
    """
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    margin = np.ceil(3.0 / vs).astype(np.int64)
    crop = _crop_box(labels, margin)
    lab = np.ascontiguousarray(labels[crop]).astype(np.uint8)
    cov = np.ascontiguousarray(covered[crop])
    sig = config.smoothing_mm / vs
    # ratios need zero signal at 0: a vendor RescaleIntercept moves it
    t1_zero = _zero_level(t1, np.ones(t1.shape, bool))
    fl_zero = _zero_level(fluid, covered)
    t1s = ndimage.gaussian_filter(np.asarray(t1[crop], dtype=np.float32) - t1_zero, sig)
    fls = _smooth_covered(np.asarray(fluid[crop], dtype=np.float32) - fl_zero, cov, sig,
                          config.smooth_within_coverage)
    depth = bone_depth(lab, vs)
    marrow = (depth >= config.reference_erosion_mm) & cov
    if marrow.sum() < 50:
        marrow = (lab > 0) & cov
    # the reference is estimated on every second voxel of fine axes (a smooth field)
    d = np.where(vs < 0.6, 2, 1).astype(np.int64)
    sub = (slice(None, None, int(d[0])), slice(None, None, int(d[1])),
           slice(None, None, int(d[2])))
    est = _estimate_reference(t1s[sub], fls[sub], marrow[sub], lab[sub], vs * d, config)
    (t1_field, fl_field), s_t1, s_fl, t1_glob, fl_glob = est
    shape = np.array(lab.shape)
    f_full = _block_factor(vs * d) * d
    t1_ratio = t1s / _upsample(t1_field, shape, f_full)
    fl_ratio = fls / _upsample(fl_field, shape, f_full)
    k = config.reference_z_max
    n_ref = int((marrow & (np.abs(1.0 - t1_ratio) <= k * s_t1)
                 & (np.abs(fl_ratio - 1.0) <= k * s_fl)).sum())
    soft, soft_t1 = _soft_tissue_levels(lab, cov, t1_ratio, fl_ratio, vs)
    return Ratios(crop, lab, depth, cov, t1_ratio.astype(np.float32),
                  fl_ratio.astype(np.float32), float(t1_glob + t1_zero),
                  float(fl_glob + fl_zero), n_ref, float(s_t1), float(s_fl), soft,
                  (float(vs[0]), float(vs[1]), float(vs[2])), soft_t1)


def _smooth_covered(image: NDArray[np.float32], covered: NDArray[np.bool_],
                    sigma: NDArray[np.float64], within: bool) -> NDArray[np.float32]:
    """Gaussian smoothing of the fluid image; with ``within``, of its covered part only.

    Outside the fluid series' field of view the resampled image holds no signal (0,
    below the zero level once shifted): a plain Gaussian pulls the covered voxels near
    that edge towards it (marrow within about 3 sigma of the edge of a coronal or
    axial series' field of view read 0.3-0.9x normal marrow instead of 1.0x). A
    normalised convolution (smoothed image times coverage over smoothed coverage,
    Knutsson & Westin, CVPR 1993) averages only over covered voxels; voxels outside
    stay at the plain result (they are never analysed).
    """
    if not within or covered.all() or not covered.any():
        return np.asarray(ndimage.gaussian_filter(image, sigma), dtype=np.float32)
    w = covered.astype(np.float32)
    num = ndimage.gaussian_filter(image * w, sigma)
    den = ndimage.gaussian_filter(w, sigma)
    plain = ndimage.gaussian_filter(image, sigma)
    out = np.where(covered & (den > 1e-3), num / np.maximum(den, 1e-3), plain)
    return np.asarray(out, dtype=np.float32)


def _soft_tissue_fluid(lab: NDArray[np.uint8], cov: NDArray[np.bool_],
                       t1_ratio: NDArray[np.float32], fl_ratio: NDArray[np.float32],
                       vs: NDArray[np.float64]) -> float:
    """Median fluid ratio of the non-fatty soft tissue 1-3 mm outside the bones.

    Muscle, tendon and fluid (T1 below 0.75 x normal marrow; fat is brighter) around
    the bones: a bone voxel mixed with them (partial volume through a thick slice) is at
    most as bright as they are on the fluid image.
    """
    return _soft_tissue_levels(lab, cov, t1_ratio, fl_ratio, vs)[0]


def _soft_tissue_levels(lab: NDArray[np.uint8], cov: NDArray[np.bool_],
                        t1_ratio: NDArray[np.float32], fl_ratio: NDArray[np.float32],
                        vs: NDArray[np.float64]) -> tuple[float, float]:
    """Median (fluid, T1) ratios of the non-fatty soft tissue 1-3 mm outside the bones
    (:func:`_soft_tissue_fluid`); NaN when there is too little of it."""
    nan = (float("nan"), float("nan"))
    outside = lab == 0
    if not outside.any() or outside.all():
        return nan
    # the distance on a grid of about 1 mm (the shell is a few mm wide)
    f = np.maximum(1, np.floor(1.0 / vs)).astype(np.int64)
    sub = (slice(None, None, int(f[0])), slice(None, None, int(f[1])),
           slice(None, None, int(f[2])))
    small = ndimage.distance_transform_edt(outside[sub], sampling=vs * f)
    dist = small
    for ax in range(3):
        if f[ax] > 1:
            dist = np.repeat(dist, f[ax], axis=ax)
    dist = dist[: lab.shape[0], : lab.shape[1], : lab.shape[2]]
    soft = (outside & (dist > 1.0) & (dist <= 3.0) & cov
            & (t1_ratio > 0.2) & (t1_ratio < 0.75))
    if soft.sum() < 50:
        return nan
    return float(np.median(fl_ratio[soft])), float(np.median(t1_ratio[soft]))


def flag_edema(ratios: Ratios, voxel_sizes: NDArray[np.float64], config: DetectionConfig,
               shape: tuple[int, int, int]) -> NDArray[np.uint8]:
    """Edema label map on the full grid (edema voxels carry their bone's label)."""
    vs = np.asarray(voxel_sizes, dtype=np.float64)
    lab = ratios.labels
    out = np.zeros(shape, dtype=np.uint8)
    if lab.size == 0:
        return out
    rim, need = ratios.voxel_depth_limits(config)
    deep, rim_seeds = ratios.candidate_parts(config, rim)
    cand = deep | rim_seeds
    if not cand.any():
        return out
    comp, _n = ndimage.label(cand, structure=ndimage.generate_binary_structure(3, 1))
    where = np.nonzero(cand)
    key = comp[where].astype(np.int64) * 16 + lab[where]
    uniq, inv = np.unique(key, return_inverse=True)
    sizes = np.bincount(inv)
    # a seed must reach its depth limit somewhere (per voxel: thin_bone_per_slice)
    reach = np.full(len(uniq), -np.inf)
    np.maximum.at(reach, inv, ratios.depth[where] - need[where])
    voxel_ml = float(np.prod(vs)) / 1000.0
    big = sizes * voxel_ml >= config.min_seed_ml
    if math.isfinite(config.seed_evidence_min):
        # a smaller seed is kept when its summed evidence is significant for its size:
        # mean evidence x sqrt(independent samples) (resels of the smoothing kernel)
        ev = ratios.score(config)[where]
        mean_ev = np.bincount(inv, weights=ev) / sizes
        fwhm = 2.3548 * config.smoothing_mm
        resel_ml = float(np.prod(np.maximum(vs, fwhm))) / 1000.0
        n_indep = np.maximum(sizes * voxel_ml / resel_ml, 1.0)
        big |= mean_ev * np.sqrt(n_indep) >= config.seed_evidence_min
    # a seed holding a rim voxel that no partial volume explains needs no depth
    unexplained = np.zeros(len(uniq), dtype=bool)
    np.logical_or.at(unexplained, inv, rim_seeds[where])
    ok = big & ((reach >= 0) | unexplained)
    # every kept seed is one connected candidate region *within one bone*: a component
    # that crosses a joint (partial volume in thick slices) gives one seed per bone
    seeds = np.zeros(lab.shape, dtype=np.int32)
    sel = ok[inv]
    seeds[tuple(w[sel] for w in where)] = inv[sel] + 1
    deep_seed = np.zeros(len(uniq), dtype=bool)
    np.logical_or.at(deep_seed, inv, deep[where])
    out[ratios.crop] = _grow_regions(ratios, seeds, (uniq % 16).astype(np.int64), config,
                                     voxel_ml, (rim, ~unexplained & deep_seed))
    return out


def _grow_regions(ratios: Ratios, seeds: NDArray[np.int32], seed_bone: NDArray[np.int64],
                  config: DetectionConfig, voxel_ml: float,
                  core_growth: tuple[NDArray[np.float32], NDArray[np.bool_]] | None = None,
                  ) -> NDArray[np.uint8]:
    """Each kept seed grown to its edge inside its bone (module docstring, step 5).

    ``seeds`` holds seed ``k + 1`` where seed ``k`` (of bone ``seed_bone[k]``) lies.
    ``core_growth``: the per-voxel rim and, per seed, whether it grows through the
    marrow deeper than the rim first (:func:`._rim_growth.grow_through_core`; seeds without a rim
    voxel that no partial volume explains), when ``rim_growth_mm`` is finite.
    """
    lab = ratios.labels
    grown = np.zeros(lab.shape, dtype=bool)
    boxes = ndimage.find_objects(lab)
    floor = max(config.edge_fluid_min, 1.0 + config.edge_z_min * ratios.fluid_spread)
    bone_sizes = np.bincount(lab.ravel(), minlength=int(lab.max()) + 1)
    # a bone without a core in this grid (rim relaxed) mixes with muscle everywhere:
    # only extensive involvement is reported there
    thin = ratios.thin_bones(config)
    min_fraction = np.where(thin,
                            max(config.min_region_fraction, config.thin_bone_min_fraction),
                            config.min_region_fraction)
    # partial volume with muscle is never brighter on the fluid image than muscle: a
    # thin-bone region whose core is brighter than the soft tissue around the bones
    # is kept below the extent rule, and one that is not needs the extent rule too
    soft = ratios.soft_tissue_fluid if math.isfinite(ratios.soft_tissue_fluid) else np.inf
    for sid in np.unique(seeds[seeds > 0]):
        b = int(seed_bone[sid - 1])
        box = boxes[b - 1]
        if box is None:
            continue
        reg = seeds[box] == sid
        fl = ratios.fluid_ratio[box]
        core = float(np.percentile(fl[reg], 90))
        edge = max(floor, 1.0 + config.edge_level * (core - 1.0))
        allowed = ((lab[box] == b) & ratios.covered[box] & (fl >= edge)
                   & (ratios.t1_ratio[box] < config.edge_t1_max))
        if (core_growth is not None and math.isfinite(config.rim_growth_mm)
                and core_growth[1][sid - 1] and not thin[b]):
            g = grow_through_core(reg, allowed, ratios.depth[box] >= core_growth[0][box],
                                  ratios.voxel_sizes, config.rim_growth_mm)
        else:
            g = ndimage.binary_propagation(reg & allowed, mask=allowed)
        # extent: a focus holding less than min_region_fraction of its bone is not
        # reported (red-marrow islands; foot and RA scores grade extent from 1 %)
        n = int(g.sum())
        if n * voxel_ml < config.min_region_ml:
            continue
        extensive = n >= min_fraction[b] * bone_sizes[b]
        if thin[b] and n >= config.min_region_fraction * bone_sizes[b]:
            brighter = float(np.percentile(fl[g], 90)) / soft
            extensive = ((extensive and brighter >= config.thin_bone_soft_tissue_min)
                         or brighter >= config.thin_bone_soft_tissue_focal)
        if extensive:
            grown[box] |= g
    return np.where(grown, lab, 0).astype(np.uint8)
