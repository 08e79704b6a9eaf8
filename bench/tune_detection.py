"""Choose the detector's decision defaults on the phantom *tuning* cohort (issue 11).

Run from the repository root::

    .venv/bin/python bench/tune_detection.py                 # 30 tuning studies
    .venv/bin/python bench/tune_detection.py -n 12           # fewer, for a smoke run
    .venv/bin/python bench/tune_detection.py --set fluid_z_min=2.5 --set evidence_min=5

Only ``draw_spec(i, "tune")`` studies are used (``bmes_imaging.phantom._distribution``);
the evaluation split is never generated here, so nothing is chosen on it. Generated
studies and their aligned fluid series are cached under ``/tmp/bmes_tune_cache`` (or
``--cache``), so trying another setting re-runs only the comparison and the findings.

With the true bone masks given, it prints (the truth being the edema the fluid
series covers, as in ``bench/bench_detection.py``) bone-level sensitivity and specificity, pooled
voxel Dice, the sensitivity for lesions with fluid >= 2x normal marrow and T1 drop >=
20 %, sensitivity by fluid contrast, the missed and false bones, and the median time of
``detect_edema`` (alignment included) on the studies it generated in this run.

``--split holdout`` (fifth round) reads the burned ``holdout`` split instead (its written
studies in ``~/.cache/bmes-imaging/phantom-holdout``, made by ``bench/bench_detection.py
--split holdout``; loaded, aligned and cached once under ``<cache>/holdout``), and
``--bones auto`` compares with the automatic bone masks (registered once per study with the
bone-mask code of the day and cached; the truth bones still say which bones are
positive). ``--split sealed`` (sixth round) reads the ``sealed`` split the same way (run
once with the fifth round's defaults, read since), and ``--split vault`` (seventh round)
the ``vault`` split (the sixth round's evaluation set, run once with the sixth round's
defaults, read since), and ``--split crypt`` (eighth round) the ``crypt`` split (the
seventh round's evaluation set, run once with the seventh round's defaults, read since).
The ``reserve`` split, the eighth round's evaluation set, is never read here.

Targets (issue 11, measured on the evaluation cohort by ``bench/bench_detection.py``):
sensitivity >= 0.95, specificity >= 0.95, Dice >= 0.80, strong-lesion sensitivity >= 0.97.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("BMES_DETECTION_THREADS", "1")

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.detection import DetectionConfig, detect_edema
from bmes_imaging.detection._compare import compute_ratios, flag_edema
from bmes_imaging.detection._evaluate import Evaluation, StudyScore, score_arrays
from bmes_imaging.detection._findings import findings_from_ratios
from bmes_imaging.phantom import PhantomSpec, cohort_specs, default_cache_dir, generate_study
from bmes_imaging.phantom._distribution import draw_spec, tune_corner_specs

#: written splits read for tuning (eighth round: crypt too); never ``reserve``, the
#: eighth round's evaluation set
READ_SPLITS = ("holdout", "sealed", "vault", "crypt")


#: Seventh round: a tuning family of the weak kind (small subchondral lesions of thin
#: bones in 4-5 mm slices, the fluid series often in another plane, STIR 1.8-2.5x, T1
#: drop 15-25 %) and as many normal feet of the same acquisition, all from TUNING seeds
#: ``draw_spec(WEAK_INDEX + k, "tune")``, far above the tuning split's own indices.
WEAK_INDEX = 5_000_000
_THIN_BONES = ("medial_cuneiform", "intermediate_cuneiform", "lateral_cuneiform",
               "first_metatarsal", "second_metatarsal", "third_metatarsal",
               "fourth_metatarsal", "fifth_metatarsal")
_PLANES = ("sagittal", "axial", "coronal")


def weak_family_specs(n: int) -> list[tuple[str, PhantomSpec]]:
    """``n`` studies of the weak family: even ``k`` a small lesion, odd ``k`` normal.

    Study ``k`` is ``draw_spec(WEAK_INDEX + k, "tune")`` with, drawn from a generator
    seeded by ``k``: slice 4-5 mm, the fluid plane (sagittal, axial, coronal in turn
    per pair), and for lesions one thin bone, STIR 1.8-2.5x and T1 ratio 0.75-0.85.
    """
    out: list[tuple[str, PhantomSpec]] = []
    for k in range(n):
        rng = np.random.default_rng([k, 7])
        spec = draw_spec(WEAK_INDEX + k, "tune")
        plane = _PLANES[(k // 2) % 3]
        changes: dict[str, Any] = {"slice_mm": round(float(rng.uniform(4.0, 5.0)), 2),
                                   "fluid_plane": plane}
        if k % 2 == 0:
            bone = _THIN_BONES[int(rng.integers(len(_THIN_BONES)))]
            changes.update(normal=False, edema_bones=(bone,), edema_extent="subchondral",
                           edema_fluid_ratio=round(float(rng.uniform(1.8, 2.5)), 2),
                           edema_t1_ratio=round(float(rng.uniform(0.75, 0.85)), 2))
            name = f"weak{k:03d}_{bone}_{plane}"
        else:
            changes.update(normal=True)
            name = f"weak{k:03d}_normal_{plane}"
        out.append((name, dataclasses.replace(spec, **changes)))
    return out


def _cached_study(key: str, spec: PhantomSpec, cache: Path, times: list[float]
                  ) -> dict[str, Any]:
    """Arrays of tuning study ``key``: T1, aligned fluid, coverage, true bones and edema."""
    path = cache / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        data["spec"] = json.loads(str(data["spec"]))
        return data
    study = generate_study(spec)
    t0 = time.perf_counter()
    res = detect_edema(study.t1, study.stir, bones=study.bones)
    times.append(time.perf_counter() - t0)
    fl = np.asarray(res.fluid_aligned.array, dtype=np.float32)
    data = {"t1": np.asarray(study.t1.array, np.float32), "fluid": fl,
            "covered": fl != 0, "voxel_sizes": np.asarray(study.t1.voxel_sizes),
            "bones": np.asarray(res.bones.array), "edema": np.asarray(study.edema.array),
            "spec": json.dumps(spec.to_dict())}
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **data)
    tmp.rename(path)
    data["spec"] = spec.to_dict()
    return data


def _holdout_study(name: str, cache: Path, times: list[float], auto: bool,
                   split: str = "holdout") -> dict[str, Any]:
    """Arrays of written study ``name`` of a read split (``holdout``, ``sealed``,
    ``vault`` or ``crypt``; as :func:`_cached_study`), with its
    visible truth (``bench_detection.visible_truth``) and, with ``auto``, the automatic
    bone masks (``auto_bones``)."""
    from bench_detection import visible_truth

    from bmes_imaging.dicom import load_series
    from bmes_imaging.study import index_study_folder

    if split not in READ_SPLITS:  # never the evaluation split
        raise SystemExit(f"split {split!r} is not a read split")
    folder = default_cache_dir(split) / name
    path = cache / split / f"{name}.npz"
    apath = cache / split / f"{name}.auto.npz"
    data: dict[str, Any] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    if auto and apath.is_file():
        with np.load(apath, allow_pickle=False) as z:
            data["auto_bones"] = z["auto_bones"]
    if not data or (auto and "auto_bones" not in data):
        _, pairing = index_study_folder(folder / "dicom")
        pair = pairing.pairs[0]
        t1, fluid = load_series(pair.t1), load_series(pair.fluid)
        if not path.is_file():
            edema, bones = visible_truth(folder)
            t0 = time.perf_counter()
            res = detect_edema(t1, fluid, bones=bones)
            times.append(time.perf_counter() - t0)
            fl = np.asarray(res.fluid_aligned.array, dtype=np.float32)
            meta = json.loads((folder / "truth" / "phantom.json").read_text())["details"]
            data = {"t1": np.asarray(t1.array, np.float32), "fluid": fl,
                    "covered": fl != 0, "voxel_sizes": np.asarray(t1.voxel_sizes),
                    "bones": np.asarray(res.bones.array),
                    "visible": np.asarray(edema.array),
                    "spec": json.dumps({"edema_fluid_ratio": meta["edema_fluid_ratio"],
                                        "edema_t1_ratio": meta["edema_t1_ratio"],
                                        "edema_bones": sorted(meta["edema_extents"]),
                                        "edema_extent": meta["edema_extents"],
                                        "fluid": meta.get("fluid_plane")})}
            _save(path, data)
        if auto:
            res = detect_edema(t1, fluid)
            data["auto_bones"] = np.asarray(res.bones.array)
            _save(apath, {"auto_bones": data["auto_bones"]})
    data["spec"] = json.loads(str(data["spec"]))
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **data)
    tmp.rename(path)


def _run(data: dict[str, Any], cfg: DetectionConfig, bones_key: str = "bones"
         ) -> tuple[np.ndarray, list[Any]]:
    vs = data["voxel_sizes"]
    ratios = compute_ratios(data["t1"], data["fluid"], data[bones_key], data["covered"], vs,
                            cfg)
    edema = flag_edema(ratios, vs, cfg, data["t1"].shape)
    findings, _ = findings_from_ratios(ratios, edema, float(np.prod(vs)) / 1000.0, cfg)
    return edema, findings


def _parse_set(items: list[str]) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(DetectionConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--set {item}: DetectionConfig has no field {key!r}")
        kind = type(getattr(DetectionConfig(), key))
        out[key] = (value.lower() in ("1", "true", "yes")) if kind is bool else kind(value)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=30, help="tuning studies (default 30)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bmes_tune_cache"))
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="DetectionConfig override (repeatable)")
    ap.add_argument("--corners", choices=("no", "also", "only"), default="also",
                    help="the tuning split's corner cases (TUNE_CORNERS): added after the "
                         "n drawn studies (default), left out, or alone")
    ap.add_argument("--weak", type=int, default=0, metavar="N",
                    help="seventh round: N studies of the weak tuning family "
                         "(weak_family_specs; half small thin-bone lesions, half normal) "
                         "instead of the drawn studies and corners")
    ap.add_argument("--split", choices=("tune", *READ_SPLITS), default="tune",
                    help="the tuning split (default) or a read split: holdout (48 "
                         "written studies), sealed (64; run once in the fifth round, "
                         "read since), vault (64; run once in the sixth round, read "
                         "since) or crypt (64; run once in the seventh round, read "
                         "since); -n and --corners do not apply")
    ap.add_argument("--bones", choices=("given", "auto"), default="given",
                    help="true bone masks (default) or automatic ones (cached once)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per study")
    args = ap.parse_args()
    cfg = DetectionConfig(**_parse_set(args.set))
    scores: list[StudyScore] = []
    strong = [0, 0]  # found, total: lesions with fluid >= 2x and T1 drop >= 20 %
    by_contrast: dict[str, list[int]] = {}
    times: list[float] = []
    hidden = 0  # lesions outside the fluid series (left out of the truth)
    studies: list[tuple[str, PhantomSpec]] = []
    auto = args.bones == "auto"
    if args.split in READ_SPLITS:
        studies = cohort_specs(args.split)
    elif args.weak:
        studies = weak_family_specs(args.weak)
    else:
        if args.corners != "only":
            studies += [(f"tune_{i:03d}", draw_spec(i, "tune")) for i in range(args.n)]
        if args.corners != "no":
            studies += tune_corner_specs()
    for key, spec_obj in studies:
        if args.split in READ_SPLITS:
            data = _holdout_study(key, args.cache, times, auto, args.split)
        else:
            data = _cached_study(key, spec_obj, args.cache, times)
            if auto:
                apath = args.cache / f"{key}.auto.npz"
                if not apath.is_file():
                    study = generate_study(spec_obj)
                    res = detect_edema(study.t1, study.stir)
                    _save(apath, {"auto_bones": np.asarray(res.bones.array)})
                with np.load(apath, allow_pickle=False) as z:
                    data["auto_bones"] = z["auto_bones"]
        spec = data["spec"]
        edema, _ = _run(data, cfg, "auto_bones" if auto else "bones")
        vml = float(np.prod(data["voxel_sizes"])) / 1000.0
        # the truth is the edema visible on both series (as bench_detection.py): a
        # lesion the fluid series does not cover cannot be seen by anyone
        if "visible" in data:  # holdout: the bench's own visible truth
            data["edema"] = visible = data["visible"]
        else:
            visible = np.where(data["covered"], data["edema"], 0)
        s = score_arrays(visible, edema, vml, truth_bones=data["bones"], name=key)
        hidden += sum(1 for b in np.unique(data["edema"][data["edema"] > 0])
                      if np.sum(data["edema"] == b) * vml >= 0.05
                      and np.sum(visible == b) * vml < 0.05)
        scores.append(s)
        fr, t1r = spec.get("edema_fluid_ratio"), spec.get("edema_t1_ratio")
        if s.tp or s.fn:
            bucket = ("1.8-2" if fr < 2 else "2-3" if fr < 3 else "3-5" if fr < 5 else "5-8")
            acc = by_contrast.setdefault(bucket, [0, 0])
            acc[0] += len(s.tp)
            acc[1] += len(s.tp) + len(s.fn)
            if fr >= 2.0 and t1r <= 0.80:
                strong[0] += len(s.tp)
                strong[1] += len(s.tp) + len(s.fn)
        if args.verbose or s.fn or s.fp:
            print(f"{key} {spec.get('edema_bones')} {spec.get('edema_extent')} "
                  f"normal {spec.get('normal')} fluid {fr} t1 {t1r} "
                  f"fs {spec.get('fat_suppression')} "
                  f"snr {spec.get('snr')} {spec.get('fluid')} red {spec.get('red_marrow')}: "
                  f"dice {s.dice:.3f} missed {[b.bone_name for b in s.fn]} "
                  f"false {[b.bone_name for b in s.fp]}", flush=True)
    ev = Evaluation(scores)
    n_c = len(studies) - (args.n if args.corners != "only" else 0)
    masks = "automatic bone masks" if auto else "true bone masks given"
    if args.split in READ_SPLITS:
        print(f"\n{len(studies)} {args.split} studies (read split), {masks}")
    elif args.weak:
        print(f"\n{len(studies)} studies of the weak tuning family (draw_spec({WEAK_INDEX} "
              f"+ k, 'tune'); half small thin-bone lesions, half normal), {masks}")
    else:
        print(f"\n{len(studies)} tuning studies ({args.n if args.corners != 'only' else 0} "
              f"drawn: draw_spec(i, 'tune'); {n_c} tuning corner cases), {masks}")
    print(f"lesions outside the fluid series, left out of the truth: {hidden}")
    print(f"bone-level sensitivity {ev.sensitivity:.3f} (>= 0.95), specificity "
          f"{ev.specificity:.3f} (>= 0.95)")
    print(f"voxel Dice pooled {ev.dice:.3f} (>= 0.80), mean per study {ev.mean_dice:.3f}")
    if strong[1]:
        print(f"lesions fluid >= 2x and T1 drop >= 20 %: sensitivity "
              f"{strong[0] / strong[1]:.3f} ({strong[0]}/{strong[1]}, >= 0.97)")
    print("sensitivity by fluid contrast: " + ", ".join(
        f"{k}x {v[0]}/{v[1]}" for k, v in sorted(by_contrast.items())))
    if times:
        print(f"detect_edema with given bones (one thread, alignment included): median "
              f"{np.median(times):.2f} s, max {np.max(times):.2f} s over {len(times)} "
              "studies generated in this run")
    changed = {k: v for k, v in dataclasses.asdict(cfg).items()
               if v != getattr(DetectionConfig(), k)}
    print(f"config overrides: {changed or 'none (defaults)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
