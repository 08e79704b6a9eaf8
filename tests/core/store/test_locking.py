"""A writer that meets a held database lock waits or retries; it never fails "locked"."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import bmes_imaging.store._engine as engine_mod
from bmes_imaging.store import open_store


def _hold_lock(db: Path, seconds: float, started: threading.Event) -> None:
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO clinical_import (file_name, sha256, n_records, imported_by,"
                    " imported_at) VALUES ('x', 'y', 0, 'lock', '2026-01-01 00:00:00')")
        started.set()
        time.sleep(seconds)
        con.execute("ROLLBACK")
    finally:
        con.close()


@pytest.mark.parametrize("busy_timeout_ms", [30_000, 20])
def test_save_waits_for_or_retries_past_a_held_lock(tmp_path: Path, busy_timeout_ms: int,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    # 30 s: SQLite's busy handler waits; 20 ms: SQLite gives up quickly and the store's
    # own retry with backoff must carry the write through
    monkeypatch.setattr(engine_mod, "_BUSY_TIMEOUT_MS", busy_timeout_ms)
    caplog.set_level(logging.DEBUG, logger="bmes_imaging.store")
    db = tmp_path / "bmes.sqlite"
    with open_store(db) as store:
        started = threading.Event()
        holder = threading.Thread(target=_hold_lock, args=(db, 0.8, started))
        holder.start()
        assert started.wait(10)
        t0 = time.perf_counter()
        version = store.save_findings("1.2.3", [{"bone": "talus", "grade": 1}])
        waited = time.perf_counter() - t0
        holder.join()
        assert version.version == 1
        assert waited > 0.3  # it really had to wait for the other writer
        assert len(store.annotations("1.2.3")) == 1
    assert ("retrying" in caplog.text) == (busy_timeout_ms < 1000)
