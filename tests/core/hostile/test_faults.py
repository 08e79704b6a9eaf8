"""OS and database faults, for real: a full disk (tmpfs), read-only folders (bind mounts),
a folder the user may not write (as ``nobody``), a read-only store, a store held
locked, a 0-byte or foreign store. Each gives ONE clear line on stderr naming the path
and what to do, a non-zero exit, no traceback, no SQL, and nothing lost."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.errors import StoreError
from bmes_imaging.store import open_store
from bmes_imaging.volume import Volume

from .conftest import assert_one_line_error, fill, run_bmes, sample_table, small_archive

FINDINGS = ("patient_id,side,bone,status,grade,edema_volume_ml\n"
            "2,R,talus,confirmed,2,3.5\n7,R,navicular,confirmed,1,0.8\n")


def _findings(tmp_path: Path) -> Path:
    path = tmp_path / "involvement.csv"
    path.write_text(FINDINGS)
    return path


def _n_patients(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(con.execute("SELECT count(*) FROM patient").fetchone()[0])
    finally:
        con.close()


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()
            and not p.name.startswith(".bmes-store-id")]


# ------------------------------------------------------------------- a full disk
def test_full_disk_export_and_report_one_line(small_disk: Path, tmp_path: Path) -> None:
    findings = _findings(tmp_path)
    fill(small_disk)
    out = small_disk / "inv.csv"
    proc = run_bmes(["export", "involvement", sample_table(), "--findings", findings,
                     "--out", out])
    assert_one_line_error(proc, str(out.parent), "disk is full", "free space")
    proc = run_bmes(["report", sample_table(), "--out", small_disk / "report",
                     "--no-deidentify"])
    assert_one_line_error(proc, str(small_disk), "disk is full")
    assert not out.exists() and _temp_files(small_disk) == []


def test_full_disk_screen_one_line(small_disk: Path, tmp_path: Path) -> None:
    small_archive(tmp_path / "archive", 2)
    fill(small_disk)
    proc = run_bmes(["screen", tmp_path / "archive", "--out", small_disk / "screen",
                     "--workers", "1", "--no-progress", "--check-only"])
    assert_one_line_error(proc, str(small_disk / "screen"), "disk is full")


def test_full_disk_cannot_hold_a_new_store(small_disk: Path) -> None:
    db = small_disk / "bmes.sqlite"
    proc = run_bmes(["clinical", "import", sample_table(), "--db", db])
    assert_one_line_error(proc, str(db), "is full", "free space")
    assert not db.exists() and _temp_files(small_disk) == []


def test_full_disk_store_keeps_what_it_had(tmpfs: Any, tmp_path: Path) -> None:
    disk = tmpfs("4m")
    db = disk / "bmes.sqlite"
    proc = run_bmes(["clinical", "import", sample_table(), "--db", db])
    assert proc.returncode == 0, proc.stderr
    fill(disk)
    edited = tmp_path / "table.csv"
    edited.write_text(sample_table().read_text().replace(",M,", ",F,", 1))
    proc = run_bmes(["clinical", "import", edited, "--db", db])
    line = assert_one_line_error(proc, str(db))
    assert "full" in line
    for p in disk.glob("filler*"):
        p.unlink()
    assert _n_patients(db) == 17  # nothing lost, nothing half-written


# --------------------------------------------------------- read-only and forbidden
def test_read_only_folder_one_line(read_only_bind: Any, tmp_path: Path) -> None:
    findings = _findings(tmp_path)
    ro = read_only_bind(tmp_path / "ro")  # type: ignore[misc]
    proc = run_bmes(["export", "involvement", sample_table(), "--findings", findings,
                     "--out", ro / "out" / "inv.csv"])
    assert_one_line_error(proc, str(ro), "read-only")
    proc = run_bmes(["clinical", "import", sample_table(), "--db", ro / "bmes.sqlite"])
    assert_one_line_error(proc, "cannot create the store", str(ro), "read-only")


def test_permission_denied_as_another_user(tmp_path: Path) -> None:
    """Root ignores modes: the command runs as ``nobody`` on a root-owned 0500 folder."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    base = Path(f"/tmp/bmes-hostile-{tmp_path.name}")
    base.mkdir(mode=0o755)
    try:
        base.chmod(0o755)
        findings = base / "involvement.csv"
        findings.write_text(FINDINGS)
        findings.chmod(0o644)
        table = base / "table.csv"
        table.write_bytes(sample_table().read_bytes())
        table.chmod(0o644)
        locked = base / "locked"
        locked.mkdir(mode=0o500)
        locked.chmod(0o500)
        probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                "--clear-groups", sys.executable, "-c", "import bmes_imaging"],
                               capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot run the toolkit as nobody here: {probe.stderr[-200:]}")
        proc = run_bmes(["export", "involvement", table, "--findings", findings,
                         "--out", locked / "inv.csv"], user="nobody",
                        env={"HOME": str(base)})
        assert_one_line_error(proc, str(locked), "permission denied")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_read_only_store_one_line_nothing_lost(read_only_bind: Any, tmp_path: Path) -> None:
    folder = tmp_path / "store"
    db = folder / "bmes.sqlite"
    assert run_bmes(["clinical", "import", sample_table(), "--db", db]).returncode == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    read_only_bind(folder)  # type: ignore[misc]
    edited = tmp_path / "table.csv"
    edited.write_text(sample_table().read_text().replace(",M,", ",F,", 1))
    proc = run_bmes(["clinical", "import", edited, "--db", db])
    assert_one_line_error(proc, str(db), "read-only", "writable")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


# ------------------------------------------------------------- a store held locked
HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_store_held_locked_one_line_then_works(tmp_path: Path) -> None:
    db = tmp_path / "bmes.sqlite"
    assert run_bmes(["clinical", "import", sample_table(), "--db", db]).returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        t0 = time.perf_counter()
        proc = run_bmes(["clinical", "import", sample_table(), "--db", db],
                        env={"BMES_BUSY_TIMEOUT_S": "1"})
        waited = time.perf_counter() - t0
        assert_one_line_error(proc, str(db), "another program", "try again")
        assert waited < 30
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    proc = run_bmes(["clinical", "import", sample_table(), "--db", db])
    assert proc.returncode == 0, proc.stderr
    assert _n_patients(db) == 17


# ------------------------------------------------------ a 0-byte or foreign store
def test_empty_store_file_is_refused_unless_init(tmp_path: Path) -> None:
    db = tmp_path / "bmes.sqlite"
    db.write_bytes(b"")
    proc = run_bmes(["clinical", "import", sample_table(), "--db", db])
    assert_one_line_error(proc, str(db), "empty (0 bytes)", "--init")
    assert db.stat().st_size == 0
    proc = run_bmes(["clinical", "import", sample_table(), "--db", db, "--init"])
    assert proc.returncode == 0, proc.stderr
    assert _n_patients(db) == 17
    assert (db.stat().st_mode & 0o777) == 0o600


def test_foreign_sqlite_file_is_never_initialised_over(tmp_path: Path) -> None:
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.execute("INSERT INTO notes VALUES ('keep me')")
    con.commit()
    con.close()
    before = db.read_bytes()
    for extra in ([], ["--init"]):
        proc = run_bmes(["clinical", "import", sample_table(), "--db", db, *extra])
        assert_one_line_error(proc, str(db), "another program")
        assert db.read_bytes() == before


def _labels(seed: int) -> Volume:
    arr = np.random.default_rng(seed).integers(0, 15, (16, 16, 8)).astype(np.uint8)
    return Volume(arr, np.eye(4))


def test_truncated_store_never_deletes_the_label_maps(tmp_path: Path) -> None:
    """The issue's case: a store emptied to 0 bytes, then a review save and a clean-up."""
    db = tmp_path / "bmes.sqlite"
    with open_store(db) as store:
        for k in range(3):
            store.save_annotation("1.2.3", f"reader{k}", [], _labels(k))
        folder = store.annotation_dir
        # label maps live in the database now (schema 0003); a store downgraded to
        # 0002 (or one never upgraded) keeps them as files in its folder
        from bmes_imaging.store._engine import run_migrations

        run_migrations(store.engine, annotation_dir=folder, revision="0002_store_identity",
                       downgrade=True)
        maps = sorted(folder.rglob("v*.nii.gz"))
    assert len(maps) == 3
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"")
    with pytest.raises(StoreError, match="empty"):
        open_store(db)
    # a new store at a new path pointed at the old folder: not its folder, nothing deleted
    other = open_store(tmp_path / "new.sqlite", annotation_dir=folder, orphan_age_s=0)
    try:
        assert other.remove_orphans(min_age_s=0) == []
        other.save_annotation("1.2.3", "reader9", [], _labels(9))  # into its database
    finally:
        other.close()
    assert sorted(folder.rglob("v*.nii.gz")) == maps


# -------------------------------------------------------------- PostgreSQL gone
def test_postgresql_gone_one_line(pg_server: dict[str, Any], tmp_path: Path) -> None:
    url = pg_server["url"]
    ann = tmp_path / "labels"
    proc = run_bmes(["clinical", "import", sample_table(), "--db", url],
                    env={"BMES_ANNOTATIONS": str(ann)})
    assert proc.returncode == 0, proc.stderr
    store = open_store(url, annotation_dir=ann)
    try:
        store.save_findings("1.2.3", [{"bone": "talus", "grade": 1}])
        pg_server["stop"]()  # the server goes away under an open store
        with pytest.raises(StoreError) as info:
            store.save_findings("1.2.3", [{"bone": "talus", "grade": 2}])
    finally:
        store.close()
    message = str(info.value)
    assert "\n" not in message and "cannot be reached" in message
    assert "INSERT" not in message and "1.2.3" not in message
    proc = run_bmes(["clinical", "import", sample_table(), "--db", url],
                    env={"BMES_ANNOTATIONS": str(ann)})
    assert_one_line_error(proc, "cannot be reached", "server")
