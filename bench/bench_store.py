"""Benchmark: annotation store speed against plain file writes, measured in the same run.

Measures (median of ``--repeat`` runs, SQLite store in a temporary folder, or the
database of ``--db URL``, e.g. an empty PostgreSQL database):

* ``Store.save_annotation`` of a label map of ``--shape`` (default 384x384x30 uint8,
  a typical sagittal MR grid, ~5 % edema labels) with 5 findings: gzip NIfTI in
  memory + one transaction (map, version, findings, audit);
  reference: ``Volume.to_nifti(path)`` of the same map (nibabel, atomic, no fsync);
* ``Store.latest_annotation`` (query + checksum + decode), reference: ``load_nifti``;
* ``Store.import_clinical`` of the study's Table 1 (validate + one transaction);
* saves per second with ``--workers`` processes writing at once (half on one shared
  study and reader, half on their own studies) versus one process.

Usage: ``.venv/bin/python bench/bench_store.py [--repeat 7] [--workers 4] [--db URL]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bmes_imaging.clinical import sample_table_path
from bmes_imaging.store import open_store
from bmes_imaging.volume import Volume, load_nifti

FINDINGS = [{"bone": b, "grade": 1 + b % 3, "fraction": 0.1 * b, "status": "candidate"}
            for b in (1, 2, 3, 4, 5)]


def _labels(shape: tuple[int, int, int], seed: int = 0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = np.zeros(shape, np.uint8)
    blobs = rng.random(shape) < 0.05
    arr[blobs] = rng.integers(1, 15, int(blobs.sum()))
    return Volume(arr, np.diag([0.4, 0.4, 3.3, 1.0]))


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _worker(db: str, uid: str, reader: str, n: int, shape: tuple[int, int, int],
            barrier: Any) -> None:
    store = open_store(db)
    labels = _labels(shape, 1)
    barrier.wait()
    for _ in range(n):
        store.save_annotation(uid, reader, FINDINGS, labels)
    store.close()


def _throughput(folder: Path, workers: int, saves: int, shape: tuple[int, int, int],
                url: str | None = None) -> float:
    db = url or str(folder / f"tp{workers}.sqlite")
    open_store(db).close()
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=_worker, args=(
        db, "1.2.3" if w % 2 == 0 else f"1.2.3.{w}", f"reader{workers}", saves, shape,
        barrier))
        for w in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    return workers * saves / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--saves", type=int, default=10, help="saves per worker")
    parser.add_argument("--shape", type=int, nargs=3, default=(384, 384, 30))
    parser.add_argument("--db", metavar="URL",
                        help="benchmark this store (e.g. an empty PostgreSQL database) "
                             "instead of a temporary SQLite file")
    args = parser.parse_args()
    shape = tuple(args.shape)
    labels = _labels(shape)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = open_store(args.db or folder / "bench.sqlite", annotation_dir=folder / "a")
        save = _median(lambda: store.save_annotation("9.9", "r", FINDINGS, labels),
                       args.repeat)
        ref_path = folder / "ref.nii.gz"
        ref_save = _median(lambda: labels.to_nifti(ref_path), args.repeat)
        load = _median(lambda: store.latest_annotation("9.9", "r"), args.repeat)
        ref_load = _median(lambda: load_nifti(ref_path), args.repeat)
        imp = _median(lambda: store.import_clinical(sample_table_path()), args.repeat)
        store.close()
        one = _throughput(folder, 1, args.saves, shape, args.db)
        many = _throughput(folder, args.workers, args.saves, shape, args.db)
    print(f"store {store.engine.dialect.name}; label map {shape} uint8, {args.repeat} runs, "
          "medians")
    print(f"{'operation':<44}{'time (ms)':>10}{'reference (ms)':>16}{'ratio':>8}")
    print(f"{'save_annotation vs Volume.to_nifti':<44}{save * 1e3:>10.1f}"
          f"{ref_save * 1e3:>16.1f}{save / ref_save:>8.2f}")
    print(f"{'latest_annotation vs load_nifti':<44}{load * 1e3:>10.1f}"
          f"{ref_load * 1e3:>16.1f}{load / ref_load:>8.2f}")
    print(f"{'import_clinical (Table 1, 18 feet)':<44}{imp * 1e3:>10.1f}")
    print(f"saves/s: 1 process {one:.1f}, {args.workers} processes {many:.1f} "
          f"(ratio {many / one:.2f})")


if __name__ == "__main__":
    main()
