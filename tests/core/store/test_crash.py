"""Crash safety: SIGKILL a process in the middle of saving annotations, many times."""

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

from bmes_imaging.store import open_store

STUDY = "1.2.826.0.1.3680043.10.777"
CHILD = """
import sys
import nibabel  # noqa: F401  (imported before "ready": kills then hit saves, not imports)
import numpy as np
from bmes_imaging.store import open_store
from bmes_imaging.volume import Volume

db, start = sys.argv[1], int(sys.argv[2])
store = open_store(db)
print("ready", flush=True)
seed = start
while True:
    labels = np.random.default_rng(seed).integers(0, 15, (32, 32, 16)).astype(np.uint8)
    findings = [{"bone": 1 + seed % 14, "grade": seed % 4, "status": "confirmed"}]
    v = store.save_annotation(sys.argv[3], "reader", findings, Volume(labels, np.eye(4)),
                              note=str(seed))
    print(f"saved {v.version} {seed} {v.label_sha256}", flush=True)
    seed += 1
"""


def _labels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 15, (32, 32, 16)).astype(np.uint8)


@pytest.mark.slow
def test_sigkill_during_saves_never_corrupts_the_store(tmp_path: Path) -> None:
    db = tmp_path / "bmes.sqlite"
    open_store(db).close()
    rng = random.Random(20261126)
    reported: dict[int, str] = {}  # seed -> sha256 the child saw committed
    kills = 20
    for round_ in range(kills):
        next_seed = round_ * 10_000  # distinct seeds per run
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(next_seed), STUDY],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for out in proc.stdout.read().splitlines():
            if out.startswith("saved"):
                _, _version, seed, sha = out.split()
                reported[int(seed)] = sha
        proc.stdout.close()
        if proc.stderr:
            err = proc.stderr.read()
            proc.stderr.close()
            assert "Traceback" not in err, err

    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    with open_store(db) as store:
        versions = store.annotations(STUDY)
        assert versions, "the child never saved anything"
        # versions are allocated without gaps: an interrupted save left no row
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))
        saved = {int(v.note): v for v in versions}
        # everything the child saw committed is there, with the same checksum
        for seed, sha in reported.items():
            assert saved[seed].label_sha256 == sha
        # every version (also one committed just before a kill) is complete and exact
        for seed, version in saved.items():
            loaded = store.load_annotation(version.annotation_id)
            np.testing.assert_array_equal(loaded.labels.array, _labels(seed))
            assert loaded.findings[0].grade == seed % 4
        problems, orphans = store.check_annotations()
        assert problems == []
        # leftovers of interrupted saves are only unreferenced files, removable
        removed = store.remove_orphans(min_age_s=0)
        assert sorted(removed) == sorted(orphans)
        assert store.check_annotations() == ([], [])
        assert len(store.annotations(STUDY)) == len(versions)
