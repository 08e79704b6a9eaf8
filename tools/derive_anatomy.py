"""Derive the phantom's compact foot atlas from the Visible Human Female bone surfaces.

Input: ``../shared/anatomy/vhf_right/*.stl`` (CC BY 4.0, see ``NOTICE`` and
``../shared/anatomy/SOURCE.md``). Output:
``src/bmes_imaging/anatomy/data/foot_atlas.npz``: a ``uint8`` class-code volume of a
right foot at 0.5 mm (codes in ``bmes_imaging.anatomy``), its affine (voxel to
atlas millimetres, RAS-like: +x right = lateral, +y anterior, +z superior, origin at the
talar dome's centre of curvature) and a few landmarks.

This tool is NOT part of the runtime: it needs ``trimesh`` and ``rtree`` (install them
into the venv only to run it: ``.venv/bin/pip install trimesh rtree``). The runtime
only reads the committed ``.npz``.

Steps (each is a documented geometric rule, so the atlas can be rebuilt exactly):

1. Load the right-foot meshes; drop connected components with fewer than 10 faces
   (two zero-volume slivers in the talus mesh).
2. Neutral ankle: the cadaver foot is plantar-flexed about 40 degrees. Rotate the talus
   and every bone distal to it (and the talar cartilage) by ``DORSIFLEXION_DEG`` about
   the medio-lateral axis through the centre of a circle fitted to the talar dome
   cartilage (sagittal projection), then shift them along z so the tibio-talar
   bone-to-bone gap is ``TIBIOTALAR_GAP_MM``. Then rotate everything so the distal
   tibial shaft axis is vertical, and about that vertical axis so the line from the
   calcaneal tuberosity to the forefoot centroid runs along +y (sagittal slices of a
   foot examination follow the foot's long axis).
3. Voxelize every mesh at 0.5 mm by ray parity (vertical rays; a voxel is bone when its
   centre is inside the surface). Tibia and fibula are kept up to ``LEG_TOP_MM`` above
   the dome centre ("distal tibia / fibula"). Voxels claimed by two bones go to the bone
   in which they lie deeper.
4. Metatarsals: the merged ``Phalanges`` surface is split into five rays by a seeded
   watershed on its distance map; the seeds are the five connected components of the
   first cross-section from 40 % of the ray's length along the foot's long axis (+y). In each
   ray the toe is cut off by a plane perpendicular to the ray's principal axis at the
   narrowest cross-section within 2 % of the ray's length around the typical
   metatarsal / ray length ratio (``MT_FRACTION``: 0.54 first ... 0.68 fifth), i.e. at
   the metatarsophalangeal joint; the distal part (toes) is kept as unlabelled bone.
5. Joint spaces: bone voxels closer than ``JOINT_CARVE_MM`` to another bone become
   cartilage, and so do soft-tissue voxels within ``CARTILAGE_MM`` of two bones, plus the
   voxelized talar-dome and tibial-plafond cartilage.
6. Soft tissues from landmarks: the body outline (per coronal-slice convex hull of the
   dilated bones, the plantar pad, the Achilles tendon and the posterior leg muscles,
   smoothed), skin, Achilles tendon, Kager's fat, posterior leg muscle, plantar muscles
   and fascia, tendons (tibialis anterior, tibialis posterior, flexor hallucis longus,
   peronei), vessels (posterior tibial, dorsalis pedis) and ankle recesses.
7. Cortex: bone voxels within 0.6 mm of their bone's surface (thicker up the tibial and
   fibular shafts) get ``CORTEX_BIT``, and so do the physeal scars (a thin, gently domed
   line 18 mm above the tibial plafond and 12 mm above the lateral malleolus tip).

Run from the repository root: ``.venv/bin/python tools/derive_anatomy.py``; it prints
the bone volumes (ml).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bmes_imaging import anatomy as T  # noqa: E402 - after the sys.path line above
from bmes_imaging.bones import Bone  # noqa: E402

PITCH = 0.5
DORSIFLEXION_DEG = 22.0
TIBIOTALAR_GAP_MM = 2.6
LEG_TOP_MM = 95.0
JOINT_CARVE_MM = 0.6
CARTILAGE_MM = 1.6
MARGIN_MM = 24.0

MESHES = {
    Bone.TALUS: "Talus", Bone.CALCANEUS: "Calcaneous", Bone.NAVICULAR: "Navicular",
    Bone.CUBOID: "Cuboid", Bone.MEDIAL_CUNEIFORM: "MedialCuneiform",
    Bone.INTERMEDIATE_CUNEIFORM: "IntermediateCuneiform",
    Bone.LATERAL_CUNEIFORM: "LateralCuneiform", Bone.TIBIA: "Tibia", Bone.FIBULA: "Fibula",
}
LEG = (Bone.TIBIA, Bone.FIBULA)
#: metatarsal length / ray length (metatarsal + phalanges), typical adult values
MT_FRACTION = (0.54, 0.61, 0.62, 0.64, 0.68)
WINDOW = 0.02  # search the narrowest section within +-2 % of the ray length
METATARSALS = (Bone.FIRST_METATARSAL, Bone.SECOND_METATARSAL, Bone.THIRD_METATARSAL,
               Bone.FOURTH_METATARSAL, Bone.FIFTH_METATARSAL)


def load(path: Path):  # -> trimesh.Trimesh
    import trimesh

    mesh = trimesh.load(str(path), force="mesh")
    parts = [p for p in mesh.split(only_watertight=False) if len(p.faces) >= 10]
    return trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0]


def rot_x(deg: float) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrix turning unit vector a onto unit vector b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def dome_centre(cartilage) -> np.ndarray:
    """Centre (x, y, z) of a circle fitted to the upper talar cartilage in the y-z plane."""
    v, n = cartilage.vertices, cartilage.vertex_normals
    top = v[n[:, 2] > 0.3]
    y, z = top[:, 1], top[:, 2]
    a = np.c_[2 * y, 2 * z, np.ones_like(y)]
    c = np.linalg.lstsq(a, y ** 2 + z ** 2, rcond=None)[0]
    return np.array([top[:, 0].mean(), c[0], c[1]])


def voxelize(mesh, origin: np.ndarray, shape: tuple[int, int, int],
             open_top: bool = False) -> np.ndarray:
    """Boolean grid: voxel centres inside ``mesh`` (vertical-ray parity).

    ``open_top``: the mesh was cut above the grid; a ray with an odd number of hits
    is inside up to the top of the grid.
    """
    lo, hi = mesh.bounds
    i0 = max(int(np.floor((lo[0] - origin[0]) / PITCH)), 0)
    i1 = min(int(np.ceil((hi[0] - origin[0]) / PITCH)), shape[0] - 1)
    j0 = max(int(np.floor((lo[1] - origin[1]) / PITCH)), 0)
    j1 = min(int(np.ceil((hi[1] - origin[1]) / PITCH)), shape[1] - 1)
    ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    n = ii.size
    # tiny offsets keep rays off mesh edges and vertices
    origins = np.c_[origin[0] + ii * PITCH + 1.1e-4, origin[1] + jj * PITCH + 1.7e-4,
                    np.full(n, lo[2] - 1.0)]
    dirs = np.tile([0.0, 0.0, 1.0], (n, 1))
    loc, ray, _ = mesh.ray.intersects_location(origins, dirs, multiple_hits=True)
    out = np.zeros(shape, bool)
    order = np.lexsort((loc[:, 2], ray))
    ray, zs = ray[order], loc[order, 2]
    bounds = np.flatnonzero(np.diff(ray)) + 1
    for r_idx, z in zip(np.split(ray, bounds), np.split(zs, bounds), strict=False):
        if len(z) == 0:
            continue
        r = r_idx[0]
        z = z[np.r_[True, np.diff(z) > 1e-5]]
        if len(z) % 2:
            if not open_top:
                continue
            z = np.r_[z, 1e9]
        for z_in, z_out in zip(z[0::2], z[1::2], strict=False):
            k0 = max(int(np.ceil((z_in - origin[2]) / PITCH)), 0)
            k1 = min(int(np.floor((z_out - origin[2]) / PITCH)), shape[2] - 1)
            if k1 >= k0:
                out[ii[r], jj[r], k0:k1 + 1] = True
    return out


def split_rays(mask: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Label the forefoot mask into 5 rays (1 = medial ... 5 = lateral) and cut the toes.

    Returns a label array (1..5 metatarsals, 6 toes) and the cut position per ray.
    """
    from skimage.segmentation import watershed

    ys = np.flatnonzero(mask.any(axis=(0, 2)))
    y0, y1 = ys[0], ys[-1]
    seeds = np.zeros(mask.shape, np.int32)
    found = None
    for frac in np.arange(0.40, 0.55, 0.01):
        j = int(y0 + frac * (y1 - y0))
        lab, n = ndimage.label(mask[:, j, :])
        if n < 5:
            continue
        sizes = ndimage.sum(np.ones_like(lab), lab, index=np.arange(1, n + 1))
        keep = np.argsort(sizes)[::-1][:5] + 1
        if sizes[keep[-1] - 1] < 20:
            continue
        found = (j, lab, keep)
        break
    if found is None:
        raise RuntimeError("no cross-section of the forefoot shows five separate rays")
    j, lab, keep = found
    # order rays medial (small x for a right foot) to lateral
    cx = [np.mean(np.nonzero(lab == k)[0]) for k in keep]
    for ray_no, k in enumerate(np.array(keep)[np.argsort(cx)], start=1):
        seeds[:, j, :][lab == k] = ray_no
    # compact watershed on a flat image: each voxel joins the seed it is reached from
    # first through the bone, i.e. (about) the geodesically nearest ray
    rays = watershed(np.zeros(mask.shape, np.float32), seeds, mask=mask, compactness=1.0)
    out = rays.astype(np.uint8)
    cuts = []
    for r in range(1, 6):
        pts = np.argwhere(rays == r).astype(float)
        c = pts.mean(0)
        vt = np.linalg.svd(pts - c, full_matrices=False)[2]
        axis = vt[0] if vt[0][1] > 0 else -vt[0]  # distal along +y
        t = (pts - c) @ axis
        tmin, tmax = t.min(), t.max()
        bins = np.arange(tmin, tmax + 2.0, 2.0)  # 1 mm bins (pitch 0.5)
        hist, _ = np.histogram(t, bins)
        ref = MT_FRACTION[r - 1]
        lo_b = int((ref - WINDOW) * len(hist))
        hi_b = max(int((ref + WINDOW) * len(hist)), lo_b + 1)
        k = lo_b + int(np.argmin(hist[lo_b:hi_b]))
        cut = bins[k] + 1.0
        sel = np.argwhere(rays == r)
        toe = t > cut
        out[tuple(sel[toe].T)] = 6
        cuts.append(int(k))
    return out, cuts


def bbox(mask: np.ndarray, margin: int) -> tuple[slice, slice, slice]:
    """Bounding box of a mask, grown by ``margin`` voxels and clipped to the grid."""
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b))  # type: ignore[return-value]
                 for a, b in zip(lo, hi, strict=True))


class OutsideDistance:
    """Distance (mm) outside a mask, computed in its bounding box grown by ``reach`` mm."""

    def __init__(self, mask: np.ndarray, reach: float) -> None:
        self.shape = mask.shape
        self.box = bbox(mask, int(np.ceil(reach / PITCH)) + 1)
        self.d = ndimage.distance_transform_edt(~mask[self.box], sampling=PITCH).astype(
            np.float32)

    def below(self, mm: float) -> np.ndarray:
        out = np.zeros(self.shape, bool)
        out[self.box] = self.d < mm
        return out


def polyline_tube(shape, origin, points_mm, radius_mm: float | list[float]) -> np.ndarray:
    """Boolean grid of voxels within ``radius`` of a polyline (radius may vary per point)."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points_mm, float)
    rad = np.broadcast_to(np.asarray(radius_mm, float), (len(pts),))
    dense, drad = [], []
    for a, b, ra, rb in zip(pts[:-1], pts[1:], rad[:-1], rad[1:], strict=False):
        n = max(int(np.linalg.norm(b - a) / 0.25), 1)
        t = np.linspace(0, 1, n, endpoint=False)[:, None]
        dense.append(a + t * (b - a))
        drad.append(ra + t[:, 0] * (rb - ra))
    dense.append(pts[-1:])
    drad.append(rad[-1:])
    d_pts, d_rad = np.vstack(dense), np.concatenate(drad)
    lo = np.floor((d_pts.min(0) - d_rad.max() - origin) / PITCH).astype(int)
    hi = np.ceil((d_pts.max(0) + d_rad.max() - origin) / PITCH).astype(int)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.array(shape) - 1)
    out = np.zeros(shape, bool)
    if np.any(hi < lo):
        return out
    g = np.stack(np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi, strict=False)],
                             indexing="ij"), -1).reshape(-1, 3)
    w = origin + g * PITCH
    dist, idx = cKDTree(d_pts).query(w)
    inside = dist <= d_rad[idx]
    out[tuple(g[inside].T)] = True
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anatomy", default=str(ROOT.parent / "shared" / "anatomy" / "vhf_right"))
    ap.add_argument("--out", default=str(ROOT / "src" / "bmes_imaging" / "anatomy" / "data"
                                         / "foot_atlas.npz"))
    ap.add_argument("--cache", help="npz to keep the bone stage in (speeds up re-runs)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.cache and Path(args.cache).exists():
        z = np.load(args.cache)
        labels, origin = z["labels"], z["origin"]
        print(f"bone stage read from {args.cache}")
    else:
        labels, origin = bone_stage(args)
        if args.cache:
            np.savez(args.cache, labels=labels, origin=origin)
    return soft_tissue_stage(args, labels, origin, t0)


def bone_stage(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-5: bone and cartilage labels on the atlas grid, and the grid origin."""
    t0 = time.perf_counter()
    src = Path(args.anatomy)
    meshes = {b: load(src / f"VHF_Right_Bone_{n}_smooth.stl") for b, n in MESHES.items()}
    forefoot = load(src / "VHF_Right_Bone_Phalanges_smooth.stl")
    cart_talus = load(src / "VHF_Right_Cartilage_Talus_smooth.stl")
    cart_tibia = load(src / "VHF_Right_Cartilage_TibiaDistal_smooth.stl")

    # 2. neutral ankle, then distal tibial axis vertical; atlas origin = dome centre
    centre = dome_centre(cart_talus)
    dflex = rot_x(DORSIFLEXION_DEG)

    def foot_tf(v: np.ndarray) -> np.ndarray:
        return (v - centre) @ dflex.T

    def leg_tf(v: np.ndarray) -> np.ndarray:
        return v - centre

    foot_bones = [b for b in meshes if b not in LEG]
    for b in foot_bones:
        meshes[b].vertices = foot_tf(meshes[b].vertices)
    forefoot.vertices = foot_tf(forefoot.vertices)
    cart_talus.vertices = foot_tf(cart_talus.vertices)
    for b in LEG:
        meshes[b].vertices = leg_tf(meshes[b].vertices)
    cart_tibia.vertices = leg_tf(cart_tibia.vertices)
    # tibio-talar gap: vertical rays up from the talar dome into the tibia
    tal = meshes[Bone.TALUS]
    top = tal.vertices[(tal.vertex_normals[:, 2] > 0.8)]
    top = top[np.abs(top[:, 0] - np.median(top[:, 0])) < 8]
    top = top[np.abs(top[:, 1] - np.median(top[:, 1])) < 8]
    loc, ray, _ = meshes[Bone.TIBIA].ray.intersects_location(
        top + [0, 0, 1e-3], np.tile([0, 0, 1.0], (len(top), 1)), multiple_hits=False)
    gap = float(np.median(loc[:, 2] - top[ray, 2]))
    shift = np.array([0, 0, gap - TIBIOTALAR_GAP_MM])
    for b in foot_bones:
        meshes[b].vertices = meshes[b].vertices + shift
    forefoot.vertices = forefoot.vertices + shift
    cart_talus.vertices = cart_talus.vertices + shift
    print(f"tibio-talar gap {gap:.2f} mm before, shifted foot by {shift[2]:+.2f} mm")

    tib = meshes[Bone.TIBIA]

    def centroid_at(z: float) -> np.ndarray:
        s = tib.vertices[np.abs(tib.vertices[:, 2] - z) < 1.5]
        return np.asarray(s.mean(0))

    axis = centroid_at(150.0) - centroid_at(40.0)
    upright = rotation_between(axis, np.array([0, 0, 1.0]))
    for m in [*meshes.values(), forefoot, cart_talus, cart_tibia]:
        m.vertices = m.vertices @ upright.T
    print(f"tibial axis tilted {np.degrees(np.arccos(axis[2] / np.linalg.norm(axis))):.1f} "
          "deg: made vertical")
    # sagittal slices follow the foot: turn about z so that the line from the calcaneal
    # tuberosity (posterior 10 mm of the calcaneus) to the forefoot centroid runs along +y
    cv = meshes[Bone.CALCANEUS].vertices
    heel = cv[cv[:, 1] < cv[:, 1].min() + 10].mean(0)
    fwd = forefoot.vertices.mean(0) - heel
    yaw = float(np.arctan2(fwd[0], fwd[1]))
    c, s_ = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1.0]])
    for m in [*meshes.values(), forefoot, cart_talus, cart_tibia]:
        m.vertices = m.vertices @ turn.T
    print(f"foot axis turned by {np.degrees(yaw):.1f} deg about z onto +y")

    # 3. grid
    lows = [m.bounds[0] for b, m in meshes.items() if b not in LEG] + [forefoot.bounds[0]]
    highs = [m.bounds[1] for b, m in meshes.items() if b not in LEG] + [forefoot.bounds[1]]
    lo = np.min(lows, 0) - MARGIN_MM
    hi = np.max(highs, 0) + MARGIN_MM
    for b in LEG:  # malleoli and shafts up to LEG_TOP_MM
        v = meshes[b].vertices
        v = v[v[:, 2] < LEG_TOP_MM]
        lo = np.minimum(lo, v.min(0) - MARGIN_MM)
        hi = np.maximum(hi, v.max(0) + MARGIN_MM)
    hi[2] = LEG_TOP_MM
    lo[1] = min(lo[1], lo[1])
    origin = np.floor(lo / PITCH) * PITCH
    shape = tuple(int(s) for s in np.ceil((hi - origin) / PITCH).astype(int) + 1)
    print(f"grid {shape} at {PITCH} mm, origin {origin.round(1).tolist()}")

    labels = np.zeros(shape, np.uint8)
    depth_claims = np.zeros(shape, np.float32)
    bone_masks: dict[int, np.ndarray] = {}
    for b, m in meshes.items():
        if b in LEG:
            keep = np.all(m.vertices[m.faces][:, :, 2] < LEG_TOP_MM + 10, axis=1)
            import trimesh

            sub = trimesh.Trimesh(m.vertices, m.faces[keep], process=False)
            bone_masks[int(b)] = voxelize(sub, origin, shape, open_top=True)
        else:
            bone_masks[int(b)] = voxelize(m, origin, shape)
    ff = voxelize(forefoot, origin, shape)
    rays, cuts = split_rays(ff)
    for r, b in enumerate(METATARSALS, start=1):
        bone_masks[int(b)] = rays == r
    bone_masks[T.OTHER_BONE] = rays == 6
    print(f"voxelized in {time.perf_counter() - t0:.0f} s; toe cuts at bins {cuts}")
    # overlaps: deeper claim wins
    for code, m in bone_masks.items():
        box = bbox(m, 2)
        d = ndimage.distance_transform_edt(m[box]).astype(np.float32)
        win = m[box] & (d > depth_claims[box])
        labels[box][win] = code
        depth_claims[box][win] = d[win]
    n_overlap = int(sum(m.sum() for m in bone_masks.values()) - (labels > 0).sum())
    print(f"{n_overlap} voxels claimed by two bones, resolved by depth")
    del depth_claims

    bone_any = labels > 0
    # 5. joint spaces: carve and cartilage
    dist_out = {code: OutsideDistance(labels == code, 8.0) for code in bone_masks}
    cart = np.zeros(shape, bool)
    codes = list(bone_masks)
    for b in codes:
        cart |= bone_any & (labels != b) & dist_out[b].below(JOINT_CARVE_MM + 1e-3)
    near_count = np.zeros(shape, np.uint8)
    for c in codes:
        near_count += dist_out[c].below(CARTILAGE_MM).astype(np.uint8)
    cart |= (~bone_any) & (near_count >= 2)
    cart |= voxelize(cart_talus, origin, shape) & ~bone_any
    cart |= voxelize(cart_tibia, origin, shape) & ~bone_any
    labels[cart] = T.CARTILAGE
    return labels, origin


def soft_tissue_stage(args: argparse.Namespace, labels: np.ndarray, origin: np.ndarray,
                      t0: float) -> int:
    """Steps 6-7 and writing the atlas."""
    shape = labels.shape
    bone_any = (labels > 0) & (labels <= T.OTHER_BONE)
    bone_codes = [c for c in range(1, T.OTHER_BONE + 1) if np.any(labels == c)]
    def world(idx: object) -> np.ndarray:
        return origin + np.asarray(idx, float) * PITCH

    def pts(code: int) -> np.ndarray:
        return world(np.argwhere(labels == code))

    # landmarks
    calc, talus = pts(int(Bone.CALCANEUS)), pts(int(Bone.TALUS))
    tibia, fibula = pts(int(Bone.TIBIA)), pts(int(Bone.FIBULA))
    nav, medcun = pts(int(Bone.NAVICULAR)), pts(int(Bone.MEDIAL_CUNEIFORM))
    mt1, mt5 = pts(int(Bone.FIRST_METATARSAL)), pts(int(Bone.FIFTH_METATARSAL))
    cub, intcun = pts(int(Bone.CUBOID)), pts(int(Bone.INTERMEDIATE_CUNEIFORM))
    calc_post = calc[np.argmin(calc[:, 1])]
    calc_low = calc[calc[:, 1] < calc_post[1] + 25]
    heel_bottom = calc_low[np.argmin(calc_low[:, 2])]
    tib_low = tibia[tibia[:, 2] < 25]
    med_mall = tib_low[np.argmin(tib_low[:, 0])]
    tip_med = tib_low[tib_low[:, 0] < med_mall[0] + 6]
    med_mall_tip = tip_med[np.argmin(tip_med[:, 2])]
    lat_mall_tip = fibula[np.argmin(fibula[:, 2])]
    talus_post = talus[np.argmin(talus[:, 1])]
    talus_head = talus[np.argmax(talus[:, 1])]
    nav_tub = nav[np.argmin(nav[:, 0])]
    sust = calc[(calc[:, 1] > talus_post[1] + 5) & (calc[:, 1] < talus_post[1] + 25)]
    sust = sust[np.argmin(sust[:, 0])]
    mt5_base = mt5[np.argmin(mt5[:, 1])]
    mt1_head = mt1[np.argmax(mt1[:, 1])]
    top_z = origin[2] + (shape[2] - 1) * PITCH

    def leg_section(zv: float, sel: np.ndarray) -> np.ndarray:
        s = sel[np.abs(sel[:, 2] - zv) < 1.0]
        return s

    tib_top = leg_section(top_z - 3, tibia)
    tib_post_top = tib_top[np.argmin(tib_top[:, 1])]
    tib_ant_top = tib_top[np.argmax(tib_top[:, 1])]
    tib_mid = leg_section(15.0, tibia)
    tib_ant_low = tib_mid[np.argmax(tib_mid[:, 1])]
    tib_post_low = tib_mid[np.argmin(tib_mid[:, 1])]
    talus_dorsal = talus[(talus[:, 1] > talus_head[1] - 12)]
    talus_dorsal = talus_dorsal[np.argmax(talus_dorsal[:, 2])]
    nav_dorsal = nav[np.argmax(nav[:, 2])]
    intcun_dorsal = intcun[np.argmax(intcun[:, 2])]
    cub_plantar_lat = cub[np.argmax(cub[:, 0] - cub[:, 2])]
    calc_lat = calc[np.argmax(calc[:, 0])]
    medcun_med = medcun[np.argmin(medcun[:, 0] + 0.5 * medcun[:, 2])]

    # 6. soft tissues
    # Achilles tendon: elliptic cross-section per axial slice, from the posterior
    # tuberosity straight up; wide and thin at the insertion
    tub = calc[calc[:, 1] < calc_post[1] + 10]
    ach_x, ach_z0 = float(tub[:, 0].mean()), float(tub[:, 2].mean()) - 6.0
    ach_y0 = float(calc_post[1]) - 3.4

    def ach_y(z: float | np.ndarray) -> float | np.ndarray:
        return ach_y0 - 0.03 * (np.asarray(z) - ach_z0)

    leg_x = float(tibia[tibia[:, 2] > 40][:, 0].mean())

    def ach_xc(z: float) -> float:
        # from the tuberosity towards the middle of the back of the leg
        return float(np.interp(z, [ach_z0 + 10, 50.0], [ach_x, leg_x - 2.0]))

    xx = origin[0] + np.arange(shape[0]) * PITCH
    yy = origin[1] + np.arange(shape[1]) * PITCH
    zz = origin[2] + np.arange(shape[2]) * PITCH
    ach = np.zeros(shape, bool)
    for k in np.flatnonzero(zz >= ach_z0):
        z = zz[k]
        ax_ = np.interp(z, [ach_z0, ach_z0 + 20, zz[-1]], [10.0, 7.5, 6.5])
        ay_ = np.interp(z, [ach_z0, ach_z0 + 12, zz[-1]], [2.4, 3.3, 3.1])
        yc = ach_y(z)
        xc = ach_xc(z)
        ell = (((xx[:, None] - xc) / ax_) ** 2
               + ((yy[None, :] - yc - 0.035 * (xx[:, None] - xc) ** 2) / ay_) ** 2) <= 1
        ach[:, :, k] = ell
    ach &= ~bone_any
    ta = polyline_tube(shape, origin, [
        tib_ant_top + [-6, 6, 2], tib_ant_low + [-6, 6, 0],
        talus_dorsal + [-6, 5, 5], nav_dorsal + [-8, 2, 5], medcun_med + [-2.5, 0, 1]], 2.6)
    tp = polyline_tube(shape, origin, [
        tib_post_top + [-8, -3, 2], med_mall + [2, -6, 12], med_mall_tip + [2, -5, -2],
        med_mall_tip + [1, 6, -10], nav_tub + [-1.5, -3, -2]], 2.6)
    fhl = polyline_tube(shape, origin, [
        tib_post_top + [4, -8, 2], talus_post + [0, -3, 8], talus_post + [-1, -3.5, -2],
        sust + [1, 3, -6], medcun_med + [10, 0, -12], mt1_head + [0, -15, -9]], 2.4)
    fdl = polyline_tube(shape, origin, [
        tib_post_top + [-3, -6, 2], med_mall + [5, -9, 12], med_mall_tip + [6, -8, -4],
        sust + [-3, 6, -4], medcun_med + [16, 4, -14]], 1.9)
    per_l = polyline_tube(shape, origin, [
        leg_section(top_z - 3, fibula).mean(0) + [2, -8, 2], lat_mall_tip + [0, -7, 12],
        lat_mall_tip + [1, -4, -4], calc_lat + [3, 8, -4], cub_plantar_lat + [2, 0, -3]],
        2.3)
    per_b = polyline_tube(shape, origin, [
        leg_section(top_z - 3, fibula).mean(0) + [-1, -5, 2], lat_mall_tip + [-2, -4, 12],
        lat_mall_tip + [-2, -2, -1], calc_lat + [3, 12, 2], mt5_base + [3, -2, 0]], 2.6)
    mt1_dorsal = mt1[np.argmax(mt1[:, 2])]
    mt3 = pts(int(Bone.THIRD_METATARSAL))
    mt3_dorsal = mt3[np.argmax(mt3[:, 2])]
    mt3_head = mt3[np.argmax(mt3[:, 1])]
    latcun = pts(int(Bone.LATERAL_CUNEIFORM))
    latcun_dorsal = latcun[np.argmax(latcun[:, 2])]
    ehl = polyline_tube(shape, origin, [
        tib_ant_top + [3, 9, 2], tib_ant_low + [2, 8, 0], talus_dorsal + [0, 6, 6],
        nav_dorsal + [-3, 3, 5], mt1_dorsal + [0, 0, 3.5], mt1_head + [-2, 0, 6]], 1.7)
    edl = polyline_tube(shape, origin, [
        tib_ant_top + [10, 8, 2], tib_ant_low + [10, 8, 0], talus_dorsal + [8, 7, 6],
        latcun_dorsal + [0, 0, 5], mt3_dorsal + [0, 0, 3.5], mt3_head + [0, 0, 6]], 1.8)
    tendons = (ta | tp | fhl | fdl | per_l | per_b | ehl | edl) & ~bone_any
    vessel = polyline_tube(shape, origin, [
        tib_post_top + [-2, -10, 2], med_mall + [8, -11, 12],
        talus_post + [-12, 2, -3], sust + [-3.5, 10, -3], medcun_med + [16, 6, -16]], 2.2)
    vessel |= polyline_tube(shape, origin, [
        tib_ant_low + [4, 7, 0], talus_dorsal + [2, 2, 3.2], nav_dorsal + [3, 0, 2.6],
        intcun_dorsal + [0, 0, 2.6], intcun_dorsal + [-3, 14, 0]], 1.7)
    vessel &= ~bone_any & ~tendons

    # posterior leg muscle (flexor hallucis longus, soleus) behind tibia and fibula;
    # Kager's fat between it and the Achilles, widest just above the calcaneus
    muscle = np.zeros(shape, bool)
    kager = np.zeros(shape, bool)
    legbones = (labels == Bone.TIBIA) | (labels == Bone.FIBULA)
    tib_col = tibia[(np.abs(tibia[:, 0]) < 6) & (np.abs(tibia[:, 1]) < 6)]
    z_plafond = float(tib_col[:, 2].min()) if len(tib_col) else 15.0
    calc_top = float(calc[calc[:, 1] < calc_post[1] + 20][:, 2].max())
    for k in np.flatnonzero(zz > calc_top - 5):
        z = zz[k]
        lb = legbones[:, :, k]
        ya = float(ach_y(z))
        if lb.any():
            ii, jj = np.nonzero(lb)
            xmin, xmax = xx[ii].min(), xx[ii].max()
            ypost = yy[jj].min()
        else:
            tb = labels[:, :, k] == Bone.TALUS
            if not tb.any():
                continue
            ii, jj = np.nonzero(tb)
            xmin, xmax, ypost = xx[ii].min(), xx[ii].max(), yy[jj].min()
        gap = float(np.interp(z, [z_plafond - 8, z_plafond + 25, zz[-1]], [26.0, 13.0, 6.0]))
        y_back = ya + 3.5 + gap
        if z > z_plafond - 8:
            # half-ellipse behind the bones, flat side against them
            cx, hx = (xmin + xmax) / 2, (xmax - xmin) / 2 + 2.0
            hy = max(ypost + 2 - y_back, 1.0)
            ell = (((xx[:, None] - cx) / hx) ** 2
                   + ((yy[None, :] - (ypost + 2)) / hy) ** 2) <= 1
            muscle[:, :, k] |= ell & (yy[None, :] < ypost + 2)
        xc = ach_xc(z)
        hy = max(y_back - ya - 3.0, 1.0)
        ell = (((xx[:, None] - xc) / 13.0) ** 2
               + ((yy[None, :] - (ya + 3.0)) / hy) ** 2) <= 1
        kager[:, :, k] |= ell & (yy[None, :] > ya + 3.0)
    muscle = ndimage.gaussian_filter(muscle.astype(np.float32), 2.0 / PITCH) > 0.5
    muscle &= ~bone_any & ~ach
    kager &= ~bone_any & ~muscle & ~ach

    # plantar side: foot footprint and lowest bone per column
    foot_bones_mask = bone_any & ~legbones
    has = foot_bones_mask.any(axis=2)
    kl = np.argmax(foot_bones_mask, axis=2)
    z_low = np.where(has, origin[2] + kl * PITCH, np.nan)
    yv = yy[None, :].repeat(shape[0], 0)
    pad = np.interp(yv, [heel_bottom[1] - 10, heel_bottom[1] + 25, talus_head[1],
                         mt1_head[1], mt1_head[1] + 40], [17.0, 15.0, 13.0, 12.0, 7.0])
    # the sole: lowest bone per column minus the pad, as a smooth surface (minimum over
    # 10 mm, then a 3 mm Gaussian), so fat and muscle layers run continuously under the
    # rays and tarsals instead of following each bone
    zl_inf = np.where(has, z_low - pad, np.inf)
    zs = ndimage.minimum_filter(zl_inf, size=int(10 / PITCH))
    valid = np.isfinite(zs)
    sig = 3.0 / PITCH
    wsum = ndimage.gaussian_filter(valid.astype(np.float32), sig)
    z_sole = ndimage.gaussian_filter(np.where(valid, zs, 0.0).astype(np.float32), sig)
    z_sole = z_sole / np.maximum(wsum, 1e-6)
    sole_cols = valid & (wsum > 0.5)
    z_top = np.where(has, z_low, z_sole + pad)
    zg = zz[None, None, :]
    zsl = z_sole[:, :, None]
    plantar_pad = sole_cols[:, :, None] & (zg >= zsl) & (zg < z_top[:, :, None])
    plantar_pad &= ~bone_any
    in_arch = ((yv > heel_bottom[1] + 22) & (yv < mt1_head[1] - 5))[:, :, None]
    plantar_muscle = plantar_pad & in_arch & (zg >= zsl + 5.5)
    plantar_muscle = (ndimage.gaussian_filter(plantar_muscle.astype(np.float32), 1.5 / PITCH)
                      > 0.5) & plantar_pad
    fasc_zone = ((yv > heel_bottom[1] + 5) & (yv < mt1_head[1] - 2))[:, :, None]
    fascia = plantar_pad & fasc_zone & (np.abs(zg - (zsl + 4.5)) < 0.8)

    # body outline: per coronal slice, convex hull of the dilated seeds; then smoothed
    from skimage.morphology import convex_hull_image

    dil = ndimage.distance_transform_edt(~bone_any, sampling=PITCH)
    seedset = (dil < 6.0) | plantar_pad | ndimage.binary_dilation(ach, iterations=6) | muscle
    seedset |= ndimage.binary_dilation(tendons, iterations=3)
    body = np.zeros(shape, bool)
    for j in range(shape[1]):
        sl = seedset[:, j, :]
        if sl.sum() > 10:
            body[:, j, :] = convex_hull_image(sl)
    body = ndimage.gaussian_filter(body.astype(np.float32), 2.5 / PITCH) > 0.5
    body |= bone_any
    depth_body = ndimage.distance_transform_edt(body, sampling=PITCH)
    skin = body & (depth_body <= 1.5)

    soft = body & ~bone_any & (labels == 0)
    out = labels.copy()
    out[soft] = T.FAT
    out[soft & kager] = T.KAGER_FAT
    out[soft & muscle] = T.MUSCLE
    out[soft & plantar_muscle] = T.MUSCLE
    out[soft & fascia] = T.TENDON
    out[soft & tendons] = T.TENDON
    out[soft & ach] = T.TENDON
    # ankle recesses: anterior and posterior pouches between tibia and talus, posterior
    # subtalar recess
    dt, dta, dc = (OutsideDistance(labels == b, 8.0)
                   for b in (Bone.TIBIA, Bone.TALUS, Bone.CALCANEUS))
    yv3 = yy[None, :, None]
    recess = soft & dt.below(7.0) & dta.below(7.0) & ((yv3 > tib_ant_low[1] - 3)
                                                      | (yv3 < tib_post_low[1] + 3))
    recess |= soft & dta.below(4.0) & dc.below(4.0) & (yv3 < talus_post[1] + 6)
    recess &= ~tendons & ~ach
    out[recess] = T.RECESS
    out[soft & vessel] = T.VESSEL
    out[skin & (out >= T.FAT)] = T.SKIN
    out[~body] = T.AIR

    # 7. cortex
    for code in bone_codes:
        m = out == code
        if not m.any():
            continue
        box = bbox(m, 2)
        d = ndimage.distance_transform_edt(m[box], sampling=PITCH)
        thick = np.full(shape[2], 0.6)
        if code in (int(Bone.TIBIA), int(Bone.FIBULA)):
            thick = np.clip(0.6 + (zz - 25.0) * 0.045, 0.6, 3.2)
        cortex = m[box] & (d <= thick[box[2]][None, None, :])
        out[box][cortex] = code | T.CORTEX_BIT
    # physeal scars: thin dark lines of the closed growth plates, gently domed, about
    # 18 mm above the tibial plafond and 12 mm above the lateral malleolus tip
    for bone, z0 in ((Bone.TIBIA, z_plafond + 18.0), (Bone.FIBULA, lat_mall_tip[2] + 12.0)):
        sel = out == int(bone)
        ijk = np.argwhere(sel)
        w = origin + ijk * PITCH
        cx, cy = w[:, 0].mean(), w[:, 1].mean()
        dome = z0 + 0.03 * np.hypot(w[:, 0] - cx, w[:, 1] - cy)
        line = np.abs(w[:, 2] - dome) < 0.45
        out[tuple(ijk[line].T)] = int(bone) | T.CORTEX_BIT

    affine = np.diag([PITCH, PITCH, PITCH, 1.0])
    affine[:3, 3] = origin
    landmarks = {
        "dome_centre": [0.0, 0.0, 0.0],
        "calcaneus_posterior": calc_post.tolist(), "heel_bottom": heel_bottom.tolist(),
        "medial_malleolus_tip": med_mall_tip.tolist(),
        "lateral_malleolus_tip": lat_mall_tip.tolist(),
        "talus_head": talus_head.tolist(), "first_metatarsal_head": mt1_head.tolist(),
        "fifth_metatarsal_base": mt5_base.tolist(), "navicular_tuberosity": nav_tub.tolist(),
    }
    meta = {
        "source": "Visible Human Female right foot surfaces, University of Denver, CC BY 4.0 "
                  "(doi:10.56902/COB.vh.2022.0)",
        "pitch_mm": PITCH, "dorsiflexion_deg": DORSIFLEXION_DEG,
        "frame": "right foot; +x lateral (right), +y anterior, +z superior; origin at the "
                 "talar dome centre of curvature",
        "landmarks": landmarks,
        "tissues": {str(k): v for k, v in T.TISSUE_NAMES.items()},
    }
    target = Path(args.out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, codes=out, affine=affine, meta=np.array(json.dumps(meta)))
    tmp.replace(target)
    labels_only = T.bone_label_of(out)
    vox_ml = PITCH ** 3 / 1000
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) in "
          f"{time.perf_counter() - t0:.0f} s")
    print("bone volumes (ml, cortex included, after joint carving):")
    for b in Bone:
        print(f"  {b.bone_name:24s} {np.count_nonzero(labels_only == b) * vox_ml:7.2f}")
    print(f"  {'toes (unlabelled)':24s} "
          f"{np.count_nonzero((out & 63) == T.OTHER_BONE) * vox_ml:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
