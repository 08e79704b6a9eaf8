"""Killing a screening run halfway (SIGKILL) and rerunning completes only the rest."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import write_mr_study


def test_killed_run_resumes_with_only_the_rest(tmp_path: Path) -> None:
    root, out = tmp_path / "archive", tmp_path / "out"
    n_studies = 14
    for n in range(n_studies):
        write_mr_study(root / f"s{n:02d}", 20 + n, "R", shape=(192, 160, 16))
    cmd = [sys.executable, "-m", "bmes_imaging", "screen", str(root), "--out", str(out),
           "--workers", "1", "--check-only", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("studies/*/screen_done.json"))) < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its Dask worker processes
        proc.wait(timeout=30)
    done_before = {p.parent.name for p in out.glob("studies/*/screen_done.json")}
    assert 2 <= len(done_before) < n_studies, "kill landed after the run finished"

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    with (out / "studies.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_studies and all(r["status"] == "done" for r in rows)
    earlier = {r["study_key"] for r in rows if r["from_earlier_run"] == "yes"}
    assert earlier == done_before  # exactly the finished ones were skipped
    assert f"({len(done_before)} from an earlier run)" in rerun.stdout


def test_only_settings_that_change_results_make_a_study_run_again() -> None:
    """A resumed run redoes a study when its detection settings changed; a thread count
    changes only the speed, so it does not count."""
    from bmes_imaging.detection import DetectionConfig
    from bmes_imaging.screening._plan import config_fingerprint

    base = DetectionConfig()
    assert config_fingerprint(base.replace(threads=1)) == config_fingerprint(base)
    assert config_fingerprint(base.replace(fluid_ratio_min=3.0)) != config_fingerprint(base)
