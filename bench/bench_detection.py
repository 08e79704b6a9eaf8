"""Benchmark of the edema detector on a phantom cohort (accuracy and speed).

Run from the repository root::

    .venv/bin/python bench/bench_detection.py            # full cohort (22 studies)
    .venv/bin/python bench/bench_detection.py --quick    # 6 studies, for a smoke run

Prints, for a cohort covering every confounder (normal studies, left and right feet,
subchondral to diffuse edema, effusion, bright vessel, red marrow, bias field, noise,
motion):

* with the phantom's bone labels: bone-level sensitivity / specificity and voxel Dice;
* with automatic bone masks (atlas): per-bone Dice of the masks for each tarsal bone
  and detection sensitivity / specificity;
* per-stage times (load, align, bones, compare, write) of ``detect_study`` on a
  written study folder, and their ratio to ``dcm2niix`` converting the same folder
  (a named reference measured in the same run).

Targets (issue 4): given bones sens/spec >= 0.95 and Dice >= 0.85; automatic bones
tarsal Dice >= 0.85 and sens/spec >= 0.90; < 2 s given bones, < 10 s automatic.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bmes_imaging.bones import TARSAL_BONES
from bmes_imaging.detection import detect_edema, detect_study
from bmes_imaging.detection._evaluate import Evaluation, score_arrays
from bmes_imaging.phantom import PhantomSpec, generate_study, write_study


def cohort(quick: bool = False) -> list[tuple[str, PhantomSpec]]:
    """Studies with every confounder represented (name, spec)."""
    S = PhantomSpec
    specs = [
        ("normal_R", S(seed=101, side="R", normal=True)),
        ("normal_L", S(seed=102, side="L", normal=True)),
        ("talus_diffuse_R", S(seed=103, side="R", edema_bones=("talus",),
                              edema_extent="diffuse")),
        ("talus_subch_L", S(seed=104, side="L", edema_bones=("talus",),
                            edema_extent="subchondral")),
        ("calc_mod_redmarrow_R", S(seed=105, side="R", edema_bones=("calcaneus",),
                                   edema_extent="moderate", red_marrow=True)),
        ("nav_subch_effusion_R", S(seed=106, side="R", edema_bones=("navicular",),
                                   edema_extent="subchondral", effusion=True)),
        ("cuboid_mod_vessel_L", S(seed=107, side="L", edema_bones=("cuboid",),
                                  edema_extent="moderate", vessel=True)),
        ("medcun_bias_R", S(seed=108, side="R", edema_bones=("medial_cuneiform",),
                            edema_extent="moderate", bias=0.5)),
        ("talus_nav_motion_L", S(seed=109, side="L", edema_bones=("talus", "navicular"),
                                 edema_extent="mixed", motion_mm=2.0, motion_deg=2.0)),
        ("mt5_noise_R", S(seed=110, side="R", edema_bones=("fifth_metatarsal",),
                          edema_extent="moderate", snr=15.0)),
        ("fibula_R", S(seed=111, side="R", edema_bones=("fibula",), edema_extent="moderate")),
        ("intcun_L", S(seed=112, side="L", edema_bones=("intermediate_cuneiform",),
                       edema_extent="moderate")),
        ("latcun_R", S(seed=113, side="R", edema_bones=("lateral_cuneiform",),
                       edema_extent="subchondral")),
        ("normal_confounders_R", S(seed=114, side="R", normal=True, effusion=True,
                                   vessel=True, red_marrow=True)),
        ("normal_bias_motion_L", S(seed=115, side="L", normal=True, bias=0.6,
                                   motion_mm=1.5, motion_deg=1.5)),
        ("calc_diffuse_red_L", S(seed=116, side="L", edema_bones=("calcaneus",),
                                 edema_extent="diffuse", red_marrow=True)),
        ("talus_mod_eff_bias_R", S(seed=117, side="R", edema_bones=("talus",),
                                   edema_extent="moderate", effusion=True, bias=0.6)),
        ("three_bones_R", S(seed=118, side="R",
                            edema_bones=("talus", "calcaneus", "navicular"),
                            edema_extent="mixed")),
        ("nav_diffuse_noise_L", S(seed=119, side="L", edema_bones=("navicular",),
                                  edema_extent="diffuse", snr=12.0)),
        ("normal_noise_motion_R", S(seed=120, side="R", normal=True, snr=12.0,
                                    motion_mm=2.0, motion_deg=1.0)),
        ("cuboid_subch_vessel_R", S(seed=121, side="R", edema_bones=("cuboid",),
                                    edema_extent="subchondral", vessel=True)),
        ("talus_diffuse_all_L", S(seed=122, side="L", edema_bones=("talus",),
                                  edema_extent="diffuse", effusion=True, vessel=True,
                                  red_marrow=True, bias=0.4, snr=15.0, motion_mm=2.0,
                                  motion_deg=2.0)),
    ]
    if quick:
        specs = [specs[i] for i in (0, 2, 4, 8, 13, 21)]
    return specs


def run_accuracy(specs: list[tuple[str, PhantomSpec]], automatic: bool
                 ) -> tuple[Evaluation, Evaluation | None, list[float]]:
    given_scores, auto_scores, auto_times = [], [], []
    for name, spec in specs:
        study = generate_study(spec)
        vml = study.t1.voxel_volume_ml
        res = detect_edema(study.t1, study.stir, bones=study.bones)
        given_scores.append(score_arrays(study.edema.array, res.edema.array, vml,
                                         truth_bones=study.bones.array, name=name))
        line = (f"{name:<24} given: pos {','.join(b.bone_name for b in res.positive_bones) or '-'}"
                f" dice {given_scores[-1].dice:.3f}")
        if automatic:
            t0 = time.process_time()
            res_a = detect_edema(study.t1, study.stir)
            auto_times.append(time.process_time() - t0)
            auto_scores.append(score_arrays(study.edema.array, res_a.edema.array, vml,
                                            truth_bones=study.bones.array,
                                            pred_bones=res_a.bones.array, name=name))
            s = auto_scores[-1]
            tars = [s.bone_dice.get(b, float("nan")) for b in TARSAL_BONES]
            line += (f" | auto: pos {','.join(b.bone_name for b in res_a.positive_bones) or '-'}"
                     f" tarsal Dice min {np.nanmin(tars):.3f}")
        print(line, flush=True)
    return (Evaluation(given_scores), Evaluation(auto_scores) if automatic else None,
            auto_times)


def run_timing(spec: PhantomSpec, work: Path) -> None:
    folder = write_study(spec, work / "study")
    dicom = folder / "dicom"
    bones = folder / "truth" / "bones.nii.gz"
    # warm-up (imports, atlas cache), then measure
    detect_study(dicom, work / "warm", bones_path=bones)
    rows = []
    for label, bp in (("given bones", bones), ("automatic bones", None)):
        t0, c0 = time.perf_counter(), time.process_time()
        det = detect_study(dicom, work / label.replace(" ", "_"), bones_path=bp)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append((label, det.timings, total, cpu))
    ref = None
    if shutil.which("dcm2niix"):
        out = work / "dcm2niix"
        out.mkdir()
        t0 = time.perf_counter()
        subprocess.run(["dcm2niix", "-z", "y", "-o", str(out), str(dicom)],
                       check=True, capture_output=True)
        ref = time.perf_counter() - t0
    print("\nPer-stage times (s) of detect_study on one written study "
          f"({spec.side} foot), no BLAS threads; automatic bones are registered in a second thread beside the alignment (DetectionConfig.threads):")
    print(f"{'':<17}" + "".join(f"{k:>9}" for k in ("load", "align", "bones", "compare",
                                                     "write", "total", "cpu")))
    for label, t, total, cpu in rows:
        print(f"{label:<17}" + "".join(f"{t.get(k, 0.0):>9.2f}" for k in
                                       ("load", "align", "bones", "compare", "write"))
              + f"{total:>9.2f}{cpu:>9.2f}"
              + (f"   (wall {total / ref:.1f}x dcm2niix)" if ref else ""))
    if ref:
        print(f"reference: dcm2niix -z y on the same folder {ref:.2f} s (wall)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          "stage times are wall-clock, 'cpu' is this process's CPU time")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 studies instead of 22")
    ap.add_argument("--no-automatic", action="store_true", help="skip automatic bones")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--timing-only", action="store_true", help="only the per-stage times")
    args = ap.parse_args()
    specs = cohort(args.quick)
    if args.timing_only:
        with tempfile.TemporaryDirectory() as tmp:
            run_timing(specs[2][1], Path(tmp))
        return 0
    t0 = time.perf_counter()
    given, auto, auto_times = run_accuracy(specs, not args.no_automatic)
    print(f"\n{len(specs)} studies in {time.perf_counter() - t0:.0f} s\n")
    print("WITH GIVEN BONE LABELS")
    print(given.table())
    if auto is not None:
        print("\nWITH AUTOMATIC BONE MASKS (atlas)")
        print(auto.table())
        bd = auto.bone_dice()
        print("tarsal bone-mask Dice (mean over studies): " + ", ".join(
            f"{b.bone_name} {bd.get(b, float('nan')):.3f}" for b in TARSAL_BONES))
        print(f"detect_edema with automatic bones: median CPU {np.median(auto_times):.2f} s")
    print("\nSUMMARY                      value   target")
    print(f"given  sensitivity           {given.sensitivity:6.3f}   >= 0.95")
    print(f"given  specificity           {given.specificity:6.3f}   >= 0.95")
    print(f"given  voxel Dice (pooled)   {given.dice:6.3f}   >= 0.85")
    print(f"given  voxel Dice (mean)     {given.mean_dice:6.3f}")
    if auto is not None:
        bd = auto.bone_dice()
        print(f"auto   min tarsal mask Dice  {min(bd.get(b, 0.0) for b in TARSAL_BONES):6.3f}"
              "   >= 0.85")
        print(f"auto   sensitivity           {auto.sensitivity:6.3f}   >= 0.90")
        print(f"auto   specificity           {auto.specificity:6.3f}   >= 0.90")
    if not args.no_timing:
        with tempfile.TemporaryDirectory() as tmp:
            run_timing(specs[2][1], Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
