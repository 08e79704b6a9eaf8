"""Soft tissues around the bones of a parametric foot (see :mod:`._parametric`).

The same tissue classes as the committed atlas, placed by the same kind of rules (which
``tools/derive_anatomy.py`` documents for the VHF atlas) but computed from the
parametric bones and their landmarks on a 1.5 mm grid (which keeps a whole atlas near
1.5 s of CPU; the bones themselves are at 0.5 mm): a plantar pad (fat, plantar muscles
and fascia) under the lowest bones, the Achilles tendon from the calcaneal tuberosity up the
leg, Kager's fat and the posterior leg muscles, eight tendons and two vessels as tubes
along landmark polylines, ankle and subtalar recesses, a body outline (per coronal
slice, the convex hull of the tissues, smoothed), subcutaneous fat and skin.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..anatomy import (
    CARTILAGE,
    CORTEX_BIT,
    FAT,
    KAGER_FAT,
    MUSCLE,
    RECESS,
    SKIN,
    TENDON,
    VESSEL,
)
from ..bones import Bone

__all__ = ["soft_tissues"]

_STEP = 3  # soft tissues on every third voxel (1.5 mm), then repeated

Mask = NDArray[np.bool_]


class _Grid:
    """Coarse grid axes and bone point sets (atlas mm)."""

    def __init__(self, codes: NDArray[np.uint8], origin: NDArray[np.float64],
                 pitch: float) -> None:
        c = codes[::_STEP, ::_STEP, ::_STEP]
        self.pitch = pitch * _STEP
        self.origin = origin
        self.shape = c.shape
        self.base = c & np.uint8(CORTEX_BIT - 1)
        self.bone = (c > 0) & (c != CARTILAGE) & ((c < 16) | (c >= CORTEX_BIT))
        self.occupied = c > 0
        self.axes = [origin[i] + np.arange(self.shape[i]) * self.pitch for i in range(3)]
        self._boxes = ndimage.find_objects(np.where(self.bone, self.base, 0))

    def pts(self, b: Bone) -> NDArray[np.float64]:
        sl = self._boxes[int(b) - 1]
        idx = np.argwhere(self.bone[sl] & (self.base[sl] == int(b))) + [s.start for s in sl]
        return np.asarray(self.origin + idx * self.pitch, dtype=np.float64)

    def mask(self, *bones: Bone) -> Mask:
        m = np.zeros(self.shape, bool)
        for b in bones:
            m |= self.bone & (self.base == int(b))
        return m

    def tube(self, points: list[NDArray[np.float64]], radius: float) -> Mask:
        """Voxels within ``radius`` of a polyline."""
        pts = np.asarray(points, float)
        lo = np.floor((pts.min(0) - radius - self.origin) / self.pitch).astype(int)
        hi = np.ceil((pts.max(0) + radius - self.origin) / self.pitch).astype(int) + 1
        lo, hi = np.maximum(lo, 0), np.minimum(hi, self.shape)
        out = np.zeros(self.shape, bool)
        if np.any(hi <= lo):
            return out
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=False))
        x, y, z = (self.axes[i][sl[i]] for i in range(3))
        gx, gy, gz = x[:, None, None], y[None, :, None], z[None, None, :]
        best = np.full(tuple(int(b - a) for a, b in zip(lo, hi, strict=False)), np.inf)
        for a, b in itertools.pairwise(pts):
            ab = b - a
            l2 = max(float(ab @ ab), 1e-9)
            t = np.clip(((gx - a[0]) * ab[0] + (gy - a[1]) * ab[1] + (gz - a[2]) * ab[2])
                        / l2, 0.0, 1.0)
            d2 = ((gx - a[0] - t * ab[0]) ** 2 + (gy - a[1] - t * ab[1]) ** 2
                  + (gz - a[2] - t * ab[2]) ** 2)
            best = np.minimum(best, d2)
        out[sl] = best <= radius * radius
        return out

    def near(self, bone: Bone, mm: float) -> Mask:
        """Voxels closer than ``mm`` to a bone."""
        m = self.mask(bone)
        out = np.zeros(self.shape, bool)
        idx = np.argwhere(m)
        if not len(idx):
            return out
        r = int(np.ceil(mm / self.pitch)) + 1
        lo, hi = np.maximum(idx.min(0) - r, 0), np.minimum(idx.max(0) + r + 1, self.shape)
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=False))
        d = ndimage.distance_transform_edt(~m[sl], sampling=self.pitch)
        out[sl] = d < mm
        return out


def _marks(g: _Grid) -> dict[str, Any]:
    """Landmarks for the tendon and vessel paths (atlas mm)."""
    calc, talus, tib, fib = (g.pts(b) for b in (Bone.CALCANEUS, Bone.TALUS, Bone.TIBIA,
                                                 Bone.FIBULA))
    nav, med, mt1 = g.pts(Bone.NAVICULAR), g.pts(Bone.MEDIAL_CUNEIFORM), g.pts(
        Bone.FIRST_METATARSAL)
    m: dict[str, Any] = {"calc": calc, "tibia": tib}
    m["calc_post"] = calc[np.argmin(calc[:, 1])]
    low = calc[calc[:, 1] < m["calc_post"][1] + 25]
    m["heel_bottom"] = low[np.argmin(low[:, 2])]
    tl = tib[tib[:, 2] < 25]
    m["med_mall"] = tl[np.argmin(tl[:, 0])]
    tip = tl[tl[:, 0] < m["med_mall"][0] + 6]
    m["med_mall_tip"] = tip[np.argmin(tip[:, 2])]
    m["lat_mall_tip"] = fib[np.argmin(fib[:, 2])]
    m["talus_post"] = talus[np.argmin(talus[:, 1])]
    m["talus_head"] = talus[np.argmax(talus[:, 1])]
    m["nav_tub"] = nav[np.argmin(nav[:, 0])]
    sust = calc[(calc[:, 1] > m["talus_post"][1] + 5) & (calc[:, 1] < m["talus_post"][1] + 25)]
    m["sust"] = sust[np.argmin(sust[:, 0])]
    mt5 = g.pts(Bone.FIFTH_METATARSAL)
    m["mt5_base"] = mt5[np.argmin(mt5[:, 1])]
    m["mt1_head"] = mt1[np.argmax(mt1[:, 1])]
    m["mt1_dorsal"] = mt1[np.argmax(mt1[:, 2])]
    top = g.axes[2][-1]
    tt = tib[np.abs(tib[:, 2] - (top - 3)) < 1.0]
    m["tib_post_top"], m["tib_ant_top"] = tt[np.argmin(tt[:, 1])], tt[np.argmax(tt[:, 1])]
    tm = tib[np.abs(tib[:, 2] - 15.0 * 1.0) < 1.0] if np.any(np.abs(tib[:, 2] - 15) < 1) else tt
    m["tib_ant_low"], m["tib_post_low"] = tm[np.argmax(tm[:, 1])], tm[np.argmin(tm[:, 1])]
    td = talus[talus[:, 1] > m["talus_head"][1] - 12]
    m["talus_dorsal"] = td[np.argmax(td[:, 2])]
    m["nav_dorsal"] = nav[np.argmax(nav[:, 2])]
    ic = g.pts(Bone.INTERMEDIATE_CUNEIFORM)
    m["intcun_dorsal"] = ic[np.argmax(ic[:, 2])]
    cub = g.pts(Bone.CUBOID)
    m["cub_plantar_lat"] = cub[np.argmax(cub[:, 0] - cub[:, 2])]
    m["calc_lat"] = calc[np.argmax(calc[:, 0])]
    m["medcun_med"] = med[np.argmin(med[:, 0] + 0.5 * med[:, 2])]
    mt3 = g.pts(Bone.THIRD_METATARSAL)
    m["mt3_dorsal"], m["mt3_head"] = mt3[np.argmax(mt3[:, 2])], mt3[np.argmax(mt3[:, 1])]
    lc = g.pts(Bone.LATERAL_CUNEIFORM)
    m["latcun_dorsal"] = lc[np.argmax(lc[:, 2])]
    fs = fib[np.abs(fib[:, 2] - (top - 3)) < 1.0]
    m["fib_top"] = fs.mean(0) if len(fs) else m["lat_mall_tip"] + [0, 0, 60]
    return m


def _tendons(g: _Grid, m: dict[str, Any]) -> tuple[Mask, Mask]:
    """Tendons (tibialis anterior / posterior, long flexors, peronei, long extensors) and
    vessels (posterior tibial, dorsalis pedis), as tubes along landmark polylines."""
    t = g.tube
    a = np.asarray
    tend = t([m["tib_ant_top"] + a([-6, 6, 2]), m["tib_ant_low"] + a([-6, 6, 0]),
              m["talus_dorsal"] + a([-6, 5, 5]), m["nav_dorsal"] + a([-8, 2, 5]),
              m["medcun_med"] + a([-2.5, 0, 1])], 2.6)
    tend |= t([m["tib_post_top"] + a([-8, -3, 2]), m["med_mall"] + a([2, -6, 12]),
               m["med_mall_tip"] + a([2, -5, -2]), m["med_mall_tip"] + a([1, 6, -10]),
               m["nav_tub"] + a([-1.5, -3, -2])], 2.6)
    tend |= t([m["tib_post_top"] + a([4, -8, 2]), m["talus_post"] + a([0, -3, 8]),
               m["talus_post"] + a([-1, -3.5, -2]), m["sust"] + a([1, 3, -6]),
               m["medcun_med"] + a([10, 0, -12]), m["mt1_head"] + a([0, -15, -9])], 2.4)
    tend |= t([m["fib_top"] + a([2, -8, 2]), m["lat_mall_tip"] + a([0, -7, 12]),
               m["lat_mall_tip"] + a([1, -4, -4]), m["calc_lat"] + a([3, 8, -4]),
               m["cub_plantar_lat"] + a([2, 0, -3])], 2.3)
    tend |= t([m["fib_top"] + a([-1, -5, 2]), m["lat_mall_tip"] + a([-2, -4, 12]),
               m["lat_mall_tip"] + a([-2, -2, -1]), m["calc_lat"] + a([3, 12, 2]),
               m["mt5_base"] + a([3, -2, 0])], 2.6)
    tend |= t([m["tib_ant_top"] + a([3, 9, 2]), m["tib_ant_low"] + a([2, 8, 0]),
               m["talus_dorsal"] + a([0, 6, 6]), m["nav_dorsal"] + a([-3, 3, 5]),
               m["mt1_dorsal"] + a([0, 0, 3.5]), m["mt1_head"] + a([-2, 0, 6])], 1.7)
    tend |= t([m["tib_ant_top"] + a([10, 8, 2]), m["tib_ant_low"] + a([10, 8, 0]),
               m["talus_dorsal"] + a([8, 7, 6]), m["latcun_dorsal"] + a([0, 0, 5]),
               m["mt3_dorsal"] + a([0, 0, 3.5]), m["mt3_head"] + a([0, 0, 6])], 1.8)
    vessel = t([m["tib_post_top"] + a([-2, -10, 2]), m["med_mall"] + a([8, -11, 12]),
                m["talus_post"] + a([-12, 2, -3]), m["sust"] + a([-3.5, 10, -3]),
                m["medcun_med"] + a([16, 6, -16])], 2.2)
    vessel |= t([m["tib_ant_low"] + a([4, 7, 0]), m["talus_dorsal"] + a([2, 2, 3.2]),
                 m["nav_dorsal"] + a([3, 0, 2.6]), m["intcun_dorsal"] + a([0, 0, 2.6]),
                 m["intcun_dorsal"] + a([-3, 14, 0])], 1.7)
    return tend & ~g.occupied, vessel & ~g.occupied & ~tend


def _posterior(g: _Grid, m: dict[str, Any]) -> tuple[Mask, Mask, Mask]:
    """Achilles tendon, posterior leg muscle and Kager's fat."""
    xx, yy, zz = g.axes
    calc, tib = m["calc"], m["tibia"]
    tub = calc[calc[:, 1] < m["calc_post"][1] + 10]
    ach_x, ach_z0 = float(tub[:, 0].mean()), float(tub[:, 2].mean()) - 6.0
    ach_y0 = float(m["calc_post"][1]) - 3.4
    leg_x = float(tib[tib[:, 2] > 40][:, 0].mean())
    legbones = g.mask(Bone.TIBIA, Bone.FIBULA)
    talus = g.mask(Bone.TALUS)
    col = tib[(np.abs(tib[:, 0]) < 6) & (np.abs(tib[:, 1]) < 6)]
    z_plafond = float(col[:, 2].min()) if len(col) else 20.0
    calc_top = float(calc[calc[:, 1] < m["calc_post"][1] + 20][:, 2].max())
    ach = np.zeros(g.shape, bool)
    muscle = np.zeros(g.shape, bool)
    kager = np.zeros(g.shape, bool)
    for k in np.flatnonzero(zz >= min(ach_z0, calc_top - 5)):
        z = float(zz[k])
        ya = ach_y0 - 0.03 * (z - ach_z0)
        xc = float(np.interp(z, [ach_z0 + 10, 50.0], [ach_x, leg_x - 2.0]))
        dx = xx[:, None] - xc
        if z >= ach_z0:
            ax_ = np.interp(z, [ach_z0, ach_z0 + 20, zz[-1]], [10.0, 7.5, 6.5])
            ay_ = np.interp(z, [ach_z0, ach_z0 + 12, zz[-1]], [2.4, 3.3, 3.1])
            ach[:, :, k] = ((dx / ax_) ** 2 + ((yy[None, :] - ya - 0.035 * dx ** 2) / ay_)
                            ** 2) <= 1
        if z < calc_top - 5:
            continue
        lb = legbones[:, :, k] if legbones[:, :, k].any() else talus[:, :, k]
        if not lb.any():
            continue
        ii, jj = np.nonzero(lb)
        xmin, xmax, ypost = xx[ii].min(), xx[ii].max(), yy[jj].min()
        gap = float(np.interp(z, [z_plafond - 8, z_plafond + 25, zz[-1]], [26.0, 13.0, 6.0]))
        y_back = ya + 3.5 + gap
        if z > z_plafond - 8:
            cx, hx = (xmin + xmax) / 2, (xmax - xmin) / 2 + 2.0
            hy = max(ypost + 2 - y_back, 1.0)
            ell = (((xx[:, None] - cx) / hx) ** 2
                   + ((yy[None, :] - (ypost + 2)) / hy) ** 2) <= 1
            muscle[:, :, k] = ell & (yy[None, :] < ypost + 2)
        hy = max(y_back - ya - 3.0, 1.0)
        ell = ((dx / 13.0) ** 2 + ((yy[None, :] - (ya + 3.0)) / hy) ** 2) <= 1
        kager[:, :, k] = ell & (yy[None, :] > ya + 3.0)
    muscle = ndimage.gaussian_filter(muscle.astype(np.float32), 2.0 / g.pitch) > 0.5
    ach &= ~g.occupied
    muscle &= ~g.occupied & ~ach
    kager &= ~g.occupied & ~muscle & ~ach
    return ach, muscle, kager


def _plantar(g: _Grid, m: dict[str, Any]) -> tuple[Mask, Mask, Mask]:
    """Plantar pad (fat), plantar muscles and the plantar fascia."""
    _, yy, zz = g.axes
    foot = g.bone & ~g.mask(Bone.TIBIA, Bone.FIBULA)
    has = foot.any(axis=2)
    z_low = np.where(has, zz[np.argmax(foot, axis=2)], np.nan)
    yv = yy[None, :].repeat(g.shape[0], 0)
    hb, th, mh = m["heel_bottom"][1], m["talus_head"][1], m["mt1_head"][1]
    pad = np.interp(yv, [hb - 10, hb + 25, th, mh, mh + 40], [17.0, 15.0, 13.0, 12.0, 7.0])
    zl_inf = np.where(has, z_low - pad, np.inf)
    zs = ndimage.minimum_filter(zl_inf, size=int(10 / g.pitch))
    valid = np.isfinite(zs)
    sig = 3.0 / g.pitch
    wsum = ndimage.gaussian_filter(valid.astype(np.float32), sig)
    z_sole = ndimage.gaussian_filter(np.where(valid, zs, 0.0).astype(np.float32), sig)
    z_sole = z_sole / np.maximum(wsum, 1e-6)
    cols = valid & (wsum > 0.5)
    z_top = np.where(has, z_low, z_sole + pad)
    zg = zz[None, None, :]
    zsl = z_sole[:, :, None]
    pad3 = cols[:, :, None] & (zg >= zsl) & (zg < z_top[:, :, None]) & ~g.occupied
    arch = ((yv > hb + 22) & (yv < mh - 5))[:, :, None]
    musc = pad3 & arch & (zg >= zsl + 5.5)
    musc = (ndimage.gaussian_filter(musc.astype(np.float32), 1.5 / g.pitch) > 0.5) & pad3
    fz = ((yv > hb + 5) & (yv < mh - 2))[:, :, None]
    fascia = pad3 & fz & (np.abs(zg - (zsl + 4.5)) < 0.8)
    return pad3, musc, fascia


def _body(g: _Grid, seeds: Mask) -> Mask:
    """Body outline: per coronal slice, the convex hull of the seeds, smoothed."""
    from skimage.morphology import convex_hull_image

    body = np.zeros(g.shape, bool)
    for j in range(g.shape[1]):
        sl = seeds[:, j, :]
        if sl.sum() > 10:
            body[:, j, :] = convex_hull_image(sl)
    body = ndimage.gaussian_filter(body.astype(np.float32), 2.5 / g.pitch) > 0.5
    return np.asarray(body | g.occupied, dtype=bool)


def soft_tissues(codes: NDArray[np.uint8], origin: NDArray[np.float64], pitch: float
                 ) -> None:
    """Fill the non-bone voxels of ``codes`` (in place) with soft-tissue classes.

    Parameters
    ----------
    codes
        Class codes holding the bones, cortex and joint spaces; 0 elsewhere.
    origin, pitch
        Atlas mm of voxel (0, 0, 0) and the voxel size.
    """
    g = _Grid(codes, origin, pitch)
    m = _marks(g)
    tendons, vessel = _tendons(g, m)
    ach, muscle, kager = _posterior(g, m)
    pad, pmusc, fascia = _plantar(g, m)
    near = ndimage.distance_transform_edt(~g.bone, sampling=g.pitch) < 6.0
    seeds = near | pad | ndimage.binary_dilation(ach, iterations=6) | muscle
    seeds |= ndimage.binary_dilation(tendons, iterations=3)
    body = _body(g, seeds)
    skin = body & ~ndimage.binary_erosion(body, iterations=1)
    soft = body & ~g.occupied
    out = np.zeros(g.shape, np.uint8)
    out[soft] = FAT
    out[soft & kager] = KAGER_FAT
    out[soft & (muscle | pmusc)] = MUSCLE
    out[soft & (fascia | tendons | ach)] = TENDON
    yv = g.axes[1][None, :, None]
    recess = (soft & g.near(Bone.TIBIA, 7.0) & g.near(Bone.TALUS, 7.0)
              & ((yv > m["tib_ant_low"][1] - 3) | (yv < m["tib_post_low"][1] + 3)))
    recess |= (soft & g.near(Bone.TALUS, 4.0) & g.near(Bone.CALCANEUS, 4.0)
               & (yv < m["talus_post"][1] + 6))
    out[recess & ~tendons & ~ach] = RECESS
    out[soft & vessel] = VESSEL
    out[skin & (out >= FAT)] = SKIN
    nx, ny, nz = codes.shape
    fine = out.repeat(_STEP, 0)[:nx].repeat(_STEP, 1)[:, :ny].repeat(_STEP, 2)[:, :, :nz]
    np.copyto(codes, fine, where=codes == 0)
