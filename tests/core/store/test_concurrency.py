"""Several processes saving, creating or importing at once, on SQLite and PostgreSQL:
no lost update, no "database is locked", no duplicate key, no traceback."""

from __future__ import annotations

import multiprocessing as mp
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bmes_imaging.store import open_store
from bmes_imaging.volume import Volume

SHARED = "1.2.826.0.1.3680043.10.555"
SAVES = 8


def _labels(worker: int, i: int) -> np.ndarray:
    return np.full((6, 5, 4), worker * 16 + i, dtype=np.uint8)


def _worker(db: str, worker: int, plan: str, barrier: Any, queue: Any) -> None:
    try:
        store = open_store(db)
        barrier.wait(timeout=60)
        out = []
        for i in range(SAVES):
            if plan == "shared-reader":      # same study, same reader as another process
                v = store.save_annotation(SHARED, "reader1", [{"bone": 1, "grade": i % 4}],
                                          Volume(_labels(worker, i), np.eye(4)),
                                          note=f"{worker}:{i}")
            elif plan == "shared-other":     # same study, another reader
                v = store.save_annotation(SHARED, "reader2", [{"bone": 2, "grade": 1}],
                                          Volume(_labels(worker, i), np.eye(4)),
                                          note=f"{worker}:{i}")
            else:                            # detector findings for different studies
                v = store.save_findings(f"{SHARED}.{worker}.{i % 3}",
                                        [{"bone": 3, "grade": 2}], "detector",
                                        note=f"{worker}:{i}")
            out.append((v.study_instance_uid, v.reader, v.version, v.note))
        store.close()
        queue.put((worker, out, None))
    except BaseException:  # noqa: BLE001  report all, incl. "database is locked"
        queue.put((worker, [], traceback.format_exc()))


@pytest.mark.slow
def test_parallel_saves_lose_nothing(store_url: str) -> None:
    db = store_url
    open_store(db).close()  # schema created before the workers start
    ctx = mp.get_context("fork")
    plans = ["shared-reader", "shared-reader", "shared-reader", "shared-other",
             "other-studies"]
    barrier = ctx.Barrier(len(plans))
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db, w, plan, barrier, queue))
             for w, plan in enumerate(plans)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [err for _, _, err in results if err]
    assert not errors, errors[0]

    saved = [item for _, out, _ in results for item in out]
    assert len(saved) == len(plans) * SAVES
    with open_store(db) as store:
        for reader, writers in (("reader1", 3), ("reader2", 1)):
            versions = store.annotations(SHARED, reader)
            # every save got its own version number, none lost or reused
            assert [v.version for v in versions] == list(range(1, writers * SAVES + 1))
            returned = sorted(v for uid, r, v, _ in saved if uid == SHARED and r == reader)
            assert returned == [v.version for v in versions]
            for v in versions:
                worker, i = map(int, (v.note or "").split(":"))
                loaded = store.load_annotation(v.annotation_id)
                np.testing.assert_array_equal(loaded.labels.array, _labels(worker, i))
        for k in range(3):
            uid = f"{SHARED}.4.{k}"
            assert len(store.annotations(uid, "detector")) == len(range(k, SAVES, 3))
        assert store.check_annotations() == ([], [])
        # one audit "saved" event per save
        saves = [e for e in store.audit_events()
                 if e.action in ("annotation_saved", "findings_saved")]
        assert len(saves) == len(plans) * SAVES


def _open_and_save(db: str, worker: int, barrier: Any, queue: Any) -> None:
    try:
        barrier.wait(timeout=60)
        with open_store(db) as store:
            v = store.save_findings("9.8.7", [{"bone": 1 + worker, "grade": 1}], "detector")
        queue.put((worker, v.version, None))
    except BaseException:  # noqa: BLE001  report all, incl. "database is locked"
        queue.put((worker, None, traceback.format_exc()))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_processes_creating_a_new_store_at_once_migrate_it_once(
        tmp_path: Path, engine: str, request: pytest.FixtureRequest) -> None:
    # a file that does not exist yet / an empty PostgreSQL database (no table at all)
    db = str(tmp_path / "new.sqlite") if engine == "sqlite" else \
        str(request.getfixturevalue("pg_url"))
    ctx = mp.get_context("fork")
    n = 4 if engine == "sqlite" else 3
    barrier = ctx.Barrier(n)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_open_and_save, args=(db, w, barrier, queue))
             for w in range(n)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [err for _, _, err in results if err]
    assert not errors, errors[0]
    assert sorted(v for _, v, _ in results) == list(range(1, n + 1))


def test_schema_creation_waits_for_the_postgresql_migration_lock(pg_url: str,
                                                                 tmp_path: Path) -> None:
    """The migration runs under the advisory lock: while another holds it, opening a
    new store waits; once released, it creates the schema."""
    import threading

    import psycopg

    from bmes_imaging.store._engine import MIGRATION_LOCK_KEY

    holder = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        done, errors = threading.Event(), []

        def open_new() -> None:
            try:
                open_store(pg_url, annotation_dir=tmp_path / "a").close()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            done.set()

        thread = threading.Thread(target=open_new)
        thread.start()
        assert not done.wait(1.5)  # blocked on the lock
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        assert done.wait(60)
        thread.join()
        assert not errors, errors
    finally:
        holder.close()
