"""Database engine of the store: URL resolution, SQLite settings, migrations, write retries.

SQLite (the default) runs in WAL mode with foreign keys on, a busy timeout, and every
write transaction opened with ``BEGIN IMMEDIATE`` so that writers queue on the
database lock instead of failing half-way; a writer that still meets "database is
locked" is retried with exponential backoff. Any other SQLAlchemy URL (e.g.
PostgreSQL, with the ``postgres`` extra) works too; there, version numbers and keys are
protected by unique constraints and a write that meets a concurrent one (unique
violation, serialisation failure, deadlock) is retried the same way; if it still
conflicts, one retryable :class:`~bmes_imaging.errors.StoreError` line says so.

Migrations run under a lock: on PostgreSQL a transaction-level advisory lock
(``pg_advisory_xact_lock``), on SQLite the database's write lock (``BEGIN
IMMEDIATE``), so several processes opening a new store at once migrate it exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from .._faults import db_error_message
from ..errors import StoreError

__all__ = [
    "BUSY_TIMEOUT_ENV",
    "DB_ENV",
    "HEAD_REVISION",
    "MIGRATION_LOCK_KEY",
    "current_revision",
    "default_db_path",
    "make_engine",
    "read_session",
    "resolve_url",
    "run_migrations",
    "shown_url",
    "write_transaction",
]

log = logging.getLogger(__name__)

#: Environment variable naming the store database (SQLAlchemy URL or file path).
DB_ENV = "BMES_DB"
#: Alembic revision the code expects (the newest file in ``migrations/versions``).
HEAD_REVISION = "0004_finding_bone_mask_quality"

#: Environment variable: seconds a writer waits for a store another program holds
#: (default 30); a write gives up with one clear line after twice that (at least 10 s).
BUSY_TIMEOUT_ENV = "BMES_BUSY_TIMEOUT_S"
_BUSY_TIMEOUT_MS = 30_000
_MAX_ATTEMPTS = 12
#: Key of the PostgreSQL advisory lock held while the schema is created or upgraded.
MIGRATION_LOCK_KEY = 0x626D6573  # "bmes"
#: What to install when the database driver of a URL is missing.
_DRIVER_HINTS = {"postgresql": "pip install 'bmes-imaging[postgres]'"}


def _busy_timeout_ms() -> int:
    value = os.environ.get(BUSY_TIMEOUT_ENV)
    try:
        return max(int(float(value) * 1000), 0) if value else _BUSY_TIMEOUT_MS
    except ValueError:
        raise StoreError(f"${BUSY_TIMEOUT_ENV} must be a number of seconds") from None

T = TypeVar("T")


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/bmes-imaging/bmes.sqlite`` (default ``~/.local/share/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bmes-imaging" / "bmes.sqlite"


def resolve_url(url: str | os.PathLike[str] | None = None) -> str:
    """Turn ``url`` (None, a file path or a SQLAlchemy URL) into a SQLAlchemy URL.

    ``None`` uses ``$BMES_DB``, else :func:`default_db_path`. A value without ``://``
    is a SQLite file path.

    Examples
    --------
    >>> resolve_url("/tmp/x/bmes.sqlite")
    'sqlite:////tmp/x/bmes.sqlite'
    >>> resolve_url("postgresql://db.example/bmes")
    'postgresql://db.example/bmes'
    """
    if url is None:
        url = os.environ.get(DB_ENV) or default_db_path()
    value = os.fspath(url)
    if "://" in value:
        return value
    return "sqlite:///" + str(Path(value).expanduser().absolute())


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def shown_url(url: str | Engine) -> str:
    """The store's URL for messages: password hidden; a SQLite store by its file path."""
    try:
        parsed = url.url if isinstance(url, Engine) else make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            return str(parsed.database)
        return parsed.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as "<invalid URL>"
        return "<invalid URL>"


def _server_engine(url: str) -> Engine:
    """Engine of a database server; a missing driver becomes one line naming the extra."""
    parsed = make_url(url)
    try:
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    except ModuleNotFoundError as exc:
        backend = parsed.get_backend_name()
        hint = _DRIVER_HINTS.get(backend, f"install the Python driver {exc.name!r}")
        if backend == "postgresql" and not str(exc.name).startswith("psycopg"):
            hint = (f"install it, or use a postgresql+psycopg:// URL after {hint} "
                    "(psycopg, the driver bmes-imaging is tested with)")
        raise StoreError(f"cannot open the store {shown_url(url)}: its database driver "
                         f"({exc.name}) is not installed; {hint}") from None


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite set WAL, foreign keys, busy timeout, explicit BEGIN.

    Statement parameters are never part of an error message (``hide_parameters``).

    Raises
    ------
    StoreError
        If the URL's database driver is not installed (naming what to install, e.g.
        ``pip install 'bmes-imaging[postgres]'``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _server_engine(url)
    database = parsed.database
    if database and database != ":memory:":
        from .._atomic import make_private_dirs

        make_private_dirs(Path(database).parent)
    busy_ms = _busy_timeout_ms()
    engine = create_engine(url, connect_args={"timeout": busy_ms / 1000},
                           hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # take transaction control from pysqlite so BEGIN IMMEDIATE can be issued
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal" and database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _is_lock_error(exc: BaseException) -> bool:
    text_ = str(getattr(exc, "orig", exc)).lower()
    return ("locked" in text_ or "busy" in text_ or "deadlock" in text_
            or "could not serialize" in text_)


def _is_unique_race(exc: BaseException) -> bool:
    """A unique constraint met because another process wrote the same key meanwhile."""
    orig = getattr(exc, "orig", exc)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate == "23505":  # PostgreSQL unique_violation
        return True
    return "unique constraint" in str(orig).lower()


def write_transaction(engine: Engine, work: Callable[[Session], T], *,
                      what: str = "write") -> T:
    """Run ``work(session)`` in one write transaction and commit; retry when locked.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken
    up front, so reads inside ``work`` see the newest data and version numbers
    allocated inside it are unique). A lock timeout or a unique-constraint race is
    retried with exponential backoff and jitter; ``work`` must therefore have no side
    effects outside the session other than ones it cleans up itself on exceptions.

    Raises
    ------
    StoreError
        If the database stays locked after every retry, or refuses the write (read-only,
        disk full, server gone): one line naming the store, never the SQL.
    """
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if _is_sqlite(engine) else engine
    delay = 0.02
    deadline = time.monotonic() + max(2 * _busy_timeout_ms() / 1000, 10.0)
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                return work(session)
        except OperationalError as exc:
            if (not _is_lock_error(exc) or attempt == _MAX_ATTEMPTS
                    or time.monotonic() > deadline):
                if _is_lock_error(exc):
                    raise StoreError(
                        f"the store {shown_url(engine)} stayed busy for {attempt} attempts "
                        f"during {what}; another program holds it, try again") from None
                raise StoreError(db_error_message(exc, shown_url(engine), what=what)) \
                    from None
            log.debug("store busy during %s (attempt %d), retrying", what, attempt)
        except IntegrityError as exc:
            # SQLite writers are serialised (BEGIN IMMEDIATE): there a unique violation
            # other than a version number is a real duplicate, not a race
            race = _is_unique_race(exc) and (not _is_sqlite(engine) or any(
                k in str(exc) for k in ("uq_annotation_study_reader_version",
                                        "annotation.study_id, annotation.reader")))
            if not race:
                raise StoreError(db_error_message(exc, shown_url(engine), what=what)) \
                    from None
            if attempt == _MAX_ATTEMPTS or time.monotonic() > deadline:
                raise StoreError(
                    f"the store {shown_url(engine)}: {what} kept meeting other programs "
                    f"writing the same records at the same time ({attempt} attempts); "
                    "nothing was saved; try again") from None
            log.debug("concurrent write during %s (attempt %d), retrying", what, attempt)
        except DBAPIError as exc:
            raise StoreError(db_error_message(exc, shown_url(engine), what=what)) from None
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def read_session(engine: Engine, *, what: str = "reading") -> Iterator[Session]:
    """A session for reads; a database fault becomes one :class:`StoreError` line."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    except DBAPIError as exc:
        raise StoreError(db_error_message(exc, shown_url(engine), what=what)) from None


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        has = conn.dialect.has_table(conn, "alembic_version")
        if not has:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def _alembic_config(annotation_dir: Path | Sequence[Path] | None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["annotation_dir"] = annotation_dir
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision (``None`` for an empty database)."""
    return _current_revision(engine)


def run_migrations(engine: Engine, *, annotation_dir: Path | Sequence[Path] | None = None,
                   revision: str = "head", downgrade: bool = False) -> None:
    """Upgrade the database to :data:`HEAD_REVISION` with Alembic (no-op if current).

    The migration runs inside one transaction holding the migration lock (PostgreSQL:
    advisory lock; SQLite: ``BEGIN IMMEDIATE``), so several processes opening a new
    store at once migrate it exactly once; the others wait, then find it current.

    Parameters
    ----------
    engine
        The store's engine.
    annotation_dir
        The store's former label-map folder, or several (each file is looked for in
        each): revision 0003 moves their files in; a downgrade below it writes to the
        first.
    revision
        Target revision (``"head"``, or e.g. ``"0002_store_identity"`` to go down to).
    downgrade
        Go down to ``revision`` instead of up (IT use, tests).
    """
    current = _current_revision(engine)
    if not downgrade and current == HEAD_REVISION and revision in ("head", HEAD_REVISION):
        return
    from alembic import command

    cfg = _alembic_config(annotation_dir)
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if _is_sqlite(engine) else engine
    delay = 0.05
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        try:
            with bind.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = conn
                if downgrade:
                    command.downgrade(cfg, revision)
                else:
                    command.upgrade(cfg, revision)
                conn.commit()
            break
        except (OperationalError, IntegrityError) as exc:
            retry = _is_lock_error(exc) or (isinstance(exc, IntegrityError)
                                            and _is_unique_race(exc))
            if not retry or attempt == _MAX_ATTEMPTS:
                raise StoreError(db_error_message(exc, shown_url(engine),
                                                  what="opening (schema upgrade)")) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
    log.info("store schema brought to %s (found %s on opening)", revision, current)
