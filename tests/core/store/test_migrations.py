"""Alembic migrations: a fresh database upgrades to head and matches the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import bmes_imaging.store as store_pkg
from bmes_imaging.store import HEAD_REVISION, open_store
from bmes_imaging.store._models import Base


def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location",
                        str(Path(store_pkg.__file__).with_name("migrations")))
    return ScriptDirectory.from_config(cfg)


def test_head_constant_is_the_newest_revision() -> None:
    assert _script().get_current_head() == HEAD_REVISION


def test_fresh_database_upgrades_to_head_and_matches_models(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite"
    store = open_store(db)
    try:
        with store.engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            assert ctx.get_current_revision() == HEAD_REVISION
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        store.close()
    con = sqlite3.connect(db)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(Base.metadata.tables) <= tables
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_connections_enforce_foreign_keys(tmp_path: Path) -> None:
    with open_store(tmp_path / "fk.sqlite") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_reopening_is_a_no_op_and_environment_variable_is_used(
        tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    try:
        db = tmp_path / "env.sqlite"
        mp.setenv("BMES_DB", str(db))
        with open_store() as first:
            first.save_findings("1.2.3", [{"bone": "talus", "grade": 1}], "detector")
        with open_store() as second:
            assert len(second.annotations("1.2.3")) == 1
            assert second.annotation_dir == tmp_path / "env.sqlite-annotations"
    finally:
        mp.undo()


def test_unusable_locations_give_store_errors(tmp_path: Path) -> None:
    import pytest

    from bmes_imaging.errors import StoreError

    not_a_db = tmp_path / "notes.sqlite"
    not_a_db.write_text("this is not a database\n" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(not_a_db)
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store("nosuchdialect://x/y")
    future = tmp_path / "future.sqlite"
    open_store(future).close()
    con = sqlite3.connect(future)
    con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="upgrade bmes-imaging"):
        open_store(future)
