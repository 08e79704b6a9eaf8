"""Benchmark: GDCM-based header scan (``_scan``) against the hand-written walkers.

Measured in the same run (median of several warm runs; wall and CPU seconds, because
the machine is shared and wall time swings with other load):

1. Folder-index headers on a 3,000-file tree (64x64 images, 100 series, Siemens-like
   private blocks; ``bench_index.build_tree``): files/s of
   ``_scan.scan_headers`` (one gdcm.Scanner pass + Python checks) vs the
   ``_header.read_header`` loop (pure-Python walker) vs pydicom
   ``dcmread(stop_before_pixels=True)``, plus the bare ``gdcm.Scanner.Scan`` call
   alone. Target for the index: >= 10,000 files/s.
2. Loader headers and full load of 512x512x300 and 512x512x30 uint16 series
   (``bench_load.make_series``: 12 KiB private block per header): headers + pixel
   offsets by ``_scan.native_headers`` (GDCM) vs ``_native.walk_native`` loop; a full
   load (headers, then ``readinto`` of every slice into one preallocated array) with
   each; ``load_series(files)`` (the project's loader: index, geometry checks, read) and
   ``cat`` of the bytes (I/O floor). Targets inside Python: 300 slices <= 0.3 s,
   30 slices <= 0.046 s.

Usage: ``.venv/bin/python bench/bench_scan.py [--files 3000] [--repeat 5] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).parent))
from bench_index import build_tree
from bench_load import make_series

from bmes_imaging.dicom import load_series
from bmes_imaging.dicom._header import WANTED, read_header
from bmes_imaging.dicom._native import NativeHeader, walk_native
from bmes_imaging.dicom._scan import native_headers, scan_headers

LOAD_TARGETS = {300: 0.3, 30: 0.046}
INDEX_TARGET = 10_000


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timeit(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``repeat`` warm runs."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _cpu()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
    return statistics.median(wall), statistics.median(cpu)


def gdcm_scan_only(files: list[str]) -> None:
    import gdcm

    scanner = gdcm.Scanner()
    for t in WANTED:
        scanner.AddTag(gdcm.Tag(t >> 16, t & 0xFFFF))
    scanner.Scan(files)


def load_with(headers: Sequence[NativeHeader | None]) -> np.ndarray:
    """Read every slice straight into one preallocated (slice, row, column) array."""
    first = headers[0]
    assert first is not None
    rows, cols = int(first.values["Rows"]), int(first.values["Columns"])
    out = np.empty((len(headers), rows, cols), dtype=np.uint16)
    nbytes = rows * cols * 2
    for k, h in enumerate(headers):
        assert h is not None, "a file left the native path"
        with open(h.path, "rb") as fh:
            fh.seek(h.pixel_offset)
            if fh.readinto(memoryview(out[k]).cast("B")) != nbytes:
                raise RuntimeError(f"short read: {h.path}")
    return out


def table(title: str, n: int, unit: str, results: dict[str, tuple[float, float]],
          ref: str) -> None:
    print(f"\n{title}\n")
    print(f"{'method':44s} {'wall s':>8s} {unit + '/s':>10s} {'CPU s':>8s} "
          f"{unit + '/CPU s':>12s} {'CPU vs ' + ref[:14]:>22s}")
    ref_cpu = results[ref][1]
    for name, (wall, cpu) in results.items():
        print(f"{name:44s} {wall:8.4f} {n / wall:10.0f} {cpu:8.4f} "
              f"{n / max(cpu, 1e-9):12.0f} {cpu / max(ref_cpu, 1e-9):21.2f}x")


def bench_index(root: Path, n_files: int, repeat: int) -> None:
    tree = root / "tree"
    if not tree.is_dir():
        t0 = time.perf_counter()
        build_tree(tree, n_files)
        print(f"built {n_files} files in {time.perf_counter() - t0:.1f} s")
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    names = [str(p) for p in files]
    got = scan_headers(files)
    ref = [read_header(p) for p in files]
    same = sum(a == b or (not isinstance(a, str) and not isinstance(b, str)
                          and a.values == b.values and a.has_pixels == b.has_pixels)
               for a, b in zip(got, ref, strict=True))
    print(f"{len(files)} files: scan_headers agrees with read_header on {same}")
    res: dict[str, tuple[float, float]] = {}
    res["_scan.scan_headers (gdcm)"] = timeit(lambda: scan_headers(files), repeat)
    res["_header.read_header loop (Python walker)"] = timeit(
        lambda: [read_header(p) for p in files], repeat)
    res["gdcm.Scanner.Scan alone (no Python)"] = timeit(lambda: gdcm_scan_only(names),
                                                        repeat)
    res["pydicom dcmread stop_before_pixels"] = timeit(
        lambda: [pydicom.dcmread(p, stop_before_pixels=True) for p in files],
        max(1, repeat // 2))
    n = len(files)
    table(f"Index headers, {n} files ({os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f})", n, "files", res,
          "_header.read_header loop (Python walker)")
    wall, cpu = res["_scan.scan_headers (gdcm)"]
    print(f"\nscan_headers: {n / wall:.0f} files/s wall, {n / cpu:.0f} files/CPU s; "
          f"target >= {INDEX_TARGET:,}: {'met' if n / cpu >= INDEX_TARGET else 'NOT met'}"
          " (CPU basis)")


def bench_load(root: Path, n_slices: int, repeat: int) -> None:
    folder = root / f"series{n_slices}"
    if not folder.is_dir():
        t0 = time.perf_counter()
        make_series(folder, n_slices)
        print(f"\nwrote 512x512x{n_slices} in {time.perf_counter() - t0:.1f} s")
    files = sorted(folder.iterdir())
    a = native_headers(files)
    b = [walk_native(p) for p in files]
    agree = sum(x is not None and y is not None and x.pixel_offset == y.pixel_offset
                and x.values == y.values for x, y in zip(a, b, strict=True))
    print(f"\n512x512x{n_slices}: native_headers agrees with walk_native on {agree} of "
          f"{len(files)} files")
    assert np.array_equal(load_with(a), load_with(b))
    res: dict[str, tuple[float, float]] = {}
    res["headers+offsets: _scan.native_headers"] = timeit(lambda: native_headers(files),
                                                          repeat)
    res["headers+offsets: _native.walk_native loop"] = timeit(
        lambda: [walk_native(p) for p in files], repeat)
    res["full load: gdcm scan + readinto"] = timeit(
        lambda: load_with(native_headers(files)), repeat)
    res["full load: walk_native + readinto"] = timeit(
        lambda: load_with([walk_native(p) for p in files]), repeat)
    res["load_series(files) (project loader)"] = timeit(lambda: load_series(files), repeat)
    if shutil.which("cat"):
        res["cat files > /dev/null (process)"] = timeit(
            lambda: subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL,
                                   check=True), repeat)
    table(f"Loader, 512x512x{n_slices} uint16 series", n_slices, "slices", res,
          "full load: walk_native + readinto")
    target = LOAD_TARGETS[n_slices]
    for name in ("full load: gdcm scan + readinto", "full load: walk_native + readinto",
                 "load_series(files) (project loader)"):
        wall, cpu = res[name]
        print(f"{name:44s} wall {wall:.4f} s = {wall / target:.2f}x the {target} s target"
              f" (CPU {cpu:.4f} s = {cpu / target:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--files", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="build the data in DIR and keep it")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_scan_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        bench_index(root, args.files, args.repeat)
        for n in (300, 30):
            bench_load(root, n, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
