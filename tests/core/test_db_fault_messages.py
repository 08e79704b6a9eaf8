"""``db_error_message`` on real SQLite errors: the kind of fault, the store, never SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bmes_imaging._faults import db_error_message


def _error(path: Path, setup: str, statement: str, *, uri: str | None = None) -> Exception:
    con = sqlite3.connect(path)
    if setup:
        con.executescript(setup)
    con.close()
    target = sqlite3.connect(uri, uri=True) if uri else sqlite3.connect(path, timeout=0)
    try:
        with pytest.raises(sqlite3.Error) as info:
            target.execute(statement)
            target.commit()
        return info.value
    finally:
        target.close()


def test_read_only_store(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    exc = _error(db, "CREATE TABLE t (x TEXT);", "INSERT INTO t VALUES ('secret')",
                 uri=f"file:{db}?mode=ro")
    msg = db_error_message(exc, str(db), what="the import")
    assert msg.startswith(f"the store {db} is read-only, so the import saved nothing")
    assert "secret" not in msg and "INSERT" not in msg


def test_locked_store(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    sqlite3.connect(db).executescript("CREATE TABLE t (x TEXT);").close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        exc = _error(db, "", "INSERT INTO t VALUES ('a')")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    msg = db_error_message(exc, "site.sqlite", what="the save")
    assert msg == ("the store site.sqlite is held by another program; the save did nothing; "
                   "close the other program or try again later")


def test_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    db.write_bytes(b"not sqlite at all, just some text " * 40)
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError) as info:
        con.execute("SELECT * FROM sqlite_master")
    con.close()
    assert "damaged or not a bmes-imaging store" in db_error_message(info.value, "x")


def test_unknown_fault_names_the_type_only() -> None:
    exc = sqlite3.IntegrityError("UNIQUE constraint failed: patient.key = 'P-123'")
    msg = db_error_message(exc, "{odd} store")
    assert msg == ("the store {odd} store refused the operation (IntegrityError; the "
                   "statement and its values are not shown); nothing was saved")
