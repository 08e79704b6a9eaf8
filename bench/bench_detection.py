"""Benchmark of the edema detector on the phantom distribution (where it works, and speed).

Run from the repository root::

    .venv/bin/python bench/bench_detection.py --split eval            # 40 studies, both
    .venv/bin/python bench/bench_detection.py --split final --bones given   # run ONCE
    .venv/bin/python bench/bench_detection.py --split tune --n 60 --bones given
    .venv/bin/python bench/bench_detection.py --quick                 # 6 eval studies
    .venv/bin/python bench/bench_detection.py --timing-only           # per-stage times

The cohort (``bmes_imaging.phantom.cohort_specs(split, n=N)``: every contrast,
acquisition and anatomy parameter drawn from documented ranges, the evaluation split with
the extremes of every range; see ``src/bmes_imaging/phantom/_distribution.py``) is
generated into a cache folder (two processes at most) and each written study is run
through ``bmes_imaging.detection.detect_study`` (DICOM in, results out, as ``bmes
detect``) with the TRUE bone labels given and / or with automatic bone masks. Scores
come from ``bmes_imaging.detection.evaluate`` (``score_arrays``; a bone is positive in
the truth when its edema reaches 0.05 ml). The truth is the edema *visible on both
series*: where the fluid series does not cover it (partial coverage, an axial or coronal
fluid series with a smaller field of view), no reader or detector can see it, so those
voxels are left out of the truth (the bones they are in count as hidden lesions, listed,
and as negatives). Printed:

* bone-level sensitivity / specificity and pooled voxel Dice, per bone source;
* sensitivity in bins of the lesion's STIR (fluid-image) contrast against normal marrow
  and of its T1 drop, per bone and per lesion extent, and for lesions with STIR >= 2x
  and T1 drop >= 20 %;
* the studies with a miss or a false positive, and median detection time per study.

Written to ``--out`` (default ``bench-detection-<split>/``): ``bones.csv`` (one row per
bone of every study with its truth, contrast and the detector's answer),
``sensitivity.png`` (sensitivity against STIR contrast and T1 drop).

Tune the detector on ``--split tune`` only; ``--split eval`` is for reporting, and
``--split final`` (the clean evaluation split added before the last tuning round, see
``docs/detection.md``) is run once with frozen defaults, never to choose anything.
Targets (issue 11, eval, given bones): sensitivity >= 0.95, specificity >= 0.95, Dice
>= 0.80, sensitivity >= 0.97 for STIR >= 2x and T1 drop >= 20 %; (issue 12, automatic
bones) sensitivity and specificity >= 0.90; under 2 s (given) / 10 s (automatic).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.bones import Bone
from bmes_imaging.detection import detect_study
from bmes_imaging.detection._evaluate import Evaluation, StudyScore, score_arrays
from bmes_imaging.dicom import index_folder, load_series
from bmes_imaging.errors import BmesError
from bmes_imaging.geometry import resample_to
from bmes_imaging.phantom import PhantomSpec, cohort_specs, default_cache_dir, write_cohort
from bmes_imaging.volume import Volume, load_nifti

STIR_BINS = (1.8, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0)
T1_DROP_BINS = (0.15, 0.20, 0.30, 0.45, 0.65)
MODES = {"given": True, "auto": False}
#: A bone is positive in the truth from this edema volume (as ``evaluate``).
MIN_ML = 0.05


@dataclass
class Study:
    """One cohort study: its folder, spec and drawn contrast."""

    name: str
    folder: Path
    spec: PhantomSpec
    fluid_ratio: float
    t1_drop: float
    extents: dict[str, str]
    truth: dict[Bone, bool] = field(default_factory=dict)
    hidden: list[Bone] = field(default_factory=list)
    scores: dict[str, StudyScore | None] = field(default_factory=dict)
    pred_ml: dict[str, dict[int, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def generate(split: str, n: int, cache: Path, resolution: float) -> list[Study]:
    """Write (or reuse) the cohort; the studies with their drawn contrast."""
    t0 = time.perf_counter()
    done = [0]

    def progress(name: str, frac: float) -> None:
        done[0] += 1
        print(f"  generated {name} ({frac:.0%}, {time.perf_counter() - t0:.0f} s)",
              flush=True)

    write_cohort(split, cache, n=n, resolution=resolution, workers=2, progress=progress)
    if done[0]:
        print(f"{done[0]} studies generated in {time.perf_counter() - t0:.0f} s "
              f"(2 processes) into {cache}")
    studies = []
    for name, spec in cohort_specs(split, n=n, resolution=resolution):
        meta = json.loads((cache / name / "truth" / "phantom.json").read_text())
        d = meta["details"]
        st = Study(name, cache / name, spec, float(d["edema_fluid_ratio"]),
                   1.0 - float(d["edema_t1_ratio"]), dict(d.get("edema_extents", {})))
        edema, _ = visible_truth(st.folder)
        ml = edema.voxel_volume_ml
        seen = np.bincount(edema.array.reshape(-1), minlength=16)
        with open(cache / name / "truth" / "involvement.csv", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                b = Bone(int(r["bone_label"]))
                st.truth[b] = seen[int(b)] * ml >= MIN_ML
                if float(r["edema_volume_ml"]) >= MIN_ML and not st.truth[b]:
                    st.hidden.append(b)
        studies.append(st)
    return studies


def visible_truth(folder: Path) -> tuple[Volume, Volume]:
    """Truth edema (T1 grid) restricted to what the fluid series covers, and the bones."""
    edema = load_nifti(folder / "truth" / "edema.nii.gz")
    bones = load_nifti(folder / "truth" / "bones.nii.gz")
    fluid = next(s for s in index_folder(folder / "dicom").stacks if s.sequence != "t1")
    geo = load_series(fluid)
    ijk = np.argwhere(edema.array > 0)
    if len(ijk):
        world = edema.world(ijk)
        inv = np.linalg.inv(geo.affine)
        f = world @ inv[:3, :3].T + inv[:3, 3]
        outside = ~np.all((f > -0.5) & (f < np.array(geo.shape) - 0.5), axis=1)
        if outside.any():
            arr = np.array(edema.array)
            arr[tuple(ijk[outside].T)] = 0
            edema = Volume(arr, edema.affine, edema.info)
    return edema, bones


def _score(st: Study, pred: Path, automatic: bool) -> StudyScore:
    edema, bones = visible_truth(st.folder)

    def on_grid(path: Path) -> np.ndarray:
        vol = load_nifti(path)
        if vol.shape != edema.shape or not np.allclose(vol.affine, edema.affine, atol=1e-3):
            vol = resample_to(vol, edema.affine, edema.shape, order=0)
        return np.asarray(vol.array)

    return score_arrays(edema.array, on_grid(pred / "edema.nii.gz"), edema.voxel_volume_ml,
                        truth_bones=bones.array,
                        pred_bones=on_grid(pred / "bones.nii.gz") if automatic else None,
                        min_truth_ml=MIN_ML, name=st.name)


def detect(studies: list[Study], out: Path, modes: list[str]) -> None:
    """Run ``detect_study`` per study and mode; score against the truth."""
    for st in studies:
        line = f"{st.name:<38}"
        for mode in modes:
            pred = out / mode / st.name
            bones = st.folder / "truth" / "bones.nii.gz" if MODES[mode] else None
            t0 = time.perf_counter()
            try:
                det = detect_study(st.folder / "dicom", pred, bones_path=bones)
            except BmesError as exc:  # refused or failed: nothing found
                st.errors[mode] = str(exc).splitlines()[0][:160]
                st.scores[mode] = None
                line += f" | {mode}: ERROR {type(exc).__name__}"
                continue
            st.seconds[mode] = time.perf_counter() - t0
            st.pred_ml[mode] = {int(r["bone_label"]): float(r["edema_volume_ml"])
                                for r in det.rows}
            s = _score(st, pred, not MODES[mode])
            st.scores[mode] = s
            line += (f" | {mode}: TP {len(s.tp)} FN {len(s.fn)} FP {len(s.fp)} "
                     f"Dice {s.dice:5.3f} {st.seconds[mode]:5.1f} s")
        print(line, flush=True)


def _failed_score(st: Study) -> StudyScore:
    """A study whose detection failed: every truth-positive bone missed."""
    return StudyScore(st.name, fn=[b for b, t in st.truth.items() if t],
                      tn=[b for b, t in st.truth.items() if not t])


def bone_rows(studies: list[Study], modes: list[str]) -> list[dict[str, Any]]:
    """One row per bone of every study (truth, contrast, answer per mode)."""
    rows = []
    for st in studies:
        for b, truth in sorted(st.truth.items(), key=lambda kv: int(kv[0])):
            row: dict[str, Any] = {
                "study": st.name, "bone": b.bone_name, "truth": int(truth),
                "extent": st.extents.get(b.bone_name, "") if truth else "",
                "stir_ratio": round(st.fluid_ratio, 3) if truth else "",
                "t1_drop": round(st.t1_drop, 3) if truth else "",
                "fluid": st.spec.fluid, "fluid_plane": st.spec.fluid_plane,
                "field": st.spec.field_strength, "snr": st.spec.snr,
                "anatomy": st.spec.anatomy, "normal_study": int(st.spec.normal),
            }
            for mode in modes:
                s = st.scores.get(mode)
                found = s is not None and (b in s.tp or b in s.fp)
                row[f"{mode}_positive"] = int(found)
                row[f"{mode}_edema_ml"] = round(st.pred_ml.get(mode, {}).get(int(b), 0.0), 3)
                if s is not None and b in s.bone_dice:
                    row[f"{mode}_bone_dice"] = round(s.bone_dice[b], 3)
            rows.append(row)
    return rows


def _sens(rows: list[dict[str, Any]], mode: str) -> str:
    pos = [r for r in rows if r["truth"]]
    if not pos:
        return "     -     "
    hit = sum(r[f"{mode}_positive"] for r in pos)
    return f"{hit / len(pos):5.2f} ({hit:>2}/{len(pos):<2})"


def _binned(rows: list[dict[str, Any]], key: str, edges: tuple[float, ...],
            modes: list[str], label: str, scale: float = 1.0) -> list[str]:
    lines = [f"{label:<16}" + "".join(f"{m:>14}" for m in modes)]
    pos = [r for r in rows if r["truth"]]
    for lo, hi in pairwise(edges):
        last = hi == edges[-1]
        sel = [r for r in pos if lo <= r[key] < hi or (last and r[key] == hi)]
        name = f"{lo * scale:g}-{hi * scale:g}"
        lines.append(f"{name:<16}" + "".join(f"{_sens(sel, m):>14}" for m in modes))
    return lines


def _grouped(rows: list[dict[str, Any]], key: str, modes: list[str], label: str
             ) -> list[str]:
    lines = [f"{label:<24}" + "".join(f"{m + ' sens':>14}{m + ' spec':>14}" for m in modes)]
    for value in sorted({r[key] for r in rows if r[key] != ""}, key=str):
        sel = [r for r in rows if r[key] == value]
        cells = ""
        for m in modes:
            neg = [r for r in sel if not r["truth"]]
            tn = sum(1 - r[f"{m}_positive"] for r in neg)
            spec = f"{tn / len(neg):5.2f} ({tn}/{len(neg)})" if neg else "-"
            cells += f"{_sens(sel, m):>14}{spec:>14}"
        lines.append(f"{value!s:<24}" + cells)
    return lines


def report(studies: list[Study], modes: list[str], out: Path) -> None:
    """Print the summary tables; write ``bones.csv`` and ``sensitivity.png``."""
    rows = bone_rows(studies, modes)
    print()
    for mode in modes:
        scores = [st.scores.get(mode) or _failed_score(st) for st in studies]
        ev = Evaluation(scores)
        failed = [st.name for st in studies if st.scores.get(mode) is None]
        secs = [st.seconds[mode] for st in studies if mode in st.seconds]
        print(f"{mode.upper()} BONES: sensitivity {ev.sensitivity:.3f}, specificity "
              f"{ev.specificity:.3f}, voxel Dice pooled {ev.dice:.3f} (mean "
              f"{ev.mean_dice:.3f}); {len(studies)} studies, {len(failed)} failed"
              + (f" ({', '.join(failed)})" if failed else "")
              + (f"; median {np.median(secs):.1f} s / study (wall, written study "
                 "through detect_study)" if secs else ""))
        strong = [r for r in rows if r["truth"] and r["stir_ratio"] >= 2.0
                  and r["t1_drop"] >= 0.20]
        print(f"  lesions with STIR >= 2x and T1 drop >= 20 %: sensitivity "
              f"{_sens(strong, mode).strip()}")
        bd = ev.bone_dice()
        if bd:
            print("  bone-mask Dice (mean): " + ", ".join(f"{b.bone_name} {d:.2f}"
                                                       for b, d in bd.items()))
    print("\nSENSITIVITY BY STIR CONTRAST (edema / normal marrow on the fluid image)")
    print("\n".join(_binned(rows, "stir_ratio", STIR_BINS, modes, "STIR ratio")))
    print("\nSENSITIVITY BY T1 DROP (%)")
    print("\n".join(_binned(rows, "t1_drop", T1_DROP_BINS, modes, "T1 drop %", 100.0)))
    print("\nPER BONE")
    print("\n".join(_grouped(rows, "bone", modes, "bone")))
    print("\nPER LESION EXTENT")
    print("\n".join(_grouped([r for r in rows if r["truth"]], "extent", modes, "extent")))
    print("\nPER FLUID PLANE / SEQUENCE / ANATOMY")
    for key in ("fluid_plane", "fluid", "anatomy"):
        print("\n".join(_grouped(rows, key, modes, key)))
    hidden = [f"{st.name}:{b.bone_name}" for st in studies for b in st.hidden]
    print(f"\nLESIONS NOT COVERED BY THE FLUID SERIES (left out of the truth): "
          f"{len(hidden)}" + (f" ({', '.join(hidden)})" if hidden else ""))
    print("\nMISSES AND FALSE POSITIVES")
    for st in studies:
        for mode in modes:
            s = st.scores.get(mode)
            if s is None:
                print(f"  {st.name} {mode}: failed: {st.errors.get(mode, '')}")
            elif s.fn or s.fp:
                print(f"  {st.name} {mode}: missed {','.join(b.bone_name for b in s.fn) or '-'}"
                      f"; false {','.join(b.bone_name for b in s.fp) or '-'}"
                      + (" (normal study)" if st.spec.normal else
                         f" (STIR {st.fluid_ratio:.2f}x, T1 drop {st.t1_drop:.0%})"))
    out.mkdir(parents=True, exist_ok=True)
    names = sorted({k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k)
                   if k in rows[0] else 99)
    with open(out / "bones.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=names, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    plot(rows, modes, out / "sensitivity.png")
    print(f"\nwrote {out / 'bones.csv'} and {out / 'sensitivity.png'}")


def plot(rows: list[dict[str, Any]], modes: list[str], path: Path) -> None:
    """Sensitivity against STIR contrast and against T1 drop, one line per bone source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = [r for r in rows if r["truth"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, edges, label in ((axes[0], "stir_ratio", STIR_BINS,
                                   "STIR edema / normal marrow"),
                                  (axes[1], "t1_drop", T1_DROP_BINS, "T1 drop")):
        mids = [(lo + hi) / 2 for lo, hi in pairwise(edges)]
        for mode in modes:
            sens, n = [], []
            for lo, hi in pairwise(edges):
                sel = [r for r in pos if lo <= r[key] < hi or (hi == edges[-1]
                                                              and r[key] == hi)]
                n.append(len(sel))
                sens.append(np.mean([r[f"{mode}_positive"] for r in sel]) if sel
                            else np.nan)
            keep = [i for i, k in enumerate(n) if k]
            ax.plot([mids[i] for i in keep], [sens[i] for i in keep], "o-",
                    label=f"{mode} bones")
            for x, k in zip(mids, n, strict=True):
                if k and mode == modes[0]:
                    ax.annotate(f"n={k}", (x, 0.02), ha="center", fontsize=7)
        ax.set_xlabel(label)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("bone-level sensitivity")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle("Edema detection against lesion contrast (phantom distribution)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_timing(study: Path, work: Path) -> None:
    """Per-stage times of ``detect_study`` on one written study, against dcm2niix."""
    dicom = study / "dicom"
    bones = study / "truth" / "bones.nii.gz"
    detect_study(dicom, work / "warm", bones_path=bones)  # imports, atlas cache
    rows = []
    for label, bp in (("given bones", bones), ("automatic bones", None)):
        t0, c0 = time.perf_counter(), time.process_time()
        det = detect_study(dicom, work / label.replace(" ", "_"), bones_path=bp)
        rows.append((label, det.timings, time.perf_counter() - t0,
                     time.process_time() - c0))
    ref = None
    if shutil.which("dcm2niix"):
        (work / "dcm2niix").mkdir()
        t0 = time.perf_counter()
        subprocess.run(["dcm2niix", "-z", "y", "-o", str(work / "dcm2niix"), str(dicom)],
                       check=True, capture_output=True)
        ref = time.perf_counter() - t0
    stages = ("load", "align", "bones", "compare", "write")
    print(f"\nPer-stage times (s) of detect_study on {study.name}, no BLAS threads:")
    print(f"{'':<17}" + "".join(f"{k:>9}" for k in (*stages, "total", "cpu")))
    for label, t, total, cpu in rows:
        print(f"{label:<17}" + "".join(f"{t.get(k, 0.0):>9.2f}" for k in stages)
              + f"{total:>9.2f}{cpu:>9.2f}"
              + (f"   (wall {total / ref:.1f}x dcm2niix)" if ref else ""))
    if ref:
        print(f"reference: dcm2niix -z y on the same folder {ref:.2f} s (wall)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "cores; stage times are wall-clock, 'cpu' is this process's CPU time")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["eval", "tune", "final", "holdout", "sealed", "vault",
                                        "crypt", "reserve", "ledger"],
                    default="eval")
    ap.add_argument("--n", type=int,
                    help="studies (default the split's size: 40 for eval and final, 48 "
                         "for holdout, 64 for sealed, vault and crypt, 80 for reserve and "
                         "ledger, 60 for tune)")
    ap.add_argument("--bones", choices=["given", "auto", "both"], default="both")
    ap.add_argument("--cache", type=Path,
                    help="cohort folder (default ~/.cache/bmes-imaging/phantom-<split>)")
    ap.add_argument("--out", type=Path, help="results (default bench-detection-<split>)")
    ap.add_argument("--resolution", type=float, default=1.0,
                    help="pixel size factor of every study (2: quicker, coarser)")
    ap.add_argument("--quick", action="store_true", help="6 studies")
    ap.add_argument("--no-automatic", action="store_true", help="same as --bones given")
    ap.add_argument("--timing", action="store_true", help="also per-stage times")
    ap.add_argument("--timing-only", action="store_true", help="only the per-stage times")
    args = ap.parse_args()
    # the split's own size by default (cohort_specs: 60 tune, 40 eval / final, 48 holdout,
    # 64 sealed)
    n = 6 if args.quick else (args.n or len(cohort_specs(args.split)))
    suffix = "" if args.resolution == 1.0 else f"-r{args.resolution:g}"
    cache = args.cache or default_cache_dir(f"{args.split}{suffix}")
    out = args.out or Path(f"bench-detection-{args.split}")
    modes = ["given", "auto"] if args.bones == "both" else [args.bones]
    if args.no_automatic:
        modes = ["given"]
    studies = generate(args.split, n, cache, args.resolution)
    if args.timing_only:
        with tempfile.TemporaryDirectory() as tmp:
            run_timing(studies[0].folder, Path(tmp))
        return 0
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    detect(studies, out, modes)
    print(f"\n{len(studies)} {args.split} studies detected in "
          f"{time.perf_counter() - t0:.0f} s")
    report(studies, modes, out)
    if args.timing:
        with tempfile.TemporaryDirectory() as tmp:
            run_timing(studies[0].folder, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
