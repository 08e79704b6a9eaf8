"""Benchmark: series loading speed against named references, measured in the same run.

Writes a 512x512x30 and a 512x512x300 single-frame MR series (uint16, shuffled file
names, a 12 KiB Siemens-like private block in every header so headers are realistically
long) into a temporary folder, warms the page cache, then times (median of several
runs):

* ``dcm2niix`` converting the folder to an uncompressed NIfTI (whole process),
* ``cat`` of every file to /dev/null (whole process: the I/O floor),
* a naive pydicom loop (``dcmread`` every file, sort by position, ``pixel_array``,
  rescale, ``np.stack``) inside Python,
* ``load_series(folder)`` (folder index + read) and ``read_stack(files)`` inside Python,

and prints the table and the ratios of ``load_series`` to dcm2niix against the issue's
targets (<= 1.0x on 30 slices, <= 0.5x on 300). Then a JPEG 2000 copy (gdcmconv --j2k)
of the 30-slice series is decoded with GDCM's codec on 1 and on 2 OpenJPEG threads, and
with pylibjpeg (one core), and the CPU time / wall time of the 2-thread decode shows how
many cores were busy.

Usage: ``.venv/bin/python bench/bench_load.py [--repeat 5] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom

from bmes_imaging.dicom import load_series, write_series
from bmes_imaging.dicom._load import read_stack
from bmes_imaging.volume import Volume

TARGETS = {30: 1.0, 300: 0.5}


def make_series(folder: Path, n_slices: int) -> list[Path]:
    """Write a 512x512xN series with a long private header block in each file."""
    rng = np.random.default_rng(n_slices)
    ii, jj = np.meshgrid(np.arange(512), np.arange(512), indexing="ij")
    base = 800 + 400 * np.sin(ii / 25.0) * np.cos(jj / 35.0)
    data = np.empty((512, 512, n_slices), np.uint16)
    for k in range(n_slices):
        data[:, :, k] = np.clip(base + 3 * k + rng.normal(0, 15, base.shape), 0, 4095)
    affine = np.diag([-0.35, -0.35, 0.5 if n_slices > 100 else 3.0, 1.0])
    affine[:3, 3] = [90.0, 120.0, -40.0]
    files = write_series(Volume(data, affine), folder, patient_id="bench", uid_seed=str(n_slices),
                         shuffle_seed=n_slices, series_description="T1 SE SAG")
    csa = bytes(rng.integers(0, 256, 12288, dtype=np.uint8))
    for f in files:
        ds = pydicom.dcmread(f)
        block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
        block.add_new(0x10, "OB", csa)
        block.add_new(0x20, "OB", csa)
        ds.save_as(f)
    return files


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (page cache, imports, lazy init)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def naive_pydicom(files: list[Path]) -> np.ndarray:
    """What a first attempt looks like: read everything with pydicom, then sort."""
    datasets = [pydicom.dcmread(f) for f in files]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient,
                                                                  dtype=float))))
    slices = []
    for ds in datasets:
        arr = ds.pixel_array
        slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
        slices.append(arr if (slope, intercept) == (1.0, 0.0) else arr * slope + intercept)
    return np.stack(slices, axis=-1)


def run_process(args: list[str]) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_native(root: Path, n_slices: int, repeat: int) -> dict[str, float]:
    folder = root / f"s{n_slices}"
    files = make_series(folder, n_slices)
    out = root / f"nii{n_slices}"
    out.mkdir()
    rows: dict[str, float] = {}
    run_process(["cat", *map(str, files)])
    if shutil.which("dcm2niix"):
        rows["dcm2niix (process)"] = median_time(lambda: run_process(
            ["dcm2niix", "-z", "n", "-b", "n", "-w", "1", "-f", "x", "-o", str(out),
             str(folder)]), repeat)
    rows["cat (process)"] = median_time(lambda: run_process(["cat", *map(str, files)]),
                                        repeat)
    rows["naive pydicom loop"] = median_time(lambda: naive_pydicom(files), repeat)
    rows["read_stack(files)"] = median_time(lambda: read_stack(files), repeat)
    rows["load_series(folder)"] = median_time(lambda: load_series(folder), repeat)
    vol = load_series(folder)
    assert vol.shape == (512, 512, n_slices), vol.shape
    return rows


def bench_j2k(root: Path, repeat: int) -> dict[str, float]:
    src = sorted((root / "s30").glob("*.dcm"))
    j2k = root / "j2k30"
    j2k.mkdir()
    for f in src:
        run_process(["gdcmconv", "--j2k", str(f), str(j2k / f.name)])
    files = sorted(j2k.glob("*.dcm"))
    rows: dict[str, float] = {}
    if shutil.which("dcm2niix"):
        out = root / "niij2k"
        out.mkdir()
        rows["dcm2niix (process)"] = median_time(lambda: run_process(
            ["dcm2niix", "-z", "n", "-b", "n", "-w", "1", "-f", "x", "-o", str(out),
             str(j2k)]), repeat)
    rows["read_stack GDCM codec, 1 thread"] = median_time(
        lambda: read_stack(files, workers=1), repeat)
    rows["read_stack GDCM codec, 2 threads"] = median_time(
        lambda: read_stack(files, workers=2), repeat)
    rows["read_stack pylibjpeg (1 core)"] = median_time(
        lambda: read_stack(files, decoding_plugin="pylibjpeg"), repeat)
    return rows


def cpu_seconds(fn: Callable[[], object]) -> tuple[float, float, float]:
    """(wall s, process CPU s, share of CPU outside the calling thread) of one call.

    CPU > wall means several cores were busy at once (on an otherwise idle machine).
    """
    def used(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    t0, p0, s0 = time.perf_counter(), used(resource.RUSAGE_SELF), used(resource.RUSAGE_THREAD)
    fn()
    wall = time.perf_counter() - t0
    proc = used(resource.RUSAGE_SELF) - p0
    mine = used(resource.RUSAGE_THREAD) - s0
    return wall, proc, (proc - mine) / proc if proc > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="write the series here and keep them")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_load_"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    try:
        for n in (30, 300):
            rows = bench_native(root, n, args.repeat if n == 30 else max(3, args.repeat - 2))
            print(f"\n512x512x{n} uncompressed series (median seconds, warm cache)")
            for name, sec in rows.items():
                print(f"  {name:<28} {sec:8.4f}")
            ref = rows.get("dcm2niix (process)")
            if ref:
                ratio = rows["load_series(folder)"] / ref
                print(f"  load_series / dcm2niix = {ratio:.2f}x (target <= {TARGETS[n]:.1f}x: "
                      f"{'met' if ratio <= TARGETS[n] else 'NOT met'})")
            print(f"  load_series / naive pydicom = "
                  f"{rows['load_series(folder)'] / rows['naive pydicom loop']:.2f}x;"
                  f" read_stack / cat = {rows['read_stack(files)'] / rows['cat (process)']:.2f}x")
        if shutil.which("gdcmconv"):
            rows = bench_j2k(root, max(3, args.repeat - 2))
            print("\n512x512x30 JPEG 2000 copy (median seconds)")
            for name, sec in rows.items():
                print(f"  {name:<36} {sec:8.4f}")
            one = rows["read_stack GDCM codec, 1 thread"]
            two = rows["read_stack GDCM codec, 2 threads"]
            print(f"  GDCM codec: 2 threads speed-up {one / two:.2f}x")
            files = sorted((root / "j2k30").glob("*.dcm"))
            wall, cpu, helpers = cpu_seconds(lambda: read_stack(files, workers=2))
            print(f"  2 threads: wall {wall:.3f} s, CPU {cpu:.3f} s ({cpu / wall:.2f} cores "
                  f"busy; {helpers:.0%} of the CPU time in decoder threads); load average "
                  f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
