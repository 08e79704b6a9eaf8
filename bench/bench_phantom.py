"""Benchmark: generate one full-resolution phantom study (target < 10 s on one core).

Prints the median wall and CPU time of ``--repeat`` runs of ``generate_study`` (in memory) and of
``write_study`` (DICOM + truth), and, as references measured in the same run, the time
``dcm2niix`` (whole process) takes to convert the written DICOM folder to NIfTI, and the
time ``bmes_imaging.dicom.load_series`` takes to read both series back.
Run with one core: ``taskset -c 0 .venv/bin/python bench/bench_phantom.py``; peak
memory: ``/usr/bin/time -v`` around it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bmes_imaging.dicom import index_folder, load_series
from bmes_imaging.phantom import PhantomSpec, generate_study, write_study


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    spec = PhantomSpec(seed=2, edema_bones=("talus", "navicular"), edema_extent="mixed",
                       effusion=True, vessel=True, red_marrow=True, motion_mm=1.5,
                       motion_deg=1.5)
    generate_study(PhantomSpec(seed=1, resolution=4.0))  # atlas load, imports
    gen, cpu, wri, load, d2n = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            study = generate_study(spec)
            gen.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            t = time.perf_counter()
            write_study(study, Path(tmp) / f"s{r}")
            wri.append(time.perf_counter() - t)
            t = time.perf_counter()
            for stack in index_folder(Path(tmp) / f"s{r}" / "dicom").stacks:
                load_series(stack)
            load.append(time.perf_counter() - t)
            if shutil.which("dcm2niix"):
                nii = Path(tmp) / f"n{r}"
                nii.mkdir()
                t = time.perf_counter()
                subprocess.run(["dcm2niix", "-z", "n", "-o", str(nii),
                                str(Path(tmp) / f"s{r}" / "dicom")],
                               check=True, capture_output=True)
                d2n.append(time.perf_counter() - t)
    g, w, ld = (statistics.median(x) for x in (gen, wri, load))
    print(f"T1 {study.t1.shape}, STIR {study.stir.shape}")
    print(f"generate_study (in memory): {g:.2f} s wall, {statistics.median(cpu):.2f} s CPU "
          f"(median of {args.repeat})")
    print(f"write_study (DICOM + truth): {w:.2f} s")
    print(f"reference load_series of both series: {ld:.2f} s")
    if d2n:
        dn = statistics.median(d2n)
        print(f"reference dcm2niix conversion of the study: {dn:.2f} s; "
              f"ratio generate / dcm2niix: {g / dn:.1f}x")
    print(f"full study (generate + write): {g + w:.2f} s")


if __name__ == "__main__":
    main()
