"""Automatic bone masks on TUNING anatomy: per-bone Dice and CPU seconds per study.

Tuning anatomy is the VHF atlas the registration is built from, strongly deformed,
plantar flexed, resized and placed off centre, both sides, with edema; seeds from
``--seed0`` (default 7000) up, never the evaluation anatomy or seeds of
``bench/bench_bone_masks.py`` (parametric bones are for evaluation only and are not
used here). Prints per bone median and 10th percentile Dice, pooled tarsal figures and
the CPU time of :func:`bmes_imaging.detection.automatic_bones` (one thread).

``--harsh`` draws flexion 10-40 degrees, deformation 1.3-2 and placement +-12 mm.
``--warped-atlas SEED`` registers with the packaged atlas itself warped (six sine modes
of up to ``--warp-mm`` mm, per-axis scale +-8 %): bone shapes unlike the feet, the
situation of feet that are not the atlas' shape, made from tuning anatomy only.
``--unlike`` (fourth pass) draws feet at the ends of every range: size 1.15-1.25 (two
feet in three) or 0.8-0.85, plantar flexion 30-40 degrees, deformation 1.6-2, placement
+-12 mm, and registers each with its own copy of the packaged atlas warped (six sine
modes of up to ``--warp-mm`` mm) AND scaled anisotropically: the foot 10-20 % longer
(half the feet) or 10-20 % narrower than the atlas (the atlas shrunk along the foot or
widened across it); ``--unlike-both`` makes it longer and narrower at once.
These are large or small feet unlike the atlas, the failure the third pass's evaluation
showed, built from VHF bones only (seeds 7200 up).
``--unlike-shapes`` (fifth pass) registers each foot with its own copy of the packaged
atlas whose BONES are reshaped one by one (:func:`reshape_atlas`: per bone an anisotropic
scale of 0.8-1.25 along its own principal axes, a taper, a rotation of a few degrees and
a smooth bulge or dent; overlaps go to the bone reaching deepest, vacated bone becomes
the nearest soft tissue of the template, new bone marrow with a dark cortical rim), so
that no affine and no articulation of the atlas fits the bones in front of it: bones
shaped unlike the atlas, made from VHF bones only.
``--cache DIR`` keeps the generated studies (pickles) for the next run.

Run::

    BMES_DETECTION_THREADS=1 .venv/bin/python bench/tune_bone_masks.py -n 12
    BMES_DETECTION_THREADS=1 .venv/bin/python bench/tune_bone_masks.py -n 9 \
        --seed0 7100 --harsh --warped-atlas 1 --cache /tmp/tune-bones
    BMES_DETECTION_THREADS=1 .venv/bin/python bench/tune_bone_masks.py -n 12 \
        --seed0 7200 --unlike --cache /tmp/tune-bones-unlike
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

os.environ.setdefault("BMES_DETECTION_THREADS", "1")

from bmes_imaging.bones import Bone
from bmes_imaging.detection import automatic_bones
from bmes_imaging.phantom import PhantomSpec, generate_study
from bmes_imaging.volume import Volume

_EDEMA_BONES = ("talus", "calcaneus", "navicular", "cuboid", "medial_cuneiform",
                "first_metatarsal", "tibia")


def _xyz(v: np.ndarray) -> tuple[float, float, float]:
    return float(v[0]), float(v[1]), float(v[2])


def tuning_spec(seed: int, resolution: float) -> PhantomSpec:
    """One tuning foot: VHF bones, size 0.8-1.25, flexion -10..40, strong deformation."""
    rng = np.random.default_rng([seed, 12012])
    k = int(rng.integers(0, 3))
    edema = tuple(str(b) for b in rng.choice(_EDEMA_BONES, size=k, replace=False))
    return PhantomSpec(
        seed=seed, side="R" if seed % 2 == 0 else "L", anatomy="vhf",
        size=float(rng.uniform(0.8, 1.25)), flexion_deg=float(rng.uniform(-10.0, 40.0)),
        deformation=float(rng.uniform(0.5, 1.5)),
        placement=_xyz(rng.uniform(-8.0, 8.0, 3)),
        edema_bones=edema or ("talus",), normal=not edema,
        edema_extent=str(rng.choice(["subchondral", "moderate", "diffuse"])),
        resolution=resolution)


def harsh_spec(seed: int, resolution: float) -> PhantomSpec:
    """:func:`tuning_spec` with flexion 10-40, deformation 1.3-2, placement +-12 mm."""
    rng = np.random.default_rng([seed, 99])
    return dataclasses.replace(
        tuning_spec(seed, resolution), flexion_deg=float(rng.uniform(10.0, 40.0)),
        deformation=float(rng.uniform(1.3, 2.0)),
        placement=_xyz(rng.uniform(-12.0, 12.0, 3)))


def unlike_spec(seed: int, resolution: float) -> PhantomSpec:
    """:func:`tuning_spec` at the ends of every range (see ``--unlike``)."""
    rng = np.random.default_rng([seed, 4242])
    size = (float(rng.uniform(1.15, 1.25)) if rng.uniform() < 2 / 3
            else float(rng.uniform(0.8, 0.85)))
    return dataclasses.replace(
        tuning_spec(seed, resolution), size=size,
        flexion_deg=float(rng.uniform(30.0, 40.0)),
        deformation=float(rng.uniform(1.6, 2.0)),
        placement=_xyz(rng.uniform(-12.0, 12.0, 3)))


def unlike_atlas_scale(seed: int, both: bool = False) -> tuple[float, float, float]:
    """Per-axis scale of the atlas for ``--unlike`` foot ``seed`` (atlas voxel axes:
    medial-lateral, posterior-anterior, inferior-superior): the foot is 10-20 % longer
    (half the feet) or 10-20 % narrower than the atlas, the other axes +-3 %; with
    ``both`` (``--unlike-both``) 10-20 % longer AND narrower, height +-5 %."""
    rng = np.random.default_rng([seed, 4343])
    if not both and rng.uniform() < 0.5:  # longer
        return (float(rng.uniform(0.97, 1.03)), float(1 / rng.uniform(1.1, 1.2)),
                float(rng.uniform(0.97, 1.03)))
    if not both:  # narrower
        return (float(1 / rng.uniform(0.8, 0.9)), float(rng.uniform(0.97, 1.03)),
                float(rng.uniform(0.97, 1.03)))
    return (float(1 / rng.uniform(0.8, 0.9)), float(1 / rng.uniform(1.1, 1.2)),
            float(rng.uniform(0.95, 1.05)))


_ORIGINAL_ATLAS: dict[str, object] = {}


def _original_atlases(sides: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """Each side's packaged atlas as first prepared (kept, so every replacement starts
    from it), after emptying the flexed-atlas cache (keyed by id(): a new atlas may
    reuse an old id)."""
    from bmes_imaging.detection import _atlas

    _atlas._FLEXED_CACHE.clear()
    for side in sides:
        if side not in _ORIGINAL_ATLAS:
            _ORIGINAL_ATLAS[side] = _atlas._atlas_and_template(side)
        a = _ORIGINAL_ATLAS[side]
        assert isinstance(a, _atlas._PreparedAtlas)
        yield side, a


def warp_atlas(seed: int, amp_mm: float = 5.0, aniso: float = 0.08,
               scale: tuple[float, float, float] | None = None,
               sides: tuple[str, ...] = ("R", "L")) -> None:
    """Replace the cached packaged atlases (``sides``) by a smoothly warped copy of the
    packaged atlas (per-axis ``scale``, else drawn in 1 +- ``aniso``)."""
    from scipy import ndimage

    from bmes_imaging.detection import _atlas

    for side, a in _original_atlases(sides):
        lab, grid = np.asarray(a.labels.array), np.indices(a.labels.shape, dtype=np.float32)
        r = np.random.default_rng(seed)
        drawn = 1 + r.uniform(-aniso, aniso, 3)
        scale_v = np.asarray(scale if scale is not None else drawn)
        c = (np.array(lab.shape) - 1) / 2
        src = [(grid[i] - c[i]) / scale_v[i] + c[i] for i in range(3)]
        for _ in range(6):  # atlas voxels are about 1 mm
            k = r.normal(size=3)
            k *= 2 * np.pi / r.uniform(50, 110) / np.linalg.norm(k)
            d = r.normal(size=3)
            d *= amp_mm * r.uniform(0.5, 1.0) / np.linalg.norm(d)
            wave = np.sin(k[0] * grid[0] + k[1] * grid[1] + k[2] * grid[2]
                          + r.uniform(0, 2 * np.pi))
            src = [src[i] + d[i] * wave for i in range(3)]
        coords = np.stack(src)
        lab2 = ndimage.map_coordinates(lab, coords, order=0).astype(np.uint8)
        tm2 = ndimage.map_coordinates(a.template, coords, order=1, mode="nearest")
        _atlas._ATLAS_CACHE[side] = _atlas._PreparedAtlas(
            Volume(lab2, a.labels.affine, a.labels.info), tm2.astype(np.float32),
            a.template_affine)


def _sdf(mask: np.ndarray) -> np.ndarray:
    """Signed distance (voxels), positive inside ``mask``."""
    from scipy import ndimage

    return (ndimage.distance_transform_edt(mask)
            - ndimage.distance_transform_edt(~mask)).astype(np.float32)


def _reshaped_labels(lab: np.ndarray, seed: int) -> np.ndarray:
    """``lab`` (1 mm voxels) with every bone 1-14 reshaped on its own (see
    :func:`reshape_atlas`)."""
    from scipy import ndimage
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng([seed, 5151])
    best = np.full(lab.shape, -np.inf, dtype=np.float32)
    out = np.where(lab > len(Bone), lab, 0).astype(np.uint8)
    shape = np.array(lab.shape)
    for b in range(1, len(Bone) + 1):
        idx = np.argwhere(lab == b)
        if len(idx) < 20:
            continue
        c = idx.mean(axis=0)
        _, vec = np.linalg.eigh(np.cov((idx - c).T))
        u = vec[:, ::-1]  # columns: principal axes, longest first
        s = np.exp(rng.uniform(np.log(0.8), np.log(1.25), 3))
        taper = rng.uniform(-0.15, 0.15)  # width along axis 2 changes along axis 1
        rot = Rotation.from_rotvec(rng.normal(size=3) / np.sqrt(3)
                                   * np.deg2rad(rng.uniform(3, 8))).as_matrix()
        half = (idx.max(axis=0) - idx.min(axis=0)) / 2 + 1
        extent = float(np.abs((idx - c) @ u[:, 0]).max())
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        surf = idx[np.argmax((idx - c) @ d)].astype(float)  # bulge at this surface point
        bulge_mm = rng.uniform(1.5, 3.0) * rng.choice([-1.0, 1.0])
        width = rng.uniform(5.0, 9.0)
        margin = np.ceil(half * 0.3 + 6).astype(int)
        lo = np.maximum(idx.min(axis=0) - margin, 0)
        hi = np.minimum(idx.max(axis=0) + 1 + margin, shape)
        src_lo = np.maximum(idx.min(axis=0) - 3, 0)
        src_hi = np.minimum(idx.max(axis=0) + 4, shape)
        sdf = _sdf(lab[tuple(slice(a, z) for a, z in zip(src_lo, src_hi, strict=True))] == b)
        grid = np.indices(tuple(hi - lo), dtype=np.float32).reshape(3, -1).T + lo
        y = grid - c
        n_out = (surf - c) / max(float(np.linalg.norm(surf - c)), 1e-6)
        surf_new = c + rot @ (u @ (s * (u.T @ (surf - c))))
        y -= (bulge_mm * np.exp(-((grid - surf_new) ** 2).sum(axis=1) / (2 * width ** 2))
              )[:, None] * n_out  # inverse of the bulge (small, smooth)
        q = (u.T @ (rot.T @ y.T)).T  # principal coordinates of the output voxel
        q[:, 1] /= 1 + taper * np.clip(q[:, 0] / max(extent, 1.0), -1, 1)
        src = (u @ (q / s).T).T + c - src_lo
        val = ndimage.map_coordinates(sdf, src.T, order=1, cval=-50.0).reshape(
            tuple(hi - lo))
        box = tuple(slice(a, z) for a, z in zip(lo, hi, strict=True))
        win = (val > 0) & (val > best[box])
        best[box][win] = val[win]
        out[box][win] = b
    return out


def reshape_atlas(seed: int, sides: tuple[str, ...] = ("R", "L")) -> None:
    """Replace the cached packaged atlases by a copy whose bones are reshaped one by one.

    Per bone (``seed``): anisotropic scale 0.8-1.25 along its own principal axes, a
    taper (its second axis 15 % wider or narrower from one end to the other), a rotation
    of 3-8 degrees about its centre and a smooth bulge or dent of 1.5-3 mm (Gaussian,
    5-9 mm wide) at a random point of its surface, all by nearest-label resampling of
    its signed distance; where reshaped bones overlap the one reaching deepest wins. The
    T1 template is re-synthesised like :mod:`bmes_imaging.detection._atlas_template`:
    vacated bone takes the nearest soft-tissue value of the template, new bone is marrow
    (0.95) with a dark cortical rim (0.08, one voxel, also between bones), Gaussian 0.5.
    """
    from scipy import ndimage

    from bmes_imaging.detection import _atlas

    for side, a in _original_atlases(sides):
        lab = np.asarray(a.labels.array)
        new = _reshaped_labels(lab, seed)
        t = a.template
        n = tuple(min(x, y) for x, y in zip(t.shape, lab.shape, strict=True))
        crop = tuple(slice(0, k) for k in n)
        old_bone, new_bone = lab[crop] > 0, new[crop]
        soft = np.zeros(t.shape, dtype=bool)
        soft[crop] = ~old_bone
        _, near = ndimage.distance_transform_edt(~soft, return_indices=True)
        tm = t[tuple(near)].astype(np.float32)  # bone replaced by nearest soft tissue
        rim = np.zeros(n, dtype=bool)
        for ax in range(3):
            for sh in (1, -1):
                rim |= new_bone != np.roll(new_bone, sh, axis=ax)
        sub = tm[crop]
        sub[new_bone > 0] = 0.95
        sub[(new_bone > 0) & rim] = 0.08
        tm = ndimage.gaussian_filter(tm, 0.5).astype(np.float32)
        _atlas._ATLAS_CACHE[side] = _atlas._PreparedAtlas(
            Volume(new, a.labels.affine, a.labels.info), tm, a.template_affine)


def _study(spec: PhantomSpec, tag: str, cache: str | None) -> tuple[Volume, np.ndarray]:
    """(T1, true bones) of ``spec``, from ``cache`` when there."""
    path = os.path.join(cache, f"tune-{spec.seed}-{tag}-{spec.resolution}.pkl") if cache else ""
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            t1, truth = pickle.load(f)
            return t1, truth
    study = generate_study(spec)
    out = (study.t1, study.bones.array)
    if path:
        os.makedirs(cache or ".", exist_ok=True)
        with open(path + ".part", "wb") as f:  # atomic: parallel runs share the cache
            pickle.dump(out, f)
        os.replace(path + ".part", path)
    return out


def _dice(truth: np.ndarray, pred: np.ndarray, b: int) -> float:
    t, p = truth == b, pred == b
    return float(2 * (t & p).sum() / max(int(t.sum() + p.sum()), 1))


def _bones_from_registration(t1: Volume, spec: PhantomSpec, args: argparse.Namespace
                             ) -> Volume:
    """Automatic bones with the registration cached (``--pre-cache``): the labels before
    the image step are computed once per foot and tuning set, the image step each run."""
    from bmes_imaging.detection import _atlas, _boundary

    tag = ("unlike" if args.unlike else "shapes" if args.unlike_shapes
           else f"warped{args.warped_atlas}" if args.warped_atlas is not None
           else "harsh" if args.harsh else "base")
    path = os.path.join(args.pre_cache, f"pre-{spec.seed}-{tag}-{spec.resolution}.npz")
    if not os.path.exists(path):
        seen: dict[str, np.ndarray] = {}

        def capture(t1_: Volume, labels: np.ndarray) -> Any:
            seen["labels"] = labels.copy()
            return labels, {}

        _atlas.image_decides = capture  # type: ignore[assignment]
        try:
            reg = automatic_bones(t1)
        finally:
            _atlas.image_decides = _boundary.image_decides
        os.makedirs(args.pre_cache, exist_ok=True)
        np.savez_compressed(path, labels=seen["labels"], match=reg.info.extra["atlas_match"])
    data = np.load(path)
    labels, _ = _boundary.image_decides(t1, data["labels"])
    return Volume(labels, t1.affine, t1.info.replace(
        sequence="other", extra={"atlas_match": float(data["match"])}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=12, help="number of feet")
    ap.add_argument("--seed0", type=int, default=7000)
    ap.add_argument("--resolution", type=float, default=1.0)
    ap.add_argument("--harsh", action="store_true", help="flexion 10-40, deformation 1.3-2")
    ap.add_argument("--warped-atlas", type=int, default=None, metavar="SEED",
                    help="register with the packaged atlas warped (shapes unlike the feet)")
    ap.add_argument("--warp-mm", type=float, default=5.0)
    ap.add_argument("--unlike", action="store_true",
                    help="feet at the ends of every range, each with its own strongly "
                         "warped, anisotropically scaled atlas (fourth pass)")
    ap.add_argument("--unlike-both", action="store_true",
                    help="with --unlike: the foot longer AND narrower than the atlas")
    ap.add_argument("--unlike-shapes", action="store_true",
                    help="register each foot with its own atlas whose bones are reshaped "
                         "one by one (fifth pass)")
    ap.add_argument("--cache", default=None, help="folder keeping the generated studies")
    ap.add_argument("--pre-cache", default=None,
                    help="sixth pass: keep each foot's registered labels before the image "
                         "step here and apply only the image step of --variant to them "
                         "(CPU then counts the image step alone)")
    ap.add_argument("--variant", default="fourth",
                    help="image-step variant of bench/tune_bone_detector.py (with "
                         "--pre-cache)")
    args = ap.parse_args()
    if args.pre_cache:
        from tune_bone_detector import VARIANTS, _settings
        _settings(**VARIANTS[args.variant])()
    if args.warped_atlas is not None:
        warp_atlas(args.warped_atlas, args.warp_mm)
    per_bone: dict[str, list[float]] = {b.bone_name: [] for b in Bone}
    cpu = []
    for seed in range(args.seed0, args.seed0 + args.n):
        if args.unlike:
            spec = unlike_spec(seed, args.resolution)
            t1, truth = _study(spec, "unlike", args.cache)
            warp_atlas(seed, args.warp_mm, sides=(spec.side,),
                       scale=unlike_atlas_scale(seed, args.unlike_both))
        else:
            spec = (harsh_spec if args.harsh else tuning_spec)(seed, args.resolution)
            t1, truth = _study(spec, "harsh" if args.harsh else "base", args.cache)
            if args.unlike_shapes:
                reshape_atlas(seed)
        t0 = time.process_time()
        if args.pre_cache:
            bones = _bones_from_registration(t1, spec, args)
        else:
            bones = automatic_bones(t1)
        cpu.append(time.process_time() - t0)
        row = []
        for b in Bone:
            if (truth == int(b)).sum() * t1.voxel_volume_ml < 0.5:
                continue  # mostly outside the field of view
            d = _dice(truth, bones.array, int(b))
            per_bone[b.bone_name].append(d)
            row.append(f"{b.bone_name[:5]}={d:.2f}")
        print(f"seed {seed} {spec.side} size {spec.size:.2f} flexion {spec.flexion_deg:5.1f} "
              f"deformation {spec.deformation:.2f} match {bones.info.extra['atlas_match']:.3f} "
              f"cpu {cpu[-1]:.1f} s  " + " ".join(row), flush=True)
    print(f"\n{'bone':24s} median   p10    n")
    for b in Bone:
        v = per_bone[b.bone_name]
        if v:
            print(f"{b.bone_name:24s} {np.median(v):.3f}  {np.percentile(v, 10):.3f}  {len(v)}")
    tarsal = [d for b in Bone if b.tarsal for d in per_bone[b.bone_name]]
    print(f"tarsal pooled: median {np.median(tarsal):.3f}, p10 {np.percentile(tarsal, 10):.3f}")
    print(f"CPU per study (automatic_bones, one thread): median {np.median(cpu):.1f} s, "
          f"max {np.max(cpu):.1f} s")


if __name__ == "__main__":
    main()
