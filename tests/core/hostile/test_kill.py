"""kill -9 during each writer, then the next open: nothing lost, nothing half-written, and
no temporary file left behind (the dead writer's lock is gone, so the next open of the
store, or the next write of the same file, removes it at once)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bmes_imaging._atomic import LOCK_GRACE_S
from bmes_imaging.store import open_store

from .conftest import run_bmes, sample_table, small_archive

ROUNDS = 6


def _kill_loop(code: str, args: list[str], seed: int, *, lo: float = 0.05,
               hi: float = 0.6) -> list[str]:
    """Run ``code`` ``ROUNDS`` times, SIGKILL it at a random moment; its stdout lines."""
    rng = random.Random(seed)
    lines: list[str] = []
    for round_ in range(ROUNDS):
        proc = subprocess.Popen([sys.executable, "-c", code, *args, str(round_)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "ready", proc.stderr.read()
        time.sleep(rng.uniform(lo, hi))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        lines += proc.stdout.read().splitlines()
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        assert "Traceback" not in err, err
    time.sleep(LOCK_GRACE_S + 0.2)  # the next open comes later than the lock grace
    return lines


SAVER = """
import sys
import nibabel  # noqa: F401
import numpy as np
from bmes_imaging.store import open_store
from bmes_imaging.volume import Volume
store = open_store(sys.argv[1])
print("ready", flush=True)
seed = int(sys.argv[2]) * 1000
while True:
    labels = np.random.default_rng(seed).integers(0, 15, (48, 48, 24)).astype(np.uint8)
    v = store.save_annotation("1.2.3", "reader", [], Volume(labels, np.eye(4)), note=str(seed))
    print("saved", seed, v.label_sha256, flush=True)
    seed += 1
"""


@pytest.mark.slow
def test_kill_during_review_save_then_open_leaves_no_temp_file(tmp_path: Path) -> None:
    db = tmp_path / "bmes.sqlite"
    open_store(db).close()
    lines = _kill_loop(SAVER, [str(db)], 21)
    # a writer killed while printing may leave its last line cut short (unbuffered
    # stdout, e.g. PYTHONUNBUFFERED=1): only whole "saved SEED SHA" lines are counted
    reports = [s.split() for s in lines if s.startswith("saved")]
    saved = {int(r[1]): r[2] for r in reports if len(r) == 3 and len(r[2]) == 64}
    with open_store(db) as store:  # the next open cleans up
        tmp = store.annotation_dir / ".tmp"
        assert list(tmp.glob("*")) == []
        assert store.check_annotations() == ([], [])
        versions = {int(v.note): v for v in store.annotations("1.2.3")}
        for seed, sha in saved.items():  # nothing the writer saw committed is lost
            assert versions[seed].label_sha256 == sha
        for seed, v in versions.items():
            loaded = store.load_annotation(v.annotation_id)
            want = np.random.default_rng(seed).integers(0, 15, (48, 48, 24))
            np.testing.assert_array_equal(loaded.labels.array, want)


IMPORTER = """
import sys
from bmes_imaging.store import open_store
store = open_store(sys.argv[1])
print("ready", flush=True)
while True:
    store.import_clinical(sys.argv[2])
    print("imported", flush=True)
"""


@pytest.mark.slow
def test_kill_during_clinical_import_then_open(tmp_path: Path) -> None:
    db = tmp_path / "store" / "bmes.sqlite"
    open_store(db).close()
    _kill_loop(IMPORTER, [str(db), str(sample_table())], 22)
    with open_store(db) as store:
        n = len({r.patient for r in store.clinical_records()})
        assert n in (0, 17)  # all or nothing
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    left = sorted(p.name for p in db.parent.iterdir())
    assert set(left) <= {"bmes.sqlite", "bmes.sqlite-wal", "bmes.sqlite-shm",
                         "bmes.sqlite-annotations"}, left


EXPORTER = """
import sys
from bmes_imaging.cli import main
print("ready", flush=True)
while True:
    assert main(["export", "involvement", sys.argv[1], "--findings", sys.argv[2],
                 "--out", sys.argv[3]]) == 0
    assert main(["report", sys.argv[1], "--out", sys.argv[4], "--no-deidentify"]) == 0
"""


@pytest.mark.slow
def test_kill_during_export_and_report_then_next_write(tmp_path: Path) -> None:
    findings = tmp_path / "involvement.csv"
    findings.write_text("patient_id,side,bone,status,grade,edema_volume_ml\n"
                        "2,R,talus,confirmed,2,3.5\n")
    out, report = tmp_path / "out" / "inv.csv", tmp_path / "report"
    _kill_loop(EXPORTER, [str(sample_table()), str(findings), str(out), str(report)], 23,
               lo=0.5, hi=2.5)
    # the next run of the same writers: complete files, no temporary file left
    assert run_bmes(["export", "involvement", sample_table(), "--findings", findings,
                     "--out", out]).returncode == 0
    assert run_bmes(["report", sample_table(), "--out", report,
                     "--no-deidentify"]).returncode == 0
    # the table and its data dictionary, nothing half-written or temporary beside them
    assert sorted(p.name for p in out.parent.iterdir()) == ["inv.csv", "inv.dictionary.csv"]
    assert len(out.read_text().splitlines()) == 19  # header + 18 feet
    dictionary = out.with_name("inv.dictionary.csv").read_text().splitlines()
    assert dictionary[0].startswith("column") and len(dictionary) > 10
    for folder in (report, report / "plots"):
        assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_kill_during_screen_then_resume(tmp_path: Path) -> None:
    root, out = tmp_path / "archive", tmp_path / "screen"
    small_archive(root, 4)
    args = [sys.executable, "-m", "bmes_imaging", "screen", str(root), "--out", str(out),
            "--workers", "1", "--no-progress", "--check-only"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("studies/*/screen_done.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its Dask workers
    proc.wait()
    time.sleep(LOCK_GRACE_S + 0.2)
    done = run_bmes(["screen", root, "--out", out, "--workers", "1", "--no-progress",
                     "--check-only"])
    assert done.returncode == 0, done.stderr
    assert "4 studies done" in done.stdout
    temps = [p for p in out.rglob(".*") if p.is_file()]
    assert temps == []
