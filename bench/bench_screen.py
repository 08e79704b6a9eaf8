"""Screening throughput: 1 vs 2 Dask workers, and the Dask path vs a plain loop.

Usage::

    .venv/bin/python bench/bench_screen.py                  # phantom cohort, real detection
    .venv/bin/python bench/bench_screen.py --check-only     # load-only studies (I/O path)
    .venv/bin/python bench/bench_screen.py --cohort DIR     # an existing archive

Prints studies per minute for a plain in-process loop (the reference), the Dask path
with one local worker process and with two, then the ratios. Targets: 2 workers >=
1.8x one worker; Dask overhead (1 worker vs plain loop) <= 10 %. Each configuration
writes to a fresh output folder, so nothing is skipped as already done.

Every configuration runs single-threaded numerical libraries (OMP / MKL / OpenBLAS
threads = 1, set here before numpy is imported, as Dask's nanny sets them for its
workers), so "plain loop" means one worker without Dask.

The machine's load matters: on a shared 2-core machine the 2-worker figure is bounded
by what the other processes leave free; the script prints the load average with the
figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _make_cohort(root: Path, n: int, check_only: bool, resolution: float = 1.0) -> str:
    """Write ``n`` studies; return what they are."""
    try:
        from bmes_imaging.phantom import PhantomSpec, write_study
    except ImportError:
        write_study = None
    if write_study is not None and not check_only:
        bones = ("talus", "calcaneus", "navicular", "cuboid")
        for i in range(n):
            spec = PhantomSpec(seed=100 + i, side="R" if i % 2 else "L",
                               edema_bones=(bones[i % len(bones)],), patient_id=str(i + 1),
                               resolution=resolution)
            write_study(spec, root / f"p{i:02d}")
        return (f"{n} phantom studies (bmes_imaging.phantom.write_study, resolution "
                f"{resolution})")
    import numpy as np

    from bmes_imaging import Volume
    from bmes_imaging.dicom import write_series

    affine = np.array([[0, 0, -3.0, 0], [0.5, 0, 0, -60], [0, 0.5, 0, -50], [0, 0, 0, 1]])
    rng = np.random.default_rng(0)
    t1a = {"ScanningSequence": "SE", "SequenceVariant": "SK", "RepetitionTime": 520,
           "EchoTime": 12}
    sta = {"ScanningSequence": ["SE", "IR"], "SequenceVariant": "SK", "RepetitionTime": 4200,
           "EchoTime": 40, "InversionTime": 160}
    for i in range(n):
        common = {"patient_id": str(i + 1), "study_instance_uid": f"1.2.826.0.1.3680043.8.498.9{i}"}
        for desc, attrs, pattern, num in (("T1 SAG", t1a, "IM{index:05d}.dcm", 1),
                                          ("STIR SAG", sta, "ST{index:05d}.dcm", 2)):
            vol = Volume(rng.uniform(0, 900, (384, 384, 24)).astype(np.float32), affine)
            write_series(vol, root / f"s{i:02d}", series_number=num, series_description=desc,
                         attributes={**attrs, "Laterality": "R"}, uid_seed=f"{i}{desc}",
                         filename_pattern=pattern, **common)
    return f"{n} synthetic studies of 2 x 384x384x24 (write_series)"


def main() -> int:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "BMES_DETECTION_THREADS"):
        os.environ[var] = "1"  # before numpy loads: the reference loop is one worker too
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, help="existing archive to screen")
    parser.add_argument("--studies", type=int, default=8, help="studies to generate")
    parser.add_argument("--check-only", action="store_true", help="load-only study function")
    parser.add_argument("--resolution", type=float, default=1.0,
                        help="phantom pixel-size factor (2.0 halves the matrix: quicker)")
    args = parser.parse_args()

    from bmes_imaging.screening import load_only, screen

    fn = load_only if args.check_only else None
    work = Path(tempfile.mkdtemp(prefix="bench_screen_"))
    try:
        if args.cohort:
            root, what = args.cohort, str(args.cohort)
        else:
            root = work / "archive"
            what = _make_cohort(root, args.studies, args.check_only, args.resolution)
        print(f"cohort: {what}; study function: "
              f"{'load only' if fn else 'detection (load, detect, write)'}")
        print(f"cpus: {os.cpu_count()}, load average before: "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        results = {}
        for name, kwargs in (("plain loop (reference)", {"inline": True}),
                             ("dask, 1 worker", {"workers": 1}),
                             ("dask, 2 workers", {"workers": 2})):
            out = work / name.split(",")[-1].strip().replace(" ", "_").replace("(", "")
            t0 = time.perf_counter()
            res = screen(root, out, study_function=fn, progress=False, **kwargs)
            wall = time.perf_counter() - t0
            n = res.n_submitted
            fixed = res.extra.get("cluster_start_s", 0.0) + res.extra.get("cluster_close_s", 0.0)
            results[name] = (wall, wall - fixed)
            per_min = n / wall * 60 if wall else float("nan")
            print(f"{name:>24}: {n} studies in {wall:6.2f} s = {per_min:6.1f} studies/min "
                  f"({res.n_done} done, {res.n_failed} failed; cluster start+close "
                  f"{fixed:.2f} s)")
            stages: dict[str, list[float]] = {}
            for o in res.outcomes:
                for k, v in {"study": o.seconds, **o.timings}.items():
                    stages.setdefault(k, []).append(v)
            print(" " * 26 + "per study, mean s: " + ", ".join(
                f"{k} {sum(v) / len(v):.2f}" for k, v in stages.items()))
        ref = results["plain loop (reference)"][0]
        (one, one_s), (two, two_s) = results["dask, 1 worker"], results["dask, 2 workers"]
        print(f"speed-up 2 workers / 1 worker: {one / two:.2f}x, without cluster start/close "
              f"{one_s / two_s:.2f}x (target >= 1.8x)")
        print(f"dask overhead, 1 worker vs plain loop: {(one - ref) / ref * 100:+.1f} %, "
              f"without cluster start/close {(one_s - ref) / ref * 100:+.1f} % "
              "(target <= 10 %)")
        print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
