"""Where the automatic bone masks of parametric feet grow: per bone and per stage.

Seventh pass of the automatic bone masks (issue 12, docs/detection.md "Automatic bone
masks"). Every study of the read splits is registered once as
:func:`bmes_imaging.detection._atlas.automatic_bones` does (the functions of
``_atlas`` are wrapped, not changed), and the label volume is kept after each stage:

``global``
    every bone by the whole-foot affine (the 9-parameter fit at 3 mm);
``articulated``
    every bone by the affine of its body (:func:`._refine.articulate`: leg, foot and
    the foot's parts), the start of the per-bone fits;
``per-bone``
    every bone by its own box fit (the fused labels before the image step);
``image``
    after :func:`._boundary.image_decides` (the masks the detector gets).

Printed per stage, bone and anatomy family (VHF / parametric), the median over studies
against the true bones (on the T1 grid) of: the volume ratio automatic / true, the
centroid offset (mm), the ratio of the three principal-axis lengths (largest, middle,
smallest; sqrt of the covariance eigenvalues of the voxel centres), the Dice, and the
part of the automatic mask outside every true bone. Per study, the scale of the affines
(cube root of the determinant) against the foot size drawn for the phantom, and the
"affine volume ratio" ``affvol`` (atlas bone volume x determinant of its per-bone
affine / true volume), which tells a registration that enlarged the bone from a
resampling that did, and ``sizevol`` (atlas bone volume x the drawn foot size cubed /
true volume). ``--probe`` adds, per bone, the per-bone NMI cost and the T1 edge fit
(:func:`._refine.edge_quality`) of its fit scaled about its centre, against the scale the
truth needs; ``--atlas-volumes`` the parametric anatomies' bone volumes against the VHF
atlas' at equal foot size.

ONLY the read splits ``sealed``, ``vault`` and (from the eighth pass on) ``crypt``
(cached by ``bench/bench_detection.py``) are tuning material here: the eighth split
``reserve`` and the evaluation seed offsets are refused.

Run::

    .venv/bin/python bench/diagnose_bone_volume.py --split vault --split sealed \
        --studies 0:32 --family parametric --probe --atlas-volumes
"""

from __future__ import annotations

import os

os.environ.setdefault("BMES_DETECTION_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bmes_imaging.bones import Bone
from bmes_imaging.detection import _atlas
from bmes_imaging.detection._config import DetectionConfig
from bmes_imaging.detection._refine import group_of
from bmes_imaging.phantom import cohort_specs, default_cache_dir
from bmes_imaging.volume import load_nifti

_READ_SPLITS = ("sealed", "vault", "crypt")
_REFUSED_SPLITS = ("reserve", "ledger")
STAGES = ("global", "articulated", "per-bone", "image")


def _load_t1(folder: Path) -> Any:
    from bmes_imaging.dicom import index_folder, load_series

    t1 = next(s for s in index_folder(folder / "dicom").stacks if s.sequence == "t1")
    return load_series(t1)


def _affine_scale(m: NDArray[np.float64]) -> float:
    return float(abs(np.linalg.det(m[:3, :3])) ** (1.0 / 3.0))


def register_stages(t1: Any) -> tuple[dict[str, NDArray[np.uint8]], dict[str, Any]]:
    """Label volume after each stage of ``automatic_bones`` and the affines used."""
    real_fuse, real_art, real_id = _atlas._fuse, _atlas.articulate, _atlas.image_decides
    seen: dict[str, Any] = {"groups": {}}

    def fuse(t1_: Any, a: Any, glob: Any, per_bone: Any) -> Any:
        seen["last"] = (a, glob, per_bone)
        return real_fuse(t1_, a, glob, per_bone)

    def art(glob: Any, fit: Any, present: Any) -> Any:
        g = real_art(glob, fit, present)
        seen["groups"][glob.tobytes()] = g
        return g

    def image(t1_: Any, labels: Any) -> Any:
        seen["before"] = labels.copy()
        out = real_id(t1_, labels)
        seen["after"] = out[0].copy()
        return out

    _atlas._fuse, _atlas.articulate, _atlas.image_decides = fuse, art, image
    try:
        _atlas.automatic_bones(t1, DetectionConfig())
    finally:
        _atlas._fuse, _atlas.articulate, _atlas.image_decides = real_fuse, real_art, real_id
    a, glob, per_bone = seen["last"]
    groups = seen["groups"].get(glob.tobytes(), {})
    starts = {}
    for lab in a.masks:
        part = group_of(lab)
        starts[lab] = groups.get(part or "", groups.get("foot" if lab <= 12 else "leg", glob))
    labels = {"global": real_fuse(t1, a, glob, {}),
              "articulated": real_fuse(t1, a, glob, starts),
              "per-bone": seen["before"], "image": seen["after"]}
    aff_probe = scale_probe(t1, a, per_bone) if PROBE_SCALES else {}
    edge = edge_probe(t1, a, glob, per_bone) if PROBE_SCALES else {}
    atlas_ml = {lab: float(m.sum() * abs(np.linalg.det(maff[:3, :3])) / 1000.0)
                for lab, (m, maff) in a.masks.items()}
    aff = {"global": _affine_scale(glob),
           "articulated": {lab: _affine_scale(s) for lab, s in starts.items()},
           "per-bone": {lab: _affine_scale(per_bone.get(lab, glob)) for lab in a.masks},
           "atlas_ml": atlas_ml,
           "probe": aff_probe, "edge_probe": edge,
           "flexed": all(a is not c for c in _atlas._ATLAS_CACHE.values())}
    return labels, aff


#: Isotropic scales about each bone's centre at which its per-bone NMI cost is probed
#: (``--probe``): does the registration's cost prefer a smaller bone?
PROBE_SCALES: tuple[float, ...] = ()


def scale_probe(t1: Any, a: Any, per_bone: dict[int, NDArray[np.float64]]
                ) -> dict[int, list[float]]:
    """Per bone, the per-bone NMI cost (as the box fit sees it) of its fitted affine
    scaled isotropically about the bone's centre by each of :data:`PROBE_SCALES`."""
    from bmes_imaging.detection._align import _block_mean
    from bmes_imaging.geometry import apply_affine

    sch = _atlas._SCHEDULE
    tmpl, _, _ = a.profiled_for(t1)
    fixed3, faff3 = _block_mean(t1, sch.bone_spacing_mm)
    fitter = _atlas._BoxFitter(t1, fixed3, faff3, tmpl, a.template_affine, a, sch,
                               np.random.default_rng(11))
    out: dict[int, list[float]] = {}
    for lab, m in sorted(per_bone.items()):
        prep = fitter.prepare([lab], m, 2 * sch.bone_points)
        if prep is None:
            continue
        matcher = prep[0]
        c = apply_affine(m, a.points[lab]).mean(axis=0)
        costs = []
        for sc in PROBE_SCALES:
            t = np.eye(4)
            t[:3, :3] *= sc
            t[:3, 3] = c - sc * c
            costs.append(float(matcher.cost(t @ m)))
        out[lab] = costs
    return out


#: Scales of :func:`edge_probe` (every bone at once, about its own centre).
EDGE_SCALES = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05)


def edge_probe(t1: Any, a: Any, glob: NDArray[np.float64],
               per_bone: dict[int, NDArray[np.float64]]) -> dict[int, list[float]]:
    """Per bone, :func:`._refine.edge_quality` of the fused masks with every bone's
    per-bone affine scaled about its centre by each of :data:`EDGE_SCALES`: does the
    T1 cortex prefer the right size, where the NMI does not?"""
    from bmes_imaging.detection._refine import edge_quality
    from bmes_imaging.geometry import apply_affine

    out: dict[int, list[float]] = {}
    for sc in EDGE_SCALES:
        scaled = {}
        for lab in a.masks:
            m = per_bone.get(lab, glob)
            c = apply_affine(m, a.points[lab]).mean(axis=0)
            t = np.eye(4)
            t[:3, :3] *= sc
            t[:3, 3] = c - sc * c
            scaled[lab] = t @ m
        fit = edge_quality(t1.array, t1.voxel_sizes, _atlas._fuse(t1, a, glob, scaled))
        for lab in a.masks:
            out.setdefault(lab, []).append(float(fit.get(lab, np.nan)))
    return out


def bone_stats(truth: NDArray[np.integer], auto: NDArray[np.integer],
               affine: NDArray[np.float64], label: int) -> dict[str, float] | None:
    """Volume ratio, centroid offset (mm), axis-length ratios, Dice, outside fraction."""
    t, a = truth == label, auto == label
    if not t.any():
        return None
    vox = abs(np.linalg.det(affine[:3, :3]))
    if not a.any():
        return {"vol": 0.0, "dice": 0.0, "true_ml": float(t.sum() * vox / 1000)}

    def geom(m: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        w = np.argwhere(m) @ affine[:3, :3].T + affine[:3, 3]
        c = w.mean(axis=0)
        ev = np.sort(np.linalg.eigvalsh(np.cov((w - c).T) if len(w) > 3 else np.eye(3)))
        return c, np.sqrt(np.maximum(ev[::-1], 1e-9))

    ct, at = geom(t)
    ca, aa = geom(a)
    inter = float((t & a).sum())
    return {"vol": float(a.sum() / t.sum()), "off": float(np.linalg.norm(ca - ct)),
            "ax0": float(aa[0] / at[0]), "ax1": float(aa[1] / at[1]),
            "ax2": float(aa[2] / at[2]), "dice": 2 * inter / float(a.sum() + t.sum()),
            "outside": float((a & (truth == 0)).sum() / a.sum()),
            "other": float((a & (truth > 0) & ~t).sum() / a.sum()),
            "true_ml": float(t.sum() * vox / 1000)}


def _studies(split: str, lo: int, hi: int) -> list[tuple[str, Path, dict[str, Any]]]:
    """The cached studies ``lo:hi`` of a read split (as ``bench_detection.generate``)."""
    cache = default_cache_dir(split)
    out = []
    for name, spec in cohort_specs(split, n=64, resolution=1.0)[lo:hi]:
        if not (cache / name / "truth" / "phantom.json").exists():
            sys.exit(f"{cache / name} is not cached: run bench/bench_detection.py first")
        out.append((name, cache / name, dataclasses.asdict(spec)))
    return out


def _med(v: list[float]) -> str:
    v = [x for x in v if np.isfinite(x)]
    return f"{np.median(v):5.2f}" if v else "    -"


def _report(rows: list[dict[str, Any]], family: str) -> None:
    sel = [r for r in rows if family == "all" or r["anatomy"] == family]
    n = len({r["study"] for r in sel})
    print(f"\n== {family}: {n} studies (medians over studies; vol = automatic/true "
          f"volume, off = centroid offset mm, ax = principal-axis length ratios "
          f"largest/middle/smallest, out = part of the mask outside every bone, "
          f"oth = part in another bone)")
    for stage in STAGES:
        print(f"-- stage {stage}")
        print(f"{'bone':<22} {'vol':>5} {'off':>5} {'ax0':>5} {'ax1':>5} {'ax2':>5} "
              f"{'dice':>5} {'out':>5} {'oth':>5}  {'affvol':>6} {'sizevol':>7}")
        allv: list[float] = []
        for b in Bone:
            rs = [r for r in sel if r["stage"] == stage and r["bone"] == int(b)]
            if not rs:
                continue
            allv += [r["vol"] for r in rs]
            col = {k: _med([r.get(k, np.nan) for r in rs])
                   for k in ("vol", "off", "ax0", "ax1", "ax2", "dice", "outside", "other",
                             "affvol", "sizevol")}
            print(f"{b.bone_name:<22} {col['vol']} {col['off']} {col['ax0']} {col['ax1']} "
                  f"{col['ax2']} {col['dice']} {col['outside']} {col['other']}  "
                  f"{col['affvol']:>6} {col['sizevol']:>7}")
        if allv:
            print(f"{'all bones':<22} {_med(allv)}  (10th-90th pct "
                  f"{np.percentile(allv, 10):.2f}-{np.percentile(allv, 90):.2f})")


def _study_line(name: str, spec: dict[str, Any], aff: dict[str, Any],
                rows: list[dict[str, Any]]) -> str:
    vols = {s: np.median([r["vol"] for r in rows if r["stage"] == s]) for s in STAGES}
    return (f"  {name[:28]:<28} {spec['anatomy']:<10} size {spec['size']:.2f} flex "
            f"{spec.get('flexion_deg', 0):4.1f} slice {spec.get('slice_mm', 0):.1f} "
            f"glob scale {aff['global']:.2f} flexed-atlas {int(aff['flexed'])} | median vol "
            + " ".join(f"{s} {vols[s]:.2f}" for s in STAGES))


def _probe_report(probes: list[dict[str, Any]]) -> None:
    """Per family and bone: the scale the per-bone cost prefers against the one the
    truth needs (true / per-bone-stage volume, cube root)."""
    scales = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1)
    print("\nscale probe (isotropic, about each bone's centre, from its per-bone fit): "
          "median best-cost scale / median needed scale, and the median cost rise at "
          "the needed scale over 1.0 (negative: the cost prefers the right size)")
    for fam in ("vhf", "parametric"):
        ps = [p for p in probes if p["anatomy"] == fam]
        if not ps:
            continue
        parts = []
        for b in Bone:
            pb = [p for p in ps if p["bone"] == int(b)]
            if not pb:
                continue
            best = [scales[int(np.argmin(p["costs"]))] for p in pb]
            need = [p["need"] for p in pb]
            rise = [float(np.interp(min(max(p["need"], 0.7), 1.1), scales, p["costs"])
                          - p["costs"][scales.index(1.0)]) for p in pb]
            parts.append(f"{b.bone_name[:10]} {np.median(best):.2f}/{np.median(need):.2f}"
                         f" ({np.median(rise):+.3f})")
        print(f"{fam}: " + "; ".join(parts))
        edge = []
        for b in Bone:
            pe = [p for p in ps if p["bone"] == int(b) and p.get("edge")
                  and np.isfinite(p["edge"]).any()]
            if pe:
                best = [EDGE_SCALES[int(np.nanargmax(p["edge"]))] for p in pe]
                edge.append(f"{b.bone_name[:10]} {np.median(best):.2f}/"
                            f"{np.median([p['need'] for p in pe]):.2f}")
        if edge:
            pe = [p for p in ps if p.get("edge") and np.isfinite(p["edge"]).any()]
            best = [EDGE_SCALES[int(np.nanargmax(p["edge"]))] for p in pe]
            need = [p["need"] for p in pe]
            err = np.abs(np.array(best) - np.array(need))
            print(f"{fam}, best T1 edge fit (edge_quality) scale / needed: "
                  + "; ".join(edge) + f"\n  over {len(pe)} bones: rank correlation of the "
                  f"best edge scale with the needed one {_rank_corr(best, need):+.2f}; "
                  f"within 0.05 of it {np.mean(err <= 0.05):.0%} (scale 1.0, as today: "
                  f"{np.mean(np.abs(1.0 - np.array(need)) <= 0.05):.0%})")


def atlas_volumes(seeds: list[int]) -> None:
    """Per bone, the volume of each study's parametric anatomy (0.5 mm, before its pose
    and size) against the packaged VHF atlas': the bones' size at equal foot size."""
    from bmes_imaging.anatomy import atlas as vhf_atlas
    from bmes_imaging.anatomy._classes import bone_label_of
    from bmes_imaging.phantom._parametric import parametric_atlas

    def vols(a: Any) -> NDArray[np.float64]:
        c = np.bincount(bone_label_of(a.codes).reshape(-1), minlength=16)
        return np.asarray(c * a.pitch ** 3 / 1000.0, dtype=np.float64)

    ref = vols(vhf_atlas())
    ratio = np.array([vols(parametric_atlas(sd)) / np.maximum(ref, 1e-9) for sd in seeds])
    print(f"\nparametric anatomy / VHF atlas, bone volume at equal foot size "
          f"({len(seeds)} feet; median, range):")
    for b in Bone:
        r = ratio[:, int(b)]
        print(f"{b.bone_name:<22} VHF {ref[int(b)]:5.1f} ml  {np.median(r):.2f} "
              f"({r.min():.2f}-{r.max():.2f})")


def _rank_corr(x: list[float], y: list[float]) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1]) if len(x) > 2 else float("nan")


def _factors(per_study: list[dict[str, Any]]) -> None:
    """Per family: the whole-foot scale against the drawn size, and which study factor
    goes with the tarsal masks' volume ratio (rank correlation)."""
    for fam in ("vhf", "parametric"):
        ps = [p for p in per_study if p["anatomy"] == fam and np.isfinite(p["tarsal_vol"])]
        if not ps:
            continue
        g = [p["glob_over_size"] for p in ps]
        v = [p["tarsal_vol"] for p in ps]
        print(f"{fam}: {len(ps)} studies; whole-foot scale / drawn size median {np.median(g):.2f}"
              f" (10th-90th pct {np.percentile(g, 10):.2f}-{np.percentile(g, 90):.2f}); "
              f"tarsal volume ratio (image stage, median per study) median {np.median(v):.2f}"
              "; rank correlation with it: "
              + ", ".join(f"{k} {_rank_corr([p[k] for p in ps], v):+.2f}"
                          for k in ("size", "flexion", "slice", "glob_over_size")))
        sz = np.array([p["size"] for p in ps])
        gs = np.array(g) * sz
        small, large = sz < 0.95, sz >= 1.1
        print(f"{fam}: whole-foot scale / size {np.median(np.array(g)[small]):.2f} on the "
              f"{small.sum()} feet of size < 0.95, {np.median(np.array(g)[large]):.2f} on "
              f"the {large.sum()} of size >= 1.1; slope of the scale against the size "
              f"{np.polyfit(sz, gs, 1)[0]:.2f}")
        refit = [r for p in ps for r in p["refit"]]
        print(f"{fam}: per-bone fit's linear scale change (per-bone / articulated) median "
              f"{np.median(refit):.3f} (10th-90th pct {np.percentile(refit, 10):.3f}-"
              f"{np.percentile(refit, 90):.3f}; below 0.9: {np.mean(np.array(refit) < 0.9):.0%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", action="append", required=True,
                    help="read detection split(s): sealed, vault, crypt (repeatable)")
    ap.add_argument("--studies", default="0:32", help="slice of each split's studies")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="only 0 (the cached read splits); evaluation offsets are refused")
    ap.add_argument("--family", choices=("parametric", "vhf", "all"), default="all")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/diagnose-bone-volume"),
                    help="stage labels and affines, one file per study")
    ap.add_argument("--probe", action="store_true",
                    help="also probe each bone's NMI cost at scales 0.7-1.1 of its fit")
    ap.add_argument("--atlas-volumes", action="store_true",
                    help="also compare the parametric anatomies' bone volumes with the "
                    "VHF atlas' (about 5 s per foot)")
    args = ap.parse_args()
    if args.probe:
        global PROBE_SCALES
        PROBE_SCALES = (0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1)
    for split in args.split:
        if split in _REFUSED_SPLITS or split not in _READ_SPLITS:
            sys.exit(f"refused: split {split!r} is not tuning material "
                     f"(only {', '.join(_READ_SPLITS)})")
    if args.seed_offset != 0:
        sys.exit(f"refused: --seed-offset {args.seed_offset} (evaluation material); only "
                 "the cached read splits are diagnosed")
    lo, hi = (int(x) for x in args.studies.split(":"))
    args.cache.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    lines = []
    per_study: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    for split in args.split:
        for name, folder, spec in _studies(split, lo, hi):
            if args.family != "all" and spec["anatomy"] != args.family:
                continue
            path = args.cache / f"{name}.npz"
            truth_vol = load_nifti(folder / "truth" / "bones.nii.gz")
            if not path.exists():
                t0 = time.process_time()
                t1 = _load_t1(folder)
                labels, aff = register_stages(t1)
                arrays: dict[str, Any] = {s: labels[s] for s in STAGES}
                np.savez_compressed(path, affine=t1.affine, aff=json.dumps(aff), **arrays)
                print(f"  registered {name} ({time.process_time() - t0:.1f} s CPU)",
                      flush=True)
            data = np.load(path)
            aff = json.loads(str(data["aff"]))
            affine = data["affine"]
            truth = np.asarray(truth_vol.array)
            assert truth.shape == data["image"].shape, name
            study_rows = []
            for stage in STAGES:
                for b in Bone:
                    s = bone_stats(truth, data[stage], affine, int(b))
                    if s is None:
                        continue
                    key = str(int(b))
                    src = "per-bone" if stage == "image" else stage
                    scale = (aff[src][key] if src in ("articulated", "per-bone")
                             and key in aff[src] else aff["global"])
                    if key in aff["atlas_ml"] and s["true_ml"] > 0:
                        s["affvol"] = aff["atlas_ml"][key] * scale ** 3 / s["true_ml"]
                        s["sizevol"] = (aff["atlas_ml"][key] * float(spec["size"]) ** 3
                                        / s["true_ml"])
                    study_rows.append({"study": name, "anatomy": spec["anatomy"],
                                       "stage": stage, "bone": int(b), **s})
            rows += study_rows
            lines.append(_study_line(name, spec, aff, study_rows))
            tars = [r["vol"] for r in study_rows if r["stage"] == "image"
                    and Bone(r["bone"]).tarsal]
            if aff.get("probe"):
                for key, costs in aff["probe"].items():
                    vol = [r["vol"] for r in study_rows if r["stage"] == "per-bone"
                           and r["bone"] == int(key) and r["vol"] > 0]
                    if vol:
                        probes.append({"anatomy": spec["anatomy"], "bone": int(key),
                                       "costs": costs, "need": vol[0] ** (-1 / 3),
                                       "edge": aff.get("edge_probe", {}).get(key)})
            per_study.append({"refit": [aff["per-bone"][k] / aff["articulated"][k]
                                        for k in aff["per-bone"]],
                              "anatomy": spec["anatomy"], "size": float(spec["size"]),
                              "flexion": float(spec["flexion_deg"]),
                              "slice": float(spec["slice_mm"]),
                              "glob_over_size": aff["global"] / float(spec["size"]),
                              "tarsal_vol": float(np.median(tars)) if tars else np.nan})
    print("\nper study:")
    print("\n".join(lines))
    _factors(per_study)
    if probes:
        _probe_report(probes)
    if args.atlas_volumes:
        atlas_volumes([int(spec["seed"]) for split in args.split
                       for _, _, spec in _studies(split, lo, hi)
                       if spec["anatomy"] == "parametric"])
    for fam in ("vhf", "parametric"):
        if any(r["anatomy"] == fam for r in rows):
            _report(rows, fam)


if __name__ == "__main__":
    main()
