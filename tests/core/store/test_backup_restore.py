"""The backup / restore recipes of docs/store.md, run for real: pg_dump + pg_restore into a
new database, SQLite's online ``.backup``; the restored store passes ``bmes db check``
and holds every label map."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bmes_test_services import PgCluster, pg_binary, service_missing

from bmes_imaging.cli import main
from bmes_imaging.store import open_store
from bmes_imaging.volume import Volume


def _fill(url: str, folder: Path) -> dict[int, np.ndarray]:
    maps = {}
    with open_store(url, annotation_dir=folder) as store:
        for seed in (1, 2, 3):
            arr = np.random.default_rng(seed).integers(0, 9, (10, 9, 5)).astype(np.uint8)
            v = store.save_annotation("1.2.3", f"dr_{seed}", [{"bone": "talus", "grade": 1}],
                                      Volume(arr, np.eye(4)))
            maps[v.annotation_id] = arr
    return maps


def _same_maps(url: str, folder: Path, maps: dict[int, np.ndarray]) -> None:
    assert main(["db", "check", "--db", url]) == 0
    with open_store(url, annotation_dir=folder) as store:
        for ann_id, arr in maps.items():
            np.testing.assert_array_equal(store.load_annotation(ann_id).labels.array, arr)


@pytest.mark.slow
def test_pg_dump_and_pg_restore(pg_cluster: PgCluster, pg_url: str, tmp_path: Path) -> None:
    pg_dump, pg_restore = pg_binary("pg_dump"), pg_binary("pg_restore")
    if not pg_dump or not pg_restore:
        service_missing("pg_dump / pg_restore not installed")
    assert pg_dump is not None and pg_restore is not None
    maps = _fill(pg_url, tmp_path / "a")
    libpq = pg_url.replace("postgresql+psycopg://", "postgresql://")
    dump = tmp_path / "bmes.dump"
    subprocess.run([pg_dump, "--format=custom", f"--file={dump}", libpq], check=True,
                   capture_output=True)
    restored = pg_cluster.new_database()
    try:
        subprocess.run([pg_restore, "--no-owner",
                        f"--dbname={restored.replace('postgresql+psycopg://', 'postgresql://')}",
                        str(dump)], check=True, capture_output=True)
        _same_maps(restored, tmp_path / "b", maps)
    finally:
        pg_cluster.drop_database(restored)


def test_sqlite_online_backup(tmp_path: Path) -> None:
    db = tmp_path / "bmes.sqlite"
    maps = _fill(str(db), tmp_path / "a")
    copy = tmp_path / "backup" / "bmes-copy.sqlite"
    copy.parent.mkdir()
    with open_store(db) as store:  # a store in use: the WAL holds recent commits
        store.save_findings("1.2.3", [{"bone": "cuboid", "grade": 1}], "detector")
        if shutil.which("sqlite3"):
            subprocess.run(["sqlite3", str(db), f".backup '{copy}'"], check=True)
        else:  # the same online backup from Python
            src, dst = sqlite3.connect(db), sqlite3.connect(copy)
            src.backup(dst)
            src.close()
            dst.close()
    _same_maps(str(copy), tmp_path / "b", maps)
    with open_store(copy) as store:
        assert len(store.annotations("1.2.3", "detector")) == 1
