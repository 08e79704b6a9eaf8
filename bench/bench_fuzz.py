"""Benchmark: hostile DICOM input, every mutation family plus seeded random damage.

Builds the cases of ``tests/core/fuzz/dicom_fuzz.py`` (structured families: geometry,
pixel format, sizes, transfer syntax, nesting, charset, file system; then seeded
random header damage), runs each through ``index_folder`` and ``load_series`` in a
child process limited to a 3 GB address space (``resource.setrlimit(RLIMIT_AS)``) with
a 60 s timeout per case, and prints the table by family:

cases, typed errors, equal loads, gap-reported loads, tracebacks (and child crashes),
hangs, memory past the bound (a MemoryError anywhere, or a peak RSS above it), silent
wrong / partial volumes, valid input refused, identifier leaks (the planted patient
name or ID in a reason, an error or stderr), stderr noise, and the largest peak RSS.

The deflate bombs here use the default per-file limit (``BMES_MAX_FILE_BYTES``,
1 GiB) and inflate to 1.5 GiB; the test suite's bounded run uses small ones.

Usage: ``.venv/bin/python bench/bench_fuzz.py [--cases 450] [--timeout 60]
[--memory-gb 3] [--keep DIR]``; exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "core" / "fuzz"))

import dicom_fuzz as fz  # the mutation engine lives beside the tests

BOMB_BYTES = 3 << 29  # 1.5 GiB inflated, beyond the default 1 GiB per file
COLUMNS = ("cases", "typed", "equal", "gap", "traceback", "hang", "memory", "wrong",
           "refused_valid", "leak", "noise")
HEADERS = ("family", "cases", "typed errors", "equal loads", "gap-reported",
           "tracebacks", "hangs", "memory past bound", "silent wrong/partial",
           "valid refused", "identifier leaks", "stderr noise", "peak RSS MB")


def all_cases(total: int) -> list[fz.Case]:
    structured = fz.structured_cases(bomb_bytes=BOMB_BYTES, bomb_limit=None)
    n_random = max(total - len(structured), 300 if total >= 450 else 0)
    return structured + fz.random_cases(n_random)


# ------------------------------------------------------------------------- worker

def _peak_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(root: Path, total: int) -> None:
    """Run the cases named on stdin (one index a line); write ``<case>.json``."""
    import numpy as np

    cases = all_cases(total)
    ref = np.load(root / "expected.npz")
    expected, affine = ref["array"], ref["affine"]
    for line in sys.stdin:
        i = int(line)
        case = cases[i]
        folder = root / f"case{i:04d}"
        err_path = root / f"case{i:04d}.stderr"
        saved_env = {k: os.environ.get(k) for k in case.env}
        os.environ.update(case.env)
        sys.stderr.flush()
        saved_fd = os.dup(2)
        with open(err_path, "wb") as err:
            os.dup2(err.fileno(), 2)
        _peak_reset()
        t0 = time.perf_counter()
        try:
            result = fz.run_case(case, folder, expected, affine,
                                 stderr_text=lambda p=err_path: _read_err(p))
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        result["seconds"] = time.perf_counter() - t0
        result["peak_mb"] = _peak_mb()
        (root / f"case{i:04d}.json").write_text(json.dumps(result))
        print(f"done {i}", flush=True)


def _read_err(path: Path) -> str:
    sys.stderr.flush()
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------------- parent

class Worker:
    """A child process running cases under the memory limit; restarted after a hang."""

    def __init__(self, root: Path, total: int, memory_gb: float) -> None:
        self.root, self.total, self.memory = root, total, int(memory_gb * 1e9)
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        limit = self.memory

        def limits() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(self.root), "--cases",
             str(self.total)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=env,
            preexec_fn=limits)

    def run(self, i: int, timeout: float) -> str:
        """"done", "hang" or "crash"."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(f"{i}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return "crash"
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return "hang"
        line = self.proc.stdout.readline()
        if not line.startswith("done"):
            self.stop()
            return "crash"
        return "done"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=450, help="at least: every family + "
                    "300 random (default 450)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--memory-gb", type=float, default=3.0, help="address-space limit")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.cases)
        return 0
    import numpy as np

    from bmes_imaging.dicom import load_series

    root = Path(tempfile.mkdtemp(prefix="bmes-fuzz-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    base = root / "base"
    fz.write_base(base)
    vol = load_series(base)
    np.savez(root / "expected.npz", array=vol.array, affine=vol.affine)
    cases = all_cases(args.cases)
    print(f"{len(cases)} cases ({sum(c.family != 'random' for c in cases)} structured, "
          f"{sum(c.family == 'random' for c in cases)} random); limit "
          f"{args.memory_gb:g} GB address space, {args.timeout:g} s per case")
    runner = Worker(root, args.cases, args.memory_gb)
    results: list[dict[str, Any]] = []
    try:
        for i, case in enumerate(cases):
            folder = root / f"case{i:04d}"
            fz.prepare(case, base, folder)
            status = runner.run(i, args.timeout)
            if status == "done":
                result = json.loads((root / f"case{i:04d}.json").read_text())
            else:
                result = {"family": case.family, "case": case.name,
                          "verdict": "hang" if status == "hang" else "traceback",
                          "detail": status, "leak": False, "noise": False, "peak_mb": 0}
            if result["peak_mb"] > args.memory_gb * 1000:
                result["verdict"] = "memory"
            results.append(result)
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        runner.stop()
    print_table(results)
    failed = [r for r in results if r["verdict"] in ("traceback", "hang", "memory", "wrong",
                                                     "refused_valid")
              or r["leak"] or r["noise"]]
    for r in failed:
        print(f"FAILED {r['family']}: {r['case']}: {r['verdict']} {r['detail'][:300]}")
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


def print_table(results: list[dict[str, Any]]) -> None:
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in results:
        for fam in (r["family"], "total"):
            row = rows[fam]
            row["cases"] += 1
            row[r["verdict"]] += 1
            row["leak"] += bool(r["leak"])
            row["noise"] += bool(r["noise"])
            row["peak"] = max(row["peak"], float(r.get("peak_mb", 0)))
    widths = [max(len(h), 8) for h in HEADERS]
    widths[0] = 16
    print(" | ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for fam in (*fz.FAMILIES, "total"):
        if fam not in rows:
            continue
        row = rows[fam]
        cells = [fam] + [str(int(row[c])) for c in COLUMNS] + [f"{row['peak']:.0f}"]
        print(" | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))


if __name__ == "__main__":
    sys.exit(main())
